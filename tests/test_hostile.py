"""Bad input is normal input.

Every case builds its mailbox in ``tmp_path`` at test time (deterministic:
fixed seeds, fixed bytes), ingests it into a fresh archive and checks:

* ``ingest`` exits 0,
* every input is counted: ``messages_seen`` == number of inputs,
  ``duplicates`` == seen - unique and unique == chat + mail +
  encrypted_undecrypted + parse_errors; ``parse_errors`` counts the garbage
  where a case has garbage,
* ``verify`` exits 0,
* ``raw`` is byte-exact for every message whose Message-ID we know and for
  every message listed in a chat.

Bad arguments (missing path, unreadable file, unknown chat/message id) must
give a non-zero exit, exactly one line on stderr and no traceback:

* ``ingest /nonexistent`` and an unreadable SOURCE file -> exit 2;
* ``show NOPE`` and ``raw NOPE`` (well-formed but unknown id) -> exit 1 or 2
  (1 = not found, 2 = unusable argument; both accepted).

The CPython email test messages come from the running interpreter
(``Lib/test/test_email/data/msg_*.txt``).  If a Python build lacks them
(some distributions strip ``test``), a generated stand-in set of broken
messages is used instead and the test says so in its output.
"""

from __future__ import annotations

import bz2
import email
import gzip
import hashlib
import os
import pathlib
import random
import shutil
import subprocess
import sys
from collections import defaultdict
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from tests.cli_helpers import (
    REPO_ROOT,
    Archive,
    Result,
    assert_clean_error,
    cli,
    collect_key,
    inprocess_available,
    make_maildir,
    message_id_of,
    norm_mid,
)

CPYTHON_DATA = pathlib.Path(email.__file__).parent.parent / "test" / "test_email" / "data"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def new_archive(tmp_path) -> Archive:
    return Archive(tmp_path / "archive")


def search_ids(arch: Archive, query: str) -> set[str]:
    return {norm_mid(v) for v in collect_key(arch.json("search", query), "message_id")}


def expected_unique(inputs: list[bytes], garbage: int = 0) -> int:
    """Distinct Message-IDs + one per distinct input without one (synthetic
    ids are content-derived).  ``garbage`` inputs are the last ones and are
    counted as one message each."""
    mids, nomid = set(), set()
    real = inputs[: len(inputs) - garbage]
    for data in real:
        mid = message_id_of(data)
        if mid:
            mids.add(mid)
        else:
            nomid.add(data)
    return len(mids) + len(nomid) + len(set(inputs[len(real) :]))


def check_invariants(
    arch: Archive, inputs: list[bytes], *, parse_errors: int | None = None, unique: int | None = None, raw_equal=None
) -> dict:
    """The checks every hostile case shares; returns the stats."""
    st = arch.stats
    assert st["messages_seen"] == len(inputs), st
    assert st["duplicates"] == st["messages_seen"] - st["unique_messages"], st
    assert st["unique_messages"] == (
        st["chat_messages"] + st["mail_messages"] + st["encrypted_undecrypted"] + st["parse_errors"]
    ), st
    if parse_errors is not None:
        assert st["parse_errors"] == parse_errors, st
    if unique is not None:
        assert st["unique_messages"] == unique, st
    res = arch.verify()
    assert res.returncode == 0, res.describe()
    same = raw_equal or (lambda raw, want: raw == want)
    # raw of every input whose Message-ID we can read
    by_mid: dict[str, list[bytes]] = defaultdict(list)
    for data in inputs:
        mid = message_id_of(data)
        if mid:
            by_mid[mid].append(data)
    for mid, copies in by_mid.items():
        raw = arch.raw(mid)
        assert any(same(raw, c) for c in copies), f"raw {mid!r}: {len(raw)} bytes match no input"
    # raw of every message listed in a chat (synthetic ids included)
    for mid in arch.messages:
        if mid in by_mid:
            continue
        raw = arch.raw(mid)
        assert any(same(raw, c) for c in inputs), f"raw {mid!r}: {len(raw)} bytes match no input"
    return st


def mail(
    headers: list[tuple[str, str | bytes]], body: bytes | str = b"", *, nl: bytes = b"\n", blank_line: bool = True
) -> bytes:
    out = b""
    for name, value in headers:
        v = value if isinstance(value, bytes) else value.encode("ascii")
        out += name.encode() + b": " + v + nl
    if blank_line:
        out += nl
    return out + (body if isinstance(body, bytes) else body.encode("utf-8"))


