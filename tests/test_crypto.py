"""Decryption of the real Delta Chat 2.65 corpus (tests/data/deltachat-dev)
with the users' own secret keys.

Part 1 ingests journal/ plus every account Maildir with all five keys and
checks ``show --json`` against GROUND_TRUTH.json fact by fact: chats, members
and past members, renames, description, avatar, timer, edit chains, deletes,
reactions (changed and retracted), read receipts, quotes, attachments,
locations, vCards, forwards; plus signatures, Autocrypt key history and the
statistics of what stayed unreadable and why.

Part 2 ingests one account's Maildir with that account's key only.

Part 3: a wrong key, a public key, a damaged ciphertext, a re-run with the
right key (``ingest --key`` again and ``decrypt``), ``--remember-keys`` and
SecureJoin QR passwords.

Every expected value is derived from GROUND_TRUTH.json, journal-index.json,
the key file names or the input files (stdlib ``email``), never copied from
program output.
"""

from __future__ import annotations

import re
import shutil
import stat
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.cli_helpers import (
    DC_DEV,
    DC_DEV_ACCOUNTS,
    Archive,
    assert_clean_error,
    cli,
    final_reactions,
    load_ground_truth,
    load_journal_index,
    maildir_files,
    message_id_of,
    norm_mid,
    parse_file,
    reactions_on,
)

pytest.importorskip("pysequoia")

GT = load_ground_truth()
INDEX = load_journal_index()
EVENTS = GT["events"]
BY_LABEL = {e["label"]: e for e in EVENTS if e.get("label")}
DC_USERS = [a.split("@")[0] for a, v in GT["accounts"].items() if v.get("delta_chat")]
KEYS = {u: next((DC_DEV / "keys" / u).glob("private-key-*.asc")) for u in DC_USERS}
PUBLIC_KEYS = {u: next((DC_DEV / "keys" / u).glob("public-key-*.asc")) for u in DC_USERS}
#: user -> fingerprint, from the key file name Delta Chat gives its export
FPR = {u: re.search(r"([0-9A-F]{40})\.asc$", p.name).group(1) for u, p in KEYS.items()}
FPR_OF_ADDR = {f"{u}@example.org": f for u, f in FPR.items()}
ALL_SOURCES = [DC_DEV / "journal"] + [DC_DEV / a for a in DC_DEV_ACCOUNTS]
QR_SECRET = "securejoin-qr-secret"
SYMMETRIC_REASON = "no key (symmetric/QR password)"
DATE_SLACK = 60  # seconds a message's Date may lie before its GT event time


def key_args(*users: str) -> list[str]:
    out: list[str] = []
    for u in users:
        out += ["--key", str(KEYS[u])]
    return out


def events(*types: str, chat: str | None = None) -> list[dict]:
    return [e for e in EVENTS if e["type"] in types and (chat is None or e.get("chat") == chat)]


def to_dt(value) -> datetime:
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def text_of(msg: dict) -> str:
    return (msg.get("text") or "").strip()


def symmetric_mids() -> set[str]:
    """Message-IDs of the SecureJoin messages only a QR password opens."""
    return {norm_mid(m["message_id"]) for m in INDEX["messages"] if m.get("decrypted_with_key_of") == QR_SECRET}


def encrypted_mids() -> set[str]:
    return {norm_mid(m["message_id"]) for m in INDEX["messages"] if m.get("decrypted") is not None}


def mids_in(maildir: Path) -> set[str]:
    return {message_id_of(parse_file(p)) for p in maildir_files(maildir)}


# ==========================================================================
# Part 1: journal + all Maildirs, all five keys
# ==========================================================================


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Archive:
    arch = Archive(tmp_path_factory.mktemp("crypto-full") / "archive", inprocess=True)
    res = arch.ingest(*ALL_SOURCES, *key_args(*DC_USERS))
    assert res.returncode == 0, res.describe()
    return arch


MESSAGES = [e for e in events("message") if e.get("message_id")]
EDITED_OR_DELETED = {e["target_message_id"] for e in events("edit", "delete_for_everyone")}


