"""The ``coi-archive`` command: parses arguments, calls ``index.api`` and
prints.  It holds no archive logic of its own.

Exit codes: 0 success, 1 a check failed (``verify``), ``search`` found
nothing (as grep; with ``--json`` the empty list is the answer, exit 0) or
no command was given (the help is printed, as git does), 2 unusable
arguments (bad path, unknown chat or message id, an export file that exists
without ``--force``, a search query beyond the parser's limits) with one
line on stderr; a chat name that fits several chats or none is followed by
the chats meant, indented.  What people read is written by
``present.terminal``; examples for ``--help`` are in ``cli_help``.
"""

from __future__ import annotations

import argparse
import errno
import json
import re
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from coi_archive import cli_help, completion
from coi_archive.index.api import (
    CHAT_KINDS,
    ROLES,
    SEARCH_ENGINES,
    TICK,
    AccountError,
    Archive,
    ArchiveBusy,
    ArchiveError,
    AuditError,
    CatalogError,
    QueryError,
    SourceError,
    Span,
    default_archive_dir,
    parse_span,
)
from coi_archive.ingest.safeio import Limits
from coi_archive.present import name_map, terminal


class UsageError(Exception):
    """A bad argument: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line on stderr with exit code 2, as every
    other unusable argument (see the module docstring)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"coi-archive: error: {message} (see {self.prog} --help)\n")


def _date_arg(text: str) -> Span:
    """``type=`` of ``--since``/``--until``: a calendar period (``2025``,
    ``2025-04``, ``2025-04-06``, UTC) or an ISO timestamp, as a UTC span."""
    span = parse_span(text)
    if span is None:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY, YYYY-MM, YYYY-MM-DD or an ISO timestamp)")
    return span


def _dump(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _lines(lines: Iterable[str]) -> None:
    sys.stdout.write("".join(f"{line}\n" for line in lines))


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
    with _open_writer(args) as archive:
        try:
            sources = archive.discover(args.sources, _imap_options(args))
        except SourceError as exc:
            raise UsageError(str(exc)) from None
        decryptor = _decryptor(args, archive)
        progress = _Progress()
        report = archive.ingest(
            sources=sources, decryptor=decryptor, progress=progress, limits=_limits(args), full_scan=args.full_scan
        )
        progress.done()
        stats = archive.stats() if decryptor is not None else archive.totals()
    print(
        f"ingested {report.sources} source(s): {report.copies_seen} copies seen, "
        f"{report.copies_new} new, {report.messages_new} new messages, "
        f"{report.parse_errors} unparseable, {report.encrypted} encrypted unread, "
        f"{report.gone} gone from source, {report.seconds:.1f}s; archive: "
        f"{stats['unique_messages']} messages in {stats['chats']} chats"
        + (f"; {len(report.skipped)} files skipped (see stats)" if report.skipped else "")
    )
    if decryptor is not None:
        _print_crypto(stats, report.decrypted_stored)
    _print_skipped(report.skipped, args.verbose)
    for error in report.source_errors:
        print(f"coi-archive: incomplete: {error}", file=sys.stderr)
    return 1 if report.source_errors else 0


def _print_skipped(skipped: list, verbose: bool) -> None:
    """Files not read: one line each with --verbose, else one count line."""
    if verbose:
        for r in skipped:
            detail = f" ({r.detail})" if r.detail and r.detail != r.reason else ""
            print(f"coi-archive: skipped ({r.reason}): {r.path}{detail}", file=sys.stderr)
    elif skipped:
        counts = Counter(r.reason for r in skipped)
        detail = ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))
        print(f"coi-archive: skipped {len(skipped)} file(s) ({detail}); --verbose lists them", file=sys.stderr)


def _size(text: str) -> int:
    """A byte count such as 1048576, 64M, 64MiB or 8G (argparse type)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", text, re.I)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (bytes, or with K, M, G, T)")
    return int(match[1]) << (10 * "kmgt".find(match[2].lower()) + 10 if match[2] else 0)


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(
        max_message_size=args.max_message_size,
        max_expand_ratio=args.max_expand_ratio,
        max_decompressed=args.max_decompressed,
    )


