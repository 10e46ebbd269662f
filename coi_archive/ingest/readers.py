"""Every reader, registered with :mod:`coi_archive.ingest.sources`: the
table of formats ingest can read.  Import :func:`discover` from here (not
from ``sources``), so that every format is known when a path is looked at.

``sources`` holds the registry and imports no reader; each reader imports
``sources`` for :class:`Source` and :class:`Candidate`; this module imports
both.  The arrows run one way and no import circle forms.
"""

from __future__ import annotations

from pathlib import Path

from . import dcbackup, eml, imap, maildir, mbox
from .sources import Candidate, Source, SourceError, discover, register, register_scheme

__all__ = ["Candidate", "Source", "SourceError", "discover"]


def _is_backup(path: Path) -> bool:
    """A Delta Chat backup tar (checked: a refused backup raises SourceError)."""
    if not dcbackup.looks_like_backup(path):
        return False
    dcbackup.check(path)
    return True


register("maildir", maildir.candidates)
register("mbox", mbox.candidates)
register("eml", eml.candidates)
register("dcbackup", dcbackup.candidates, claim=_is_backup)
register_scheme(("imap", "imaps"), imap.discover)
