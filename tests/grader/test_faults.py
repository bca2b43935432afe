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


@pytest.mark.parametrize("bad, use", [
    (np.zeros(0), lambda a: float(a)), (np.arange(3), lambda a: int(a)),
    (np.array(np.nan), lambda a: int(a)), (np.zeros(0), lambda a: a.reshape(-1)[0]),
    (np.arange(5.0), lambda a: a.reshape(2, -1)), (np.array(2.5), lambda a: list(range(a))),
    (np.array(1.0), lambda a: [v for v in a]), (np.zeros(2), lambda a: bool(a)),
])
def test_a_malformed_claims_own_operations_fail_the_check(bad: np.ndarray, use) -> None:  # type: ignore[no-untyped-def]
    """The patterns check code uses on a result (float(), int(), [0], reshape, iteration)."""
    ctx = Ctx({}, {"p": {"k": bad}}, {})
    o = run_check(CheckSpec("c", 1, lambda c: str(use(c.arr("p", "k")))), ctx)
    assert not o.passed and o.message.startswith("p: k"), o.message


def test_well_formed_claims_behave_like_arrays() -> None:
    ctx = Ctx({}, {"p": {"n": np.array([41]), "x": np.arange(6.0)}}, {})
    n, x = ctx.arr("p", "n"), ctx.arr("p", "x")
    assert int(n) == 41 and float(n) == 41.0 and [1, 2, 3][n - 40] == 2
    assert x.reshape(2, 3)[1, 2] == 5 and [float(v) for v in x] == list(range(6))
    assert torch.from_numpy(x).sum().item() == 15 and np.allclose(x, np.arange(6))
