"""Benchmark of the analytics layer: ``Archive.frames.messages()`` load time
and memory, and the ``stats`` report, on a synthetic catalog.

    .venv/bin/python benchmarks/bench_analytics.py --n 1000000     # reference run
    .venv/bin/python benchmarks/bench_analytics.py --n 100000      # quick check

Why a synthetic *catalog*: ingesting 1,000,000 real messages takes about ten
minutes (see the ingest rows of BENCHMARKS.md) and measures the ingest, not
the frames.  The frames read only the catalog, so this script writes the
catalog tables directly with SQL inserts, shaped like the fold writes them
(``coi_archive/index/state.py``): 4,000 chats (1:1, groups, mail threads, lists), 600
people over three years, a realistic mix of kinds, attachments (5 %), edits
(3 %, an extra revision each), deletes (1 %), reactions (6 %), read receipts
(10 %), memberships with removals and re-adds, the per-message JSON ``data``
column (~700 bytes, the same keys as the real one) and the full-text hash.
There is no full-text index and no originals: nothing here reads them.  The
catalog is cached in ``bench-out/analytics-n<N>-s<SEED>/``.

Measured, each in a fresh child process (so peak RSS is the frame's and not
left over from the generator), after one untimed warm-up of the page cache:

1. ``Archive.open(path, readonly=True).frames.messages()``: wall time; peak
   RSS of the process minus its RSS right before the call (imports done);
   ``DataFrame.memory_usage(deep=True)`` of the result.  Best of ``--runs``.
2. The same with ``text=False``.
3. ``coi-archive stats`` (completeness + the human report) as a subprocess:
   wall time and peak RSS.  Also ``Archive.report()`` in-process.

Results: a markdown table on stdout and ``bench-out/analytics-<N>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench-out"

KIND_MIX = [
    ("text", 880),
    ("image", 40),
    ("audio", 15),
    ("video", 5),
    ("file", 15),
    ("sticker", 10),
    ("location", 5),
    ("contact", 3),
    ("poll", 2),
]
MIME = {
    "image": ("image/jpeg", 180_000),
    "audio": ("audio/ogg", 60_000),
    "video": ("video/mp4", 2_000_000),
    "file": ("application/pdf", 400_000),
    "sticker": ("image/webp", 20_000),
    "contact": ("text/vcard", 300),
    "location": ("application/vnd.google-earth.kml+xml", 700),
}
WORDS = (
    "the a to and of in we you it is on for at this that with be are have see tomorrow "
    "train hike photo dinner meeting garden code review ok thanks great later sure maybe "
    "weekend plan coffee late sorry yes no tonight lunch ticket music picture"
).split()
EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "🔥"]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), timezone.utc).isoformat()


def synthesize(root: Path, n: int, seed: int = 1) -> Path:
    """Write a catalog with ``n`` listed messages under ``root``."""
    from coi_archive.index.catalog import connect

    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    db = root / "catalog.sqlite"
    if db.exists():
        db.unlink()
    conn = connect(db)
    conn.execute("PRAGMA synchronous=OFF")
    people = [f"person{i:03d}@example.org" for i in range(600)]
    names = {p: f"Person {i}" for i, p in enumerate(people)}
    start = datetime(2023, 1, 1, tzinfo=timezone.utc).timestamp()
    span = 3 * 365 * 86400

    # chats and their members
    chats = []
    for i in range(4000):
        if i < 1500:
            kind, members = "direct", rng.sample(people, 2)
        elif i < 2000:
            kind, members = "group", rng.sample(people, rng.randint(3, 25))
        elif i < 2100:
            kind, members = "mailinglist", rng.sample(people, 1)
        else:
            kind, members = "mail", rng.sample(people, rng.randint(2, 4))
        prefix = {"direct": "dm", "group": "grp", "mailinglist": "list", "mail": "mail"}[kind]
        chats.append(
            {
                "id": f"{prefix}-{i:016x}",
                "kind": kind,
                "members": members,
                "name": f"Group {i}" if kind == "group" else f"Chat {i}",
            }
        )
    weights = [1.0 / (r + 10) for r in range(len(chats))]
    rng.shuffle(weights)
    total = sum(weights)
    counts = [max(1, int(n * w / total)) for w in weights]
    counts[0] += n - sum(counts)
    while counts[0] < 1:  # tiny n: take from the biggest
        j = max(range(len(counts)), key=counts.__getitem__)
        counts[j] -= 1
        counts[0] += 1

    kinds = [k for k, w in KIND_MIX for _ in range(w)]
    msg_rows, react_rows, rcpt_rows, member_rows, name_rows = [], [], [], [], []
    seen_chats = []
    mid_n = 0

    def flush() -> None:
        conn.executemany("INSERT INTO messages VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", msg_rows)
        conn.executemany("INSERT INTO reactions VALUES(?,?,?,?,?,?)", react_rows)
        conn.executemany("INSERT INTO receipts VALUES(?,?,?,?,?)", rcpt_rows)
        for rows in (msg_rows, react_rows, rcpt_rows):
            rows.clear()

    for chat, count in zip(chats, counts):
        if count <= 0:
            continue
        cid, kind, members = chat["id"], chat["kind"], chat["members"]
        t0 = start + rng.random() * span * 0.9
        dates = sorted(t0 + rng.random() * (start + span - t0) for _ in range(count))
        first, last = _iso(dates[0]), _iso(dates[-1])
        # memberships: groups get some removals / re-adds
        current = list(members)
        for m in members:
            if kind == "group" and rng.random() < 0.15:
                cut = _iso(dates[0] + (dates[-1] - dates[0]) * rng.random())
                member_rows.append((cid, m, first, cut, members[0], m if rng.random() < 0.5 else members[0]))
                if rng.random() < 0.4:
                    member_rows.append((cid, m, cut, None, members[0], None))
                else:
                    current.remove(m)
            else:
                member_rows.append((cid, m, first, None, members[0], None))
        if kind == "group":
            name_rows.append((cid, first, chat["name"], f"name-{cid}@example.org"))
        prev_mid = None
        for seq, ts in enumerate(dates):
            mid_n += 1
            mid = f"{mid_n:08x}.{seed}@bench.example.org"
            sender = rng.choice(members)
            date = _iso(ts)
            mkind = "mail" if kind in ("mail", "mailinglist") else rng.choice(kinds)
            system = None
            if kind == "group" and rng.random() < 0.01:
                mkind = "system"
                system = {
                    "action": "member-added",
                    "member": rng.choice(members),
                    "old_name": None,
                    "new_name": None,
                    "value": None,
                }
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 18)))
            attachments = []
            if mkind in MIME:
                mime, size = MIME[mkind]
                attachments.append(
                    {
                        "filename": f"file{mid_n}.{mime.split('/')[1][:4]}",
                        "mime": mime,
                        "size": int(size * (0.2 + rng.random())),
                        "sha256": f"{mid_n:064x}",
                        "part": "2",
                    }
                )
            edited = mkind != "system" and rng.random() < 0.03
            deleted = mkind != "system" and rng.random() < 0.01
            revisions = [] if mkind == "system" else [{"text": text, "date": date, "message_id": mid}]
            if edited:
                revisions.append(
                    {"text": text + " (fixed)", "date": _iso(ts + 60), "message_id": f"e{mid_n:08x}@bench.example.org"}
                )
            current_text = "" if deleted else revisions[-1]["text"] if revisions else "added someone"
            reactions = {}
            read_by = []
            if kind in ("direct", "group") and mkind != "system":
                if rng.random() < 0.06:
                    who = rng.choice(members)
                    reactions[who] = rng.choice(EMOJI)
                if rng.random() < 0.10:
                    read_by = sorted({rng.choice(members) for _ in range(2)} - {sender})
            reply_to = prev_mid if rng.random() < 0.1 else None
            data = {
                "message_id": mid,
                "sender": sender,
                "sender_name": names[sender],
                "date": date,
                "subject": f"Message from {names[sender]}",
                "recipients": [m for m in members if m != sender],
                "text": current_text,
                "kind": mkind,
                "system": system,
                "reply_to": reply_to,
                "forwarded": rng.random() < 0.01,
                "edited": edited,
                "deleted": deleted,
                "revisions": revisions,
                "reactions": reactions,
                "read_by": read_by,
                "attachments": attachments,
                "location": None,
                "encrypted": kind != "mail",
                "dialect": "deltachat" if kind in ("direct", "group") else "mail",
                "quote": None,
                "seq": seq,
            }
            if deleted:
                data["deleted_date"] = _iso(ts + 120)
            msg_rows.append(
                (
                    mid,
                    cid,
                    seq,
                    date,
                    sender,
                    names[sender],
                    mkind,
                    current_text,
                    int(edited),
                    int(deleted),
                    int(kind != "mail"),
                    int(bool(attachments)),
                    reply_to,
                    json.dumps(data, ensure_ascii=False),
                    f"{mid_n:024x}",
                )
            )
            for who, emoji in reactions.items():
                react_rows.append((mid, cid, who, emoji, _iso(ts + 300), f"r{mid_n:08x}@bench.example.org"))
            for who in read_by:
                rcpt_rows.append((mid, cid, who, _iso(ts + 30), f"m{mid_n:08x}.{who}"))
            prev_mid = mid
        chat_rec = {
            "id": cid,
            "kind": kind,
            "name": chat["name"],
            "group_id": cid[4:] if kind == "group" else None,
            "members": sorted(current),
            "past_members": sorted(set(members) - set(current)),
            "message_count": count,
            "first_date": first,
            "last_date": last,
            "encrypted": kind != "mail",
            "description": None,
            "avatar": None,
            "ephemeral_timer": None,
            "last_preview": "",
        }
        seen_chats.append(
            (
                cid,
                kind,
                chat["name"],
                chat_rec["group_id"],
                json.dumps(chat_rec["members"]),
                json.dumps(chat_rec["past_members"]),
                count,
                first,
                last,
                int(kind != "mail"),
                None,
                None,
                "",
                json.dumps(chat_rec, ensure_ascii=False),
            )
        )
        if len(msg_rows) >= 50_000:
            flush()
    flush()
    conn.executemany("INSERT INTO chats VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)", seen_chats)
    conn.executemany("INSERT INTO memberships VALUES(?,?,?,?,?,?)", member_rows)
    conn.executemany("INSERT INTO name_history VALUES(?,?,?,?)", name_rows)
    groups: dict[str, list[str]] = {}
    for cid, m, _s, until, _a, _r in member_rows:
        if until is None and cid.startswith("grp-"):
            groups.setdefault(m, []).append(cid)
    conn.executemany(
        "INSERT INTO contacts VALUES(?,?,?,?,?,?)",
        [
            (
                p,
                names[p],
                None,
                0,
                json.dumps(sorted(groups.get(p, []))),
                json.dumps(
                    {
                        "address": p,
                        "name": names[p],
                        "status": None,
                        "blocked": False,
                        "groups": sorted(groups.get(p, [])),
                        "history": [],
                    }
                ),
            )
            for p in people
        ],
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return db


# ---------------------------------------------------------------- measuring

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from coi_archive.index.api import Archive
import coi_archive.index.frames  # imports pandas, numpy, pyarrow before the baseline
def rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
archive = Archive.open({path!r}, readonly=True)
base = rss_mb()
t = time.perf_counter()
c = time.process_time()
df = {call}
seconds = time.perf_counter() - t
cpu = time.process_time() - c
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "cpu_seconds": cpu, "rows": len(df) if hasattr(df, "__len__") else None,
                  "frame_mb": float(df.memory_usage(deep=True).sum()) / 2**20 if hasattr(df, "memory_usage") else None,
                  "rss_before_mb": base, "peak_rss_mb": peak, "rss_after_mb": rss_mb()}}))
"""


