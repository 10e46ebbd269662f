"""Per-core cost of the two steps a distributed job would run (docs/SCALING.md):
decoding one file into an envelope, and folding one chat's wires into its
state, each timed alone in CPU seconds of one process.

    .venv/bin/python benchmarks/bench_scaling.py --n 20000 [--seed 1] [--out bench-out]

* decode: ``ingest.decode.decode_any`` over every file of the generated
  Maildir (``benchmarks/gen_mailbox.py``, cached by ``run.py`` as
  ``bench-out/maildir-n<N>-s<SEED>``); the files are read into memory
  first, so only the decoder is timed.
* fold: the Maildir is ingested into a scratch archive (``coi-archive
  ingest``, not timed here), then for every chat its wires are loaded from
  the catalog (``state.load_chat_wires``: SQL + envelope JSON, timed
  apart as "load") and folded (``fold.fold_chat``, timed as "fold").

Prints one JSON object: files, messages, CPU seconds and rates per core.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402

from coi_archive.index.fold import fold_chat  # noqa: E402
from coi_archive.index.state import load_chat_wires  # noqa: E402
from coi_archive.ingest.decode import decode_any  # noqa: E402


def decode_rate(files: list[Path]) -> dict[str, float]:
    """CPU seconds of ``decode_any`` alone over ``files``."""
    raws = [p.read_bytes() for p in files]
    cpu = time.process_time()
    for raw in raws:
        decode_any(raw)
    spent = time.process_time() - cpu
    return {"files": len(raws), "cpu_s": round(spent, 2), "per_core": round(len(raws) / spent)}


def fold_rate(archive: Path) -> dict[str, float]:
    """CPU seconds of loading and of folding every chat of ``archive``."""
    conn = sqlite3.connect(f"file:{archive / 'catalog.sqlite'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    chats = [r[0] for r in conn.execute("SELECT chat_id FROM chats ORDER BY chat_id")]
    load = fold = 0.0
    wires = messages = biggest = 0
    for chat_id in chats:
        cpu = time.process_time()
        posts, controls = load_chat_wires(conn, chat_id)
        load += time.process_time() - cpu
        cpu = time.process_time()
        result = fold_chat(chat_id, posts, controls)
        fold += time.process_time() - cpu
        wires += len(posts) + len(controls)
        messages += len(result.messages)
        biggest = max(biggest, len(posts))
    conn.close()
    return {
        "chats": len(chats),
        "wires": wires,
        "messages": messages,
        "biggest_chat": biggest,
        "load_cpu_s": round(load, 2),
        "fold_cpu_s": round(fold, 2),
        "load_per_core": round(wires / load),
        "fold_per_core": round(wires / fold),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    box, _ = bench.ensure_maildir(args.out, args.n, args.seed, False)
    files = bench.maildir_files(box)
    result: dict[str, object] = {"n": len(files), "seed": args.seed, "decode": decode_rate(files)}
    archive = args.out / f"scaling-archive-{os.getpid()}"
    shutil.rmtree(archive, ignore_errors=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "coi_archive", "--archive", str(archive), "ingest", str(box)],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
        result["fold"] = fold_rate(archive)
    finally:
        shutil.rmtree(archive, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
