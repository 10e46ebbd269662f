"""Every CLI command (an unchanged re-scan too) pays for what importing the
program does: nothing costly may happen at import time."""

from __future__ import annotations

import subprocess
import sys

from coi_archive.index import accounts


def test_the_cli_hashes_no_password_at_import():
    code = "import coi_archive.cli, coi_archive.index.accounts as a; print(a._dummy_hash.cache_info().currsize)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0"


def test_the_dummy_hash_is_ready_before_the_first_login(tmp_path):
    """An unknown name must take as long as a wrong password from the first
    attempt on, so the hash is made when the accounts are opened."""
    accounts._dummy_hash.cache_clear()
    accounts.Accounts(tmp_path)
    assert accounts._dummy_hash.cache_info().currsize == 1


#: Modules of the web interface, the analytics exports and the other
#: full-text engine: an ingest that reads nothing new needs none of them.
HEAVY = ("flask", "werkzeug", "jinja2", "pandas", "pyarrow", "matplotlib", "whoosh", "vobject", "PIL")


def test_an_unchanged_re_scan_imports_no_heavy_module(tmp_path):
    """Importing is most of what a re-scan of an unchanged Maildir costs
    once the files are skipped by name (issue 11)."""
    box = tmp_path / "box"
    (box / "cur").mkdir(parents=True)
    (box / "cur" / "100.a:2,S").write_bytes(b"From: a@example.org\nMessage-ID: <a@x>\n\nhello\n")
    argv = ["--archive", str(tmp_path / "arch"), "ingest", str(box)]
    code = (
        "import sys, contextlib, io, coi_archive.cli as c\n"
        f"with contextlib.redirect_stdout(io.StringIO()): assert c.main({argv!r}) == 0\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # the first ingest
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert again.stdout.strip() == ""
