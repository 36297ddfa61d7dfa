"""Files written so that readers never see them half done, with the permissions the umask gives."""

from __future__ import annotations

import errno
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
def replaced_atomically(path: Path, newline: str | None = None, *, overwrite: bool = True) -> Iterator[TextIO]:
    """A UTF-8 text stream whose content replaces `path` in one step when the block ends.

    It is written to a temporary file beside `path` (the umask's permissions, as a plain open()
    would give; mkstemp alone makes it private), then renamed over it. If the block fails, `path`
    is left as it was and the temporary file is removed. A symbolic link is followed (the file
    it points to is replaced, not the link); something that is not a file (/dev/stdout, a pipe)
    is written to directly, since it cannot be replaced. With `overwrite` false, a file at `path`
    when the block ends (made meanwhile, say) is kept, and FileExistsError raised.
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
        if overwrite:
            os.replace(temporary, target)
        else:
            _move_unless_there(Path(temporary), target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _move_unless_there(source: Path, target: Path) -> None:
    """Rename `source` to `target` in one step unless `target` exists (FileExistsError then).

    A hard link fails, atomically, when the name is taken; where the file system has no hard
    links, the check and the rename are two steps.
    """
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (some network or FAT file systems)
        if target.exists():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target)) from None
        os.replace(source, target)
    else:
        source.unlink()
