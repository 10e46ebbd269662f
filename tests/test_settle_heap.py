"""The fold packs every message with a fresh zlib compressor; glibc must
not hand its memory back to the kernel after each one (``settle.keep_freed_heap``)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

#: Pack and store 3,000 messages as ``state.write_fold`` does (SQLite
#: growing its pages above the compressors' memory) and print the minor
#: page faults.
PACK = """
import resource, sqlite3, sys
from coi_archive.index import messagedata, settle
if sys.argv[1] == "keep":
    assert settle.keep_freed_heap()
conn = sqlite3.connect(":memory:")
conn.execute("CREATE TABLE m(seq INTEGER PRIMARY KEY, data BLOB, text TEXT)")
msg = {"message_id": "<a@x>", "text": "hello " * 40, "recipients": ["b@x"], "seq": 0}
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rows = ((i, messagedata.pack(msg | {"seq": i}), f"text {i} " * 30) for i in range(3000))
conn.executemany("INSERT INTO m VALUES(?,?,?)", rows)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PACK, mode], capture_output=True, text=True, check=True).stdout
    return int(out)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_packing_messages_stops_faulting_pages_in_once_the_heap_is_kept():
    default, kept = _faults("default"), _faults("keep")
    assert kept * 10 < default, (kept, default)
