"""Reading one message file: exactly its bytes, up to the limit, cheaply.

``safeio.read_message`` is called once per Maildir file and ``.eml``; it
used to ask a buffered reader for ``max_message_size`` bytes, which
allocated the whole limit (64 MiB) for every message of a few kB.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

from coi_archive.ingest import safeio
from coi_archive.ingest.safeio import Limits, read_message


def _file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / f"m{size}"
    path.write_bytes(bytes(i % 251 for i in range(size)))
    return path


def test_whole_files_come_back_byte_for_byte(tmp_path: Path) -> None:
    for size in (0, 1, 2048, 70_000, (1 << 20) + 3):
        path = _file(tmp_path, size)
        data, cut = read_message(str(path), str(tmp_path), Limits())
        assert data == path.read_bytes()
        assert cut is None


def test_a_file_over_the_limit_is_cut_there_and_its_size_told(tmp_path: Path) -> None:
    path = _file(tmp_path, 10_000)
    data, cut = read_message(str(path), str(tmp_path), Limits(max_message_size=4096))
    assert data == path.read_bytes()[:4096]
    assert cut == 10_000


def test_a_file_exactly_at_the_limit_is_not_cut(tmp_path: Path) -> None:
    path = _file(tmp_path, 4096)
    assert read_message(str(path), str(tmp_path), Limits(max_message_size=4096)) == (path.read_bytes(), None)


def test_a_file_that_grew_since_it_was_opened_is_read_to_its_end(tmp_path: Path) -> None:
    path = _file(tmp_path, 50_000)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert safeio._read_up_to(fd, 1 << 26, 100) == path.read_bytes()
    finally:
        os.close(fd)


def test_a_small_message_does_not_allocate_the_limit(tmp_path: Path) -> None:
    path = _file(tmp_path, 2048)
    tracemalloc.start()
    try:
        read_message(str(path), str(tmp_path), Limits())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 10
