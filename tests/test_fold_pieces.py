"""A chat is folded a piece at a time (``state.PIECE`` posts), so memory
does not grow with the biggest chat; the pieces must give exactly what one
fold of the whole chat gives, and a refold owes the index only what changed."""

from __future__ import annotations

import ast
import json
import tracemalloc
from dataclasses import fields
from pathlib import Path

import pytest

import coi_archive.index.state as state
from coi_archive.index import derived, fold, messagedata, order
from coi_archive.index.api import Archive
from coi_archive.ingest.events import Envelope
from tests.golden import snapshot


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> dict:
    return snapshot("corpus", tmp_path_factory.mktemp("whole") / "archive")


def test_a_chat_folded_in_pieces_equals_it_folded_whole(whole, tmp_path, monkeypatch):
    pieces: list[int] = []
    real = state.load_piece

    def spy(conn, rows):
        pieces.append(len(rows))
        return real(conn, rows)

    monkeypatch.setattr(state, "PIECE", 3)
    monkeypatch.setattr(state, "load_piece", spy)
    cut = snapshot("corpus", tmp_path / "archive")
    assert len(pieces) > 2 * len(whole["chats"]), "the chats were not cut into pieces"
    assert cut == whole


def _big_chat(archive: Archive) -> tuple[str, list[str]]:
    chat_id = archive.conn.execute("SELECT chat_id FROM messages GROUP BY chat_id ORDER BY count(*) DESC").fetchone()[0]
    mids = [r[0] for r in archive.conn.execute("SELECT message_id FROM messages WHERE chat_id=?", (chat_id,))]
    return chat_id, mids


def _fts_owed(archive: Archive) -> set[str]:
    return set(derived.owed(archive.conn, derived.FTS))


def test_refold_owes_the_index_only_what_changed(whole, tmp_path):
    snapshot("corpus", tmp_path / "archive")
    with Archive.open(tmp_path / "archive") as archive:
        chat_id, mids = _big_chat(archive)
        state.refold(archive.conn, [chat_id])
        assert _fts_owed(archive) == set(), "an unchanged chat owed its documents again"

        one = mids[0]
        archive.conn.execute("UPDATE messages SET fts_hash='stale' WHERE message_id=?", (one,))
        state.refold(archive.conn, [chat_id])
        assert _fts_owed(archive) == {one}

        # every document carries the chat's name: a renamed chat owes all of them
        archive.conn.execute("UPDATE chats SET name='an older name' WHERE chat_id=?", (chat_id,))
        state.refold(archive.conn, [chat_id])
        assert _fts_owed(archive) == {one, *mids}
        archive.conn.rollback()


def test_folding_a_chat_in_pieces_holds_one_piece(tmp_path, monkeypatch):
    """The fold's Python memory is bounded by the piece, not by the chat."""
    snapshot("corpus", tmp_path / "archive")

    def peak(piece: int) -> int:
        monkeypatch.setattr(state, "PIECE", piece)
        monkeypatch.setattr(state, "FIRST_PIECE", piece)
        monkeypatch.setattr(state, "PIECE_ADDRESSES", 10**9)
        with Archive.open(tmp_path / "archive") as archive:
            chat_id, mids = _big_chat(archive)
            assert len(mids) >= 40
            tracemalloc.start()
            try:
                state.refold(archive.conn, [chat_id])
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
                archive.conn.rollback()

    whole_chat, by_fours = peak(10_000), peak(4)
    assert by_fours < whole_chat / 2, (by_fours, whole_chat)


def test_pieces_are_cut_by_the_addresses_their_envelopes_carry(whole, tmp_path, monkeypatch):
    """A group's every message names all its members, so a piece of 1,000
    posts of a large group holds many times a direct chat's envelopes: a
    chat's pieces are cut by the addresses they carry too
    (``state.PIECE_ADDRESSES``), and still fold to what the whole chat folds to."""
    carried: list[tuple[int, int]] = []
    real = state.load_piece

    def spy(conn, rows):
        posts, controls = real(conn, rows)
        addresses = sum(len(w.env.recipients) + 1 for w in posts + controls)
        carried.append((len(posts), addresses))
        return posts, controls

    monkeypatch.setattr(state, "PIECE", 1000)  # more posts than any chat of the corpus has
    monkeypatch.setattr(state, "FIRST_PIECE", 4)
    monkeypatch.setattr(state, "PIECE_ADDRESSES", 24)
    monkeypatch.setattr(state, "load_piece", spy)
    cut = snapshot("corpus", tmp_path / "archive")
    assert cut == whole
    assert len(carried) > 2 * len(whole["chats"]), "the chats were not cut by their addresses"
    # a piece's addresses stay near the bound (a piece ends between two seconds, and its
    # controls are known only once it is read), nowhere near a whole chat's
    assert max(a for _, a in carried) <= 3 * 24, carried


