"""Signed mail and image dimensions (issue 10, "Fidelity").

Signatures: a ``multipart/signed`` message (RFC 1847/3156), plain or
inside the encryption (Thunderbird signs, then encrypts), is *signed*: its
detached signature is checked over the signed part's bytes as on the wire
(line ends made CRLF) against the keys given and the keys in its Autocrypt
headers; ``show --json`` gives ``signature: {status, signer}``,
``has:signature`` finds it on both engines, and the signature part is no
attachment (Delta Chat core reads only the signed first part).  Every
signature here is made by this test with keys it generates.

Images: an image attachment carries ``width``/``height`` read from its
header; a hostile image (not an image, cut short, absurd size) has none and
a recorded defect.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import Archive, make_maildir

ps = pytest.importorskip("pysequoia")

ALICE = "alice@example.org"
BOB = "bob@example.org"

#: The signed first part of every signed message here (a Thunderbird
#: shape: protected headers in the part, CRLF line ends).
SIGNED_PART = (
    'Content-Type: multipart/mixed; boundary="M"; protected-headers="v1"\r\n'
    f"From: Alice <{ALICE}>\r\nTo: Bob <{BOB}>\r\nSubject: Shed key code\r\n\r\n"
    "--M\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nThe code is 1234.\r\n--M--\r\n"
)


def _tsk(name: str, address: str) -> Any:
    return ps.Tsk.generate(f"{name} <{address}>")


def _autocrypt(tsk: Any) -> str:
    """An Autocrypt header carrying the signer's public key."""
    keydata = base64.b64encode(bytes(tsk.extract_certificate())).decode()
    return f"Autocrypt: addr={ALICE}; keydata={keydata}\r\n"


def _signed(signer: Any, part: str = SIGNED_PART, shown: str | None = None) -> str:
    """A ``multipart/signed`` body over ``part``; ``shown`` is what the
    message carries instead (a part changed after signing)."""
    sig = ps.sign(signer.signer(), part.encode(), mode=ps.SignatureMode.DETACHED)
    sig_text = sig.decode() if isinstance(sig, bytes) else str(sig)
    return (
        'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; '
        'boundary="S"\r\n\r\n'
        f"This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n--S\r\n{shown or part}\r\n"
        '--S\r\nContent-Type: application/pgp-signature; name="OpenPGP_signature.asc"\r\n'
        'Content-Disposition: attachment; filename="OpenPGP_signature.asc"\r\n\r\n'
        f"{sig_text.replace(chr(13), '').replace(chr(10), chr(13) + chr(10))}\r\n--S--\r\n"
    )


def _plain_signed(mid: str, body: str, headers: str = "") -> bytes:
    return (
        f"From: Alice <{ALICE}>\r\nTo: Bob <{BOB}>\r\nSubject: Shed key code\r\n"
        f"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{mid}>\r\n{headers}"
        f"MIME-Version: 1.0\r\n{body}"
    ).encode()


def _encrypted(mid: str, inner: str, to: Any) -> bytes:
    armored = ps.encrypt(inner.encode(), recipients=[to.extract_certificate()])
    armored = armored.decode() if isinstance(armored, bytes) else str(armored)
    return (
        f"From: Alice <{ALICE}>\r\nTo: Bob <{BOB}>\r\nSubject: ...\r\n"
        f"Date: Mon, 02 Nov 2026 11:00:00 +0000\r\nMessage-ID: <{mid}>\r\n"
        "User-Agent: Mozilla Thunderbird\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="E"\r\n\r\n'
        "--E\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
        '--E\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n'
        f"{armored}\r\n--E--\r\n"
    ).encode()


def _key_fingerprints(cert: Any) -> set[str]:
    """The fingerprints of a certificate's primary key and subkeys."""
    pile = ps.packet.PacketPile.from_bytes(bytes(cert))
    return {str(p.fingerprint).upper() for p in pile if getattr(p, "fingerprint", None)}


