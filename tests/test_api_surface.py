"""What the index hands to the web UI, the exports and the CLI, and how the
readers find their way to ``sources``: public types (no engine object
leaves the index), the catalog's generation, the lazily served pandas
names, keyrings merged by the crypto module, and the reader registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coi_archive.index import api
from coi_archive.index.api import Archive, SearchHit
from coi_archive.ingest import sources
from coi_archive.ingest.crypto import Keyring, SecretKey
from coi_archive.ingest.events import Provenance

ROOT = Path(__file__).resolve().parents[1]
MAIL = ROOT / "samples" / "mail"


def test_search_hits_are_the_apis_own_type(samples_archive):
    hits = samples_archive.search_hits("the", limit=20)
    assert hits and all(type(h) is SearchHit for h in hits)
    assert [(h.message_id, h.chat_id, h.sender) for h in hits] == [
        (d["message_id"], d["chat_id"], d["sender"]) for d in samples_archive.search("the", limit=20)
    ]
    assert all("<mark>" in h.snippet_html for h in hits)


def test_generation_changes_when_the_catalog_is_written(tmp_path):
    root = tmp_path / "archive"
    assert Archive.generation(root) == (None, None)  # no archive yet
    with Archive.open(root) as archive:
        archive.ingest([str(MAIL / "single.eml")])
    first = Archive.generation(root)
    assert first[0] is not None
    with Archive.open(root) as archive:
        archive.ingest([str(MAIL / "inbox.mbox")])
    assert Archive.generation(root) != first


def test_pandas_names_come_from_the_api_on_first_use():
    from coi_archive.index import frames, report

    assert api.Frames is frames.Frames and api.COLUMNS is frames.COLUMNS
    assert api.report_text is report.report_text and api.human_duration is report.human_duration
    with pytest.raises(AttributeError):
        api.no_such_name  # noqa: B018 - only the names of the pandas modules are served
    code = "import sys, coi_archive.index.api; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"  # importing the API stays light


def _key(fpr: str) -> SecretKey:
    return SecretKey(fingerprint=fpr, tsk=object(), cert=object(), path=f"/keys/{fpr}.asc")


def test_keyring_merged_adds_only_what_it_lacks():
    given = Keyring([_key("A"), _key("B")], ["pw1"])
    stored = Keyring([_key("B"), _key("C")], ["pw1", "pw2"])
    merged = given.merged(stored)
    assert merged.fingerprints == ["A", "B", "C"]
    assert merged.keys[1] is given.keys[1]  # a key given now wins over the remembered copy
    assert merged.passwords == ["pw1", "pw2"]
    assert given.fingerprints == ["A", "B"] and stored.fingerprints == ["B", "C"]  # both unchanged


def test_a_source_of_an_unregistered_kind_is_a_source_error(tmp_path):
    with pytest.raises(sources.SourceError, match="no reader"):
        list(sources.Source("nosuchkind", tmp_path).candidates())


def test_registered_readers_claim_files_and_url_schemes(tmp_path, monkeypatch):
    """The registry, as ``ingest.readers`` fills it: a claim turns a file
    into a source of its kind before mbox/eml sniffing, its reader reads it,
    and a registered URL scheme gets the URL."""
    monkeypatch.setattr(sources, "_READERS", dict(sources._READERS))
    monkeypatch.setattr(sources, "_CLAIMS", dict(sources._CLAIMS))
    monkeypatch.setattr(sources, "_SCHEMES", dict(sources._SCHEMES))

    def read_probe(source, state):
        prov = Provenance(source=source.id, folder="", key="0")
        yield sources.Candidate(prov, source.path.read_bytes)

    sources.register("probe", read_probe, claim=lambda path: path.suffix == ".probe")
    sources.register_scheme(("probe",), lambda url, options: [url, options])
    (tmp_path / "x.probe").write_bytes(b"From: a@example.org\n\nbody\n")
    found = sources.discover(str(tmp_path))
    assert [(s.kind, s.path.name) for s in found] == [("probe", "x.probe")]
    assert [c.read() for c in found[0].candidates()] == [b"From: a@example.org\n\nbody\n"]
    assert sources.discover("PROBE://host/x", {"k": 1}) == ["PROBE://host/x", {"k": 1}]


def test_the_readers_table_registers_every_format():
    from coi_archive.ingest import readers

    assert readers.discover is sources.discover
    assert set(sources._READERS) >= {"maildir", "mbox", "eml", "dcbackup"}
    assert {"imap", "imaps"} <= set(sources._SCHEMES)
