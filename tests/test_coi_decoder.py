"""The COI decoders (early COI of the FOSDEM 2019 talk and the COI client
spec draft) against the hand-written sample mailboxes in ``samples/coi``
and ``samples/coi-early``; expectations are read off the sample text (see
``samples/coi/README.md``)."""

from __future__ import annotations

import base64
import hashlib
import mailbox
from pathlib import Path

import pytest

from coi_archive.ingest.decode import decode
from coi_archive.ingest.dialects import coi, coi_early
from coi_archive.ingest.dialects import microformats as mf
from coi_archive.ingest.events import (
    Attachment,
    ChatRef,
    ContactState,
    Delete,
    Edit,
    Envelope,
    GroupInfo,
    MemberLeft,
    Pin,
    PollVote,
    Post,
    Reaction,
    Receipt,
)
from coi_archive.ingest.mime import ParsedMail

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
COI_DIR = SAMPLES / "coi"
TALK = SAMPLES / "coi-early" / "talk.mbox"

ALICE, BOB, CARROL = "alice@example.com", "bob@example.com", "carrol@example.com"
DEAN, JOHN = "dean@example.org", "john.doe@example.org"
ALICE_BOB = ChatRef(kind="direct", key=f"{ALICE} {BOB}", members=(ALICE, BOB))
CREW_ID = "1234abcd4321"
CREW_FIRST = "chat$group.1234abcd4321.238788.AB29702@example.com"
CREW4 = (ALICE, BOB, CARROL, JOHN)
CREW5 = (ALICE, BOB, CARROL, DEAN, JOHN)
CREW_DESCRIPTION = "This is just a fun place to hang out virtually"
JOHN_HASH_ORG = "64bd22e5db4075009db328710641d85be22eb1f0d82893eb923ece6963adeb79"
JOHN_HASH_COM = "834d1654133366cef4d81e81a7099f413b1b85b9fc9dd62140491303dec56532"
EVE_HASH = "fb96ad4019f5d0436f5b00cce9cea710344647ac4acdf56c2f2d0a807941f781"

