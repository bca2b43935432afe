"""Every registered week follows the interface documented in grader/weeks/__init__.py."""

from __future__ import annotations

import pytest

from grader import weeks
from grader.sandbox import Limits


@pytest.mark.parametrize("week", weeks.WEEKS)
def test_week_module_interface(week: int) -> None:
    wk = weeks.get(week)
    assert wk.WEEK == week and wk.TITLE
    assert isinstance(wk.LIMITS, Limits) and wk.ITERATION_CAP > 0
    names = [c.name for c in wk.CHECKS]
    assert len(names) == len(set(names)), "check names must be unique (they key check_result)"
    assert all(c.points == 0 for c in wk.CHECKS if c.bonus), "bonus checks are worth 0"
    if not hasattr(wk, "checks_for"):  # week 6 picks its checks per track
        assert sum(c.points for c in wk.CHECKS) == 100
    probes = weeks.probes(week).PROBES
    assert probes and all(callable(fn) for _, fn in probes.values())


def test_unknown_week_is_refused() -> None:
    with pytest.raises(KeyError):
        weeks.get(9)
