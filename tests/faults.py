"""Run the real CLI in a subprocess that kills itself (SIGKILL, the whole
process group: decoder workers and the indexing child too) at a chosen
point, or pauses there.

    python -m tests.faults 'coi_archive.index.state:write_fold' 5 kill -- --archive A ingest SRC

wraps ``write_fold`` so that its 5th call first kills the run. ``after``
instead of ``kill`` kills right after the 5th call returned; ``killself``
kills only the main process, as ``kill -9 PID`` or the OOM killer do,
once its children run (they are left to notice); ``pause=S`` sleeps S
seconds before it (to hold the writer lock in a test). Small
batch sizes make the run commit often, so a kill lands between commits.
Nothing here is part of the program: the program is run unchanged.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
import time


def _die() -> None:
    sys.stdout.flush()
    os.killpg(0, signal.SIGKILL)


def children(pid: int | str = "self") -> list[str]:
    """The names (``comm``) of a process's children, as ``ps`` shows them."""
    names = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                pids = fh.read().split()
        except OSError:  # a thread that just ended
            continue
        for child in pids:
            try:
                with open(f"/proc/{child}/comm", encoding="ascii") as comm:
                    names.append(comm.read().strip())
            except OSError:
                pass
    return names


def arm(target: str, nth: int, action: str) -> None:
    """Wrap ``module:attr`` (``attr`` may be ``Class.method``)."""
    module_name, _, path = target.partition(":")
    owner = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for p in parents:
        owner = getattr(owner, p)
    real = getattr(owner, name)
    calls = 0

    @functools.wraps(real)
    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == nth and action == "kill":
            _die()
        if calls == nth and action == "killself":
            deadline = time.monotonic() + 20  # spawned children name themselves once they run
            while any(n.startswith("python") for n in children()) and time.monotonic() < deadline:
                time.sleep(0.05)
            print("faults: children", *children(), file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        if calls == nth and action.startswith("pause="):
            print("faults: paused", file=sys.stderr, flush=True)  # the test waits for this line
            time.sleep(float(action.split("=", 1)[1]))
        result = real(*args, **kwargs)
        if calls == nth and action == "after":
            _die()
        return result

    setattr(owner, name, staticmethod(wrapper) if isinstance(owner.__dict__.get(name), staticmethod) else wrapper)


def main(argv: list[str]) -> int:
    target, nth, action, sep, *cli_args = argv
    assert sep == "--"
    import coi_archive.index.intake as intake

    intake.BATCH, intake.DECODE_BATCH = 40, 16  # commit often: kills land between commits
    if os.environ.get("COI_FAULTS_PARALLEL_FTS"):  # fold while a forked child writes the index
        import coi_archive.index.settle as settle

        settle.PARALLEL_FTS_CHATS = 2
    if os.environ.get("COI_FAULTS_PARALLEL_DECODE"):  # decode even these small batches in workers
        import coi_archive.index.decodepool as decodepool

        decodepool.PARALLEL_MIN = 2
    arm(target, int(nth), action)
    from coi_archive.cli import main as cli_main

    return cli_main(cli_args)


if __name__ == "__main__":
    os.setpgid(0, 0)
    sys.exit(main(sys.argv[1:]))