@dataclass
class Signed:
    archive: Archive
    alice: str  # the primary fingerprint of the signer whose key is known
    stranger: set[str]  # the key fingerprints of the signer nobody knows


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    """Signed mail of every verdict, plain and encrypted, and one unsigned."""
    tmp = tmp_path_factory.mktemp("signed")
    alice, bob, stranger = _tsk("Alice", ALICE), _tsk("Bob", BOB), _tsk("Mallory", "mallory@example.net")
    (tmp / "bob.asc").write_text(str(bob))
    tampered = SIGNED_PART.replace("1234", "9999")
    unsigned = "Content-Type: text/plain; charset=UTF-8\r\n\r\nThe code is 1234.\r\n"
    mails = {
        # Autocrypt names the signer's key: checked and valid
        "1.eml": _plain_signed("valid@example.org", _signed(alice), _autocrypt(alice)),
        # the same, stored with LF line ends (a Maildir file): the check reads CRLF
        "2.eml": _plain_signed("lf@example.org", _signed(alice), _autocrypt(alice)).replace(b"\r\n", b"\n"),
        # the part was changed after signing: the known key does not sign it
        "3.eml": _plain_signed("tampered@example.org", _signed(alice, shown=tampered), _autocrypt(alice)),
        # signed by a key nobody gave: unknown, with the issuer it names
        "4.eml": _plain_signed("stranger@example.org", _signed(stranger), _autocrypt(alice)),
        "5.eml": _plain_signed("unsigned@example.org", unsigned),
        # signed, then encrypted (Thunderbird): checked inside the encryption
        "6.eml": _encrypted("tb-valid@example.org", _signed(alice), bob),
        "7.eml": _encrypted("tb-tampered@example.org", _signed(alice, shown=tampered), bob),
    }
    # the Thunderbird copies carry the signer's key as Autocrypt-Gossip-less mail does: in the outer header
    for name in ("6.eml", "7.eml"):
        mails[name] = mails[name].replace(b"User-Agent:", _autocrypt(alice).encode() + b"User-Agent:")
    archive = Archive(tmp / "archive", inprocess=True)
    res = archive.ingest(make_maildir(tmp / "Maildir", mails), "--key", tmp / "bob.asc")
    assert res.returncode == 0, res.describe()
    alice_fpr = alice.extract_certificate().fingerprint.upper()
    return Signed(archive, alice_fpr, _key_fingerprints(stranger.extract_certificate()))


def test_a_detached_signature_is_checked_against_the_autocrypt_key(signed: Signed) -> None:
    for mid in ("valid@example.org", "lf@example.org", "tb-valid@example.org"):
        assert signed.archive.message(mid)["signature"] == {"status": "valid", "signer": signed.alice}, mid
    for mid in ("tampered@example.org", "tb-tampered@example.org"):
        assert signed.archive.message(mid)["signature"] == {"status": "invalid", "signer": signed.alice}, mid


def test_an_unknown_signer_is_unknown_with_the_issuer_it_names(signed: Signed) -> None:
    sig = signed.archive.message("stranger@example.org")["signature"]
    assert sig["status"] == "unknown"
    assert sig["signer"] in signed.stranger  # the key that made it (a signing subkey)


def test_unsigned_mail_has_no_signature(signed: Signed) -> None:
    assert "signature" not in signed.archive.message("unsigned@example.org")


def test_the_signature_part_is_no_attachment(signed: Signed) -> None:
    for mid in ("valid@example.org", "tb-valid@example.org"):
        msg = signed.archive.message(mid)
        assert msg["attachments"] == [] and msg["text"] == "The code is 1234.", mid


@pytest.mark.parametrize("engine", ["whoosh", "tantivy"])
def test_has_signature_finds_the_signed_messages(signed: Signed, engine: str) -> None:
    signed.archive.run("reindex", "--engine", engine)
    found = {h["message_id"] for h in signed.archive.json("search", "has:signature", "--limit", "100")}
    names = {"valid", "lf", "tampered", "stranger", "tb-valid", "tb-tampered"}
    assert found == {f"{name}@example.org" for name in names}
    assert signed.archive.json("search", "has:attachment") == []


