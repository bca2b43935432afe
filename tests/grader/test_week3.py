"""Week 3 end to end: the lecture notebook scores 100, planted bugs fail exactly their checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grader import grade, source
from grader.checks import Ctx, run_check
from grader.weeks import week3

NB = Path(__file__).resolve().parent.parent / "fixtures" / "week3" / "week3.ipynb"
POINTS = {c.name: c.points for c in week3.CHECKS}
# cells a bug test needs: the contract names and what they read (the lecture's training
# loops, plots and full-set evaluations are graded in the full-notebook tests only)
CORE = ("import torch", "words = open", "stoi =", "def build_dataset", "class Linear")

BUGS = {
    "biased var": (
        "xvar = x.var(0, keepdim=True) # batch variance",
        "xvar = x.var(0, keepdim=True, unbiased=False) # batch variance",
        {"BatchNorm training forward", "BatchNorm running stats",
         "Linear→BatchNorm1d→Tanh gradients"}),
    "momentum swapped": (
        "self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * xmean",
        "self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * xmean",
        {"BatchNorm running stats"}),
    "running stats with grad": (
        "      with torch.no_grad():\n        self.running_mean",
        "      if True:\n        self.running_mean",
        {"BatchNorm running stats"}),
    "eval uses batch stats": (
        "    if self.training:\n      xmean = x.mean(0, keepdim=True)",
        "    if True:\n      xmean = x.mean(0, keepdim=True)",
        {"BatchNorm eval forward"}),
    "no fan_in scaling": (
        "generator=g) / fan_in**0.5",
        "generator=g)",
        {"Linear init and forward"}),
    "context cropped wrong end": (
        "context = context[1:] + [ix] # crop and append",
        "context = context[:-1] + [ix] # crop and append",
        {"build_dataset contents"}),
    "eps outside sqrt": (
        "xhat = (x - xmean) / torch.sqrt(xvar + self.eps)",
        "xhat = (x - xmean) / (torch.sqrt(xvar) + self.eps)",
        {"BatchNorm training forward", "BatchNorm eval forward",
         "Linear→BatchNorm1d→Tanh gradients"}),
    "no shuffle": (  # the split contents are compared, not only their sizes
        "random.shuffle(words)",
        "words = words  # no shuffle",
        {"lecture split sizes"}),
    "no end token": (
        "for ch in w + '.':",
        "for ch in w:",
        {"build_dataset contents", "lecture split sizes"}),
    "running stats as parameters": (
        "    return [self.gamma, self.beta]",
        "    return [self.gamma, self.beta, self.running_mean, self.running_var]",
        {"parameter counts", "short training lowers val loss"}),
    "tanh is identity": (
        "self.out = torch.tanh(x)\n    return self.out\n  def parameters(self):\n    return []",
        "self.out = x\n    return self.out\n  def parameters(self):\n    return []",
        {"Tanh forward", "Linear→BatchNorm1d→Tanh gradients"}),
}


def _cells() -> list[dict]:
    return json.loads(NB.read_text())["cells"]


def _notebook(cells: list[dict]) -> bytes:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                       "nbformat_minor": 4}).encode()


def _grade(data: bytes, data_dir: Path, seed: int) -> grade.GradeReport:
    return grade.grade(source.from_bytes(data, "week3.ipynb", 3), data_dir, seed=seed)


def _failed(report: grade.GradeReport) -> set[str]:
    return {c.name for c in report.checks if not c.passed}


def test_points_sum_to_100() -> None:
    assert sum(POINTS.values()) == 100


@pytest.mark.parametrize("seed", [1, 20240607])
def test_lecture_notebook_full_marks(data_dir: Path, seed: int) -> None:
    report = _grade(NB.read_bytes(), data_dir, seed)
    assert report.status == "graded", report.message
    assert report.score == 100, [(c.name, c.message) for c in report.checks if not c.passed]
    assert not report.cell_errors


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_fails_exactly_its_checks(data_dir: Path, bug: str) -> None:
    old, new, failing = BUGS[bug]
    cells = []
    for cell in _cells():
        text = "".join(cell["source"])
        if cell["cell_type"] == "code" and any(k in text for k in CORE):
            cells.append({**cell, "source": text})
    joined = "\n".join(c["source"] for c in cells)
    assert joined.count(old) == 1, f"bug {bug!r}: the correct notebook must contain {old!r} once"
    for c in cells:
        c["source"] = c["source"].replace(old, new)
    report = _grade(_notebook(cells), data_dir, seed=7)
    assert _failed(report) == failing, [(c.name, c.message) for c in report.checks]
    assert report.score == pytest.approx(100 - sum(POINTS[n] for n in failing))


def test_missing_names_score_zero(data_dir: Path) -> None:
    cells = [c for c in _cells() if c["cell_type"] == "code"][:3]  # imports and words only
    report = _grade(_notebook(cells), data_dir, seed=3)
    assert report.status == "graded"
    assert report.score == 0
    messages = {c.name: c.message for c in report.checks}
    assert "'build_dataset' is not defined" in messages["build_dataset contents"]
    assert "'Linear' is not defined" in messages["Linear init and forward"]
    assert "'BatchNorm1d' is not defined" in messages["BatchNorm eval forward"]
    assert "'Tanh' is not defined" in messages["Tanh forward"]


def _honest_train_outputs(inputs: dict) -> dict:
    """The training probe run in-process on the reference layers (float64)."""
    from grader.probes import week3 as probes
    from reference import mlp

    ns = {"Linear": mlp.Linear, "BatchNorm1d": mlp.BatchNorm1d, "Tanh": mlp.Tanh}
    return {k: v.detach().numpy() for k, v in probes.train(ns, inputs).items()}


def _tampered(kind: str, out: dict) -> dict:
    out = dict(out)
    if kind == "old keys, falling loss":
        return {"before": np.array(3.3), "after": np.array(2.0), "lossi": np.linspace(3, 2, 60)}
    if kind == "val features of other examples":
        out["h_val1"] = out["h_val1"][::-1]
    elif kind == "nan logits":
        out["logits"] = out["logits"] * np.nan
    elif kind == "weights moved elsewhere":
        out["W2"] = out["W2"].copy()
        out["W2"][-1] += 0.01
    elif kind == "logits not from the last Linear":
        out["logits"] = out["logits"] * 1.1
    return out


@pytest.mark.parametrize("kind", ["old keys, falling loss", "val features of other examples",
                                  "nan logits", "weights moved elsewhere",
                                  "logits not from the last Linear"])
def test_training_check_rejects_no_progress(data_dir: Path, kind: str) -> None:
    inputs = week3.make_inputs(np.random.default_rng(5), data_dir)
    honest = _honest_train_outputs(inputs)
    spec = next(c for c in week3.CHECKS if c.name == "short training lowers val loss")
    assert run_check(spec, Ctx(inputs, {"train": honest}, {})).passed
    outcome = run_check(spec, Ctx(inputs, {"train": _tampered(kind, honest)}, {}))
    assert not outcome.passed and ("loss" in outcome.message or "missing" in outcome.message
                                   or "differ" in outcome.message), outcome.message
