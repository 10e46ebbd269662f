"""How many processes a run may keep busy: one rule for the decode workers
(:mod:`.decodepool`) and the search-document helpers (:mod:`.ftsfeed`)."""

from __future__ import annotations

import os


def cores() -> int:
    """The cores a run may use: ``COI_ARCHIVE_WORKERS`` when set to a
    number (``1`` keeps decoding in one process, as profiling wants), else
    every core of the machine."""
    env = os.environ.get("COI_ARCHIVE_WORKERS")
    if env and env.isdigit():
        return int(env)
    return os.cpu_count() or 1
