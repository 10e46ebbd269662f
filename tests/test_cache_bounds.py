"""Every memo cache in the package has a bound.

A process that ingests or indexes a million messages runs each cached
function millions of times with keys that grow with the archive (address
lists, chats, words): an unbounded cache is memory that grows with the
mailbox, which the benchmark's growth table would show only at a million
messages.  A cache of a function without arguments holds one value."""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil

import coi_archive

_CACHED = type(functools.lru_cache(maxsize=1)(len))


def _caches():
    for info in pkgutil.walk_packages(coi_archive.__path__, "coi_archive."):
        if info.name.endswith(".__main__"):  # runs the command line when imported
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed
            continue
        for name, value in vars(module).items():
            if isinstance(value, _CACHED) and value.__module__ == info.name:
                yield f"{info.name}.{name}", value


def test_the_package_has_caches_to_check():
    names = {name for name, _ in _caches()}
    assert "coi_archive.index.tokens._stem" in names
    assert "coi_archive.ingest.mime._parse_list" in names


def test_every_cache_with_arguments_is_bounded():
    unbounded = [
        name
        for name, fn in _caches()
        if fn.cache_parameters()["maxsize"] is None and inspect.signature(fn.__wrapped__).parameters
    ]
    assert unbounded == []
