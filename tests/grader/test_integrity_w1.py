"""Week 1 integrity: every point is earned on fresh inputs, and verdicts do not hang on the seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader import grade, source
from grader.weeks import week1
from tests.grader.forge import capture, code_cells, earned, forged_replay, grade_cells, replay_cell

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "week1"
CELLS = code_cells(FIX / "week1.ipynb")
GRADED = {c.name for c in week1.CHECKS if not c.bonus}


def _py(name: str, data_dir: Path, seed: int, extra: str = "") -> grade.GradeReport:
    code = (FIX / name).read_text() + extra
    return grade.grade(source.from_bytes(code.encode(), "week1.py", 1), data_dir, seed=seed)


def test_no_work_notebook_scores_zero_on_every_check(data_dir: Path) -> None:
    r = _py("nowork.py", data_dir, seed=8)
    assert r.status == "graded" and r.cell_errors == []
    assert earned(r) == {}, earned(r)
    assert {c.name for c in r.checks if not c.passed} >= GRADED


def test_lying_value_with_public_numbers_scores_zero(data_dir: Path) -> None:
    r = _py("liar.py", data_dir, seed=9)
    assert r.status == "graded"
    assert earned(r) == {}, {c.name: c.message for c in r.checks if c.passed}


def test_replayed_result_files_with_the_real_keys_score_zero(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    honest, outputs = capture(monkeypatch, CELLS, 1, data_dir, seed=21)
    assert honest.score == 100
    assert {"params", "train", "sanity", "neuron"} <= set(outputs)
    assert set(outputs["train"]) == {"weights", "pred", "grad", "in_parameters"}
    # a notebook with no micrograd that plants a genuine run's files (other seed), no-ops savez
    r = grade_cells([replay_cell(outputs)], 1, data_dir, seed=22)
    assert earned(r) == {}, earned(r)
    # on top of the correct code the forgery only overwrites genuine results: it cannot add
    r = grade_cells(CELLS + [replay_cell(outputs)], 1, data_dir, seed=23)
    assert earned(r) == {}


def test_hard_coded_lecture_counts_and_falling_loss_forged(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The genuine results of these inputs, but the lecture's counts and a falling loss in
    place of the MLP's: exactly the two MLP checks reject them."""
    def forge(outputs: dict) -> None:
        outputs["params"] = {"count": np.array([4, 16, 41, 337])}
        outputs["train"] = {"weights": np.zeros((21, 41)), "pred": np.zeros((21, 4)),
                            "grad": np.ones((20, 41)), "in_parameters": np.ones(41),
                            "loss": np.linspace(5, 0.1, 21)}
    r = forged_replay(monkeypatch, CELLS, 1, data_dir, 24, forge)
    assert set(earned(r)) == GRADED - {"MLP parameter counts", "MLP training"}
    assert r.score == 100 - 6 - 7


def test_fresh_sizes_never_equal_the_lecture_numbers() -> None:
    for seed in range(200):
        inputs = week1.make_inputs(np.random.default_rng(seed), None)
        want = [n for _, n in week1._sizes(_ctx(inputs))]
        assert all(w != lecture for w, lecture in zip(want, [4, 16, 41, 337], strict=True))


def _ctx(inputs: dict) -> week1.Ctx:
    return week1.Ctx(inputs, {}, {})


def test_planted_bug_scores_the_same_twenty_times(data_dir: Path) -> None:
    # grad assigned instead of accumulated: traversal order (object ids) decides which consumer's
    # gradient survives, and the seed used to decide whether the training check passed (72 or 65)
    text = (FIX / "week1.ipynb").read_text().replace(".grad += ", ".grad = ")
    scores = {grade.grade(source.from_bytes(text.encode(), "week1.ipynb", 1), data_dir,
                          seed=seed).score for seed in range(20)}
    assert scores == {72.0}


def _train_outcome(ns: dict, seed: int) -> week1.Outcome:
    from grader.checks import run_check
    from grader.probes import week1 as probes

    inputs = week1.make_inputs(np.random.default_rng(seed), None)
    out = {k: np.asarray(v) for k, v in probes.train(ns, inputs).items()}
    spec = next(c for c in week1.CHECKS if c.name == "MLP training")
    return run_check(spec, week1.Ctx(inputs, {"train": out}, {}))


def test_training_reads_weights_through_parameters_without_the_lecture_attributes() -> None:
    from reference import micrograd as ref

    class MLP:  # no .layers / .neurons: parameters() in the lecture's order is used
        def __init__(self, nin: int, nouts: list[int]) -> None:
            self._net = ref.MLP(nin, nouts)

        def __call__(self, x: list) -> object:
            return self._net(x)

        def parameters(self) -> list:
            return self._net.parameters()

    o = _train_outcome({"Value": ref.Value, "MLP": MLP}, seed=3)
    assert o.passed, o.message


def test_training_rejects_weights_that_move_without_their_gradients() -> None:
    from reference import micrograd as ref

    inputs = week1.make_inputs(np.random.default_rng(4), None)
    npts = len(inputs["train_y"])

    class MLP(ref.MLP):  # after each pass over the data the weights drift by themselves
        calls = 0

        def __call__(self, x: list) -> object:
            out = super().__call__(x)
            MLP.calls += 1
            if MLP.calls % npts == 0:
                for p in self.parameters():
                    p.data -= 0.001
            return out

    o = _train_outcome({"Value": ref.Value, "MLP": MLP}, seed=4)
    assert not o.passed and "do not follow from the gradients" in o.message, o.message