@pytest.mark.parametrize(
    "label", [e["label"] for e in MESSAGES if not e.get("bulk")] + ["hi-bulk-001", "hi-bulk-075", "hi-bulk-150"]
)
def test_message_sender_text_date_encryption(full, label):
    e = BY_LABEL[label]
    msg = full.message(e["message_id"])
    assert msg["sender"] == e["sender"]
    if e["message_id"] not in EDITED_OR_DELETED:
        assert text_of(msg) == e["text"].strip()
    assert msg["encrypted"] is bool(e.get("encrypted"))
    # header protection: the inner Date is the real one (the outer is set back)
    assert 0 <= (to_dt(e["time"]) - to_dt(msg["date"])).total_seconds() <= DATE_SLACK, msg["date"]
    if e.get("encrypted"):
        assert msg["subject"] != "[...]"  # the decoy outer subject is not the truth
        assert "signature" in msg
    else:
        assert "signature" not in msg


@pytest.mark.parametrize("key", sorted(GT["chats"]))
def test_chat_holds_exactly_its_messages(full, key):
    info = GT["chats"][key]
    gt_msgs = [e for e in MESSAGES if e["chat"] == key and not e.get("landed_in_other_chat")]
    assert gt_msgs
    chats = {full.chat_of(e["message_id"])["id"] for e in gt_msgs}
    assert len(chats) == 1, f"{key} is spread over {chats}"
    chat = full.chat_of(gt_msgs[0]["message_id"])
    assert chat["kind"] == {"1:1": "direct", "group": "group", "self": "self"}[info["type"]]
    assert chat["encrypted"] is bool(info.get("encrypted"))
    if info["type"] == "group":
        assert chat["name"] == info["final_name"]
        assert sorted(chat["members"]) == sorted(info["final_members"])
        if info.get("chat_group_id"):
            assert chat["group_id"] == info["chat_group_id"]
        ever = set(info["initial_members"]) | {
            e["member"] for e in events("member_added", "member_removed", "member_left", chat=key)
        }
        assert set(chat["past_members"]) == ever - set(info["final_members"])
    else:
        assert sorted(chat["members"]) == sorted(info["members"])
    # system lines of the chat are the GT group events; other posts are GT messages
    shown = full.show(chat["id"])["messages"]
    posts = {norm_mid(m["message_id"]) for m in shown if m["kind"] != "system"}
    deleted = {e["target_message_id"] for e in events("delete_for_everyone")}
    assert posts - deleted == {e["message_id"] for e in gt_msgs} - deleted


SYSTEM = {
    "group_renamed": "group-renamed",
    "member_added": "member-added",
    "member_removed": "member-removed",
    "member_left": "member-left",
    "group_avatar_set": "group-avatar",
    "group_description_set": "group-description",
    "ephemeral_timer_set": "ephemeral-timer",
}
GROUP_EVENTS = [e for e in EVENTS if e["type"] in SYSTEM]


@pytest.mark.parametrize(
    "seq", [e["seq"] for e in GROUP_EVENTS], ids=[f"{e['chat']}-{e['type']}-{e['seq']}" for e in GROUP_EVENTS]
)
def test_group_event(full, seq):
    e = next(x for x in GROUP_EVENTS if x["seq"] == seq)
    msg = full.message(e["message_id"])
    assert msg["sender"] == e["sender"]
    assert msg["encrypted"] is True
    system = msg["system"]
    assert system and system["action"] == SYSTEM[e["type"]], msg
    if "member" in e:
        assert system["member"] == e["member"]
    if e["type"] == "group_renamed":
        assert (system["old_name"], system["new_name"]) == (e["old_name"], e["new_name"])
    if e["type"] == "group_description_set":
        assert system["value"] == e["description"]
    if e["type"] == "ephemeral_timer_set":
        assert system["value"] == e["timer_seconds"]
    if e["type"] == "group_avatar_set":
        assert system["value"], "the avatar change names the image"