def _child(path: Path, call: str) -> dict:
    code = _CHILD.format(root=str(ROOT), path=str(path), call=call)
    out = subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.PIPE, cwd=ROOT).stdout
    return json.loads(out.decode().strip().splitlines()[-1])


def _best(path: Path, call: str, runs: int) -> dict:
    results = [_child(path, call) for _ in range(runs)]
    best = min(results, key=lambda r: r["seconds"])
    best["all_seconds"] = [round(r["seconds"], 3) for r in results]
    best["all_cpu_seconds"] = [round(r["cpu_seconds"], 3) for r in results]
    return best


def _cli_stats(path: Path) -> dict:
    """``coi-archive stats`` as a child: wall time and its own peak RSS."""
    import tempfile

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "coi_archive", "--archive", str(path), "stats"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"stats failed: {err.read().decode()[-2000:]}")
        out.seek(0)
        lines = out.read().decode().count("\n")
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "lines": lines}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--regen", action="store_true", help="rebuild the cached synthetic catalog")
    args = ap.parse_args(argv)

    path = OUT / f"analytics-n{args.n}-s{args.seed}"
    marker = path / "complete.json"
    if args.regen or not marker.exists():
        t = time.perf_counter()
        synthesize(path, args.n, args.seed)
        gen_s = time.perf_counter() - t
        marker.write_text(json.dumps({"n": args.n, "seed": args.seed, "seconds": gen_s}))
        print(f"synthesized {args.n} messages in {gen_s:.1f}s -> {path}", file=sys.stderr)
    size_mb = (path / "catalog.sqlite").stat().st_size / 2**20
    with open(path / "catalog.sqlite", "rb") as fh:  # warm the page cache
        while fh.read(1 << 24):
            pass

    results = {
        "n": args.n,
        "catalog_mb": size_mb,
        "machine": f"{os.cpu_count()} cores",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "messages": _best(path, "archive.frames.messages()", args.runs),
        "messages_no_text": _best(path, "archive.frames.messages(text=False)", args.runs),
        "one_chat": _best(
            path,
            "archive.frames.messages(chat=archive.frames.chats().sort_values('message_count')['chat_id'].iloc[-1])",
            args.runs,
        ),
        "report": _best(path, "archive.report()", args.runs),
        "cli_stats": min((_cli_stats(path) for _ in range(args.runs)), key=lambda r: r["seconds"]),
    }
    m, t, r, one = results["messages"], results["messages_no_text"], results["report"], results["one_chat"]

    def timing(x: dict) -> str:
        return f"{x['seconds']:.2f} s ({x['cpu_seconds']:.2f} s CPU)"

    rows = [
        (
            "`frames.messages()`",
            timing(m),
            f"frame {m['frame_mb']:.0f} MB; peak RSS +{m['peak_rss_mb'] - m['rss_before_mb']:.0f} MB over the"
            f" {m['rss_before_mb']:.0f} MB of the process before the call",
        ),
        (
            "`frames.messages(text=False)`",
            timing(t),
            f"frame {t['frame_mb']:.0f} MB; peak RSS +{t['peak_rss_mb'] - t['rss_before_mb']:.0f} MB",
        ),
        ("`frames.messages(chat=…)`, the biggest chat", timing(one), f"{one['rows']:,} rows"),
        (
            "`Archive.report()` (the stats report)",
            timing(r),
            f"peak RSS +{r['peak_rss_mb'] - r['rss_before_mb']:.0f} MB",
        ),
        (
            "`coi-archive stats` (completeness + report, CLI)",
            f"{results['cli_stats']['seconds']:.2f} s",
            f"peak RSS {results['cli_stats']['peak_rss_mb']:.0f} MB",
        ),
    ]
    load = os.getloadavg()[0]
    print(
        f"\nAnalytics at N={args.n:,} synthetic messages (catalog {size_mb:.0f} MB, best of {args.runs},"
        f" load average {load:.1f})\n"
    )
    print("| what | time (wall, CPU) | memory |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    results["load_average"] = load
    OUT.mkdir(exist_ok=True)
    (OUT / f"analytics-{args.n}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
