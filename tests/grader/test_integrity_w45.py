"""Weeks 4 and 5 grade integrity: every point is earned on inputs the notebook could not foresee.

Each attack below is graded in the real sandbox and must score nothing it did not earn: all-zero
gradients, gradients copied from `.grad`, forged result files with the real keys (and a no-op
`numpy.savez`), the lecture's public numbers, fake losses; a "no-work" notebook per week scores 0
on every check; and the same deterministic notebook gets the same score on fresh inputs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from grader import grade, source
from grader.probes import week4 as probes4
from grader.report import GradeReport
from grader.weeks import week4, week5
from grader.weeks import week4_backprop as wb
from tests.grader.forge import SEND_LIB, forged_replay

FX = Path(__file__).resolve().parent.parent / "fixtures"
W4, W5 = FX / "week4", FX / "week5"
GROUPS = list(week4.GROUPS)
W4_POINTS = {c.name: c.points for c in week4.CHECKS}
W4_REST = 100 - sum(W4_POINTS[g] for g in GROUPS)  # the WaveNet checks: 40
FORGE_HEAD = "import numpy as np, numpy, json, torch\n" + SEND_LIB
FINISH = "zg_finish()\n"


def _cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _notebook(cells: list[str]) -> bytes:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": c, "metadata": {}, "outputs": [], "execution_count": None}
        for c in cells]}).encode()


def _planted(path: Path, old: str, new: str) -> bytes:
    text = path.read_text()
    old_j, new_j = json.dumps(old)[1:-1], json.dumps(new)[1:-1]
    assert old_j in text, old
    return text.replace(old_j, new_j, 1).encode()


# a notebook that copies .grad and also forges the re-run's result file with its copies
GRAD_FORGE = FORGE_HEAD + """
names = GRAD_NAMES
params = {k: globals()[k].detach().numpy() for k in ('C','W1','b1','W2','b2','bngain','bnbias')}
batch = {'Xb': Xb.numpy(), 'Yb': Yb.numpy()}
grads = {g: globals()[g].detach().numpy() for g in names}
zg_send('backprop', **params, **batch, **grads)
zg_send('rerun', **{'r_' + g: v for g, v in grads.items()})
""".replace("GRAD_NAMES", repr(list(wb.bp.GRAD_NAMES))) + FINISH
# forged result files with the real keys and the lecture's numbers, no work at all
W4_FORGE = FORGE_HEAD + """
z = np.zeros
zg_send('param_count', n=np.array([76579]))
zg_send('hierarchy', shapes=np.array([[32, 8, 24, -1]] * 14))
zg_send('backprop', C=np.random.randn(27, 10), W1=np.random.randn(30, 64),
            b1=z(64), W2=np.random.randn(64, 27), b2=z(27), bngain=np.ones((1, 64)),
            bnbias=z((1, 64)), Xb=np.zeros((32, 3), int), Yb=np.zeros(32, int),
            **{g: z(s) for g, s in SHAPES.items()})
