"""Profile one ingest in-process: wall time per phase, then cProfile hot spots.

    .venv/bin/python benchmarks/profile_ingest.py --n 20000            # phases + cProfile
    .venv/bin/python benchmarks/profile_ingest.py --n 20000 --no-cprofile   # phases only (no overhead)

Uses the cached Maildir of ``run.py`` (``bench-out/maildir-n<N>-s<SEED>``,
generated if missing) and a scratch archive ``bench-out/profile-archive-<pid>`` (deleted afterwards).
Phases are measured by wrapping the program's functions at runtime (no
program code is changed):

* ``intake``      reading, hashing, decoding, storing copies (``Intake.run``;
  decoding runs in-process by default here, ``--workers auto`` uses the
  program's decode pool, whose worker CPU the phase timers then do not see)
  of which ``decode`` (MIME parse + dialect decoders), ``wire.refresh``
  (placement, per batch of 2,000) and SQLite writes are listed separately
* ``refold``      recomputing chat state for the dirty chats
* ``contacts``    ``rebuild_contacts``
* ``fulltext``    building search docs + the engine's ``add`` (incl. commit/merge)

The cProfile output (sorted by own time and by cumulative time) is written to
``bench-out/profile-<N>.txt`` and the raw stats to ``bench-out/profile-<N>.prof``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import shutil
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402

TIMES: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
CPU: dict[str, float] = defaultdict(float)
RSS_GROWTH: dict[str, float] = defaultdict(float)  # MB the peak RSS rose inside the phase
ACTIVE: list[str] = []  # the phases now running, innermost last
RSS_MAX: dict[str, float] = defaultdict(float)  # largest sampled RSS of this process in the phase (MB)
TREE_MAX: dict[str, float] = defaultdict(float)  # ... of this process and its children (decode workers, index child)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_mb(pid: int | str) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[str]:
    kids: list[str] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids += task.read_text().split()
        except OSError:
            pass
    return kids


def sample_rss(stop: threading.Event, every: float = 0.1) -> None:
    """Attribute the current RSS (own, and with the children) to the
    innermost running phase, every ``every`` seconds."""
    me = os.getpid()
    while not stop.wait(every):
        label = ACTIVE[-1] if ACTIVE else "(between phases)"
        own = _rss_mb(me)
        tree = own + sum(_rss_mb(k) for k in _children(me))
        RSS_MAX[label] = max(RSS_MAX[label], own)
        TREE_MAX[label] = max(TREE_MAX[label], tree)


def wrap(obj, name: str, label: str) -> None:
    """Time calls of ``obj.name`` under ``label`` (skipped if the program
    no longer has that name: other people keep changing it)."""
    orig = getattr(obj, name, None)
    if orig is None:
        print(
            f"profile_ingest: no {getattr(obj, '__name__', obj)}.{name}; phase '{label}' not measured", file=sys.stderr
        )
        return

    def timed(*a, **kw):
        t = time.perf_counter()
        c = time.process_time()
        m = peak_mb()
        ACTIVE.append(label)
        try:
            return orig(*a, **kw)
        finally:
            ACTIVE.pop()
            TIMES[label] += time.perf_counter() - t
            CPU[label] += time.process_time() - c
            CALLS[label] += 1
            RSS_GROWTH[label] += peak_mb() - m

    setattr(obj, name, timed)


def instrument() -> None:
    import coi_archive.index.api as api
    import coi_archive.index.intake as intake
    import coi_archive.index.settle as settle
    from coi_archive.index.tantivy_engine import TantivyEngine
    from coi_archive.index.whoosh_engine import WhooshEngine

    wrap(intake.Intake, "run", "intake (total)")
    wrap(intake, "decode_any", "intake: decode (parse + dialect)")
    try:
        import coi_archive.index.decodepool as pool
    except ImportError:
        pool = None
    if pool is not None:  # decoding moved into a (process) pool
        wrap(pool.DecodePool, "decode", "intake: DecodePool.decode (batches)")
        wrap(pool, "decode_any", "intake: decode (parse + dialect)")
        wrap(pool, "compress", "intake: zlib compress")
        wrap(pool, "pack_envelope", "intake: pack envelope (JSON + zlib)")
    wrap(intake, "refresh", "intake: wire.refresh (per batch)")
    wrap(settle, "refold", "settle: refold chats")
    wrap(settle, "rebuild_contacts", "settle: rebuild_contacts")
    wrap(settle, "_index", "settle: fulltext index (in-process)")
    wrap(TantivyEngine, "add", "settle: fulltext add (docs + tantivy)")
    wrap(WhooshEngine, "add", "settle: fulltext add (docs + Whoosh)")
    wrap(api.Archive, "settle", "settle (total)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out")
    ap.add_argument("--no-cprofile", action="store_true")
    ap.add_argument("--top", type=int, default=45)
    ap.add_argument(
        "--workers",
        default="1",
        help="COI_ARCHIVE_WORKERS for the run (default 1: decode in-process, so cProfile and the "
        "phase timers see it; 'auto' = the program's default)",
    )
    args = ap.parse_args(argv)
    if args.workers != "auto":
        os.environ["COI_ARCHIVE_WORKERS"] = args.workers
    args.out.mkdir(parents=True, exist_ok=True)
    box, _ = bench.ensure_maildir(args.out, args.n, args.seed, False)
    files = bench.maildir_files(box)
    nfiles = len(files)
    bench.warm_cache(files)
    archive_dir = args.out / f"profile-archive-{os.getpid()}"  # several people may profile at once
    shutil.rmtree(archive_dir, ignore_errors=True)

    instrument()
    from coi_archive.index.api import Archive

    del files  # keep the process lean: RSS is reported
    start_mb = peak_mb()
    prof = None if args.no_cprofile else cProfile.Profile()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    stop = threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(stop,), daemon=True)
    sampler.start()
    with Archive.open(archive_dir) as a:
        if prof:
            prof.enable()
        report = a.ingest([str(box)])
        if prof:
            prof.disable()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    stop.set()
    sampler.join()
    lines = [
        f"COI_ARCHIVE_WORKERS={os.environ.get('COI_ARCHIVE_WORKERS', '(default)')}; "
        f"ingest of {nfiles} files: wall {wall:.1f}s, process CPU {cpu:.1f}s, "
        f"{nfiles / wall:.0f} files/s{' (under cProfile)' if prof else ''}",
        f"report: {report.as_dict()}",
        f"peak RSS of this process: {peak_mb():.0f} MB (before ingest: {start_mb:.0f} MB)",
        "",
        "phase                                     wall s    CPU s   calls  peak-RSS rise  max RSS  +children (MB)",
    ]
    for label in sorted(set(TIMES) | set(RSS_MAX), key=lambda k: -CPU[k]):
        lines.append(
            f"{label:<40} {TIMES[label]:8.2f} {CPU[label]:8.2f} {CALLS[label]:7d}  {RSS_GROWTH[label]:13.0f}"
            f"  {RSS_MAX[label]:7.0f}  {TREE_MAX[label]:9.0f}"
        )
    text = "\n".join(lines) + "\n"
    if prof:
        for order in ("tottime", "cumulative"):
            buf = io.StringIO()
            st = pstats.Stats(prof, stream=buf)
            st.strip_dirs().sort_stats(order).print_stats(args.top)
            text += f"\n===== cProfile sorted by {order} =====\n" + buf.getvalue()
        prof.dump_stats(str(args.out / f"profile-{args.n}.prof"))
        (args.out / f"profile-{args.n}.txt").write_text(text)
    print(text)
    shutil.rmtree(archive_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
