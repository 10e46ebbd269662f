"""A writing command killed at any point, then run again, gives the archive
one clean run gives (issue 9, item 1), and one writer at a time (item 6).

Each case runs the real CLI in a subprocess that SIGKILLs its own process
group at one point of the run (tests/faults.py), checks that the kill
happened, runs the same command again, and compares every JSON output
(chats, show of every chat, contacts, stats, search with and without
--history) with a clean run's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coi_archive.index.api import Archive
from coi_archive.index.lock import WriterLock
from tests.cli_helpers import REPO_ROOT, cli
from tests.faults import children
from tests.golden import outputs, sources

CORPUS = sources("corpus")
CORPUS_NO_KEYS = [a for a in CORPUS if a != "--key" and not a.endswith(".asc")]
KEYS = [a for i, a in enumerate(CORPUS) if a == "--key" or (i and CORPUS[i - 1] == "--key")]


def _env(parallel: bool = False) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONDONTWRITEBYTECODE="1")
    if parallel:
        env["COI_FAULTS_PARALLEL_FTS"] = "1"
    return env


def run_killed(archive: Path, target: str, nth: int, action: str, *args: str, parallel: bool = False) -> None:
    """Run ``coi-archive ARGS`` and insist that it died at the fault point."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults", target, str(nth), action, "--", "--archive", str(archive), *args],
        cwd=REPO_ROOT,
        env=_env(parallel),
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, (
        f"the run was not killed at {target} #{nth} (exit {proc.returncode}): "
        f"{proc.stderr.decode(errors='replace')[-1500:]}"
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict:
    archive = tmp_path_factory.mktemp("clean") / "archive"
    cli(archive, "ingest", *CORPUS)
    return outputs(archive)


def assert_same(archive: Path, clean: dict) -> None:
    got = json.loads(json.dumps(outputs(archive)))
    want = json.loads(json.dumps(clean))
    assert got["stats"] == want["stats"]
    assert [c["id"] for c in got["chats"]] == [c["id"] for c in want["chats"]]
    for chat_id, shown in want["show"].items():
        assert got["show"][chat_id] == shown, chat_id
    assert got == want
    verify = cli(archive, "verify", check=False)
    assert verify.returncode == 0, verify.describe()
    assert "derived layers: up to date" in verify.text


#: (where, nth call, kill before it or after it) spread over a whole ingest.
INGEST_POINTS = [
    ("coi_archive.index.intake:Intake._store", 2, "kill"),  # storing the first originals
    ("coi_archive.index.intake:Intake._commit", 3, "after"),  # right after a mid-run commit
    ("coi_archive.index.intake:Intake._commit_midway", 2, "after"),  # the same, while a batch is decoded
    ("coi_archive.index.intake:Intake._commit", 9, "kill"),  # late in reading
    ("coi_archive.index.intake:refresh", 4, "kill"),  # placing wire rows
    ("coi_archive.index.intake:Intake.run", 1, "after"),  # every original committed, nothing folded
    ("coi_archive.index.state:write_fold", 1, "kill"),  # folding the first chat
    ("coi_archive.index.state:write_fold", 7, "after"),  # folding, half way
    ("coi_archive.index.settle:rebuild_contacts", 1, "after"),  # contacts built, not yet committed
    ("coi_archive.index.docs:search_doc", 40, "kill"),  # writing the search index
    ("coi_archive.index.tantivy_engine:TantivyEngine.add", 1, "after"),  # index committed, debt not yet paid
]


@pytest.mark.parametrize(
    "target,nth,action", INGEST_POINTS, ids=[f"{t.split(':')[1]}#{n}-{a}" for t, n, a in INGEST_POINTS]
)
def test_killed_ingest_then_rerun_equals_clean_run(tmp_path, clean, target, nth, action):
    archive = tmp_path / "archive"
    run_killed(archive, target, nth, action, "ingest", *CORPUS)
    cli(archive, "ingest", *CORPUS)
    assert_same(archive, clean)


@pytest.mark.parametrize(
    "target,nth",
    [("coi_archive.index.ftsfeed:FulltextFeed.offer", 3), ("coi_archive.index.ftsfeed:FulltextFeed.finish", 1)],
)
def test_killed_while_a_child_indexes_in_parallel(tmp_path, clean, target, nth):
    archive = tmp_path / "archive"
    run_killed(archive, target, nth, "kill", "ingest", *CORPUS, parallel=True)
    cli(archive, "ingest", *CORPUS)
    assert_same(archive, clean)


def _survivors(pgid: int) -> list[str]:
    """Live (not zombie) processes of the killed run's process group."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:  # a process may end between the listing and these reads
            stat, comm = (entry / "stat").read_text(), (entry / "comm").read_text().strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)": state, ppid, pgrp, ...
        if fields[2] == str(pgid) and fields[0] != "Z":
            alive.append(f"{entry.name} {comm}")
    return alive


def run_killed_alone(tmp_path: Path, archive: Path, target: str, nth: int, *args: str, parallel: bool = False) -> str:
    """Run ``coi-archive ARGS``, SIGKILL only its main process at the fault
    point (``kill -9 PID``, the OOM killer), and insist that every worker and
    child it left ends by itself within seconds. Returns the run's stderr."""
    err = tmp_path / "killed.stderr"
    env = dict(_env(parallel), COI_FAULTS_PARALLEL_DECODE="1", COI_ARCHIVE_WORKERS="2")
    with err.open("wb") as sink:  # not a pipe: an orphan holding it would keep the test waiting
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.faults",
                target,
                str(nth),
                "killself",
                "--",
                "--archive",
                str(archive),
                *args,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
        assert proc.wait(timeout=300) == -signal.SIGKILL, err.read_text(errors="replace")[-1500:]
    deadline = time.monotonic() + 10
    while (left := _survivors(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for line in left:
        os.kill(int(line.split()[0]), signal.SIGKILL)
    assert not left, f"outlived the killed run by 10 s: {left}"
    return err.read_text(errors="replace")


def test_workers_end_when_the_ingest_alone_is_killed(tmp_path, clean):
    """``kill -9`` of the ingest's main process while decode workers run: the
    forked workers, blocked on their queue, used to wait forever holding the
    inherited writer lock, so every later ingest was refused. Now they end,
    and the next ingest completes the archive."""
    archive = tmp_path / "archive"
    stderr = run_killed_alone(tmp_path, archive, "coi_archive.index.intake:Intake._store", 3, "ingest", *CORPUS)
    assert stderr.count("coi-decode") == 2, stderr  # the kill landed while both workers ran
    cli(archive, "ingest", *CORPUS)
    assert_same(archive, clean)


def test_indexing_processes_end_quietly_when_the_ingest_alone_is_killed(tmp_path, clean):
    """The same during the fold, while the indexing child and its document
    helper run: they end without a traceback (their pipes' other end is
    gone), and the next ingest indexes what they left owed."""
    archive = tmp_path / "archive"
    stderr = run_killed_alone(
        tmp_path, archive, "coi_archive.index.ftsfeed:FulltextFeed.offer", 3, "ingest", *CORPUS, parallel=True
    )
    assert "coi-index" in stderr and "coi-prepare" in stderr, stderr
    assert "Traceback" not in stderr, stderr
    cli(archive, "ingest", *CORPUS)
    assert_same(archive, clean)


@pytest.mark.parametrize(
    "target,workers",
    [
        ("coi_archive.index.intake:Intake._store", ["coi-decode", "coi-decode"]),
        ("coi_archive.index.ftsfeed:FulltextFeed.offer", ["coi-index", "coi-prepare"]),
    ],
    ids=["decoding", "indexing"],
)
def test_ctrl_c_says_one_line_and_leaves_nothing_running(tmp_path, clean, target, workers):
    """Ctrl-C in a terminal interrupts the whole process group: the run says
    ``interrupted`` once (no traceback from any worker), exits 130, leaves no
    process behind, and the next ingest completes the archive."""
    archive = tmp_path / "archive"
    err = tmp_path / "stderr"
    env = dict(_env(parallel=True), COI_FAULTS_PARALLEL_DECODE="1", COI_ARCHIVE_WORKERS="2")
    with err.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults", target, "3", "pause=60", "--", "--archive", str(archive), "ingest"]
            + CORPUS,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            # as in a terminal: a shell's background job (CI) inherits Ctrl-C ignored
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            deadline = time.monotonic() + 120
            while sorted(children(proc.pid))[: len(workers)] != workers or "paused" not in err.read_text():
                assert time.monotonic() < deadline and proc.poll() is None, err.read_text()[-1500:]
                time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=60) == 130
        finally:
            proc.kill()
    deadline = time.monotonic() + 10
    while (left := _survivors(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, left
    lines = err.read_text().replace("faults: paused\n", "")
    assert lines == "coi-archive: interrupted\n", lines
    cli(archive, "ingest", *CORPUS)
    assert_same(archive, clean)


def test_a_forked_process_does_not_keep_the_writer_lock(tmp_path):
    """A process forked by the lock's holder (a decode worker) shares the
    lock's open file; when the holder dies, that copy must not keep the
    archive locked while the forked process lives on."""
    script = (
        "import os, signal, sys, time\n"
        "from pathlib import Path\n"
        "from coi_archive.index.lock import WriterLock\n"
        "WriterLock(Path(sys.argv[1]), 'ingest').acquire()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "print(pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = tmp_path / "forked.pid"
    with out.open("wb") as sink:  # not a pipe: the forked process would hold it open
        holder = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=REPO_ROOT, env=_env(), stdout=sink)
        holder.wait(timeout=60)
    forked = int(out.read_text())
    try:
        assert holder.returncode == -signal.SIGKILL
        os.kill(forked, 0)  # still alive, holding whatever it inherited
        lock = WriterLock(tmp_path, "ingest")
        lock.acquire()
        lock.release()
    finally:
        os.kill(forked, signal.SIGKILL)


def test_reading_after_a_kill_says_what_is_stale(tmp_path):
    """Before the re-run, verify names the stale layers and exits 1."""
    archive = tmp_path / "archive"
    run_killed(archive, "coi_archive.index.intake:Intake.run", 1, "after", "ingest", *CORPUS)
    res = cli(archive, "verify", check=False)
    assert res.returncode == 1
    assert "STALE owed: " in res.text and "repair" in res.text
    fixed = cli(archive, "repair", check=False)
    assert fixed.returncode == 0, fixed.describe()
    assert "up to date" in fixed.text
    assert cli(archive, "chats", "--json").json(), "repair folded the chats"


@pytest.mark.parametrize(
    "target,nth,action",
    [
        ("coi_archive.index.state:write_fold", 2, "kill"),
        ("coi_archive.index.redecode:refresh", 1, "after"),
        ("coi_archive.index.docs:search_doc", 20, "kill"),
    ],
)
def test_killed_decrypt_then_rerun_equals_clean_run(tmp_path, clean, target, nth, action):
    archive = tmp_path / "archive"
    cli(archive, "ingest", *CORPUS_NO_KEYS)
    run_killed(archive, target, nth, action, "decrypt", *KEYS)
    cli(archive, "decrypt", *KEYS)
    assert_same(archive, clean)


@pytest.mark.parametrize(
    "args,target,nth,action",
    [
        (("reindex",), "coi_archive.index.tantivy_engine:TantivyEngine.clear", 1, "after"),
        (("reindex",), "coi_archive.index.docs:search_doc", 30, "kill"),
        (("reindex", "--full"), "coi_archive.index.state:write_fold", 3, "kill"),
        (("reindex", "--full"), "coi_archive.index.docs:search_doc", 100, "kill"),
    ],
)
def test_killed_reindex_then_any_writer_finishes_it(tmp_path, clean, args, target, nth, action):
    archive = tmp_path / "archive"
    cli(archive, "ingest", *CORPUS)
    run_killed(archive, target, nth, action, *args)
    cli(archive, "ingest", *CORPUS)  # not the same command: any writing run finishes the work
    assert_same(archive, clean)


def test_killed_engine_switch_is_finished_on_the_new_engine(tmp_path, clean):
    """``reindex --engine whoosh`` killed while indexing: the next writer
    indexes everything with Whoosh, and every search finds what the clean
    (default engine) archive finds."""
    archive = tmp_path / "archive"
    cli(archive, "ingest", *CORPUS)
    run_killed(archive, "coi_archive.index.docs:search_doc", 30, "kill", "reindex", "--engine", "whoosh")
    cli(archive, "ingest", *CORPUS)
    with Archive.open(archive, readonly=True) as reader:
        assert reader.engine_name == "whoosh"
    got = json.loads(json.dumps(outputs(archive)))
    for part in ("search", "search_history"):
        for query, hits in clean[part].items():
            assert sorted(h["message_id"] for h in got[part][query]) == sorted(h["message_id"] for h in hits), query
    verify = cli(archive, "verify", check=False)
    assert verify.returncode == 0 and "derived layers: up to date" in verify.text, verify.describe()


def test_second_writer_is_refused_then_waits(tmp_path, clean):
    """Two ingests at once: the second says who holds the archive and exits 2;
    with --wait it runs after the first, and the result is one clean archive."""
    archive = tmp_path / "archive"
    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.faults",
            "coi_archive.index.state:write_fold",
            "1",
            "pause=4",
            "--",
            "--archive",
            str(archive),
            "ingest",
            *CORPUS,
        ],
        cwd=REPO_ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (archive / "lock").exists() or not (archive / "lock").read_text():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        busy = cli(archive, "ingest", *CORPUS, check=False)
        assert busy.returncode == 2
        assert busy.stderr.strip().count("\n") == 0, busy.stderr
        assert f"another ingest (pid {first.pid}) is writing this archive" in busy.stderr
        waited = cli(archive, "ingest", *CORPUS, "--wait", check=False)
        assert waited.returncode == 0, waited.describe()
    finally:
        first.wait(timeout=120)
    assert first.returncode == 0
    assert_same(archive, clean)


def test_readers_are_never_blocked_by_a_writer(tmp_path):
    archive = tmp_path / "archive"
    cli(archive, "ingest", *CORPUS_NO_KEYS)
    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.faults",
            "coi_archive.index.state:write_fold",
            "1",
            "pause=20",
            "--",
            "--archive",
            str(archive),
            "decrypt",
            *KEYS,
        ],
        cwd=REPO_ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert first.stderr is not None
        lines = iter(first.stderr.readline, b"")
        assert b"faults: paused\n" in lines  # (reads up to it) the writer holds the lock now, for 20 s
        res = cli(archive, "chats", "--json")
        # answered while the writer still holds the lock: a blocked reader would have waited for its end
        assert res.json() and first.poll() is None
    finally:
        first.wait(timeout=120)


def test_lock_is_released_when_the_holder_is_killed(tmp_path):
    archive = tmp_path / "archive"
    run_killed(archive, "coi_archive.index.state:write_fold", 1, "kill", "ingest", *CORPUS_NO_KEYS)
    assert (archive / "lock").exists()
    assert cli(archive, "ingest", *CORPUS_NO_KEYS, check=False).returncode == 0
