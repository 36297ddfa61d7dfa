"""The model registry: a folder of version folders and a pointer to the one in service.

Layout (default `$TRIAGE_VAR_DIR/models/`, `var/models/` when that is unset)::

    var/models/
        20261123-121500-3f9a2c/   model.joblib, metadata.json, report.md, *.png
        CURRENT                   the version id in service (replaced atomically)
        history.jsonl             one line per promote / rollback: time, version, previous, forced, actor
        .20261123-121500-3f9a2c.k2j4x9ab/   a version being saved (staging; hidden, never listed)

`promote` and `rollback` rewrite CURRENT with an atomic `os.replace`, so a reader sees either the
old or the new version, never a half-written pointer. A version is written into a hidden staging
folder and renamed into place (`model.artifact.save_model`); a training killed meanwhile leaves
the staging folder behind. Such a folder is never taken for a version; `triage models` names it,
and the next training removes it before it saves, once nothing in it changed for
`STALE_STAGING_SECONDS` (an hour): a younger one may be the folder of a training saving right now.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model.artifact import METADATA, read_metadata
from model.errors import ArtifactError
from model.files import replaced_atomically

POINTER = "CURRENT"
HISTORY = "history.jsonl"


# The staging folder `save_model` writes a version of `triage train` (a `new_version_id`) into.
_STAGING = re.compile(r"\.\d{8}-\d{6}-[0-9a-f]{6}\.[^.]+")
# A staging folder untouched this long is left by a killed training: saving takes seconds to minutes.
STALE_STAGING_SECONDS = 3600.0


class _Unchecked:
    """The type of `UNCHECKED`."""


UNCHECKED = _Unchecked()
"""`Registry.set_current` without `if_current`: whatever CURRENT names is replaced."""


class RegistryError(Exception):
    """A registry operation that cannot be done (unknown version, nothing to roll back to)."""


@dataclass(frozen=True)
class VersionInfo:
    """One version folder of the registry and its metadata."""

    version: str
    path: Path
    metadata: dict[str, Any]
    current: bool


@dataclass(frozen=True)
class StagingFolder:
    """A hidden folder a version was being saved into, and how long ago anything in it changed."""

    path: Path
    age_seconds: float

    @property
    def age(self) -> str:
        """How long ago it changed, as a person says it: 5 min, 3 h, 2 days."""
        if self.age_seconds < 2 * 3600:
            return f"{round(self.age_seconds / 60)} min"
        if self.age_seconds < 2 * 86400:
            return f"{round(self.age_seconds / 3600)} h"
        return f"{round(self.age_seconds / 86400)} days"

    @property
    def stale(self) -> bool:
        """Old enough to be left by a killed training rather than used by one saving now."""
        return self.age_seconds >= STALE_STAGING_SECONDS


@dataclass(frozen=True)
class History:
    """The registry's history as read: the readable records, oldest first, the line of each, and
    the lines skipped as unreadable (line, note naming the file and the line)."""

    entries: list[dict[str, Any]]
    lines: list[int]
    skipped: list[tuple[int, str]]


def default_registry_root() -> Path:
    """`$TRIAGE_VAR_DIR/models`, or `var/models` when `TRIAGE_VAR_DIR` is unset: where the service
    keeps its models unless `TRIAGE_REGISTRY` names another folder."""
    return Path(os.environ.get("TRIAGE_VAR_DIR") or "var") / "models"


class Registry:
    """Versions under `root`, with the current one named in `root/CURRENT`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, version: str) -> Path:
        """Folder of a version id (or of the current version for 'current')."""
        named_by_pointer = version == "current"
        if named_by_pointer:
            current = self.current_version()
            if current is None:
                raise RegistryError(f"{self.root}: no current model; train and promote one first")
            version = current
        if Path(version).name != version or version.startswith("."):
            raise RegistryError(f"{self.root}: '{version}' is not a version id (a folder name inside the registry)")
        path = self.root / version
        if not (path / "metadata.json").is_file():
            known = ", ".join(info.version for info in self.versions()) or "none"
            repair = f"; {POINTER} names it: `triage promote VERSION --force` names another" if named_by_pointer else ""
            raise RegistryError(f"{self.root}: no model version '{version}' (known: {known}){repair}")
        return path

    def pointer(self) -> str | None:
        """What CURRENT says ("" when it is empty), or None when there is no CURRENT."""
        try:
            raw = (self.root / POINTER).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise RegistryError(f"{self.root / POINTER}: cannot read the current version ({error})") from None
        # Bytes that are no UTF-8 are damage like an empty pointer, which current_version names and
        # `promote --force` repairs; refused here, they stopped even `models` and that repair.
        return raw.decode("utf-8", errors="replace").strip()

    def current_version(self) -> str | None:
        """The version id in service, or None when nothing was promoted yet."""
        value = self.pointer()
        if value is None:
            return None
        if not value:
            # An empty pointer is damage (a crash while it was written), not "never promoted": read
            # as no model, the service would train and promote the default model over the real one.
            raise RegistryError(
                f"{self.root / POINTER} is empty: the version in service is unknown; "
                f"`triage promote VERSION --force` names it again (see `triage models`)"
            )
        if "\ufffd" in value or not value.isprintable():  # no version id: not UTF-8, or several lines
            raise RegistryError(
                f"{self.root / POINTER} is damaged ({value[:40]!r} is no version id): the version in service "
                f"is unknown; `triage promote VERSION --force` names it again (see `triage models`)"
            )
        return value

    def current_path(self) -> Path | None:
        """Folder of the version in service, or None."""
        version = self.current_version()
        return self.root / version if version else None

    def versions(self) -> list[VersionInfo]:
        """Every readable version folder, oldest first."""
        return self.scan()[0]

    def scan(self) -> tuple[list[VersionInfo], dict[str, str]]:
        """Every version folder, read once: the readable ones, oldest first, and what is wrong
        with each of the others whose metadata this release cannot read (an older model format,
        a damaged file). A folder without metadata is not a version and is in neither."""
        current = self.pointer()  # an empty pointer names no version
        found = []
        unreadable = {}
        for path in self._folders():
            try:
                metadata = read_metadata(path)
            except ArtifactError as error:
                if (path / METADATA).exists():
                    unreadable[path.name] = str(error)
                continue
            found.append(VersionInfo(path.name, path, metadata, path.name == current))
        # Ids made in the same second do not sort by time; the creation time does.
        found.sort(key=lambda info: (str(info.metadata.get("created_at", "")), info.version))
        return found, unreadable

    def _folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [path for path in sorted(self.root.iterdir()) if path.is_dir() and not path.name.startswith(".")]

    def staging_folders(self) -> list[StagingFolder]:
        """The hidden staging folders of versions being saved, or left by a training killed while it
        saved (never versions: `versions` and `scan` skip every hidden folder)."""
        if not self.root.is_dir():
            return []
        found = []
        now = time.time()
        for path in sorted(self.root.iterdir()):
            if not _STAGING.fullmatch(path.name) or not path.is_dir():
                continue
            try:  # its newest change: the folder's own (an entry made) or a file's (still written)
                changed = max([path.stat().st_mtime, *(entry.stat().st_mtime for entry in path.iterdir())])
            except OSError:  # renamed into place, or removed, meanwhile: in use, not left
                continue
            found.append(StagingFolder(path, max(0.0, now - changed)))
        return found

    def remove_stale_staging(self) -> list[str]:
        """Remove the staging folders left by killed trainings (`StagingFolder.stale`); one line per
        folder removed, or that could not be removed, saying so."""
        said = []
        for staging in self.staging_folders():
            if not staging.stale:
                continue
            try:
                shutil.rmtree(staging.path)
            except OSError as error:
                said.append(f"{staging.path}: cannot remove this staging folder of a killed training ({error})")
            else:
                said.append(f"removed {staging.path}, the staging folder of a training killed {staging.age} ago")
        return said

    def history(self) -> list[dict[str, Any]]:
        """Promotions and rollbacks, oldest first: the readable lines (`read_history` names the others)."""
        return self.read_history().entries

    def read_history(self) -> History:
        """Promotions and rollbacks, oldest first, and one note per line that could not be read
        (naming the file and the line), which is skipped: a damaged line must not block a rollback.
        The file is never rewritten to drop such a line; it stays for a person to read.
        RegistryError when the file itself cannot be read."""
        path = self.root / HISTORY
        history = History([], [], [])
        try:
            # Split at line ends only: splitlines() would also split a record at a U+2028 in its note.
            lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        except FileNotFoundError:
            return history
        except OSError as error:
            raise RegistryError(f"{path}: cannot read the history ({error})") from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            record = _history_record(line)
            if isinstance(record, dict):
                history.entries.append(record)
                history.lines.append(number)
            else:
                note = f"{path}, line {number}: {record}; skipped (the file is left as it is)"
                history.skipped.append((number, note))
        return history

    def unreadable_after_current(self, history: History) -> int | None:
        """A line that could not be read and may be the change to the version in service: after the
        last readable line naming it, and after another line (which may have changed away from it:
        a version promoted twice, such as A, B, C, B with the last line cut short). What served
        before it is then unknown. The first such line, or None."""
        current = self.pointer()
        naming = [line for entry, line in zip(history.entries, history.lines) if entry["version"] == current]
        if not naming:
            return None
        after = sorted(line for line in [*history.lines, *(line for line, _ in history.skipped)] if line > naming[-1])
        unreadable = [line for line, _ in history.skipped if after and line > after[0]]
        return unreadable[0] if unreadable else None

    def set_current(
        self,
        version: str,
        *,
        action: str,
        forced: bool = False,
        actor: str = "",
        note: str = "",
        if_current: str | None | _Unchecked = UNCHECKED,
    ) -> None:
        """Point CURRENT at `version` (an id of this registry, or 'current') atomically and append
        the change to the history.

        With `if_current` (a version id, or None for "no version is current"), only if CURRENT still
        names it: a promotion judged against the version in service when it began is refused
        (RegistryError, nothing changed) when another promotion or a rollback changed it meanwhile.
        """
        version = self.path_of(version).name
        try:
            # The history line is written first and taken back if CURRENT cannot be replaced: the
            # history never misses a change, nor records one that was not made.
            with (self.root / HISTORY).open("a+", encoding="utf-8") as history:  # a+: the last byte is read
                # One change at a time (two promotions at once): otherwise both record the same
                # previous version, and the history may end on the one CURRENT does not name.
                fcntl.flock(history, fcntl.LOCK_EX)
                now_current = self.pointer() or None
                if not isinstance(if_current, _Unchecked) and now_current != if_current:
                    raise RegistryError(
                        f"{self.root / POINTER}: the version in service changed meanwhile (now "
                        f"{now_current or 'none'}, {if_current or 'none'} when this command began); "
                        "nothing was changed: run the command again"
                    )
                entry = {
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "action": action,
                    "version": version,
                    "previous": now_current,  # an empty pointer is repaired by naming a version again
                    "forced": forced,
                    "actor": actor,
                    "note": note,
                }
                start = history.seek(0, os.SEEK_END)  # the end now, after what others appended meanwhile
                # A last line cut short (a full disk) gets its line end first: this record is then a
                # line of its own, not glued to the damaged one and skipped with it.
                cut_short = start > 0 and os.pread(history.fileno(), 1, start - 1) != b"\n"
                history.write(("\n" if cut_short else "") + json.dumps(entry, ensure_ascii=False) + "\n")
                history.flush()
                try:
                    with replaced_atomically(self.root / POINTER) as stream:
                        stream.write(version + "\n")
                except BaseException:  # an OSError, or Ctrl-C between the two writes
                    history.truncate(start)
                    raise
        except OSError as error:
            raise RegistryError(f"{self.root}: cannot change the current version ({error})") from None

    def previous_version(self, history: History | None = None) -> str | None:
        """The version `rollback` returns to: the one promoted before the current one, from the
        readable lines of `history` (by default the registry's); None when there is none, or when
        a line after the last one naming the version in service could not be read
        (`unreadable_after_current`).

        Promotions form a stack; a rollback pops it, so two rollbacks go two versions back.
        History lines after the last one that names the version in service record changes that
        never reached CURRENT (the process was killed between the two writes) and are skipped.
        Each line also records the version it replaced (`previous`): where that is not the top of
        the stack, the lines read miss a change (a line skipped as unreadable) or hold one that
        never reached CURRENT, and the stack is brought back to the recorded version (cut back to
        it when it is in the stack, else pushed).
        """
        history = self.read_history() if history is None else history
        if self.unreadable_after_current(history) is not None:
            return None
        entries = list(history.entries)
        current = self.pointer()
        while current and entries and entries[-1]["version"] != current:
            entries.pop()
        stack: list[str] = []
        for entry in entries:
            replaced = entry.get("previous")
            if isinstance(replaced, str) and replaced and stack[-1:] != [replaced]:
                if replaced in stack:
                    del stack[len(stack) - stack[::-1].index(replaced) :]
                else:
                    stack.append(replaced)
            if entry["action"] == "rollback" and stack:
                stack.pop()
                if not stack or stack[-1] != entry["version"]:
                    stack.append(entry["version"])
            else:
                stack.append(entry["version"])
        return stack[-2] if len(stack) >= 2 else None


def _history_record(line: str) -> dict[str, Any] | str:
    """One line of the history as a record `previous_version` can use, or what is wrong with it."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as error:
        return f"not a JSON record ({error.msg})"
    if not isinstance(entry, dict) or not isinstance(entry.get("version"), str) or not entry["version"]:
        return "a record needs a 'version'"
    if entry.get("action") not in ("promote", "rollback"):
        return "'action' must be promote or rollback"
    return entry
