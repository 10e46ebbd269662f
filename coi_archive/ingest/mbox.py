"""mbox files (mboxo and mboxrd, plain or ``.gz``/``.bz2``) through the
stdlib ``mailbox`` module.

Compressed files are streamed into a temporary file first (``mailbox.mbox``
needs to seek), so memory stays flat.  A message's key is the byte offset
of its ``From `` line, stable while the file only grows by appending.
Stored originals are un-escaped the mboxrd way (one ``>`` removed from
``>From `` lines) so that exporting them as mboxrd gives the file back.
"""

from __future__ import annotations

import bz2
import gzip
import mailbox
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .events import Provenance
from .sources import Candidate, Source

_ESCAPED_FROM = re.compile(rb"^>(>*From )", re.M)


def unescape(data: bytes) -> bytes:
    return _ESCAPED_FROM.sub(rb"\1", data)


def _opener(path: Path):
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open
    if name.endswith(".bz2"):
        return bz2.open
    return None


def candidates(source: Source, state: dict) -> Iterator[Candidate]:
    opener = _opener(source.path)
    if opener is None:
        yield from _from_file(source, source.path)
        return
    with tempfile.TemporaryDirectory(prefix="coi-mbox-") as tmp:
        plain = Path(tmp) / "mbox"
        try:
            with opener(source.path, "rb") as src, plain.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (OSError, EOFError, ValueError):
            pass  # a truncated archive: keep what could be decompressed
        yield from _from_file(source, plain)


def _from_file(source: Source, path: Path) -> Iterator[Candidate]:
    box = mailbox.mbox(str(path), factory=None, create=False)
    try:
        box._generate_toc()
        toc = dict(box._toc)
        fh = open(path, "rb")
    except OSError:
        return
    try:
        for idx in sorted(toc):
            start, stop = toc[idx]
            prov = Provenance(source=source.id, folder="", key=str(start), size=stop - start)
            yield Candidate(prov, _reader(fh, start, stop))
    finally:
        fh.close()


def _reader(fh, start: int, stop: int):
    def read() -> bytes:
        fh.seek(start)
        data = fh.read(stop - start)
        nl = data.find(b"\n")
        body = data[nl + 1:] if data.startswith(b"From ") and nl >= 0 else data
        return unescape(body)
    return read
