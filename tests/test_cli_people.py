"""The command line for people (issue 12, item 9), through the real CLI.

``show`` finds a chat by id, id prefix or name and says "did you mean"
otherwise; its rendering (replies, reactions with who, receipts,
forwarded, system lines, edits and deletes with ``--history``, names
instead of addresses, wrapping) is checked against the corpus ground truth
(``GROUND_TRUTH.json``: display names, texts, events), not against the
program's own output.  ``search`` prints dates, chat and sender names and
snippets and says "no matches" with exit 1 (``--json``: ``[]``, exit 0);
``chats`` has a header, ``stats`` no Python dicts; every ``--help`` has
examples, no arguments print the help; completion scripts load in bash.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from coi_archive.cli import build_parser
from coi_archive.index import query
from tests.cli_helpers import assert_clean_error, cli, load_ground_truth, make_maildir
from tests.webui_support import SAMPLES, build_archive

GT = load_ground_truth()
NAMES = {addr: acc["display_name"] for addr, acc in GT["accounts"].items()}
EVENTS = GT["events"]
BY_LABEL = {e["label"]: e for e in EVENTS if e["type"] == "message"}
HIKE = "grp-" + GT["chats"]["hike"]["chat_group_id"]
KOCH = "grp-" + GT["chats"]["koch"]["chat_group_id"]
#: A terminal wide enough that no line of the corpus chats wraps (wrapping has its own test).
WIDE = "400"


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", WIDE)


def show(archive: Path, chat: str, *options: str) -> str:
    return cli(archive, "show", chat, *options).text


def blocks(text: str) -> list[list[str]]:
    """The messages of a ``show`` output: a block starts with "HH:MM  "
    and goes on over the lines indented under it."""
    out: list[list[str]] = []
    for line in text.splitlines():
        if re.match(r"^(\d\d:\d\d|--:--)  ", line):
            out.append([line])
        elif out and line.startswith(" " * 7):
            out[-1].append(line)
    return out


def block_of(text: str, words: str) -> list[str]:
    """The one message block whose own lines (not a quote of another
    message) contain ``words``."""
    found = [b for b in blocks(text) if any(words in line for line in b if not line.startswith("       > "))]
    assert len(found) == 1, f"{len(found)} blocks contain {words!r}:\n{text}"
    return found[0]


def chat_of_label(label: str) -> str:
    return {"hike": HIKE, "koch": KOCH}.get(BY_LABEL[label]["chat"], "frank müller & grace")


def columns(line: str) -> int:
    """Terminal columns of a line: two for East Asian wide characters and
    emoji, none for combining marks, joiners and variation selectors."""
    return sum(
        0 if unicodedata.category(c) in ("Mn", "Me", "Cf") else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in line
    )


def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


# --------------------------------------------------------------------------
# show: which chat
# --------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["Hike & Picnic 🧺", "hike", "HIKE & picnic", "picnic", HIKE, HIKE[:7]])
def test_show_finds_a_chat_by_name_part_case_or_id_prefix(corpus, typed):
    out = show(corpus, typed)
    assert out.splitlines()[0] == f"# {GT['chats']['hike']['final_name']}"
    assert HIKE in out.splitlines()[1]


def test_show_ignores_accents_and_an_exact_name_wins(corpus):
    frank = NAMES["frank@example.org"]  # "Frank Müller": his saved messages, and his chat with Grace
    assert show(corpus, frank).splitlines()[0] == f"# {frank}"  # the chat named exactly so
    assert show(corpus, "muller & grace").splitlines()[0] == (f"# {frank} & {NAMES['grace@example.org']}")


def test_show_ambiguous_name_lists_the_candidates(corpus):
    res = cli(corpus, "show", "frank", check=False)
    assert res.returncode == 2 and res.stdout == b""
    first, *rest = res.stderr.splitlines()
    assert first == "coi-archive: error: 'frank' matches 2 chats; did you mean one of these?"
    chats = cli(corpus, "chats", "--json").json()
    want = {c["id"] for c in chats if "frank" in fold(c["name"])}
    assert len(want) == 2
    assert {line.split()[0] for line in rest} == want
    assert all(line.startswith("  ") for line in rest)


def test_show_typo_says_did_you_mean(corpus):
    res = cli(corpus, "show", "Hkie", check=False)
    assert res.returncode == 2 and res.stdout == b""
    first, *rest = res.stderr.splitlines()
    assert first == "coi-archive: error: no chat is named 'Hkie'; did you mean one of these?"
    assert [line.split()[0] for line in rest] == [HIKE]
    assert GT["chats"]["hike"]["final_name"] in rest[0]


def test_show_unknown_name_is_one_line(corpus):
    res = cli(corpus, "show", "zzzz-qqqq", check=False)
    assert_clean_error(res)
    assert res.stderr.strip() == "coi-archive: error: no chat is named 'zzzz-qqqq' (coi-archive chats lists them)"


def test_show_by_name_is_audited_under_the_chat_id(tmp_path):
    archive = build_archive(tmp_path / "archive", SAMPLES / "deltachat")
    chats = cli(archive, "chats", "--json").json()
    target = next(c for c in chats if c["kind"] == "group")
    cli(archive, "show", target["name"].upper())
    entries = cli(archive, "audit", "show", "--json").json()
    assert [(e["action"], e["target"]) for e in entries] == [("chat.view", target["id"])]


# --------------------------------------------------------------------------
# show: what a message says, against the ground truth
# --------------------------------------------------------------------------


def test_show_renders_replies_with_the_quoted_line(corpus, wide):
    deleted = {e["target"] for e in EVENTS if e["type"] == "delete_for_everyone"}
    quoting = [
        e
        for e in BY_LABEL.values()
        if e.get("quote_of") and e["chat"] in ("hike", "koch", "fg") and e["label"] not in deleted
    ]
    assert len(quoting) >= 3
    for e in quoting:
        quoted = BY_LABEL[e["quote_of"]]
        block = block_of(show(corpus, chat_of_label(e["label"])), e["text"].split("\n")[0])
        assert block[0].endswith(f"  {NAMES[e['sender']]}:"), block
        one_line = " ".join(quoted["text"].split())
        prefix = f"       > {NAMES[quoted['sender']]}: "
        assert block[1].startswith(prefix), block
        shown = block[1][len(prefix) :]  # a long quote is cut to one line, ending in "…"
        assert shown == one_line or (shown.endswith("…") and one_line.startswith(shown[:-1])), block
        assert block[2] == f"       {e['text']}", block


def test_show_renders_reactions_with_who(corpus, wide):
    final: dict[str, dict[str, str]] = {}
    for e in sorted((e for e in EVENTS if e["type"] == "reaction"), key=lambda e: e["seq"]):
        mine = final.setdefault(e["target"], {})
        if e["emoji"]:
            mine[e["sender"]] = e["emoji"]
        else:
            mine.pop(e["sender"], None)
    checked = 0
    for label, by_sender in final.items():
        target = BY_LABEL[label]
        if not by_sender or target["chat"] not in ("hike", "koch", "fg") or label == "fg3":  # fg3 was deleted
            continue
        block = block_of(show(corpus, chat_of_label(label)), target["text"] or target["file_name"])
        [line] = [ln for ln in block if any(emoji in ln for emoji in by_sender.values())]
        groups = dict(re.findall(r"(\S+) ([^\s].*?)(?=   \S+ |$)", line.strip()))
        assert {emoji: set(who.split(", ")) for emoji, who in groups.items()} == {
            emoji: {NAMES[s] for s, em in by_sender.items() if em == emoji} for emoji in set(by_sender.values())
        }
        checked += 1
    assert checked >= 3


def test_show_renders_read_receipts_with_names(corpus, wide):
    receipts = [e for e in EVENTS if e["type"] == "read_receipt" and BY_LABEL[e["target"]]["chat"] in ("hike", "fg")]
    assert receipts
    for e in receipts:
        target = BY_LABEL[e["target"]]
        block = block_of(show(corpus, chat_of_label(e["target"])), target["text"])
        assert f"       ✓ read by {NAMES[e['reader']]}" in block


def test_show_marks_forwarded_messages(corpus, wide):
    fwd = [e for e in BY_LABEL.values() if e.get("forwarded_from") and e["chat"] == "fg"]
    assert fwd
    out = show(corpus, "frank müller & grace")
    for e in fwd:
        block = block_of(out, e["text"])
        assert block[1] == "       ↪ forwarded", block
    assert sum("↪ forwarded" in line for line in out.splitlines()) == len(fwd)


def test_show_writes_system_lines_in_names(corpus, wide):
    out = show(corpus, HIKE)
    n = NAMES
    expected = []
    for e in EVENTS:
        if e.get("chat") != "hike":
            continue
        if e["type"] == "member_removed":
            expected.append(f"-- {n[e['sender']]} removed {n[e['member']]} --")
        elif e["type"] == "member_added":
            expected.append(f"-- {n[e['sender']]} added {n[e['member']]} --")
        elif e["type"] == "member_left":
            expected.append(f"-- {n[e['sender']]} left the group --")
        elif e["type"] == "group_renamed":
            expected.append(f"-- {n[e['sender']]} renamed the group to “{e['new_name']}” --")
    assert len(expected) == 5
    shown = [line[7:] for line in out.splitlines() if line[7:].startswith("-- ")]
    assert [s for s in shown if s in expected] == expected  # each, in the order it happened
    assert "@" not in out  # names, never addresses, where names are known


def test_show_deleted_and_edited_text_only_with_history(corpus, wide):
    [deleted] = [e for e in EVENTS if e["type"] == "delete_for_everyone" and e["target"] == "fg3"]
    edits = [e for e in EVENTS if e["type"] == "edit" and e["target"] == "fg3"]
    texts = [edits[0]["old_text"], *(e["new_text"] for e in edits)]
    assert texts[-1] == deleted["deleted_text"]
    plain = show(corpus, "frank müller & grace")
    assert "[message deleted]" in plain
    assert not any(t in plain for t in texts)
    assert "show --history prints it" in plain.splitlines()[-1]
    full = show(corpus, "frank müller & grace", "--history")
    block = block_of(full, "[message deleted]")
    labels = ["original", "edit 1", "edit 2", "edit 3"]
    history = block[block.index("       history (UTC):") + 1 :]
    assert [re.sub(r", \d{4}-\d\d-\d\d \d\d:\d\d: ", " | ", line.strip()) for line in history] == [
        f"{label} | {text}" for label, text in zip(labels, texts)
    ] + ["then deleted"]


def test_show_marks_edited_messages(samples, wide):
    chats = cli(samples, "chats", "--json").json()
    checked = 0
    for chat in chats:
        data = cli(samples, "show", chat["id"], "--json").json()
        edited = [m for m in data["messages"] if m["edited"] and not m["deleted"] and m["text"]]
        if not edited:
            continue
        out = show(samples, chat["id"], "--history")
        for m in edited:
            last = m["text"].splitlines()[-1]
            assert any(line.endswith(f"{last} (edited)") for line in out.splitlines()), last
            assert all(r["text"].splitlines()[0] in out for r in m["revisions"] if r["text"])
            checked += 1
    assert checked >= 2


def test_show_wraps_to_the_terminal_width(corpus, monkeypatch):
    monkeypatch.setenv("COLUMNS", "44")
    out = show(corpus, KOCH, "--history")
    assert max(columns(line) for line in out.splitlines()) <= 44
    [recipe] = [e for e in BY_LABEL.values() if e["chat"] == "koch" and len(e["text"] or "") > 1000]
    [block] = [b for b in blocks(out) if "Ramen-Abend" in b[0]]
    shown = "".join("".join(line[7:] for line in block).split())
    assert "".join(recipe["text"].split()) in shown  # every character kept, in order (CJK breaks anywhere)


# --------------------------------------------------------------------------
# search, chats, stats
# --------------------------------------------------------------------------


def test_search_prints_date_chat_sender_and_snippet(corpus, wide):
    [final] = [e for e in BY_LABEL.values() if e["chat"] == "hike" and "Final plan" in (e["text"] or "")]
    out = cli(corpus, "search", '"final plan"').text.splitlines()
    i = next(i for i, line in enumerate(out) if GT["chats"]["hike"]["final_name"] in line)
    hike, frank = GT["chats"]["hike"]["final_name"], NAMES[final["sender"]]
    assert out[i] == f"{final['time'][:10]} {out[i][11:16]} UTC  {hike} · {frank}"
    assert out[i + 1].startswith("    ") and "[Final] [plan]" in out[i + 1]
    assert not any("@" in line for line in out if not line.startswith("    "))


def test_search_without_matches_is_exit_1_like_grep(corpus):
    res = cli(corpus, "search", "zzqqxxnothing", check=False)
    assert (res.returncode, res.stdout, res.stderr) == (1, b"", "no matches\n")
    as_json = cli(corpus, "search", "zzqqxxnothing", "--json", check=False)
    assert (as_json.returncode, as_json.json()) == (0, [])


def test_chats_has_a_header(corpus):
    lines = cli(corpus, "chats").text.splitlines()
    assert lines[0].split() == ["ID", "KIND", "MESSAGES", "LAST", "NAME"]
    encrypted = [c for c in GT["chats"].values() if c["encrypted"]]  # what journal-decrypted/ holds
    assert len(lines) == 1 + len(encrypted)
    assert {line.split()[0] for line in lines[1:]} >= {HIKE, KOCH}


def test_stats_has_no_python_dicts(corpus):
    text = cli(corpus, "stats").text
    head = text.split("Activity report")[0]
    assert not re.search(r"[{}\[\]]", head), head
    js = cli(corpus, "stats", "--json").json()
    lines = head.splitlines()
    i = lines.index("by_role")
    assert [line.split() for line in lines[i + 1 : i + 1 + len(js["by_role"])]] == [
        [k, str(v)] for k, v in js["by_role"].items()
    ]
    assert all(line.startswith("  ") for line in lines[i + 1 : i + 1 + len(js["by_role"])])


# --------------------------------------------------------------------------
# help and completion
# --------------------------------------------------------------------------


def commands() -> list[str]:
    [sub] = [a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction"]
    return list(sub.choices)


def test_no_arguments_print_the_help():
    res = cli(None, check=False)
    assert res.returncode == 1 and res.text.startswith("usage: coi-archive")
    assert "examples:" in res.text and all(name in res.text for name in commands())
    assert cli(None, "--archive", "/nonexistent", check=False).text == res.text


@pytest.mark.parametrize("command", commands())
def test_every_command_help_has_examples(command):
    text = cli(None, command, "--help").text
    assert "examples:" in text
    assert f"coi-archive {command}" in text.split("examples:", 1)[1]


def test_search_help_summarises_the_query_language():
    text = cli(None, "search", "--help").text
    assert "see README" not in text
    for field in query._KNOWN_FIELDS:  # every field the parser knows, so the help cannot fall behind
        assert re.search(rf"\b{field}:", text), field
    has = re.search(r"has:(\S+)", text)[1].split("|")
    assert set(has) == set(query._HAS_VALUES.values()) | set(query._HAS_KINDS.values())
    assert set(re.search(r"is:(\S+)", text)[1].split("|")) == set(query._IS_VALUES)
    assert "OR" in text and '"lunch tomorrow"' in text


def _bash(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)


def complete(script: Path, *words: str) -> list[str]:
    """What bash offers after ``coi-archive WORDS`` (the last word is the one completed)."""
    quoted = " ".join(f"'{w}'" for w in ("coi-archive", *words))
    res = _bash(
        f"source {script}\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words)}\n"
        '_coi_archive coi-archive "${COMP_WORDS[COMP_CWORD]}"; printf \'%s\\n\' "${COMPREPLY[@]}"'
    )
    assert res.returncode == 0, res.stderr
    return [w for w in res.stdout.splitlines() if w]


def test_bash_completion_loads_and_completes(tmp_path):
    script = tmp_path / "coi-archive.bash"
    script.write_text(cli(None, "completion", "bash").text)
    assert _bash(f"bash -n {script}").returncode == 0
    res = _bash(f"source {script} && complete -p coi-archive")
    assert res.returncode == 0 and "-F _coi_archive coi-archive" in res.stdout
    assert complete(script, "") == commands()
    assert complete(script, "--archive", "/tmp/x", "se") == ["search", "serve"]
    assert complete(script, "show", "--") == ["--help", "--history", "--json"]
    assert complete(script, "export", "--format", "") == [
        "json",
        "html",
        "mbox",
        "eml",
        "csv",
        "parquet",
        "imap",
        "deltachat-backup",
        "ediscovery",
    ]
    assert complete(script, "audit", "") == ["show", "verify", "anchor"]
    assert complete(script, "hold", "add", "--r") == ["--reason"]


def test_zsh_completion_is_the_bash_function_through_bashcompinit(tmp_path):
    text = cli(None, "completion", "zsh").text
    assert text.startswith("#compdef coi-archive\n") and "bashcompinit" in text
    assert cli(None, "completion", "bash").text in text
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed; the script's zsh part is only checked for its shape")
    script = tmp_path / "_coi-archive"
    script.write_text(text)
    assert subprocess.run(["zsh", "-n", str(script)], timeout=60).returncode == 0
    # loaded after compinit as ~/.zshrc would; then the function run as zsh's bash layer runs it
    res = subprocess.run(
        [
            "zsh",
            "-c",
            f"autoload -U compinit && compinit -u && source {script} && "
            "print $_comps[coi-archive] && COMP_WORDS=(coi-archive audit '') COMP_CWORD=2 && "
            "_coi_archive coi-archive '' audit && print -l -- $COMPREPLY",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    registered, *offered = res.stdout.splitlines()
    assert registered.startswith("_bash_complete ") and registered.endswith(" -F _coi_archive")
    assert offered == ["show", "verify", "anchor"]


# --------------------------------------------------------------------------
# Hostile text never drives the terminal
# --------------------------------------------------------------------------

#: What a terminal acts on: set the window title, clear the screen, ring,
#: CSI as one C1 byte, a carriage return that hides the line, a bidi override.
TERMINAL_ATTACKS = "\x1b]0;pwned\x07", "\x1b[2J", "\x9b31m", "\r", "\u202e"


def test_control_characters_are_shown_as_escapes(tmp_path):
    body = "Hello " + " and ".join(TERMINAL_ATTACKS) + " world"
    mail = (
        "From: =?utf-8?q?Eve=1B=5B31mRed?= <eve@evil.example>\nTo: bob@example.org\n"
        "Subject: =?utf-8?q?Invoice=1B[5m?=\nMessage-ID: <esc.1@evil.example>\n"
        "Date: Sat, 28 Nov 2026 10:00:00 +0000\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body + "\n"
    )
    archive = tmp_path / "archive"
    cli(archive, "ingest", make_maildir(tmp_path / "mail", {"1.eml": mail.encode()}))
    chat = cli(archive, "chats", "--json").json()[0]["id"]
    outputs = {
        "show": cli(archive, "show", chat).text,
        "search": cli(archive, "search", "world").text,
        "chats": cli(archive, "chats").text,
    }
    for name, text in outputs.items():
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text), (name, text)
    assert "Hello \\x1b]0;pwned\\x07 and \\x1b[2J and \\x9b31m and" in outputs["show"]
    assert "and \\u202e world" in outputs["show"]  # after the CR, on a line of its own: nothing hidden
    assert "\\x1b[5m" in outputs["chats"] and "Eve\\x1b[31mRed" in outputs["show"]


def test_show_writes_coi_mentions_as_names(samples, wide):
    """The sample's text says ``@"John Doe":john.doe@example.org``; people
    read "@John Doe"."""
    source = SAMPLES / "coi" / ".COI.Chats" / "cur" / "1575533520.M200120P2231.mail.example.com:2,S"
    sent = next(line for line in source.read_text("utf-8").splitlines() if '@"John Doe":' in line)
    chat = next(c for c in cli(samples, "chats", "--json").json() if c["name"] == "Crew Night Out")
    out = show(samples, chat["id"])
    assert sent.replace('@"John Doe":john.doe@example.org', "@John Doe") in out
    assert '@"John Doe":' not in out


def test_search_says_when_the_limit_cut_the_hits(corpus):
    on_the_day = [e for e in BY_LABEL.values() if e["time"].startswith("2026-11-28")]
    assert len(on_the_day) > 3
    res = cli(corpus, "search", "date:2026-11-28", "--limit", "3")
    assert len([line for line in res.text.splitlines() if not line.startswith("    ")]) == 3
    assert res.stderr == "coi-archive: the best 3 matches; --limit N shows more\n"
