"""End-to-end benchmark of coi-archive: ingest throughput, peak memory,
unchanged re-scan, search latency, and a bare stdlib parse as a peer baseline.

    .venv/bin/python benchmarks/run.py --n 100000          # the reference run
    .venv/bin/python benchmarks/run.py --n 20000           # quick check
    .venv/bin/python benchmarks/run.py --n 100000 --runs 2 --update-md

Steps (see BENCHMARKS.md for the why):

1. Generate the synthetic Maildir (``benchmarks/gen_mailbox.py``), cached in
   ``bench-out/maildir-n<N>-s<SEED>/`` (a ``.json`` manifest next to it marks
   it complete); then read every file once so the page cache is warm and the
   ingest is not timed against a cold disk.
2. ``coi-archive --archive bench-out/archive-n<N>-s<SEED>-<ENGINE> ingest MAILDIR``
   in a fresh archive made for each search engine (``--engine``; default:
   tantivy, then whoosh, in the same invocation), as a subprocess: wall time (``time.perf_counter`` around
   spawn..exit) -> files/s; its peak RSS (``ru_maxrss`` from ``os.wait4`` on
   that child, in ``launch.py``: a child of this process would report this
   process's own size) and CPU time (reaped decode workers included); a
   sampler thread adds the process tree's peak RSS/PSS sums, CPU by role and
   its run-queue wait (contention).
3. The same command again on the unchanged Maildir (re-scan time and RSS).
4. In-process search latency through the Python API
   (``Archive.open(path, readonly=True).search(q, limit=20)``): each query is
   run once as warm-up (the first one also opens the index: reported as
   "cold"), then ``--reps`` timed calls per query class, cycling over a few
   queries: single term, phrase, field + date range + word.  p50 and p95 of
   wall time and of thread CPU time.
5. Bare stdlib parse: read each file and ``email.message_from_bytes`` it
   (compat32, what the ingest itself uses) -> files/s.
6. Peers, on the very same Maildir before our runs (``--no-peers`` skips
   them): ``notmuch new`` into a fresh database and ``mu init`` + ``mu index``
   (Debian ``notmuch``, ``maildir-utils``), measured like the ingest, with
   their database size; the table gives each of our runs as a ratio to them.

Results: a markdown table on stdout, ``bench-out/results-<N>.md`` and
``.json``; ``--update-md`` also rewrites the table for this N in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import email
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import gen_mailbox  # noqa: E402

from coi_archive.index.engines import ENGINES  # noqa: E402
from coi_archive.ingest.folderstamps import RECENT_NS  # noqa: E402

TARGETS = {  # at N=100,000 on the 2-core reference machine
    "ingest_rate": 1500.0,  # files/s, at least
    "ingest_rss_mb": 400.0,  # at most
    "rescan_s": 5.0,  # at most
    "search_p95_ms": 150.0,  # at most
}


# ---------------------------------------------------------------- helpers


def maildir_files(root: Path) -> list[Path]:
    out: list[Path] = []
    folders = [root] + sorted(p for p in root.iterdir() if p.name.startswith(".") and p.is_dir())
    for folder in folders:
        for sub in ("cur", "new"):
            d = folder / sub
            if d.is_dir():
                out.extend(sorted(d.iterdir()))
    return out


def ensure_maildir(out: Path, n: int, seed: int, regen: bool) -> tuple[Path, dict]:
    box = out / f"maildir-n{n}-s{seed}"
    manifest = out / f"maildir-n{n}-s{seed}.json"
    if manifest.exists() and box.is_dir() and not regen:
        info = json.loads(manifest.read_text())
        if info.get("gen_version") == gen_mailbox.GEN_VERSION:
            info["cached"] = True
            return box, info
    if box.exists():
        shutil.rmtree(box)
    manifest.unlink(missing_ok=True)
    print(f"generating {n} messages into {box} ...", file=sys.stderr, flush=True)
    info = gen_mailbox.generate(n, box, seed)
    # the re-scan is measured as a user meets it: a folder that changed just
    # before the first ingest looked at it is listed again (ingest.folderstamps)
    time.sleep(RECENT_NS / 1e9)
    info["bytes"] = sum(p.stat().st_size for p in maildir_files(box))
    manifest.write_text(json.dumps(info, indent=1, sort_keys=True))
    info["cached"] = False
    return box, info


def warm_cache(files: list[Path]) -> int:
    total = 0
    for p in files:
        with open(p, "rb") as fh:
            total += len(fh.read())
    return total


def compile_program(package: Path = ROOT / "coi_archive") -> None:
    """Byte-compile the package's modules, as ``pip install`` of a wheel
    does: a user's commands load ``.pyc`` files.  Without this, an
    environment with ``PYTHONDONTWRITEBYTECODE`` set (this workplace's
    shells) compiles ~100 modules at every start, ~0.15 s of each re-scan."""
    import compileall

    compileall.compile_dir(str(package), quiet=2)


def coi_archive_cmd() -> list[str]:
    """The command that runs the program, its modules byte-compiled first."""
    compile_program()
    exe = Path(sys.executable).parent / "coi-archive"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "coi_archive"]


def _proc_tree(root: int) -> list[int]:
    """``root`` and all its descendants (scans ``/proc/*/stat`` for ppids)."""
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


def _runqueue_ns(pid: int) -> int | None:
    """Nanoseconds the threads of ``pid`` spent runnable but waiting for a
    CPU (``/proc/<pid>/task/*/schedstat``, second field)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as fh:
                total += int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return total


