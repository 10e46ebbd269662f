"""The ``coi-archive`` command: parses arguments, calls ``index.api`` and
prints.  It holds no archive logic of its own.

Exit codes: 0 success, 1 a check failed (``verify``), 2 unusable arguments
(bad path, unknown chat or message id) with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable

from index.api import Archive, ArchiveError, CatalogError, SourceError, default_archive_dir


class UsageError(Exception):
    """A bad argument: one line on stderr, exit code 2."""


def _dump(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


class _Progress:
    """A one-line counter on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.started = time.perf_counter()

    def __call__(self, done: int, source: str) -> None:
        if not self.enabled:
            return
        rate = done / max(time.perf_counter() - self.started, 1e-6)
        sys.stderr.write(f"\r  read {done:>8} messages  {rate:>7.0f}/s  {source[-50:]:<50}")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 90 + "\r")


def cmd_ingest(args: argparse.Namespace) -> int:
    with Archive.open(args.archive) as archive:
        try:
            sources = archive.discover(args.sources)
        except SourceError as exc:
            raise UsageError(str(exc)) from None
        decryptor = _decryptor(args)
        progress = _Progress()
        report = archive.ingest(sources=sources, decryptor=decryptor, progress=progress)
        progress.done()
        stats = archive.stats()
    print(
        f"ingested {report.sources} source(s): {report.copies_seen} copies seen, "
        f"{report.copies_new} new, {report.messages_new} new messages, "
        f"{report.parse_errors} unparseable, {report.encrypted} encrypted unread, "
        f"{report.gone} gone from source, {report.seconds:.1f}s; archive: "
        f"{stats['unique_messages']} messages in {stats['chats']} chats"
    )
    return 0


def _decryptor(args: argparse.Namespace):
    keys = getattr(args, "key", None) or []
    if not keys:
        return None
    try:
        from ingest.crypto import keyring_decryptor
    except ImportError:
        raise UsageError("decryption is not available in this build") from None
    try:
        return keyring_decryptor(keys)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot use key: {exc}") from None


def cmd_chats(args: argparse.Namespace) -> int:
    with Archive.open(args.archive, readonly=True) as archive:
        chats = archive.chats(kind=args.kind)
    if args.json:
        _dump(chats)
        return 0
    for c in chats:
        enc = " [encrypted]" if c["encrypted"] else ""
        print(f"{c['id']:<34} {c['kind']:<11} {c['message_count']:>6}  {(c['last_date'] or '')[:10]}  "
              f"{c['name']}{enc}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with Archive.open(args.archive, readonly=True) as archive:
        try:
            data = archive.show(args.chat_id)
        except ArchiveError as exc:
            raise UsageError(str(exc)) from None
    if args.json:
        _dump(data)
        return 0
    chat = data["chat"]
    print(f"# {chat['name']} ({chat['kind']}, {len(chat['members'])} members)")
    for m in data["messages"]:
        who = m["sender_name"] or m["sender"]
        when = (m["date"] or "")[:16].replace("T", " ")
        if m["kind"] == "system":
            print(f"{when}  -- {m['text']} --")
            continue
        text = "[message deleted]" if m["deleted"] else m["text"]
        flags = " (edited)" if m["edited"] else ""
        files = "".join(f" [{a['filename']}]" for a in m["attachments"])
        reacts = " " + " ".join(sorted(m["reactions"].values())) if m["reactions"] else ""
        print(f"{when}  {who}: {text}{files}{flags}{reacts}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    with Archive.open(args.archive, readonly=True) as archive:
        hits = archive.search(args.query, limit=args.limit, history=args.history)
    if args.json:
        _dump(hits)
        return 0
    for h in hits:
        print(f"{(h['date'] or '')[:16]}  {h['chat_id']}  {h['sender']}: {h['snippet']}")
    return 0


def cmd_contacts(args: argparse.Namespace) -> int:
    with Archive.open(args.archive, readonly=True) as archive:
        contacts = archive.contacts()
    if args.json:
        _dump(contacts)
        return 0
    for c in contacts:
        blocked = " [blocked]" if c["blocked"] else ""
        print(f"{c['address']:<40} {c['name']}{blocked}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with Archive.open(args.archive, readonly=True) as archive:
        stats = archive.stats()
    if args.json:
        _dump(stats)
        return 0
    for key, value in stats.items():
        print(f"{key:<26} {value}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    with Archive.open(args.archive, readonly=True) as archive:
        total = archive.count_originals()
        bad = archive.verify()
    for b in bad:
        print(f"MISMATCH {b['message_id']} stored {b['sha256']} actual {b['actual']}")
    print(f"verified {total} originals: {len(bad)} mismatches")
    return 1 if bad else 0


def cmd_raw(args: argparse.Namespace) -> int:
    with Archive.open(args.archive, readonly=True) as archive:
        try:
            data = archive.raw(args.message_id)
        except ArchiveError as exc:
            raise UsageError(str(exc)) from None
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    with Archive.open(args.archive) as archive:
        if args.full:
            archive.rebuild()
            print("rebuilt chats, contacts and the search index from the stored originals")
        else:
            n = archive.reindex()
            print(f"reindexed {n} messages")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coi-archive",
        description="Archive, search and export chat-over-email (COI, Delta Chat) mailboxes.")
    parser.add_argument("--archive", metavar="DIR",
                        help=f"archive directory (default: $COI_ARCHIVE or {default_archive_dir()})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("ingest", cmd_ingest, "read mailboxes (Maildir, mbox, .eml) into the archive")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.add_argument("--key", action="append", metavar="FILE", help="OpenPGP secret key (repeatable)")
    p = add("chats", cmd_chats, "list chats")
    p.add_argument("--kind", choices=["direct", "group", "self", "mailinglist", "mail"])
    p.add_argument("--json", action="store_true")
    p = add("show", cmd_show, "show one chat")
    p.add_argument("chat_id", metavar="CHAT_ID")
    p.add_argument("--json", action="store_true")
    p = add("search", cmd_search, "full-text search (see README for the query language)")
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--history", action="store_true", help="also search earlier revisions and deleted text")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p = add("contacts", cmd_contacts, "list contacts with their state history")
    p.add_argument("--json", action="store_true")
    p = add("stats", cmd_stats, "completeness report")
    p.add_argument("--json", action="store_true")
    add("verify", cmd_verify, "re-hash every stored original")
    p = add("raw", cmd_raw, "print the original bytes of a message")
    p.add_argument("message_id", metavar="MESSAGE_ID")
    p = add("reindex", cmd_reindex, "rebuild the search index from the catalog")
    p.add_argument("--full", action="store_true", help="also recompute chats and contacts")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"coi-archive: error: {exc}", file=sys.stderr)
        return 2
    except CatalogError as exc:
        print(f"coi-archive: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("coi-archive: interrupted", file=sys.stderr)
        return 130
