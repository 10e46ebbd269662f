"""How each cost grows with the mailbox: one markdown table from the
``results-<N>.json`` files that ``run.py`` wrote for several N.

    .venv/bin/python benchmarks/growth.py bench-out/growth/results-100000.json \\
        bench-out/growth300/results-300000.json

One column per (N, engine) run and one per peer; CPU-seconds (user + sys of
the process tree, from ``wait4``) are the primary measure because the
machine is shared and wall time depends on everyone else's load.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def peak_mb(ingest: dict) -> float:
    """The verdict's memory: the main process's ``ru_maxrss`` or the tree's PSS."""
    return max(ingest["rss_mb"], ingest.get("tree_pss_mb") or 0.0)


def cpu(m: dict) -> float:
    return m["user_s"] + m["sys_s"]


def ours(n: int, mail_bytes: int, run: dict) -> dict[str, str]:
    ing, rescan = run["ingest"], run["rescan"]
    col = {
        "ingest msgs per CPU-second": f"{n / cpu(ing):,.0f} ({cpu(ing):,.0f} CPU-s)",
        "ingest wall (secondary)": f"{ing['seconds']:,.0f} s = {n / ing['seconds']:,.0f} msgs/s",
        "peak memory": f"{peak_mb(ing):,.0f} MB",
        "unchanged re-scan": f"{rescan['seconds']:.2f} s wall, {cpu(rescan):.2f} CPU-s",
        "on disk per message": f"{run['archive_bytes'] / n / 1024:.1f} kB "
        f"({run['archive_bytes'] / mail_bytes:.2f}x the mail)",
    }
    for cls, r in run["search"]["classes"].items():
        col[f"search p95: {cls}"] = f"{r['p95_ms']:.1f} ms (CPU {r['cpu_p95_ms']:.1f})"
    return col


def peer(n: int, mail_bytes: int, m: dict) -> dict[str, str]:
    return {
        "ingest msgs per CPU-second": f"{n / cpu(m):,.0f} ({cpu(m):,.0f} CPU-s)",
        "ingest wall (secondary)": f"{m['seconds']:,.0f} s = {n / m['seconds']:,.0f} msgs/s",
        "peak memory": f"{m['rss_mb']:,.0f} MB",
        "on disk per message": f"{m['index_bytes'] / n / 1024:.1f} kB index "
        f"({m['index_bytes'] / mail_bytes:.2f}x the mail, which it does not hold)",
    }


def table(paths: list[Path]) -> str:
    columns: list[tuple[str, dict[str, str]]] = []
    for path in paths:
        data = json.loads(path.read_text())
        n, mail_bytes = data["n"], data["mailbox"]["bytes"]
        for run in data["runs"]:
            columns.append((f"coi-archive {run['engine']}, N={n:,}", ours(n, mail_bytes, run)))
        for name, m in sorted(data["mailbox"].get("peers", {}).items()):
            columns.append((f"{name}, N={n:,}", peer(n, mail_bytes, m)))
    rows: list[str] = []
    for _, col in columns:
        rows += [r for r in col if r not in rows]
    lines = ["| what | " + " | ".join(name for name, _ in columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {r} | " + " | ".join(col.get(r, "–") for _, col in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table([Path(p) for p in sys.argv[1:]]), end="")