def std_headers(n: int, subject: str = "Test", **extra) -> list[tuple[str, str | bytes]]:
    hs = [
        ("From", f"Sender {n} <sender{n}@example.org>"),
        ("To", "rcpt@example.org"),
        ("Subject", subject),
        ("Date", f"Sat, 28 Nov 2026 03:{n % 60:02d}:00 +0000"),
        ("Message-ID", f"<hostile-{n}@example.org>"),
        ("MIME-Version", "1.0"),
    ]
    hs += list(extra.items())
    return hs


def ingest_ok(arch: Archive, *sources):
    res = arch.ingest(*sources, check=False)
    assert res.returncode == 0, res.describe()
    assert "Traceback" not in res.stderr, res.describe()
    return res


# --------------------------------------------------------------------------
# the CPython email test messages
# --------------------------------------------------------------------------


def generated_broken_set() -> dict[str, bytes]:
    """Stand-in for Lib/test/test_email/data when a build lacks it."""
    rnd = random.Random(4711)
    msgs = {
        "gen_01.txt": mail(std_headers(1), "plain\n"),
        "gen_02.txt": b"no headers at all, only a body line\n\nand more\n",
        "gen_03.txt": mail(std_headers(3, **{"Content-Type": "multipart/mixed"}), "--x\n\nno boundary\n"),
        "gen_04.txt": mail([("From", "a@example.org"), ("Subject", "no separating newline")], blank_line=False)
        + b"body right after headers\n",
        "gen_05.txt": mail([("Subject", "=?bogus?Q?=FF=FE?="), ("From", "<>")], "x\n"),
        "gen_06.txt": mail(std_headers(6, **{"Content-Type": "message/rfc822"}), "Subject: inner\n\ninner\n"),
        "gen_07.txt": mail(
            std_headers(7, **{"Content-Type": 'multipart/mixed; boundary="b"'}),
            "--b\nContent-Type: text/plain\n\nunterminated\n",
        ),
        "gen_08.txt": rnd.randbytes(777),
        "gen_09.txt": mail([("Message-ID", "<hostile-1@example.org>"), ("From", "dup@example.org")], "dup id\n"),
        "gen_10.txt": mail(std_headers(10), "crlf\r\nmixed\n", nl=b"\r\n"),
    }
    return msgs


def cpython_messages() -> tuple[dict[str, bytes], bool]:
    files = sorted(CPYTHON_DATA.glob("msg_*.txt")) if CPYTHON_DATA.is_dir() else []
    if files:
        return {p.name: p.read_bytes() for p in files}, True
    return generated_broken_set(), False


def test_cpython_email_test_messages(tmp_path, capsys):
    msgs, real = cpython_messages()
    if not real:
        with capsys.disabled():
            print(
                f"\n[test_hostile] {CPYTHON_DATA} missing in this Python build: "
                f"using {len(msgs)} generated broken messages instead"
            )
    src = make_maildir(tmp_path / "cpython", msgs)
    # ~60 `raw` calls: run them in-process when the CLI allows it (speed);
    # ingest still runs as a real subprocess.
    arch = new_archive(tmp_path)
    arch.inprocess = inprocess_available() and os.environ.get("COI_TEST_INPROCESS", "1") != "0"
    res = cli(arch.path, "ingest", src, check=False)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.describe()
    inputs = list(msgs.values())
    st = check_invariants(arch, inputs, unique=expected_unique(inputs))
    with capsys.disabled():
        print(f"\n[test_hostile] CPython email test set: {len(inputs)} files, stats {st}")


# --------------------------------------------------------------------------
# truncated mbox
# --------------------------------------------------------------------------


def _mbox_messages() -> list[bytes]:
    msgs = []
    for n in range(1, 5):
        body = "".join(f"line {i} of message {n}, nothing special here\n" for i in range(40))
        msgs.append(mail(std_headers(100 + n, subject=f"mbox message {n}"), body))
    return msgs


def _strip_from_line(raw: bytes) -> bytes:
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    return raw


def mbox_raw_equal(raw: bytes, want: bytes) -> bool:
    """raw of an mbox message: the message bytes; an mbox ``From `` line and
    the separator newline at the end are tolerated (both belong to the
    container, not to the message)."""
    return _strip_from_line(raw).rstrip(b"\n") == want.rstrip(b"\n")


