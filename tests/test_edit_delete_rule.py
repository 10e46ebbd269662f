"""Edits, deletes and reactions folded as Delta Chat core folds them.

Core's rule (``handle_edit_delete`` in chatmail/core ``src/receive_imf.rs``,
checked against core 2.65 over loopback Postfix + Dovecot): only the author
may edit or delete a message, and a message core shows with a padlock
(decrypted and validly signed) only by a request that has one too.  A
signature the archive could not check ranks between: a plaintext request
cannot change such a message.  A
refused request changes nothing and is kept under ``rejected``.  Where we
deliberately differ (README): core refuses every delete without a padlock,
we apply one to a message without a padlock.

Reactions changed within one second are taken in the order the chat order
uses (date, then the arrival evidence), not by Message-ID.

Part 1 is the rule on folded wires; part 2 the same through ingest, with
real OpenPGP mail (a forged plaintext edit of an encrypted message) and
Maildir delivery times.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from coi_archive.index.fold import Wire, fold_chat
from coi_archive.index.order import NO_ARRIVAL
from coi_archive.ingest.events import Delete, Edit, Envelope, Post, Reaction
from tests.cli_helpers import DC_DEV, Archive, make_maildir

GRACE = "grace@example.org"
FRANK = "frank@example.org"
MALLORY = "mallory@example.org"
VALID = ("valid", "A" * 40)
UNCHECKED = ("unknown", "A" * 40)


def _wire(
    mid: str, sender: str, events: tuple, *, minute: int = 0, signature: tuple[str, str] | None = None, at: int = 0
) -> Wire:
    """A wire message; ``signature`` set makes it decrypted with that verdict."""
    env = Envelope(
        message_id=mid,
        sha256=mid,
        dialect="deltachat",
        date=f"2026-11-30T10:{minute:02d}:00+00:00",
        sender=sender,
        recipients=(FRANK if sender != FRANK else GRACE,),
        events=events,
        encrypted=signature is not None,
        signature=signature,
    )
    return Wire(message_id=mid, role="post", env=env, arrival=(0, at, "", 0) if at else NO_ARRIVAL)


def _fold(original: Wire, *controls: Wire) -> dict[str, Any]:
    (msg,) = fold_chat("dm-test", [original], list(controls)).messages
    return msg


def _original(signature: tuple[str, str] | None = None) -> Wire:
    return _wire("orig@x", GRACE, (Post(text="the code is 4711"),), signature=signature)


def _edit(sender: str = GRACE, signature: tuple[str, str] | None = None, text: str = "the code is 0000") -> Wire:
    return _wire("edit@x", sender, (Edit(target="orig@x", text=text),), minute=1, signature=signature)


def _delete(sender: str = GRACE, signature: tuple[str, str] | None = None) -> Wire:
    return _wire("del@x", sender, (Delete(target="orig@x"),), minute=2, signature=signature)


# ==========================================================================
# Part 1: the rule
# ==========================================================================


@pytest.mark.parametrize(
    "original, edit",
    [
        (None, None),  # plaintext edits plaintext
        (VALID, VALID),  # padlock edits padlock
        (None, VALID),
        (("unsigned", ""), None),  # core shows no padlock on encrypted mail without a good signature
        (("invalid", "B" * 40), None),
        (UNCHECKED, UNCHECKED),  # signatures the archive could not check: as well protected as each other
        (UNCHECKED, VALID),
    ],
    ids=["plain-plain", "padlock-padlock", "plain-padlock", "unsigned-plain", "invalid-plain", "unchecked", "up"],
)
def test_the_author_edits_unless_a_padlock_would_be_lost(original, edit):
    msg = _fold(_original(original), _edit(signature=edit))
    assert msg["text"] == "the code is 0000" and msg["edited"] is True
    assert [r["text"] for r in msg["revisions"]] == ["the code is 4711", "the code is 0000"]
    assert "rejected" not in msg


@pytest.mark.parametrize(
    "original, edit, reason",
    [
        (VALID, None, "not encrypted"),
        (VALID, UNCHECKED, "not signed"),  # anyone can encrypt to a published key: only a signature names the author
        (VALID, ("invalid", "B" * 40), "not signed"),
        (VALID, ("unsigned", ""), "not signed"),
        (UNCHECKED, None, "not encrypted"),  # core, holding the sender's key, most likely showed a padlock
    ],
)
def test_an_edit_less_protected_than_the_message_cannot_change_it(original, edit, reason):
    msg = _fold(_original(original), _edit(signature=edit))
    assert msg["text"] == "the code is 4711" and msg["edited"] is False
    assert len(msg["revisions"]) == 1
    assert msg["rejected"] == [
        {
            "action": "edit",
            "message_id": "edit@x",
            "sender": GRACE,
            "date": "2026-11-30T10:01:00+00:00",
            "text": "the code is 0000",
            "reason": reason,
        }
    ]


def test_only_the_author_edits_or_deletes_and_the_attempt_is_kept():
    msg = _fold(_original(), _edit(sender=MALLORY), _delete(sender=MALLORY))
    assert msg["text"] == "the code is 4711" and not msg["edited"] and not msg["deleted"]
    assert [(r["action"], r["sender"], r["reason"]) for r in msg["rejected"]] == [
        ("edit", MALLORY, "not the author"),
        ("delete", MALLORY, "not the author"),
    ]


def test_a_delete_without_a_padlock_cannot_delete_a_message_with_one():
    msg = _fold(_original(VALID), _delete())
    assert msg["deleted"] is False and msg["text"] == "the code is 4711"
    assert [(r["action"], r["text"], r["reason"]) for r in msg["rejected"]] == [("delete", "", "not encrypted")]
    assert _fold(_original(VALID), _delete(signature=VALID))["deleted"] is True


def test_a_plaintext_delete_of_a_plaintext_message_is_applied_deliberately():
    """Core refuses every delete without a padlock; the archive applies one
    to a message without a padlock (the deleted text stays in history)."""
    msg = _fold(_original(), _edit(), _delete())
    assert msg["deleted"] is True and msg["text"] == ""
    assert [r["text"] for r in msg["revisions"]] == ["the code is 4711", "the code is 0000"]


def _reaction(mid: str, emoji: str, at: int) -> Wire:
    return _wire(mid, FRANK, (Reaction(target="orig@x", emoji=emoji),), minute=5, at=at)


def test_a_reaction_changed_within_one_second_ends_as_the_later_arrival_in_any_order():
    # Message-ID order says 👍 last; the delivery times say ❤️ came later
    first, second = _reaction("r-b@x", "👍", at=100), _reaction("r-a@x", "❤️", at=200)
    for controls in itertools.permutations([first, second]):
        assert _fold(_original(), *controls)["reactions"] == {FRANK: "❤️"}
    retracted = _reaction("r-0@x", "", at=300)
    assert _fold(_original(), retracted, second, first)["reactions"] == {}


# ==========================================================================
# Part 2: through ingest
# ==========================================================================


def _plain(mid: str, minute: int, body: str, hidden: str = "", frm: str = GRACE) -> bytes:
    """A plaintext Delta Chat mail; ``hidden`` headers go in the first part
    of a ``multipart/mixed``, where core reads ``Chat-Edit``/``Chat-Delete``."""
    head = (
        f"From: <{frm}>\r\nTo: <{FRANK}>\r\nSubject: Message from Grace\r\n"
        f"Date: Mon, 30 Nov 2026 10:{minute:02d}:00 +0000\r\nMessage-ID: <{mid}>\r\n"
        "Chat-Version: 1.0\r\nMIME-Version: 1.0\r\n"
    )
    if not hidden:
        return (head + f'Content-Type: text/plain; charset="utf-8"\r\n\r\n{body}\r\n').encode()
    part = f'--XX\r\n{hidden}Content-Type: text/plain; charset="utf-8"\r\n\r\n{body}\r\n--XX--\r\n'
    return (head + 'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n' + part).encode()


def _sealed(mid: str, minute: int, inner_headers: str, body: str, to: Any, signer: Any) -> bytes:
    """An encrypted, signed Delta Chat mail from Grace (headers protected inside)."""
    import pysequoia

    inner = (
        f'Content-Type: text/plain; charset="utf-8"; protected-headers="v1"\r\nFrom: <{GRACE}>\r\n'
        f"To: <{FRANK}>\r\nMessage-ID: <{mid}>\r\nChat-Version: 1.0\r\n{inner_headers}\r\n{body}\r\n"
    )
    armored = pysequoia.encrypt(inner.encode(), recipients=to, signer=signer)
    armored = armored.decode() if isinstance(armored, bytes) else str(armored)
    return (
        f"From: <{GRACE}>\r\nTo: <{FRANK}>\r\nSubject: [...]\r\nDate: Mon, 30 Nov 2026 10:{minute:02d}:00 +0000\r\n"
        f"Message-ID: <{mid}>\r\nChat-Version: 1.0\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="E"\r\n\r\n'
        "--E\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
        f'--E\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n{armored}\r\n--E--\r\n'
    ).encode()


def _corpus_key(user: str) -> Path:
    """A Delta Chat key of the corpus (it signs with its primary key, as
    core's keys do: the verifier finds the signer by that fingerprint)."""
    return next((DC_DEV / "keys" / user).glob("private-key-*.asc"))


def test_a_forged_plaintext_edit_cannot_rewrite_an_encrypted_message(tmp_path: Path) -> None:
    ps = pytest.importorskip("pysequoia")
    grace, frank = (ps.Tsk.from_file(str(_corpus_key(u))) for u in ("grace", "frank"))
    to, sign = [frank.extract_certificate()], grace.signer()
    mails = {
        "1.eml": _sealed("code@x", 1, "", "The code is 4711.", to, sign),
        "2.eml": _plain("forged-edit@x", 2, "\u270f\ufe0fThe code is 0000.", "Chat-Edit: <code@x>\r\n"),
        "3.eml": _plain("forged-del@x", 3, "\U0001f6ae", "Chat-Delete: <code@x>\r\n"),
        "4.eml": _sealed("note@x", 4, "", "Bring a torch.", to, sign),
        "5.eml": _sealed("real-edit@x", 5, "Chat-Edit: <note@x>\r\n", "\u270f\ufe0fBring two torches.", to, sign),
    }
    archive = Archive(tmp_path / "archive", inprocess=True)
    keys = [x for u in ("frank", "grace") for x in ("--key", _corpus_key(u))]
    archive.ingest(make_maildir(tmp_path / "Maildir", mails), *keys)
    code = archive.message("code@x")
    assert code["signature"]["status"] == "valid"
    assert (code["text"], code["edited"], code["deleted"]) == ("The code is 4711.", False, False)
    assert [(r["message_id"], r["action"], r["text"], r["reason"]) for r in code["rejected"]] == [
        ("forged-edit@x", "edit", "The code is 0000.", "not encrypted"),
        ("forged-del@x", "delete", "", "not encrypted"),
    ]
    note = archive.message("note@x")
    assert (note["text"], note["edited"]) == ("Bring two torches.", True) and "rejected" not in note
    # the requests themselves are never listed, applied or not
    assert not {"forged-edit@x", "forged-del@x", "real-edit@x"} & set(archive.messages)


def _reaction_mail(mid: str, emoji: str) -> bytes:
    return (
        f"From: <{FRANK}>\r\nTo: <{GRACE}>\r\nSubject: Message from Frank\r\n"
        f"Date: Mon, 30 Nov 2026 10:05:00 +0000\r\nMessage-ID: <{mid}>\r\nIn-Reply-To: <orig@x>\r\n"
        "Chat-Version: 1.0\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: text/plain; charset="utf-8"\r\nContent-Disposition: reaction\r\n\r\n{emoji}\r\n'
    ).encode()


def test_a_reaction_changed_within_one_second_follows_the_delivery_times(tmp_path: Path) -> None:
    mails = {  # Dovecot's names: delivery second, then M and the microseconds
        "1796032800.M100P1.mx": _plain("orig@x", 0, "Shall we meet at 8?"),
        "1796033100.M200P1.mx": _reaction_mail("r-b@x", "👍"),
        "1796033100.M900P1.mx": _reaction_mail("r-a@x", "❤️"),
    }
    archive = Archive(tmp_path / "archive", inprocess=True)
    archive.ingest(make_maildir(tmp_path / "Maildir", mails))
    assert archive.message("orig@x")["reactions"] == {FRANK: "❤️"}


def test_a_later_copy_of_a_reaction_with_earlier_evidence_reorders_whichever_mailbox_came_first(
    tmp_path: Path,
) -> None:
    # X delivered ❤️ first, so 👍 wins there; Y holds a copy of 👍 delivered
    # before that: the minimum over all copies makes ❤️ the later one
    x = {
        "1796032800.M100P1.mx": _plain("orig@x", 0, "Shall we meet at 8?"),
        "1796033100.M200P1.mx": _reaction_mail("r-a@x", "❤️"),
        "1796033100.M900P1.mx": _reaction_mail("r-b@x", "👍"),
    }
    y = {"1796033100.M100P1.mx": _reaction_mail("r-b@x", "👍")}
    x_dir, y_dir = make_maildir(tmp_path / "x", x), make_maildir(tmp_path / "y", y)
    alone = Archive(tmp_path / "x-only", inprocess=True)
    alone.ingest(x_dir)
    assert alone.message("orig@x")["reactions"] == {FRANK: "👍"}
    for name, sources in (("xy", (x_dir, y_dir)), ("yx", (y_dir, x_dir))):
        archive = Archive(tmp_path / name, inprocess=True)
        for source in sources:  # separate runs: the second finds the reaction stored
            archive.ingest(source)
        assert archive.message("orig@x")["reactions"] == {FRANK: "❤️"}, name
