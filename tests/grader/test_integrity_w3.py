"""Week 3 integrity: fresh word lists and sizes, a training run the grader judges itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grader import grade, source
from grader.checks import Ctx, run_check
from grader.weeks import week3
from tests.grader.forge import capture, earned, forged_replay, grade_cells, replay_cell

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "week3"
CORE = ("import torch", "words = open", "stoi =", "def build_dataset", "class Linear")


def _core_cells(old: str = "", new: str = "") -> list[str]:
    """The notebook's contract cells (no long training loops), with one optional edit."""
    cells = ["".join(c["source"]) for c in json.loads((FIX / "week3.ipynb").read_text())["cells"]
             if c["cell_type"] == "code"]
    return [c.replace(old, new) if old else c for c in cells if any(k in c for k in CORE)]


def test_no_work_notebook_scores_zero_on_every_check(data_dir: Path) -> None:
    code = (FIX / "nowork.py").read_text()
    r = grade.grade(source.from_bytes(code.encode(), "week3.py", 3), data_dir, seed=4)
    assert r.status == "graded" and r.cell_errors == []
    assert earned(r) == {}, earned(r)


def test_replayed_result_files_with_the_real_keys_score_zero(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    honest, outputs = capture(monkeypatch, _core_cells(), 3, data_dir, seed=31)
    assert honest.score == 100
    assert set(outputs) == {"build", "splits", "own_split", "linear", "bn_train", "bn_running",
                            "bn_eval", "tanh", "chain", "params", "train"}
    train = outputs.pop("train")  # too big for a notebook (1 MiB of code): replayed below
    r = grade_cells(["import torch\n" + replay_cell(outputs)], 3, data_dir, seed=32)
    assert earned(r) == {"short training lowers val loss": 0} or earned(r) == {}, earned(r)
    assert r.score == 0
    # the genuine training run of seed 31, judged against the inputs of seed 32
    spec = next(c for c in week3.CHECKS if c.name == "short training lowers val loss")
    inputs = week3.make_inputs(np.random.default_rng(32), data_dir)
    outcome = run_check(spec, Ctx(inputs, {"train": train}, {}))
    assert not outcome.passed, outcome.message


def test_public_lecture_numbers_and_a_falling_loss_score_nothing(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The genuine results of these inputs, with the lecture's split sizes and parameter counts
    and a falling loss forged in: exactly those three checks reject them."""
    def forge(outputs: dict) -> None:
        z = np.zeros
        outputs["splits"] = {"tr_X": np.array([182625, 3]), "tr_Y": np.array([182625]),
                             "dev_X": np.array([22655, 3]), "dev_Y": np.array([22655]),
                             "te_X": np.array([22866, 3]), "te_Y": np.array([22866])}
        outputs["params"] = {"bengio": np.array(11897), "bn": np.array(12097)}
        outputs["train"] = {"before": np.array(3.3), "after": np.array(2.1),
                            "lossi": np.linspace(3.3, 2, 60), "W2": z((41, 64, 27)),
                            "b2": z((41, 27)), "h": z((40, 32, 64)), "logits": z((40, 32, 27)),
                            "h_val0": z((1, 64)), "h_val1": z((1, 64))}
    r = forged_replay(monkeypatch, _core_cells(), 3, data_dir, 33, forge)
    lost = {"lecture split sizes", "parameter counts", "short training lowers val loss"}
    assert not lost & set(earned(r)), {c.name: c.message for c in r.checks if c.name in lost}
    assert r.score == 100 - sum(c.points for c in week3.CHECKS if c.name in lost)


def test_fresh_configurations_never_the_lecture_ones(data_dir: Path) -> None:
    for seed in range(5):
        i = week3.make_inputs(np.random.default_rng(seed), data_dir)
        assert tuple(i["pc_cfg"]) != (10, 3, 200)
        assert 1000 <= len(i["sp_words"]) < 3100


def test_planted_bug_scores_the_same_every_time(data_dir: Path) -> None:
    cells = _core_cells("self.out = torch.tanh(x)", "self.out = x")  # training still works
    scores = {grade_cells(cells, 3, data_dir, seed).score for seed in range(6)}
    assert scores == {80.0}
