"""Fault attribution: malformed claims fail their own check; grader bugs are the grader's."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import grade, source, weeks
from grader.checks import CheckFailed, CheckSpec, Ctx, GraderFault, on_student_data, run_check
from grader.report import STATUS_GRADED, STATUS_GRADER_ERROR
from tests.grader.test_cheating import correct_cells, notebook


def _typo(ctx: Ctx) -> str:
    return str(ctx.inputs["no_such_input"])  # the grader's own KeyError


def _bad_call(ctx: Ctx) -> str:
    return np.full(3)  # type: ignore[call-overload]  # the grader's own TypeError


def _matmul_unchecked(ctx: Ctx) -> str:
    """Feeds a student array into torch, guarded: a shape torch rejects fails this check."""
    vals = ctx.arr("graph_small", "val")
    with on_student_data("graph values"):
        torch.from_numpy(vals) @ torch.ones(3, 3, dtype=torch.float64)
    return "ok"


def _validated(ctx: Ctx) -> str:
    ctx.arr("graph_small", "val", shape=(3, 3), finite=True)
    return "ok"


def test_a_bug_in_check_code_is_a_grader_fault_not_a_failed_check() -> None:
    ctx = Ctx({}, {}, {})
    for fn in (_typo, _bad_call):
        with pytest.raises(GraderFault, match="grader's own code") as e:
            run_check(CheckSpec("buggy", 10, fn), ctx)
        assert isinstance(e.value.__cause__, KeyError | TypeError)


def test_malformed_student_arrays_fail_their_check_with_a_clear_message() -> None:
    ctx = Ctx({}, {"graph_small": {"val": np.arange(7.0)}}, {})
    o = run_check(CheckSpec("torch", 10, _matmul_unchecked), ctx)
    assert not o.passed and o.message.startswith("graph values: could not be checked")
    assert "RuntimeError" in o.message
    o = run_check(CheckSpec("shape", 10, _validated), ctx)
    assert not o.passed and "has shape (7,), expected (3, 3)" in o.message
    bad = Ctx({}, {"graph_small": {"val": np.full((3, 3), np.nan)}}, {})
    assert "NaN" in run_check(CheckSpec("finite", 10, _validated), bad).message
    with pytest.raises(CheckFailed, match="one number"):
        ctx.scalar("graph_small", "val")


def _with_checks(monkeypatch: pytest.MonkeyPatch, *extra: CheckSpec) -> None:
    spec = weeks.get(1)
    patched = dataclasses.replace(spec, checks=[*spec.checks, *extra])
    monkeypatch.setattr(weeks, "get", lambda week: patched)


def test_a_grader_bug_voids_the_report_for_staff_and_costs_no_point(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _with_checks(monkeypatch, CheckSpec("buggy", 0, _typo))
    r = grade.grade(source.from_bytes(notebook(correct_cells()), "w.ipynb", 1), data_dir, seed=2)
    assert r.status == STATUS_GRADER_ERROR and "autograder failed" in r.message
    tb = r.staff_traceback or ""
    assert "'buggy'" in tb and "KeyError" in tb and "no_such_input" in tb
    assert "staff_traceback" not in r.to_dict(staff=False)


def test_a_student_array_torch_rejects_fails_only_that_check(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _with_checks(monkeypatch, CheckSpec("torch on your graph", 10, _matmul_unchecked),
                 CheckSpec("validated graph", 10, _validated))
    r = grade.grade(source.from_bytes(notebook(correct_cells()), "w.ipynb", 1), data_dir, seed=2)
    assert r.status == STATUS_GRADED
    failed = {c.name: c.message for c in r.checks if not c.passed and not c.bonus}
    assert set(failed) == {"torch on your graph", "validated graph"}
    assert "RuntimeError" in failed["torch on your graph"]
    assert "expected (3, 3)" in failed["validated graph"]
    assert r.score == 100 and r.max_score == 120  # every other check still passed
