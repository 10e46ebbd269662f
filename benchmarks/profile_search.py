"""Profile search queries against an existing archive (cProfile).

    .venv/bin/python benchmarks/run.py --n 100000 --keep-archive      # leaves bench-out/archive-n100000-s1
    .venv/bin/python benchmarks/profile_search.py bench-out/archive-n100000-s1 '"bis später"' --reps 30

Prints wall and CPU time per call and the cProfile hot spots (own time and
cumulative) of ``Archive.search(q, limit=20)`` after one warm-up call.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archive", type=Path)
    ap.add_argument("query", nargs="+")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)

    from coi_archive.index.api import Archive

    with Archive.open(args.archive, readonly=True) as a:
        for q in args.query:
            a.search(q, limit=args.limit)  # warm-up
            t, c = time.perf_counter(), time.thread_time()
            for _ in range(args.reps):
                a.search(q, limit=args.limit)
            wall = (time.perf_counter() - t) / args.reps * 1000
            cpu = (time.thread_time() - c) / args.reps * 1000
            print(f"\n### {q}: {wall:.1f} ms wall, {cpu:.1f} ms CPU per call (mean of {args.reps})")
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(args.reps):
                a.search(q, limit=args.limit)
            prof.disable()
            st = pstats.Stats(prof).strip_dirs()
            st.sort_stats("tottime").print_stats(args.top)
            st.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
