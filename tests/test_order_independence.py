"""The archive must not depend on arrival order or on duplicates.

Sample: ~34 decrypted Delta Chat inner messages of the deltachat-dev corpus
(tests/data/deltachat-dev/journal-decrypted) covering the 1:1 chat ``fg``
(edit chain, delete-for-everyone, reactions added/changed/retracted, read
receipts, quote, attachments, vCard, forward) and the group ``hike``
(renames, avatar, member removed + re-added, member left, reactions), plus
every unencrypted journal message (chats jm, wg, ji_plain and the plain
e-mails pm1..pm5).  Which messages are picked is derived from
GROUND_TRUTH.json.

Hypothesis draws a permutation of the sample with random duplicates and
splits it into 1-3 batches that arrive by separate ``ingest`` runs (each
batch a directory of .eml files whose names sort in arrival order).  The
result - ``chats --json``, ``contacts --json``, ``show CHAT --json`` of every
chat, and the order-independent parts of ``stats --json`` - must equal a
reference archive built from the sample in sorted order in one run.

Chat ids are compared after renaming them canonically (by chat content);
that ids themselves do not depend on arrival order is checked separately by
``test_chat_ids_do_not_depend_on_order``.

Set COI_TEST_INPROCESS=0 to force subprocess CLI calls (slower).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_helpers import (
    DC_DEV,
    Archive,
    decrypted_files_by_mid,
    inprocess_available,
    load_ground_truth,
    load_journal_index,
    norm_mid,
)

GT = load_ground_truth()
DECRYPTED = decrypted_files_by_mid()


def _sample() -> list[Path]:
    mids: list[str] = []
    for e in GT["events"]:
        chat = e.get("chat")
        if chat is None and e.get("target"):
            target = next((x for x in GT["events"] if x.get("label") == e["target"]), {})
            chat = target.get("chat")
        if e["type"] == "message" and chat == "fg":
            mids.append(e["message_id"])
        elif e["type"] in ("edit", "delete_for_everyone", "reaction", "read_receipt") and chat in ("fg", "hike"):
            mids.append(e["wire_message_id"])
        elif e["type"] in ("group_renamed", "group_avatar_set", "member_removed", "member_added",
                           "member_left") and chat == "hike":
            mids.append(e["message_id"])
        elif e["type"] == "message" and chat == "hike" and e["label"] in ("h1", "h3", "h6", "h7"):
            mids.append(e["message_id"])
    files = [DECRYPTED[norm_mid(m)] for m in dict.fromkeys(mids)]
    plain = [DC_DEV / m["file"] for m in load_journal_index()["messages"] if m["decrypted"] is None]
    return sorted(files + plain, key=lambda p: p.name)


SAMPLE = _sample()
STATS_KEYS = ("unique_messages", "chat_messages", "mail_messages", "encrypted_undecrypted",
              "parse_errors", "chats")


def use_inprocess() -> bool:
    return os.environ.get("COI_TEST_INPROCESS", "1") != "0" and inprocess_available()


def write_batch(directory: Path, files: list[Path], start: int) -> Path:
    directory.mkdir(parents=True)
    for i, src in enumerate(files):
        # names sort in arrival order; the stem keeps them unique
        shutil.copyfile(src, directory / f"{start + i:04d}_{src.name.removesuffix('.eml')}.eml")
    return directory


def snapshot(arch: Archive, canonical_ids: bool = True) -> dict:
    chats = arch.chats
    shows = {str(c["id"]): arch.show(c["id"]) for c in chats}
    stats = {k: arch.stats.get(k) for k in STATS_KEYS}
    contacts = arch.contacts
    if not canonical_ids:
        return {"chats": chats, "shows": shows, "contacts": contacts, "stats": stats}

    def content_key(c):
        msgs = [norm_mid(m["message_id"]) for m in shows[str(c["id"])]["messages"]]
        return json.dumps([c.get("kind"), c.get("group_id"), sorted(c.get("members") or []),
                           c.get("name"), msgs], sort_keys=True, ensure_ascii=False)

    order = sorted(chats, key=content_key)
    rename = {str(c["id"]): f"chat#{i}" for i, c in enumerate(order)}

    def fix(obj, key=None):
        if isinstance(obj, dict):
            return {k: fix(v, k) for k, v in obj.items()}
        if isinstance(obj, list):
            return [fix(v, key) for v in obj]
        if key in ("id", "chat_id", "chat", "chats") and str(obj) in rename:
            return rename[str(obj)]
        return obj

    return {
        "chats": [fix(c) for c in order],
        "shows": {rename[cid]: fix(s) for cid, s in shows.items()},
        "contacts": fix(contacts, "contacts"),
        "stats": stats,
    }


def build(root: Path, batches: list[list[Path]], inprocess: bool) -> Archive:
    arch = Archive(root / "archive", inprocess=inprocess)
    start = 0
    for n, batch in enumerate(batches):
        d = write_batch(root / f"batch{n}", batch, start)
        start += len(batch)
        arch.ingest(d)
    return arch


def diff_hint(want: dict, got: dict) -> str:
    lines = []
    for part in ("stats", "chats", "contacts"):
        if want[part] != got[part]:
            lines.append(f"{part} differ:\n  want {json.dumps(want[part], ensure_ascii=False)[:1500]}\n"
                         f"  got  {json.dumps(got[part], ensure_ascii=False)[:1500]}")
    for cid in sorted(set(want["shows"]) | set(got["shows"])):
        w, g = want["shows"].get(cid), got["shows"].get(cid)
        if w == g:
            continue
        if w is None or g is None:
            lines.append(f"chat {cid} only in {'got' if w is None else 'want'}")
            continue
        wm = {norm_mid(m["message_id"]): m for m in w["messages"]}
        gm = {norm_mid(m["message_id"]): m for m in g["messages"]}
        if w["chat"] != g["chat"]:
            lines.append(f"chat {cid} header: want {w['chat']} got {g['chat']}")
        for mid in sorted(set(wm) | set(gm)):
            if wm.get(mid) != gm.get(mid):
                lines.append(f"chat {cid} message {mid}:\n  want {json.dumps(wm.get(mid), ensure_ascii=False)[:800]}"
                             f"\n  got  {json.dumps(gm.get(mid), ensure_ascii=False)[:800]}")
        if list(wm) != list(gm) and set(wm) == set(gm):
            lines.append(f"chat {cid}: message order differs")
    return "\n".join(lines[:12])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    inproc = use_inprocess()
    root = tmp_path_factory.mktemp("order-reference")
    arch = build(root, [SAMPLE], inproc)
    return snapshot(arch), inproc


def test_sample_covers_the_interesting_events(reference):
    snap, _ = reference
    assert 40 <= len(SAMPLE) <= 60
    # the reference itself is sane: some message was edited, deleted, reacted to
    msgs = [m for s in snap["shows"].values() for m in s["messages"]]
    assert any(m["edited"] for m in msgs)
    assert any(m["deleted"] for m in msgs)
    assert any(m["reactions"] for m in msgs)
    assert any(m["system"] for m in msgs)


@st.composite
def arrivals(draw) -> list[list[int]]:
    n = len(SAMPLE)
    seq = list(draw(st.permutations(range(n))))
    for dup in draw(st.lists(st.integers(0, n - 1), max_size=8)):
        seq.insert(draw(st.integers(0, len(seq))), dup)
    k = draw(st.integers(1, 3))
    cuts = sorted(draw(st.lists(st.integers(1, len(seq) - 1), min_size=k - 1, max_size=k - 1, unique=True)))
    bounds = [0, *cuts, len(seq)]
    return [seq[a:b] for a, b in zip(bounds, bounds[1:])]


@settings(max_examples=12, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(batches=arrivals())
def test_any_order_and_duplicates_give_the_same_archive(reference, batches):
    want, inproc = reference
    with tempfile.TemporaryDirectory(prefix="coi-order-") as tmp:
        arch = build(Path(tmp), [[SAMPLE[i] for i in b] for b in batches], inproc)
        got = snapshot(arch)
    assert got == want, "archive differs from the sorted-order reference:\n" + diff_hint(want, got)


def test_chat_ids_do_not_depend_on_order(tmp_path):
    """Chat ids are part of the result (links, exports): same for any order."""
    inproc = use_inprocess()
    fwd = snapshot(build(tmp_path / "fwd", [SAMPLE], inproc), canonical_ids=False)
    rev = snapshot(build(tmp_path / "rev", [list(reversed(SAMPLE))], inproc), canonical_ids=False)
    assert sorted(str(c["id"]) for c in fwd["chats"]) == sorted(str(c["id"]) for c in rev["chats"])
    for cid, show in fwd["shows"].items():
        assert [m["message_id"] for m in rev["shows"][cid]["messages"]] == \
               [m["message_id"] for m in show["messages"]]
