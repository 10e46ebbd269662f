"""Snapshots of every JSON output of the sample, corpus and backup archives.

A refactoring must not change what a user sees. This module builds three
archives (``samples/``; the deltachat-dev corpus with its secret keys; the
corpus's Delta Chat backups), asks each for every JSON output the CLI has
(``chats``, ``show`` of every chat, ``contacts``, ``stats``, ``search`` with
and without ``--history``) and compares them with the snapshots in
``tests/data/golden/``. The snapshots were written by the release before the
package move (issue 13) and checked against the corpus ground truth by the
corpus tests; they are only rewritten on purpose::

    python -m tests.golden            # rewrite tests/data/golden/*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.cli_helpers import DATA_DIR, DC_DEV, DC_DEV_ACCOUNTS, REPO_ROOT, cli

GOLDEN_DIR = DATA_DIR / "golden"

#: Words and queries a user types; each is run plain and with --history.
QUERIES = (
    "train",
    "picnic",
    "from:frank",
    "has:attachment",
    "is:edited",
    "is:deleted",
    "hello OR hallo",
    '"final plan"',
    "date:2026-11-28",
    "kind:image",
    "coi",
    "müller",
)


def sources(name: str) -> list[str]:
    if name == "samples":
        return [str(REPO_ROOT / "samples")]
    if name == "corpus":
        keys = sorted((DC_DEV / "keys").glob("*/private-key-*.asc"))
        accounts = [str(DC_DEV / a) for a in (*DC_DEV_ACCOUNTS, "journal")]
        return [*accounts, *[x for k in keys for x in ("--key", str(k))]]
    if name == "backups":
        return [str(DC_DEV / "keys" / "backups")]
    raise ValueError(name)


ARCHIVES = ("samples", "corpus", "backups")


def _json(archive: Path, *args: str) -> Any:
    res = cli(archive, *args, "--json", inprocess=True, check=False)
    if res.returncode != 0:
        return {"exit": res.returncode, "stderr": res.stderr.strip().splitlines()[-1:]}
    return res.json()


def snapshot(name: str, archive: Path) -> dict[str, Any]:
    """Build archive ``name`` in ``archive`` and return all its JSON outputs."""
    cli(archive, "ingest", *sources(name), inprocess=True)
    return outputs(archive)


def outputs(archive: Path) -> dict[str, Any]:
    """Every JSON output of an existing archive, as a user would ask for it."""
    chats = _json(archive, "chats")
    out: dict[str, Any] = {"chats": chats, "contacts": _json(archive, "contacts"), "stats": _json(archive, "stats")}
    out["show"] = {c["id"]: _json(archive, "show", c["id"]) for c in chats}
    out["search"] = {q: _json(archive, "search", q) for q in QUERIES}
    out["search_history"] = {q: _json(archive, "search", q, "--history") for q in QUERIES}
    return out


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    import tempfile

    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name in argv or ARCHIVES:
        with tempfile.TemporaryDirectory() as tmp:
            data = snapshot(name, Path(tmp) / "archive")
        (GOLDEN_DIR / f"{name}.json").write_text(dumps(data), encoding="utf-8")
        print(f"wrote {GOLDEN_DIR / (name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