@pytest.mark.parametrize("compression", ["none", "gz", "bz2"])
def test_truncated_mbox(tmp_path, compression):
    msgs = _mbox_messages()
    cut = msgs[-1][: len(msgs[-1]) // 2]  # cut mid-body of the 4th message
    assert b"Message-ID" in cut and not cut.endswith(b"\n\n")
    parts = [b"From sender@example.org Sat Nov 28 03:31:16 2026\n" + m + b"\n" for m in msgs[:-1]]
    data = b"".join(parts) + b"From sender@example.org Sat Nov 28 03:31:17 2026\n" + cut
    path = tmp_path / {"none": "cut.mbox", "gz": "cut.mbox.gz", "bz2": "cut.mbox.bz2"}[compression]
    path.write_bytes({"none": lambda d: d, "gz": gzip.compress, "bz2": bz2.compress}[compression](data))
    arch = new_archive(tmp_path)
    ingest_ok(arch, path)
    inputs = msgs[:-1] + [cut]
    check_invariants(arch, inputs, unique=4, raw_equal=mbox_raw_equal)
    # the three complete messages are ordinary mail, searchable
    for n in (1, 2, 3):
        assert message_id_of(msgs[n - 1]) in arch.messages


# --------------------------------------------------------------------------
# binary garbage and empty files in a Maildir
# --------------------------------------------------------------------------


def test_binary_garbage_in_maildir(tmp_path):
    rnd = random.Random(1234)
    good = [
        mail(std_headers(200, subject="good one"), "fine\n"),
        mail(std_headers(201, subject="good two"), "also fine\n"),
    ]
    garbage = [rnd.randbytes(4096), bytes(range(256)) * 16, b"\x00" * 1000, b"\x89PNG\r\n\x1a\n" + rnd.randbytes(2000)]
    files = {f"1795000000.{i}.good": d for i, d in enumerate(good)}
    files.update({f"1795000001.{i}.garbage": d for i, d in enumerate(garbage)})
    src = make_maildir(tmp_path / "md", files, sub="cur")
    arch = new_archive(tmp_path)
    ingest_ok(arch, src)
    inputs = good + garbage
    st = check_invariants(arch, inputs, parse_errors=len(garbage), unique=expected_unique(inputs, garbage=len(garbage)))
    assert st["mail_messages"] == len(good)


def test_empty_file(tmp_path):
    good = mail(std_headers(300, subject="next to an empty file"), "hello\n")
    src = make_maildir(tmp_path / "md", {"1795000000.empty": b"", "1795000001.good": good})
    arch = new_archive(tmp_path)
    ingest_ok(arch, src)
    st = check_invariants(arch, [b"", good], parse_errors=1, unique=2)
    assert st["mail_messages"] == 1


# --------------------------------------------------------------------------
# no Message-ID: a stable synthetic id
# --------------------------------------------------------------------------


def test_no_message_id_gets_stable_synthetic_id(tmp_path):
    msg = mail(
        [
            ("From", "Anna <anna@example.org>"),
            ("To", "bob@example.org"),
            ("Subject", "no id here"),
            ("Date", "Sat, 28 Nov 2026 03:00:00 +0000"),
        ],
        "a message without Message-ID, wordnomsgid\n",
    )
    assert not message_id_of(msg)
    src_a = make_maildir(tmp_path / "a", {"1795000000.x": msg})
    src_b = make_maildir(tmp_path / "b", {"1795999999.other-name:2,S": msg}, sub="cur")
    arch = new_archive(tmp_path)
    ingest_ok(arch, src_a)
    first = set(arch.messages)
    assert len(first) == 1, first
    ingest_ok(arch, src_a)  # the same mailbox again
    ingest_ok(arch, src_b)  # the same bytes under another name
    assert set(arch.messages) == first, "the synthetic id changed or the message was duplicated"
    st = arch.stats
    assert st["unique_messages"] == 1, st
    assert st["duplicates"] == st["messages_seen"] - 1, st
    mid = next(iter(first))
    assert arch.raw(mid) == msg
    assert mid in search_ids(arch, "wordnomsgid")
    res = arch.verify()
    assert res.returncode == 0, res.describe()


# --------------------------------------------------------------------------
# charsets
# --------------------------------------------------------------------------


def test_bad_and_unknown_charsets(tmp_path):
    msgs = {
        "unknown": mail(
            std_headers(
                400,
                subject="unknown charset",
                **{"Content-Type": "text/plain; charset=x-unknown", "Content-Transfer-Encoding": "8bit"},
            ),
            b"wordunknowncs caf\xe9 \xff\xfe end\n",
        ),
        "invalid-utf8": mail(
            std_headers(
                401,
                subject="invalid utf-8",
                **{"Content-Type": "text/plain; charset=utf-8", "Content-Transfer-Encoding": "8bit"},
            ),
            b"wordbadutf before \xff\xfe\xc3( after Gr\xc3\xbc\xc3\x9fe\n",
        ),
        "unknown-ew": mail(
            std_headers(
                402, subject="=?x-unknown?Q?caf=E9?= wordewtail", **{"Content-Type": "text/plain; charset=us-ascii"}
            ),
            "body of the encoded-word case\n",
        ),
        "bad-base64": mail(
            std_headers(
                403,
                subject="bad base64 wordbadb64",
                **{"Content-Type": 'text/plain; charset="utf-8"', "Content-Transfer-Encoding": "base64"},
            ),
            "!!!this is not base64###\n",
        ),
    }
    src = make_maildir(tmp_path / "md", {f"1795000000.{k}": v for k, v in msgs.items()})
    arch = new_archive(tmp_path)
    ingest_ok(arch, src)
    inputs = list(msgs.values())
    st = check_invariants(arch, inputs, parse_errors=0, unique=len(inputs))
    assert st["mail_messages"] == len(inputs), "mails with bad charsets are still mail"
    problems = []
    text = arch.message("hostile-400@example.org")["text"] or ""
    if "wordunknowncs" not in text:
        problems.append(f"x-unknown charset: text lost: {text!r}")
    text = arch.message("hostile-401@example.org")["text"] or ""
    # declared utf-8 with a few invalid bytes: the valid UTF-8 must survive
    if not ("wordbadutf before" in text and "after Grüße" in text):
        problems.append(f"utf-8 with invalid bytes: valid text garbled: {text!r}")
    subject = arch.message("hostile-402@example.org")["subject"] or ""
    if "wordewtail" not in subject:
        problems.append(f"unknown charset in encoded word: subject {subject!r}")
    for mid, word in [
        ("hostile-400@example.org", "wordunknowncs"),
        ("hostile-401@example.org", "wordbadutf"),
        ("hostile-402@example.org", "wordewtail"),
        ("hostile-403@example.org", "wordbadb64"),
    ]:
        if mid not in search_ids(arch, word):
            problems.append(f"search {word!r} does not find {mid}")
    assert not problems, "\n".join(problems)


def test_undeclared_8bit_headers(tmp_path):
    utf8 = mail(
        [
            ("From", "Jürgen Müller <juergen@example.org>".encode()),
            ("To", "rcpt@example.org"),
            ("Subject", "Grüße aus Köln – Straßenfest".encode()),
            ("Date", "Sat, 28 Nov 2026 03:00:00 +0000"),
            ("Message-ID", "<eightbit-utf8@example.org>"),
            ("Content-Type", "text/plain; charset=utf-8"),
        ],
        "Kölsch ist ein Bier.\n".encode(),
    )
    latin1 = mail(
        [
            ("From", "Zoë Ærø <zoe@example.org>".encode("latin-1")),
            ("To", "rcpt@example.org"),
            ("Subject", "Grüße aus Bremen Stadtmusikanten".encode("latin-1")),
            ("Date", "Sat, 28 Nov 2026 03:01:00 +0000"),
            ("Message-ID", "<eightbit-latin1@example.org>"),
        ],
        b"Body without charset.\n",
    )
    src = make_maildir(tmp_path / "md", {"1795000000.utf8": utf8, "1795000001.latin1": latin1})
    arch = new_archive(tmp_path)
    ingest_ok(arch, src)
    check_invariants(arch, [utf8, latin1], parse_errors=0, unique=2)
    problems = []
    for mid, subject, sender, name, word in [
        (
            "eightbit-utf8@example.org",
            "Grüße aus Köln – Straßenfest",
            "juergen@example.org",
            "Jürgen Müller",
            "Straßenfest",
        ),
        ("eightbit-latin1@example.org", "Grüße aus Bremen Stadtmusikanten", "zoe@example.org", "Zoë Ærø", "Grüße"),
    ]:
        m = arch.message(mid)
        for field, want in (("subject", subject), ("sender_name", name)):
            if m[field] != want:
                problems.append(f"{mid}: {field} {m[field]!r} != {want!r}")
        if (m["sender"] or "").lower() != sender:
            problems.append(f"{mid}: sender {m['sender']!r} != {sender!r}")
        if mid not in search_ids(arch, word):
            problems.append(f"{mid}: search {word!r} does not find it")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# broken MIME, header-only
# --------------------------------------------------------------------------


def test_broken_mime(tmp_path):
    msgs = {
        "no-boundary": mail(
            std_headers(500, subject="multipart without boundary", **{"Content-Type": "multipart/mixed"}),
            "--XYZ\nContent-Type: text/plain\n\nwordnoboundary here\n--XYZ--\n",
        ),
        "nested-unterminated": mail(
            std_headers(
                501, subject="nested multipart without end", **{"Content-Type": 'multipart/mixed; boundary="OUT"'}
            ),
            "preamble\n--OUT\nContent-Type: text/plain; charset=utf-8\n\nwordnestedfirst text\n"
            '--OUT\nContent-Type: multipart/alternative; boundary="IN"\n\n'
            "--IN\nContent-Type: text/plain\n\nwordnestedinner\n"
            "--IN\nContent-Type: text/html\n\n<p>unterminated html",
        ),
        "boundary-never-used": mail(
            std_headers(502, subject="boundary never appears", **{"Content-Type": 'multipart/mixed; boundary="NEVER"'}),
            "wordneverboundary just text\n",
        ),
        "bad-part-headers": mail(
            std_headers(503, subject="garbage part headers", **{"Content-Type": 'multipart/mixed; boundary="B"'}),
            b"--B\nContent-Type: text/plain; charset=\xff\xfe\nContent-Transfer-Encoding: quoted-printable\n\n"
            b'wordbadpart =ZZ =\n--B\nContent-Type: application/octet-stream; name="x.bin"\n'
            b"Content-Transfer-Encoding: base64\n\n####\n--B--\n",
        ),
    }
    src = make_maildir(tmp_path / "md", {f"1795000000.{k}": v for k, v in msgs.items()})
    arch = new_archive(tmp_path)
    ingest_ok(arch, src)
    inputs = list(msgs.values())
    st = check_invariants(arch, inputs, unique=len(inputs))
    assert st["mail_messages"] == len(inputs), "broken MIME is still mail, not a parse error"
    problems = []
    for mid, word in [
        ("hostile-500@example.org", "wordnoboundary"),
        ("hostile-501@example.org", "wordnestedfirst"),
        ("hostile-502@example.org", "wordneverboundary"),
        ("hostile-503@example.org", "wordbadpart"),
    ]:
        text = arch.message(mid)["text"] or ""
        if word not in text:
            problems.append(f"{mid}: {word!r} not in shown text {text[:200]!r}")
        if mid not in search_ids(arch, word):
            problems.append(f"{mid}: search {word!r} does not find it")
    assert not problems, "\n".join(problems)


def test_header_only_message(tmp_path):
    msg = mail(std_headers(600, subject="wordheaderonly subject"), blank_line=False)
    assert msg.endswith(b"\n") and b"\n\n" not in msg
    src = make_maildir(tmp_path / "md", {"1795000000.hdr": msg})
    arch = new_archive(tmp_path)
    ingest_ok(arch, src)
    check_invariants(arch, [msg], parse_errors=0, unique=1)
    m = arch.message("hostile-600@example.org")
    assert m["subject"] == "wordheaderonly subject"
    assert (m["text"] or "").strip() == ""
    assert "hostile-600@example.org" in search_ids(arch, "wordheaderonly")


# --------------------------------------------------------------------------
# a 20 MB attachment
# --------------------------------------------------------------------------


def test_20mb_attachment(tmp_path):
    size = 20 * 1024 * 1024
    payload = random.Random(20).randbytes(size)
    outer = MIMEMultipart()
    outer["From"] = "Big Sender <big@example.org>"
    outer["To"] = "rcpt@example.org"
    outer["Subject"] = "twenty megabytes"
    outer["Date"] = "Sat, 28 Nov 2026 03:00:00 +0000"
    outer["Message-ID"] = "<big-attachment@example.org>"
    outer.attach(MIMEText("see attachment\n", "plain", "utf-8"))
    outer.attach(MIMEApplication(payload, "octet-stream", Name="big.bin"))
    outer.get_payload()[1]["Content-Disposition"] = 'attachment; filename="big.bin"'
    data = outer.as_bytes()
    assert len(data) > size
    src = make_maildir(tmp_path / "md", {"1795000000.big": data})
    arch = new_archive(tmp_path)
    ingest_ok(arch, src)
    check_invariants(arch, [data], parse_errors=0, unique=1)
    m = arch.message("big-attachment@example.org")
    att = {a["filename"]: a for a in m["attachments"]}
    assert "big.bin" in att, m["attachments"]
    assert att["big.bin"]["size"] == size
    assert att["big.bin"]["sha256"] == hashlib.sha256(payload).hexdigest()
    raw = arch.raw("big-attachment@example.org")
    assert len(raw) == len(data) and raw == data


# --------------------------------------------------------------------------
# bad arguments
# --------------------------------------------------------------------------


@pytest.fixture
def small_archive(tmp_path) -> Archive:
    src = make_maildir(tmp_path / "md", {"1795000000.ok": mail(std_headers(700), "hi\n")})
    arch = new_archive(tmp_path)
    ingest_ok(arch, src)
    return arch


def test_ingest_nonexistent_path(tmp_path):
    res = cli(tmp_path / "archive", "ingest", "/nonexistent/coi-archive-test-path", check=False)
    assert_clean_error(res, codes=(2,))


def test_ingest_unreadable_file_chmod(tmp_path):
    """A SOURCE without read permission.  Root reads anything, so as root
    the command runs without the capabilities that bypass file modes
    (``setpriv`` from util-linux)."""
    f = tmp_path / "secret.eml"
    f.write_bytes(mail(std_headers(800), "secret\n"))
    f.chmod(0)
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root's file-mode bypass"
        caps = "-dac_override,-dac_read_search"
        prefix = [setpriv, "--bounding-set", caps, "--inh-caps", caps]
    try:
        proc = subprocess.run(
            [*prefix, sys.executable, "-m", "coi_archive", "--archive", str(tmp_path / "archive"), "ingest", str(f)],
            cwd=str(REPO_ROOT),
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
        )
    finally:
        f.chmod(0o600)
    res = Result(["ingest", str(f)], proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))
    assert_clean_error(res, codes=(2,))
    assert "secret.eml" in res.stderr


