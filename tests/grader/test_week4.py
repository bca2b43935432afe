"""Week 4 end to end: the lecture notebook scores 100, planted bugs fail exactly their checks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from grader import grade, source
from grader.weeks import week4

NB = Path(__file__).resolve().parent.parent / "fixtures" / "week4" / "week4.ipynb"
POINTS = {c.name: c.points for c in week4.CHECKS}
BONUS = {c.name for c in week4.CHECKS if c.bonus}
CE, L2, BN, L1 = list(week4.GROUPS)
WAVENET_FWD = "WaveNet forward/backward"
BUGS = {  # name: (old, new, replace all?, failing checks)
    "dcounts missing counts_sum_inv": (
        "dcounts = counts_sum_inv * dprobs\n", "dcounts = dprobs.clone()\n", False, {CE}),
    "dcounts_sum_inv summed without keepdim (crashes the cell)": (
        "dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)",
        "dcounts_sum_inv = (counts * dprobs).sum(1)", False,
        {CE, L2, BN, L1}),  # Exercise 2's own dlogits is right: its bonus check passes
    "tanh backward through hpreact": (
        "dhpreact = (1.0 - h**2) * dh", "dhpreact = (1.0 - hpreact**2) * dh", False, {L2}),
    "dbndiff2 with 1/n instead of 1/(n-1)": (
        "dbndiff2 = (1.0/(n-1))*torch.ones_like(bndiff2) * dbnvar",
        "dbndiff2 = (1.0/n)*torch.ones_like(bndiff2) * dbnvar", False, {BN}),
    "dC assigned instead of accumulated": (
        "dC[ix] += demb[k,j]", "dC[ix] = demb[k,j]", False, {L1}),
    "db1 summed over the wrong dim": (
        "db1 = dhprebn.sum(0)\n", "db1 = dhprebn.sum(1)\n", False, {L1}),
    "fused batchnorm without Bessel's correction": (
        "n/(n-1)*bnraw*(dhpreact*bnraw)", "bnraw*(dhpreact*bnraw)", True,
        {"fused batchnorm backward"}),
    "FlattenConsecutive wrong view": (
        "x = x.view(B, T//self.n, C*self.n)",
        "x = x.view(B, C*self.n, T//self.n).transpose(1, 2)", False,
        {"FlattenConsecutive", WAVENET_FWD}),
    "BatchNorm1d reduces only over dim 0 for 3-D input": (
        "dim = (0,1)", "dim = 0", False, {"BatchNorm1d on 3-D input", WAVENET_FWD}),
}


def _notebook(cells: list[dict]) -> bytes:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                       "nbformat_minor": 4}).encode()


def _planted(old: str, new: str, everywhere: bool) -> bytes:
    text = NB.read_text()
    old_j, new_j = json.dumps(old)[1:-1], json.dumps(new)[1:-1]
    assert old_j in text, f"planted bug: {old!r} not found in the notebook"
    return text.replace(old_j, new_j, -1 if everywhere else 1).encode()


def _failed(report: grade.GradeReport) -> set[str]:
    return {c.name for c in report.checks if not c.passed}


@pytest.fixture(scope="module")
def reports(data_dir: Path, tiny_data_dir: Path) -> Iterator[dict[str, Future]]:
    """Every grading of this file, started at once (each runs in its own sandbox process).

    Only the first runs on names.txt (its full-set WaveNet evaluation alone takes ~10 s): no
    check reads the data file, so the others use the small made-up names.
    """
    missing = [{"cell_type": "code", "source": "import torch\nx = 1", "metadata": {},
                "outputs": []}]
    jobs = {"names.txt seed 1": (NB.read_bytes(), data_dir, 1),
            "tiny data seed 2": (NB.read_bytes(), tiny_data_dir, 2),
            "missing": (_notebook(missing), tiny_data_dir, 3)}
    jobs.update({name: (_planted(old, new, every), tiny_data_dir, 4)
                 for name, (old, new, every, _) in BUGS.items()})
    pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1))

    def run(data: bytes, where: Path, seed: int) -> grade.GradeReport:
        return grade.grade(source.from_bytes(data, "week4.ipynb", 4), where, seed=seed)

    futures = {name: pool.submit(run, *job) for name, job in jobs.items()}
    yield futures
    pool.shutdown(wait=True)


def test_points_sum_to_100():
    assert sum(POINTS.values()) == 100
    assert all(POINTS[b] == 0 for b in BONUS) and len(BONUS) == 2


@pytest.mark.parametrize("job", ["names.txt seed 1", "tiny data seed 2"])
def test_lecture_notebook_gets_full_marks(reports, job):
    r = reports[job].result()
    assert r.status == "graded", r.message
    assert _failed(r) == set(), [(c.name, c.message) for c in r.checks if not c.passed]
    assert r.score == 100
    # the lecture's lossi plot needs 1000 steps and the cap gives 50: its cell fails, harmlessly
    assert len(r.cell_errors) == 1 and "view(-1, 1000)" in r.cell_errors[0]["error"]


def test_backprop_report_reads_like_cmp(reports):
    r = reports["names.txt seed 1"].result()
    msg = next(c.message for c in r.checks if c.name == BN)
    assert "bnvar           | exact:" in msg and "approximate: True" in msg


@pytest.mark.parametrize("bug", list(BUGS))
def test_planted_bug_fails_exactly_its_checks(reports, bug):
    r = reports[bug].result()
    expected = BUGS[bug][3]
    assert r.status == "graded"
    assert _failed(r) == expected, {c.name: c.message[:300] for c in r.checks if not c.passed}
    assert r.score == pytest.approx(100 - sum(POINTS[name] for name in expected))


def test_upstream_bug_is_reported_downstream_without_failing(reports):
    r = reports["dbndiff2 with 1/n instead of 1/(n-1)"].result()
    msgs = {c.name: c.message for c in r.checks}
    assert "dbndiff2: differs from autograd" in msgs[BN]
    assert "dC differs from autograd" in msgs[L1] and "its own step is right" in msgs[L1]


def test_crash_mid_exercise_names_the_missing_gradient(reports):
    r = reports["dcounts_sum_inv summed without keepdim (crashes the cell)"].result()
    assert any("dcounts" in e["error"] for e in r.cell_errors)
    msgs = {c.name: c.message for c in r.checks}
    assert "dcounts_sum: shape (32, 32) but expected (32, 1)" in msgs[CE]
    assert "dnorm_logits is not defined" in msgs[CE]  # read from the cell that crashed
    assert "dh is not defined" in msgs[L2]


def test_missing_names_score_zero_with_a_message(reports):
    r = reports["missing"].result()
    assert r.status == "graded" and r.score == 0
    msgs = {c.name: c.message for c in r.checks}
    assert all(not c.passed for c in r.checks)
    assert "'C' is not defined" in msgs[CE]
    assert "'Embedding' is not defined" in msgs["Embedding"]
    assert "'FlattenConsecutive' is not defined" in msgs["FlattenConsecutive"]
