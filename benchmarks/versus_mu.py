"""coi-archive against mu, alternating on the same Maildir: the ratio that
"faster than mu" asks for, robust to a machine whose speed drifts.

    .venv/bin/python benchmarks/versus_mu.py --n 100000 --rounds 3 --out bench-out/versus-mu

Why: on this shared VM the speed of a core changed by half within minutes
(BENCHMARKS.md, session 7), so one mu run followed by one of ours compares
two machines.  Each round runs ``mu init`` + ``mu index`` into a fresh store,
then ``coi-archive ingest`` into a fresh archive (default engine), both
through ``run.py``'s launcher (``wait4`` CPU, the same Maildir, warm page
cache), then the next round in the other order; the report gives every
round's pair and the ratio of the best (minimum) wall and CPU times of each.
Writes ``versus-mu-<N>.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402


def run_mu(box: Path, out: Path, k: int) -> dict:
    home = out / "mu-store"
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run(["mu", "init", f"--maildir={box}", f"--muhome={home}"], check=True, capture_output=True)
    return bench.run_measured(["mu", "index", f"--muhome={home}"], out / f"mu-{k}.log")


def run_ours(box: Path, out: Path, k: int) -> dict:
    archive = out / "archive"
    shutil.rmtree(archive, ignore_errors=True)
    res = bench.run_measured(
        bench.coi_archive_cmd() + ["--archive", str(archive), "ingest", str(box)], out / f"ours-{k}.log"
    )
    if res["exit"] != 0:
        raise SystemExit(f"ingest failed (exit {res['exit']}):\n{res['output']}")
    return res


def summary(rounds: list[dict], n: int) -> dict:
    def best(tool: str, what) -> float:
        return min(what(r[tool]) for r in rounds)

    def cpu(m: dict) -> float:
        return m["user_s"] + m["sys_s"]

    out = {}
    for tool in ("mu", "ours"):
        out[tool] = {"wall_s": best(tool, lambda m: m["seconds"]), "cpu_s": best(tool, cpu)}
        out[tool]["rate"] = n / out[tool]["wall_s"]
        out[tool]["cpu_rate"] = n / out[tool]["cpu_s"]
    out["ratio_wall"] = out["ours"]["rate"] / out["mu"]["rate"]
    out["ratio_cpu"] = out["ours"]["cpu_rate"] / out["mu"]["cpu_rate"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench-out/versus-mu"))
    args = ap.parse_args()
    if not shutil.which("mu"):
        raise SystemExit("mu is not installed (Debian package maildir-utils)")
    args.out.mkdir(parents=True, exist_ok=True)
    box = bench.ROOT / "bench-out" / f"maildir-n{args.n}-s{args.seed}"
    if not box.is_dir():
        raise SystemExit(f"no cached Maildir at {box}: run run.py --n {args.n} once")
    bench.maildir_files(box)  # reads every file once: both tools start with a warm page cache
    rounds = []
    for k in range(args.rounds):
        order = ("mu", "ours") if k % 2 == 0 else ("ours", "mu")
        pair = {tool: (run_mu if tool == "mu" else run_ours)(box, args.out, k) for tool in order}
        rounds.append(pair)
        print(
            f"round {k}: mu {pair['mu']['seconds']:.1f} s / {pair['mu']['user_s'] + pair['mu']['sys_s']:.1f} CPU-s,"
            f" ours {pair['ours']['seconds']:.1f} s / {pair['ours']['user_s'] + pair['ours']['sys_s']:.1f} CPU-s",
            flush=True,
        )
    result = {"n": args.n, "rounds": rounds, "best": summary(rounds, args.n)}
    (args.out / f"versus-mu-{args.n}.json").write_text(json.dumps(result, indent=1))
    best = result["best"]
    print(
        f"best of {args.rounds}: ours {best['ours']['rate']:,.0f} msgs/s ({best['ours']['cpu_rate']:,.0f} per CPU-s),"
        f" mu {best['mu']['rate']:,.0f} ({best['mu']['cpu_rate']:,.0f}): {best['ratio_wall']:.2f}x wall,"
        f" {best['ratio_cpu']:.2f}x per CPU-s"
    )


if __name__ == "__main__":
    main()