def _mem_kb(pid: int) -> tuple[int, int, int]:
    """(Rss, Pss, Anonymous) in kB from ``/proc/<pid>/smaps_rollup``."""
    rss = pss = anon = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Anonymous:"):
                    anon = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return rss, pss, anon


def _cpu_ticks(pid: int) -> tuple[int, int] | None:
    """(user, system) CPU of ``pid`` in clock ticks (``/proc/<pid>/stat``)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[11]), int(fields[12])
    except (OSError, ValueError, IndexError):
        return None


#: The names coi-archive gives its processes (``index.cores``), and the role each reports.
ROLES = {"coi-decode": "decode worker", "coi-index": "indexing child", "coi-prepare": "document helper"}
#: The role of a process that exited between listing the tree and reading it.
GONE = "gone"


def _role(pid: int, root: int) -> str:
    """What a process of the ingest tree is, for the per-process peaks: by
    the name coi-archive gave it, else (an older build) by its command line."""
    if pid == root:
        return "main"
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return GONE
    if comm in ROLES:
        return ROLES[comm]
    if b"resource_tracker" in cmd:
        return "resource tracker"
    return "indexing child" if b"spawn_main" in cmd else "decode worker"


class TreeSampler:
    """Samples a process tree every ``interval`` s while it runs: peak sum
    of RSS and of PSS (PSS counts pages shared by forked workers once), the
    largest number of processes, and each process's run-queue wait."""

    def __init__(self, root: int, interval: float = 0.25):
        import threading

        self.root = root
        self.interval = interval
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.max_procs = 0
        self.runqueue: dict[int, int] = {}
        #: role -> (peak RSS kB, anonymous kB at that peak) of its largest process
        self.by_role: dict[str, tuple[int, int]] = {}
        #: role -> seconds from the start to that peak (which phase it is in)
        self.role_peak_at: dict[str, float] = {}
        #: seconds from the start to the tree's PSS peak, and each role's PSS kB then
        self.tree_peak_at = 0.0
        self.tree_peak_roles: dict[str, int] = {}
        #: pid -> (role, user ticks, system ticks) as last sampled
        self.cpu: dict[int, tuple[str, int, int]] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        started = time.perf_counter()
        while not self._done.wait(self.interval):
            pids = _proc_tree(self.root)
            self.max_procs = max(self.max_procs, len(pids))
            rss = pss = 0
            roles: dict[str, int] = {}
            for pid in pids:
                role = _role(pid, self.root)
                if role == GONE:  # exited since the tree was listed
                    continue
                r, p, a = _mem_kb(pid)
                rss += r
                pss += p
                roles[role] = roles.get(role, 0) + p
                if r > self.by_role.get(role, (0, 0))[0]:
                    self.by_role[role] = (r, a)
                    self.role_peak_at[role] = time.perf_counter() - started
                ticks = _cpu_ticks(pid)
                if ticks is not None:
                    self.cpu[pid] = (role, *ticks)
                w = _runqueue_ns(pid)
                if w is not None:
                    self.runqueue[pid] = w
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            if pss > self.peak_pss_kb:
                self.peak_pss_kb = pss
                self.tree_peak_at = time.perf_counter() - started
                self.tree_peak_roles = roles

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def cpu_by_role(self) -> dict[str, list[float]]:
        """role -> [user s, system s] summed over its processes, as last
        sampled (a process's last ``interval`` before it exits is missed):
        which role's system time grows with N is what the sum hides."""
        tick = os.sysconf("SC_CLK_TCK")
        out: dict[str, list[float]] = {}
        for role, user, system in self.cpu.values():
            acc = out.setdefault(role, [0.0, 0.0])
            acc[0] += user / tick
            acc[1] += system / tick
        return {role: [round(u, 1), round(s, 1)] for role, (u, s) in out.items()}