def test_a_signature_that_cannot_be_read_is_unknown_with_a_defect(tmp_path: Path) -> None:
    """A signature part that holds no OpenPGP signature: the message still
    says it is signed (``unknown``, no signer), and the defect is counted."""
    body = (
        'Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary="S"\r\n\r\n'
        "--S\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        "--S\r\nContent-Type: application/pgp-signature\r\n\r\n"
        "-----BEGIN PGP SIGNATURE-----\r\n\r\nAAAA\r\n-----END PGP SIGNATURE-----\r\n--S--\r\n"
    )
    archive = Archive(tmp_path / "archive", inprocess=True)
    archive.ingest(make_maildir(tmp_path / "Maildir", {"1.eml": _plain_signed("bad@example.org", body)}))
    assert archive.message("bad@example.org")["signature"] == {"status": "unknown", "signer": None}
    assert archive.stats["defects_by_kind"].get("UnreadableSignature") == 1


# -- image dimensions ---------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    """A PNG whose header states ``width`` x ``height`` (valid chunk CRCs;
    the pixel data is never read)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4)) + chunk(b"IEND", b"")


def _image_mail(mid: str, data: bytes, name: str = "photo.png", mime: str = "image/png") -> bytes:
    payload = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return (
        f"From: Alice <{ALICE}>\r\nTo: <{BOB}>\r\nSubject: Photo\r\nDate: Mon, 02 Nov 2026 10:01:00 +0000\r\n"
        f"Message-ID: <{mid}>\r\nChat-Version: 1.0\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nlook\r\n"
        f'--B\r\nContent-Type: {mime}; name="{name}"\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        f"{payload}\r\n--B--\r\n"
    ).encode()


def test_image_attachments_carry_their_dimensions_and_hostile_ones_none(tmp_path: Path) -> None:
    real = _png(640, 480)
    mails = {
        "1.eml": _image_mail("ok@example.org", real),
        "2.eml": _image_mail("cut@example.org", real[:20]),  # cut inside the header
        "3.eml": _image_mail("bomb@example.org", _png(100_000, 100_000)),  # 10 gigapixels claimed
        "4.eml": _image_mail("big@example.org", _png(8000, 7000)),  # over core's 50 megapixels
        "5.eml": _image_mail("text@example.org", b"not an image at all"),
        "6.eml": _image_mail("file@example.org", b"%PDF-1.4", "doc.pdf", "application/pdf"),
    }
    archive = Archive(tmp_path / "archive", inprocess=True)
    res = archive.ingest(make_maildir(tmp_path / "Maildir", mails))
    assert res.returncode == 0, res.describe()
    (att,) = archive.message("ok@example.org")["attachments"]
    assert (att["width"], att["height"], archive.message("ok@example.org")["kind"]) == (640, 480, "image")
    for mid in ("cut", "bomb", "big", "text", "file"):
        msg = archive.message(f"{mid}@example.org")
        (att,) = msg["attachments"]
        assert "width" not in att and "height" not in att, mid
        assert msg["kind"] == "file", mid  # core shows an image it cannot measure as a file
    # one defect for each hostile image, none for the PDF
    assert archive.stats["defects_by_kind"].get("UnreadableImage") == 4
    # the chat page and its media page give the browser the size before the image arrives (no layout jump)
    chat_id = archive.chat_of("ok@example.org")["id"]
    for page in _pages(archive.path, f"/chats/{chat_id}", f"/chats/{chat_id}/media"):
        imgs = re.findall(r"<img [^>]*>", page)
        assert len(imgs) == 5 and [i for i in imgs if "width=" in i] == [
            i for i in imgs if 'width="640" height="480"' in i
        ]
        assert len([i for i in imgs if "width=" in i]) == 1


def _pages(path: Path, *urls: str) -> list[str]:
    from coi_archive.webui import create_app

    app = create_app(path)
    try:
        with app.test_client() as client:
            pages = [client.get(url, headers={"Host": "127.0.0.1:8080"}) for url in urls]
            assert [p.status_code for p in pages] == [200] * len(urls)
            return [p.get_data(as_text=True) for p in pages]
    finally:
        app.extensions["coi"].pool.close()


