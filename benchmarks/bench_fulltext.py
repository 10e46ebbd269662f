"""Micro-benchmark of the full-text engines (tantivy and Whoosh, one after
the other in one run, or one with ``--engine``) on synthetic chat messages.

Indexes N short multilingual messages (one ``add`` call, as a full rebuild
does, or in batches, as incremental ingest does) and times typical queries.

    .venv/bin/python benchmarks/bench_fulltext.py --docs 100000
    .venv/bin/python benchmarks/bench_fulltext.py --docs 100000 --engine tantivy
    .venv/bin/python benchmarks/bench_fulltext.py --docs 100000 --batch 5000
    .venv/bin/python benchmarks/bench_fulltext.py --docs 100000 --limitmb 256
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coi_archive.index.engines import ENGINES, open_engine  # noqa: E402
from coi_archive.index.fulltext import SearchDoc, SearchEngine  # noqa: E402

WORDS = (
    "hello meeting tomorrow lunch project deadline coffee weekend photo call "
    "train station ticket birthday party dinner office code review release "
    "hallo morgen treffen mittagessen wochenende bahnhof geburtstag müller "
    "straße grüße schön danke bitte küche "
    "привет завтра встреча обед проект выходные спасибо пожалуйста "
    "東京 会議 明日 ありがとう 写真 "
    "👍 😂 ❤️ 🎉 ok yes no maybe later now soon thanks"
).split()
KINDS = ["text"] * 12 + ["image", "audio", "video", "file", "sticker", "mail"]
CHAT_KINDS = ["direct", "group", "group", "direct", "mailinglist", "mail", "self"]


def synthetic_docs(n: int, seed: int = 1) -> Iterator[SearchDoc]:
    """Deterministic messages: 5-25 words, 60 chats, 300 senders, 3 years.

    The vocabulary is deliberately tiny (about 80 words), so every query
    word occurs in 10-20% of all messages: a worst case for latency, since
    real chat vocabularies have a long tail of rare words."""
    rnd = random.Random(seed)
    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    span = 3 * 365 * 86400
    for i in range(n):
        chat = rnd.randrange(60)
        ckind = CHAT_KINDS[chat % len(CHAT_KINDS)]
        sender = rnd.randrange(300)
        kind = rnd.choice(KINDS)
        words = rnd.choices(WORDS, k=rnd.randint(5, 25))
        edited = rnd.random() < 0.05
        yield SearchDoc(
            message_id=f"msg{i}@example.org",
            chat_id=f"chat-{chat}",
            chat_name=f"Chat {chat} {WORDS[chat % len(WORDS)]}",
            chat_kind=ckind,
            group_id=f"grp{chat}" if ckind == "group" else "",
            sender=f"user{sender}@host{sender % 7}.example",
            sender_name=f"User {sender}",
            recipients=(f"user{(sender + 1) % 300}@host{(sender + 1) % 7}.example",),
            date=start + timedelta(seconds=rnd.randrange(span)),
            subject="Re: project" if kind == "mail" else "",
            text=" ".join(words),
            history=" ".join(rnd.choices(WORDS, k=6)) if edited else "",
            kind=kind,
            attachments=(f"IMG_{i}.jpg",) if kind == "image" else (),
            edited=edited,
            deleted=False,
            encrypted=rnd.random() < 0.7,
        )


QUERIES = {
    "term": ["meeting", "привет", "東京", "müller", "coffee", "👍"],
    "two words": ["meeting tomorrow", "hallo morgen", "project review"],
    "phrase": ['"code review"', '"hallo morgen"', '"明日 会議"'],
    "prefix": ["meet*", "gebu*"],
    "field": ["from:user7", "chat:chat-3 coffee", "kind:image", "is:edited hello"],
    "field+date": [
        "from:user7 date:2024",
        "coffee date:2024-03",
        "meeting after:2025-06-01",
        "kind:image date:2023-01..2023-06",
    ],
    "boolean": ["(coffee OR lunch) -meeting", "NOT hello date:2024-02-01"],
    "history": ["hello is:edited"],
}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def bench_index(engine: SearchEngine, n: int, batch: int) -> tuple[float, float]:
    """(wall, CPU) seconds to index n docs; generating them is not counted
    (they are materialised first)."""
    docs = list(synthetic_docs(n))
    wall, cpu = time.perf_counter(), time.process_time()
    if batch <= 0:
        engine.add(docs)
    else:
        for i in range(0, n, batch):
            engine.add(docs[i : i + batch])
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_queries(engine: SearchEngine, rounds: int, order: str) -> None:
    """Per query group: wall and CPU p50/p95 (CPU time is what the query
    costs on an idle machine; wall time includes other load)."""
    for group, queries in QUERIES.items():
        walls: list[float] = []
        cpus: list[float] = []
        hits = 0
        for _ in range(rounds):
            for query in queries:
                w0, c0 = time.perf_counter(), time.process_time()
                hits += len(engine.search(query, limit=50, history=group == "history", order=order))
                walls.append((time.perf_counter() - w0) * 1000)
                cpus.append((time.process_time() - c0) * 1000)
        print(
            f"  {group:11s} wall p50 {statistics.median(walls):6.1f} p95 "
            f"{percentile(walls, 95):6.1f} ms | cpu p50 {statistics.median(cpus):6.1f} "
            f"p95 {percentile(cpus, 95):6.1f} ms  (avg hits {hits / len(walls):.0f})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=0, help="add() batch size; 0 = one call")
    ap.add_argument(
        "--limitmb",
        type=int,
        default=None,
        help="writer memory in MB (Whoosh's pool, tantivy's heap; default: each engine's own)",
    )
    ap.add_argument(
        "--engine", choices=ENGINES, action="append", help="engine to measure (repeatable; default: every engine)"
    )
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--optimize", action="store_true", help="merge segments before querying")
    ap.add_argument("--keep", type=Path, help="index directory to keep (default: temp)")
    args = ap.parse_args()
    for name in args.engine or ENGINES:
        print(f"== {name}")
        bench_engine(name, args)


def bench_engine(name: str, args: argparse.Namespace) -> None:
    path = args.keep / name if args.keep else Path(tempfile.mkdtemp(prefix=f"bench-fulltext-{name}-"))
    try:
        engine = open_engine(name, path, memory_mb=args.limitmb)
        engine.clear()
        wall, cpu = bench_index(engine, args.docs, args.batch)
        print(
            f"indexed {args.docs} docs (batch={args.batch or 'all'}, "
            f"limitmb={args.limitmb}): wall {wall:.1f} s = {args.docs / wall:,.0f} docs/s, "
            f"cpu {cpu:.1f} s = {args.docs / cpu:,.0f} docs/s"
        )
        if args.optimize:
            t0 = time.perf_counter()
            engine.optimize()
            print(f"optimize: {time.perf_counter() - t0:.1f} s")
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
        print(f"index size {size:.1f} MB")
        again = list(synthetic_docs(2000, seed=2))
        w0, c0 = time.perf_counter(), time.process_time()
        engine.add(again)
        print(
            f"upsert 2000 existing ids into the full index: wall "
            f"{time.perf_counter() - w0:.2f} s, cpu {time.process_time() - c0:.2f} s"
        )
        for order in ("relevance", "newest"):
            print(f"queries (limit 50, order={order}, {args.rounds} rounds):")
            bench_queries(engine, args.rounds, order)
        engine.close()
    finally:
        if not args.keep:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