def run_measured(cmd: list[str], log: Path) -> dict:
    """Run a command through ``launch.py``; wall seconds, peak memory, CPU and
    run-queue wait.

    ``rss_mb`` is ``ru_maxrss`` from ``wait4`` in the launcher (exact, see
    ``launch.py`` for why not from here): the largest peak of the process
    and of every descendant it reaped (the indexing child, the decode
    workers), not the sum, nor the main process alone; the tree's peak
    RSS/PSS sums are sampled too.  CPU is from ``wait4`` and includes
    reaped workers; ``cpu_by_role_s`` splits it by role as sampled.
    Run-queue wait is the time the processes were ready to run but no core
    was free (other people's jobs, or our own workers): it separates
    contention from real work."""
    launcher = [sys.executable, "-S", str(HERE / "launch.py"), str(log.resolve())]
    proc = subprocess.Popen(launcher + cmd, stdout=subprocess.PIPE, cwd=ROOT, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline().split()
    if first[:1] != ["pid"]:
        proc.wait()
        raise SystemExit(f"launch.py failed for {cmd[0]}")
    pid = int(first[1])
    sampler = TreeSampler(pid)
    report = json.loads(proc.stdout.readline())
    proc.wait()
    sampler.stop()
    main_wait = sampler.runqueue.get(pid)
    return {
        "seconds": report["seconds"],
        "rss_mb": report["maxrss_kb"] / 1024.0,
        "exit": report["exit"],
        "user_s": report["user_s"],
        "sys_s": report["sys_s"],
        "tree_rss_mb": sampler.peak_rss_kb / 1024.0,
        "tree_pss_mb": sampler.peak_pss_kb / 1024.0,
        "procs": max(1, sampler.max_procs),
        "peak_by_role_mb": {k: [round(r / 1024, 1), round(a / 1024, 1)] for k, (r, a) in sampler.by_role.items()},
        "peak_at_by_role_s": {k: round(v, 1) for k, v in sampler.role_peak_at.items()},
        "tree_pss_peak_at_s": round(sampler.tree_peak_at, 1),
        "tree_pss_peak_by_role_mb": {k: round(v / 1024, 1) for k, v in sampler.tree_peak_roles.items()},
        "cpu_by_role_s": sampler.cpu_by_role(),
        "runqueue_s": sum(sampler.runqueue.values()) / 1e9 if sampler.runqueue else None,
        "main_runqueue_s": None if main_wait is None else main_wait / 1e9,
        "output": log.read_text(errors="replace").strip()[-2000:],
    }


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def build_queries(seed: int) -> dict[str, list[str]]:
    contacts = gen_mailbox.make_contacts(seed)
    words = gen_mailbox.WORDS
    field = []
    for i, c in enumerate(contacts[:4]):
        w = words[c.lang][i % 4]
        field.append(f"from:{c.addr} date:2025-03-01..2025-06-30 {w}")
    c = contacts[0]
    field.append(f"from:{c.first_ascii} date:2025-01..2025-06 {words[c.lang][1]}")
    return {
        "single term": ["tomorrow", "kaffee", "спасибо", "project", "geburtstag"],
        "phrase": ['"see you tomorrow"', '"bis später"', '"до завтра"', '"happy birthday"'],
        "field + date": field,
    }


def bench_search(archive_dir: Path, queries: dict[str, list[str]], reps: int) -> dict:
    from coi_archive.index.api import Archive

    out: dict = {"classes": {}}
    t0 = time.perf_counter()
    archive = Archive.open(archive_dir, readonly=True)
    try:
        first = True
        for cls, qs in queries.items():
            hits = {}
            for q in qs:  # warm-up, one per query
                t = time.perf_counter()
                res = archive.search(q, limit=20)
                if first:
                    out["cold_first_ms"] = (time.perf_counter() - t0) * 1000
                    first = False
                hits[q] = len(res)
            times, cpu = [], []
            for i in range(reps):
                q = qs[i % len(qs)]
                c = time.thread_time()
                t = time.perf_counter()
                archive.search(q, limit=20)
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.thread_time() - c) * 1000)
            per_query = {q: statistics.median(times[j :: len(qs)]) for j, q in enumerate(qs)}
            out["classes"][cls] = {
                "p50_ms": statistics.median(times),
                "p95_ms": pct(times, 0.95),
                "cpu_p50_ms": statistics.median(cpu),
                "cpu_p95_ms": pct(cpu, 0.95),
                "max_ms": max(times),
                "reps": reps,
                "hits": hits,
                "per_query_p50_ms": per_query,
            }
    finally:
        archive.close()
    return out


