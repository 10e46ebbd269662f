"""Regenerate ``coi_archive/export/dcbackup_template.sql``: the database
that Delta Chat core itself creates for a new, unconfigured account (its
schema at ``config.dbversion`` 169 plus the reserved rows: contacts and
chats 1-9, message markers 1-9), dumped as SQL.

The Delta Chat backup writer starts every backup from this dump, so its
tables, indexes and defaults are exactly core's.  Run it with the core the
writer targets (``pip install 'deltachat-rpc-server>=2.65,<2.66'
'deltachat-rpc-client>=2.65,<2.66'``)::

    python scripts/dcbackup_template.py [OUT.sql]

``tests/test_dcbackup_export.py`` checks that the shipped dump still equals
what the installed core creates.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "coi_archive" / "export" / "dcbackup_template.sql"


def core_dump(server: str | None = None) -> str:
    """The SQL dump of a fresh account database made by the installed core."""
    from deltachat_rpc_client import DeltaChat, Rpc

    server = server or shutil.which("deltachat-rpc-server") or str(Path(sys.executable).parent / "deltachat-rpc-server")
    with tempfile.TemporaryDirectory(prefix="coi-dc-template-") as tmp:
        with Rpc(accounts_dir=str(Path(tmp) / "accounts"), rpc_server_path=server) as rpc:
            account = DeltaChat(rpc).add_account()
            db = account.get_info()["database_dir"]
        conn = sqlite3.connect(db)
        try:
            return "\n".join(conn.iterdump()) + "\n"
        finally:
            conn.close()


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else TEMPLATE
    out.write_text(core_dump(), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
