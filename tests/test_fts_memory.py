"""The indexing child's memory does not grow with the number of messages
(issue 11): what one ``add`` remembers of the ids it wrote, and the cache
of recipient terms, are bounded."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tracemalloc

import pytest

from coi_archive.index import tokens
from coi_archive.index.fulltext import SearchDoc
from coi_archive.index.tantivy_engine import SeenIds


def test_seen_ids_are_bounded_and_never_miss_a_repeat() -> None:
    n = 1 << 18  # 64 times the exact set's size: the filter holds them
    tracemalloc.start()
    try:
        seen = SeenIds()
        mistaken = sum(seen.add(f"<m{i}@example.org>") for i in range(n))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the bits and nothing per id (a set of hashes: ~80 bytes per id, 21 MB here)
    # and 2 MiB of bits at most: the indexing child's peak carries them all
    assert held < 3 << 20
    assert mistaken < n // 1000  # ids taken for repeats by mistake
    assert all(seen.add(f"<m{i}@example.org>") for i in range(0, n, 7))  # a repeat is never missed
    assert seen.repeats == mistaken + len(range(0, n, 7))


def test_seen_ids_are_exact_while_few() -> None:
    seen = SeenIds()
    assert [seen.add(x) for x in ("a", "b", "a", "c", "b")] == [False, False, True, False, True]
    assert seen.repeats == 2


def _group_doc(i: int, members: int = 40) -> SearchDoc:
    """A message of a large group whose recipients differ from message to message."""
    rcpts = tuple(f"member{(i + k) % 5000}@group.example.org" for k in range(members))
    return SearchDoc(
        message_id=f"<g{i}@x>",
        chat_id="g",
        chat_name="Group",
        chat_kind="group",
        group_id="g",
        sender="a@x",
        sender_name="A",
        recipients=rcpts,
        date=None,
        subject="",
        text="hi",
        history="",
        kind="chat",
        attachments=(),
        edited=False,
        deleted=False,
        encrypted=False,
    )


def _held_after(docs: list[SearchDoc]) -> int:
    """Bytes still held (by the caches) after taking the meta terms of ``docs``."""
    tokens.forget()
    tracemalloc.start()
    try:
        for doc in docs:
            tokens.meta_terms(doc)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        tokens._recipient_meta.cache_clear()
    return held


def test_recipient_terms_cache_is_bounded_in_memory() -> None:
    few = 100
    per_entry = _held_after([_group_doc(i) for i in range(few)]) / few
    many = 3 * tokens.RECIPIENT_CACHE
    held = _held_after([_group_doc(i) for i in range(many)])
    assert held < 1.3 * tokens.RECIPIENT_CACHE * per_entry
    assert tokens.RECIPIENT_CACHE * per_entry < 16 << 20  # a full cache of large groups' entries


def _mail_doc(i: int) -> SearchDoc:
    """A mail with a subject of its own (tickets, newsletters, replies to
    them), to one recipient: only the subject's terms differ between mails."""
    subject = f"Ticket {i}: printer on floor {i % 7} is jammed again"
    return dataclasses.replace(_group_doc(i, members=1), subject=subject, recipients=("desk@example.org",))


def test_subject_terms_do_not_accumulate() -> None:
    """Most mails have a subject of their own: the cache of name and subject
    words stays bounded (with 65,536 entries it grew the indexing child by
    ~55 MB from 100,000 to 300,000 messages)."""
    tokens.forget()  # what earlier tests left
    fewer = _held_after([_mail_doc(i) for i in range(2 * tokens.WORD_SET_CACHE)])
    tokens.word_set.cache_clear()
    more = _held_after([_mail_doc(i) for i in range(8 * tokens.WORD_SET_CACHE)])
    tokens.word_set.cache_clear()
    assert more < 1.2 * fewer


def test_term_caches_are_renewed_every_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The term caches are emptied every ``GENERATION`` documents analysed:
    a long run's rare words do not stay, and the next documents (of the same
    chats) fill them again."""
    monkeypatch.setattr(tokens, "GENERATION", 50)
    tokens.forget()
    for i in range(49):
        tokens.meta_terms(_mail_doc(i))
        tokens.stems_of(tokens.tokenize(f"printers jammed again, ticket {i}"))
    assert tokens.word_set.cache_info().currsize >= 49  # a subject of its own each
    assert tokens._stem.cache_info().currsize > 0
    tokens.meta_terms(_mail_doc(49))  # the 50th: a new generation begins with it
    assert tokens.word_set.cache_info().currsize <= 3  # its own subject and names
    assert tokens._stem.cache_info().currsize == 0
    for i in range(50, 99):
        tokens.meta_terms(_mail_doc(i))
    assert tokens.word_set.cache_info().currsize >= 49  # filled again within the generation
    tokens.forget()


_FREED_BLOCK = """
import ctypes, sys
from coi_archive.index.heap import return_freed_memory
if sys.argv[1] == "set" and not return_freed_memory():
    print("not glibc"); sys.exit()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss_kb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS:")).split()[1])
size = 16 << 20
before = rss_kb()
for _ in range(2):  # glibc's default: the first free raises the mmap threshold, the second block stays
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
print(rss_kb() - before)
"""


def _kept_kb(mode: str) -> int | None:
    out = subprocess.run([sys.executable, "-c", _FREED_BLOCK, mode], capture_output=True, text=True, check=True)
    return None if out.stdout.startswith("not glibc") else int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator, /proc")
def test_indexing_child_returns_large_freed_blocks() -> None:
    kept = _kept_kb("set")
    if kept is None:
        pytest.skip("not glibc")
    assert _kept_kb("default") > 8 << 10  # without it a freed 16 MB block stays resident
    assert kept < 2 << 10