def bench_stdlib(files: list[Path]) -> dict:
    parse = email.message_from_bytes
    started = time.perf_counter()
    cpu0 = time.process_time()
    for p in files:
        with open(p, "rb") as fh:
            parse(fh.read())
    secs = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    return {"seconds": secs, "rate": len(files) / secs, "cpu_s": cpu, "cpu_rate": len(files) / cpu}


def bench_peers(box: Path, n_files: int, out: Path, only: tuple[str, ...] = ("notmuch", "mu")) -> dict:
    """notmuch (``notmuch new``) and mu (``mu index``) indexing the very same
    Maildir into fresh databases under ``out``, measured like the ingest
    (wall, CPU, peak memory) plus their database size on disk.  A peer that
    is not installed (Debian: ``notmuch``, ``maildir-utils``) is skipped."""
    peers: dict = {}
    if "notmuch" in only and shutil.which("notmuch"):
        db = out / "peer-notmuch"
        shutil.rmtree(db, ignore_errors=True)
        db.mkdir(parents=True)
        cfg = out / "peer-notmuch.cfg"
        # absolute paths: notmuch reads relative ones against $HOME
        cfg.write_text(
            f"[database]\npath={db.resolve()}\nmail_root={box.resolve()}\n[new]\ntags=inbox;\n"
            "[maildir]\nsynchronize_flags=false\n"
        )
        print("peer: notmuch new", file=sys.stderr, flush=True)
        peers["notmuch"] = run_measured(["notmuch", f"--config={cfg}", "new"], out / "peer-notmuch.log")
        peers["notmuch"]["index_bytes"] = dir_size(db)
    if "mu" in only and shutil.which("mu"):
        home = out / "peer-mu"
        shutil.rmtree(home, ignore_errors=True)
        subprocess.run(["mu", "init", f"--maildir={box}", f"--muhome={home}"], check=True, capture_output=True)
        print("peer: mu index", file=sys.stderr, flush=True)
        peers["mu"] = run_measured(["mu", "index", f"--muhome={home}"], out / "peer-mu.log")
        peers["mu"]["index_bytes"] = dir_size(home)
    for peer in peers.values():
        peer["rate"] = n_files / peer["seconds"]
        peer["cpu_rate"] = n_files / max(peer["user_s"] + peer["sys_s"], 1e-9)
        peer.pop("output", None)
    return peers


def archive_stats(archive_dir: Path) -> dict:
    from coi_archive.index.api import Archive

    with Archive.open(archive_dir, readonly=True) as a:
        return a.stats()


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ---------------------------------------------------------------- one run


def keep_partial(out: Path, n: int, k: int, res: dict) -> None:
    """Write what run ``k`` measured so far to ``partial-<N>-run<k>.json``:
    a 1M run takes an hour, and a later step that fails (the tree changed
    under a long run) must not lose the ingest's figures."""
    (out / f"partial-{n}-run{k}.json").write_text(json.dumps(res, indent=1, ensure_ascii=False, default=str))


