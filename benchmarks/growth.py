"""How each cost grows with the mailbox: one markdown table from the
``results-<N>.json`` files that ``run.py`` wrote for several N.

    .venv/bin/python benchmarks/growth.py bench-out/growth/results-100000.json \\
        bench-out/growth300/results-300000.json \\
        bench-out/growth1m/results-1000000.json --webui 1000000=bench-out/growth1m/webui.json

One column per (N, engine) run and one per peer; CPU-seconds (user + sys of
the process tree, from ``wait4``) are the primary measure because the
machine is shared and wall time depends on everyone else's load.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def peak_mb(ingest: dict) -> float:
    """The verdict's memory: ``ru_maxrss`` from ``wait4`` (the tree's largest
    process) or the tree's PSS, whichever is larger."""
    return max(ingest["rss_mb"], ingest.get("tree_pss_mb") or 0.0)


def roles(ingest: dict) -> str:
    """Each role's largest sampled RSS (anonymous part), where the run kept them."""
    by_role = ingest.get("peak_by_role_mb") or {}
    return "".join(f"; {role} {r:,.0f} ({a:,.0f} anon.)" for role, (r, a) in sorted(by_role.items()))


def cpu(m: dict) -> float:
    return m["user_s"] + m["sys_s"]


def load(run: dict) -> str:
    """The 1-minute load average at the start and the end of the run."""
    start, end = run.get("loadavg_start"), run.get("loadavg_end")
    return f"{start[0]:.1f} → {end[0]:.1f}" if start and end else "–"


def ours(n: int, mail_bytes: int, run: dict) -> dict[str, str]:
    ing, rescan = run["ingest"], run["rescan"]
    col = {
        "measured (git, load average)": f"{run.get('when', '?')}, git {run.get('git', '?')}, load {load(run)}",
        "ingest msgs per CPU-second": f"{n / cpu(ing):,.0f} ({cpu(ing):,.0f} CPU-s)",
        "ingest wall (secondary)": f"{ing['seconds']:,.0f} s = {n / ing['seconds']:,.0f} msgs/s",
        "peak memory": f"{peak_mb(ing):,.0f} MB"
        f" (largest process {ing['rss_mb']:,.0f}, tree PSS {ing.get('tree_pss_mb') or 0:,.0f}{roles(ing)})",
        "unchanged re-scan": f"{rescan['seconds']:.2f} s wall, {cpu(rescan):.2f} CPU-s"
        f" = {cpu(rescan) / n * 100_000:.2f} CPU-s per 100k",
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


def chat_page(webui: dict) -> str:
    """The server time of the newest page of the biggest chat (warm p95, and the first request)."""
    page = webui["pages"][2]
    return f"{page['p95_ms']:.1f} ms p95 ({page['cold_ms']:.0f} ms cold), chat of {webui['big_count']:,}"


def table(paths: list[Path], webui: dict[int, dict] | None = None) -> str:
    columns: list[tuple[str, dict[str, str]]] = []
    for path in paths:
        data = json.loads(path.read_text())
        n, mail_bytes = data["n"], data["mailbox"]["bytes"]
        for run in data["runs"]:
            col = ours(n, mail_bytes, run)
            if webui and n in webui and run["engine"] == "tantivy":
                col["a page of the biggest chat, server time"] = chat_page(webui[n])
            columns.append((f"coi-archive {run['engine']}, N={n:,}", col))
        for name, m in sorted(data["mailbox"].get("peers", {}).items()):
            columns.append((f"{name}, N={n:,}", peer(n, mail_bytes, m)))
    rows: list[str] = []
    for _, col in columns:
        rows += [r for r in col if r not in rows]
    lines = ["| what | " + " | ".join(name for name, _ in columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {r} | " + " | ".join(col.get(r, "–") for _, col in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="+", type=Path, help="results-<N>.json files of run.py")
    ap.add_argument("--webui", action="append", default=[], metavar="N=PATH", help="bench_webui.py --json output")
    args = ap.parse_args(argv)
    webui = {int(n): json.loads(Path(p).read_text()) for n, _, p in (w.partition("=") for w in args.webui)}
    print(table(args.results, webui), end="")


if __name__ == "__main__":
    main()
