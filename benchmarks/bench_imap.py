"""IMAP ingest from a local Dovecot: messages/s, and an incremental run.

    .venv/bin/python benchmarks/bench_imap.py            # 10,000 messages
    .venv/bin/python benchmarks/bench_imap.py --n 2000   # quick check

Steps:

1. The synthetic Maildir of ``benchmarks/gen_mailbox.py`` (``--n`` files,
   cached in ``bench-out/maildir-n<N>-s<SEED>/``).
2. A throw-away Dovecot on 127.0.0.1 (``tests/imapserver.py``; needs
   ``dovecot-imapd``); its top-level messages are APPENDed (MULTIAPPEND,
   200 per command) to INBOX and ``.Sent`` to Sent, with their flags.
3. ``coi-archive --archive A ingest imap://... --all-folders --insecure``
   into an empty archive, as a subprocess: wall time from spawn to exit
   (login, SEARCH, batched FETCH, parse, store, fold, Whoosh: everything),
   peak RSS of that child (``ru_maxrss`` from ``os.wait4``).  Dovecot's own
   per-session counter ``fetch_body_count`` says how many bodies it sent.
4. The same command again with nothing new (SEARCH + CONDSTORE flag check).
5. After changing the flags of 100 messages on the server: again (only the
   changed flags are fetched, no bodies).
6. For comparison, ``ingest`` of the same Maildir into another empty archive.

Results: a markdown table on stdout and ``bench-out/imap-results-<N>.json``.
Every process started here (Dovecot, the CLI runs) is stopped before exit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.imapserver import Dovecot, maildir_messages  # noqa: E402


def maildir(n: int, seed: int, out: Path) -> Path:
    box = out / f"maildir-n{n}-s{seed}"
    manifest = out / f"maildir-n{n}-s{seed}.json"
    if box.is_dir() and manifest.exists():
        return box
    if box.exists():
        shutil.rmtree(box)
    out.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        [sys.executable, str(HERE / "gen_mailbox.py"), "--n", str(n), "--out", str(box), "--seed", str(seed)],
        check=True,
        capture_output=True,
        text=True,
    )
    manifest.write_text(res.stdout)
    return box


def seed_server(server: Dovecot, user: str, box: Path) -> tuple[int, float]:
    started = time.perf_counter()
    c = server.client(user)
    total = 0
    for folder, path in (("INBOX", box), ("Sent", box / ".Sent")):
        if not path.is_dir():
            continue
        if not c.folder_exists(folder):
            c.create_folder(folder)
        msgs = [{"msg": data, "flags": flags} for _name, data, flags in maildir_messages(path)]
        for i in range(0, len(msgs), 200):
            c.multiappend(folder, msgs[i : i + 200])
        total += len(msgs)
    c.logout()
    return total, time.perf_counter() - started


def timed_cli(*args: str) -> dict:
    """Run the CLI as a child, reaped with wait4 for its own rusage."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out_path = Path(tempfile.mkstemp(prefix="bench-imap-")[1])
    started = time.perf_counter()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "coi_archive", *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    text = out_path.read_text(errors="replace").strip()
    out_path.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise SystemExit(f"coi-archive {' '.join(args)} failed ({proc.returncode}):\n{text[-2000:]}")
    return {"seconds": wall, "rss_mb": usage.ru_maxrss / 1024, "cpu": usage.ru_utime + usage.ru_stime, "summary": text}


def logout_counter(server: Dovecot, user: str, before: int) -> list[dict]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = server.logout_counters(user)
        if len(got) > before:
            return got[before:]
        time.sleep(0.05)
    return []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out")
    args = ap.parse_args(argv)

    box = maildir(args.n, args.seed, args.out)
    work = args.out / f"imap-n{args.n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    user = "bench@example.org"
    server = Dovecot({user: "bench-pass"}).start()
    results: dict = {"n": args.n}
    try:
        results["appended"], results["seed_seconds"] = seed_server(server, user, box)
        pw = server.password_file(user)
        url = server.url(user)
        common = ["ingest", url, "--all-folders", "--insecure", "--password-file", str(pw)]
        # 1. full ingest over IMAP
        before = len(server.logout_counters(user))
        full = timed_cli("--archive", str(work / "archive-imap"), *common)
        full["fetch_body_count"] = sum(c["fetch_body_count"] for c in logout_counter(server, user, before))
        results["full"] = full
        # 2. nothing new
        before = len(server.logout_counters(user))
        again = timed_cli("--archive", str(work / "archive-imap"), *common)
        again["fetch_body_count"] = sum(c["fetch_body_count"] for c in logout_counter(server, user, before))
        results["unchanged"] = again
        # 3. flags of 100 messages changed on the server
        c = server.client(user)
        c.select_folder("INBOX")
        everything = sorted(c.search("ALL"))
        uids = everything[:: max(1, len(everything) // 100)][:100]
        c.add_flags(uids, [b"\\Flagged", b"$bench"])
        c.logout()
        before = len(server.logout_counters(user))
        flags = timed_cli("--archive", str(work / "archive-imap"), *common)
        flags["fetch_body_count"] = sum(c["fetch_body_count"] for c in logout_counter(server, user, before))
        flags["changed"] = len(uids)
        results["flags_changed"] = flags
        # 4. the same messages as a Maildir, for comparison
        results["maildir"] = timed_cli("--archive", str(work / "archive-maildir"), "ingest", str(box))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    n = results["appended"]
    f, u, fl, md = results["full"], results["unchanged"], results["flags_changed"], results["maildir"]
    rows = [
        (
            "IMAP ingest, end to end, empty archive",
            f"{n / f['seconds']:,.0f} msgs/s ({f['seconds']:.1f} s; "
            f"{n / f['cpu']:,.0f} per CPU-s; peak RSS {f['rss_mb']:.0f} MB; {f['fetch_body_count']} bodies sent)",
        ),
        ("IMAP incremental run, nothing new", f"{u['seconds']:.2f} s ({u['fetch_body_count']} bodies sent)"),
        (
            f"IMAP run after {fl['changed']} flag changes",
            f"{fl['seconds']:.2f} s ({fl['fetch_body_count']} bodies sent)",
        ),
        (
            "same messages as a Maildir (comparison)",
            f"{n / md['seconds']:,.0f} msgs/s ({md['seconds']:.1f} s; "
            f"{n / md['cpu']:,.0f} per CPU-s; peak RSS {md['rss_mb']:.0f} MB)",
        ),
    ]
    print(f"IMAP benchmark, {n:,} messages from Dovecot on 127.0.0.1 (seeded in {results['seed_seconds']:.1f} s)\n")
    print("| what | result |\n|---|---|")
    for what, value in rows:
        print(f"| {what} | {value} |")
    (args.out / f"imap-results-{args.n}.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
