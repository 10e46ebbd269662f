"""Maildir reading, in the layouts mail tools write.

* **Maildir++** (Courier, Dovecot's default): subfolders are dot folders
  beside ``cur`` (``.Sent``, ``.COI.Chats``); the folder is ``COI.Chats``.
* **Nested** (Dovecot ``LAYOUT=fs``, mbsync ``SubFolders Verbatim``,
  notmuch's own test corpora): a subfolder is a Maildir in a plain
  subdirectory (``foo/cur``, ``foo/baz/cur``); the folder is ``foo/baz``.
  A directory without ``cur`` on the way is only walked through.
* **Only ``cur/``**: git and sync tools drop the empty ``new/`` and
  ``tmp/``; a directory with ``cur`` is a Maildir (``new`` is read when
  there).

The folder name is part of each copy's provenance.  A copy whose file name
is already known with the same flags is skipped without being opened
or ``stat``-ed, and is not handed to the ingest at all (only counted), which
is what makes a re-scan of an unchanged Maildir cheap.  A file in a
Maildir's root (or in a directory walked through) that looks like a
message is read as one (key ``./name``); any other file there is reported
as ``not-mail``, except the bookkeeping files of Dovecot and Courier
(:data:`METADATA`).  Hidden files are the tools' own (``.mbsyncstate``,
``.uidvalidity``) and are not looked at.

Files are opened through :mod:`.safeio`: a subfolder or ``cur``/``new``
that is a symlink is not read, an entry that is a symlink is read only when
its target is inside the Maildir, FIFOs and devices are never opened, and a
message is kept up to the size limit.  What is not read is reported to the
ingest (``safeio.note_skip``).
"""

from __future__ import annotations

import heapq
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .events import Provenance
from .folderstamps import FolderStamps, stamp_of
from .safeio import (
    NOT_MAIL,
    NOT_REGULAR,
    SYMLINK_OUTSIDE,
    SYMLINKED_DIRECTORY,
    UNREADABLE,
    Limits,
    Refused,
    is_inside,
    limits_of,
    note_skip,
    read_message,
)
from .sources import Candidate, Source, sniff_file

#: Subdirectories of one Maildir folder that hold messages (``tmp`` holds
#: deliveries in progress and is never read).
MESSAGE_DIRS = ("new", "cur")
#: Directories of a Maildir that are not folders.
_NOT_FOLDERS = frozenset({"cur", "new", "tmp", "courierimapkeywords"})
#: Bookkeeping files Dovecot and Courier keep beside ``cur``: not mail and
#: not worth a report.
METADATA = frozenset(
    {
        "dovecot-uidlist",
        "dovecot-keywords",
        "dovecot-uidvalidity",
        "subscriptions",
        "maildirfolder",
        "courierimapuiddb",
        "courierimapsubscribed",
        "courierimapacl",
    }
)
#: Deepest nesting of folders read (a guard against bind-mount mazes).
MAX_DEPTH = 32


def _folders(root: str, state: dict) -> Iterator[tuple[str, str]]:
    """(folder name, directory) of every folder: the root, its Maildir++
    dot folders, then nested Maildirs below plain subdirectories."""
    yield "", root
    entries = _listdir(root, state)
    for name in entries:
        path = os.path.join(root, name)
        if name.startswith(".") and name not in (".", "..") and len(name) > 1 and os.path.isdir(path):
            yield name[1:], path
    yield from _nested(root, "", entries, state, 0)


def _nested(directory: str, prefix: str, entries: list[str], state: dict, depth: int) -> Iterator[tuple[str, str]]:
    """Nested Maildirs below ``directory`` (LAYOUT=fs); a symlinked one is
    yielded so that :func:`_leads_out` notes it."""
    if depth >= MAX_DEPTH:
        return
    for name in entries:
        path = os.path.join(directory, name)
        if name.startswith(".") or name in _NOT_FOLDERS or not os.path.isdir(path):
            continue
        folder = f"{prefix}{name}"
        if os.path.islink(path) or os.path.isdir(os.path.join(path, "cur")):
            yield folder, path
        if not os.path.islink(path):
            yield from _nested(path, folder + "/", _listdir(path, state), state, depth + 1)


