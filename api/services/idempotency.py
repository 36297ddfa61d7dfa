"""Idempotency keys of ticket creation: one key, one request body, one ticket.

A key is kept `idempotency_ttl_hours` (at least 24 h). The same key with the same body (compared
by the SHA-256 of its validated, canonical JSON form) gives back the same ticket; with another
body it is a conflict. Concurrent duplicates race on the key's primary key: the loser's insert
fails with an IntegrityError and it replays the winner's ticket.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from api.errors import InvalidInput
from api.schemas import TicketCreate
from api.tables import IdempotencyKey

HEADER = "Idempotency-Key"
_VALID = re.compile(r"[\x21-\x7e]{1,200}")


def check_key(key: str | None) -> str:
    """The key, or 422 naming the header when it is missing or malformed."""
    if key is None or not key.strip():
        raise InvalidInput(
            f"the {HEADER} header is required (any unique string, e.g. a UUID, up to 200 characters)",
            loc=["header", HEADER],
            type="missing",
        )
    key = key.strip()
    if not _VALID.fullmatch(key):
        raise InvalidInput(
            f"{HEADER} must be 1 to 200 visible ASCII characters without spaces",
            loc=["header", HEADER],
            type="value_error",
        )
    return key


def request_hash(payload: TicketCreate) -> str:
    """SHA-256 of the validated request in canonical JSON (field order and spacing do not matter)."""
    canonical = json.dumps(payload.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def find(session: Session, *, key: str, now: datetime, ttl: timedelta) -> IdempotencyKey | None:
    """The live record of a key (None when unknown or expired)."""
    record = session.get(IdempotencyKey, key, populate_existing=True)
    if record is None or record.created_at < now - ttl or record.ticket_id is None:
        return None
    return record


def claim(session: Session, *, key: str, digest: str, now: datetime, ttl: timedelta) -> IdempotencyKey:
    """Insert the key (purging expired keys first); raises IntegrityError when another request holds it."""
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - ttl))
    record = IdempotencyKey(key=key, request_hash=digest, ticket_id=None, created_at=now)
    session.add(record)
    session.flush()
    return record
