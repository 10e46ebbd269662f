"""Reading contacts from the catalog.  :class:`index.api.Archive`
delegates here."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

__all__ = ["contacts"]


def contacts(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every address seen, with its newest name and state, by address."""
    return [json.loads(r[0]) for r in conn.execute("SELECT data FROM contacts ORDER BY address")]