def one_run(
    box: Path,
    files: list[Path],
    archive_dir: Path,
    out: Path,
    n: int,
    reps: int,
    queries: dict[str, list[str]],
    k: int,
    engine: str,
) -> dict:
    res: dict = {"loadavg_start": os.getloadavg(), "engine": engine}
    if archive_dir.exists():
        shutil.rmtree(archive_dir)
    # an empty archive that records its search engine, so the timed ingest uses it
    subprocess.run(
        coi_archive_cmd() + ["--archive", str(archive_dir), "reindex", "--engine", engine],
        check=True,
        capture_output=True,
    )
    cmd = coi_archive_cmd() + ["--archive", str(archive_dir), "ingest", str(box)]
    print(f"[run {k}] ingest: {' '.join(cmd)}", file=sys.stderr, flush=True)
    ing = run_measured(cmd, out / f"ingest-n{n}-run{k}.log")
    if ing["exit"] != 0:
        raise SystemExit(f"ingest failed (exit {ing['exit']}):\n{ing['output']}")
    ing["rate"] = len(files) / ing["seconds"]
    ing["cpu_rate"] = len(files) / (ing["user_s"] + ing["sys_s"])
    res["ingest"] = ing
    print(
        f"[run {k}]   {ing['seconds']:.1f}s, {ing['rate']:.0f} files/s, peak RSS {ing['rss_mb']:.0f} MB",
        file=sys.stderr,
        flush=True,
    )
    keep_partial(out, n, k, res)
    res["archive_bytes"] = dir_size(archive_dir)
    res["stats"] = archive_stats(archive_dir)
    keep_partial(out, n, k, res)

    print(f"[run {k}] re-scan (unchanged Maildir)", file=sys.stderr, flush=True)
    res["rescan"] = run_measured(cmd, out / f"rescan-n{n}-run{k}.log")
    if res["rescan"]["exit"] != 0:
        raise SystemExit(f"re-scan failed:\n{res['rescan']['output']}")
    print(f"[run {k}]   {res['rescan']['seconds']:.2f}s", file=sys.stderr, flush=True)
    keep_partial(out, n, k, res)

    print(f"[run {k}] search ({reps} reps per class)", file=sys.stderr, flush=True)
    res["search"] = bench_search(archive_dir, queries, reps)
    keep_partial(out, n, k, res)

    print(f"[run {k}] bare stdlib parse", file=sys.stderr, flush=True)
    res["stdlib"] = bench_stdlib(files)
    res["loadavg_end"] = os.getloadavg()
    return res


# ---------------------------------------------------------------- report


def verdict(value: float, target: float, higher_is_better: bool) -> str:
    ok = value >= target if higher_is_better else value <= target
    if ok:
        return "met"
    if higher_is_better:
        return f"**missed** ({value / target:.2f}x of target, needs {target / value:.1f}x)"
    return f"**missed** ({value / target:.1f}x the limit)"


