"""How many processes a run may keep busy, what they are called and how
they end: one rule for the decode workers (:mod:`.decodepool`) and the
search-document helpers (:mod:`.ftsfeed`)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

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


#: How often a worker looks whether the process that started it is alive.
PARENT_POLL_SECONDS = 0.5


def end_with_parent(parent: int) -> None:
    """End this process soon after ``parent`` is gone.

    A forked decode worker waits on a queue whose write end its siblings
    inherited too, so when the ingest is killed (``kill -9``, the OOM
    killer) nothing ever wakes it: it would wait forever.  A thread that
    sees the process re-parented ends it.  Not ``PR_SET_PDEATHSIG``: that
    fires when the *thread* that forked exits, and a program using the API
    may ingest in a thread that ends before the process does."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def start_worker(name: str, parent: int) -> None:
    """A worker's start: its name; Ctrl-C left to ``parent`` (the terminal
    sends it to the whole process group, and a worker's traceback would
    bury the run's one line); its end with ``parent``."""
    name_process(name)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    end_with_parent(parent)


@contextmanager
def started_without_ctrl_c() -> Iterator[None]:
    """Start processes inside this: they begin with Ctrl-C ignored (an
    ignored signal stays ignored through ``exec``), so a spawned child is
    quiet even while it imports, before :func:`start_worker` runs.  Only
    the main thread may change a signal's handler; elsewhere nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
