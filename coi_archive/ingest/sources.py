"""Find the mailboxes behind a path and describe each as a :class:`Source`.

A path may be a Maildir (with Maildir++ subfolders), an mbox file (also
``.gz``/``.bz2``), one ``.eml`` file, or a directory holding any mix of
these (walked recursively).  Every source yields :class:`Candidate` copies
without reading their bytes, so the index can skip what it already has.

Like the stdlib ``mailbox`` module (one class per format), each format is
read by its own module (``maildir``, ``mbox``, ``eml``, ``dcbackup``,
``imap``), which is registered here with :func:`register` and
:func:`register_scheme`.  This module imports none of them, so they can
import it without a circle; :mod:`coi_archive.ingest.readers` registers
them all and is what callers import.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import safeio
from .events import Provenance, storable


class SourceError(Exception):
    """A path that cannot be used as a source (one clear line for the user)."""


#: How each kind of :class:`Source` is read: ``reader(source, state)``.
Reader = Callable[["Source", dict], Iterator["Candidate"]]
#: Says whether a file is a container of this kind (and raises SourceError
#: for one that is but cannot be used); asked before mbox/eml sniffing.
Claim = Callable[[Path], bool]

_READERS: dict[str, Reader] = {}
_CLAIMS: dict[str, Claim] = {}
_SCHEMES: dict[str, Callable[[str, dict | None], list]] = {}


def register(kind: str, reader: Reader, claim: Claim | None = None) -> None:
    """Make ``reader`` read the sources of ``kind``; with ``claim``, files
    it accepts become sources of that kind."""
    _READERS[kind] = reader
    if claim is not None:
        _CLAIMS[kind] = claim


def register_scheme(schemes: tuple[str, ...], discover_url: Callable[[str, dict | None], list]) -> None:
    """Make ``discover_url(url, options)`` find the sources behind URLs of
    ``schemes`` (such as ``imap://``)."""
    for scheme in schemes:
        _SCHEMES[scheme.lower()] = discover_url


@dataclass(frozen=True)
class Candidate:
    """One message copy found in a source; ``read()`` fetches its bytes."""

    provenance: Provenance
    read: Callable[[], bytes]
    #: How the bytes are stored and decoded: ``rfc822`` (a mail message) or
    #: a source-specific record format such as ``dcbackup-json``.
    format: str = "rfc822"
    #: Set when the copy was over the size limit (``ingest.safeio``): its
    #: size in the source; ``read()`` then gives only the first bytes.
    truncated_from: int | None = None


@dataclass(frozen=True)
class Source:
    """A mailbox file or folder: ``kind`` names its registered reader
    (maildir, mbox, eml, dcbackup); ``id`` is stable across runs (the
    absolute path) and keys the per-source cursor.  Kind ``skipped`` is a
    path discovery found and does not read; ``reason`` says why (one of the
    skip reasons of ``ingest.safeio``)."""

    kind: str
    path: Path
    reason: str = ""

    @property
    def id(self) -> str:
        """The source's name in the catalog (its path, :func:`.events.storable`)."""
        return storable(str(self.path))

    def fingerprint(self) -> str:
        """Cheap change marker for whole-file sources (size and mtime)."""
        st = self.path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"

    def candidates(self, state: dict | None = None) -> Iterator[Candidate]:
        """``state`` comes from the index: ``known`` maps the stored
        ``(folder, key)`` to ``(flags, size)`` (a source may take a copy it
        finds unchanged off ``known`` without yielding it, counting it in
        ``state["unchanged"]``), ``cursor`` is what the source
        left in ``state["cursor"]`` after its last complete scan (IMAP keeps
        UIDVALIDITY/HIGHESTMODSEQ there)."""
        reader = _READERS.get(self.kind)
        if reader is None:
            raise SourceError(f"no reader for {self.kind} sources (import coi_archive.ingest.readers)")
        return reader(self, state or {})


def is_maildir(path: Path) -> bool:
    """A directory with ``cur``: ``new`` and ``tmp`` are often dropped by
    git and sync tools when empty (see ``ingest.maildir``).  A directory
    that cannot be searched is not one (the walk then reports it unreadable;
    ``Path.is_dir`` raises on EACCES)."""
    try:
        return path.is_dir() and (path / "cur").is_dir()
    except OSError:
        return False


def sniff_file(path: Path) -> str | None:
    """mbox, eml, or None for a file that is neither."""
    name = path.name.lower()
    if name.endswith((".gz", ".bz2")):
        return "mbox"
    if name.endswith((".mbox", ".mbx")):
        return "mbox"
    if name.endswith(".eml"):
        return "eml"
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    if head.startswith(b"From "):
        return "mbox"
    if _HEADER_RE.match(head) and b"\0" not in head:
        return "eml"
    return None


#: A first line that is a header field (RFC 5322: a name of printable
#: characters without space or colon, then a colon): ``notes: milk`` is one,
#: ``shopping list: milk`` is not.
_HEADER_RE = re.compile(rb"[!-9;-~]+:")


def discover(path_text: str, options: dict | None = None) -> list[Source]:
    """All sources behind a path, or behind a URL of a registered scheme
    such as ``imap://`` (``options``: see
    :class:`coi_archive.net.imap.ImapOptions`); raises SourceError for
    unusable paths."""
    scheme, sep, _rest = path_text.partition("://")
    if sep and scheme.lower() in _SCHEMES:
        return _SCHEMES[scheme.lower()](path_text, options)
    path = Path(path_text).expanduser()
    try:
        exists = path.exists()  # raises when a directory on the way cannot be searched
    except OSError as exc:
        raise SourceError(f"cannot read: {path_text} ({exc.strerror or exc})") from None
    if not exists:
        raise SourceError(f"no such file or directory: {path_text}")
    path = path.resolve()
    if not os.access(path, os.R_OK):
        raise SourceError(f"cannot read: {path_text}")
    if path.is_file():
        claimed = _claimed(path)
        if claimed:
            return [claimed]
        kind = sniff_file(path)
        if kind is None:
            raise SourceError(f"not a mailbox (Maildir, mbox or .eml): {path_text}")
        return [Source(kind, path)]
    if is_maildir(path):
        return [Source("maildir", path)]
    found = list(_walk(path))
    if not found:
        raise SourceError(f"no mailbox found under: {path_text}")
    return found


def _walk(root: Path, top: Path | None = None, seen: set[tuple[int, int]] | None = None) -> Iterator[Source]:
    """The sources below ``root``.  Symlinks are not followed: one that
    leads out of ``top`` (the walked path) or back to a directory above it
    is yielded as skipped, one to a place inside is read at that place.  A
    directory met twice (bind mounts) is a loop; an unreadable file or
    directory is skipped, and the walk goes on."""
    top = top or root
    seen = set() if seen is None else seen
    try:
        st = root.stat()
        if (st.st_dev, st.st_ino) in seen:
            yield Source("skipped", root, safeio.DIRECTORY_LOOP)
            return
        seen.add((st.st_dev, st.st_ino))
        entries = sorted(root.iterdir())
    except OSError:
        yield Source("skipped", root, safeio.UNREADABLE)
        return
    eml_dirs: set[Path] = set()
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            yield from _symlink(entry, top)
        elif entry.is_dir():
            if is_maildir(entry):
                yield Source("maildir", entry)
            else:
                yield from _walk(entry, top, seen)
        elif not entry.is_file():
            yield Source("skipped", entry, safeio.NOT_REGULAR)
        elif not os.access(entry, os.R_OK):
            yield Source("skipped", entry, safeio.UNREADABLE)
        else:
            claimed = _claimed(entry)
            if claimed:
                yield claimed
                continue
            kind = sniff_file(entry)
            if kind == "mbox":
                yield Source("mbox", entry)
            elif kind == "eml":
                eml_dirs.add(root)
            else:
                yield Source("skipped", entry, safeio.NOT_MAIL)
    for d in sorted(eml_dirs):
        yield Source("eml", d)


def _symlink(link: Path, top: Path) -> Iterator[Source]:
    """A symlink met in a walk, as a skipped source when it leads out of
    ``top`` or to a directory holding it; nothing when its target is read
    at its own place inside ``top``."""
    real = Path(os.path.realpath(link))
    if not safeio.is_inside(str(real), str(top)):
        yield Source("skipped", link, safeio.SYMLINK_OUTSIDE)
    elif real.is_dir() and safeio.is_inside(str(link), str(real)):
        yield Source("skipped", link, safeio.DIRECTORY_LOOP)


def _claimed(path: Path) -> Source | None:
    """The source of the first registered kind that claims this file."""
    for kind, claim in _CLAIMS.items():
        if claim(path):
            return Source(kind, path)
    return None
