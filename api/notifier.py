"""The service's notification dispatcher: a task of the app's lifespan that POSTs the escalation
notifications of the outbox (`api.services.outbox`) to `TRIAGE_NOTIFY_URL` every
`notify_interval_seconds`, the first time right after start-up.

Each round runs in a worker thread on a connection of its own pool (`Database.notify_engine`), as
the deadline sweep does: it claims the due notifications one at a time, builds each payload
(`api.services.notifications`), POSTs it with the timeout, and records the outcome: delivered on a
2xx answer, else the error and the next attempt after the back-off, or failed after the last
attempt; whatever else an attempt meets (a payload that cannot be built, an error of the HTTP
library) is that attempt's failure too, recorded by its type. Requests never wait for it: intake
only writes the outbox row. A round that fails (the database is away) is logged, and the next one
runs at the next interval. At shutdown a running
round stops before its next claim, and the task waits for it before the database is closed.
Every worker process runs its own dispatcher; the claims keep them from sending a row twice at
once. Logs name event ids and ticket numbers, never the token, the signing secret or a response
body. With `TRIAGE_NOTIFY_SIGNING_SECRET` set, each attempt is signed (`signature`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import socket
import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session

from api.db import describe_error
from api.deps import Services
from api.periodic import Periodic
from api.services.notifications import payload
from api.services.outbox import FAILED, Claim, claim, due_ids, prune_delivered, record_outcome
from api.settings import url_origin

log = logging.getLogger("api.notifier")
BATCH = 100
PRUNE_EVERY = timedelta(hours=1)
"""How often a dispatcher deletes the notifications delivered longer ago than `notify_keep_days`."""
LEASE_MARGIN = timedelta(seconds=30)
"""Beyond twice the timeout, how long a claimed attempt keeps other dispatchers off its row."""
RETRY = "retry"
SIGNATURE_HEADER = "X-Triage-Signature"
ATTEMPT_TIMEOUTS = 2
"""The longest a whole attempt may take, in notify timeouts (the lease allows two, plus its margin)."""


class _Cutoff:
    """Ends an attempt at its time by shutting its socket down. httpx's timeouts bound each read,
    not the answer: a receiver that trickles its status line and headers a byte at a time, each
    within the timeout, would otherwise hold the attempt (and the round) past its lease."""

    def __init__(self) -> None:
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpx's trace hook: keep the connection's sockets (the TLS one too, which replaces the
        plain one, also inside a proxy's tunnel)."""
        # "connection." directly, "proxy." for the TLS of an HTTPS_PROXY tunnel, "socks." for SOCKS.
        if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            sock = info["return_value"].get_extra_info("socket")
            with self._lock:
                self._sockets.append(sock)
                if self.fired:
                    _shut(sock)

    def fire(self) -> None:
        """Time is up: a read or write blocked on the socket returns at once."""
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed, or the plain socket a TLS one took over
        sock.shutdown(socket.SHUT_RDWR)


