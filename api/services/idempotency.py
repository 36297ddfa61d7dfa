"""Idempotency keys of ticket creation: one key, one request body, one ticket.

Keys belong to the client that sent them (the name of its API key), so two intake systems may
use the same key. A key is kept `idempotency_ttl_hours` (at least 24 h). The same key with the
same body (compared by the SHA-256 of its validated, canonical JSON form, where `occurred_at`
is the instant it names, however written) gives back the same ticket; with another body it is
a conflict. Every field is part of the hash, `location` and `demand_note` included when given;
absent, they are left out of it, so that a body sent before they existed hashes as it did then
and its retry after an upgrade still finds its ticket. Concurrent duplicates race on the key's
primary key: the loser's insert fails with an IntegrityError and it replays the winner's ticket.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import delete
from sqlalchemy.orm import Session

from api.schemas import TicketCreate
from api.tables import IdempotencyKey

HEADER = "Idempotency-Key"
# Fields added to TicketCreate after keys were first stored: hashed only when given.
LATER_FIELDS = ("location", "demand_note")


def stored_key(client: str, key: str) -> str:
    """The stored form of `client`'s key: a hash of both (together they may be longer than the column)."""
    return "sha256:" + hashlib.sha256(f"{client}\n{key}".encode()).hexdigest()


def request_hash(payload: TicketCreate, zone: tzinfo) -> str:
    """SHA-256 of the validated request in canonical JSON (field order and spacing do not matter;
    `occurred_at` in UTC, a time without offset read in the business time zone `zone`)."""
    fields = payload.model_dump(mode="json")
    for name in LATER_FIELDS:
        if fields[name] is None:
            del fields[name]
    if payload.occurred_at is not None:
        occurred = payload.occurred_at
        occurred = occurred if occurred.tzinfo is not None else occurred.replace(tzinfo=zone)
        fields["occurred_at"] = occurred.astimezone(UTC).isoformat()
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
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