def _listdir(path: str, state: dict) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        note_skip(state, Refused(UNREADABLE, path, exc.strerror or str(exc)))
        return []


def candidates(source: Source, state: dict) -> Iterator[Candidate]:
    """``state["known"]`` maps (folder, key) -> (flags, size) already stored
    for this source: such a copy with the same flags is not yielded but taken
    off ``known`` and counted in ``state["unchanged"]``.  A ``known`` with a
    ``walk(folder)`` (the stored (key, flags) in key order) and a
    ``miss(folder, key)`` is walked beside the sorted listing instead of
    looked up, and told each stored key the listing lacks; with a
    ``keep(folder)`` too, a folder unchanged since the last complete scan
    (:mod:`.folderstamps`, kept in ``state["cursor"]``) is not listed at
    all: ``keep`` is told that all its stored copies are still there."""
    root = os.path.realpath(source.path)
    stamps = FolderStamps(state)
    for folder, path in _folders(str(source.path), state):
        if _leads_out(path, root, state):
            continue
        yield from _folder_candidates(source, folder, path, root, state, stamps)
        yield from _loose_files(source, folder, path, root, state)
    stamps.save(state)


def _leads_out(folder: str, root: str, state: dict) -> bool:
    """A folder, ``cur`` or ``new`` that is a symlink is not read (noted as
    skipped): symlinked directories are never followed (see ``safeio``)."""
    for path in (folder, os.path.join(folder, "cur"), os.path.join(folder, "new")):
        if os.path.islink(path):
            real = os.path.realpath(path)
            reason = SYMLINKED_DIRECTORY if is_inside(real, root) else SYMLINK_OUTSIDE
            note_skip(state, Refused(reason, path, f"symlink to {real}"))
            return True
    return False


#: One sorted run of a listing: in memory, or spilled to a temporary file.
Run = str | BinaryIO


def _toc(path: str, state: dict) -> list[Run]:
    """The messages of one folder, keyed as ``mailbox.Maildir`` keys them
    (the file name up to ``:``), without requiring ``new`` to exist: sorted
    runs (:func:`_records` reads them in key order, a later duplicate key,
    ``cur`` after ``new``, winning).

    A run is one string of ``key NUL n NUL rest`` records (``n``: the index
    of the sub-directory; ``rest``: the file name after the key) joined by
    ``/``, which no file name holds: a million files cost ~60 MB instead of
    ~500 MB of ``DirEntry`` objects in a dict, and a string is never written
    after it is made, so the decode workers forked during the folder's
    ingest share its pages instead of copying them.  Records are sorted and
    joined :data:`TOC_RUN` at a time: a list of every record of a folder
    (~120 bytes an object) was the main process's peak at a million files.
    Every full run goes to an unnamed temporary file (:func:`_spill`), as
    ``sort(1)`` does, so only the last, partial run stays in memory: held
    runs were ~50 bytes a file, the main process's growth from 100,000 to
    a million files (and the workers', which share them)."""
    runs: list[Run] = []
    for n, sub in enumerate(MESSAGE_DIRS):
        subdir = os.path.join(path, sub)
        if os.path.isdir(subdir):
            runs += _message_runs(subdir, n, state)
    return runs


#: Records of one sorted run of :func:`_toc`.
TOC_RUN = 1 << 16


#: Bytes read at a time from a spilled run.
SPILL_READ = 1 << 16


def _message_runs(path: str, n: int, state: dict) -> list[Run]:
    """The :func:`_toc` runs of the files in ``path`` that may be messages;
    their types come with the listing (``d_type``), so telling files from
    directories costs no ``stat``."""
    runs: list[Run] = []
    batch: list[str] = []
    try:
        with os.scandir(path) as it:
            for e in it:
                if e.name.startswith(".") or _is_dir(e):
                    continue
                key = e.name.split(":", 1)[0]
                batch.append(f"{key}\0{n}\0{e.name[len(key) :]}")
                if len(batch) >= TOC_RUN:
                    runs.append(_spill("/".join(sorted(batch))))
                    batch = []
    except OSError as exc:
        note_skip(state, Refused(UNREADABLE, path, exc.strerror or str(exc)))
        _close(runs)
        return []
    if batch:
        runs.append("/".join(sorted(batch)))
    return runs


