"""The benchmark's peak-memory figure is the measured command's own.

Linux keeps a process's peak RSS across ``exec``, and ``subprocess`` starts a
child from the calling process's memory, so ``wait4`` on a child of a large
process reports at least that process's size. ``benchmarks/run.py`` measures
through ``benchmarks/launch.py`` for that reason; these tests hold a large
heap in the test process and check both the problem and the cure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import run as bench_run  # noqa: E402

#: What the test process holds while it starts the command.
BALLAST_MB = 300
#: The command: a Python that touches 40 MB and exits.
SMALL = [sys.executable, "-S", "-c", "b = bytearray(40 << 20); b[::4096] = b'x' * len(b[::4096])"]


@pytest.fixture(scope="module")
def ballast() -> bytearray:
    held = bytearray(BALLAST_MB << 20)
    held[::4096] = b"y" * len(held[::4096])  # resident, not just reserved
    return held


def test_a_direct_child_reports_its_parents_size(ballast: bytearray) -> None:
    """The problem the launcher exists for (if a kernel stops doing this, the
    launcher is harmless and this test says so)."""
    proc = subprocess.Popen(SMALL)
    _, _, usage = os.wait4(proc.pid, 0)
    assert usage.ru_maxrss / 1024 > BALLAST_MB * 0.9


def test_the_launcher_reports_the_commands_own_peak(ballast: bytearray, tmp_path: Path) -> None:
    res = bench_run.run_measured(SMALL, tmp_path / "small.log")
    assert res["exit"] == 0
    assert 40 <= res["rss_mb"] < 100
    assert res["user_s"] + res["sys_s"] > 0
    assert res["peak_by_role_mb"].get("main", [0])[0] < 100


def test_a_failing_command_keeps_its_exit_status_and_output(tmp_path: Path) -> None:
    cmd = [sys.executable, "-S", "-c", "import sys; print('said'); sys.exit(3)"]
    res = bench_run.run_measured(cmd, tmp_path / "fail.log")
    assert res["exit"] == 3
    assert res["output"] == "said"


@pytest.mark.skipif(not Path("/proc/self/comm").exists(), reason="process names are Linux's /proc/<pid>/comm")
def test_the_benchmark_tells_the_ingest_processes_apart_by_name() -> None:
    """The per-role peaks name each process by what coi-archive called it
    (``index.cores``), so the index writer and its helper are not summed
    up as one role."""
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]);"
        " from coi_archive.index.cores import name_process; name_process(sys.argv[2]);"
        " print('ready', flush=True); time.sleep(30)"
    )
    for name, role in (
        ("coi-prepare", "document helper"),
        ("coi-index", "indexing child"),
        ("coi-decode", "decode worker"),
    ):
        proc = subprocess.Popen([sys.executable, "-c", code, str(REPO), name], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            assert bench_run._role(proc.pid, root=os.getpid()) == role
        finally:
            proc.kill()
            proc.wait()


def test_the_tree_peak_says_when_it_was_and_what_it_held(tmp_path: Path) -> None:
    """Which phase of an ingest its memory peak falls in, and which
    processes made it up: the main process holds 20 MB while a child
    holds 60 MB, then the child exits and the main process holds 30 MB
    more; the tree peaks with both alive, about a second in."""
    code = (
        "import os, time\n"
        "a = bytearray(20 << 20); a[::4096] = b'a' * len(a[::4096])\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    b = bytearray(60 << 20); b[::4096] = b'b' * len(b[::4096]); time.sleep(1.5); os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "c = bytearray(30 << 20); c[::4096] = b'c' * len(c[::4096]); time.sleep(1.5)\n"
    )
    res = bench_run.run_measured([sys.executable, "-S", "-c", code], tmp_path / "tree.log")
    assert res["exit"] == 0
    at_peak = res["tree_pss_peak_by_role_mb"]
    assert at_peak["main"] < 45  # before its last 30 MB
    assert sum(at_peak.values()) > 70  # with the child's 60 MB
    assert 0.25 <= res["tree_pss_peak_at_s"] <= 2.5
    assert bench_run.GONE not in res["peak_by_role_mb"]
    assert res["peak_at_by_role_s"]["main"] > res["tree_pss_peak_at_s"]  # main alone peaks later, at 50 MB


def test_the_measured_program_loads_compiled_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's installed package has its ``.pyc`` files; a shell with
    ``PYTHONDONTWRITEBYTECODE`` would otherwise time a compile of every
    module at each start (the re-scan's target is 1 s)."""
    import importlib.util

    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    modules = [pkg / "__init__.py", pkg / "sub" / "mod.py"]
    for m in modules:
        m.write_text("X = 1\n")
    bench_run.compile_program(pkg)
    for m in modules:
        assert Path(importlib.util.cache_from_source(str(m))).is_file(), m
