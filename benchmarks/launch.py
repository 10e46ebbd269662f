"""Run one command and report its exact resource use: a launcher with a small
memory, for a benchmark process with a large one.

Why a launcher: Linux carries a process's peak RSS across ``exec``
(``exec_mmap`` keeps the larger of the old memory's high-water mark and the
recorded one), and Python's ``subprocess`` starts a child by ``vfork`` (or
``fork``) from the benchmark itself, whose memory is the old one. So the
``ru_maxrss`` that ``wait4`` returns for a child of a process holding a
million file names is at least that process's own size (``/bin/true`` started
from a 400 MB Python reports ~390 MB): in the 1M benchmark every ingest,
whatever its engine, "peaked" at 470 MB, the size of ``run.py``. Started from
this launcher instead (``python -S``, a few MB), the command's figure is its
own, and its own reaped children's.

Usage (``run.py`` does this)::

    python -S launch.py LOG CMD [ARGS...]

Prints ``pid <PID>`` as soon as the command runs (so the caller can sample
its process tree), then one JSON line: wall seconds, exit status, and the
``wait4`` rusage of the command (``ru_maxrss`` in kB, user and system CPU
seconds, its waited-for descendants included). Standard library only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    log, cmd = argv[0], argv[1:]
    with open(log, "wb") as fh:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        print(f"pid {proc.pid}", flush=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    report = {
        "seconds": wall,
        "exit": os.waitstatus_to_exitcode(status),
        "maxrss_kb": usage.ru_maxrss,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