def _spill(run: str) -> Run:
    """``run`` in an unnamed temporary file (gone when closed or when the
    process ends, whatever happens); kept in memory if none can be made.
    File names that are no UTF-8 come back as they were (surrogateescape)."""
    try:
        spilled = tempfile.TemporaryFile()  # noqa: SIM115 -- outlives this call; _records closes it
    except OSError:
        return run
    try:
        spilled.write(run.encode("utf-8", "surrogateescape"))
    except OSError:
        spilled.close()
        return run
    return spilled


def _close(runs: list[Run]) -> None:
    """Close (and so delete) the spilled runs of ``runs``."""
    for run in runs:
        if not isinstance(run, str):
            run.close()


def _records(toc: list[Run]) -> Iterator[str]:
    """The records of a folder's runs merged in key order (NUL sorts first:
    by key, then ``cur`` after ``new``); of records with the same key only
    the last.  Read once: the spilled runs are closed (and so deleted) at the end."""
    held = held_key = None
    try:
        for record in heapq.merge(*(_split_run(run) for run in toc)):
            key = record[: record.index("\0")]
            if held is not None and key != held_key:
                yield held
            held, held_key = record, key
        if held is not None:
            yield held
    finally:
        _close(toc)


def _split_run(run: Run) -> Iterator[str]:
    if not isinstance(run, str):
        yield from _split_spilled(run)
        return
    start = 0
    while start < len(run):
        end = run.find("/", start)
        end = len(run) if end < 0 else end
        yield run[start:end]
        start = end + 1


def _split_spilled(run: BinaryIO) -> Iterator[str]:
    """The records of a run :func:`_spill` wrote, read a block at a time
    (no UTF-8 sequence holds the byte of ``/``)."""
    run.seek(0)
    tail = b""
    while block := run.read(SPILL_READ):
        records = (tail + block).split(b"/")
        tail = records.pop()
        for record in records:
            yield record.decode("utf-8", "surrogateescape")
    if tail:
        yield tail.decode("utf-8", "surrogateescape")


