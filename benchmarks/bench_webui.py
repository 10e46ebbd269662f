"""Server time of the web UI's pages on a realistic archive.

    .venv/bin/python benchmarks/bench_webui.py --n 100000            # the reference (~2 min with ingest)
    .venv/bin/python benchmarks/bench_webui.py --n 20000 --reps 20   # quick check
    .venv/bin/python benchmarks/bench_webui.py --corpus-analytics    # analytics pages, dev corpus (~1 min)
    .venv/bin/python benchmarks/bench_webui.py --archive bench-out/growth1m/archive-n1000000-s1-tantivy \
        --biggest --pages-only --json bench-out/growth1m/webui.json   # an existing archive's biggest chat

The archive is built once from ``benchmarks/gen_mailbox.py``'s Maildir
(``bench-out/maildir-n<N>-s<SEED>``, generated if missing) into
``bench-out/webui-archive-n<N>-s<SEED>`` and reused on later runs.  At
N = 100,000 it holds about 2,000 chats and one group of 10,000 messages.

"Server time" is the time the Flask application needs for a request,
measured in-process with Flask's test client (routing, archive reads,
search, Jinja rendering, response headers; no network and no browser).
Each page is requested once cold (the first request after the app starts:
it fills the caches of chat list, names and owner ranking, and opens the
search index), then ``--reps`` times warm; p50 and p95 are reported.  The
same pages are also fetched over HTTP from the threaded server on
127.0.0.1 (``--http``) to show what the socket adds.

Targets (issue 4): the chat list and one page of a 10,000-message chat in
at most 100 ms each.  Issue 12: the first load of ``/analytics`` and of a
chat's ``/analytics/<chat>`` in at most 300 ms at the size of the Delta
Chat dev corpus (``--corpus-analytics``: its archive is built into
``bench-out/webui-archive-corpus``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from coi_archive.index.api import Archive, ArchiveError  # noqa: E402
from coi_archive.webui import create_app  # noqa: E402
from tests.webui_support import BIG_CHAT, CORPUS, build_archive, make_big_chat  # noqa: E402

OUT = REPO / "bench-out"
HOST = {"Host": "127.0.0.1"}


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def ensure_archive(n: int, seed: int, reingest: bool) -> Path:
    maildir = OUT / f"maildir-n{n}-s{seed}"
    archive = OUT / f"webui-archive-n{n}-s{seed}"
    if not maildir.exists():
        print(f"generating {maildir} ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                str(REPO / "benchmarks" / "gen_mailbox.py"),
                "--n",
                str(n),
                "--out",
                str(maildir),
                "--seed",
                str(seed),
            ],
            check=True,
        )
    if reingest and archive.exists():
        import shutil

        shutil.rmtree(archive)
    if not (archive / "catalog.sqlite").exists():
        print(f"ingesting into {archive} ...", flush=True)
        t = time.perf_counter()
        with Archive.open(archive) as a:
            a.ingest([str(maildir)])
        print(f"  {time.perf_counter() - t:.0f} s", flush=True)
    # plus one group of exactly 10,000 messages (the generator's biggest
    # group has fewer distinct chat messages once edits etc. are folded)
    with Archive.open(archive) as a:
        try:
            a.chat(BIG_CHAT)
        except ArchiveError:
            big = OUT / "webui-bigchat-10000"
            if not big.exists():
                make_big_chat(big)
            a.ingest([str(big)])
    return archive


def pick_targets(archive: Path, biggest: bool = False) -> dict:
    """The pages' targets: the 10,000-message chat :func:`ensure_archive`
    adds, or with ``biggest`` the archive's biggest chat (any archive, such
    as the one ``run.py --keep-archive`` leaves)."""
    with Archive.open(archive, readonly=True) as a:
        chats = a.chats()
        if biggest:
            top = max(chats, key=lambda c: (int(c.get("message_count") or 0), c["id"]))
            big = a.chat(top["id"])
        else:
            big = a.chat(BIG_CHAT)
        middle = a.show(big["id"], offset=big["message_count"] // 2, limit=1)["messages"][0]["message_id"]
        messages = a.stats()["unique_messages"]
    return {
        "chats": len(chats),
        "messages": messages,
        "big": big["id"],
        "big_count": big["message_count"],
        "middle": middle,
    }


def run(archive: Path, reps: int, http: bool, biggest: bool = False, pages_only: bool = False) -> dict:
    t = pick_targets(archive, biggest)
    big = t["big"]
    pages = [
        ("chat list (/chats)", "/chats"),
        ("chat list JSON (/api/chats)", "/api/chats"),
        (f"chat of {t['big_count']:,} messages, newest page of 100", f"/chats/{big}"),
        ("  the same, a page in the middle (?offset=)", f"/chats/{big}?offset={t['big_count'] // 2}"),
        ("  the same, opened at a message (?at=, from search)", f"/chats/{big}?at={t['middle']}"),
        ("  the same, next page as a fragment (endless scroll)", f"/chats/{big}/page?offset=100&limit=100"),
        ("  the same, JSON (/api/chats/ID)", f"/api/chats/{big}"),
        ("search page: one word (50 shown, facets over 200)", "/search?q=tomorrow"),
        ("search page: phrase", '/search?q="see you tomorrow"'),
        ("search page: field + date + word", "/search?q=from:alex date:2025-01..2025-06 project"),
        ("contacts", "/contacts"),
    ]
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app(archive)
    client = app.test_client()
    client.get("/chats", headers=HOST)  # start counting unread messages (a background job) ...
    for job in list(app.extensions["coi"]._jobs.values()):
        job.join()  # ... and wait for it: it runs once per archive version
    results = []
    for label, url in pages:
        t0 = time.perf_counter()
        r = client.get(url, headers=HOST)
        cold = time.perf_counter() - t0
        assert r.status_code == 200, (url, r.status_code)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            r = client.get(url, headers=HOST)
            times.append(time.perf_counter() - t0)
        results.append(
            {
                "page": label,
                "url": url,
                "bytes": len(r.data),
                "cold_ms": cold * 1000,
                "p50_ms": pct(times, 0.5) * 1000,
                "p95_ms": pct(times, 0.95) * 1000,
            }
        )
        print(
            f"{label:<56} p50 {results[-1]['p50_ms']:7.1f} ms  p95 {results[-1]['p95_ms']:7.1f} ms"
            f"  cold {cold * 1000:7.1f} ms  {len(r.data) / 1024:7.1f} KB",
            flush=True,
        )
    if pages_only:
        app.extensions["coi"].pool.close()
        return {"archive": str(archive), **t, "reps": reps, "pages": results}
    t0 = time.perf_counter()
    r = client.get(f"/export?chat={big}&format=html", headers=HOST)
    export_s = time.perf_counter() - t0
    print(f"HTML export of the {t['big_count']:,}-message chat: {export_s:.2f} s, {len(r.data) / 1e6:.1f} MB")
    out = {
        "archive": str(archive),
        **t,
        "reps": reps,
        "pages": results,
        "export_html_s": export_s,
        "export_html_bytes": len(r.data),
    }
    if http:
        out["http"] = run_http(app, pages, reps)
    app.extensions["coi"].pool.close()
    out["analytics"] = run_analytics(archive)
    out["chat_analytics"] = run_chat_analytics(archive, drawn=3)
    return out


def run_analytics(archive: Path) -> dict:
    """First load of ``/analytics`` three ways: drawn in the request (no
    cache, no warm-up), after the start-up warm-up, and on a restarted
    server that reads this archive version's page from disk."""
    import shutil

    shutil.rmtree(archive / "cache" / "analytics", ignore_errors=True)
    out = {}
    for label, config, wait in (
        ("drawn in the request", {"WARM_ANALYTICS": False}, False),
        ("after the start-up warm-up", None, True),
        ("restarted server, page on disk", {"WARM_ANALYTICS": False}, False),
    ):
        if label == "after the start-up warm-up":
            shutil.rmtree(archive / "cache" / "analytics", ignore_errors=True)
        t0 = time.perf_counter()
        app = create_app(archive, config=config)
        if wait:
            app.extensions["coi_warm"].join()
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = app.test_client().get("/analytics", headers=HOST)
        first = time.perf_counter() - t0
        assert r.status_code == 200
        app.extensions["coi"].pool.close()
        out[label] = {"first_ms": first * 1000, "warm_up_s": warm if wait else None}
        print(
            f"/analytics first load, {label:<34} {first * 1000:8.1f} ms"
            + (f"  (warm-up {warm:.1f} s)" if wait else ""),
            flush=True,
        )
    return out