def render(n: int, seed: int, info: dict, runs: list[dict], queries: dict[str, list[str]]) -> str:
    def join(vals: list[str]) -> str:
        return " / ".join(vals)

    def worst_verdict(vals: list[float], target: float, hib: bool) -> str:
        worst = min(vals) if hib else max(vals)
        ok = [verdict(v, target, hib) == "met" for v in vals]
        if all(ok):
            return "met"
        v_w = verdict(worst, target, hib)
        if len(vals) > 1 and any(ok):
            return f"met in {sum(ok)} of {len(vals)} runs; worst: {v_w}"
        return v_w

    is_ref = n == 100000
    tsuffix = "" if is_ref else " (target is for N=100k)"
    rows = []
    ing_rates = [r["ingest"]["rate"] for r in runs]
    rows.append(
        (
            "Ingest, end to end",
            "wall time of `coi-archive ingest MAILDIR` into an empty archive (subprocess); files / s",
            join([f"{r['ingest']['rate']:,.0f} msgs/s ({r['ingest']['seconds']:.1f} s)" for r in runs]),
            f"≥ {TARGETS['ingest_rate']:,.0f} msgs/s{tsuffix}",
            worst_verdict(ing_rates, TARGETS["ingest_rate"], True),
        )
    )
    rows.append(
        (
            "Ingest per CPU-second",
            "files / (user+sys CPU s of the ingest and its workers): machine-load-independent cost",
            join(
                [
                    f"{r['ingest']['cpu_rate']:,.0f} msgs/s ({r['ingest']['user_s'] + r['ingest']['sys_s']:.1f} s CPU)"
                    for r in runs
                ]
            ),
            "–",
            "info (the machine is shared)",
        )
    )

    def split(i: dict) -> str:
        if i.get("runqueue_s") is None:
            return "n/a"
        out = (
            f"{i['seconds']:.1f} s wall = {i['user_s'] + i['sys_s']:.1f} s CPU in {i.get('procs', 1)} "
            f"process(es), {i['runqueue_s']:.1f} s runnable but waiting for a core"
        )
        if i.get("procs", 1) > 1 and i.get("main_runqueue_s") is not None:
            out += f" ({i['main_runqueue_s']:.1f} s of it the main process)"
        return out

    def split_of(i: dict) -> str:
        if i.get("runqueue_s") is None:
            return ""
        return f"; {i['user_s'] + i['sys_s']:.1f} s CPU, {i['runqueue_s']:.1f} s waiting for a core"

    rows.append(
        (
            "Ingest: where the wall time went",
            "CPU from `wait4` (includes reaped workers); run-queue wait summed over the process tree "
            "(`/proc/<pid>/task/*/schedstat`)",
            join([split(r["ingest"]) for r in runs]),
            "–",
            "info",
        )
    )

    def mem(i: dict) -> float:
        return max(i["rss_mb"], i.get("tree_pss_mb", 0.0))

    def mem_txt(i: dict) -> str:
        if "tree_pss_mb" not in i or i.get("procs", 1) <= 1:
            return f"{mem(i):,.0f} MB"
        roles = "".join(
            f"; {role} ≤ {r:,.0f} MB RSS ({a:,.0f} anonymous)"
            for role, (r, a) in sorted(i.get("peak_by_role_mb", {}).items())
        )
        at_peak = ", ".join(f"{role} {pss:,.0f}" for role, pss in sorted(i.get("tree_pss_peak_by_role_mb", {}).items()))
        when = f"; at its peak ({i['tree_pss_peak_at_s']:,.0f} s in): {at_peak} MB PSS" if at_peak else ""
        return (
            f"{mem(i):,.0f} MB (largest process {i['rss_mb']:,.0f} MB; tree of {i['procs']} processes: "
            f"PSS {i['tree_pss_mb']:,.0f} MB, RSS sum {i['tree_rss_mb']:,.0f} MB{when}{roles})"
        )

    rss = [mem(r["ingest"]) for r in runs]
    rows.append(
        (
            "Peak memory of the ingest",
            "max of `ru_maxrss` from `os.wait4` in a small launcher (the largest single process of the tree: "
            "the main process or a reaped child) and the peak PSS summed over its process tree, sampled every 0.25 s",
            join([mem_txt(r["ingest"]) for r in runs]),
            f"≤ {TARGETS['ingest_rss_mb']:.0f} MB{tsuffix}",
            worst_verdict(rss, TARGETS["ingest_rss_mb"], False),
        )
    )
    rescan = [r["rescan"]["seconds"] for r in runs]
    rows.append(
        (
            "Unchanged re-scan",
            "the same ingest command again on the unchanged Maildir; wall time",
            join(
                [f"{v:.2f} s (memory {mem(r['rescan']):.0f} MB{split_of(r['rescan'])})" for v, r in zip(rescan, runs)]
            ),
            f"≤ {TARGETS['rescan_s']:.0f} s{tsuffix}",
            worst_verdict(rescan, TARGETS["rescan_s"], False),
        )
    )

    def cpu_note(r: dict, cls: str) -> str:
        c = r["search"]["classes"][cls]
        if "cpu_p95_ms" not in c:
            return ""
        return f" (CPU p50 {c['cpu_p50_ms']:.1f}, p95 {c['cpu_p95_ms']:.1f} ms)"

    for cls in queries:
        p95 = [r["search"]["classes"][cls]["p95_ms"] for r in runs]
        p50 = [r["search"]["classes"][cls]["p50_ms"] for r in runs]
        ex = queries[cls][0].replace("|", "\\|")
        rows.append(
            (
                f"Search: {cls}",
                f"`Archive.search(q, limit=20)`, in-process, warm, wall time (and thread CPU time); "
                f"{runs[0]['search']['classes'][cls]['reps']} calls over {len(queries[cls])} queries, e.g. `{ex}`",
                join([f"p50 {a:.1f} ms, p95 {b:.1f} ms" + cpu_note(r, cls) for a, b, r in zip(p50, p95, runs)]),
                f"p95 ≤ {TARGETS['search_p95_ms']:.0f} ms{tsuffix}",
                worst_verdict(p95, TARGETS["search_p95_ms"], False),
            )
        )
    rows.append(
        (
            "Search: first query (cold)",
            "`Archive.open` + first `search` in a fresh process state",
            join([f"{r['search']['cold_first_ms']:.0f} ms" for r in runs]),
            "–",
            "info",
        )
    )
    slower = statistics.mean(r["stdlib"]["cpu_rate"] for r in runs) / statistics.mean(
        r["ingest"]["cpu_rate"] for r in runs
    )
    rows.append(
        (
            "Peer: bare stdlib parse",
            "read + `email.message_from_bytes` of every generated file, in-process",
            join([f"{r['stdlib']['rate']:,.0f} msgs/s ({r['stdlib']['cpu_rate']:,.0f} per CPU-s)" for r in runs]),
            "~18,000 msgs/s (brief)",
            f"ingest is {slower:.1f}x slower per CPU-s",
        )
    )
    rows.extend(peer_rows(info.get("peers") or {}, runs))

    lines = [f"#### N = {n:,} (seed {seed})", ""]
    lines.append(
        f"Measured {runs[0]['when']}{' and ' + runs[-1]['when'] if len(runs) > 1 else ''} "
        f"on {os.cpu_count()} CPUs, Python {platform.python_version()}, git {runs[0]['git']}"
        + (f" (run {len(runs)}: {runs[-1]['git']})" if runs[-1]["git"] != runs[0]["git"] else "")
        + ". "
        + (
            f"Results of {len(runs)} runs are separated by ` / ` (search engine of each run: "
            f"{join([r.get('engine', 'whoosh') for r in runs])}). "
            if len(runs) > 1
            else f"Search engine: {runs[0].get('engine', 'whoosh')}. "
        )
        + "Load average at start of each run: "
        + join([f"{r['loadavg_start'][0]:.2f}" for r in runs])
        + "."
    )
    lines.append("")
    lines.append("| what | how measured | result | target | verdict |")
    lines.append("|---|---|---|---|---|")
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    st = runs[0]["stats"]
    gen = f"generated in {info['seconds']:.1f} s"
    if info.get("cached"):
        gen = f"cached, {gen}"
    lines.append(
        f"Mailbox: {info['files']:,} files ({info.get('sent_copies', 0):,} byte-identical `.Sent` copies), "
        f"{info.get('bytes', 0) / 1e6:.0f} MB, {gen}. "
        f"Archive after ingest: {st['unique_messages']:,} unique messages in {st['chats']:,} chats "
        f"(by dialect {json.dumps(st['by_dialect'], ensure_ascii=False)}; by role "
        f"{json.dumps(st['by_role'])}), {st['parse_errors']} parse errors, "
        f"{st['orphan_actions']} orphan actions, {runs[0]['archive_bytes'] / 1e6:.0f} MB on disk."
    )
    hits = {q: h for cls in runs[0]["search"]["classes"].values() for q, h in cls["hits"].items()}
    lines.append("")
    per_q = {q: [r["search"]["classes"][c]["per_query_p50_ms"][q] for r in runs] for c in queries for q in queries[c]}
    lines.append(
        "Queries (hits at limit 20; median ms per query): "
        + "; ".join(f"`{q}` {h} hits, {join([f'{v:.0f}' for v in per_q[q]])} ms" for q, h in hits.items())
        + "."
    )
    return "\n".join(lines) + "\n"