def test_group_state_after_events(full):
    for key in ("hike", "koch"):
        info = GT["chats"][key]
        chat = full.chat_of(next(e for e in MESSAGES if e["chat"] == key)["message_id"])
        descriptions = events("group_description_set", chat=key)
        assert chat["description"] == (descriptions[-1]["description"] if descriptions else None)
        assert bool(chat["avatar"]) is bool(events("group_avatar_set", chat=key))
        timers = events("ephemeral_timer_set", chat=key)
        assert (chat["ephemeral_timer"] or 0) == (timers[-1]["timer_seconds"] if timers else 0)
        names = [
            s["system"]["new_name"]
            for s in full.show(chat["id"])["messages"]
            if s["system"] and s["system"]["action"] == "group-renamed"
        ]
        assert [info["initial_name"], *names] == info["name_history"]


@pytest.mark.parametrize("target", sorted({e["target_message_id"] for e in events("edit")}))
def test_edit_chain(full, target):
    edits = sorted((e for e in events("edit") if e["target_message_id"] == target), key=lambda e: e["edit_number"])
    original = next(e for e in MESSAGES if e["message_id"] == target)["text"]
    msg = full.message(target)
    assert msg["edited"] is True
    assert [r["text"].strip() for r in msg["revisions"]] == [original.strip()] + [e["new_text"].strip() for e in edits]
    assert [norm_mid(r["message_id"]) for r in msg["revisions"][1:]] == [e["wire_message_id"] for e in edits]


@pytest.mark.parametrize("target", sorted({e["target_message_id"] for e in events("delete_for_everyone")}))
def test_delete_for_everyone(full, target):
    e = next(x for x in events("delete_for_everyone") if x["target_message_id"] == target)
    msg = full.message(target)
    assert msg["deleted"] is True and msg["text"] == ""
    texts = [r["text"].strip() for r in msg["revisions"]]
    assert texts[0] == e["original_text"].strip() and texts[-1] == e["deleted_text"].strip()


@pytest.mark.parametrize("target", sorted({e["target_message_id"] for e in events("reaction")}))
def test_reactions_changed_and_retracted(full, target):
    final = final_reactions(events("reaction"), target)
    msg = full.message(target)
    assert msg["reactions"] == final
    assert dict(Counter(msg["reactions"].values())) == reactions_on(events("reaction"), target)[-1]["reactions_after"]


def test_reactions_cover_change_and_retraction():
    """The corpus really has changed and retracted reactions (else the test
    above would prove less than it claims)."""
    assert any(e.get("replaces") and e["emoji"] for e in events("reaction"))
    assert any(not e["emoji"] for e in events("reaction"))


@pytest.mark.parametrize("seq", [e["seq"] for e in events("read_receipt")])
def test_read_receipt(full, seq):
    e = next(x for x in events("read_receipt") if x["seq"] == seq)
    assert e["reader"] in full.message(e["target_message_id"])["read_by"]


@pytest.mark.parametrize("label", [e["label"] for e in MESSAGES if e.get("quote_of")])
def test_quote(full, label):
    e = BY_LABEL[label]
    msg = full.message(e["message_id"])
    quoted = BY_LABEL[e["quote_of"]]
    assert norm_mid(msg["reply_to"]) == quoted["message_id"]
    assert msg["quote"] and msg["quote"].strip().splitlines()[0] in quoted["text"]


@pytest.mark.parametrize("label", [e["label"] for e in MESSAGES if e.get("file_name")])
def test_attachment(full, label):
    e = BY_LABEL[label]
    msg = full.message(e["message_id"])
    by_name = {a["filename"]: a for a in msg["attachments"]}
    assert e["file_name"] in by_name, msg["attachments"]
    att = by_name[e["file_name"]]
    assert att["size"] == e["file_bytes"]
    assert att["mime"].split("/")[0] == e["file_mime"].split("/")[0]


@pytest.mark.parametrize("label", [e["label"] for e in MESSAGES if e.get("has_location")])
def test_location(full, label):
    e = BY_LABEL[label]
    loc = full.message(e["message_id"])["location"]
    assert loc and abs(loc["lat"] - e["location"][0]) < 1e-4 and abs(loc["lon"] - e["location"][1]) < 1e-4


@pytest.mark.parametrize("label", [e["label"] for e in MESSAGES if e.get("view_type") == "Vcard"])
def test_vcard(full, label):
    msg = full.message(BY_LABEL[label]["message_id"])
    assert msg["kind"] == "contact"
    assert msg["contact"]["address"]


