"""Which stored copies of one Message-ID are the same message, and which
version of it the archive shows.

Mail travels: one message arrives in INBOX, in Sent, in a second account,
in a journal, as an IMAP copy and a Maildir file.  Those copies differ in
*transport noise* only -- ``Received``, ``Delivered-To``, ``Return-Path``,
``X-Original-To``, the mbox ``From_`` line and ``>From`` escaping, Maildir
flags, header folding, line ends, a trailing newline -- and none of that
reaches the decoded :class:`Envelope` except the delivery stamp, which
identity ignores.  Two copies are the same message when they share one key
of :func:`identity_keys`: the same *content identity* (a hash of the
normalised author and decoded content, :func:`content_identity`), or, for
encrypted copies, the same ciphertext from the same sender (so a sealed
copy and its decrypted twin are one message).  Copies that share no key are
different *versions*: a conflict.  An attacker who knows a Message-ID can
always send his own version; he cannot make it the same message.

Which version is shown (:func:`versions` returns them best first) depends
on nothing an attacker can grind:

1. authenticity (:func:`authenticity`): decrypted with a valid signature >
   decrypted with the user's key > decrypted with a bad signature > sealed
   (not readable) > plaintext > a client database record > unparseable.
   A plaintext copy never hides a sealed encrypted one.  (Decryption shows
   that a copy was written for the user's key, not by whom: anyone can
   encrypt to a published key.  Only a valid signature names the author;
   every other version stays listed either way.);
2. the earliest delivery evidence (the receiving server's ``Received``
   stamp): a forger learns a Message-ID only from a delivered message, so
   his copy is delivered later; a version with evidence ranks before one
   without;
3. only in a full tie the content identity decides.  The message is then
   still marked conflicted and every other version is listed beside it,
   so the tie-break chooses what comes first, never what is hidden.

Inside one version every copy says the same thing; the copy stored as the
wire row (its bytes are what ``raw`` and exports give) is the most
authentic, then the first delivered, then the lowest SHA-256 -- a choice
among equal contents, so grinding it gains nothing.

Records from client backups (format other than ``rfc822``) describe a
message as one client saw it (its text after edits, its own reactions),
not a wire copy: two accounts' records of one message legitimately differ.
They never make a conflict and take part only when no mail copy of the
Message-ID exists; then the most authentic record is shown (the backup is
the user's own file, not something a stranger delivered).

Everything here is a pure function of the *set* of copies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from coi_archive.ingest.events import (
    Edit,
    Envelope,
    GroupAvatar,
    GroupDescription,
    GroupRenamed,
    MemberAdded,
    MemberLeft,
    MemberRemoved,
    Post,
    Reaction,
    Unreadable,
)

#: How far before its first delivery a message may claim to be written:
#: Delta Chat sets the outer Date of encrypted mail back by up to a week,
#: and a server may queue mail for days.  Earlier claims are not believed.
EARLIEST_BEFORE_DELIVERY = timedelta(days=7)

_MBOXRD_FROM = re.compile(r"(?m)^>+(From )")
_YEARS = range(1970, 2200)


@dataclass(frozen=True)
class Copy:
    """One stored original of a Message-ID, as the choice sees it."""

    sha256: str
    format: str
    env: Envelope


@dataclass(frozen=True)
class Version:
    """Copies that are one message; ``copies[0]`` is the one stored as the
    wire row (most authentic, then earliest delivered)."""

    identity: str
    copies: tuple[Copy, ...]

    @property
    def best(self) -> Copy:
        return self.copies[0]

    @property
    def tier(self) -> int:
        return authenticity(self.best)

    @property
    def first_delivery(self) -> str | None:
        stamps = [d for d in (_utc(c.env.delivered) for c in self.copies) if d is not None]
        return min(stamps).isoformat() if stamps else None

    @property
    def date(self) -> str | None:
        return effective_date(self.copies)


def authenticity(copy: Copy) -> int:
    """How far a copy's origin is established (higher is better)."""
    env = copy.env
    if env.dialect == "unparseable":
        return 0
    if copy.format != "rfc822":
        return 1
    if env.dialect == "encrypted":
        return 3
    if env.encrypted:  # opened with the user's key
        status = env.signature[0] if env.signature else "unsigned"
        return {"valid": 6, "invalid": 4}.get(status, 5)
    return 2


def identity_keys(env: Envelope) -> tuple[str, ...]:
    """The keys under which copies are the same message (see the module
    docstring): ``c:`` same sender and ciphertext, ``m:`` same content."""
    keys: list[str] = []
    if env.payload_sha256:
        keys.append("c:" + _digest([env.sender, env.payload_sha256]))
    sealed = any(isinstance(e, Unreadable) for e in env.events)
    if not (sealed and keys):
        keys.append("m:" + content_identity(env))
    return tuple(keys)


