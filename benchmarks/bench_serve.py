"""Load on the real server: ``coi-archive serve``'s waitress on loopback,
``--clients`` concurrent clients (default 50) for ``--seconds`` (default
30), each on one keep-alive connection, requesting chat pages, a page deep
in a 10,000-message group, searches and the chat list in turn.

    .venv/bin/python benchmarks/bench_serve.py                 # 50 clients, 30 s
    .venv/bin/python benchmarks/bench_serve.py --seconds 5     # what tests/test_accounts.py runs

The archive (the dev corpus plus the synthetic 10,000-message group) is
built once into ``bench-out/serve-archive`` and reused. Prints requests,
requests per second, errors, p50 and p95 (seconds, client side: the
socket, waitress's queue and the application), as JSON with ``--json``.
The server runs in this process on its own threads (the GIL is shared
with the clients, so the figures are an upper bound of the latency a
separate server process shows).
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from coi_archive.webui import create_app  # noqa: E402
from coi_archive.webui.server import THREADS, make_server  # noqa: E402
from tests.webui_support import BIG_CHAT, CORPUS, CORPUS_GROUP, CORPUS_HIKE, build_archive, make_big_chat  # noqa: E402

OUT = REPO / "bench-out"

PATHS = [
    f"/chats/{CORPUS_GROUP}",
    "/search?q=Kochclub",
    "/api/search?q=Minuten",
    "/chats",
    f"/chats/{CORPUS_HIKE}",
    f"/chats/{BIG_CHAT}",
    f"/chats/{BIG_CHAT}/page?offset=5000",
    "/search?q=pizza+deploy",
]


def run_load(base: str, clients: int, seconds: float, paths: list[str]) -> dict[str, object]:
    """``clients`` threads, each requesting ``paths`` in turn on one
    keep-alive connection for ``seconds``: requests, errors (non-200 or a
    broken connection), p50 and p95 in seconds."""
    where = urlsplit(base)
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=60)

    def client(k: int) -> None:
        conn, i = connect(), k
        while time.monotonic() < stop:
            path = paths[i % len(paths)]
            i += 1
            t0 = time.monotonic()
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                problem = None if r.status == 200 else f"{path}: HTTP {r.status}"
            except (OSError, http.client.HTTPException) as exc:
                problem, conn = f"{path}: {exc!r}", connect()
            with lock:
                (errors.append(problem) if problem else times.append(time.monotonic() - t0))
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    times.sort()
    pick = (lambda q: round(times[min(int(len(times) * q), len(times) - 1)], 4)) if times else (lambda q: None)
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": len(times) + len(errors),
        "per_second": round((len(times) + len(errors)) / wall, 1),
        "errors": len(errors),
        "p50": pick(0.5),
        "p95": pick(0.95),
        "max": round(times[-1], 4) if times else None,
        "first_errors": errors[:5],
    }


def archive_dir() -> Path:
    path = OUT / "serve-archive"
    if not (path / "catalog.sqlite").exists():
        big = make_big_chat(OUT / "serve-bigchat")
        build_archive(path, CORPUS, big)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a queue is the point of the test
    app = create_app(archive_dir(), config={"WARM_ANALYTICS": False})
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.effective_port}"
        run_load(base, 4, 2, PATHS)  # warm: caches, search index, page cache
        result = run_load(base, args.clients, args.seconds, PATHS)
    finally:
        server.close()
        server.task_dispatcher.shutdown(timeout=10)
        app.extensions["coi"].pool.close()
    result["server_threads"] = THREADS
    result["load_average"] = round(os.getloadavg()[0], 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{result['clients']} clients, {result['seconds']} s, {THREADS} server threads: "
            f"{result['requests']} requests ({result['per_second']}/s), {result['errors']} errors, "
            f"p50 {result['p50']} s, p95 {result['p95']} s, max {result['max']} s"
            f" (load average {result['load_average']})"
        )
        for e in result["first_errors"]:  # type: ignore[attr-defined]
            print("  error:", e)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
