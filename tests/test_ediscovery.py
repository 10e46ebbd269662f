"""The eDiscovery package (``export --format ediscovery``) of a search over
the real Delta Chat dev corpus: it verifies, its load file opens in pandas
with one row per message and attachment, its ``.eml`` files are the bytes
``raw`` prints, its manifest says who exported what, and ``verify-export``
names every tampered, missing or added file."""

from __future__ import annotations

import email
import email.policy
import getpass
import hashlib
import json
import shutil
from email.utils import getaddresses
from html import unescape
from pathlib import Path

import pandas as pd
import pytest

from coi_archive.export.ediscovery import COLUMNS
from tests.cli_helpers import assert_clean_error, cli, cli_json
from tests.webui_support import CORPUS_GROUP, CORPUS_HIKE

QUERY = "has:attachment"


@pytest.fixture(scope="module")
def package(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ediscovery") / "case-1"
    cli(corpus, "export", "--format", "ediscovery", "--search", QUERY, "--out", out)
    return out


@pytest.fixture(scope="module")
def loadfile(package: Path) -> pd.DataFrame:
    return pd.read_csv(package / "loadfile.csv", dtype=str, keep_default_na=False)


def test_the_package_verifies(package: Path) -> None:
    res = cli(None, "verify-export", package)
    assert "every file matches its manifest" in res.text


def test_the_load_file_has_one_row_per_hit_and_per_attachment(corpus: Path, loadfile: pd.DataFrame) -> None:
    hits = {h["message_id"] for h in cli_json(corpus, "search", QUERY, "--limit", "5000")}
    assert list(loadfile.columns) == list(COLUMNS)
    parents = loadfile[loadfile.document_id == loadfile.family_id]
    children = loadfile[loadfile.document_id != loadfile.family_id]
    assert len(hits) > 3 and set(parents.message_id) == hits and len(parents) == len(hits)
    assert loadfile.document_id.is_unique and len(children) >= len(parents)  # every hit has an attachment
    for _, row in parents.iterrows():
        assert row.attachments.split("; ") == list(children[children.family_id == row.document_id].document_id)


def test_each_eml_is_byte_identical_to_raw_and_described_by_its_row(
    corpus: Path, package: Path, loadfile: pd.DataFrame
) -> None:
    parents = loadfile[loadfile.document_id == loadfile.family_id]
    for _, row in parents.iterrows():
        data = (package / row.file_path).read_bytes()
        assert row.file_path == f"natives/{row.document_id}.eml"
        assert data == cli(corpus, "raw", row.message_id, inprocess=True).stdout
        assert hashlib.sha256(data).hexdigest() == row.sha256
        mail = email.message_from_bytes(data, policy=email.policy.default)
        assert getaddresses([row["from"]]) == getaddresses([str(mail["From"])])
        assert getaddresses([row.to]) == getaddresses([str(mail["To"])])
        assert row.subject == str(mail["Subject"])
        assert "/journal-decrypted" in row.custodian and row.chat_id.startswith(("dm-", "grp-", "self-"))


def test_attachment_files_are_the_attachments(corpus: Path, package: Path, loadfile: pd.DataFrame) -> None:
    from coi_archive.index.api import Archive

    children = loadfile[loadfile.document_id != loadfile.family_id]
    with Archive.open(corpus, readonly=True) as a:
        for _, row in children.iterrows():
            data = (package / row.file_path).read_bytes()
            atts = a.message(row.message_id)["attachments"]
            k = int(row.document_id.rsplit("-", 1)[1])
            name, _mime, expected = a.attachment(row.message_id, atts[k - 1]["part"])
            assert data == expected and row.file_name == name
            assert hashlib.sha256(data).hexdigest() == row.sha256


def test_the_manifest_lists_every_file_and_the_chain_of_custody(corpus: Path, package: Path) -> None:
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    on_disk = sorted(p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file())
    assert [f["path"] for f in manifest["files"]] == [p for p in on_disk if p != "manifest.json"]
    for f in manifest["files"]:
        assert hashlib.sha256((package / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    assert manifest["exported_by"] == f"cli:{getpass.getuser()}" and manifest["query"] == QUERY
    assert manifest["exported_at"].endswith("+00:00")
    digest = hashlib.sha256((package / "manifest.json").read_bytes()).hexdigest()
    exports = [
        e
        for e in cli_json(corpus, "audit", "show", inprocess=True)
        if e["action"] == "export" and e["target"] == f"ediscovery search {QUERY!r} -> {package}"
    ]
    assert [e["result"].endswith(f"manifest sha256 {digest}") for e in exports] == [True]


def test_the_review_copy_is_self_contained(package: Path, loadfile: pd.DataFrame) -> None:
    html = (package / "review.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in html and 'src="http' not in html
    text = unescape(html)
    assert all(name in text for name in set(loadfile.chat))


@pytest.mark.parametrize("damage", ["change", "remove", "add", "manifest"])
def test_verify_export_names_each_bad_file(package: Path, tmp_path: Path, damage: str) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(package, copy)
    eml = sorted((copy / "natives").glob("*.eml"))[1]
    rel = eml.relative_to(copy).as_posix()
    if damage == "change":
        eml.write_bytes(eml.read_bytes().replace(b"Subject:", b"Subject: x", 1))
        expected = [f"BAD {rel}: changed (SHA-256 differs from the manifest)"]
    elif damage == "remove":
        eml.unlink()
        expected = [f"BAD {rel}: missing"]
    elif damage == "add":
        (copy / "natives" / "planted.eml").write_bytes(b"Subject: planted\r\n\r\n")
        expected = ["BAD natives/planted.eml: not in the manifest"]
    else:
        (copy / "manifest.json").write_text("{", encoding="utf-8")
        expected = None
    res = cli(None, "verify-export", copy, check=False)
    assert res.returncode == 1
    lines = res.text.splitlines()
    if expected is None:
        assert lines[0].startswith("BAD ") and "not a readable eDiscovery manifest" in lines[0]
    else:
        assert lines[:-1] == expected


def test_an_existing_directory_is_never_overwritten(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    res = cli(corpus, "export", "--format", "ediscovery", "--search", QUERY, "--out", out, "--force", check=False)
    assert_clean_error(res)
    assert "never overwritten" in res.stderr and list(out.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary directory left


def test_chats_by_id(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "chats"
    cli(corpus, "export", "--format", "ediscovery", CORPUS_GROUP, CORPUS_HIKE, "--out", out)
    rows = pd.read_csv(out / "loadfile.csv", dtype=str, keep_default_na=False)
    parents = rows[rows.document_id == rows.family_id]
    shown = [m["message_id"] for c in (CORPUS_GROUP, CORPUS_HIKE) for m in cli_json(corpus, "show", c)["messages"]]
    assert list(parents.message_id) == shown
    assert cli(None, "verify-export", out).returncode == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["chat_ids"] == [CORPUS_GROUP, CORPUS_HIKE] and manifest["query"] is None


@pytest.mark.parametrize(
    "argv",
    [
        ["--format", "ediscovery", "--out", "{tmp}/x"],
        ["--format", "ediscovery", "--search", "x", CORPUS_GROUP, "--out", "{tmp}/x"],
        ["--format", "ediscovery", "--search", "x"],
        ["--format", "ediscovery", "no-such-chat", "--out", "{tmp}/x"],
        ["--format", "json", CORPUS_GROUP, CORPUS_HIKE, "--out", "{tmp}/x.json"],
    ],
)
def test_bad_requests_are_one_line_errors(corpus: Path, tmp_path: Path, argv: list[str]) -> None:
    res = cli(corpus, "export", *[a.format(tmp=tmp_path) for a in argv], check=False, inprocess=True)
    assert_clean_error(res)
    assert not (tmp_path / "x").exists()
