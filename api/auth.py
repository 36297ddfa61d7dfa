"""API keys and roles: parsing `key:role[:name]` entries and constant-time key look-up.

Roles (the issue's access table): `intake` classifies and creates tickets, `agent` reads tickets
and records their tracking events and surveys, `analyst` reads everything (tickets, model, and
classifies for checks), `admin` may do everything. Keys are never logged or echoed; they are
kept only as SHA-256 digests and compared with `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

ROLES = ("intake", "agent", "analyst", "admin")
ADMIN = "admin"
MIN_KEY_LENGTH = 8
# A name is stored as the actor of events, reviews and surveys and as a ticket's 接收人
# (`received_by`): columns of 100 characters.
MAX_NAME_LENGTH = 100


class KeyConfigError(ValueError):
    """The API key configuration is malformed (the message never contains a key)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role and a display name used as the actor of events."""

    role: str
    name: str

    def may(self, roles: frozenset[str]) -> bool:
        """True when this principal holds one of `roles` (admin holds all)."""
        return self.role == ADMIN or self.role in roles


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class KeyRing:
    """The configured keys; `authenticate` finds a key's principal in constant time."""

    def __init__(self, entries: list[tuple[str, Principal]]) -> None:
        self._entries = [(_digest(key), principal) for key, principal in entries]

    def __len__(self) -> int:
        return len(self._entries)

    def roles(self) -> dict[str, int]:
        """How many keys each role has (for the start-up log)."""
        counts = dict.fromkeys(ROLES, 0)
        for _, principal in self._entries:
            counts[principal.role] += 1
        return counts

    def authenticate(self, presented: str) -> Principal | None:
        """The principal of a presented key, or None; every stored key is compared, always."""
        digest = _digest(presented)
        found: Principal | None = None
        for stored, principal in self._entries:
            if hmac.compare_digest(digest, stored):
                found = principal
        return found


def parse_entries(text: str, source: str, separator: str) -> list[tuple[str, Principal]]:
    """Parse `key:role[:name]` entries split by `separator`. Every problem of every entry is said
    at once (a short key and an unknown role alike), each naming the source and entry number."""
    entries: list[tuple[str, Principal]] = []
    problems: list[str] = []
    seen: dict[bytes, int] = {}
    pieces = text.split(separator)
    for number, raw in enumerate(pieces, start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        parts = entry.split(":")
        if len(parts) not in (2, 3):
            problems.append(f"entry {number}: expected key:role or key:role:name")
            continue
        key, role = parts[0].strip(), parts[1].strip()
        digest = _digest(key)
        name = parts[2].strip() if len(parts) == 3 and parts[2].strip() else f"{role}#{digest.hex()[:8]}"
        wrong = []
        if key in ROLES and role not in ROLES:  # the role is likely the key: never quoted
            wrong.append("role and key in the wrong order; write key:role or key:role:name")
        else:
            if len(key) < MIN_KEY_LENGTH:
                wrong.append(f"the key is shorter than {MIN_KEY_LENGTH} characters")
            elif digest in seen:
                wrong.append(f"the same key as entry {seen[digest]}")
            if role not in ROLES:
                # as long as a key, the value may be one (a field left out): it is not quoted
                shown = repr(role) if len(role) < MIN_KEY_LENGTH else f"of {len(role)} characters"
                wrong.append(f"role {shown} is not one of {', '.join(ROLES)}")
        if len(name) > MAX_NAME_LENGTH:
            wrong.append(f"the name is longer than {MAX_NAME_LENGTH} characters")
        seen.setdefault(digest, number)
        if wrong:
            problems.append(f"entry {number}: {', '.join(wrong)}")
        else:
            entries.append((key, Principal(role, name)))
    if problems:
        raise KeyConfigError(f"{source}, {'; '.join(problems)}")
    return entries


def load_key_ring(keys: str | None, keys_file: Path | None) -> KeyRing:
    """Keys from `TRIAGE_API_KEYS` (comma-separated) and `TRIAGE_API_KEYS_FILE` (one per line)."""
    entries: list[tuple[str, Principal]] = []
    if keys:
        entries += parse_entries(keys, "TRIAGE_API_KEYS", ",")
    if keys_file is not None:
        try:
            content = keys_file.read_text(encoding="utf-8")
        except OSError as error:
            raise KeyConfigError(f"TRIAGE_API_KEYS_FILE {keys_file}: cannot be read ({error.strerror})") from None
        except UnicodeDecodeError as error:
            raise KeyConfigError(
                f"TRIAGE_API_KEYS_FILE {keys_file}: not UTF-8 text (byte {error.start + 1}); save it as UTF-8"
            ) from None
        entries += parse_entries(content, f"TRIAGE_API_KEYS_FILE {keys_file}", "\n")
    digests = [_digest(key) for key, _ in entries]
    if len(set(digests)) != len(digests):
        raise KeyConfigError("the same key appears in TRIAGE_API_KEYS and TRIAGE_API_KEYS_FILE")
    return KeyRing(entries)
