"""Service settings, read once from the environment (prefix `TRIAGE_`, plus `DATABASE_URL`)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WEEK_SECONDS = 7 * 86400
"""The longest back-off of a notification (beyond it the next attempt's time could overflow)."""
MIN_SIGNING_SECRET = 32
"""The shortest notification signing secret accepted (characters)."""
DEFAULT_ESCALATION = PROJECT_ROOT / "data" / "escalation.yaml"


class Settings(BaseSettings):
    """Everything the service can be told from outside; defaults run it with nothing installed.

    Environment variables are the field names upper-cased with the prefix `TRIAGE_`
    (`TRIAGE_MAX_TEXT_CHARS=8000`), except `DATABASE_URL`, `TRIAGE_API_KEYS` and
    `TRIAGE_API_KEYS_FILE`, which keep the names the issue gives them.
    """

    # hide_input_in_errors: an error's text never quotes the value (a token, a webhook URL's key)
    model_config = SettingsConfigDict(
        env_prefix="TRIAGE_", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    var_dir: Path = Field(default=Path("var"), description="Folder for the default database and models.")
    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "TRIAGE_DATABASE_URL", "database_url"),
        description="SQLAlchemy URL; empty means a SQLite file `var_dir/triage.db` (WAL mode).",
    )
    auto_migrate: bool = Field(
        default=True, description="Run Alembic migrations at start; when false, refuse to start if behind."
    )
    registry: Path | None = Field(default=None, description="Model registry folder; default `var_dir/models`.")
    train_default_model: bool = Field(
        default=True, description="Train the default model from data/ when the registry has none."
    )
    model_poll_seconds: float = Field(
        default=2.0, ge=0, description="How often the registry's CURRENT pointer is re-read; 0 turns it off."
    )
    escalation_rules: Path = Field(default=DEFAULT_ESCALATION, description="Escalation rules and emotion index.")
    api_keys: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TRIAGE_API_KEYS", "api_keys"),
        description="Comma-separated `key:role[:name]` entries.",
    )
    api_keys_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TRIAGE_API_KEYS_FILE", "api_keys_file"),
        description="File with one `key:role[:name]` entry per line (# comments).",
    )
    host: str = Field(
        default="127.0.0.1", description="Interface `triage serve` listens on (0.0.0.0: every one); `--host`."
    )
    port: int = Field(default=8000, ge=0, le=65535, description="Port `triage serve` listens on; `--port`.")
    max_text_chars: int = Field(default=5000, ge=1, le=1_000_000, description="Longest complaint text (422 past it).")
    max_batch_items: int = Field(default=1000, ge=1, le=100_000, description="Most texts in one batch request.")
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest request body in bytes (413 past it)."
    )
    threshold_category: float = Field(default=0.6, ge=0, le=1)
    threshold_subtype: float = Field(default=0.5, ge=0, le=1)
    threshold_tier: float = Field(default=0.6, ge=0, le=1)
    drift_js_threshold: float = Field(
        default=0.2, ge=0, le=1, description="Jensen-Shannon distance (base 2) past which a head has drifted."
    )
    drift_oov_margin: float = Field(
        default=0.05, ge=0, le=1, description="Out-of-vocabulary rate above the training reference that is drift."
    )
    drift_min_tickets: int = Field(
        default=30, ge=1, description="Fewest tickets in a period for drift to recommend retraining."
    )
    drift_max_texts: int = Field(
        default=5000, ge=1, description="Most texts (evenly sampled) the out-of-vocabulary rate is measured on."
    )
    stats_max_days: int = Field(default=400, ge=1, description="Longest from..to range of the statistics routes.")
    idempotency_ttl_hours: float = Field(default=48, ge=24, description="How long Idempotency-Keys are kept.")
    repeat_window_days: int = Field(default=30, ge=1, description="Window of `repeat_of` for closed tickets.")
    timezone: str = Field(default="Asia/Shanghai", description="Business time zone: ticket numbers and times shown.")
    deadline_warning_share: float = Field(
        default=0.2,
        ge=0,
        lt=1,
        description="Share of an SLA window (received → due) left when the deadline counts as near and the "
        "ticket is escalated to the supervisor; 0: only once the deadline has passed.",
    )
    deadline_sweep_seconds: float = Field(
        default=60,
        ge=0,
        description="How often the service looks for deadlines to escalate (the first look at start); 0 turns the "
        "service's own sweep off (`triage sweep` from cron then does it).",
    )
    metrics_query_timeout_seconds: float = Field(
        default=2,
        gt=0,
        le=60,
        description="On PostgreSQL, the longest the backlog query of a /metrics scrape may run (a lock wait included) "
        "before it is cancelled and the scrape reports triage_backlog_up 0; keep it below the scrape timeout.",
    )
    notify_url: str | None = Field(
        default=None,
        description="Where escalation notifications are POSTed (an http:// or https:// URL of the team's gateway); "
        "unset: no notification is recorded or sent.",
    )
    notify_token: SecretStr | None = Field(
        default=None, description="Sent as `Authorization: Bearer <token>` with each notification (never logged)."
    )
    notify_signing_secret: SecretStr | None = Field(
        default=None,
        description="Signs each notification (HMAC-SHA256, Stripe's scheme): the header `X-Triage-Signature: "
        "t=<unix seconds>,v1=<hex digest of '<t>.<body>'>` lets the gateway check that the body comes from this "
        "service unaltered and refuse replays of old ones; at least 32 characters, never logged.",
    )
    notify_timeout_seconds: float = Field(
        default=5,
        gt=0,
        le=60,
        description="The longest a notification POST may wait to connect, to send, and for the answer's status and "
        "headers (each) before the attempt counts as failed, the whole attempt at most twice that; the answer's body "
        "is not read.",
    )
    notify_interval_seconds: float = Field(
        default=5,
        ge=0,
        le=3600,
        description="How often each service process looks for due notifications (the first time at start; besides, "
        "at once after its own commits that queued one); 0: this process records them but leaves the sending to "
        "the other service processes.",
    )
    notify_max_attempts: int = Field(
        default=8, ge=1, le=100, description="Attempts of a notification before it is given up (state `failed`)."
    )
    notify_backoff_seconds: float = Field(
        default=30,
        gt=0,
        le=WEEK_SECONDS,
        description="Wait before the second attempt; doubled after each failed attempt.",
    )
    notify_backoff_max_seconds: float = Field(
        default=3600,
        gt=0,
        le=WEEK_SECONDS,
        description="The longest wait between two attempts (the doubling stops there).",
    )
    notify_keep_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="How long delivered notifications stay listed before the dispatcher deletes them (pending and "
        "failed ones stay); the escalation events themselves are kept.",
    )

    @field_validator("notify_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a port that is no number
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host, got {url_origin(value)!r}")
        try:  # what httpx and the resolver refuse at each POST (a control character, an empty label)
            httpx.URL(value)
            parts.hostname.encode("idna")
        except (httpx.InvalidURL, UnicodeError):
            raise ValueError(f"not a URL httpx can send to, got {url_origin(value)!r}") from None
        return value

    @field_validator("notify_token")
    @classmethod
    def _header_token(cls, value: SecretStr | None) -> SecretStr | None:
        token = value.get_secret_value().strip() if value is not None else ""
        if not token:
            return None
        if not all("!" <= char <= "~" for char in token):
            raise ValueError("must be printable ASCII without spaces, as an Authorization header carries it")
        return SecretStr(token)

    @field_validator("notify_signing_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        secret = value.get_secret_value() if value is not None else ""
        if not secret.strip():
            return None
        if secret != secret.strip():  # the gateway, given the value without it, would never verify
            raise ValueError("begins or ends with whitespace (a stray space of an env file?); remove it")
        if len(secret) < MIN_SIGNING_SECRET:
            raise ValueError(
                f"must be at least {MIN_SIGNING_SECRET} characters (got {len(secret)}): a short secret can be "
                "guessed from signed notifications; `python -c 'import secrets; print(secrets.token_hex(32))'` "
                "makes one"
            )
        return SecretStr(secret)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as Asia/Shanghai)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The business time zone."""
        return ZoneInfo(self.timezone)

    @property
    def resolved_database_url(self) -> str:
        """The database URL in use: `database_url`, or the default SQLite file under `var_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'triage.db').resolve()}"

    @property
    def notify_enabled(self) -> bool:
        """Escalation notifications are recorded and sent (`notify_url` is set)."""
        return self.notify_url is not None

    @property
    def registry_root(self) -> Path:
        """The model registry folder in use."""
        return self.registry if self.registry is not None else self.var_dir / "models"


def url_origin(url: str) -> str:
    """The URL's scheme, host and port, "/…" for whatever follows (for logs and errors: the user,
    path or query of a webhook URL may be its secret)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    shown = f"{scheme}{separator}{host.rpartition('@')[2]}"
    return shown + "/…" if rest.rstrip("/") != host else shown


def settings_error(error: ValidationError) -> str:
    """A settings error in one line naming each variable: "TRIAGE_NOTIFY_URL: must be an http:// …"."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    problems = []
    for item in error.errors():
        name = "_".join(str(part) for part in item.get("loc", ())) or "settings"
        variable = name if name.isupper() else f"{prefix}{name}".upper()
        problems.append(f"{variable}: {str(item.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(problems)
