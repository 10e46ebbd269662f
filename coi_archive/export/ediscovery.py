"""The eDiscovery package: a directory a review platform (Relativity,
Nuix, Everlaw...) can load, and a court can check.

    OUT/
      natives/COI000001.eml        the stored original, byte-exact (a
                                   message known only from a backup record:
                                   the record, ``.dcbackup-json``)
      natives/COI000001-001_x.pdf  its attachments, one file each
      loadfile.csv                 one row per document (messages and
                                   attachments; attachments name their
                                   parent in ``family_id``)
      review.html                  the self-contained HTML review copy
      manifest.json                every file above with SHA-256 and size,
                                   who exported it, when, with which query

The load file's columns follow the usual Concordance/EDRM names spelled in
plain words. The custodian is where the copy was read (the source of each
provenance: the mailbox a copy came from), which is whose mail it is.

``verify_package`` re-hashes every file named in the manifest and reports
missing, changed and unlisted files. The manifest's own SHA-256 is printed
and goes into the audit trail, so a manifest rewritten to match tampered
files is caught too.

The package is written into a temporary directory beside ``OUT`` and
renamed into place when complete: an existing ``OUT`` is never
overwritten, and a failed export leaves nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

from coi_archive.index.api import Archive, ArchiveError

from .html import write_html
from .selection import ExportError, Part, Selection, select_chat

MANIFEST = "manifest.json"
LOADFILE = "loadfile.csv"
REVIEW = "review.html"
NATIVES = "natives"
PREFIX = "COI"
FORMAT = "coi-archive ediscovery 1"

COLUMNS = (
    "document_id",
    "family_id",
    "custodian",
    "from",
    "to",
    "cc",
    "date",
    "subject",
    "chat",
    "chat_id",
    "message_id",
    "sha256",
    "file_path",
    "file_name",
    "attachments",
)

_UNSAFE = re.compile(r"[^\w.+-]+", re.UNICODE)


def _header(headers: Any, name: str) -> str:
    """A header decoded for people (RFC 2047), '' when absent or undecodable."""
    values = (headers.get_all(name) or []) if headers is not None else []
    out = []
    for value in values:
        try:
            out.append(str(make_header(decode_header(str(value)))))
        except (ValueError, LookupError, UnicodeError):
            out.append(str(value))
    return ", ".join(" ".join(v.split()) for v in out)


def _headers(data: bytes) -> Any:
    try:
        return BytesHeaderParser(policy=compat32).parsebytes(data)
    except (ValueError, TypeError, LookupError):
        return None


def _safe_name(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("._")[:80] or "file"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _custodians(archive: Archive, message_id: str) -> str:
    sources = {p["source"] for c in archive.copies(message_id) for p in c["provenance"]}
    return "; ".join(sorted(sources))


def _documents(archive: Archive, sel: Selection, root: Path) -> Iterator[dict[str, str]]:
    """Write each message's native and attachments; yield their load-file rows."""
    n = 0
    for part in sel.parts:
        for msg in part.messages:
            mid = msg["message_id"]
            try:
                data, fmt = archive.raw(mid), archive.raw_format(mid)
            except ArchiveError:
                continue
            n += 1
            doc = f"{PREFIX}{n:06d}"
            ext = "eml" if fmt == "rfc822" else fmt
            rel = f"{NATIVES}/{doc}.{ext}"
            _write(root, rel, data)
            headers = _headers(data) if fmt == "rfc822" else None
            children = list(_attachments(archive, msg, doc, root))
            yield {
                "document_id": doc,
                "family_id": doc,
                "custodian": _custodians(archive, mid),
                "from": _header(headers, "from") or msg.get("sender") or "",
                "to": _header(headers, "to"),
                "cc": _header(headers, "cc"),
                "date": msg.get("date") or "",
                "subject": _header(headers, "subject"),
                "chat": part.chat.get("name") or "",
                "chat_id": part.chat["id"],
                "message_id": mid,
                "sha256": hashlib.sha256(data).hexdigest(),
                "file_path": rel,
                "file_name": f"{doc}.{ext}",
                "attachments": "; ".join(c["document_id"] for c in children),
            }
            for child in children:
                yield {
                    **child,
                    "custodian": _custodians(archive, mid),
                    "date": msg.get("date") or "",
                    "chat": part.chat.get("name") or "",
                    "chat_id": part.chat["id"],
                    "message_id": mid,
                }