def test_ingest_unreadable_file_dangling_symlink(tmp_path):
    """Works as root too: a SOURCE that cannot be opened (dangling symlink)."""
    link = tmp_path / "gone.eml"
    link.symlink_to(tmp_path / "does-not-exist.eml")
    res = cli(tmp_path / "archive", "ingest", link, check=False)
    assert_clean_error(res, codes=(2,))


def test_unreadable_entry_inside_maildir(tmp_path):
    """One unreadable entry in a good Maildir: no traceback, the run goes on
    (exit 0, or 1 if the program reports read errors by exit code) and the
    readable message is archived."""
    good = mail(std_headers(801, subject="readable"), "ok\n")
    src = make_maildir(tmp_path / "md", {"1795000000.good": good})
    bad = src / "new" / "1795000001.unreadable"
    if os.geteuid() == 0:
        bad.symlink_to(tmp_path / "vanished")
    else:
        bad.write_bytes(mail(std_headers(802), "secret\n"))
        bad.chmod(0)
    try:
        res = cli(tmp_path / "archive", "ingest", src, check=False)
    finally:
        if not bad.is_symlink():
            bad.chmod(0o600)
    assert res.returncode in (0, 1), res.describe()
    assert "Traceback" not in res.stderr, res.describe()
    arch = new_archive(tmp_path)
    assert "hostile-801@example.org" in arch.messages
    assert arch.raw("hostile-801@example.org") == good


@pytest.mark.parametrize("command", ["show", "raw"])
def test_unknown_id(small_archive, command):
    res = small_archive.run(command, "NOPE", check=False)
    assert_clean_error(res, codes=(1, 2))
    assert res.stdout == b"", res.describe()
