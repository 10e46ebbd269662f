"""Collect the defects met while decoding one message.

The MIME helpers (``part_text``, ``decode_words``, ``vcard_contacts``...)
run deep inside the dialect decoders and know nothing of the envelope being
built, and several are shared with the index (reading an attachment for the
web UI).  Instead of threading a list through every call, :func:`decode`
opens a collection around one message with :func:`collecting`; a helper
that meets something it cannot read calls :func:`note`; the decoder then
puts what was collected on the envelope with :func:`attach`.

Outside a collection :func:`note` does nothing: there is no message to
record on, and the same defect was recorded when that message was decoded
at ingest.  A ``ContextVar`` keeps collections of concurrent decodes
(threads) apart; decode workers are separate processes anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace

from .events import Defect, Envelope

#: Longest ``detail`` kept: a reason, not a copy of the hostile input.
MAX_DETAIL = 160

_current: ContextVar[list[Defect] | None] = ContextVar("coi_archive_defects", default=None)


def note(kind: str, where: str, detail: str = "") -> None:
    """Record a defect on the message being decoded (if any)."""
    found = _current.get()
    if found is not None:
        found.append(Defect(kind=kind, where=where, detail=_short(detail)))


@contextmanager
def collecting() -> Iterator[list[Defect]]:
    """Collect the defects noted inside the ``with`` block; nested blocks
    (an inner message decoded inside an outer one) collect separately."""
    found: list[Defect] = []
    token = _current.set(found)
    try:
        yield found
    finally:
        _current.reset(token)


def attach(env: Envelope, found: Iterable[Defect]) -> Envelope:
    """``env`` with ``found`` appended to its defects, each defect once
    (a part read by two decoders, or twice by one, is one defect)."""
    merged = tuple(dict.fromkeys((*env.defects, *found)))
    return env if merged == env.defects else replace(env, defects=merged)


def describe(exc: BaseException) -> str:
    """A short reason for a caught exception: its type and first line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"
