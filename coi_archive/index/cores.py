"""How many processes a run may keep busy, and what they are called: one
rule for the decode workers (:mod:`.decodepool`) and the search-document
helpers (:mod:`.ftsfeed`)."""

from __future__ import annotations

import os

#: What each kind of process of a run is called in ``ps`` and ``top``.
DECODE_WORKER, INDEX_WRITER, DOCUMENT_HELPER = "coi-decode", "coi-index", "coi-prepare"


def cores() -> int:
    """The cores a run may use: ``COI_ARCHIVE_WORKERS`` when set to a
    number (``1`` keeps decoding in one process, as profiling wants), else
    every core of the machine."""
    env = os.environ.get("COI_ARCHIVE_WORKERS")
    if env and env.isdigit():
        return int(env)
    return os.cpu_count() or 1


def name_process(name: str) -> None:
    """Call this process ``name`` (Linux: its ``comm``, up to 15 bytes), so
    that ``top`` and ``ps -o comm`` tell a decode worker from the index
    writer rather than showing four ``python3``; elsewhere nothing."""
    try:
        with open("/proc/self/comm", "w", encoding="ascii") as fh:
            fh.write(name[:15])
    except OSError:
        pass