def _attachments(archive: Archive, msg: dict[str, Any], doc: str, root: Path) -> Iterator[dict[str, str]]:
    """The readable attachments of one message as child documents
    (those inside an encrypted original cannot be read and are not listed)."""
    k = 0
    for att in msg.get("attachments") or []:
        try:
            name, _mime, data = archive.attachment(msg["message_id"], att["part"])
        except (ArchiveError, KeyError):
            continue
        k += 1
        child = f"{doc}-{k:03d}"
        rel = f"{NATIVES}/{child}_{_safe_name(name or 'attachment')}"
        _write(root, rel, data)
        yield {
            "document_id": child,
            "family_id": doc,
            "from": "",
            "to": "",
            "cc": "",
            "subject": "",
            "sha256": hashlib.sha256(data).hexdigest(),
            "file_path": rel,
            "file_name": name or "",
            "attachments": "",
        }


def select_chats(
    archive: Archive, chat_ids: list[str], since: datetime | None = None, until: datetime | None = None
) -> Selection:
    """Several whole chats (ArchiveError for an unknown id), in the order given."""
    parts: list[Part] = []
    for chat_id in dict.fromkeys(chat_ids):
        parts += select_chat(archive, chat_id, since, until).parts
    title = parts[0].chat.get("name") or parts[0].chat["id"] if len(parts) == 1 else f"{len(parts)} chats"
    return Selection("chat", title, parts, since=since, until=until)


def _loadfile(rows: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _files(root: Path) -> list[dict[str, Any]]:
    """Every file under ``root`` but the manifest, sorted, with hash and size."""
    out = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel != MANIFEST:
            out.append({"path": rel, "sha256": _sha256(path), "size": path.stat().st_size})
    return out


def _refuse_existing(target: Path) -> None:
    """A package is evidence: never written over, not even with --force."""
    if os.path.lexists(target):
        raise ExportError(f"{target} exists: an eDiscovery package is never overwritten; choose a new --out")


def write_package(
    archive: Archive,
    sel: Selection,
    out: str | os.PathLike,
    *,
    exported_by: str,
    query: str | None,
    chat_ids: list[str],
) -> dict[str, Any]:
    """Write the package to ``out`` (which must not exist); returns
    ``{"documents", "messages", "files", "manifest_sha256", "out"}``."""
    target = Path(out).expanduser()
    _refuse_existing(target)
    if not target.parent.is_dir():
        raise ExportError(f"{target.parent} is not a directory")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name[:80]}.", suffix=".part", dir=target.parent))
    try:
        rows = list(_documents(archive, sel, tmp))
        _write(tmp, LOADFILE, _loadfile(rows))
        review = io.BytesIO()
        write_html(archive, sel, review)
        _write(tmp, REVIEW, review.getvalue())
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "exported_by": exported_by,
            "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "query": query,
            "chat_ids": chat_ids,
            "scope": sel.scope,
            "archive": str(archive.root),
            "messages": sum(1 for r in rows if r["family_id"] == r["document_id"]),
            "documents": len(rows),
            "files": _files(tmp),
        }
        body = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
        _write(tmp, MANIFEST, body)
        _refuse_existing(target)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "documents": manifest["documents"],
        "messages": manifest["messages"],
        "files": len(manifest["files"]) + 1,
        "manifest_sha256": hashlib.sha256(body).hexdigest(),
        "out": str(target),
    }


def verify_package(folder: str | os.PathLike) -> list[str]:
    """Problems of a package, one line each naming the file (empty: intact)."""
    root = Path(folder).expanduser()
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        listed = {f["path"]: f for f in manifest["files"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{root / MANIFEST}: not a readable eDiscovery manifest ({exc})"]
    problems = []
    for rel, entry in sorted(listed.items()):
        path = root / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            problems.append(f"{rel}: path outside the package")
        elif not path.is_file():
            problems.append(f"{rel}: missing")
        elif _sha256(path) != entry.get("sha256"):
            problems.append(f"{rel}: changed (SHA-256 differs from the manifest)")
    present = {f["path"] for f in _files(root)}
    problems += [f"{rel}: not in the manifest" for rel in sorted(present - set(listed))]
    return problems


def manifest_sha256(folder: str | os.PathLike) -> str:
    """SHA-256 of a package's manifest (compare with the one in the audit trail)."""
    return _sha256(Path(folder).expanduser() / MANIFEST)
