"""Files written so that readers never see them half done, with the permissions the umask gives."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


def with_umask(mode: int) -> int:
    """`mode` as the process's umask lets it be (what open() or mkdir() would have given)."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


@contextmanager
def replaced_atomically(path: Path, newline: str | None = None) -> Iterator[TextIO]:
    """A UTF-8 text stream whose content replaces `path` in one step when the block ends.

    It is written to a temporary file beside `path` (the umask's permissions, as a plain open()
    would give; mkstemp alone makes it private), then renamed over it. If the block fails, `path`
    is left as it was and the temporary file is removed. A symbolic link is followed (the file
    it points to is replaced, not the link); something that is not a file (/dev/stdout, a pipe)
    is written to directly, since it cannot be replaced.
    """
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_file():
        with target.open("w", encoding="utf-8", newline=newline) as stream:
            yield stream
        return
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.chmod(temporary, with_umask(0o666))
        with os.fdopen(handle, "w", encoding="utf-8", newline=newline) as stream:
            yield stream
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