def test_a_chats_first_piece_is_small(tmp_path, monkeypatch):
    """Before a chat's first envelope is read nothing says how many addresses
    its posts carry: its first piece is cut after :data:`state.FIRST_PIECE`
    posts (at the next second), not after :data:`state.PIECE`."""
    snapshot("corpus", tmp_path / "archive")
    real = state.load_piece

    def first_piece(first: int) -> int:
        sizes: list[int] = []

        def spy(conn, rows):
            sizes.append(len(rows))
            return real(conn, rows)

        monkeypatch.setattr(state, "FIRST_PIECE", first)
        monkeypatch.setattr(state, "load_piece", spy)
        with Archive.open(tmp_path / "archive") as archive:
            chat_id, mids = _big_chat(archive)
            state.refold(archive.conn, [chat_id])
            archive.conn.rollback()
        return sizes[0]

    assert first_piece(5) < first_piece(state.PIECE)


def test_the_fold_reads_only_the_envelope_fields_it_is_given(whole, tmp_path, monkeypatch):
    """The catalog builds only ``state.FOLDED_FIELDS`` of each envelope for
    the fold: building all of them gives the very same archive, and
    neither the fold nor the order reads any other field."""
    skipped = {f.name for f in fields(Envelope)} - state.FOLDED_FIELDS
    assert skipped >= {"headers", "defects", "addressees"}, "nothing is skipped"
    for module in (fold, order):
        tree = ast.parse(Path(module.__file__).read_text())
        read = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert not read & skipped, (module.__name__, read & skipped)
        assert "getattr(env" not in ast.unparse(tree)
    monkeypatch.setattr(state, "FOLDED_FIELDS", None)
    assert snapshot("corpus", tmp_path / "archive") == whole


def test_the_search_hash_is_the_stored_documents():
    """A refold compares the hash of each message's packed document: the
    same message packs to the same bytes, any change of it to others."""
    msg = {"message_id": "<a@x>", "text": "hi", "reactions": {"a@x": "❤", "b@x": "👍"}, "location": None}

    def digest(m: dict) -> str:
        return state.fts_hash(messagedata.pack(m))

    assert digest(msg) == digest(json.loads(json.dumps(msg)))
    assert digest(msg) != digest(msg | {"text": "hi!"})
    assert digest(msg) != digest(msg | {"reactions": {"a@x": "❤"}})


def test_a_control_among_the_pieces_posts_is_one_of_its_controls(tmp_path):
    """The controls' query starts at the controls aimed at a piece's posts;
    a control that is itself among the posts (the wire layer places none)
    is still folded as a control, once."""
    snapshot("corpus", tmp_path / "archive")
    with Archive.open(tmp_path / "archive") as archive:
        conn = archive.conn
        ctl, target = conn.execute(
            "SELECT t.message_id, t.target FROM wire_targets t JOIN wire w ON w.message_id=t.target"
            " WHERE w.chat_id IS NOT NULL LIMIT 1"
        ).fetchone()
        _, aimed = state.load_piece(conn, state.placed(conn, [target]))
        assert [w.message_id for w in aimed].count(ctl) == 1
        _, with_it = state.load_piece(conn, state.placed(conn, [target, ctl]))
        assert [w.message_id for w in with_it] == [w.message_id for w in aimed]
        (lone,) = state.load_piece(conn, state.placed(conn, [ctl]))[1]
        assert lone.message_id == ctl


def test_a_pieces_posts_are_read_by_their_copies_not_looked_up_again(tmp_path):
    """The chat's wire rows come out of the date-order sort with what the
    fold needs of them; looking each up again by Message-ID was a random
    page read a message once the wire table outgrew the page cache."""
    snapshot("corpus", tmp_path / "archive")
    with Archive.open(tmp_path / "archive") as archive:
        chat_id, mids = _big_chat(archive)
        statements: list[str] = []
        archive.conn.set_trace_callback(statements.append)
        try:
            state.refold(archive.conn, [chat_id])
        finally:
            archive.conn.set_trace_callback(None)
            archive.conn.rollback()
    assert any("FROM originals WHERE sha256 IN" in s for s in statements)
    assert not [s for s in statements if "w.message_id IN (SELECT value FROM json_each" in s]
    assert len(mids) >= 40