@pytest.mark.parametrize("label", [e["label"] for e in MESSAGES if not e.get("bulk")])
def test_forwarded(full, label):
    e = BY_LABEL[label]
    assert full.message(e["message_id"])["forwarded"] is bool(e.get("forwarded_from"))


def test_control_messages_are_folded(full):
    wire = {e["wire_message_id"] for e in EVENTS if e.get("wire_message_id")}
    assert wire and not wire & set(full.messages)


def test_signatures(full):
    """Every decrypted message carries a verdict; a signer is always the
    sender's own key; no signature is invalid."""
    seen = Counter()
    for mid, (_, msg) in full.messages.items():
        if not msg["encrypted"]:
            continue
        sig = msg["signature"]
        seen[sig["status"]] += 1
        assert sig["status"] in ("valid", "unknown", "unsigned")
        if sig["status"] != "unsigned":
            assert sig["signer"] == FPR_OF_ADDR[msg["sender"]], (mid, sig)
    assert sum(seen.values()) == len([m for m in full.messages.values() if m[1]["encrypted"]])
    st = full.stats["signatures"]
    assert st["invalid"] == 0
    assert sum(st.values()) == full.stats["decrypted"]


def test_stats_undecryptable_by_reason(full):
    st = full.stats
    sealed = symmetric_mids()
    assert sealed, "the corpus has QR-password SecureJoin messages"
    assert st["encrypted_undecrypted"] == len(sealed)
    assert st["undecryptable_by_reason"] == {SYMMETRIC_REASON: len(sealed)}
    assert st["decrypted"] == len(encrypted_mids()) - len(sealed)
    assert st["unique_messages"] == INDEX["summary"]["journal_messages"]
    assert st["unique_messages"] == (
        st["chat_messages"] + st["mail_messages"] + st["encrypted_undecrypted"] + st["parse_errors"]
    )


def test_autocrypt_keys_in_contact_history(full):
    contacts = {c["address"]: c for c in full.contacts}
    for addr, fpr in FPR_OF_ADDR.items():
        keys = [h["fields"].get("key") for h in contacts[addr]["history"]]
        assert fpr in keys, (addr, contacts[addr]["history"])
        prefer = [h["fields"].get("prefer_encrypt") for h in contacts[addr]["history"]]
        assert "mutual" in prefer


def test_verify_and_raw_keep_the_encrypted_original(full):
    assert full.verify().returncode == 0
    e = BY_LABEL["fg1"]
    raw = full.raw(e["message_id"])
    journal = (DC_DEV / e["journal_file"]).read_bytes()
    assert b"multipart/encrypted" in raw and raw == journal


# ==========================================================================
# Part 2: one account's Maildir with that account's key
# ==========================================================================


ACCOUNTS_WITH_MAIL = [u for u in DC_USERS if GT["accounts"][f"{u}@example.org"]["bcc_self"]]


@pytest.fixture(scope="module", params=ACCOUNTS_WITH_MAIL)
def single(request, tmp_path_factory):
    user = request.param
    arch = Archive(tmp_path_factory.mktemp(f"crypto-{user}") / "archive", inprocess=True)
    res = arch.ingest(DC_DEV / user, *key_args(user))
    assert res.returncode == 0, res.describe()
    return user, arch


def test_single_account_reproduces_its_mailbox(single):
    user, arch = single
    held = mids_in(DC_DEV / user)
    present = [e for e in MESSAGES if e["message_id"] in held]
    assert present
    for e in present:
        msg = arch.message(e["message_id"])
        assert msg["sender"] == e["sender"]
        if e["message_id"] not in EDITED_OR_DELETED:
            assert text_of(msg) == e["text"].strip(), e["label"]
    for e in events(*SYSTEM):
        if e["message_id"] in held:
            assert arch.message(e["message_id"])["system"]["action"] == SYSTEM[e["type"]]
    for e in events("reaction"):
        later = [
            x
            for x in events("reaction")
            if x["target_message_id"] == e["target_message_id"] and x["sender"] == e["sender"] and x["seq"] > e["seq"]
        ]
        if e["wire_message_id"] in held and e["target_message_id"] in held and not later:
            got = arch.message(e["target_message_id"])["reactions"].get(e["sender"], "")
            assert got == e["emoji"]
    for e in events("edit"):
        if e["wire_message_id"] in held and e["target_message_id"] in held:
            revs = [norm_mid(r["message_id"]) for r in arch.message(e["target_message_id"])["revisions"]]
            assert e["wire_message_id"] in revs


