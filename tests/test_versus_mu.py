"""``benchmarks/versus_mu.py`` compares the best round of each tool: a slow
round (the shared machine's speed drifts) must not decide the ratio."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import versus_mu  # noqa: E402


def _m(seconds: float, user: float, sys_s: float) -> dict:
    return {"seconds": seconds, "user_s": user, "sys_s": sys_s}


def test_best_round_of_each_tool_decides() -> None:
    rounds = [
        {"mu": _m(50.0, 60.0, 6.0), "ours": _m(40.0, 70.0, 5.0)},  # mu's slow round
        {"mu": _m(35.0, 45.0, 5.0), "ours": _m(60.0, 95.0, 5.0)},  # ours' slow round
    ]
    best = versus_mu.summary(rounds, 100_000)
    assert best["mu"]["wall_s"] == 35.0 and best["ours"]["wall_s"] == 40.0
    assert best["mu"]["cpu_s"] == 50.0 and best["ours"]["cpu_s"] == 75.0
    assert best["ratio_wall"] == pytest.approx(35.0 / 40.0)
    assert best["ratio_cpu"] == pytest.approx(50.0 / 75.0)