def content_identity(env: Envelope) -> str:
    """A hash of who wrote the message and what it says, blind to
    transport noise: the author, recipients, subject, threading, chat and
    events, with line ends, trailing blanks, ``>From`` escaping and header
    whitespace normalised.  The date, the delivery stamp, defects and how
    the copy was protected (encryption, signature) are not content."""
    basis = {
        "from": env.sender.lower(),
        "name": _words(env.sender_name),
        "to": sorted(a.lower() for a in env.recipients),
        "subject": _words(env.subject),
        "reply": env.in_reply_to,
        "refs": list(env.references),
        "chat": _plain(env.chat),
        "events": _plain(env.events),
    }
    return _digest(basis)


def versions(copies: Iterable[Copy]) -> list[Version]:
    """The versions of one Message-ID, the one to show first."""
    pool = list(copies)
    wire = [c for c in pool if c.format == "rfc822"]
    if not wire:  # client records: one view each, never a conflict
        return [Version(identity="records", copies=tuple(sorted(pool, key=_copy_rank)))]
    if len(wire) == 1:  # most messages: nothing to compare
        return [Version(identity="single", copies=tuple(wire))]
    groups = _group(wire)
    out = [Version(identity=ident, copies=tuple(sorted(members, key=_copy_rank))) for ident, members in groups.items()]
    return sorted(out, key=_version_rank)


def effective_date(copies: Iterable[Copy]) -> str | None:
    """The date a version is listed at: the date its best copy claims
    (most authentic, then first delivered: a replay cannot lend its date),
    held to the evidence of delivery -- a claim after the first delivery,
    or more than :data:`EARLIEST_BEFORE_DELIVERY` before it, gives way to
    the delivery itself.  Without evidence the claim stands."""
    ranked = sorted(copies, key=_copy_rank)
    claim = next((d for d in (_utc(c.env.date) for c in ranked) if d is not None), None)
    stamps = [d for d in (_utc(c.env.delivered) for c in ranked) if d is not None]
    if not stamps:
        return claim.isoformat() if claim else None
    first = min(stamps)
    if claim is None or claim > first or claim < first - EARLIEST_BEFORE_DELIVERY:
        return first.isoformat()
    return claim.isoformat()


def describe(version: Version, role: str) -> dict[str, Any]:
    """A version as ``show --json`` lists it under ``conflicts`` (the
    sources are added when it is read: provenance can grow without the
    version changing)."""
    env = version.best.env
    return {
        "sender": env.sender,
        "sender_name": env.sender_name,
        "date": version.date,
        "subject": env.subject,
        "text": _text(env),
        "role": role,
        "encrypted": env.encrypted,
        "readable": env.dialect not in ("encrypted", "unparseable"),
        "sha256": version.best.sha256,
        "copies": sorted(c.sha256 for c in version.copies),
    }


# ---------------------------------------------------------------- helpers


def _group(copies: list[Copy]) -> dict[str, list[Copy]]:
    """Copies joined when they share an identity key (union-find)."""
    parent = list(range(len(copies)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    keys = [identity_keys(c.env) for c in copies]
    for i, ks in enumerate(keys):
        for k in ks:
            if k in owner:
                parent[root(i)] = root(owner[k])
            else:
                owner[k] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(copies)):
        groups.setdefault(root(i), []).append(i)
    return {min(k for i in members for k in keys[i]): [copies[i] for i in members] for members in groups.values()}


def _copy_rank(copy: Copy) -> tuple:
    delivered = _utc(copy.env.delivered)
    return (-authenticity(copy), delivered is None, delivered or _EPOCH, copy.sha256)


def _version_rank(version: Version) -> tuple:
    first = _utc(version.first_delivery)
    return (-version.tier, first is None, first or _EPOCH, version.identity)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _utc(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    dt = dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc) if dt.year in _YEARS else None


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


def _text_norm(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _MBOXRD_FROM.sub(r"\1", text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return _text_norm(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__name__, {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}]
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _digest(basis: Any) -> str:
    text = json.dumps(basis, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _text(env: Envelope) -> str:
    """The words a version says, for display and search."""
    for ev in env.events:
        if isinstance(ev, (Post, Edit)):
            return ev.text
        if isinstance(ev, GroupRenamed):
            return ev.new_name
        if isinstance(ev, GroupDescription):
            return ev.text
        if isinstance(ev, (MemberAdded, MemberRemoved, MemberLeft)):
            return ev.member
        if isinstance(ev, GroupAvatar):
            return ev.filename or ""
        if isinstance(ev, Reaction):
            return ev.emoji
    return ""
