"""The intake's own cost per file as the catalog grows (issue 11: cost per message flat in N).

    .venv/bin/python benchmarks/intake_thirds.py MAILDIR ARCHIVE_DIR [--parts 3]

Ingests MAILDIR into a new archive at ARCHIVE_DIR (deleted first) with the
program's ``Intake`` alone -- no fold, no search index -- and prints, for
each part of the files read (thirds by default) and for the intake's end
(the last commit, and whatever the intake does after its last file), the
MAIN process's CPU (user / system, ``getrusage``) and bytes written
(``/proc/self/io`` ``write_bytes``: what reaches the disk, or would, which the load of
other processes does not change) per file. The decode workers are children and not
counted: they cost the same per file at every N. Run it once with the old
code on ``PYTHONPATH`` and once with the new, back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.append(str(HERE.parent))  # PYTHONPATH (the old code) comes first

from coi_archive.index import catalog  # noqa: E402
from coi_archive.index.intake import Intake  # noqa: E402
from coi_archive.ingest import readers  # noqa: E402, F401  (registers the source readers)
from coi_archive.ingest.sources import discover  # noqa: E402


def written() -> int:
    """Bytes this process caused to be written to storage so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def mark(files: int) -> dict:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return {"files": files, "user": use.ru_utime, "sys": use.ru_stime, "written": written(), "wall": time.time()}


def count_files(maildir: Path) -> int:
    """Files in the ``cur`` and ``new`` of the Maildir and of its subfolders."""
    walk = os.walk(maildir, followlinks=True)
    return sum(len(files) for top, _dirs, files in walk if os.path.basename(top) in ("cur", "new"))


def run(maildir: Path, archive: Path, parts: int) -> list[dict]:
    """Marks at each part's end, the last one after ``Intake.run`` returned."""
    if archive.exists():
        shutil.rmtree(archive)
    total = count_files(maildir)
    bounds = [total * k // parts for k in range(1, parts + 1)]  # the last: every file read
    conn = catalog.connect(archive / "catalog.sqlite")
    marks = [mark(0)]

    def progress(read: int, _source: str) -> None:
        if bounds and read >= bounds[0]:
            bounds.pop(0)
            marks.append(mark(read))

    Intake(conn, progress=progress).run(discover(str(maildir)))
    marks.append(mark(total))  # the row of the intake's end
    conn.close()
    return marks


def table(marks: list[dict]) -> list[dict]:
    rows = []
    for a, b in zip(marks, marks[1:]):
        n = b["files"] - a["files"]
        if n == 0:  # the end: totals, not per file
            rows.append(
                {
                    "files": "end",
                    "user_s": round(b["user"] - a["user"], 2),
                    "sys_s": round(b["sys"] - a["sys"], 2),
                    "mb_written": round((b["written"] - a["written"]) / 1e6),
                    "wall_s": round(b["wall"] - a["wall"], 1),
                }
            )
            continue
        rows.append(
            {
                "files": f"{a['files']}-{b['files']}",
                "user_us": round((b["user"] - a["user"]) / n * 1e6),
                "sys_us": round((b["sys"] - a["sys"]) / n * 1e6),
                "kb_written": round((b["written"] - a["written"]) / n / 1024, 1),
                "wall_s": round(b["wall"] - a["wall"], 1),
            }
        )
    last = marks[-1]
    rows.append(
        {
            "files": f"all {last['files']}",
            "user_s": round(last["user"] - marks[0]["user"], 1),
            "sys_s": round(last["sys"] - marks[0]["sys"], 1),
            "mb_written": round((last["written"] - marks[0]["written"]) / 1e6),
        }
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("maildir", type=Path)
    ap.add_argument("archive", type=Path)
    ap.add_argument("--parts", type=int, default=3)
    args = ap.parse_args()
    for row in table(run(args.maildir, args.archive, args.parts)):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