zg_send('rerun', **{'r_' + g: z(s) for g, s in SHAPES.items()})
""" + FINISH


def _grad_shapes() -> dict[str, tuple[int, ...]]:
    import torch

    p = wb.bp.init_params()
    X, Y = torch.zeros((32, 3), dtype=torch.long), torch.zeros(32, dtype=torch.long)
    return {k: tuple(v.shape) for k, v in wb.bp.autograd(p, X, Y).items()}


def _jobs() -> dict[str, tuple[bytes, str, int, int]]:
    shapes = _grad_shapes()
    copy = _cells(W4 / "week4_grad_copy.ipynb")
    ex1 = next(i for i, c in enumerate(copy) if "Exercise 1" in c)
    return {  # name: (notebook, file name, week, seed)
        "w4 zeros": ((W4 / "week4_zeros.ipynb").read_bytes(), "week4.ipynb", 4, 3),
        "w4 grad copy": ((W4 / "week4_grad_copy.ipynb").read_bytes(), "week4.ipynb", 4, 3),
        "w4 grad copy + forged re-run": (
            _notebook(copy[:ex1 + 1] + [GRAD_FORGE]),
            "week4.ipynb", 4, 4),
        "w4 no work": ((W4 / "week4_nowork.ipynb").read_bytes(), "week4.ipynb", 4, 5),
        "w4 forged": (_notebook([W4_FORGE.replace("SHAPES", repr(shapes))]), "week4.ipynb", 4, 6),
        **{f"w4 tanh bug {s}": (_planted(W4 / "week4.ipynb", "dhpreact = (1.0 - h**2) * dh",
                                         "dhpreact = (1.0 - hpreact**2) * dh"),
                                "week4.ipynb", 4, s) for s in (11, 12, 13)},
        "w5 no work": ((W5 / "week5_nowork.ipynb").read_bytes(), "week5.ipynb", 5, 5),
    }


@pytest.fixture(scope="module")
def reports(tiny_data_dir: Path, data_dir: Path) -> Iterator[dict[str, Future]]:
    """Every sandboxed grading of this file, started at once."""
    pool = ThreadPoolExecutor(max_workers=min(3, os.cpu_count() or 1))

    def run(data: bytes, name: str, week: int, seed: int) -> GradeReport:
        where = data_dir if week == 5 else tiny_data_dir
        return grade.grade(source.from_bytes(data, name, week), where, seed=seed)

    futures = {k: pool.submit(run, *job) for k, job in _jobs().items()}
    yield futures
    pool.shutdown(wait=True)


def _by_name(r: GradeReport) -> dict[str, object]:
    return {c.name: c for c in r.checks}


def _passed(r: GradeReport) -> set[str]:
    return {c.name for c in r.checks if c.passed}


# ----------------------------------------------------------------------------- week 4 unit


def test_scan_takes_exercise_1_and_flags_grad_copies() -> None:
    ex = wb.scan(_cells(W4 / "week4.ipynb"))
    assert ex.flags == []
    assert ex.code.startswith("dlogprobs = torch.zeros_like(logprobs)")
    assert "dC[ix] += demb[k, j]" in ex.code and "hpreact_fast" not in ex.code
    # the dC loop walks the batch: the re-run keeps its full length (issue 11)
    assert "for k in range(Xb.shape[0]):" in ex.code and probes4.CAP_FN not in ex.code
    copy = wb.scan(_cells(W4 / "week4_grad_copy.ipynb"))
    assert len(copy.flags) == 26 and "`dlogprobs = logprobs.grad`" in copy.flags[0]
    assert "`dprobs = probs.grad.clone()`" in copy.flags[1]
    sneaky = wb.scan(["dC = getattr(C, 'grad')\nx = 1\n", "dW1 += W1.grad.detach()\n"])
    assert len(sneaky.flags) == 2


def test_the_sandbox_never_receives_the_staff_flags() -> None:
    import numpy as np

    cells = tuple(_cells(W4 / "week4_grad_copy.ipynb"))
    ins = wb.make_job_inputs({"a": np.zeros(1)}, np.random.default_rng(0), cells)
    assert set(ins) == {"a", "bp_seed", "bp_code"}
    assert "grad" in (wb.staff_note(ins.trusted) or "")
    assert all(isinstance(v, np.ndarray) for v in ins.values())


def test_fresh_values_are_the_same_on_both_sides() -> None:
    shapes = {"C": (27, 10), "W1": (30, 64), "b1": (64,), "W2": (64, 27), "b2": (27,),
              "bngain": (1, 64), "bnbias": (1, 64), "Xb": (32, 3), "Yb": (32,)}
    a, b = probes4.fresh_values(7, shapes), probes4.fresh_values(7, shapes)
    assert all((a[k] == b[k]).all() for k in a)
    assert not (probes4.fresh_values(8, shapes)["C"] == a["C"]).all()


# ----------------------------------------------------------------------------- week 4 graded


def test_all_zero_gradients_score_nothing_for_backprop(reports) -> None:
    r = reports["w4 zeros"].result()
    assert r.status == "graded", r.message
    assert not _passed(r) & set(GROUPS), [(c.name, c.message[:200]) for c in r.checks]
    assert r.score == W4_REST  # the WaveNet part is the lecture's, and correct
    msgs = {c.name: c.message for c in r.checks}
    assert "zero or far off in size" in msgs["second layer and tanh backward"]


def test_grad_copies_score_nothing_and_are_flagged_for_staff(reports) -> None:
    r = reports["w4 grad copy"].result()
    assert r.status == "graded", r.message
    assert not _passed(r) & set(GROUPS)
    assert r.score == W4_REST
    checks = _by_name(r)
    for g in GROUPS:
        c = checks[g]
        assert "re-ran your Exercise 1 code on fresh parameters" in c.message  # type: ignore
        assert "`dlogprobs = logprobs.grad`" in c.details["staff_note"]  # type: ignore


def test_forging_the_re_run_with_grad_copies_does_not_help(reports) -> None:
    r = reports["w4 grad copy + forged re-run"].result()
    assert not _passed(r) & set(GROUPS), [(c.name, c.message[:300]) for c in r.checks]


def test_no_work_week4_scores_zero_on_every_check(reports) -> None:
    r = reports["w4 no work"].result()
    assert r.status == "graded", r.message
    assert _passed(r) == set(), [c.name for c in r.checks if c.passed]
    assert r.score == 0


def test_forged_result_files_with_public_numbers_score_zero(reports) -> None:
    r = reports["w4 forged"].result()
    assert _passed(r) == set(), [c.name for c in r.checks if c.passed]
    assert r.score == 0


def test_forged_lecture_parameter_count_loses_only_that_check(
        tiny_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The genuine results of the same inputs, with only the count swapped for the lecture's."""
    def swap(outputs: dict) -> None:
        outputs["param_count"] = {"n": np.array([76579])}
    r = forged_replay(monkeypatch, _cells(W4 / "week4.ipynb"), 4, tiny_data_dir, 7, swap)
    assert _passed(r) == {c.name for c in week4.CHECKS} - {"parameter count"}
    assert r.score == 100 - W4_POINTS["parameter count"]
    assert "76,579" in _by_name(r)["parameter count"].message  # type: ignore


def test_week4_planted_bug_scores_the_same_on_fresh_inputs(reports) -> None:
    scores = {reports[f"w4 tanh bug {s}"].result().score for s in (11, 12, 13)}
    assert scores == {100 - W4_POINTS["second layer and tanh backward"]}


# ----------------------------------------------------------------------------- week 5


def test_no_work_week5_scores_zero_on_every_check(reports) -> None:
    r = reports["w5 no work"].result()
    assert r.status == "graded", r.message
    assert _passed(r) == set(), [(c.name, c.message[:200]) for c in r.checks if c.passed]
    assert r.score == 0
    assert set(week5.HYPERPARAMS) <= set(_cells(W5 / "week5_nowork.ipynb")[0].split())