def _add_limit_arguments(p: argparse.ArgumentParser) -> None:
    d = Limits()
    g = p.add_argument_group("limits (hostile or damaged input)")
    g.add_argument(
        "--max-message-size",
        type=_size,
        default=d.max_message_size,
        metavar="SIZE",
        help="keep at most SIZE bytes of one message; a larger one is kept that far and"
        " flagged MessageTruncated (default 64M)",
    )
    g.add_argument(
        "--max-expand-ratio",
        type=float,
        default=d.max_expand_ratio,
        metavar="N",
        help="a .gz/.bz2 mbox may expand to N times its size, at least 16M (default 100);"
        " beyond that the source is incomplete",
    )
    g.add_argument(
        "--max-decompressed",
        type=_size,
        default=d.max_decompressed,
        metavar="SIZE",
        help="and never beyond SIZE (default 8G)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="list every file that was not read")


def _write_failure(exc: BaseException) -> str | None:
    """The reason when ``exc`` is a failure to write (disk or quota full,
    file too large, I/O error), else None."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
        return exc.strerror or str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    if (
        isinstance(exc, sqlite3.OperationalError)
        and code is not None
        and code & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)
    ):
        return str(exc)
    return None


def _imap_options(args: argparse.Namespace) -> dict:
    """How to reach ``imap://`` sources and targets (the password is read
    from the file or $COI_IMAP_PASSWORD only when one is used)."""
    return {
        "password_file": getattr(args, "password_file", None),
        "insecure": getattr(args, "insecure", False),
        "starttls": getattr(args, "starttls", False),
        "cafile": getattr(args, "cafile", None),
        "all_folders": getattr(args, "all_folders", False),
    }


def _add_imap_arguments(p: argparse.ArgumentParser, all_folders: bool = True) -> None:
    g = p.add_argument_group("IMAP (imap://USER@HOST[:PORT][/FOLDER])")
    g.add_argument(
        "--password-file", metavar="FILE", help="file whose first line is the IMAP password (else $COI_IMAP_PASSWORD)"
    )
    g.add_argument("--cafile", metavar="FILE", help="trust the TLS certificates in FILE (a private CA)")
    g.add_argument("--starttls", action="store_true", help="STARTTLS on the given port (default for port 143)")
    g.add_argument(
        "--insecure", action="store_true", help="plaintext IMAP, allowed only to loopback addresses (for testing)"
    )
    if all_folders:
        g.add_argument(
            "--all-folders", action="store_true", help="read every selectable folder of the account (SPECIAL-USE aware)"
        )


def _decryptor(args: argparse.Namespace, archive: Archive | None = None):
    """A keyring from --key/--keyring/--qr plus the keys the archive
    remembers; stores the given keys with --remember-keys."""
    keys = getattr(args, "key", None) or []
    keyrings = getattr(args, "keyring", None) or []
    qrs = getattr(args, "qr", None) or []
    remembered = archive.remembered_keys() if archive is not None else []
    if not (keys or keyrings or qrs or remembered):
        return None
    try:
        from coi_archive.ingest.crypto import keyring_decryptor, securejoin_password
    except ImportError:
        raise UsageError("decryption is not available in this build") from None
    passwords = []
    for qr in qrs:
        pw = securejoin_password(qr)
        if pw is None:
            raise UsageError("--qr: not a SecureJoin QR code (OPENPGP4FPR:...#...&s=...)")
        passwords.append(pw)
    try:
        given = keyring_decryptor(keys, keyrings, passwords) if (keys or keyrings or qrs) else None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot use key: {exc}") from None
    if given is not None and getattr(args, "remember_keys", False) and archive is not None:
        archive.remember_keys((k.fingerprint, k.path) for k in given.keys)
    if remembered:
        try:
            stored = keyring_decryptor(remembered)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot use a remembered key: {exc}") from None
        return stored if given is None else given.merged(stored)
    return given


def _print_crypto(stats: dict, opened_stored: int) -> None:
    reasons = stats.get("undecryptable_by_reason") or {}
    line = f"decrypted: {stats.get('decrypted', 0)} messages"
    if opened_stored:
        line += f" ({opened_stored} of them stored sealed before)"
    if reasons:
        line += "; not readable: " + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
    print(line)


def cmd_decrypt(args: argparse.Namespace) -> int:
    with _open_writer(args) as archive:
        decryptor = _decryptor(args, archive)
        if decryptor is None:
            raise UsageError("decrypt needs --key FILE, --keyring DIR or --qr (or remembered keys)")
        opened = archive.decrypt_stored(decryptor)
        stats = archive.stats()
    print(f"opened {opened} stored encrypted messages")
    _print_crypto(stats, 0)
    return 0


def _add_key_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("decryption (OpenPGP secret keys, e.g. as Delta Chat exports them)")
    g.add_argument("--key", action="append", metavar="FILE", help="OpenPGP secret key (repeatable)")
    g.add_argument("--keyring", action="append", metavar="DIR", help="use every secret key (*.asc) in DIR (repeatable)")
    g.add_argument(
        "--remember-keys",
        action="store_true",
        help="keep the given keys in the archive (keys/, mode 0600) for later runs",
    )
    g.add_argument(
        "--qr", action="append", metavar="QR", help="a SecureJoin QR code (OPENPGP4FPR:...) to open handshake messages"
    )


def cmd_chats(args: argparse.Namespace) -> int:
    with Archive.open(args.archive, readonly=True) as archive:
        chats = archive.chats(kind=args.kind)
    if args.json:
        _dump(chats)
        return 0
    if not chats:
        print(
            "coi-archive: no chats"
            + (f" of kind {args.kind}" if args.kind else "")
            + " (coi-archive ingest --help says how to add mail)",
            file=sys.stderr,
        )
        return 0
    _lines(terminal.chat_table(chats))
    return 0


class ChatChoice(UsageError):
    """A chat name that names no chat or several: the error line, then the
    chats the user may have meant (exit code 2)."""

    def __init__(self, message: str, candidates: list[dict[str, Any]]):
        super().__init__(message)
        self.candidates = candidates


def _one_chat(archive: Archive, text: str) -> str:
    """The id of the chat ``text`` names (an id, an id prefix, a name or
    part of one); ChatChoice when it names none or several."""
    found = archive.find_chats(text)
    if len(found) == 1:
        return found[0]["id"]
    if found:
        raise ChatChoice(f"{text!r} matches {len(found)} chats; did you mean one of these?", found)
    similar = archive.similar_chats(text)
    if similar:
        raise ChatChoice(f"no chat is named {text!r}; did you mean one of these?", similar)
    raise UsageError(f"no chat is named {text!r} (coi-archive chats lists them)")


def cmd_show(args: argparse.Namespace) -> int:
    with Archive.open(args.archive, readonly=True) as archive, _audited(archive, "chat.view", args.chat_id) as outcome:
        chat_id = outcome["target"] = _one_chat(archive, args.chat_id)
        try:
            data = archive.show(chat_id)
        except ArchiveError as exc:
            raise UsageError(str(exc)) from None
        names = {} if args.json else name_map(archive.contacts())
    if args.json:
        _dump(data)
        return 0
    _lines(terminal.chat_lines(data, names, terminal.terminal_width(), history=args.history))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    with Archive.open(args.archive, readonly=True) as archive, _audited(archive, "search", args.query) as outcome:
        hits = archive.search(args.query, limit=args.limit, history=args.history, quotes=not args.no_quotes)
        outcome["result"] = f"ok: {len(hits)} hits"
        chat_names = {} if args.json else {c["id"]: c["name"] for c in archive.chats()}
        names = {} if args.json else name_map(archive.contacts())
    if args.json:  # an empty list is a complete answer: exit 0 (see the module docstring)
        _dump(hits)
        return 0
    if not hits:
        print("no matches", file=sys.stderr)
        return 1
    _lines(terminal.hit_lines(hits, chat_names, names, terminal.terminal_width()))
    if len(hits) == args.limit:
        print(f"coi-archive: the best {args.limit} matches; --limit N shows more", file=sys.stderr)
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
    chats = getattr(args, "chat", None) or None
    want_report = not args.json or getattr(args, "report", False) or bool(chats)
    with Archive.open(args.archive, readonly=True) as archive:
        stats = archive.stats()
        try:
            report = archive.report(chat=chats) if want_report else None
        except ArchiveError as exc:
            raise UsageError(str(exc)) from None
    if args.json:
        _dump({**stats, "report": report} if report is not None else stats)
        return 0
    if not chats:
        _lines(terminal.mapping_lines(stats))
        print()
    from coi_archive.index.api import report_text

    sys.stdout.write(report_text(report))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    with Archive.open(args.archive, readonly=True) as archive:
        total = archive.count_originals()
        bad = archive.verify()
        stale = archive.verify_derived()
    for b in bad:
        print(f"MISMATCH {b['message_id']} stored {b['sha256']} actual {b['actual']}")
    for p in stale:
        print(f"STALE {p['layer']}: {p['what']} ({p['count']}); {p['repair']}")
    print(
        f"verified {total} originals: {len(bad)} mismatches; derived layers: "
        + ("up to date" if not stale else f"{len(stale)} stale")
    )
    return 1 if bad or stale else 0


def cmd_raw(args: argparse.Namespace) -> int:
    with Archive.open(args.archive, readonly=True) as archive, _audited(archive, "raw", args.message_id):
        try:
            data = archive.raw(args.message_id)
        except ArchiveError as exc:
            raise UsageError(str(exc)) from None
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


def _open_writer(args: argparse.Namespace) -> Archive:
    """Open the archive for a writing command: one writer at a time."""
    return Archive.open(args.archive, command=args.command, wait=args.wait)


def cmd_repair(args: argparse.Namespace) -> int:
    with _open_writer(args) as archive:  # opening upgrades and settles
        problems = archive.verify_derived()
    for p in problems:
        print(f"STILL STALE {p['layer']}: {p['what']} ({p['count']}); {p['repair']}")
    print("archive is up to date" if not problems else f"{len(problems)} problem(s) remain")
    return 1 if problems else 0


def cmd_reindex(args: argparse.Namespace) -> int:
    with _open_writer(args) as archive:
        if args.full:
            archive.rebuild(engine=args.engine)
            print(f"rebuilt chats, contacts and the search index ({archive.engine_name}) from the stored originals")
        else:
            n = archive.reindex(engine=args.engine)
            print(f"reindexed {n} messages ({archive.engine_name})")
    return 0


def actor() -> str:
    """Who runs this command, for the audit trail: ``cli:<unix user>``."""
    import getpass
    import os

    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no name for this uid (a container)
        return f"cli:uid {os.getuid()}"


@contextmanager
def _audited(archive: Archive, action: str, target: str) -> Iterator[dict[str, str]]:
    """Record ``action`` on ``target`` in the audit trail when the block
    ends, with its result (the block may set ``outcome["result"]``); a
    failure is recorded as ``error: ...`` and raised on."""
    outcome = {"result": "ok", "target": target}
    try:
        yield outcome
    except (UsageError, ArchiveError, QueryError) as exc:
        archive.audit(actor(), action, target, f"error: {exc}")
        raise
    archive.audit(actor(), action, outcome["target"], outcome["result"])


def _export_target(args: argparse.Namespace, chat_ids: list[str]) -> str:
    """What an export takes, in words, for the audit trail."""
    what = f"search {args.search!r}" if args.search else (" ".join(chat_ids + list(args.chat or [])) or "all")
    return f"{args.format} {what} -> {args.out or args.to or '-'}"


def cmd_export(args: argparse.Namespace) -> int:
    """Every export, whatever its format, is recorded in the audit trail."""
    chat_ids = list(args.chat_id or [])
    target = _export_target(args, chat_ids)
    if args.format == "ediscovery":
        return cmd_export_ediscovery(args, chat_ids)
    if len(chat_ids) > 1:
        raise UsageError("only --format ediscovery takes several CHAT_IDs (use --chat ID for the others)")
    args.chat_id = chat_ids[0] if chat_ids else None
    try:
        code = _export(args)
    except (UsageError, ArchiveError, QueryError) as exc:
        _audit_outside(args, "export", target, f"error: {exc}")
        raise
    _audit_outside(args, "export", target, "ok" if code == 0 else f"exit {code}")
    return code


def _audit_outside(args: argparse.Namespace, action: str, target: str, result: str) -> None:
    """One audit entry from a command that has closed its archive handle."""
    with Archive.open(args.archive, readonly=True) as archive:
        archive.audit(actor(), action, target, result)


def cmd_export_ediscovery(args: argparse.Namespace, chat_ids: list[str]) -> int:
    """``export --format ediscovery (--search Q | CHAT_ID...) --out DIR``."""
    from coi_archive import export
    from coi_archive.export.ediscovery import select_chats, write_package

    chat_ids += list(args.chat or [])
    if not args.out or args.out == "-":
        raise UsageError("--format ediscovery writes a directory: give --out DIR (it must not exist)")
    if bool(chat_ids) == bool(args.search):
        raise UsageError("--format ediscovery needs either --search QUERY or CHAT_ID...")
    since = args.since.start if args.since else None
    until = args.until.stop - TICK if args.until else None
    target = _export_target(args, chat_ids)
    with Archive.open(args.archive, readonly=True) as archive, _audited(archive, "export", target) as outcome:
        try:
            sel = (
                export.select_search(
                    archive, args.search, history=args.history, limit=args.limit, since=since, until=until
                )
                if args.search
                else select_chats(archive, chat_ids, since, until)
            )
            done = write_package(archive, sel, args.out, exported_by=actor(), query=args.search, chat_ids=chat_ids)
        except (ArchiveError, export.ExportError) as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        outcome["result"] = f"ok: {done['documents']} documents, manifest sha256 {done['manifest_sha256']}"
    print(
        f"exported {done['messages']} messages ({done['documents']} documents, {done['files']} files) to"
        f" {done['out']}; manifest SHA-256 {done['manifest_sha256']}",
        file=sys.stderr,
    )
    return 0


def cmd_verify_export(args: argparse.Namespace) -> int:
    from coi_archive.export.ediscovery import manifest_sha256, verify_package

    problems = verify_package(args.dir)
    for line in problems:
        print(f"BAD {line}")
    if problems:
        print(f"{len(problems)} problem(s) in {args.dir}")
        return 1
    print(f"{args.dir}: every file matches its manifest; manifest SHA-256 {manifest_sha256(args.dir)}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """``audit show|verify|anchor``."""
    with Archive.open(args.archive, readonly=True) as archive:
        if args.audit_command == "anchor":
            head = archive.audit_anchor()
            print(head or "the audit log is empty")
            return 0
        if args.audit_command == "verify":
            try:
                problems = archive.audit_verify(args.anchor or [])
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            for line in problems:
                print(f"BAD {line}")
            try:
                count = f"{len(archive.audit_entries())} entries"
            except AuditError:
                count = "unreadable"
            print(f"audit log: {count}, " + ("intact" if not problems else f"{len(problems)} problem(s)"))
            return 1 if problems else 0
        entries = archive.audit_entries(since=args.since, actor=args.user)
    if args.json:
        _dump(entries)
        return 0
    for e in entries:
        print(
            f"{e['seq']:>6} {e['time'][:19]} {e['actor']:<16} {e['remote'] or '-':<15} {e['action']:<12}"
            f" {e['target']}  [{e['result']}]"
        )
    return 0


def cmd_hold(args: argparse.Namespace) -> int:
    """``hold add|list|release``."""
    if args.hold_command == "list":
        with Archive.open(args.archive, readonly=True) as archive:
            holds = archive.holds(include_released=args.all)
        if args.json:
            _dump(holds)
            return 0
        for h in holds:
            state = f"released {h['released'][:10]} by {h['released_by']}" if h["released"] else "active"
            print(
                f"{h['id']:>4} {h['kind']:<8} {h['value']}  ({h['reason']}; {h['created'][:10]}"
                f" by {h['created_by']}; {state})"
            )
        return 0
    with _open_writer(args) as archive:
        try:
            if args.hold_command == "release":
                archive.release_hold(args.id, actor())
                print(f"released hold {args.id}")
                return 0
            kind, value = next(
                (k, v) for k, v in (("chat", args.chat), ("contact", args.contact), ("query", args.query)) if v
            )
            hold_id = archive.add_hold(kind, value, args.reason, actor())
        except ArchiveError as exc:
            raise UsageError(str(exc)) from None
    print(f"hold {hold_id}: {kind} {value}")
    return 0


def _new_password(args: argparse.Namespace) -> str:
    """A new account's password: ``--password-file``, ``$COI_ARCHIVE_USER_PASSWORD``
    or a prompt (twice); never a command-line argument, which other users see."""
    import getpass
    import os

    if args.password_file:
        try:
            with open(args.password_file, encoding="utf-8") as f:
                return f.readline().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read --password-file {args.password_file}: {exc}") from None
    env = os.environ.get("COI_ARCHIVE_USER_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        raise UsageError("no password: give --password-file FILE, set $COI_ARCHIVE_USER_PASSWORD, or run in a terminal")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the two passwords differ")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    """``user add|list|remove``: the accounts of the web UI (README, Compliance)."""
    with Archive.open(args.archive, readonly=True) as archive:
        try:
            if args.user_command == "list":
                accounts = archive.accounts()
                if args.json:
                    _dump([a.as_dict() for a in accounts])
                for a in accounts if not args.json else []:
                    print(
                        f"{a.name:<20} {a.role:<8} {' '.join(a.addresses) or '-'}"
                        f"  (last login: {a.last_login or 'never'})"
                    )
                return 0
            if args.user_command == "remove":
                archive.remove_account(args.name, actor())
                print(f"removed {args.name}")
                return 0
            account = archive.add_account(args.name, args.role, args.address or [], _new_password(args), actor())
        except AccountError as exc:
            raise UsageError(str(exc)) from None
    print(f"added {account.name} ({account.role}{': ' + ' '.join(account.addresses) if account.addresses else ''})")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    """``retention set|clear|show``."""
    if args.retention_command == "show":
        with Archive.open(args.archive, readonly=True) as archive:
            policy = archive.retention()
        if args.json:
            _dump(policy)
            return 0
        for p in policy:
            print(f"{p['kind']:<5} older than {p['period']}  (set {p['set_at'][:10]} by {p['set_by']})")
        if not policy:
            print("no retention policy: nothing expires")
        return 0
    with _open_writer(args) as archive:
        try:
            archive.set_retention(args.older_than if args.retention_command == "set" else None, args.kind, actor())
        except ArchiveError as exc:
            raise UsageError(str(exc)) from None
    print(
        f"retention {args.kind}: "
        + (f"older than {args.older_than}" if args.retention_command == "set" else "none")
        + "; run 'coi-archive purge' to apply it"
    )
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    with _open_writer(args) as archive:
        report = archive.purge(actor(), dry_run=args.dry_run)
    if args.json:
        _dump(report)
        return 0
    verb = "would purge" if args.dry_run else "purged"
    print(
        f"{verb} {report['purged']} message(s) ({report['originals']} stored copies) in"
        f" {len(report['chats'])} chat(s); {report['held']} expired message(s) kept under hold"
        + (f"; {report['cache_files']} cached file(s) removed" if report["cache_files"] else "")
    )
    return 0


def cmd_tombstones(args: argparse.Namespace) -> int:
    """What purges deleted: one row per stored copy."""
    with Archive.open(args.archive, readonly=True) as archive:
        stones = archive.tombstones()
    if args.json:
        _dump(stones)
        return 0
    for t in stones:
        print(
            f"{t['purged_at'][:19]} {t['purged_by']:<16} {(t['date'] or '?')[:10]}  {t['message_id']}"
            f"  sha256 {t['sha256'][:16]}...  {t['why']}"
        )
    if not stones:
        print("nothing was ever purged")
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.format == "deltachat-backup":
        return cmd_export_dcbackup(args)
    if args.format == "imap":
        if getattr(args, "chat_id", None):
            args.chat = (args.chat or []) + [args.chat_id]
        return cmd_export_imap(args)
    if _wants_tables(args):
        return cmd_export_tables(args)
    return cmd_export_file(args)


def _wants_tables(args: argparse.Namespace) -> bool:
    """parquet is always the tables; csv is the tables when no CHAT_ID nor
    --search is given and --out is a directory (existing, or ending in /)."""
    if args.format == "parquet":
        return True
    if args.format != "csv" or args.chat_id or args.search or not args.out or args.out == "-":
        return False
    import os

    if args.out.endswith(("/", os.sep)) or os.path.isdir(os.path.expanduser(args.out)):
        return True
    raise UsageError(
        "--format csv without CHAT_ID or --search writes the archive's tables into a"
        f" directory: give --out DIR/ (or an existing directory), not {args.out}"
    )


def cmd_export_tables(args: argparse.Namespace) -> int:
    """``export --format parquet|csv --out DIR [--chat ID]...``: the analysis
    tables (messages, revisions, reactions, ...), one Parquet dataset
    directory or CSV file per table."""
    from coi_archive import export
    from coi_archive.export.analysis import write_tables

    if not args.out or args.out == "-":
        raise UsageError(
            f"--format {args.format} writes one {'directory' if args.format == 'parquet' else 'file'}"
            " per table: give --out DIR"
        )
    if args.search:
        raise UsageError(f"--format {args.format} exports tables of chats, not search results")
    chats = list(args.chat or []) + ([args.chat_id] if args.chat_id else [])
    since = args.since.start if args.since else None
    until = args.until.stop if args.until else None  # the tables take since <= date < until
    with Archive.open(args.archive, readonly=True) as archive:
        try:
            counts = write_tables(
                archive, args.out, args.format, chats=chats or None, since=since, until=until, force=args.force
            )
        except (ArchiveError, export.ExportError) as exc:
            raise UsageError(str(exc)) from None
    print(
        f"exported {len(counts)} tables to {args.out}: " + ", ".join(f"{name} {rows}" for name, rows in counts.items()),
        file=sys.stderr,
    )
    return 0


def cmd_export_imap(args: argparse.Namespace) -> int:
    """``export --format imap --to imap://USER@HOST/FOLDER``: migration."""
    from coi_archive.export.imap_append import migrate
    from coi_archive.net.imap import ImapError

    if not args.to:
        raise UsageError("--format imap needs --to imap://USER@HOST[:PORT]/FOLDER")
    since = args.since.start if args.since else None
    progress = _Progress()
    with Archive.open(args.archive, readonly=True) as archive:
        try:
            report = migrate(
                archive, args.to, _imap_options(args), chat_ids=args.chat or None, since=since, progress=progress
            )
        except (ArchiveError, ImapError) as exc:
            raise UsageError(str(exc)) from None
        finally:
            progress.done()
    rebuilt = f" ({report.rebuilt} rebuilt from backup records)" if report.rebuilt else ""
    print(
        f"exported {report.selected} message(s) to {report.target}: {report.copied} copied{rebuilt}, "
        f"{report.skipped} skipped (already there), {report.failed} failed, {report.seconds:.1f}s"
    )
    for error in report.errors:
        print(f"coi-archive: failed: {error}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_export_dcbackup(args: argparse.Namespace) -> int:
    """``export --format deltachat-backup --as ADDRESS --key KEYFILE --out FILE.tar``."""
    from pathlib import Path

    from coi_archive import export
    from coi_archive.export.dcbackup_writer import CORE_VERSION, load_key, write_backup
    from coi_archive.export.output import atomic_output

    if not args.as_address or not args.key or not args.out or args.out == "-":
        raise UsageError(
            "--format deltachat-backup needs --as ADDRESS, --key KEYFILE (the account's secret key) and --out FILE.tar"
        )
    chats = list(args.chat or []) + ([args.chat_id] if args.chat_id else [])
    out = Path(args.out).expanduser()
    with Archive.open(args.archive, readonly=True) as archive:
        try:
            key = load_key(args.key)
            with atomic_output(out, force=args.force) as f:
                report = write_backup(
                    archive,
                    args.as_address,
                    key,
                    f,
                    chat_ids=chats or None,
                    since=args.since.start if args.since else None,
                )
        except (ArchiveError, export.ExportError) as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(
        f"wrote a Delta Chat {CORE_VERSION} backup of {args.as_address} to {out}: {report.chats} chats,"
        f" {report.messages} messages, {report.blobs} files, {report.keys} contact keys",
        file=sys.stderr,
    )
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(completion.script(build_parser(), args.shell))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from coi_archive.webui.server import ServeError, serve

    if not args.session_idle > 0:
        raise UsageError(f"--session-idle must be a positive number of hours, not {args.session_idle}")
    try:
        return serve(
            args.archive or default_archive_dir(),
            host=args.host,
            port=args.port,
            password=args.password,
            token=args.token,
            session_idle=args.session_idle * 3600,
            trusted_proxy=args.trusted_proxy,
        )
    except ServeError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # port in use, cannot bind
        raise UsageError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}") from None