def run_chat_analytics(archive: Path, drawn: int | None = None) -> dict:
    """First load of each chat's analytics page that ``/analytics`` links to
    (the busiest :data:`analytics.LISTED_CHATS`), three ways: drawn in the
    request (no cache, no warm-up; only the first ``drawn`` chats, when
    given: at 100,000 messages each takes seconds), after the start-up
    warm-up (which draws them), and on a restarted server that reads this
    archive version's pages from disk.  Each row: median and worst over the
    chats, one request per chat on a fresh server."""
    import shutil

    from coi_archive.webui import analytics

    with Archive.open(archive, readonly=True) as a:
        busiest = sorted(a.chats(), key=lambda c: (-int(c.get("message_count") or 0), c["id"]))
    chats = [c["id"] for c in busiest[: analytics.LISTED_CHATS]]
    out = {"chats": len(chats)}
    for label, config, wait in (
        ("drawn in the request", {"WARM_ANALYTICS": False}, False),
        ("after the start-up warm-up", {"WARM_CHAT_ANALYTICS": True}, True),  # as serve does
        ("restarted server, pages on disk", {"WARM_ANALYTICS": False}, False),
    ):
        if label != "restarted server, pages on disk":
            shutil.rmtree(archive / "cache" / "analytics", ignore_errors=True)
        t0 = time.perf_counter()
        app = create_app(archive, config=config)
        if wait:
            app.extensions["coi_warm"].join()
        warm = time.perf_counter() - t0
        client = app.test_client()
        times = []
        for chat_id in chats[:drawn] if label == "drawn in the request" and drawn else chats:
            t0 = time.perf_counter()
            r = client.get(f"/analytics/{chat_id}", headers=HOST)
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200 and b"<svg" in r.data, (chat_id, r.status_code)
        app.extensions["coi"].pool.close()
        out[label] = {
            "chats": len(times),
            "p50_ms": pct(times, 0.5) * 1000,
            "max_ms": max(times) * 1000,
            "warm_up_s": warm if wait else None,
        }
        print(
            f"/analytics/<chat> first load, {label:<31} p50 {out[label]['p50_ms']:7.1f} ms"
            f"  max {out[label]['max_ms']:7.1f} ms  ({len(times)} chats)"
            + (f"  (warm-up {warm:.1f} s)" if wait else ""),
            flush=True,
        )
    return out


