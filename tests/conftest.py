"""Fixtures shared by the test files.

The archives that tests only read (built from ``samples/``, from the real
Delta Chat corpus copy, the synthetic 10,000-message chat and the hostile
mailbox) are built once per session: ingesting them is most of the cost of
the web UI, export and analytics tests, and the web UI opens them
read-only.  A test that changes an archive builds its own in ``tmp_path``.

Helpers that are not fixtures live in ``cli_helpers.py`` and
``webui_support.py``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coi_archive.index.api import Archive
from coi_archive.index.engines import ENGINES
from tests.webui_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CORPUS,
    SAMPLES,
    Guard,
    build_archive,
    live_server,
    make_big_chat,
    make_xss_mailbox,
)

# --------------------------------------------------------------------------
# Full-text engines: a test that takes ``engine_name`` runs on each
# --------------------------------------------------------------------------


@pytest.fixture(scope="module", params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    """The name of each full-text engine (``index.engines.ENGINES``), so
    the engine-neutral tests cannot pass on one engine and rot on another."""
    return request.param


# --------------------------------------------------------------------------
# Archives (read-only for the tests that use them)
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive of every source in ``samples/``."""
    return build_archive(tmp_path_factory.mktemp("samples") / "archive", SAMPLES)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive of the decrypted real Delta Chat corpus."""
    return build_archive(tmp_path_factory.mktemp("corpus") / "archive", CORPUS)


@pytest.fixture(scope="session")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive of one 10,000-message group chat."""
    base = tmp_path_factory.mktemp("big")
    return build_archive(base / "archive", make_big_chat(base / "maildir"))


@pytest.fixture(scope="session")
def xss(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive of the hostile mailbox (every payload in every field)."""
    base = tmp_path_factory.mktemp("xss")
    return build_archive(base / "archive", make_xss_mailbox(base / "maildir"))


@pytest.fixture(scope="session")
def samples_archive(samples: Path) -> Iterator[Archive]:
    """The samples archive opened read-only through the notebook API."""
    with Archive.open(samples, readonly=True) as archive:
        yield archive


@pytest.fixture(scope="session")
def corpus_archive(corpus: Path) -> Iterator[Archive]:
    """The corpus archive opened read-only through the notebook API."""
    with Archive.open(corpus, readonly=True) as archive:
        yield archive


# --------------------------------------------------------------------------
# Live servers and a headless browser
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def samples_url(samples: Path) -> Iterator[str]:
    with live_server(samples) as url:
        yield url


@pytest.fixture(scope="session")
def corpus_url(corpus: Path) -> Iterator[str]:
    with live_server(corpus) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright; skipped when it is missing,
    except in CI, where a missing browser is a failure, never a silent skip."""
    if not Path(CHROMIUM).exists():  # scripts/test.sh installs it; say so instead of failing obscurely
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh should have installed chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; scripts/test.sh does this)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page whose ``guard`` (:class:`Guard`) records every
    request, aborts those that leave 127.0.0.1, and collects page errors,
    console errors and dialogs."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, accept_downloads=True, timezone_id="UTC", locale="en-GB"
    )
    guard = Guard()

    def route(r):
        url = r.request.url
        if re.match(r"^http://127\.0\.0\.1:\d+/", url) or url.startswith(("data:", "file:")):
            r.continue_()
        else:
            guard.external.append(url)
            r.abort()

    context.route("**/*", route)
    p = context.new_page()
    p.set_default_timeout(15_000)
    p.on("request", lambda req: guard.requests.append(req.url))
    p.on("pageerror", lambda exc: guard.errors.append(f"pageerror: {exc}"))
    p.on("console", lambda msg: guard.errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    p.on("dialog", lambda d: (guard.errors.append(f"dialog: {d.message}"), d.dismiss()))
    p.guard = guard
    yield p
    context.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Let the web UI's background drawing threads (daemons: a server does
    not wait for them) finish before the interpreter shuts down: a daemon
    thread stopped inside pandas/pyarrow's C++ at exit aborts the process
    ("terminate called without an active exception"), which would turn a
    passing run into exit code 134."""
    for thread in threading.enumerate():
        if thread.daemon and thread.name.startswith("coi-webui"):
            thread.join(120)