def peer_rows(peers: dict, runs: list[dict]) -> list[tuple[str, ...]]:
    """One row per peer run on the same Maildir in this invocation: its rate,
    CPU, memory and index size, and how each of our runs compares."""
    rows = []
    for name, cmd in (("notmuch", "`notmuch new` into a fresh database"), ("mu", "`mu init` + `mu index`")):
        p = peers.get(name)
        if p is None:
            rows.append((f"Peer: {name}", "not in this invocation (not installed, or --no-peers)", "not run", "–", "–"))
            continue
        ours = join_runs(
            [
                f"{r.get('engine', 'whoosh')} {r['ingest']['rate'] / p['rate']:.2f}x its rate, "
                f"{r['ingest']['cpu_rate'] / p['cpu_rate']:.2f}x per CPU-s, archive "
                f"{r['archive_bytes'] / max(p['index_bytes'], 1):.1f}x its size"
                for r in runs
            ]
        )
        rows.append(
            (
                f"Peer: {name}",
                f"{cmd} on the same Maildir, same invocation; wall, CPU, `ru_maxrss`, database size",
                f"{p['rate']:,.0f} msgs/s ({p['seconds']:.1f} s; {p['cpu_rate']:,.0f} per CPU-s; "
                f"{p['rss_mb']:.0f} MB; database {p['index_bytes'] / 1e6:.0f} MB)",
                "ingest faster (issue 11)",
                "coi-archive: " + ours,
            )
        )
    return rows


def join_runs(vals: list[str]) -> str:
    return " / ".join(vals)


