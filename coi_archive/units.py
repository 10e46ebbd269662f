"""Quantities written for people, shared by every room that shows them
(the terminal report, the web pages and the HTML export)."""

from __future__ import annotations


def human_bytes(n: int | float) -> str:
    """A byte count in binary units, as ``512 B``, ``1.5 KB``, ``3.2 MB``;
    gigabytes are the largest unit (``2048.0 GB``)."""
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
