"""Every bucket of `stats` is counted from what was classified, so the
README's identities are checks that fail when the catalog is inconsistent."""

from __future__ import annotations

import sqlite3

from tests.cli_helpers import REPO_ROOT, cli


def _identities(st: dict) -> tuple[bool, bool]:
    copies = st["messages_seen"] == st["unique_messages"] + st["duplicates"]
    buckets = st["unique_messages"] == (
        st["chat_messages"] + st["mail_messages"] + st["encrypted_undecrypted"] + st["parse_errors"]
    )
    return copies, buckets


def test_identities_hold_and_can_fail(tmp_path):
    archive = tmp_path / "archive"
    cli(archive, "ingest", REPO_ROOT / "samples")
    st = cli(archive, "stats", "--json").json()
    assert _identities(st) == (True, True)
    assert st["duplicates"] == 2 and st["chat_messages"] > 0 and st["mail_messages"] > 0

    with sqlite3.connect(archive / "catalog.sqlite") as conn:
        # a stored message that lost its wire row: one copy is then in no bucket
        conn.execute("DELETE FROM wire WHERE message_id=(SELECT message_id FROM wire WHERE role='post' LIMIT 1)")
    assert _identities(cli(archive, "stats", "--json").json())[0] is False

    with sqlite3.connect(archive / "catalog.sqlite") as conn:
        # a wire row of a role that no bucket knows is in no bucket
        conn.execute("UPDATE wire SET role='bogus' WHERE rowid=(SELECT min(rowid) FROM wire)")
    assert _identities(cli(archive, "stats", "--json").json())[1] is False
