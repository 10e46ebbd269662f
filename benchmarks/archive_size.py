"""Where an archive's bytes on disk go (issue 11: archive size).

    python benchmarks/archive_size.py ARCHIVE_DIR [MAILDIR]

Prints the whole directory (what ``benchmarks/run.py`` reports as the
archive size), the catalog per table and index (SQLite's ``dbstat``: pages
used, and the payload bytes in them), the search index, WAL leftovers, and
the two largest stored columns. With a MAILDIR, also the ratio
archive / mail. Reads the catalog read-only.
"""

from __future__ import annotations

import argparse
import sqlite3
from contextlib import closing
from pathlib import Path

#: Tables and indexes listed by name; the rest is summed in one line.
SHOWN = 16


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def report(archive: Path, maildir: Path | None) -> list[str]:
    catalog = archive / "catalog.sqlite"
    whole = dir_size(archive)
    lines = [f"archive directory        {whole / 1e6:8.1f} MB"]
    if maildir is not None:
        mail = dir_size(maildir)
        lines[0] += f"  = {whole / mail:.2f}x the mail ({mail / 1e6:.1f} MB)"
    leftovers = sum(p.stat().st_size for p in archive.glob("catalog.sqlite-*"))
    lines += [
        f"  catalog.sqlite         {catalog.stat().st_size / 1e6:8.1f} MB",
        f"  fulltext/              {dir_size(archive / 'fulltext') / 1e6:8.1f} MB",
        f"  catalog -wal/-shm      {leftovers / 1e6:8.1f} MB",
    ]
    with closing(sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        lines.append(f"  page size {page} B, {free * page / 1e6:.1f} MB in free pages")
        rows = conn.execute(
            "SELECT name, sum(pgsize), sum(payload) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
        for name, used, payload in rows[:SHOWN]:
            lines.append(f"  {name:34} {used / 1e6:7.2f} MB (payload {payload / 1e6:6.2f})")
        rest = sum(r[1] for r in rows[SHOWN:])
        lines.append(f"  {len(rows) - SHOWN} more tables and indexes{'':10} {rest / 1e6:7.2f} MB")
        for table, column in (("originals", "data"), ("originals", "envelope"), ("messages", "data")):
            size = conn.execute(f"SELECT coalesce(sum(length({column})), 0) FROM {table}").fetchone()[0]
            lines.append(f"  {table}.{column:22} {size / 1e6:7.2f} MB stored")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archive", type=Path)
    ap.add_argument("maildir", type=Path, nargs="?")
    args = ap.parse_args()
    print("\n".join(report(args.archive, args.maildir)))


if __name__ == "__main__":
    main()
