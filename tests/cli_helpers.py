"""Helpers for tests that drive the ``coi-archive`` command line.

Import them from any test module::

    from tests.cli_helpers import cli, cli_json, ingest, Archive

Everything here runs the real CLI (``python -m coi_archive --archive DIR ...``)
in a subprocess, with the repository root as working directory and on
``PYTHONPATH``, so the tests work from a fresh clone without installation.
For speed-critical tests :func:`cli` can also run the CLI in-process
(``inprocess=True``), calling ``coi_archive.cli.main(argv)`` with captured
stdout/stderr; that is only used where a test needs hundreds of calls.

All test data lives in ``tests/data`` inside the repository.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import inspect
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from functools import cached_property
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"
DC_DEV = DATA_DIR / "deltachat-dev"
#: Account Maildirs of the deltachat-dev corpus (journal/ is separate).
DC_DEV_ACCOUNTS = ("frank", "grace", "heidi", "ivan", "judy", "mallory")

#: Seconds one CLI call may take before the test fails instead of hanging.
DEFAULT_TIMEOUT = 900


# --------------------------------------------------------------------------
# Running the CLI
# --------------------------------------------------------------------------


@dataclass
class Result:
    """Outcome of one CLI call. ``stdout`` is bytes (``raw`` prints bytes)."""

    args: list[str]
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def json(self) -> Any:
        try:
            return json.loads(self.stdout.decode("utf-8"))
        except ValueError as exc:  # pragma: no cover - diagnostic
            raise AssertionError(
                f"`{' '.join(self.args)}` printed no valid JSON ({exc}):\n"
                f"stdout: {self.text[:2000]!r}\nstderr: {self.stderr[-2000:]}"
            ) from None

    def describe(self) -> str:
        return (
            f"`coi-archive {' '.join(self.args)}` exited {self.returncode}\n"
            f"stdout: {self.text[:1500]}\nstderr: {self.stderr[-3000:]}"
        )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    pp = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + pp if pp else "")
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _inprocess_main():
    """``coi_archive.cli.main`` if it takes an argv argument, else None."""
    try:
        from coi_archive import cli as cli_mod  # type: ignore
    except Exception:
        return None
    main = getattr(cli_mod, "main", None)
    if main is None:
        return None
    try:
        params = inspect.signature(main).parameters
    except (TypeError, ValueError):
        return None
    return main if params else None


def inprocess_available() -> bool:
    return _inprocess_main() is not None


def _run_inprocess(argv: list[str]) -> tuple[int, bytes, str]:
    main = _inprocess_main()
    assert main is not None, "coi_archive.cli.main(argv) is not available"
    out_buf, err_buf = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_buf, encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(err_buf, encoding="utf-8", errors="replace", write_through=True)
    code: Any = 0
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        except BaseException:  # report like the interpreter would
            import traceback

            traceback.print_exc()
            code = 1
    finally:
        with contextlib.suppress(Exception):
            out.flush()
            err.flush()
        sys.stdout, sys.stderr = old_out, old_err
    if code is None:
        code = 0
    elif not isinstance(code, int):
        err_buf.write(str(code).encode() + b"\n")
        code = 1
    return code, out_buf.getvalue(), err_buf.getvalue().decode("utf-8", "replace")


def cli(
    archive: str | os.PathLike | None,
    *args: str | os.PathLike,
    check: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    inprocess: bool = False,
) -> Result:
    """Run ``coi-archive [--archive ARCHIVE] ARGS...``.

    With ``check`` a non-zero exit fails the test with stdout/stderr shown.
    """
    argv = [str(a) for a in args]
    if archive is not None:
        argv = ["--archive", str(archive), *argv]
    if inprocess:
        code, out, err = _run_inprocess(argv)
        res = Result(argv, code, out, err)
    else:
        proc = subprocess.run(
            [sys.executable, "-m", "coi_archive", *argv],
            cwd=REPO_ROOT,
            env=_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
        res = Result(argv, proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))
    if check and res.returncode != 0:
        raise AssertionError(res.describe())
    return res


def cli_json(archive, *args, inprocess: bool = False, **kw) -> Any:
    """Run a CLI command with ``--json`` and return the parsed output."""
    argv = [str(a) for a in args]
    if "--json" not in argv:
        argv.append("--json")
    return cli(archive, *argv, inprocess=inprocess, **kw).json()


def ingest(archive, *sources, check: bool = True, inprocess: bool = False) -> Result:
    return cli(archive, "ingest", *sources, check=check, inprocess=inprocess)


def cli_available() -> bool:
    """True when ``python -m coi_archive --help`` works."""
    try:
        return cli(None, "--help", check=False, timeout=120).returncode == 0
    except Exception:
        return False


def assert_clean_error(res: Result, codes: Iterable[int] = (2,)) -> None:
    """An argument error: an expected exit code, exactly one line on stderr
    and no Python traceback anywhere."""
    codes = tuple(codes)
    assert res.returncode in codes, f"expected exit code in {codes}\n{res.describe()}"
    assert "Traceback" not in res.stderr and "Traceback" not in res.text, res.describe()
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected ONE line on stderr, got {len(lines)}\n{res.describe()}"


# --------------------------------------------------------------------------
# A view of one archive
# --------------------------------------------------------------------------


class Archive:
    """Read-only view of an archive through the CLI, cached per instance.

    ``archive.chats`` = ``chats --json``; ``archive.show(chat_id)`` =
    ``show CHAT --json``; ``archive.messages`` maps message_id (no <>) to
    ``(chat, message)`` for every listed message of every chat.
    """

    def __init__(self, path: str | os.PathLike, inprocess: bool = False):
        self.path = Path(path)
        self.inprocess = inprocess
        self._shows: dict[str, Any] = {}

    def run(self, *args, **kw) -> Result:
        kw.setdefault("inprocess", self.inprocess)
        return cli(self.path, *args, **kw)

    def json(self, *args, **kw) -> Any:
        kw.setdefault("inprocess", self.inprocess)
        return cli_json(self.path, *args, **kw)

    def ingest(self, *sources, **kw) -> Result:
        self._shows.clear()
        for attr in ("chats", "messages", "stats", "contacts"):
            self.__dict__.pop(attr, None)
        return self.run("ingest", *sources, **kw)

    @cached_property
    def chats(self) -> list[dict]:
        return self.json("chats")

    @cached_property
    def stats(self) -> dict:
        return self.json("stats")

    @cached_property
    def contacts(self) -> Any:
        return self.json("contacts")

    def show(self, chat_id: Any) -> dict:
        key = str(chat_id)
        if key not in self._shows:
            self._shows[key] = self.json("show", key)
        return self._shows[key]

    def chat(self, chat_id: Any) -> dict:
        for c in self.chats:
            if str(c["id"]) == str(chat_id):
                return c
        raise KeyError(chat_id)

    @cached_property
    def messages(self) -> dict[str, tuple[dict, dict]]:
        out: dict[str, tuple[dict, dict]] = {}
        for c in self.chats:
            for m in self.show(c["id"])["messages"]:
                mid = norm_mid(m["message_id"])
                assert mid not in out, f"message {mid} listed twice (chats {out[mid][0]['id']} and {c['id']})"
                out[mid] = (c, m)
        return out

    def message(self, mid: str) -> dict:
        mid = norm_mid(mid)
        assert mid in self.messages, f"message {mid} is not listed in any chat"
        return self.messages[mid][1]

    def chat_of(self, mid: str) -> dict:
        mid = norm_mid(mid)
        assert mid in self.messages, f"message {mid} is not listed in any chat"
        return self.messages[mid][0]

    def raw(self, mid: str) -> bytes:
        return self.run("raw", norm_mid(mid)).stdout

    def verify(self) -> Result:
        return self.run("verify", check=False)


# --------------------------------------------------------------------------
# Facts about input files, computed with the stdlib only
# --------------------------------------------------------------------------


def norm_mid(value: str | None) -> str:
    """A Message-ID without angle brackets and surrounding whitespace."""
    if value is None:
        return ""
    v = str(value).strip()
    if v.startswith("<") and ">" in v:
        v = v[1 : v.index(">")]
    return v.strip()


def addr(value: str | None) -> str:
    """``Name <a@B.org>`` -> ``a@b.org``."""
    return parseaddr(value or "")[1].strip().lower()


def addrs(value: str | None) -> list[str]:
    return [a.lower() for _, a in getaddresses([value or ""]) if a]


def parse_file(path: str | os.PathLike) -> email.message.Message:
    with open(path, "rb") as fh:
        return email.message_from_binary_file(fh, policy=email.policy.compat32)


def message_id_of(raw_or_msg: bytes | email.message.Message) -> str:
    msg = raw_or_msg
    if isinstance(raw_or_msg, (bytes, bytearray)):
        msg = email.message_from_bytes(bytes(raw_or_msg), policy=email.policy.compat32)
    return norm_mid(msg.get("Message-ID"))


def maildir_files(maildir: str | os.PathLike) -> list[Path]:
    """Message files of a Maildir (cur/ and new/, no dotfiles, no tmp/)."""
    root = Path(maildir)
    files: list[Path] = []
    for sub in ("cur", "new"):
        d = root / sub
        if d.is_dir():
            files.extend(p for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith("."))
    return files


def iter_messages(paths: Iterable[Path]) -> Iterator[tuple[Path, email.message.Message]]:
    for p in paths:
        yield p, parse_file(p)


def make_maildir(root: str | os.PathLike, messages: dict[str, bytes], sub: str = "new") -> Path:
    """Write ``{file name: bytes}`` as a Maildir (cur/new/tmp) under ``root``."""
    root = Path(root)
    for s in ("cur", "new", "tmp"):
        (root / s).mkdir(parents=True, exist_ok=True)
    for name, data in messages.items():
        (root / sub / name).write_bytes(data)
    return root


# --------------------------------------------------------------------------
# The deltachat-dev corpus copy
# --------------------------------------------------------------------------


def load_ground_truth() -> dict:
    return json.loads((DC_DEV / "GROUND_TRUTH.json").read_text("utf-8"))


def load_journal_index() -> dict:
    return json.loads((DC_DEV / "journal-index.json").read_text("utf-8"))


def decrypted_files_by_mid() -> dict[str, Path]:
    """Message-ID -> the decrypted inner message in journal-decrypted/."""
    out: dict[str, Path] = {}
    for m in load_journal_index()["messages"]:
        if m.get("decrypted_file"):
            out[norm_mid(m["message_id"])] = DC_DEV / m["decrypted_file"]
    return out


def collect_key(obj, key: str) -> list:
    """Every string value of ``key`` anywhere in a JSON document."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key and isinstance(v, str):
                out.append(v)
            else:
                out.extend(collect_key(v, key))
    elif isinstance(obj, list):
        for v in obj:
            out.extend(collect_key(v, key))
    return out


def final_reactions(reaction_events: list[dict], target: str) -> dict[str, str]:
    """The reactions on ``target`` after the ground truth's reaction events,
    replayed in order: a new emoji replaces the sender's, an empty one
    retracts it."""
    final: dict[str, str] = {}
    for e in reactions_on(reaction_events, target):
        if e["emoji"]:
            final[e["sender"]] = e["emoji"]
        else:
            final.pop(e["sender"], None)
    return final


def reactions_on(reaction_events: list[dict], target: str) -> list[dict]:
    """The ground truth's reaction events on ``target``, in order."""
    return sorted((e for e in reaction_events if e["target_message_id"] == target), key=lambda e: e["seq"])
