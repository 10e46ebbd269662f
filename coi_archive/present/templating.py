"""The Jinja environment of the web pages and the HTML export.

Its own module so that importing :mod:`coi_archive.present` (the terminal
output, every CLI command) does not import Jinja: an unchanged re-scan
imports no template engine."""

from __future__ import annotations

from typing import Any

import jinja2

__all__ = ["Environment"]


#: What a plain dict answers as an attribute: its methods (``d.items``).
_DICT_ATTRIBUTES = frozenset(dir(dict))


class Environment(jinja2.Environment):
    """Jinja with ``m.text`` of a plain dict read as ``m["text"]`` at once.

    Jinja tries the attribute first and the key after the AttributeError: a
    chat page reads ~4,000 fields of message and chat dicts, and raising
    those errors was a seventh of its server time.  The answer is the same,
    as a plain dict has no attributes but its methods, which still win."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)
