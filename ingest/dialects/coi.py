"""Placeholder: replaced by the COI decoder."""

from __future__ import annotations

from ..events import Envelope
from ..mime import ParsedMail


def matches(pm: ParsedMail) -> bool:
    return False


def decode(pm: ParsedMail) -> Envelope:  # pragma: no cover
    raise NotImplementedError