def cmd_export_file(args: argparse.Namespace) -> int:
    """``export [CHAT_ID | --search Q] --format json|html|mbox|eml|csv --out PATH [--force]``."""
    from pathlib import Path

    from coi_archive import export
    from coi_archive.export.output import atomic_output

    if not args.chat_id and args.chat and len(args.chat) == 1:
        args.chat_id = args.chat[0]
    if not args.out:
        raise UsageError(f"--format {args.format} needs --out PATH (a file, a directory or - for stdout)")
    if bool(args.chat_id) == bool(args.search):
        raise UsageError("give either CHAT_ID or --search QUERY")
    since = args.since.start if args.since else None
    until = args.until.stop - TICK if args.until else None  # a selection's until is its last instant
    with Archive.open(args.archive, readonly=True) as archive:
        try:
            if args.chat_id:
                sel = export.select_chat(archive, args.chat_id, since, until)
            else:
                sel = export.select_search(
                    archive, args.search, history=args.history, limit=args.limit, since=since, until=until
                )
        except ArchiveError as exc:
            raise UsageError(str(exc)) from None
        me = {a.strip() for a in (args.me or "").split(",") if a.strip()} or None
        if args.out == "-":
            n = export.write(
                archive,
                sel,
                args.format,
                sys.stdout.buffer,
                me=me,
                folded=not args.visible_only,
                decrypted=args.decrypted,
            )
            sys.stdout.flush()
            return 0
        out = Path(args.out).expanduser()
        if out.is_dir():
            out = out / export.filename(sel, args.format)
        try:
            with atomic_output(out, force=args.force) as f:
                n = export.write(
                    archive, sel, args.format, f, me=me, folded=not args.visible_only, decrypted=args.decrypted
                )
        except export.ExportError as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    what = "originals" if args.format in ("mbox", "eml") else "messages"
    print(f"exported {n} {what} to {out}", file=sys.stderr)
    return 0


