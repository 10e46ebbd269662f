"""Writing an export file safely: never over an existing file unless asked
(``--force``), never through a planted symlink, never half a file.

The bytes go to a fresh temporary file in the target's directory, created
by :func:`tempfile.mkstemp` (``O_CREAT|O_EXCL``, a random name, mode 0600),
so a symlink or file that someone placed at a predictable name such as
``chat.mbox.part`` is never opened.  When the export is complete the
temporary file becomes the target in one step: ``os.link`` (which fails if
the target appeared meanwhile) without ``force``, ``os.replace`` with it
(a symlink at the target is replaced, not followed).  An export file stays
mode 0600: it holds private chats.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .selection import ExportError

__all__ = ["atomic_output", "refuse_existing"]

#: ``os.link`` errors that mean "this file system has no hard links".
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}


def refuse_existing(targets: Iterable[Path], force: bool) -> None:
    """ExportError (one line) for the first target that exists, unless ``force``.

    Checked before any byte is written, so a refused export leaves nothing
    behind."""
    if force:
        return
    for target in targets:
        if os.path.lexists(target):
            raise ExportError(f"{target} exists: add --force to overwrite it")


def _publish(tmp: str, target: Path, force: bool) -> None:
    """Give the finished temporary file the target's name."""
    if force:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise ExportError(f"{target} exists: add --force to overwrite it") from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        refuse_existing([target], force)
        os.replace(tmp, target)
        return
    os.unlink(tmp)


@contextmanager
def atomic_output(target: str | os.PathLike, force: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write the export into; on a clean exit it becomes
    ``target``.  Raises ExportError when ``target`` exists and not
    ``force``; on any error the temporary file is removed and ``target``
    is untouched."""
    path = Path(target)
    refuse_existing([path], force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        _publish(tmp, path, force)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