def signature(key: bytes, timestamp: int, content: bytes) -> str:
    """The `X-Triage-Signature` value of a notification body sent at `timestamp` (unix seconds):
    `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>." + body>`, Stripe's scheme, so that a
    gateway can check the body with code it may already have and refuse a replayed old one."""
    digest = hmac.new(key, f"{timestamp}.".encode("ascii") + content, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class Notifier(Periodic):
    """Sends the outbox's due notifications of one app periodically while the app runs."""

    name = "notifier"

    def __init__(self, services: Services, interval: float = 0) -> None:
        settings = services.settings
        if settings.notify_url is None:
            raise ValueError("notifications are off (TRIAGE_NOTIFY_URL is not set)")
        super().__init__(interval)
        # httpx logs each request's whole URL at INFO, and a webhook's secret may be in its path or query.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self.services = services
        self.url = settings.notify_url
        self.lease = 2 * timedelta(seconds=settings.notify_timeout_seconds) + LEASE_MARGIN
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "complaint-triage-notifier"}
        if settings.notify_token is not None:
            headers["Authorization"] = f"Bearer {settings.notify_token.get_secret_value()}"
        secret = settings.notify_signing_secret
        self._signing_key = secret.get_secret_value().encode("utf-8") if secret is not None else None
        self._pruned_at: datetime | None = None
        self.attempt_seconds = ATTEMPT_TIMEOUTS * settings.notify_timeout_seconds
        # No kept-alive connections: each attempt connects anew, so that its `_Cutoff` sees the socket.
        self._client = httpx.Client(
            timeout=settings.notify_timeout_seconds,
            headers=headers,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def dispatch_once(self) -> Counter[str]:
        """One round at the app's clock (blocking): how many attempts ended delivered, retry or
        failed. A database failure is logged, not raised."""
        services = self.services
        outcomes: Counter[str] = Counter()
        if services.database is None:
            return outcomes
        try:
            with services.database.notify_session() as session:
                for notification_id in due_ids(session, now=services.clock(), limit=BATCH):
                    if self.stopping():
                        break
                    claimed = claim(session, notification_id=notification_id, now=services.clock(), lease=self.lease)
                    if claimed is not None:
                        outcome = self._attempt(session, claimed)
                        if outcome is not None:
                            outcomes[outcome] += 1
                            services.metrics.notification_attempts.labels(outcome).inc()
                self._prune(session)
        except Exception as error:  # the next round tries again
            log.error("notification round failed: %s", describe_error(error))
        return outcomes

    def _prune(self, session: Session) -> None:
        """Delete the notifications delivered more than `notify_keep_days` ago, at most once per
        PRUNE_EVERY of this dispatcher (the first round included)."""
        now = self.services.clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        keep = timedelta(days=self.services.settings.notify_keep_days)
        pruned = prune_delivered(session, before=now - keep)
        self._pruned_at = now
        if pruned:
            log.info("deleted %d notifications delivered before %s", pruned, (now - keep).date())

    def _attempt(self, session: Session, claimed: Claim) -> str | None:
        """Send one claimed notification and record the outcome: delivered, retry or failed (None
        when its row moved on meanwhile)."""
        services = self.services
        settings = services.settings
        assert services.models is not None and services.policy is not None
        body: dict[str, object] | None = None
        error: str | None = None
        try:
            body = payload(
                session,
                claimed.event_id,
                taxonomy=services.models.get().model.taxonomy,
                contacts=services.policy.contacts,
                zone=settings.zone,
            )
        except LookupError as missing:
            error = f"no payload: {missing}"
        except Exception as failure:  # this attempt failed: recorded, not a round that stops at this row
            error = f"no payload: {type(failure).__name__}"  # the type only: a message may quote anything
        session.rollback()  # no transaction held open while the receiver answers
        if body is not None:
            error = self._post(body)
        state = record_outcome(
            session,
            claimed,
            now=services.clock(),
            error=error,
            max_attempts=settings.notify_max_attempts,
            backoff=settings.notify_backoff_seconds,
            backoff_max=settings.notify_backoff_max_seconds,
        )
        if state is None:
            log.warning("notification of event %s: attempt %s outlived its lease", claimed.event_id, claimed.attempt)
            return None
        if error is None:
            return state
        ticket_no = body["ticket_no"] if body is not None else "?"
        attempts = f"attempt {claimed.attempt} of {settings.notify_max_attempts}"
        if state == FAILED:
            log.error("notification of event %s (%s) given up: %s (%s)", claimed.event_id, ticket_no, error, attempts)
            return state
        log.warning("notification of event %s (%s) failed: %s (%s)", claimed.event_id, ticket_no, error, attempts)
        return RETRY

    def _post(self, body: dict[str, object]) -> str | None:
        """POST the payload; None on a 2xx answer, else what went wrong in a few words. The answer's
        status is all that counts: its body is never read (one that is huge, or never ends, would
        hold the attempt past its timeout and its lease), and the connection is closed. The whole
        attempt is cut at `attempt_seconds`, inside the lease."""
        event_id = str(body["event_id"])
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Idempotency-Key": event_id, "X-Triage-Event-Id": event_id}
        if self._signing_key is not None:  # signed at each attempt: a retry carries its own time
            headers[SIGNATURE_HEADER] = signature(self._signing_key, int(self.services.clock().timestamp()), content)
        cutoff = _Cutoff()
        timer = threading.Timer(self.attempt_seconds, cutoff.fire)
        timer.start()
        try:
            with self._client.stream(
                "POST", self.url, content=content, headers=headers, extensions={"trace": cutoff.trace}
            ) as response:
                status = response.status_code
        except Exception as failure:  # httpx.HTTPError, and what httpx raises besides (InvalidURL, UnicodeError)
            if cutoff.fired:
                return f"no answer within {self.attempt_seconds:g} s"
            if isinstance(failure, httpx.TimeoutException):
                return f"timeout after {self.services.settings.notify_timeout_seconds:g} s"
            return f"{type(failure).__name__} ({url_origin(self.url)})"
        finally:
            timer.cancel()
        if 200 <= status < 300:
            return None
        return f"HTTP {status}"

    def run_once(self) -> Counter[str]:
        """One round (`dispatch_once`), for the periodic task."""
        return self.dispatch_once()

    def start(self) -> None:
        """Start sending (in the running event loop)."""
        log.info("escalation notifications go to %s every %g s", url_origin(self.url), self.interval)
        super().start()

    async def stop(self) -> None:
        """Stop after the running round, if any, has finished; close the HTTP client."""
        await super().stop()
        self.close()

    def close(self) -> None:
        """Close the HTTP client's connections (`stop` does it for the lifespan's task)."""
        self._client.close()