#: Commands that write the archive (they take its writer lock).
WRITERS = ("ingest", "decrypt", "reindex", "repair", "hold", "retention", "purge")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="coi-archive",
        description="Archive, search and export chat-over-email (COI, Delta Chat) mailboxes.",
        epilog=cli_help.epilog(""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--archive", metavar="DIR", help=f"archive directory (default: $COI_ARCHIVE or {default_archive_dir()})"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Callable, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=cli_help.epilog(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    p = add("ingest", cmd_ingest, "read mailboxes (Maildir, mbox, .eml, imap://) into the archive")
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="a Maildir, mbox (.gz/.bz2), .eml, Delta Chat backup .tar, imap:// URL, or a directory of them",
    )
    p.add_argument(
        "--full-scan",
        action="store_true",
        help="list every Maildir folder and open every mbox, even those whose directory or file times say they"
        " are unchanged since the last scan (for file systems whose times cannot be trusted)",
    )
    _add_key_arguments(p)
    _add_imap_arguments(p)
    _add_limit_arguments(p)
    p = add("decrypt", cmd_decrypt, "open stored encrypted messages with keys (no source is read)")
    _add_key_arguments(p)
    p = add("chats", cmd_chats, "list chats, the most recently active first")
    p.add_argument("--kind", choices=CHAT_KINDS, help="only chats of this kind")
    p.add_argument("--json", action="store_true", help="print JSON (README: JSON shapes)")
    p = add("show", cmd_show, "read one chat: replies, reactions, receipts, files, system lines")
    p.add_argument(
        "chat_id",
        metavar="CHAT",
        help="a chat id, a prefix of one, or a chat's name or part of it (case and accents ignored)",
    )
    p.add_argument(
        "--history",
        action="store_true",
        help="also print the earlier texts of edited messages and the text of deleted ones",
    )
    p.add_argument("--json", action="store_true", help="print JSON (README: JSON shapes)")
    p = add("search", cmd_search, "full-text search: date, chat, sender and a snippet per hit")
    p.add_argument("query", metavar="QUERY", help="words and filters (query language below); quote it for the shell")
    p.add_argument("--history", action="store_true", help="also search earlier revisions and deleted text")
    p.add_argument(
        "--no-quotes",
        action="store_true",
        help="do not look for words in quoted text, attribution lines, signatures and list footers",
    )
    p.add_argument("--limit", type=int, default=50, metavar="N", help="at most N hits, the best first (default 50)")
    p.add_argument("--json", action="store_true", help="print JSON (README: JSON shapes)")
    p = add("contacts", cmd_contacts, "list contacts with their state history")
    p.add_argument("--json", action="store_true", help="print JSON with status, groups and state history")
    p = add(
        "stats",
        cmd_stats,
        "completeness report and activity report (messages per chat and sender,"
        " activity over time, reply times, edits, reactions, attachments)",
    )
    p.add_argument("--json", action="store_true", help="the completeness keys (plus 'report' with --report or --chat)")
    p.add_argument("--chat", action="append", metavar="ID", help="activity report for this chat only (repeatable)")
    p.add_argument("--report", action="store_true", help="with --json: add the activity report as 'report'")
    add("verify", cmd_verify, "re-hash every stored original")
    p = add("raw", cmd_raw, "print the original bytes of a message")
    p.add_argument("message_id", metavar="MESSAGE_ID", help="a Message-ID, with or without <>")
    p = add(
        "export",
        cmd_export,
        "export a chat or search results to a file (json, html, mbox, eml, csv),"
        " or copy chats into an IMAP account (--format imap)",
    )
    p.add_argument(
        "chat_id", nargs="*", metavar="CHAT_ID", help="the chat to export (file formats; ediscovery: one or more)"
    )
    p.add_argument(
        "--format",
        required=True,
        choices=["json", "html", "mbox", "eml", "csv", "parquet", "imap", "deltachat-backup", "ediscovery"],
        help="json: the show --json shape; html: one self-contained page; mbox: the original"
        " messages as mboxrd; eml: a zip of the originals; csv: one row per message;"
        " imap: APPEND the originals to --to; parquet (and csv without CHAT_ID, --out DIR/):"
        " the analysis tables (messages, revisions, reactions, receipts, memberships,"
        " contacts, ...) of the archive or of --chat, one directory (parquet, partitioned by year)"
        " or file (csv) per table;"
        " deltachat-backup: a backup Delta Chat 2.65 imports, of --as's chats (needs --key);"
        " ediscovery: a review package (originals, load file, HTML, manifest) in --out DIR",
    )
    p.add_argument(
        "--as",
        dest="as_address",
        metavar="ADDRESS",
        help="deltachat-backup: the account whose chats to write, as that account sees them",
    )
    p.add_argument(
        "--key",
        metavar="KEYFILE",
        help="deltachat-backup: the account's OpenPGP secret key (written into the backup only)",
    )
    p.add_argument("--to", metavar="URL", help="target, for imap: imap://USER@HOST[:PORT]/FOLDER")
    p.add_argument("--chat", action="append", metavar="ID", help="only this chat (repeatable; default: all)")
    p.add_argument(
        "--since",
        metavar="DATE",
        type=_date_arg,
        help="only messages dated at or after DATE (YYYY, YYYY-MM, YYYY-MM-DD or ISO)",
    )
    p.add_argument(
        "--until",
        metavar="DATE",
        type=_date_arg,
        help="file formats: only messages dated up to the end of DATE (YYYY, YYYY-MM, YYYY-MM-DD or ISO)",
    )
    p.add_argument("--out", metavar="PATH", help="file formats: output file, directory, or - for stdout")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--search", metavar="QUERY", help="file formats: export the messages this search finds")
    p.add_argument("--history", action="store_true", help="with --search: also match earlier revisions")
    p.add_argument("--limit", type=int, default=2000, help="with --search: at most this many hits")
    p.add_argument("--me", metavar="ADDR[,ADDR]", help="html: draw these senders' messages as one's own")
    p.add_argument(
        "--visible-only",
        action="store_true",
        help="mbox/eml: only the messages shown in the chat, without the edits, deletes,"
        " reactions and receipts folded into them",
    )
    p.add_argument(
        "--decrypted",
        action="store_true",
        help="eml: also a decrypted copy (NAME.decrypted.eml, plaintext) of each encrypted original a key opened",
    )
    _add_imap_arguments(p, all_folders=False)
    p = add("serve", cmd_serve, "browse, search and export the archive in a web browser (read-only)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; anything else needs --password or --token)",
    )
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--password", help="require this password (HTTP Basic; or $COI_ARCHIVE_PASSWORD)")
    p.add_argument(
        "--token",
        help="require this token (Bearer header, the /login form, or ?token= once;"
        " 'generate' makes one; or $COI_ARCHIVE_TOKEN)",
    )
    p.add_argument(
        "--session-idle",
        type=float,
        default=12.0,
        metavar="HOURS",
        help="a token login session ends after this many hours without a request (default 12)",
    )
    p.add_argument(
        "--trusted-proxy",
        metavar="ADDR",
        help="the address of a TLS reverse proxy in front, whose X-Forwarded-For/-Proto are believed",
    )
    p = add("reindex", cmd_reindex, "rebuild the search index from the catalog")
    p.add_argument("--full", action="store_true", help="also recompute chats and contacts")
    p.add_argument(
        "--engine",
        choices=SEARCH_ENGINES,
        default=None,
        help="switch the archive's search engine (tantivy: fast, the default for new archives;"
        " whoosh: pure Python) and rebuild the index with it",
    )
    add(
        "repair",
        cmd_repair,
        "finish what an interrupted run left and upgrade an archive written by"
        " an older version (every writing command does this first)",
    )
    _add_compliance_commands(add)
    p = add("completion", cmd_completion, "print a shell completion script (bash or zsh)")
    p.add_argument("shell", choices=completion.SHELLS, help="the shell to complete in")
    for name in WRITERS:
        for leaf in _writing_leaves(sub.choices[name]):
            leaf.add_argument(
                "--wait",
                type=float,
                nargs="?",
                const=float("inf"),
                default=None,
                metavar="SECONDS",
                help="if another command is writing this archive, wait for it (for SECONDS, or as long as it"
                " takes) instead of exiting with code 2",
            )
    return parser


def _writing_leaves(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``p`` itself, or those of its subcommands that write (``hold add``, not ``hold list``)."""
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [p]
    return [leaf for name, leaf in subs[0].choices.items() if name not in ("list", "show")]


def _add_compliance_commands(add: Callable[[str, Callable, str], argparse.ArgumentParser]) -> None:
    """audit, hold, retention, purge, verify-export (see README, Compliance)."""
    p = add("audit", cmd_audit, "the audit trail: who searched, viewed, exported, held or purged what")
    sub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    show = sub.add_parser("show", help="list entries")
    show.add_argument("--since", metavar="TIME", help="entries at or after this UTC time (e.g. 2026-11-30)")
    show.add_argument("--user", metavar="ACTOR", help="only this actor (e.g. cli:alice, web)")
    show.add_argument("--json", action="store_true")
    verify = sub.add_parser("verify", help="check the hash chain and its anchors; exit 1 naming the first bad entry")
    verify.add_argument(
        "--anchor",
        action="append",
        metavar="SEQ:HASH",
        help="also check a head printed by 'audit anchor' and kept elsewhere (repeatable)",
    )
    sub.add_parser("anchor", help="print and store the current head (SEQ:HASH) of the chain")
    p = add("hold", cmd_hold, "legal holds: what no purge may delete")
    sub = p.add_subparsers(dest="hold_command", required=True, metavar="ACTION")
    hold_add = sub.add_parser("add", help="hold a chat, a contact's chats and mail, or a query's messages")
    what = hold_add.add_mutually_exclusive_group(required=True)
    what.add_argument("--chat", metavar="ID")
    what.add_argument("--contact", metavar="ADDR")
    what.add_argument("--query", metavar="Q", help="a search (evaluated again at every purge)")
    hold_add.add_argument("--reason", required=True, metavar="TEXT")
    hold_list = sub.add_parser("list", help="active holds (--all: released ones too)")
    hold_list.add_argument("--all", action="store_true")
    hold_list.add_argument("--json", action="store_true")
    sub.add_parser("release", help="release a hold (it stays listed as released)").add_argument("id", type=int)
    p = add("retention", cmd_retention, "the retention policy (applied only by 'purge')")
    sub = p.add_subparsers(dest="retention_command", required=True, metavar="ACTION")
    ret_set = sub.add_parser("set", help="messages older than this expire")
    ret_set.add_argument("--older-than", required=True, metavar="PERIOD", help="e.g. 7y, 18m, 6w, 90d")
    ret_set.add_argument("--kind", choices=("mail", "chat", "all"), default="all")
    sub.add_parser("clear", help="remove the period of one kind").add_argument(
        "--kind", choices=("mail", "chat", "all"), default="all"
    )
    sub.add_parser("show", help="the policy").add_argument("--json", action="store_true")
    p = add("purge", cmd_purge, "delete expired messages no hold covers, leaving tombstones (audited)")
    p.add_argument("--dry-run", action="store_true", help="only say what would be purged")
    p.add_argument("--json", action="store_true")
    p = add("tombstones", cmd_tombstones, "what purges deleted (Message-ID, SHA-256, date, why, when, by whom)")
    p.add_argument("--json", action="store_true")
    p = add("verify-export", cmd_verify_export, "re-check an eDiscovery package against its manifest")
    p.add_argument("dir", metavar="DIR")
    p = add("user", cmd_user, "accounts of the web UI: admin, auditor, member (audited)")
    sub = p.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    user_add = sub.add_parser("add", help="add an account (password from a prompt, a file or the environment)")
    user_add.add_argument("name", metavar="NAME")
    user_add.add_argument("--role", required=True, choices=ROLES)
    user_add.add_argument(
        "--address",
        action="append",
        metavar="ADDR",
        help="a member sees the chats this address takes part in (repeatable)",
    )
    user_add.add_argument("--password-file", metavar="FILE", help="read the password from the first line of FILE")
    sub.add_parser("list", help="the accounts").add_argument("--json", action="store_true")
    sub.add_parser("remove", help="remove an account").add_argument("name", metavar="NAME")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # as git does: the help, and exit code 1
        parser.print_help()
        return 1
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"coi-archive: error: {exc}", file=sys.stderr)
        if isinstance(exc, ChatChoice):
            print("\n".join(terminal.candidate_lines(exc.candidates)), file=sys.stderr)
        return 2
    except (CatalogError, QueryError, ArchiveBusy, AuditError) as exc:
        print(f"coi-archive: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except (OSError, sqlite3.OperationalError) as exc:
        reason = _write_failure(exc)
        if reason is None:
            raise
        print(
            f"coi-archive: error: cannot write the archive ({reason}); what was stored is kept,"
            " and sources not finished are read again by the next run",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("coi-archive: interrupted", file=sys.stderr)
        return 130
