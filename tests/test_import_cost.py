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
