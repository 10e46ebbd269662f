"""Bounded, honest input (issue 9, item 5), written as the attacks.

* a 2 MB ``.mbox.gz`` expanding to a 2 GiB one-line message, ingested
  under a 1.5 GB address-space ceiling: the message is kept truncated and
  counted, the source is reported incomplete, no traceback;
* a truncated ``.gz``: its complete messages are stored, the run exits 1
  naming the source, ``stats`` says which source is incomplete, the next
  run reads it again, and once the file is whole it completes;
* a Maildir entry symlinked to a file outside, a FIFO, a directory loop:
  nothing outside is stored, nothing hangs, each is counted;
* unreadable files (as root, without the file-mode bypass capabilities):
  counted, reported, the run goes on and exits 1, a later run completes;
* a full disk (RLIMIT_FSIZE): a clear error, and the next run reads the
  source that was not finished.
"""

from __future__ import annotations

import base64
import gzip
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tests.cli_helpers import REPO_ROOT, Result, make_maildir

MiB = 1 << 20


def mail(n: int, body: bytes = b"hello\n", subject: str = "test") -> bytes:
    return (
        f"From: alice@example.org\nTo: bob@example.org\nSubject: {subject} {n}\n"
        f"Date: Sat, 28 Nov 2026 10:{n % 60:02d}:00 +0000\n"
        f"Message-ID: <bounded-{n}@example.org>\n\n"
    ).encode() + body


