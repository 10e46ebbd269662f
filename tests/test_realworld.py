"""Real-world MIME and protocol details read as Delta Chat core reads them
(issue 10, item 3): chatmail/core ``src/mimeparser.rs``,
``src/receive_imf.rs``, ``src/reaction.rs`` and ``spec.md``.

Every message is written here by hand, in the header shapes Delta Chat
core 2.x sends (see the ``tests/data/deltachat-dev`` Maildirs) or the
shapes other mail software sends, and the tests assert what
``show --json`` and ``contacts --json`` say about them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import Archive, make_maildir

ALICE = "alice@example.org"
BOB = "bob@example.org"
CAROL = "carol@example.net"


def _dc(
    mid: str,
    minute: int,
    body: str,
    *,
    extra: str = "",
    to: str = f"<{BOB}>",
    frm: str = f"Alice <{ALICE}>",
    content_type: str = 'text/plain; charset="utf-8"',
    chat_version: bool = True,
) -> bytes:
    """A Delta Chat message as core writes it (unencrypted, no Autocrypt key)."""
    head = (
        f"From: {frm}\r\nTo: {to}\r\nSubject: Message from Alice\r\n"
        f"Date: Mon, 02 Nov 2026 10:{minute:02d}:00 +0000\r\nMessage-ID: <{mid}>\r\n"
        + ("Chat-Version: 1.0\r\n" if chat_version else "")
        + extra
        + f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n"
    )
    return (head + body).encode()


def _archive(tmp_path: Path, messages: dict[str, bytes]) -> Archive:
    """An archive of one Maildir holding ``messages`` (file name: bytes)."""
    maildir = make_maildir(tmp_path / "Maildir", messages)
    archive = Archive(tmp_path / "archive", inprocess=True)
    archive.ingest(maildir)
    return archive


def _texts(archive: Archive, chat: dict) -> list[str]:
    return [m.get("text") or "" for m in archive.show(chat["id"])["messages"]]


# -- 1. chat headers in the first MIME part ------------------------------------


def test_avatar_header_hidden_in_first_part_sets_the_avatar(tmp_path: Path) -> None:
    """Core hides ``Chat-User-Avatar`` in the first part of a
    ``multipart/mixed`` so other clients do not show it, and reads it there."""
    body = (
        "--XX\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Chat-User-Avatar: base64:iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4\r\n"
        " 2mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\r\n"
        "\r\nhello with my new face\r\n--XX--\r\n"
    )
    archive = _archive(
        tmp_path, {"1.eml": _dc("av1@example.org", 1, body, content_type='multipart/mixed; boundary="XX"')}
    )
    alice = next(c for c in archive.contacts if c["address"] == ALICE)
    assert [h["fields"] for h in alice["history"]] == [{"avatar": "set"}]
    assert archive.message("av1@example.org")["text"] == "hello with my new face"


# -- 2. Chat-Edit hidden in the first MIME part ------------------------------------


def _edit_pair(tmp_path: Path, hidden: bool) -> Archive:
    original = _dc("orig@example.org", 1, "see you at 5\r\n")
    edit_body = "\u270f\ufe0fsee you at 6\r\n"
    if hidden:
        edit = _dc(
            "edit@example.org",
            2,
            "--XX\r\nContent-Type: text/plain; charset=utf-8\r\nChat-Edit: <orig@example.org>\r\n\r\n"
            + edit_body
            + "--XX--\r\n",
            content_type='multipart/mixed; boundary="XX"',
        )
    else:
        edit = _dc("edit@example.org", 2, edit_body, extra="Chat-Edit: <orig@example.org>\r\n")
    return _archive(tmp_path, {"1.eml": original, "2.eml": edit})


def test_chat_edit_hidden_in_first_part_is_applied(tmp_path: Path) -> None:
    """Core 2.x sends ``Chat-Edit`` of an unencrypted message in the first
    part of a ``multipart/mixed`` (hidden headers) and reads it there."""
    archive = _edit_pair(tmp_path, hidden=True)
    assert archive.message("orig@example.org")["text"] == "see you at 6"
    assert "edit@example.org" not in archive.messages


def test_chat_delete_naming_several_messages_deletes_each(tmp_path: Path) -> None:
    """Core's "delete for everyone" of a selection sends one message whose
    ``Chat-Delete`` lists every Message-ID; each of them is deleted (the
    text stays in the history), one not listed is untouched."""
    messages = {f"{n}.eml": _dc(f"m{n}@example.org", n, f"message {n}\r\n") for n in (1, 2, 3)}
    messages["4.eml"] = _dc(
        "del@example.org",
        4,
        "\U0001f5d1\r\n",
        extra="Chat-Delete: <m1@example.org> <m3@example.org>\r\n",
    )
    archive = _archive(tmp_path, messages)
    deleted = {mid: archive.message(f"{mid}@example.org")["deleted"] for mid in ("m1", "m2", "m3")}
    assert deleted == {"m1": True, "m2": False, "m3": True}
    assert archive.message("m3@example.org")["revisions"][0]["text"] == "message 3"
    assert "del@example.org" not in archive.messages


# -- 3. mailing-list names ------------------------------------------------------


def _list_post(mid: str, minute: int, list_id: str, frm: str) -> bytes:
    return (
        f"From: {frm}\r\nTo: <subscribers@lists.example.com>\r\nSubject: News\r\n"
        f"Date: Mon, 02 Nov 2026 10:{minute:02d}:00 +0000\r\nMessage-ID: <{mid}>\r\n"
        f"List-Id: {list_id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "This month in the club.\r\n"
    ).encode()


def test_mailing_list_names_as_core_derives_them(tmp_path: Path) -> None:
    """The List-Id phrase; the From name of a Mailchimp list (its phrase is
    a number) and of a nameless notification list; else the list id without
    a 32-hex-digit hash prefix; a ``Sender`` with ``Precedence: list``
    (Majordomo) makes a list too."""
    archive = _archive(
        tmp_path,
        {
            "1.eml": _list_post(
                "l1@example.com", 1, '"Garden Club" <garden.lists.example.com>', "Helga <helga@example.com>"
            ),
            "2.eml": _list_post(
                "l2@example.com",
                2,
                "4c0b1e0a2b9f <4c0b1e0a2b9f.100.list-id.mcsv.net>",
                "Bike Shop Weekly <shop@bikes.example>",
            ),
            "3.eml": _list_post("l3@example.com", 3, "<parcel.xt.local>", "Parcel Service <noreply@parcel.example>"),
            "4.eml": _list_post(
                "l4@example.com", 4, "<51231231231231231231231232869f58.xing.com>", "Someone <someone@xing.example>"
            ),
            "5.eml": (
                b"From: Ann <ann@example.org>\r\nSender: owner-birds@majordomo.example\r\n"
                b"Precedence: bulk\r\nTo: <birds@majordomo.example>\r\nSubject: Owls\r\n"
                b"Date: Mon, 02 Nov 2026 10:05:00 +0000\r\nMessage-ID: <l5@example.com>\r\n\r\nhoot\r\n"
            ),
        },
    )
    names = {
        archive.chat_of(mid)["name"]
        for mid in ("l1@example.com", "l2@example.com", "l3@example.com", "l4@example.com", "l5@example.com")
    }
    assert names == {"Garden Club", "Bike Shop Weekly", "Parcel Service", "xing.com", "owner-birds@majordomo.example"}
    assert {archive.chat_of(mid)["kind"] for mid in ("l1@example.com", "l5@example.com")} == {"mailinglist"}


def test_delta_chat_message_with_list_id_goes_to_the_list(tmp_path: Path) -> None:
    """Core checks the list header before the group id: a Delta Chat user's
    post relayed by a mailing list belongs to the list, not a group."""
    archive = _archive(
        tmp_path,
        {
            "1.eml": _list_post(
                "l1@example.com", 1, "Garden Club <garden.lists.example.com>", "Helga <helga@example.com>"
            ),
            "2.eml": _dc(
                "dc-list@example.org",
                2,
                "count me in\r\n",
                to="<garden@lists.example.com>",
                extra="List-Id: Garden Club <garden.lists.example.com>\r\n"
                "Chat-Group-ID: WkfXeF1bZOCmXWlq3cTtAe\r\nChat-Group-Name: Garden\r\n",
            ),
        },
    )
    assert archive.chat_of("dc-list@example.org")["id"] == archive.chat_of("l1@example.com")["id"]
    assert archive.chat_of("dc-list@example.org")["kind"] == "mailinglist"


# -- 4. reactions and read receipts from other software -----------------------------


def test_reaction_without_chat_version_is_a_reaction(tmp_path: Path) -> None:
    """RFC 9078 needs no ``Chat-Version``: core applies a reaction from any
    mail client (a part with ``Content-Disposition: reaction``)."""
    reaction = (
        f"From: Bob <{BOB}>\r\nTo: <{ALICE}>\r\nSubject: Re: Message from Alice\r\n"
        "Date: Mon, 02 Nov 2026 10:03:00 +0000\r\nMessage-ID: <react@example.org>\r\n"
        "In-Reply-To: <orig@example.org>\r\nReferences: <orig@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Disposition: reaction\r\n\r\n"
        "\U0001f44d\r\n"
    ).encode()
    archive = _archive(tmp_path, {"1.eml": _dc("orig@example.org", 1, "lunch?\r\n"), "2.eml": reaction})
    assert archive.message("orig@example.org")["reactions"] == {BOB: "\U0001f44d"}
    assert "react@example.org" not in archive.messages


def _mdn(mid: str, minute: int, fields: str, *, wrap: bool = False, in_reply_to: str = "") -> bytes:
    """A read receipt from Bob (RFC 8098), optionally inside ``multipart/parallel``."""
    report = (
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe message was displayed.\r\n"
        "--R\r\nContent-Type: message/disposition-notification\r\n\r\n"
        f"Reporting-UA: Microsoft Exchange Server\r\nFinal-Recipient: rfc822;{BOB}\r\n{fields}\r\n--R--\r\n"
    )
    if wrap:
        report = 'Content-Type: multipart/parallel; boundary="P"\r\n\r\n--P\r\n' + report + "--P--\r\n"
    return (
        f"From: Bob <{BOB}>\r\nTo: <{ALICE}>\r\nSubject: Read: Message from Alice\r\n"
        f"Date: Mon, 02 Nov 2026 10:{minute:02d}:00 +0000\r\nMessage-ID: <{mid}>\r\n"
        f"{in_reply_to}MIME-Version: 1.0\r\n" + report
    ).encode()


def test_read_receipts_in_their_real_world_shapes(tmp_path: Path) -> None:
    """Inside ``multipart/parallel``; with ``Additional-Message-IDs``;
    without ``Original-Message-ID`` (Exchange puts the id in In-Reply-To)."""
    archive = _archive(
        tmp_path,
        {
            **{f"m{i}.eml": _dc(f"m{i}@example.org", i, f"message {i}\r\n") for i in range(1, 6)},
            "r1.eml": _mdn(
                "r1@example.org",
                10,
                "Original-Message-ID: <m1@example.org>\r\n"
                "Disposition: manual-action/MDN-sent-automatically; displayed\r\n",
                wrap=True,
            ),
            "r2.eml": _mdn(
                "r2@example.org",
                11,
                "Original-Message-ID: <m2@example.org>\r\n"
                "Additional-Message-IDs: <m3@example.org> <m4@example.org>\r\n"
                "Disposition: manual-action/MDN-sent-automatically; displayed\r\n",
            ),
            "r3.eml": _mdn(
                "r3@example.org",
                12,
                "Disposition: automatic-action/MDN-sent-automatically; displayed\r\n",
                in_reply_to="In-Reply-To: <m5@example.org>\r\n",
            ),
        },
    )
    for i in range(1, 6):
        readers = archive.message(f"m{i}@example.org")["read_by"]
        assert [r["address"] if isinstance(r, dict) else r for r in readers] == [BOB], i
    assert not {"r1@example.org", "r2@example.org", "r3@example.org"} & set(archive.messages)


# -- 5. group changes without a group id ------------------------------------------


def test_group_change_without_group_id_makes_no_phantom_group(tmp_path: Path) -> None:
    """Core applies member changes only to a group it knows by id: a
    ``Chat-Group-Member-Removed`` without ``Chat-Group-ID`` (an old or
    broken client) is an ordinary message in the chat it answers."""
    to = f"<{BOB}>, <{CAROL}>"
    group = "Chat-Group-ID: WkfXeF1bZOCmXWlq3cTtAe\r\nChat-Group-Name: Allotment\r\n"
    archive = _archive(
        tmp_path,
        {
            "1.eml": _dc("g1@example.org", 1, "hello group\r\n", to=to, extra=group),
            "2.eml": _dc(
                "g2@example.org",
                2,
                f"Member {CAROL} removed.\r\n",
                to=to,
                extra=f"In-Reply-To: <g1@example.org>\r\nReferences: <g1@example.org>\r\n"
                f"Chat-Group-Name: Allotment\r\nChat-Group-Member-Removed: {CAROL}\r\n",
            ),
        },
    )
    assert [c["kind"] for c in archive.chats] == ["group"]
    group_chat = archive.chat_of("g1@example.org")
    assert archive.chat_of("g2@example.org")["id"] == group_chat["id"]
    assert CAROL in group_chat["members"]
    assert not archive.message("g2@example.org").get("system")


# -- 9. COI details -----------------------------------------------------------------


def _coi(mid: str, minute: int, frm: str, to: str, body: str, extra: str = "") -> bytes:
    """A COI group message as the COI draft writes it (``chat$group.<id>.`` ids)."""
    return (
        f"From: {frm}\r\nTo: {to}\r\nSubject: Crew Night Out\r\n"
        f"Date: Fri, 06 Dec 2019 12:{minute:02d}:00 +0100\r\nMessage-ID: <{mid}>\r\n"
        f"Chat-Version: 1.0\r\n{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" + body
    ).encode()


def test_coi_groupleft_is_a_system_line_keeping_the_farewell(tmp_path: Path) -> None:
    gid = "chat$group.1234abcd4321"
    archive = _archive(
        tmp_path,
        {
            "1.eml": _coi(f"{gid}.m1@example.org", 1, f"Alice <{ALICE}>", f"{BOB}; {CAROL}", "Friday at 8?\r\n"),
            "2.eml": _coi(
                f"{gid}.m2@example.org",
                2,
                f"Bob Barr <{BOB}>",
                f"{ALICE}; {CAROL}",
                "hi guys, I think you can now roll this project on your own! Bye!\r\n",
                extra=f"Chat-Content: groupleft\r\nIn-Reply-To: <{gid}.m1@example.org>\r\n"
                f"References: <{gid}.m1@example.org>\r\n",
            ),
        },
    )
    left = archive.message(f"{gid}.m2@example.org")
    farewell = "hi guys, I think you can now roll this project on your own! Bye!"
    assert left["kind"] == "system"
    assert left["system"]["action"] == "member-left" and left["system"]["member"] == BOB
    assert left["system"]["value"] == farewell
    assert left["text"].startswith("Bob Barr left the group") and left["text"].endswith(farewell)
    assert BOB not in archive.chat_of(f"{gid}.m1@example.org")["members"]


def _vcard_message(mid: str, minute: int, card: str) -> bytes:
    """A COI message sharing a contact: a ``Chat-Content: contact`` vCard part."""
    return _coi(mid, minute, f"Alice <{ALICE}>", BOB, "").replace(
        b"Content-Type: text/plain; charset=UTF-8\r\n\r\n",
        (
            'Content-Type: multipart/mixed; boundary="V"\r\n\r\n--V\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n'
            "Here is the card.\r\n--V\r\nContent-Type: text/vcard; charset=UTF-8\r\nChat-Content: contact\r\n"
            'Content-Disposition: attachment; filename="card.vcf"\r\n\r\n' + card + "\r\n--V--\r\n"
        ).encode(),
    )


def test_vcard_with_several_emails_belongs_to_the_preferred_one(tmp_path: Path) -> None:
    """``PREF=1`` (vCard 4) or ``TYPE=pref`` (vCard 3) picks the address;
    a card about the sender belongs to the sender's address; the other
    addresses are aliases."""
    v4 = (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Dana Diaz\r\nEMAIL;TYPE=work:dana@work.example\r\n"
        "EMAIL;PREF=1:dana@home.example\r\nEND:VCARD"
    )
    v3 = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Evan Eck\r\nEMAIL;TYPE=INTERNET:evan@old.example\r\n"
        "EMAIL;TYPE=INTERNET,pref:evan@new.example\r\nEND:VCARD"
    )
    own = f"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Alice\r\nEMAIL:alice@old.example\r\nEMAIL:{ALICE}\r\nEND:VCARD"
    archive = _archive(
        tmp_path,
        {
            "1.eml": _vcard_message("chat$v1.x@example.org", 1, v4),
            "2.eml": _vcard_message("chat$v2.x@example.org", 2, v3),
            "3.eml": _vcard_message("chat$v3.x@example.org", 3, own),
        },
    )
    assert archive.message("chat$v1.x@example.org")["contact"]["address"] == "dana@home.example"
    assert archive.message("chat$v2.x@example.org")["contact"]["address"] == "evan@new.example"
    assert archive.message("chat$v3.x@example.org")["contact"]["address"] == ALICE


def test_vcard_aliases_are_the_other_addresses() -> None:
    from coi_archive.ingest.dialects.common import vcard_contacts

    card = (
        b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Dana Diaz\r\nEMAIL;TYPE=work:dana@work.example\r\n"
        b"EMAIL;PREF=1:dana@home.example\r\nEND:VCARD\r\n"
    )
    (dana,) = vcard_contacts(card)
    assert dana.address == "dana@home.example"
    assert ("email", "dana@work.example") in dana.fields


# -- 6. text as its reader sees it -------------------------------------------------


def _thunderbird(mid: str, minute: int, content_type: str, body: str) -> bytes:
    return (
        f"From: Alice <{ALICE}>\r\nTo: Bob <{BOB}>\r\nSubject: Allotment\r\n"
        f"Date: Mon, 02 Nov 2026 10:{minute:02d}:00 +0000\r\nMessage-ID: <{mid}>\r\n"
        "User-Agent: Mozilla Thunderbird\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{body}"
    ).encode()


def test_format_flowed_is_unwrapped(tmp_path: Path) -> None:
    """RFC 3676: a line ending in a space goes on; ``delsp=yes`` drops it;
    a space-stuffed line loses its first space."""
    archive = _archive(
        tmp_path,
        {
            "1.eml": _thunderbird(
                "f1@example.org",
                1,
                "text/plain; charset=UTF-8; format=flowed",
                "The shed key is under the blue pot next to \r\nthe rain barrel.\r\n From now on we lock it.\r\n",
            ),
            "2.eml": _thunderbird(
                "f2@example.org",
                2,
                "text/plain; charset=UTF-8; format=flowed; delsp=yes",
                "Anmelde \r\nschluss ist Freitag.\r\n",
            ),
        },
    )
    assert archive.message("f1@example.org")["text"] == (
        "The shed key is under the blue pot next to the rain barrel.\nFrom now on we lock it."
    )
    assert archive.message("f2@example.org")["text"] == "Anmeldeschluss ist Freitag."


def test_header_protection_legacy_display_block_is_not_text(tmp_path: Path) -> None:
    """RFC 9788: a part with ``hp-legacy-display=1`` starts with copies of
    the protected headers for old clients; core removes them."""
    archive = _archive(
        tmp_path,
        {
            "1.eml": _thunderbird(
                "hp1@example.org",
                1,
                'text/plain; charset=UTF-8; hp-legacy-display="1"',
                "Subject: Allotment\r\n\r\nWater the beans on Tuesday, please.\r\n",
            ),
        },
    )
    assert archive.message("hp1@example.org")["text"] == "Water the beans on Tuesday, please."


def test_list_footer_sent_as_a_separate_text_part_is_not_text(tmp_path: Path) -> None:
    """Mailman adds its footer as a second text part when the post is not
    plain text only; core drops it (we keep it, folded, for search)."""
    post = (
        b"From: Helga <helga@example.com>\r\nTo: <garden@lists.example.com>\r\nSubject: [Garden] Seeds\r\n"
        b"Date: Mon, 02 Nov 2026 10:01:00 +0000\r\nMessage-ID: <lf1@example.com>\r\n"
        b"List-Id: Garden Club <garden.lists.example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="M"\r\n\r\n'
        b"--M\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWho wants tomato seeds?\r\n"
        b"--M\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Disposition: inline\r\n\r\n"
        b"_______________________________________________\r\nGarden mailing list\r\n"
        b"https://lists.example.com/mailman/listinfo/garden\r\n--M--\r\n"
    )
    archive = _archive(tmp_path, {"1.eml": post})
    assert archive.message("lf1@example.com")["text"] == "Who wants tomato seeds?"


# -- 8. attachments as core reads them ----------------------------------------------


def test_octet_stream_photo_and_nameless_calendar(tmp_path: Path) -> None:
    """A photo sent as ``application/octet-stream`` is a photo (its name
    says so); a ``text/calendar`` alternative without a name is
    ``calendar.ics``."""
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    photo = (
        f"From: Alice <{ALICE}>\r\nTo: <{BOB}>\r\nSubject: Beans\r\nDate: Mon, 02 Nov 2026 10:01:00 +0000\r\n"
        "Message-ID: <p1@example.org>\r\nChat-Version: 1.0\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nlook\r\n"
        '--B\r\nContent-Type: application/octet-stream; name="beans.jpg"\r\n'
        'Content-Disposition: attachment; filename="beans.jpg"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        f"{png}\r\n--B--\r\n"
    ).encode()
    invite = (
        f"From: Carol <{CAROL}>\r\nTo: <{ALICE}>\r\nSubject: Invitation: Harvest\r\n"
        "Date: Mon, 02 Nov 2026 10:02:00 +0000\r\nMessage-ID: <cal1@example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="A"\r\n\r\n'
        "--A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHarvest on Saturday\r\n"
        "--A\r\nContent-Type: text/calendar; charset=utf-8; method=REQUEST\r\n\r\n"
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Harvest\r\n"
        "DTSTART:20261107T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n--A--\r\n"
    ).encode()
    archive = _archive(tmp_path, {"1.eml": photo, "2.eml": invite})
    photo_msg = archive.message("p1@example.org")
    assert photo_msg["kind"] == "image"
    assert [(a["filename"], a["mime"]) for a in photo_msg["attachments"]] == [("beans.jpg", "image/jpeg")]
    assert [a["filename"] for a in archive.message("cal1@example.net")["attachments"]] == ["calendar.ics"]


# -- 7. signed, then encrypted (Thunderbird) ----------------------------------------


def test_signed_then_encrypted_mail_reads_its_protected_headers(tmp_path: Path) -> None:
    """Thunderbird signs, then encrypts: inside the encryption is a
    ``multipart/signed`` whose first part carries the protected headers
    (the outer Subject is ``...``).  The inner Subject is the truth, the
    signature part is no attachment, and the message is reported signed."""
    ps = pytest.importorskip("pysequoia")
    key = ps.Tsk.generate(f"Bob <{BOB}>")
    (tmp_path / "bob.asc").write_text(str(key))
    inner = (
        'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; '
        'boundary="S"\r\n\r\n'
        '--S\r\nContent-Type: multipart/mixed; boundary="M"; protected-headers="v1"\r\n'
        f"From: Alice <{ALICE}>\r\nTo: Bob <{BOB}>\r\nSubject: Shed key code\r\n"
        "Message-ID: <tb1@example.org>\r\n\r\n"
        "--M\r\nContent-Type: text/plain; charset=UTF-8; format=flowed\r\n\r\nThe code is 1234.\r\n--M--\r\n"
        '--S\r\nContent-Type: application/pgp-signature; name="OpenPGP_signature.asc"\r\n'
        'Content-Disposition: attachment; filename="OpenPGP_signature.asc"\r\n\r\n'
        "-----BEGIN PGP SIGNATURE-----\r\n\r\nwnsEARYIACMWIQQ=\r\n-----END PGP SIGNATURE-----\r\n--S--\r\n"
    )
    armored = ps.encrypt(inner.encode(), recipients=[key.extract_certificate()])
    armored = armored.decode() if isinstance(armored, bytes) else str(armored)
    outer = (
        f"From: Alice <{ALICE}>\r\nTo: Bob <{BOB}>\r\nSubject: ...\r\n"
        "Date: Mon, 02 Nov 2026 10:01:00 +0000\r\nMessage-ID: <tb1@example.org>\r\n"
        "User-Agent: Mozilla Thunderbird\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="E"\r\n\r\n'
        "--E\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
        '--E\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n'
        f"{armored}\r\n--E--\r\n"
    )
    maildir = make_maildir(tmp_path / "Maildir", {"1.eml": outer.encode()})
    archive = Archive(tmp_path / "archive", inprocess=True)
    archive.ingest(maildir, "--key", tmp_path / "bob.asc")
    msg = archive.message("tb1@example.org")
    assert msg["text"] == "The code is 1234."
    assert archive.chat_of("tb1@example.org")["name"] == "Shed key code"
    # the detached signature is no attachment (core reads only the signed part); that it is signed is a fact
    assert msg["attachments"] == []
    assert msg["signature"] == {"status": "unknown", "signer": None}  # no signature packet in that armour
    found = archive.run("search", "has:signature", "--json", check=False).json()
    assert "tb1@example.org" in {h["message_id"] for h in found}


def test_quote_of_an_html_only_reply_is_split_off(tmp_path: Path) -> None:
    """Gmail's HTML-only reply: the quote (``blockquote`` inside the
    ``gmail_quote`` block) is the quote, not the text."""
    html = (
        '<div dir="ltr">Yes, Saturday works.</div><br><div class="gmail_quote"><div dir="ltr" '
        'class="gmail_attr">On Mon, 2 Nov 2026 at 10:00, Alice &lt;alice@example.org&gt; wrote:<br></div>'
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">Harvest on Saturday?<br>'
        "Bring gloves.</blockquote></div>"
    )
    reply = (
        f"From: Carol <{CAROL}>\r\nTo: Alice <{ALICE}>\r\nSubject: Re: Harvest\r\n"
        "Date: Mon, 02 Nov 2026 10:05:00 +0000\r\nMessage-ID: <CAgmail1@mail.gmail.com>\r\n"
        "In-Reply-To: <h1@example.org>\r\nReferences: <h1@example.org>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: text/html; charset="UTF-8"\r\n\r\n{html}\r\n'
    ).encode()
    archive = _archive(tmp_path, {"1.eml": reply})
    msg = archive.message("CAgmail1@mail.gmail.com")
    assert msg["text"] == "Yes, Saturday works."
    assert "Harvest on Saturday?" in msg["quote"]


def test_webxdc_app_is_a_kind_of_its_own(tmp_path: Path) -> None:
    """Core shows a ``.xdc`` attachment as an app (``Viewtype::Webxdc``)."""
    app = _dc(
        "x1@example.org",
        1,
        "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nvote here\r\n"
        '--B\r\nContent-Type: application/octet-stream; name="poll.xdc"\r\n'
        'Content-Disposition: attachment; filename="poll.xdc"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\r\n--B--\r\n",
        content_type='multipart/mixed; boundary="B"',
    )
    archive = _archive(tmp_path, {"1.eml": app})
    assert archive.message("x1@example.org")["kind"] == "webxdc"


def test_mail_forwarded_inline_is_read_not_an_opaque_attachment(tmp_path: Path) -> None:
    """An inline ``message/rfc822`` is parsed as part of the message (core's
    ``parse_mime_recursive``): its text is the message's text."""
    fwd = (
        f"From: Carol <{CAROL}>\r\nTo: Alice <{ALICE}>\r\nSubject: Fwd: Seed order\r\n"
        "Date: Mon, 02 Nov 2026 10:05:00 +0000\r\nMessage-ID: <fwd1@example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="F"\r\n\r\n'
        "--F\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee below.\r\n"
        "--F\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
        "From: Seeds Shop <shop@seeds.example>\r\nTo: Carol <carol@example.net>\r\nSubject: Seed order\r\n"
        "Date: Sun, 01 Nov 2026 09:00:00 +0000\r\nMessage-ID: <order-77@seeds.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nYour order 77 ships on Monday.\r\n--F--\r\n"
    ).encode()
    archive = _archive(tmp_path, {"1.eml": fwd})
    msg = archive.message("fwd1@example.net")
    assert "See below." in msg["text"] and "Your order 77 ships on Monday." in msg["text"]
    assert msg["attachments"] == []


