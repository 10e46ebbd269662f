"""Decryption throughput on the real Delta Chat corpus (tests/data/deltachat-dev).

    .venv/bin/python benchmarks/bench_decrypt.py [--rounds N]

Measures, over the encrypted messages of journal/ (RFC 9580: v6 PKESK +
SEIPDv2/OCB, as Delta Chat 2.65 writes them):

* ``keyring``: ``ingest.crypto.Keyring`` alone (decrypt, then the signature
  check pass) with all five account keys loaded, so most messages are tried
  against several keys first, as a user with many keys would see;
* ``one key``: the same with only the right key per message (the best case);
* ``ingest``: ``coi-archive ingest journal/ --key x5`` end to end (parse,
  decrypt, decode, catalog, fold, full-text), in messages per second.

Prints one line per measurement and a Markdown table row.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coi_archive.ingest.crypto import keyring_decryptor  # noqa: E402

DATA = ROOT / "tests" / "data" / "deltachat-dev"
USERS = ("frank", "grace", "heidi", "ivan", "judy")


def key_file(user: str) -> Path:
    return next((DATA / "keys" / user).glob("private-key-*.asc"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    index = json.loads((DATA / "journal-index.json").read_text("utf-8"))
    enc = [(DATA / m["file"]).read_bytes() for m in index["messages"] if m.get("decrypted_with_key_of") in USERS]
    who = [m["decrypted_with_key_of"] for m in index["messages"] if m.get("decrypted_with_key_of") in USERS]
    ring = keyring_decryptor([key_file(u) for u in USERS])
    single = {u: keyring_decryptor([key_file(u)]) for u in USERS}

    def run(fn) -> float:
        best = float("inf")
        for _ in range(args.rounds):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        return len(enc) / best

    all_keys = run(lambda: [ring(raw) for raw in enc])
    one_key = run(lambda: [single[u](raw) for u, raw in zip(who, enc)])
    print(f"keyring (5 keys): {all_keys:,.0f} msgs/s over {len(enc)} messages")
    print(f"one key:          {one_key:,.0f} msgs/s")

    from coi_archive.index.api import Archive

    def ingest(decryptor) -> tuple[float, int]:
        tmp = Path(tempfile.mkdtemp(prefix="coi-bench-decrypt-"))
        try:
            with Archive.open(tmp / "archive") as archive:
                t = time.perf_counter()
                report = archive.ingest([str(DATA / "journal")], decryptor=decryptor)
                dt = time.perf_counter() - t
                return report.copies_seen / dt, archive.stats()["decrypted"]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    plain, _ = max(ingest(None) for _ in range(3))
    e2e, opened = max(ingest(ring) for _ in range(3))
    print(
        f"ingest journal/ ({len(index['messages'])} messages) without keys: {plain:,.0f} msgs/s; "
        f"with 5 keys ({opened} decrypted): {e2e:,.0f} msgs/s end to end"
    )
    print()
    print(
        f"| decryption (pysequoia, RFC 9580 v6 PKESK + SEIPDv2/OCB, {len(enc)} real messages) "
        f"| {one_key:,.0f} msgs/s with the right key, {all_keys:,.0f} msgs/s trying 5 keys; "
        f"ingest of journal/ end to end {e2e:,.0f} msgs/s with keys, {plain:,.0f} without |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