def test_a_decrypted_image_has_the_dimensions_of_its_plaintext(tmp_path: Path) -> None:
    bob = _tsk("Bob", BOB)
    (tmp_path / "bob.asc").write_text(str(bob))
    inner = _image_mail("enc-img@example.org", _png(33, 21)).decode()
    archive = Archive(tmp_path / "archive", inprocess=True)
    archive.ingest(
        make_maildir(tmp_path / "Maildir", {"1.eml": _encrypted("enc-img@example.org", inner, bob)}),
        "--key",
        tmp_path / "bob.asc",
    )
    (att,) = archive.message("enc-img@example.org")["attachments"]
    assert (att["width"], att["height"]) == (33, 21)


# -- attached keys -------------------------------------------------------------------


def _key_mail(mid: str, key_text: str) -> bytes:
    return (
        f"From: Alice <{ALICE}>\r\nTo: <{BOB}>\r\nSubject: My key\r\nDate: Mon, 02 Nov 2026 10:01:00 +0000\r\n"
        f"Message-ID: <{mid}>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nmy key\r\n"
        '--B\r\nContent-Type: application/pgp-keys; name="alice.asc"\r\n'
        f'Content-Disposition: attachment; filename="alice.asc"\r\n\r\n{key_text}\r\n--B--\r\n'
    ).encode()


def test_a_readable_attached_key_is_no_file_but_has_key_finds_it(tmp_path: Path) -> None:
    """Core imports an attached public key and lists no file; a key part
    it cannot read stays a file.  ``has:key`` finds both."""
    public = str(_tsk("Alice", ALICE).extract_certificate())
    assert public.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    broken = "-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nmDMEZtXN4BYJ\r\n-----END PGP PUBLIC KEY BLOCK-----"
    mails = {"1.eml": _key_mail("key@example.org", public), "2.eml": _key_mail("broken@example.org", broken)}
    archive = Archive(tmp_path / "archive", inprocess=True)
    archive.ingest(make_maildir(tmp_path / "Maildir", mails))
    assert archive.message("key@example.org")["attachments"] == []
    assert [a["filename"] for a in archive.message("broken@example.org")["attachments"]] == ["alice.asc"]
    found = {h["message_id"] for h in archive.json("search", "has:key")}
    assert found == {"key@example.org", "broken@example.org"}


# -- a decoder upgrade reaches decrypted messages -------------------------------------


def test_a_decoder_upgrade_reaches_decrypted_messages_without_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An archive whose decrypted messages were read by an older decoder
    (no image sizes, detached signatures unchecked) is decoded again
    without the key, from the inner messages it kept: the sizes and the
    verdict appear, nothing is sealed."""
    from coi_archive.index.api import Archive as Writer
    from coi_archive.ingest import crypto, mime

    alice, bob = _tsk("Alice", ALICE), _tsk("Bob", BOB)
    (tmp_path / "bob.asc").write_text(str(bob))
    image = _image_mail("enc-img@example.org", _png(33, 21)).decode()
    mails = {
        "1.eml": _encrypted("enc-img@example.org", image, bob),
        "2.eml": _encrypted("tb@example.org", _signed(alice), bob).replace(
            b"User-Agent:", _autocrypt(alice).encode() + b"User-Agent:"
        ),
    }
    with monkeypatch.context() as old:  # the decoder before this change
        old.setattr(mime, "dimensions", lambda data: None)
        old.setattr(crypto, "verify_signed", lambda raw, msg, certs: None)
        archive = Archive(tmp_path / "archive", inprocess=True)
        archive.ingest(make_maildir(tmp_path / "Maildir", mails), "--key", tmp_path / "bob.asc")
        assert "width" not in archive.message("enc-img@example.org")["attachments"][0]
        assert archive.message("tb@example.org")["signature"] == {"status": "unknown", "signer": None}
    with Writer.open(tmp_path / "archive") as writer:
        assert writer.redecode() == 2  # no key given
    archive = Archive(tmp_path / "archive", inprocess=True)
    (att,) = archive.message("enc-img@example.org")["attachments"]
    assert (att["width"], att["height"], archive.message("enc-img@example.org")["encrypted"]) == (33, 21, True)
    fpr = alice.extract_certificate().fingerprint.upper()
    assert archive.message("tb@example.org")["signature"] == {"status": "valid", "signer": fpr}
    assert archive.stats["decrypted"] == 2 and archive.stats["encrypted_undecrypted"] == 0
