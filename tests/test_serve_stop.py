"""``coi-archive serve`` stops at once on SIGTERM or SIGINT, whatever its
background work is doing.

Started on a fresh copy of the corpus archive the server draws the
analytics page in the background (the warm-up); with an empty matplotlib
configuration directory that first builds matplotlib's font cache, for
which matplotlib runs ``fc-list``.  In a fresh CI environment ``fc-list``
runs for tens of seconds (it builds fontconfig's cache) and, left alone,
outlives the server holding its stderr open: whoever reads that stream
waited for it.  Here a stand-in ``fc-list`` takes 60 s, so the tests would
wait as long if the server left its child behind.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import REPO_ROOT, _env

#: Seconds the server may take from the signal to its exit, stderr closed.
STOP_WITHIN = 5
#: Seconds the warm-up may take to reach ``fc-list`` (pandas, matplotlib imports).
FC_LIST_WITHIN = 60
#: A slow ``fc-list`` (exec: one process, as the real one) that says when it runs.
FC_LIST = '#!/bin/sh\necho $$ > "$COI_TEST_FC_LIST_STARTED"\nexec sleep 60\n'


@pytest.fixture
def fresh(corpus: Path, tmp_path: Path) -> Path:
    """A copy of the corpus archive without the analytics cache another
    test's server left (so that the warm-up has work to do)."""
    return Path(shutil.copytree(corpus, tmp_path / "archive", ignore=shutil.ignore_patterns("cache")))


@pytest.fixture
def slow_fonts(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a server whose matplotlib builds its font cache
    with the slow ``fc-list``; the stand-in is ended afterwards if it is
    still running."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fc_list = bin_dir / "fc-list"
    fc_list.write_text(FC_LIST)
    fc_list.chmod(0o755)
    started = tmp_path / "fc-list.pid"
    env = _env()
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        MPLCONFIGDIR=str(tmp_path / "matplotlib"),
        COI_TEST_FC_LIST_STARTED=str(started),
    )
    yield env
    pid = started.read_text().strip() if started.exists() else ""
    if pid.isdigit():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def _serve(archive: Path, env: dict[str, str]) -> subprocess.Popen:
    """The server, once it says it serves."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "coi_archive", "--archive", str(archive), "serve", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline().decode()
    assert re.search(r"serving .* on http://127\.0\.0\.1:\d+/", first), first
    return proc


def _stop(proc: subprocess.Popen, signum: signal.Signals) -> str:
    """Send ``signum``; the server's stderr once it has exited (at most
    :data:`STOP_WITHIN` seconds)."""
    proc.send_signal(signum)
    started = time.monotonic()
    try:
        _, err = proc.communicate(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{signum.name}: the server (or a child holding its stderr) still ran after {STOP_WITHIN} s")
    assert time.monotonic() - started < STOP_WITHIN
    return err.decode("utf-8", "replace")


def _wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"the warm-up did not reach fc-list within {seconds} s"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_right_after_the_start_stops_the_server(fresh: Path, slow_fonts: dict[str, str], signum):
    proc = _serve(fresh, slow_fonts)
    err = _stop(proc, signum)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err


def test_sigterm_while_matplotlib_lists_fonts_stops_the_server_and_fc_list(fresh: Path, slow_fonts: dict[str, str]):
    proc = _serve(fresh, slow_fonts)
    marker = Path(slow_fonts["COI_TEST_FC_LIST_STARTED"])
    try:
        _wait_for(marker, FC_LIST_WITHIN)
    except AssertionError:
        proc.kill()
        proc.communicate()
        raise
    err = _stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err


def test_a_stop_inside_a_channel_handler_leaves_the_loop() -> None:
    """SIGTERM can land while waitress's loop runs a channel's handler (it
    closes a socket); the loop gives other exceptions to ``handle_error``,
    which logs and serves on, so the stop must be one it lets through."""
    from waitress import wasyncore

    from coi_archive.webui.server import _Stop

    class Channel:
        swallowed: list[BaseException] = []

        def handle_read_event(self) -> None:
            raise _Stop("SIGTERM")

        def handle_error(self) -> None:  # what waitress does with anything else
            self.swallowed.append(sys.exc_info()[1])

    with pytest.raises(_Stop):
        wasyncore.read(Channel())
    assert Channel.swallowed == []