def _is_dir(entry: os.DirEntry) -> bool:
    """``os.path.isdir`` of the entry (symlinks followed), without a ``stat``
    for a plain file."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _folder_candidates(
    source: Source, folder: str, path: str, root: str, state: dict, stamps: FolderStamps
) -> Iterator[Candidate]:
    """The copies of ``folder`` to look at; none, without a listing, when
    its directories are as the last complete scan left them
    (:mod:`.folderstamps`): its stored copies are then all counted unchanged."""
    known = state.get("known", {})
    stamp, trusted = stamp_of((path, *(os.path.join(path, sub) for sub in MESSAGE_DIRS)))
    copies = stamps.unchanged(folder, stamp)
    if copies is not None and hasattr(known, "keep"):
        known.keep(folder)
        state["unchanged"] = state.get("unchanged", 0) + copies
        stamps.record(folder, stamp, True, copies)
        return
    limits = limits_of(state)
    notes, before, yielded = _notes(state), state.get("unchanged", 0), 0
    for key, n, name in _not_unchanged(folder, _toc(path, state), state):
        full = os.path.join(path, MESSAGE_DIRS[int(n)], name)
        yielded += 1
        yield from _candidate(source, folder, key, _flags(name), full, root, limits)
    if _notes(state) == notes:
        stamps.record(folder, stamp, trusted, state["unchanged"] - before + yielded)


def _notes(state: dict) -> tuple[int, int]:
    """Files skipped so far: by readers (``skipped``) and by the ingest
    when it read a candidate (``refused``, a count it keeps in ``state``)."""
    return len(state.get("skipped", ())), state.get("refused", 0)


def _not_unchanged(folder: str, toc: list[Run], state: dict) -> Iterator[tuple[str, str, str]]:
    """The (key, sub-directory index, name) of the copies to look at.  A
    copy stored with the same flags is only taken off ``state["known"]``
    and counted in ``state["unchanged"]``: a candidate for each would be
    most of what a re-scan of an unchanged Maildir costs."""
    known = state.get("known", {})
    state.setdefault("unchanged", 0)
    if hasattr(known, "walk"):
        yield from _beside_stored(folder, toc, known, state)
        return
    for record in _records(toc):
        key, n, rest = record.split("\0")
        name = key + rest
        stored = known.get((folder, key))
        if stored is not None and stored[0] == _flags(name):
            del known[(folder, key)]
            state["unchanged"] += 1
        else:
            yield key, n, name


def _beside_stored(folder: str, toc: list[Run], known, state: dict) -> Iterator[tuple[str, str, str]]:
    """:func:`_not_unchanged` for a ``known`` that walks a folder's stored
    copies in key order (the intake's, for a Maildir): the listing and the
    stored copies are merged like two sorted files, so neither is held
    whole; a stored key the listing lacks is reported (``known.miss``)."""
    stored = known.walk(folder)
    at = next(stored, None)
    for record in _records(toc):
        key, n, rest = record.split("\0")
        while at is not None and at[0] < key:
            known.miss(folder, at[0])
            at = next(stored, None)
        name = key + rest
        if at is not None and at[0] == key:
            same = at[1] == _flags(name)
            at = next(stored, None)
            if same:
                state["unchanged"] += 1
                continue
        yield key, n, name
    while at is not None:
        known.miss(folder, at[0])
        at = next(stored, None)


def _flags(name: str) -> str:
    """The Maildir flags of a file name (after ``:2,``)."""
    return name.rsplit(":2,", 1)[1] if ":2," in name else ""


def _candidate(
    source: Source, folder: str, key: str, flags: str, full: str, root: str, limits: Limits
) -> Iterator[Candidate]:
    try:
        st = os.stat(full)
    except OSError:
        try:
            st = os.lstat(full)  # a dangling or looping symlink: read() says why
        except OSError:
            return  # gone since the listing
    prov = Provenance(source=source.id, folder=folder, key=key, flags=flags, mtime=st.st_mtime, size=st.st_size)
    truncated = st.st_size if st.st_size > limits.max_message_size else None
    yield Candidate(prov, _reader(full, root, limits), truncated_from=truncated)


def _loose_files(source: Source, folder: str, path: str, root: str, state: dict) -> Iterator[Candidate]:
    """Files beside ``cur`` in a folder: a message is read (key ``./name``,
    which no Maildir file name can be), anything else is reported."""
    limits = limits_of(state)
    for name in _listdir(path, state):
        full = os.path.join(path, name)
        if name.startswith(".") or name in METADATA or os.path.isdir(full) and not os.path.islink(full):
            continue
        refused = _loose_refusal(full, root)
        if refused is not None:
            if refused.reason != SYMLINKED_DIRECTORY:  # a symlinked folder: noted by _leads_out
                note_skip(state, refused)
            continue
        yield from _candidate(source, folder, f"./{name}", "", full, root, limits)


def _loose_refusal(full: str, root: str) -> Refused | None:
    """Why a loose file is not read as a message, or None when it is one."""
    try:
        st = os.lstat(full)
    except OSError as exc:
        return Refused(UNREADABLE, full, exc.strerror or str(exc))
    if stat.S_ISLNK(st.st_mode):
        real = os.path.realpath(full)
        if not is_inside(real, root):
            return Refused(SYMLINK_OUTSIDE, full, f"symlink to {real}")
        if os.path.isdir(real):
            return Refused(SYMLINKED_DIRECTORY, full, f"symlink to {real}")
        try:
            st = os.stat(real)
        except OSError as exc:
            return Refused(UNREADABLE, full, exc.strerror or str(exc))
    if not stat.S_ISREG(st.st_mode):
        return Refused(NOT_REGULAR, full)
    if not os.access(full, os.R_OK):
        return Refused(UNREADABLE, full, "permission denied")
    kind = sniff_file(Path(full))
    if kind != "eml":
        return Refused(NOT_MAIL, full, "a mailbox file inside a Maildir" if kind else "not a message")
    return None


def _reader(path: str, root: str, limits: Limits):
    def read() -> bytes:
        return read_message(path, root, limits)[0]

    return read