def test_single_account_stats_say_what_is_unreadable_and_why(single):
    user, arch = single
    held = mids_in(DC_DEV / user)
    expected = held & symmetric_mids()
    st = arch.stats
    assert st["unique_messages"] == len(held)
    assert st["encrypted_undecrypted"] == len(expected)
    assert st["undecryptable_by_reason"] == ({SYMMETRIC_REASON: len(expected)} if expected else {})
    assert st["decrypted"] == len(held & encrypted_mids()) - len(expected)


# ==========================================================================
# Part 3: wrong keys, damage, re-runs
# ==========================================================================


def _copy_maildir(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_public_key_or_missing_key_is_a_clean_error(tmp_path):
    arch = tmp_path / "archive"
    res = cli(arch, "ingest", DC_DEV / "mallory", "--key", PUBLIC_KEYS["frank"], check=False)
    assert_clean_error(res)
    assert "public key" in res.stderr
    res = cli(arch, "ingest", DC_DEV / "mallory", "--key", tmp_path / "nope.asc", check=False)
    assert_clean_error(res)
    garbage = tmp_path / "garbage.asc"
    garbage.write_text("not a key\n")
    res = cli(arch, "ingest", DC_DEV / "mallory", "--key", garbage, check=False)
    assert_clean_error(res)


def _fresh_key(path: Path) -> Path:
    import pysequoia

    tsk = pysequoia.Tsk.generate("Stranger <stranger@example.org>")
    path.write_text(str(tsk))
    return path


def test_wrong_key_then_right_key_decrypts_without_duplicates(tmp_path):
    user = "frank"
    maildir = _copy_maildir(DC_DEV / user, tmp_path / "mail")
    held = mids_in(maildir)
    enc = held & encrypted_mids()
    arch = Archive(tmp_path / "archive", inprocess=True)
    outside = _snapshot(tmp_path)
    wrong = _fresh_key(tmp_path / "wrong.asc")
    res = arch.ingest(maildir, "--key", wrong)
    assert res.returncode == 0, res.describe()
    assert "no matching key" in res.text  # the clear message
    st = arch.stats
    assert st["encrypted_undecrypted"] == len(enc)
    assert st["undecryptable_by_reason"]["no matching key"] == len(enc - symmetric_mids())
    seen_before = st["messages_seen"]
    # the right key on a re-run over the same source: the stored sealed copies open
    res = arch.ingest(maildir, *key_args(user))
    assert res.returncode == 0, res.describe()
    st = arch.stats
    assert st["messages_seen"] == seen_before and st["unique_messages"] == len(held)
    assert st["encrypted_undecrypted"] == len(enc & symmetric_mids())
    assert st["decrypted"] == len(enc - symmetric_mids())
    assert set(arch.messages) <= held  # each listed once (Archive.messages asserts it)
    new = _snapshot(tmp_path) - outside
    assert all(p.startswith(("archive", "wrong.asc")) for p in new), new


def test_decrypt_command_uses_only_what_is_stored(tmp_path):
    user = "heidi"
    maildir = _copy_maildir(DC_DEV / user, tmp_path / "mail")
    held = mids_in(maildir)
    arch = Archive(tmp_path / "archive", inprocess=True)
    assert arch.ingest(maildir).returncode == 0
    sealed_before = arch.stats["encrypted_undecrypted"]
    assert sealed_before == len(held & encrypted_mids())
    qr = len(held & symmetric_mids())
    assert arch.stats["undecryptable_by_reason"] == {
        k: v for k, v in {"no key": sealed_before - qr, SYMMETRIC_REASON: qr}.items() if v
    }
    shutil.rmtree(maildir)  # the source is gone: decrypt must not need it
    res = arch.run("decrypt", *key_args(user))
    assert res.returncode == 0, res.describe()
    arch = Archive(arch.path, inprocess=True)  # a fresh view (the old one caches)
    st = arch.stats
    assert st["unique_messages"] == len(held)
    assert st["encrypted_undecrypted"] == len(held & symmetric_mids())
    bulk = [e for e in MESSAGES if e.get("bulk") and e["message_id"] in held]
    assert bulk
    for e in bulk[:5]:
        assert text_of(arch.message(e["message_id"])) == e["text"].strip()


def test_damaged_ciphertext_is_kept_with_its_reason(tmp_path):
    files = maildir_files(DC_DEV / "frank")
    victims = [p for p in files if b"multipart/encrypted" in p.read_bytes()][:2]
    mail = tmp_path / "mail"
    for sub in ("cur", "new", "tmp"):
        (mail / sub).mkdir(parents=True)
    damaged_mids = set()
    for i, p in enumerate(files):
        data = p.read_bytes()
        if p in victims:
            damaged_mids.add(message_id_of(data))
            start = data.index(b"-----BEGIN PGP MESSAGE-----")
            end = data.index(b"-----END PGP MESSAGE-----")
            body = bytearray(data[start:end])
            lines = body.split(b"\n")
            mid = len(lines) // 2 + 2  # inside the encrypted data packet
            lines[mid] = bytes(reversed(lines[mid]))
            data = data[:start] + b"\n".join(lines) + data[end:]
        (mail / "new" / f"{i}.eml").write_bytes(data)
    arch = Archive(tmp_path / "archive", inprocess=True)
    res = arch.ingest(mail, *key_args("frank"))
    assert res.returncode == 0, res.describe()
    st = arch.stats
    assert st["undecryptable_by_reason"].get("damaged ciphertext") == len(victims), st
    assert st["unique_messages"] == len(mids_in(DC_DEV / "frank"))
    assert all(arch.raw(m) for m in damaged_mids)  # the damaged original is kept byte-exact
    assert arch.verify().returncode == 0


def test_remember_keys_never_leak(tmp_path):
    arch = Archive(tmp_path / "archive", inprocess=True)
    res = arch.ingest(DC_DEV / "ivan", *key_args("ivan"), "--remember-keys")
    assert res.returncode == 0, res.describe()
    stored = list((tmp_path / "archive" / "keys").glob("*.asc"))
    assert [p.name for p in stored] == [f"{FPR['ivan']}.asc"]
    assert stat.S_IMODE(stored[0].stat().st_mode) == 0o600
    secret_line = [ln for ln in KEYS["ivan"].read_text().splitlines() if len(ln) > 40][1]
    for out in (res.text, res.stderr, arch.run("stats", "--json").text):
        assert secret_line not in out
    assert secret_line.encode() not in (tmp_path / "archive" / "catalog.sqlite").read_bytes()
    # a later run without --key uses the remembered key
    other = Archive(tmp_path / "archive", inprocess=True)
    assert other.ingest(DC_DEV / "heidi").returncode == 0
    hi = next(e for e in MESSAGES if e.get("bulk"))
    assert text_of(other.message(hi["message_id"])) == hi["text"].strip()


def test_without_remember_keys_nothing_is_stored(tmp_path):
    arch = Archive(tmp_path / "archive", inprocess=True)
    assert arch.ingest(DC_DEV / "ivan", *key_args("ivan")).returncode == 0
    assert not (tmp_path / "archive" / "keys").exists()


def test_securejoin_qr_passwords_open_the_handshake(tmp_path):
    qrs = [e["qr"] for e in events("securejoin_contact", "securejoin_group")]
    arch = Archive(tmp_path / "archive", inprocess=True)
    args = [a for qr in qrs for a in ("--qr", qr)]
    res = arch.ingest(DC_DEV / "journal", *key_args(*DC_USERS), *args)
    assert res.returncode == 0, res.describe()
    st = arch.stats
    assert st["encrypted_undecrypted"] == 0
    assert st["decrypted"] == len(encrypted_mids())


def test_keyring_directory(tmp_path):
    ring = tmp_path / "ring"
    ring.mkdir()
    for u in ("frank", "heidi"):
        shutil.copy(KEYS[u], ring / KEYS[u].name)
        shutil.copy(PUBLIC_KEYS[u], ring / PUBLIC_KEYS[u].name)  # public files are skipped
    arch = Archive(tmp_path / "archive", inprocess=True)
    res = arch.ingest(DC_DEV / "frank", "--keyring", ring)
    assert res.returncode == 0, res.describe()
    assert arch.stats["encrypted_undecrypted"] == len(mids_in(DC_DEV / "frank") & symmetric_mids())


# ==========================================================================
# Part 4: PGP/MIME made here (legacy without inner headers, signatures)
# ==========================================================================


def _pgp_mime(
    inner: bytes, recipients, signer=None, subject: str = "Hello", mid: str = "legacy-1@example.org"
) -> bytes:
    import pysequoia

    armored = pysequoia.encrypt(inner, recipients=recipients, signer=signer)
    if isinstance(armored, str):
        armored = armored.encode()
    return (
        (
            "From: Grace O'Neill <grace@example.org>\r\n"
            "To: Frank <frank@example.org>\r\n"
            f"Subject: {subject}\r\n"
            "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
            f"Message-ID: <{mid}>\r\n"
            "MIME-Version: 1.0\r\n"
            'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b1"\r\n'
            "\r\n--b1\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
            "\r\n--b1\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + armored
        + b"\r\n--b1--\r\n"
    )


def test_legacy_pgp_mime_and_signature_verdicts(tmp_path):
    import pysequoia

    frank = pysequoia.Tsk.from_file(str(KEYS["frank"]))
    grace = pysequoia.Tsk.from_file(str(KEYS["grace"]))
    stranger = pysequoia.Tsk.generate("Stranger <stranger@example.org>")
    to = [frank.extract_certificate()]
    legacy = b"Content-Type: text/plain; charset=utf-8\r\n\r\nhello from a legacy client\r\n"
    mail = tmp_path / "mail"
    for sub in ("cur", "new", "tmp"):
        (mail / sub).mkdir(parents=True)
    (mail / "new" / "1.eml").write_bytes(_pgp_mime(legacy, to, grace.signer(), "Signed", "l1@example.org"))
    (mail / "new" / "2.eml").write_bytes(_pgp_mime(legacy, to, stranger.signer(), "Stranger", "l2@example.org"))
    (mail / "new" / "3.eml").write_bytes(_pgp_mime(legacy, to, None, "Plain", "l3@example.org"))
    arch = Archive(tmp_path / "archive", inprocess=True)
    res = arch.ingest(mail, *key_args("frank", "grace"))
    assert res.returncode == 0, res.describe()
    m1, m2, m3 = (arch.message(f"l{i}@example.org") for i in (1, 2, 3))
    for m, subject in ((m1, "Signed"), (m2, "Stranger"), (m3, "Plain")):
        # no inner headers: the outer ones are used
        assert m["sender"] == "grace@example.org" and m["subject"] == subject
        assert m["text"] == "hello from a legacy client" and m["encrypted"] is True
        assert m["date"] == "2026-11-28T10:00:00+00:00"
    assert m1["signature"] == {"status": "valid", "signer": FPR["grace"]}
    assert m2["signature"]["status"] == "unknown"
    assert m3["signature"] == {"status": "unsigned", "signer": None}
    assert arch.stats["signatures"] == {"valid": 1, "invalid": 0, "unknown": 1, "unsigned": 1}


def test_securejoin_password_from_qr():
    from coi_archive.ingest.crypto import securejoin_password

    qr = events("securejoin_contact")[0]["qr"]
    inviter = events("securejoin_contact")[0]["inviter"]
    pw = securejoin_password(qr)
    assert pw and pw.startswith(f"securejoin/{FPR_OF_ADDR[inviter]}/")
    assert (
        securejoin_password("OPENPGP4FPR:" + FPR["judy"] + "#a=judy%40example.org&s=abc")
        == f"securejoin/{FPR['judy']}/abc"
    )
    assert securejoin_password("not a qr") is None


def test_autocrypt_fingerprint_matches_key_files():
    from coi_archive.ingest.autocrypt import keydata_fingerprint

    for user, path in PUBLIC_KEYS.items():
        lines = path.read_text().splitlines()
        body = [ln for ln in lines[lines.index("") + 1 :] if ln and not ln.startswith(("=", "-----"))]
        assert keydata_fingerprint("".join(body)) == FPR[user]
