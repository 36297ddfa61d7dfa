"""The service's errors, in one place, and the one JSON shape every error response has.

Every error body is `{"detail": [{"loc": [...], "msg": "...", "type": "...", ...}]}` — the
shape of FastAPI's validation errors — where `loc` names the field (`["body", "text"]`,
`["header", "Idempotency-Key"]`, `["path", "ticket_no"]`, `["query", "cursor"]`). Some errors add
keys to the item (`allowed` for an illegal transition, `max_length` for a string that is too
long). An input is echoed back only to say which value was wrong, and then at most its first
`QUOTE_CHARS` characters (`quoted`).

| status | type | when |
|---|---|---|
| 401 | missing_api_key, invalid_api_key | no key, or a key that is not configured |
| 403 | forbidden | the key's role may not use the route |
| 404 | not_found | unknown ticket number or path |
| 405 | method_not_allowed | a method the path does not take |
| 409 | idempotency_conflict, illegal_transition, concurrent_update, | conflicts with the state |
|     | survey_exists, ticket_not_closed, ticket_closed | |
| 412 | ticket_changed | If-Match names a revision of the ticket that is no longer current |
| 413 | body_too_large | a request body over `max_body_bytes` (16 MiB) |
| 422 | pydantic's types (missing, extra_forbidden, literal_error, …), | bad input, naming the field |
|     | value_error, string_too_long, json_invalid, wrong_content_type | |
| 422 | comment_required, note_required, unknown_code, too_long, | a review, event or batch the rules refuse |
|     | subtype_not_in_category, subtype_required, unexpected_label, | |
|     | missing_correction | |
| 500 | internal_error | a bug; the request was not applied |
| 503 | database_unavailable, model_unavailable | a dependency is down; nothing was written |
| 503 | ticket_numbers_used_up | the business day's 999,999 ticket numbers are given; nothing was written |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

QUOTE_CHARS = 40


def quoted(value: str) -> str:
    """`value` in quotes for an error message, cut to `QUOTE_CHARS` characters."""
    if len(value) <= QUOTE_CHARS:
        return repr(value)
    return repr(value[:QUOTE_CHARS]) + f"… ({len(value)} characters)"


class ApiError(Exception):
    """An error answered with `status_code` and one detail item."""

    status_code = 400
    default_type = "bad_request"

    def __init__(self, msg: str, *, loc: Sequence[str | int] = (), type: str | None = None, **extra: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.loc = list(loc)
        self.type = type or self.default_type
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        """The JSON response body."""
        return {"detail": [{"loc": self.loc, "msg": self.msg, "type": self.type, **self.extra}]}


class Unauthorized(ApiError):
    """No API key, or an unknown one."""

    status_code = 401
    default_type = "invalid_api_key"


class Forbidden(ApiError):
    """The caller's role may not use this route."""

    status_code = 403
    default_type = "forbidden"


class NotFound(ApiError):
    """The resource does not exist."""

    status_code = 404
    default_type = "not_found"


class Conflict(ApiError):
    """The request conflicts with the resource's state."""

    status_code = 409
    default_type = "conflict"


class PreconditionFailed(ApiError):
    """The resource changed since the client read it (If-Match)."""

    status_code = 412
    default_type = "ticket_changed"


class PayloadTooLarge(ApiError):
    """The request body is larger than allowed."""

    status_code = 413
    default_type = "body_too_large"


class InvalidInput(ApiError):
    """A value the schema cannot express as a rule (runtime limits, cursors, codes)."""

    status_code = 422
    default_type = "value_error"


class Unavailable(ApiError):
    """A dependency (database, model) is not available; nothing was written."""

    status_code = 503
    default_type = "unavailable"