def test_file_names_in_the_shapes_mail_software_writes_them(tmp_path: Path) -> None:
    """Encoded words glued to plain text, a character split over two words,
    and undeclared UTF-8: the names as their senders wrote them."""
    names = {
        '"=?UTF-8?B?8J+Ruw==?=.pdf"': "\U0001f47b.pdf",
        '"=?UTF-8?B?8J+R?= =?UTF-8?B?uw==?= report 2026.pdf"': "\U0001f47b report 2026.pdf",
        '"Plan =?UTF-8?Q?f=C3=BCr?= 2026.pdf"': "Plan f\u00fcr 2026.pdf",
        '"Gr\u00fc\u00dfe.pdf"': "Gr\u00fc\u00dfe.pdf",
    }
    parts = "".join(
        f"--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename={raw}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
        for raw in names
    )
    mail = _dc(
        "n1@example.org",
        1,
        f"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfiles\r\n{parts}--B--\r\n",
        content_type='multipart/mixed; boundary="B"',
    )
    archive = _archive(tmp_path, {"1.eml": mail})
    assert [a["filename"] for a in archive.message("n1@example.org")["attachments"]] == list(names.values())


def test_exchange_original_message_id_is_the_message_id(tmp_path: Path) -> None:
    """Exchange replaces the Message-ID and keeps the sender's in
    ``X-Microsoft-Original-Message-ID``; core takes that one, so the
    sender's copy and the received copy are one message."""

    def copy(extra: str) -> bytes:
        return (
            f"From: Dan <dan@contoso.example>\r\nTo: Alice <{ALICE}>\r\nSubject: Invoice\r\n"
            f"Date: Mon, 02 Nov 2026 10:01:00 +0000\r\n{extra}MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nInvoice 12 attached later.\r\n"
        ).encode()

    archive = _archive(
        tmp_path,
        {
            "sent.eml": copy("Message-ID: <orig-12@contoso.example>\r\n"),
            "received.eml": copy(
                "Message-ID: <AM0PR04MB1234.eurprd04.prod.outlook.com>\r\n"
                "X-Microsoft-Original-Message-ID: <orig-12@contoso.example>\r\n"
            ),
        },
    )
    assert list(archive.messages) == ["orig-12@contoso.example"]


def test_ephemeral_timer_set_by_the_header_alone(tmp_path: Path) -> None:
    """Core takes the chat's timer from ``Ephemeral-Timer`` on any message:
    a group whose timer-change message is missing still has the timer."""
    to = f"<{BOB}>, <{CAROL}>"
    group = "Chat-Group-ID: WkfXeF1bZOCmXWlq3cTtAe\r\nChat-Group-Name: Allotment\r\n"
    archive = _archive(
        tmp_path,
        {
            "1.eml": _dc("e1@example.org", 1, "hello group\r\n", to=to, extra=group),
            "2.eml": _dc(
                "e2@example.org", 2, "this one vanishes in a day\r\n", to=to, extra=group + "Ephemeral-Timer: 86400\r\n"
            ),
        },
    )
    chat = archive.chat_of("e2@example.org")
    assert chat["ephemeral_timer"] == 86400
    assert archive.message("e2@example.org")["text"] == "this one vanishes in a day"