EARTH_JPG = (
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
    "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj//2Q=="
)
VENUS_JPG = (
    "/9j/4AAQSkZJRgABAQAAAQABAAB2ZW51c3ZlbnVzdmVudXN2ZW51c3ZlbnVzdmVudXN2ZW51c3ZlbnVzdmVudXN2ZW51c3ZlbnVzdmVudXP/2Q=="
)
VOICE_WEBM = (
    "GkXfo59ChoEBQveBAULygQRC84EIQoKEd2VibUKHgQRChYECGFOAZwEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)
BUNNY_WEBM = (
    "GkXfo59ChoEBQveBAULygQRC84EIQoKEd2VibUKHgQRChYECGFOAZwFidW5ueWJ1bm55YnVubnli"
    "dW5ueWJ1bm55YnVubnlidW5ueWJ1bm55YnVubnlidW5ueWJ1bm55YnVubnlidW5ueWJ1bm55YnVu"
    "bnlidW5ueQ=="
)


def _blob(b64: str) -> tuple[int, str]:
    data = base64.b64decode(b64)
    return len(data), hashlib.sha256(data).hexdigest()


def raw(folder: str, stamp: str) -> bytes:
    """The bytes of the one sample file in a Maildir folder whose name
    starts with ``stamp`` (the Unix time of its Date)."""
    base = COI_DIR / folder if folder else COI_DIR
    found = [p for sub in ("cur", "new") for p in (base / sub).glob(f"{stamp}.*")]
    assert len(found) == 1, (folder, stamp, found)
    return found[0].read_bytes()


def coi_env(folder: str, stamp: str) -> Envelope:
    return decode(raw(folder, stamp))


def _talk() -> dict[str, bytes]:
    box = mailbox.mbox(str(TALK), create=False)
    try:
        return {m["Message-ID"].strip("<>"): m.as_bytes() for m in box}
    finally:
        box.close()


TALK_MESSAGES = _talk()


def early_env(mid: str) -> Envelope:
    return decode(TALK_MESSAGES[mid])


def crew(members: tuple[str, ...], name: str = "My Crew", fallback: ChatRef | None = None) -> ChatRef:
    return ChatRef(kind="group", key=CREW_ID, name=name, members=members, fallback=fallback)


# --------------------------------------------------------------------------
# COI draft: 1:1 chat Alice <-> Bob
# --------------------------------------------------------------------------


def test_profile_request_is_a_plain_post():
    env = coi_env(".COI.Chats", "1575469393")
    assert env.dialect == "coi"
    assert env.message_id == "chat$434571BC.89A707D2@example.com"
    assert env.sender == BOB and env.sender_name == "Bob Barr"
    assert env.date == "2019-12-04T14:23:13+00:00"
    assert env.chat == ALICE_BOB
    assert env.events == (Post(text="Hi Alice, can you please advise me?"),)


def test_profile_part_gives_sender_contact_state_and_post():
    env = coi_env(".Sent", "1575470402")
    assert env.dialect == "coi"
    assert env.chat == ALICE_BOB
    assert env.events == (
        ContactState(
            ALICE,
            (
                ("name", "Alice Angel"),
                ("status", "working from home..."),
                ("bday", "--04-30"),
                ("avatar", "present"),
            ),
        ),
        Post(text="Hello my friend, this is my first COI message!", reply_to="chat$434571BC.89A707D2@example.com"),
    )


def test_simple_text_flowed_is_unwrapped():
    env = coi_env(".Sent", "1575471097")
    assert env.message_id == "chat$S2571BC.2878&8@example.com"
    assert env.references == ("chat$434571BC.89A707D2@example.com",)
    assert env.chat == ALICE_BOB
    assert env.events == (Post(text="Hello World\nMy dear friend, this is a message to you!"),)


def test_formatted_text_skips_ignore_part_and_markdown_is_no_attachment():
    env = coi_env(".Sent", "1575471130")
    (post,) = env.events
    assert isinstance(post, Post)
    assert post.text == "hello COI world!"
    assert post.html is not None and post.html.strip() == "<p>hello <b>COI</b> world!</p>"
    assert post.attachments == () and post.kind == "text"


def test_single_image_message():
    size, sha = _blob(EARTH_JPG)
    assert size == 91
    env = coi_env(".COI.Chats", "1575471765")
    assert env.chat == ALICE_BOB
    assert env.events == (
        Post(
            text="",
            kind="image",
            attachments=(Attachment("earth.jpg", "image/jpeg", size, sha, "1", "inline"),),
        ),
    )


def test_audio_and_image_in_one_message():
    voice, pic = _blob(VOICE_WEBM), _blob(VENUS_JPG)
    env = coi_env(".COI.Chats", "1575471931")
    assert env.events == (
        Post(
            text="",
            kind="audio",
            attachments=(
                Attachment("", "audio/webm", voice[0], voice[1], "1", "inline"),  # no name (the catalog says unnamed)
                Attachment("venus.jpg", "image/jpeg", pic[0], pic[1], "2", "inline"),
            ),
        ),
    )


def test_preview_part_is_not_a_second_attachment():
    size, sha = _blob(BUNNY_WEBM)
    env = coi_env(".COI.Chats", "1575472212")
    assert env.events == (
        Post(
            text="",
            kind="video",
            attachments=(Attachment("bigbuckbunny.webm", "video/webm", size, sha, "2", "inline"),),
        ),
    )


def test_typo_then_edit_then_chained_edit():
    original = coi_env(".Sent", "1575472800")
    assert original.chat == ALICE_BOB
    assert original.events == (Post(text="My dear friend, this sdkalsk."),)
    # "Chat-Content: edit;" and an In-Reply-To without ">" as in the spec
    first = coi_env(".Sent", "1575472890")
    assert first.chat is None
    assert first.events == (
        Edit(target="chat$S2571BC.287888@example.com", text="My dear friend, this is a message to you!"),
    )
    chained = coi_env(".Sent", "1575472985")
    assert chained.chat is None
    assert chained.events == (
        Edit(target="chat$2131232.AKJSD@example.com", text="My dear friend, this is a message for you, Bob!"),
    )


def test_deleterequest():
    assert coi_env(".Sent", "1575473400").events == (Post(text="Oops, that was meant for Carrol."),)
    env = coi_env(".Sent", "1575473440")
    assert env.chat is None
    assert env.events == (Delete(target="chat$KJ23928L.112222300&8@example.com"),)


def test_empty_edit_means_deleted():
    assert coi_env(".COI.Chats", "1575473718").events == (Post(text="I'll be there at 8, bring the slides."),)
    env = coi_env(".COI.Chats", "1575473762")
    assert env.events == (Delete(target="chat$Q8812AB.77123@example.com"),)


def test_pinned_with_timeout():
    env = coi_env(".Sent", "1575475200")
    assert env.chat == ALICE_BOB
    assert env.events == (
        Post(text="Hello COI world, this message is pinned!", pinned_until="2019-12-04T23:00:00+00:00"),
    )


def test_location():
    env = coi_env(".Sent", "1575475827")
    assert env.chat == ALICE_BOB
    assert env.events == (
        Post(text="Let's meet here.\n-\nPosition: 53.07516, 8.80777", kind="location", location=(53.07516, 8.80777)),
    )


def test_read_receipt():
    env = coi_env("", "1575476091")
    assert env.dialect == "coi"
    assert env.chat is None
    assert env.events == (Receipt(target="chat$S2571BC.2878&8@example.com", disposition="displayed"),)


def test_shared_contact_part():
    # the part is sent without base64, so its bytes are taken in MIME's
    # canonical form, CRLF line ends, whatever the Maildir file uses
    vcf = (
        b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Dean Dunn\r\nEMAIL:dean@example.org\r\n"
        b"TEL;TYPE=cell:+49-421-555-0199\r\nEND:VCARD\r\n"
    )
    env = coi_env(".COI.Chats", "1575476409")
    assert env.events == (
        Post(
            text="Here is Dean's contact, he joins us on Friday.",
            kind="contact",
            attachments=(
                Attachment("dean.vcf", "text/vcard", len(vcf), hashlib.sha256(vcf).hexdigest(), "2", "inline"),
            ),
            contact=ContactState(DEAN, (("name", "Dean Dunn"),)),
        ),
    )


# --------------------------------------------------------------------------
# COI draft: group "My Crew" / "Crew Night Out"
# --------------------------------------------------------------------------


def test_group_created_with_groupinfo():
    env = coi_env(".Sent", "1575532800")
    assert env.message_id == CREW_FIRST
    assert env.chat == crew(CREW4)
    assert env.events == (
        GroupInfo(name="My Crew", members=CREW4, description=CREW_DESCRIPTION),
        Post(text="Hello folks, let's chat!"),
    )


def test_mention_in_text_and_html():
    env = coi_env(".COI.Chats", "1575533520")
    assert env.chat == crew(CREW4)
    (post,) = env.events
    assert post == Post(
        text='Hi gang, hope you\'re doing fine! @"John Doe":john.doe@example.org are you joining tonight?',
        html=post.html,
        reply_to=CREW_FIRST,
        mentions=(JOHN,),
    )
    assert 'class="mention"' in post.html


def test_mention_all_and_plus_address():
    env = coi_env(".COI.Chats", "1575534033")
    assert env.chat == crew(CREW4)
    assert env.events == (
        Post(
            text="@all dinner at 8 at Luigi's? Ask @Gabe:gabe+private@example.org too.",
            reply_to="chat$group.1234abcd4321.B77812.90012@example.com",
            mentions=("all", "gabe+private@example.org"),
        ),
    )


def test_legacy_reply_all_is_placed_by_first_reference():
    env = coi_env("", "1575534667")
    assert env.dialect == "coi"
    assert env.chat == crew(CREW4, fallback=ChatRef(kind="direct", key=f"{CARROL} {JOHN}", members=(CARROL, JOHN)))
    assert env.events == (
        Post(
            text="Count me in, I'll bring dessert.",
            quote="@all dinner at 8 at Luigi's? Ask @Gabe:gabe+private@example.org too.",
            reply_to="chat$group.1234abcd4321.C0011.4432@example.com",
        ),
    )


def test_legacy_plain_reply_falls_back_to_direct_chat():
    env = coi_env("", "1575536564")
    assert env.dialect == "coi"
    assert env.chat == crew(
        (ALICE, JOHN), fallback=ChatRef(kind="direct", key=f"{ALICE} {JOHN}", members=(ALICE, JOHN))
    )
    assert env.events == (
        Post(
            text="Alice, can you pick me up on the way? My bike is broken.",
            quote="Hello folks, let's chat!",
            reply_to=CREW_FIRST,
        ),
    )


def test_group_renamed_by_subject_and_groupinfo():
    env = coi_env(".COI.Chats", "1575540000")
    assert env.chat == crew(CREW4, name="Crew Night Out")
    assert env.events == (
        GroupInfo(name="Crew Night Out", members=CREW4, description=CREW_DESCRIPTION),
        Post(text="New name for tonight \U0001f35d", reply_to="chat$group.1234abcd4321.C0011.4432@example.com"),
    )


def test_member_added_with_groupinfo():
    env = coi_env(".Sent", "1575617400")
    assert env.chat == crew(CREW5, name="Crew Night Out")
    assert env.events == (
        GroupInfo(name="Crew Night Out", members=CREW5, description=CREW_DESCRIPTION),
        Post(
            text="Welcome Dean! He organises the table at Luigi's.",
            reply_to="chat$group.1234abcd4321.C0012.5521@example.com",
        ),
    )


def test_grouprequested_is_a_plain_post():
    env = coi_env(".COI.Chats", "1575619273")
    assert env.chat == crew(CREW5, name="Crew Night Out")
    assert env.events == (
        Post(
            text="hey folks, I might be late, but I look forward to meet you today!",
            reply_to="chat$group.1234abcd4321.238790.AB29731@example.com",
        ),
    )


POLL_ID = "chat$group.1234abcd4321.C0013.6610@example.com"


def test_poll_votes_and_close():
    poll = coi_env(".COI.Chats", "1575622800")
    assert poll.message_id == POLL_ID
    assert poll.chat == crew(CREW5, name="Crew Night Out")
    assert poll.events == (
        Post(
            text="Poll: Which movie after dinner?\n- E.T.\n- Alien\n- Up",
            kind="poll",
            reply_to="chat$group.1234abcd4321.D5422.98912@example.org",
        ),
    )
    alice = coi_env(".Sent", "1575623121")
    assert alice.chat == crew(CREW5, name="Crew Night Out")
    assert alice.events == (PollVote(target=POLL_ID, choice="Alien"),)
    dean = coi_env(".COI.Chats", "1575623265")
    assert dean.events == (PollVote(target=POLL_ID, choice="E.T.\nUp"),)
    close = coi_env(".COI.Chats", "1575624600")
    assert close.events == (PollVote(target=POLL_ID, choice="", closed=True),)


def test_extension_part_is_dropped_but_text_kept():
    env = coi_env(".COI.Chats", "1575625202")
    assert env.events == (
        Post(
            text="\U0001f3b2 Bob rolled a 4 (d6) \u2014 he pays the popcorn.",
            reply_to="chat$group.1234abcd4321.C0014.7001@example.com",
        ),
    )


def test_extension_only_message_has_no_events():
    env = coi_env(".COI.Chats", "1575625275")
    assert env.dialect == "coi"
    assert env.chat == crew(CREW5, name="Crew Night Out")
    assert env.events == ()


def test_groupleft():
    env = coi_env(".COI.Chats", "1575630000")
    assert env.chat == crew(CREW5, name="Crew Night Out")
    assert env.events == (
        Post(
            text="hi guys, I think you can now roll this project on your own! Bye!",
            reply_to="chat$group.1234abcd4321.B77814.90014@example.com",
        ),
        MemberLeft(member=BOB),
    )


def test_group_storage_message():
    members = (ALICE, CARROL, DEAN, JOHN)
    env = coi_env(".COI.Contacts", "1575630300")
    assert env.chat == ChatRef(kind="group", key=CREW_ID, name="Crew Night Out", members=members)
    assert env.events == (GroupInfo(name="Crew Night Out", members=members, description=CREW_DESCRIPTION),)


# --------------------------------------------------------------------------
# COI draft: contact and profile storage
# --------------------------------------------------------------------------


def test_contact_storage_with_two_addresses():
    env = coi_env(".COI.Contacts", "1575478297")
    assert env.chat is None
    assert env.date == "2019-12-04T16:51:37+00:00"
    assert env.events == (
        ContactState(
            JOHN,
            (
                ("name", "John Doe"),
                ("nickname", "Johnny"),
                ("email", "john.doe@example.com"),
                ("status", "working from home..."),
                ("categories", "friend,work"),
                ("notification", "enabled=true;types=sound,banner;sounds=friend;filters=message,mention"),
                ("bday", "--12-09"),
                ("avatar", "present"),
                ("from_hash", JOHN_HASH_ORG),
                ("from_hash", JOHN_HASH_COM),
                ("blocked", "false"),
            ),
        ),
    )


def test_newer_contact_storage_with_tokens_and_mailto_links():
    env = coi_env(".COI.Contacts", "1579075920")
    assert env.date == "2020-01-15T08:12:00+00:00"
    assert env.events == (
        ContactState(
            JOHN,
            (
                ("name", "John Doe"),
                ("nickname", "Johnny"),
                ("email", "john.doe@example.com"),
                ("status", "back in the office"),
                ("categories", "friend,work,climbing"),
                ("notification", "enabled=false"),
                ("bday", "--12-09"),
                ("from_hash", JOHN_HASH_ORG),
                ("from_hash", JOHN_HASH_COM),
                ("blocked", "false"),
                ("token_in", "in-7f3a9c21e0b54d6a;exp=2020-07-15T00:00:00Z"),
                ("token_out", "out-c0ffee42d15ea5e1;created=2020-01-15T08:00:00Z;hash=64bd22e5"),
            ),
        ),
    )


def test_blocked_contact():
    env = coi_env(".COI.Contacts", "1579542000")
    assert env.events == (
        ContactState(
            "eve@example.org",
            (
                ("name", "Eve Evans"),
                ("from_hash", EVE_HASH),
                ("blocked", "true"),
            ),
        ),
    )


def test_profile_storage_one_state_per_audience():
    env = coi_env(".COI.Contacts", "1575478500")
    assert env.chat is None
    assert env.events == (
        ContactState(
            ALICE,
            (
                ("name", "Alice Angel"),
                ("nickname", "Al"),
                ("email", "angel@work.example.com"),
                ("status", "weekend here I come..."),
                ("bday", "1998-12-24"),
                ("avatar", "present"),
                ("audience", "friend,family"),
            ),
        ),
        ContactState(
            ALICE,
            (
                ("name", "Alice Angel"),
                ("email", "angel@work.example.com"),
                ("status", "working from home..."),
                ("avatar", "present"),
                ("audience", "work"),
            ),
        ),
        ContactState(ALICE, (("name", "Alice Angel"), ("bday", "--12-24"), ("avatar", "present"))),
    )


def test_message_from_blocked_contact_is_still_decoded():
    env = coi_env(".Blocked", "1579590942")
    assert env.chat == ChatRef(kind="direct", key=f"{ALICE} eve@example.org", members=(ALICE, "eve@example.org"))
    assert env.events == (Post(text="Hey Alice, long time no see! Have a look: http://prize.example.org/win"),)


def test_ordinary_mail_is_not_coi():
    env = coi_env("", "1575356400")
    assert env.dialect == "mail"


# --------------------------------------------------------------------------
# Early COI (talk.mbox)
# --------------------------------------------------------------------------

ME, YOU, SAM = "me@example.com", "you@example.org", "sam@example.org"
ME_YOU = ChatRef(kind="direct", key=f"{ME} {YOU}", members=(ME, YOU))
DINNER = "coi$group.fosdem2019.A1B2C3.1@example.com"


def test_talk_mbox_holds_ten_messages():
    assert len(TALK_MESSAGES) == 10


def test_early_text_messages():
    first = early_env("coi$S2571BC.2878&8@example.com")
    assert first.dialect == "coi-early"
    assert first.chat == ME_YOU
    assert first.events == (Post(text="Hello World\nMy dear friend, this is a message to you!"),)
    reply = early_env("coi$B1A2.99321@example.org")
    assert reply.subject == "Chat: 2019-02-02"
    assert reply.chat == ME_YOU
    assert reply.events == (
        Post(text="Hi! Nice to hear from you. Are you at FOSDEM?", reply_to="coi$S2571BC.2878&8@example.com"),
    )


def test_early_edit_with_misspelt_reference_header():
    typo = early_env("coi$S2571BD.2900@example.com")
    assert typo.events == (Post(text="See you at the COI talk in buidling K", reply_to="coi$B1A2.99321@example.org"),)
    edit = early_env("coi$S2571BE.2901@example.com")
    assert edit.dialect == "coi-early"
    assert edit.references == ("coi$S2571BC.2878&8@example.com", "coi$S2571BD.2900@example.com")
    assert edit.chat is None
    assert edit.events == (
        Edit(target="coi$S2571BD.2900@example.com", text="See you at the COI talk in building K, room K.1.105"),
    )


def test_early_edit_targeted_only_by_reference_header():
    env = early_env("coi$B1A3.99388@example.org")
    assert env.events == (
        Edit(target="coi$B1A2.99321@example.org", text="Hi! Nice to hear from you. Are you at FOSDEM today?"),
    )


def test_early_group_and_legacy_reply():
    members = (ME, SAM, YOU)
    group = early_env(DINNER)
    assert group.chat == ChatRef(kind="group", key="fosdem2019", name="FOSDEM dinner", members=members)
    assert group.events == (Post(text="Dinner at 19:30 at the usual place?"),)
    reply = early_env("20190202111031.GA4242@laptop.example.org")
    assert reply.dialect == "coi-early"
    assert reply.chat == ChatRef(
        kind="group",
        key="fosdem2019",
        name="FOSDEM dinner",
        members=members,
        fallback=ChatRef(kind="direct", key=f"{ME} {SAM}", members=(ME, SAM)),
    )
    assert reply.events == (Post(text="Count me in.", quote="Dinner at 19:30 at the usual place?", reply_to=DINNER),)


def test_early_read_receipt():
    env = early_env("coi$R9911.1@example.org")
    assert env.chat is None
    assert env.events == (Receipt(target="coi$S2571BC.2878&8@example.com", disposition="displayed"),)


def test_early_contact_messages_over_time():
    first = early_env("coi$C0NT4CT.1@example.com")
    assert first.dialect == "coi-early" and first.chat is None
    assert first.date == "2019-02-02T12:00:00+00:00"
    assert first.events == (
        ContactState(
            YOU,
            (
                ("name", "You Yourself"),
                ("status", "At FOSDEM 2019 \U0001f389"),
                ("groups", "fosdem"),
                ("visible", "true"),
                ("is_me", "false"),
                ("notification", "enabled=true;types=sound,banner;sound=chime"),
                ("last_time_contact_sent", "2019-02-02T11:30:00Z"),
                ("token", "tok-1a2b3c4d5e6f"),
            ),
        ),
    )
    second = early_env("coi$C0NT4CT.2@example.com")
    assert second.date == "2019-02-03T17:00:00+00:00"
    assert second.events == (
        ContactState(
            YOU,
            (
                ("name", "You Yourself"),
                ("status", "Back home, slides are online"),
                ("groups", "fosdem,coi"),
                ("visible", "false"),
                ("is_me", "false"),
                ("notification", "enabled=false;sound=none"),
                ("last_time_contact_sent", "2019-02-03T16:45:00Z"),
                ("token", "tok-1a2b3c4d5e6f"),
            ),
        ),
    )


# --------------------------------------------------------------------------
# Edge cases (inline messages)
# --------------------------------------------------------------------------


CHAT_BASE = "From: Bob Barr <bob@example.com>\nTo: alice@example.com\nDate: Tue, 7 Jan 2020 10:00:00 +0100\n"
STORAGE_BASE = "From: Alice Angel <alice@example.com>\nSubject: Contact\nDate: Tue, 7 Jan 2020 10:00:00 +0100\n"


def msg(headers: str, body: str = "hello", base: str = CHAT_BASE) -> bytes:
    return (base + headers.strip("\n") + "\n\n" + body + "\n").encode("utf-8")


def pm_of(data: bytes) -> ParsedMail:
    return ParsedMail(data)


def test_chat_version_with_parameters():
    data = msg(
        "Message-ID: <chat$P4R4M.1@example.com>\nChat-Version: 1.0;name=value;client=x\n"
        "Content-Type: text/plain; charset=UTF-8"
    )
    assert coi.matches(pm_of(data))
    env = decode(data)
    assert env.dialect == "coi"
    assert env.events == (Post(text="hello"),)


def test_chat_version_without_chat_id_is_not_coi():
    data = msg("Message-ID: <Mr.Xy1Zk9Qa2bC.Pq7rS8tU9vW@example.com>\nChat-Version: 1.0;foo=bar")
    pm = pm_of(data)
    assert not coi.matches(pm) and not coi_early.matches(pm)
    assert decode(data).dialect not in ("coi", "coi-early")


def test_legacy_reply_detected_only_by_first_reference():
    first = msg(
        "Message-ID: <abc.1@example.com>\nReferences: <chat$group.4321dcba1234.X1.Y1@example.com> <other.2@example.com>"
    )
    assert coi.matches(pm_of(first))
    env = decode(first)
    assert env.dialect == "coi"
    assert env.chat is not None and env.chat.key == "4321dcba1234"
    assert env.chat.fallback == ChatRef(kind="direct", key=f"{ALICE} {BOB}", members=(ALICE, BOB))
    later = msg(
        "Message-ID: <abc.2@example.com>\nReferences: <other.1@example.com> <chat$group.4321dcba1234.X1.Y1@example.com>"
    )
    assert not coi.matches(pm_of(later))
    assert decode(later).dialect == "mail"


def test_short_group_id_is_not_a_group_in_the_draft():
    data = msg("Message-ID: <chat$group.short1.X1@example.com>\nChat-Version: 1.0")
    assert decode(data).chat == ALICE_BOB


def test_chat_message_to_several_without_group_id_is_adhoc_group():
    data = msg("Message-ID: <chat$AD.1@example.com>\nChat-Version: 1.0\nSubject: Lunch\nCc: carrol@example.com")
    env = decode(data)
    assert env.chat == ChatRef(
        kind="group", key=f"adhoc:{ALICE} {BOB} {CARROL}", name="Lunch", members=(ALICE, BOB, CARROL)
    )


def _contact(hcard: str, extra_headers: str = "") -> bytes:
    return msg(
        "Message-ID: <chat$K.1@example.com>\nChat-Version: 1.0\nChat-Content: contact\n"
        "Content-Type: text/html; charset=UTF-8\n" + extra_headers,
        hcard,
        STORAGE_BASE,
    )


def test_hcard_with_repeated_and_duplicate_emails():
    data = _contact(
        '<p class="h-card"><span class="p-name">Gabe</span>'
        '<span class="u-email">Gabe+private@Example.org</span>'
        '<span class="u-email">gabe@example.net</span>'
        '<span class="u-email">gabe+private@example.org</span></p>'
    )
    env = decode(data)
    assert env.events == (
        ContactState(
            "gabe+private@example.org",
            (
                ("name", "Gabe"),
                ("email", "gabe@example.net"),
                ("blocked", "false"),
            ),
        ),
    )


def test_malformed_hcard_without_email_gives_no_contact():
    data = _contact('<p class="h-card"><span class="p-name">Nobody<div><<<>>> </p></p></p>')
    env = decode(data)
    assert env.dialect == "coi"
    assert env.events == ()


def test_malformed_hcard_with_unclosed_tags():
    data = _contact(
        '<p class="h-card"><span class="p-name">Mallory<span class="u-email">'
        'mallory@example.org<span class="p-status">hi'
    )
    (state,) = decode(data).events
    assert isinstance(state, ContactState)
    assert state.address == "mallory@example.org"
    assert dict(state.fields)["name"] == "Mallory"
    assert dict(state.fields)["status"] == "hi"
    assert ("blocked", "false") in state.fields


def test_coi_blocked_value_is_ignored():
    data = _contact(
        '<p class="h-card"><span class="p-name">Eve</span><span class="u-email">eve@example.org</span></p>',
        "COI-Blocked: no\n",
    )
    (state,) = decode(data).events
    assert ("blocked", "true") in state.fields


def test_contact_storage_without_chat_id_is_found_by_from_hash():
    data = msg(
        "Message-ID: <1234.contact@example.com>\nChat-Content: contact\n"
        f"COI-From-Hash: {EVE_HASH}\nContent-Type: text/html",
        '<div class="h-card"><a class="p-name u-email" href="mailto:eve@example.org">Eve</a></div>',
    )
    assert coi.matches(pm_of(data))
    assert decode(data).events == (
        ContactState(
            "eve@example.org",
            (
                ("name", "Eve"),
                ("from_hash", EVE_HASH),
                ("blocked", "false"),
            ),
        ),
    )


def test_hcard_sent_to_someone_is_a_contact_post_not_storage():
    data = msg(
        "Message-ID: <chat$K.2@example.com>\nChat-Version: 1.0\nChat-Content: contact\n"
        "Content-Type: text/html; charset=UTF-8",
        '<p>Meet Gabe!</p><p class="h-card"><span class="p-name">Gabe</span> '
        '<span class="u-email">gabe@example.net</span></p>',
    )
    env = decode(data)
    assert env.chat == ALICE_BOB
    assert env.events == (
        Post(text="Meet Gabe!", kind="contact", contact=ContactState("gabe@example.net", (("name", "Gabe"),))),
    )


def test_pinned_without_timeout_pins_itself():
    data = msg(
        "Message-ID: <chat$PIN.1@example.com>\nChat-Version: 1.0\nContent-Disposition: pinned", "Read the rules!"
    )
    assert decode(data).events == (Post(text="Read the rules!"), Pin(target="chat$PIN.1@example.com"))


def test_rfc9078_reaction():
    data = msg(
        "Message-ID: <chat$R.1@example.com>\nChat-Version: 1.0\n"
        "In-Reply-To: <chat$Q8812AB.77123@example.com>\nContent-Disposition: reaction\n"
        "Content-Type: text/plain; charset=utf-8",
        "\U0001f44d",
    )
    env = decode(data)
    assert env.chat is None
    assert env.events == (Reaction(target="chat$Q8812AB.77123@example.com", emoji="\U0001f44d"),)


def test_edit_without_target_is_kept_as_post():
    data = msg("Message-ID: <chat$E.1@example.com>\nChat-Version: 1.0\nChat-Content: editrequest", "new text")
    assert decode(data).events == (Post(text="new text"),)


def test_bad_location_is_a_text_post():
    data = msg(
        "Message-ID: <chat$L.1@example.com>\nChat-Version: 1.0\nChat-Content: location\nContent-Type: text/html",
        '<p>Here</p><p class="h-geo"><span class="p-latitude">north</span><span class="p-longitude">999</span></p>',
    )
    assert decode(data).events == (Post(text="Here"),)


@pytest.mark.parametrize(
    "body",
    [
        "<div>" * 5000 + "deep",
        "<p class='h-card'>" * 3000,
        '<![if !IE]><p class="h-card"><span class="u-email">x@example.org',
        "\x00\xff<html><a class='mention' href='mailto:'>@",
    ],
)
def test_hostile_html_never_crashes(body: str):
    for cc in ("contact", "profile", "group", "groupinfo", "location", "poll"):
        data = msg(
            f"Message-ID: <chat$group.abcdefghijkl.H.1@example.com>\nChat-Version: 1.0\n"
            f"Chat-Content: {cc}\nContent-Type: text/html",
            body,
        )
        env = coi.decode(pm_of(data))
        assert env.dialect == "coi"


def test_hostile_contact_json_never_crashes():
    for payload in ('{"status": ' * 5000, "[1, 2]", '{"groups": {"a": 1}, "notification": [1]}'):
        data = msg(
            'Message-ID: <coi$J.1@example.com>\nChat-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"',
            "--b\nContent-Type: application/json\nChat-Content: contact\n\n"
            + payload
            + "\n--b\nContent-Type: text/vcard\n\nBEGIN:VCARD\nVERSION:4.0\nFN:X\n"
            "EMAIL:x@example.org\nEND:VCARD\n--b--",
        )
        (state,) = coi_early.decode(pm_of(data)).events
        assert state.address == "x@example.org"


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def test_mention_parser():
    text = (
        '@"Gabe Lastname":gabe+private@example.com and @Gabe:gabe@example.org, not bob@example.com nor @all: but @ALL.'
    )
    assert coi.mentions(text, None) == ("gabe+private@example.com", "gabe@example.org", "all")


def test_microformats_nested_group():
    html = (
        '<p class="h-group"><span class="p-name">G</span><p class="p-id">abcdefghijkl</p>'
        '<div class="e-participants"><p class="h-card"><span class="u-email">a@example.org</span></p>'
        '<p class="h-card"><a class="u-email" href="mailto:b@example.org">B</a></p></div></p>'
    )
    (group,) = mf.items(html)
    assert group.first("name") == "G" and group.first("id") == "abcdefghijkl"
    assert [c.first("email") for c in group.children] == ["a@example.org", "b@example.org"]
    assert "email" not in group.props


def test_unflow():
    assert coi.unflow("a \nb\n c\n-- \nsig", delsp=False) == "a b\nc\n-- \nsig"
    assert coi.unflow("ab \ncd", delsp=True) == "abcd"