def noise(rnd: random.Random, size: int) -> bytes:
    """Incompressible text lines (base64 of random bytes)."""
    return base64.encodebytes(rnd.randbytes(size * 3 // 4))


def mbox_of(messages: list[bytes]) -> bytes:
    return b"".join(b"From alice@example.org Sat Nov 28 10:00:00 2026\n" + m + b"\n" for m in messages)


def run(archive: Path, *args, prefix: tuple[str, ...] = (), preexec=None, timeout: float = 300) -> Result:
    """The CLI in a subprocess (limits and capabilities apply to it alone)."""
    argv = [*prefix, sys.executable, "-m", "coi_archive", "--archive", str(archive), *map(str, args)]
    proc = subprocess.run(
        argv,
        cwd=str(REPO_ROOT),
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        preexec_fn=preexec,
        timeout=timeout,
    )
    return Result([str(a) for a in args], proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))


def stats(archive: Path) -> dict:
    res = run(archive, "stats", "--json")
    assert res.returncode == 0, res.describe()
    return res.json()


def error_lines(res: Result) -> list[str]:
    assert "Traceback" not in res.stderr, res.describe()
    return [line for line in res.stderr.splitlines() if line.strip()]


# --------------------------------------------------------------------------
# sizes
# --------------------------------------------------------------------------


def gzip_bomb(path: Path, line_bytes: int) -> None:
    """One message whose body is a single line of ``line_bytes`` bytes,
    written as concatenated gzip members (each 16 MiB of ``A`` is ~16 KB),
    then a second message that lies beyond any sane budget."""
    block = gzip.compress(b"A" * (16 * MiB), 9)
    with path.open("wb") as fh:
        fh.write(gzip.compress(b"From x Sat Nov 28 10:00:00 2026\n" + mail(1, b"")))
        for _ in range(line_bytes // (16 * MiB)):
            fh.write(block)
        fh.write(gzip.compress(b"\n\n" + b"From y Sat Nov 28 10:00:00 2026\n" + mail(2)))


def _memory_ceiling() -> None:
    limit = 1536 * MiB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_gzip_bomb_under_memory_ceiling(tmp_path):
    bomb = tmp_path / "bomb.mbox.gz"
    gzip_bomb(bomb, 2048 * MiB)
    assert bomb.stat().st_size < 4 * MiB
    archive = tmp_path / "archive"
    res = run(archive, "ingest", bomb, preexec=_memory_ceiling, timeout=600)
    lines = error_lines(res)
    assert res.returncode == 1, res.describe()
    assert len(lines) == 1 and str(bomb) in lines[0] and "decompressed" in lines[0], res.describe()
    st = stats(archive)
    assert st["messages_truncated"] == 1
    assert [s["source"] for s in st["incomplete_sources"]] == [str(bomb)]
    assert st["defects_by_kind"].get("MessageTruncated") == 1
    raw = run(archive, "raw", "bounded-1@example.org").stdout
    assert len(raw) == 64 * MiB and raw.startswith(b"From: alice@example.org")
    assert raw.endswith(b"A" * 1000)


def test_oversize_maildir_message_kept_up_to_the_limit(tmp_path):
    big = mail(3, b"x" * 5000 + b"\n")
    src = make_maildir(tmp_path / "md", {"1795000000.big": big, "1795000001.small": mail(4)})
    archive = tmp_path / "archive"
    res = run(archive, "ingest", src, "--max-message-size", "1K")
    assert res.returncode == 0, res.describe()
    assert run(archive, "raw", "bounded-3@example.org").stdout == big[:1024]
    assert run(archive, "raw", "bounded-4@example.org").stdout == mail(4)
    assert stats(archive)["messages_truncated"] == 1


def test_expand_ratio_limits_a_compressed_mbox(tmp_path):
    """Text compressing better than the ratio allows (this one ~1000:1)
    stops at the budget (here 16 MiB, the floor) and leaves the source
    incomplete; a larger ratio reads it whole."""
    path = tmp_path / "dense.mbox.gz"
    path.write_bytes(gzip.compress(mbox_of([mail(n, b"same line\n" * (MiB // 10)) for n in range(20)])))
    archive = tmp_path / "archive"
    res = run(archive, "ingest", path, "--max-expand-ratio", "2")
    assert res.returncode == 1, res.describe()
    st = stats(archive)
    assert 0 < st["messages_seen"] < 20
    assert "--max-expand-ratio" in st["incomplete_sources"][0]["reason"]
    res = run(archive, "ingest", path, "--max-expand-ratio", "5000")
    assert res.returncode == 0, res.describe()
    st = stats(archive)
    assert st["messages_seen"] == 20 and st["incomplete_sources"] == []


# --------------------------------------------------------------------------
# a truncated compressed file
# --------------------------------------------------------------------------


def test_truncated_gz_is_incomplete_and_read_again(tmp_path):
    rnd = random.Random(9)
    messages = [mail(10 + n, noise(rnd, 60_000)) for n in range(4)]
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    blocks = [packer.compress(mbox_of([m])) + packer.flush(zlib.Z_FULL_FLUSH) for m in messages]
    whole = b"".join(blocks) + packer.flush()
    cut = len(blocks[0]) + len(blocks[1]) + len(blocks[2]) // 2  # inside message 3
    path = tmp_path / "cut.mbox.gz"
    path.write_bytes(whole[:cut])
    archive = tmp_path / "archive"

    for _ in range(2):  # the second run reads the same file again
        res = run(archive, "ingest", path)
        lines = error_lines(res)
        assert res.returncode == 1, res.describe()
        assert len(lines) == 1 and "incomplete" in lines[0] and str(path) in lines[0], res.describe()
        st = stats(archive)
        assert [s["source"] for s in st["incomplete_sources"]] == [str(path)]
        assert st["messages_seen"] == 2  # messages 1 and 2; the cut one is not stored
        assert st["sources"] == 0  # never marked done
    path.write_bytes(whole)
    res = run(archive, "ingest", path)
    assert res.returncode == 0 and error_lines(res) == [], res.describe()
    st = stats(archive)
    assert st["incomplete_sources"] == [] and st["messages_seen"] == 4
    assert run(archive, "raw", "bounded-12@example.org").stdout == messages[2]


# --------------------------------------------------------------------------
# symlinks, FIFOs, loops
# --------------------------------------------------------------------------


def test_symlink_out_of_a_maildir_is_not_stored(tmp_path):
    secret = tmp_path / "outside" / "shadow"
    secret.parent.mkdir()
    secret.write_bytes(mail(20, b"root:TOPSECRET:19000\n"))
    src = make_maildir(tmp_path / "md", {"1795000000.good": mail(21), "1795000001.other": mail(22)})
    (src / "cur" / "1795000002.evil:2,S").symlink_to(secret)
    (src / "cur" / "1795000003.inside:2,S").symlink_to(src / "new" / "1795000001.other")
    os.mkfifo(src / "cur" / "1795000004.fifo:2,S")
    (tmp_path / "evil-folder").mkdir()
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "evil-folder" / sub).mkdir()
    shutil.copy(secret, tmp_path / "evil-folder" / "new" / "1795000005.x")
    (src / ".Evil").symlink_to(tmp_path / "evil-folder")
    archive = tmp_path / "archive"
    res = run(archive, "ingest", src, "--verbose", timeout=60)
    assert res.returncode == 0, res.describe()
    lines = error_lines(res)
    assert any("symlink-outside-source" in line and "evil" in line for line in lines), res.describe()
    st = stats(archive)
    assert st["skipped_files"] == {"symlink-outside-source": 2, "not-a-regular-file": 1}
    assert st["incomplete_sources"] == []
    assert run(archive, "raw", "bounded-20@example.org").returncode != 0
    assert "TOPSECRET" not in run(archive, "search", "TOPSECRET", "--json").text
    assert run(archive, "raw", "bounded-21@example.org").stdout == mail(21)
    assert st["messages_seen"] == 3  # good, other, and other again through the inside link


def test_directory_loop_and_symlinks_in_a_walked_directory(tmp_path):
    root = tmp_path / "mail"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "box.mbox").write_bytes(mbox_of([mail(30)]))
    (root / "a" / "b" / "up").symlink_to(root / "a")  # a loop
    (root / "a" / "self").symlink_to(".")  # a loop too
    (tmp_path / "elsewhere.mbox").write_bytes(mbox_of([mail(31)]))
    (root / "a" / "elsewhere.mbox").symlink_to(tmp_path / "elsewhere.mbox")
    (root / "a" / "same.mbox").symlink_to(root / "a" / "b" / "box.mbox")  # read at its place
    archive = tmp_path / "archive"
    res = run(archive, "ingest", root, timeout=60)
    assert res.returncode == 0, res.describe()
    assert error_lines(res) and "--verbose" in error_lines(res)[0]
    st = stats(archive)
    assert st["skipped_files"] == {"directory-loop": 2, "symlink-outside-source": 1}
    assert st["messages_seen"] == 1 and st["sources"] == 1  # box.mbox, read once
    assert run(archive, "raw", "bounded-31@example.org").returncode != 0


# --------------------------------------------------------------------------
# unreadable files
# --------------------------------------------------------------------------


def without_file_mode_bypass() -> tuple[str, ...]:
    """As root, run without the capabilities that bypass file modes
    (``setpriv`` from util-linux), as tests/test_hostile.py does."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop root's file-mode bypass"
    caps = "-dac_override,-dac_read_search"
    return (setpriv, "--bounding-set", caps, "--inh-caps", caps)


def test_unreadable_files_are_counted_and_the_run_goes_on(tmp_path):
    root = tmp_path / "mail"
    root.mkdir()
    (root / "good.mbox").write_bytes(mbox_of([mail(40)]))
    locked = root / "locked.mbox"
    locked.write_bytes(mbox_of([mail(41)]))
    hidden = root / "sniffme"  # no suffix: discovery must open it to know it
    hidden.write_bytes(mbox_of([mail(42)]))
    md = make_maildir(root / "md", {"1795000000.ok": mail(43), "1795000001.locked": mail(44)})
    entry = md / "new" / "1795000001.locked"
    private = root / "private"
    private.mkdir()
    (private / "inside.mbox").write_bytes(mbox_of([mail(45)]))
    for path in (locked, hidden, entry, private):
        path.chmod(0)
    archive = tmp_path / "archive"
    try:
        res = run(archive, "ingest", root, prefix=without_file_mode_bypass())
    finally:
        for path in (locked, hidden, entry, private):
            path.chmod(0o755)
    lines = error_lines(res)
    assert res.returncode == 1, res.describe()
    incomplete = [line for line in lines if "incomplete" in line]
    unread = {str(locked), str(hidden), str(md), str(private)}
    assert unread == {line.split(": ")[2] for line in incomplete}, res.describe()
    st = stats(archive)
    assert st["skipped_files"] == {"unreadable": 4}
    assert {s["source"] for s in st["incomplete_sources"]} == unread
    assert run(archive, "raw", "bounded-40@example.org").stdout.startswith(b"From: alice")
    assert run(archive, "raw", "bounded-43@example.org").stdout == mail(43)

    res = run(archive, "ingest", root)
    assert res.returncode == 0 and error_lines(res) == [], res.describe()
    st = stats(archive)
    assert st["skipped_files"] == {} and st["incomplete_sources"] == []
    assert st["messages_seen"] == 6


# --------------------------------------------------------------------------
# a full disk
# --------------------------------------------------------------------------


def _file_size_ceiling() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 * MiB, 2 * MiB))


@pytest.mark.parametrize("kind", ["mbox", "maildir"])
def test_disk_full_is_a_clear_error_and_nothing_is_marked_done(tmp_path, kind):
    rnd = random.Random(11)
    messages = [mail(100 + n, noise(rnd, 20_000)) for n in range(300)]
    if kind == "mbox":
        src = tmp_path / "big.mbox"
        src.write_bytes(mbox_of(messages))
    else:
        src = make_maildir(tmp_path / "md", {f"17950{n:05d}.m": m for n, m in enumerate(messages)})
    archive = tmp_path / "archive"
    res = run(archive, "ingest", src, preexec=_file_size_ceiling)
    lines = error_lines(res)
    assert res.returncode == 1, res.describe()
    assert len(lines) == 1 and "cannot write the archive" in lines[0], res.describe()

    res = run(archive, "ingest", src)
    assert res.returncode == 0, res.describe()
    st = stats(archive)
    assert st["messages_seen"] == 300 and st["incomplete_sources"] == []
    assert run(archive, "raw", "bounded-399@example.org").stdout == messages[-1]


def test_full_temporary_disk_is_not_taken_for_a_damaged_backup(tmp_path):
    """A Delta Chat backup's database is copied to a temporary file first;
    when that write fails the error says so (it used to say "truncated
    backup"), and the next run reads the backup."""
    backup = next((REPO_ROOT / "tests" / "data" / "deltachat-dev" / "keys" / "backups" / "frank").glob("*.tar"))

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    archive = tmp_path / "archive"
    (tmp_path / "first.mbox").write_bytes(mbox_of([mail(500)]))
    assert run(archive, "ingest", tmp_path / "first.mbox").returncode == 0  # the catalog exists
    res = run(archive, "ingest", backup, preexec=small_files)
    lines = error_lines(res)
    assert res.returncode in (1, 2), res.describe()
    assert len(lines) == 1 and "temporary directory" in lines[0] and "truncated" not in lines[0], res.describe()
    res = run(archive, "ingest", backup)
    assert res.returncode == 0, res.describe()
    assert stats(archive)["messages_seen"] > 0


def test_imap_message_over_the_limit_is_fetched_only_that_far(tmp_path):
    """A message larger than --max-message-size on an IMAP server is asked
    for with a partial FETCH: never more than the limit crosses the wire."""
    from coi_archive.index.api import Archive as Arc
    from coi_archive.ingest.safeio import Limits
    from tests import imapserver

    if not imapserver.available():
        pytest.skip("dovecot-imapd is not installed")
    user = "big@example.org"
    server = imapserver.Dovecot({user: "pw-bounded"}, tls=False).start()
    try:
        big = mail(600, b"y" * 200_000 + b"\r\n").replace(b"\n", b"\r\n")
        client = server.client(user)
        client.append("INBOX", big)
        client.append("INBOX", mail(601).replace(b"\n", b"\r\n"))
        client.logout()
        with Arc.open(tmp_path / "archive") as arc:
            srcs = arc.discover([server.url(user)], {"password": server.users[user], "insecure": True})
            report = arc.ingest(sources=srcs, limits=Limits(max_message_size=10_000))
            assert report.source_errors == []
            assert srcs[0].counters.body_bytes < 10_000 + len(big) // 10
            assert arc.stats()["messages_truncated"] == 1
    finally:
        server.stop()
    assert run(tmp_path / "archive", "raw", "bounded-600@example.org").stdout == big[:10_000]


def test_source_below_an_unsearchable_directory_is_one_clean_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.mbox").write_bytes(mbox_of([mail(700)]))
    locked.chmod(0)
    try:
        res = run(tmp_path / "archive", "ingest", locked / "a.mbox", prefix=without_file_mode_bypass())
    finally:
        locked.chmod(0o755)
    assert res.returncode == 2, res.describe()
    assert error_lines(res) == [f"coi-archive: error: cannot read: {locked / 'a.mbox'} (Permission denied)"]


def test_backup_attachment_over_the_limit_is_not_read(tmp_path):
    """A Delta Chat backup's attachment larger than --max-message-size is
    not read into memory: the message is kept without it, flagged and
    counted as truncated."""
    import tarfile

    backup = next((REPO_ROOT / "tests" / "data" / "deltachat-dev" / "keys" / "backups" / "frank").glob("*.tar"))
    with tarfile.open(backup) as tar:
        big = {Path(m.name).name for m in tar if m.name.startswith("blobs_backup/") and m.size > 10_000}
    assert big
    archive = tmp_path / "archive"
    res = run(archive, "ingest", backup, "--max-message-size", "10000")
    assert res.returncode == 0, res.describe()
    st = stats(archive)
    assert st["messages_truncated"] >= 1 and st["defects_by_kind"]["MessageTruncated"] >= 1
    assert st["incomplete_sources"] == []