def run_corpus_analytics(reingest: bool) -> dict:
    """The analytics first loads on the archive of the Delta Chat dev corpus."""
    import shutil

    archive = OUT / "webui-archive-corpus"
    if reingest or not (archive / "catalog.sqlite").exists():
        shutil.rmtree(archive, ignore_errors=True)
        build_archive(archive, CORPUS)
    with Archive.open(archive, readonly=True) as a:
        print(f"{archive}: {a.stats()['unique_messages']:,} messages, {len(a.chats())} chats", flush=True)
    out = {"archive": str(archive), "analytics": run_analytics(archive), "chat_analytics": run_chat_analytics(archive)}
    worst = max(
        out["analytics"]["after the start-up warm-up"]["first_ms"],
        out["chat_analytics"]["after the start-up warm-up"]["max_ms"],
    )
    print(f"analytics first load after the warm-up, worst: {worst:.1f} ms (target ≤ 300 ms)")
    return out


def run_http(app, pages, reps) -> list[dict]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.port}"
    out = []
    try:
        for label, url in pages:
            full = base + url.replace(" ", "%20").replace('"', "%22")
            urllib.request.urlopen(full).read()
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                urllib.request.urlopen(full).read()
                times.append(time.perf_counter() - t0)
            out.append({"page": label, "p50_ms": pct(times, 0.5) * 1000, "p95_ms": pct(times, 0.95) * 1000})
            print(f"HTTP {label:<51} p50 {out[-1]['p50_ms']:7.1f} ms  p95 {out[-1]['p95_ms']:7.1f} ms", flush=True)
    finally:
        server.shutdown()
        server.server_close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--archive", type=Path, help="use this existing archive (read-only) instead")
    ap.add_argument("--reingest", action="store_true")
    ap.add_argument("--http", action="store_true", help="also time the pages over HTTP")
    ap.add_argument(
        "--corpus-analytics", action="store_true", help="only the analytics first loads, on the dev corpus's archive"
    )
    ap.add_argument("--biggest", action="store_true", help="time the archive's biggest chat (with --archive)")
    ap.add_argument("--pages-only", action="store_true", help="only the pages: no HTML export, no analytics")
    ap.add_argument("--json", type=Path, help="write the results here (default bench-out/webui-results-<N>.json)")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    if args.corpus_analytics:
        result = run_corpus_analytics(args.reingest)
        (OUT / "webui-analytics-corpus.json").write_text(json.dumps(result, indent=2))
        return
    archive = args.archive or ensure_archive(args.n, args.seed, args.reingest)
    result = run(archive, args.reps, args.http, args.biggest, args.pages_only)
    (args.json or OUT / f"webui-results-{args.n}.json").write_text(json.dumps(result, indent=2))
    worst = max(result["pages"][0]["p95_ms"], result["pages"][2]["p95_ms"])
    print(f"chat list and {result['big_count']:,}-message chat page p95 worst: {worst:.1f} ms (target ≤ 100 ms)")


if __name__ == "__main__":
    main()