def update_md(md: Path, n: int, table: str) -> None:
    begin, end = f"<!-- results n={n} begin -->", f"<!-- results n={n} end -->"
    block = f"{begin}\n{table}{end}"
    text = md.read_text() if md.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        pre, rest = text.split(begin, 1)
        _, post = rest.split(end, 1)
        text = pre + block + post
    elif "<!-- results end -->" in text:
        text = text.replace("<!-- results end -->", block + "\n\n<!-- results end -->", 1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    md.write_text(text)


def git_rev() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def code_fingerprint() -> str:
    """Short hash of the program sources measured (others edit them
    without committing, so the git revision alone does not identify them)."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted((ROOT / "coi_archive").rglob("*.py")):
        h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:12]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="message files in the synthetic Maildir (default 20000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out", help="work directory (git-ignored)")
    ap.add_argument("--runs", type=int, default=1, help="repeat the measurements (fresh archive each time)")
    ap.add_argument("--reps", type=int, default=50, help="timed searches per query class")
    ap.add_argument("--regen", action="store_true", help="regenerate the Maildir even if cached")
    ap.add_argument("--no-peers", action="store_true", help="do not run notmuch and mu on the same Maildir")
    ap.add_argument(
        "--peer", choices=("notmuch", "mu"), action="append", help="run only this peer (repeatable; default: both)"
    )
    ap.add_argument(
        "--engine",
        choices=ENGINES,
        action="append",
        help="search engine of the archive (repeatable; default: every engine, one run each)",
    )
    ap.add_argument("--keep-archive", action="store_true", help="keep bench-out/archive-* afterwards")
    ap.add_argument("--update-md", action="store_true", help="rewrite this N's table in BENCHMARKS.md")
    ap.add_argument(
        "--rerender",
        action="store_true",
        help="re-render results-<N>.md from results-<N>.json without measuring (with --update-md: "
        "also rewrite BENCHMARKS.md)",
    )
    ap.add_argument(
        "--md-only", action="store_true", help="only copy bench-out/results-<N>.md of the last run into BENCHMARKS.md"
    )
    args = ap.parse_args(argv)

    if args.rerender:
        data = json.loads((args.out / f"results-{args.n}.json").read_text())
        table = render(args.n, data["seed"], data["mailbox"], data["runs"], data["queries"])
        (args.out / f"results-{args.n}.md").write_text(table)
        print(table)
        if not args.update_md:
            return 0
        args.md_only = True
    if args.md_only:
        update_md(ROOT / "BENCHMARKS.md", args.n, (args.out / f"results-{args.n}.md").read_text())
        print("updated BENCHMARKS.md", file=sys.stderr)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    box, info = ensure_maildir(args.out, args.n, args.seed, args.regen)
    files = maildir_files(box)
    print(f"maildir {box}: {len(files)} files; warming the page cache", file=sys.stderr, flush=True)
    nbytes = warm_cache(files)
    info.setdefault("bytes", nbytes)
    queries = build_queries(args.seed)
    if not args.no_peers:
        info["peers"] = bench_peers(box, len(files), args.out, tuple(args.peer or ("notmuch", "mu")))
    runs = []
    for engine in args.engine or ENGINES:
        archive_dir = args.out / f"archive-n{args.n}-s{args.seed}-{engine}"
        for k in range(1, args.runs + 1):
            # stamped as the run starts: the code it measures is the code its commands load then
            when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            code = f"{git_rev()}, code {code_fingerprint()}"
            r = one_run(box, files, archive_dir, args.out, args.n, args.reps, queries, k, engine)
            r["when"], r["git"] = when, code
            runs.append(r)
        if not args.keep_archive:
            shutil.rmtree(archive_dir, ignore_errors=True)

    table = render(args.n, args.seed, info, runs, queries)
    print(table)
    (args.out / f"results-{args.n}.md").write_text(table)
    (args.out / f"results-{args.n}.json").write_text(
        json.dumps(
            {"n": args.n, "seed": args.seed, "mailbox": info, "queries": queries, "runs": runs, "targets": TARGETS},
            indent=1,
            ensure_ascii=False,
            default=str,
        )
    )
    with open(args.out / f"history-{args.n}.jsonl", "a") as fh:
        fh.write(
            json.dumps(
                {
                    "runs": [
                        {
                            "when": r["when"],
                            "git": r["git"],
                            "ingest_rate": r["ingest"]["rate"],
                            "rss_mb": r["ingest"]["rss_mb"],
                            "rescan_s": r["rescan"]["seconds"],
                            "search_p95_ms": {c: v["p95_ms"] for c, v in r["search"]["classes"].items()},
                            "stdlib_rate": r["stdlib"]["rate"],
                        }
                        for r in runs
                    ]
                }
            )
            + "\n"
        )
    if args.update_md:
        update_md(ROOT / "BENCHMARKS.md", args.n, table)
        print("updated BENCHMARKS.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
