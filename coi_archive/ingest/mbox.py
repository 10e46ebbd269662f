"""mbox files (mboxo and mboxrd, plain or ``.gz``/``.bz2``), streamed.

The file is read once, line by line with a bounded ``readline`` (a 2 GiB
line is read in 1 MiB pieces), and split where ``mailbox.mbox`` splits: a
``From `` line at the start of a line begins a message, and the empty line
before it belongs to the container.  Nothing is held but the message being
read, and of that at most ``max_message_size`` bytes (see
:mod:`.safeio`); a compressed file is decompressed as it is read, up to its
budget.  A message's key is the byte offset of its ``From `` line, stable
while the file only grows by appending.  Stored originals are un-escaped
the mboxrd way (one ``>`` removed from ``>From `` lines) so that exporting
them as mboxrd gives the file back.

A file that breaks off (a truncated or damaged ``.gz``/``.bz2``, an I/O
error) or outgrows its budget gives the messages before the break and then
raises SourceError: the source is incomplete and is read again next time.
The message being read at the break is not stored (the next run reads it
whole), unless it was already over the size limit: its stored prefix would
not change.
"""

from __future__ import annotations

import bz2
import gzip
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .events import Provenance
from .safeio import Limits, limits_of, open_inside
from .sources import Candidate, Source, SourceError

#: The most of one line held at once.
PIECE = 1 << 20
#: What a broken compressed stream or file raises while being read.
_BROKEN = (EOFError, OSError, zlib.error)

_ESCAPED_FROM = re.compile(rb"^>(>*From )", re.M)


def unescape(data: bytes) -> bytes:
    return _ESCAPED_FROM.sub(rb"\1", data)


def _decompressor(name: str):
    """How to open a compressed mbox (given its open file), None for a plain one."""
    name = name.lower()
    if name.endswith(".gz"):
        return lambda fh: gzip.GzipFile(fileobj=fh, mode="rb")
    if name.endswith(".bz2"):
        return lambda fh: bz2.BZ2File(fh, mode="rb")
    return None


def candidates(source: Source, state: dict) -> Iterator[Candidate]:
    limits = limits_of(state)
    path = str(source.path)
    try:
        fh = os.fdopen(open_inside(path, path), "rb")
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    with fh:
        decompressor = _decompressor(source.path.name)
        if decompressor is None:
            yield from _split(source.id, fh, limits, budget=None)
            return
        budget = limits.decompressed_budget(os.fstat(fh.fileno()).st_size)
        with decompressor(fh) as stream:
            yield from _split(source.id, stream, limits, budget)


@dataclass
class _Message:
    """The message being read: its ``From `` line offset and the first
    ``cap`` bytes of what follows the ``From `` line."""

    start: int
    cap: int
    pieces: list[bytes] = field(default_factory=list)
    kept: int = 0
    seen: int = 0  # bytes after the From line, kept or not
    from_line: bytes = b""  # its first PIECE bytes
    from_len: int = 0
    from_line_open: bool = True  # the From line goes on (a line longer than PIECE)

    def add(self, piece: bytes) -> None:
        self.seen += len(piece)
        if self.kept < self.cap:
            piece = piece[: self.cap - self.kept]
            self.pieces.append(piece)
            self.kept += len(piece)


def _split(source_id: str, fh: BinaryIO, limits: Limits, budget: int | None) -> Iterator[Candidate]:
    """The messages of one mbox stream, split as ``mailbox.mbox`` splits."""
    pos = 0
    line_start = True
    last_empty = False
    cur: _Message | None = None
    try:
        while budget is None or pos <= budget:
            piece = fh.readline(PIECE)
            if not piece:
                if cur is not None:
                    yield _finish(source_id, cur, pos, last_empty, limits.max_message_size)
                return
            if line_start and piece.startswith(b"From "):
                if cur is not None:
                    yield _finish(source_id, cur, pos, last_empty, limits.max_message_size)
                cur = _Message(start=pos, cap=limits.max_message_size + 1, from_line=piece, from_len=len(piece))
                last_empty = False
            elif cur is not None and cur.from_line_open:
                cur.from_line += piece[: PIECE - len(cur.from_line)]
                cur.from_len += len(piece)
            elif cur is not None:
                cur.add(piece)
                last_empty = line_start and piece == b"\n"
            pos += len(piece)
            line_start = piece.endswith(b"\n")
            if cur is not None and cur.from_line_open and line_start:
                cur.from_line_open = False
    except _BROKEN as exc:
        reason = f"unreadable after {pos} bytes ({type(exc).__name__}: {exc})"
    else:
        reason = (
            f"more than {budget} bytes decompressed (--max-expand-ratio {limits.max_expand_ratio:g},"
            f" --max-decompressed {limits.max_decompressed})"
        )
    if cur is not None and cur.seen > limits.max_message_size:
        yield _finish(source_id, cur, pos, False, limits.max_message_size)
    raise SourceError(reason)


def _finish(source_id: str, msg: _Message, stop: int, last_empty: bool, limit: int) -> Candidate:
    """The candidate for a message that ends at ``stop`` (exclusive; the
    empty line before the next ``From `` line is the container's)."""
    if msg.from_line_open:  # the file ends inside the From line: it is the message
        msg.pieces, msg.seen, msg.from_len = [msg.from_line], msg.from_len, 0
    size = msg.seen - int(last_empty)
    prov = Provenance(source=source_id, folder="", key=str(msg.start), size=msg.from_len + size)
    pieces, keep = msg.pieces, min(size, limit)

    def read() -> bytes:
        return unescape(b"".join(pieces)[:keep])

    return Candidate(prov, read, truncated_from=size if size > limit else None)
