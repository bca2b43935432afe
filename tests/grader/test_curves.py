"""Training curves in the report (extras["curves"]): the student's loss per step against the
reference's from the same start, both computed by the grader; a planted bug diverges; values
the job plants are never the curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader import curves, grade, source
from grader.checks import Ctx
from grader.weeks import week3, week3_curves, week5_curves
from tests.grader import test_week3 as w3

KEYS = {"label", "steps", "student", "reference", "unit", "summary"}


def _shape_ok(c: dict[str, Any]) -> None:
    assert set(c) == KEYS and c["unit"] == "nats"
    assert len(c["steps"]) == len(c["student"]) == len(c["reference"]) > 1


def test_variant_summary_says_faster_like_or_slower() -> None:
    def line(mine: list[float]) -> str:
        return curves.curve("x", [10, 20, 40], mine, [3.2, 3.1, 3.0], atol=0.15,
                            who="the vanilla GPT's", variant=True)["summary"]

    assert line([3.1, 2.9, 2.7]).startswith("your loss falls faster than the vanilla GPT's")
    assert line([3.3, 3.2, 3.0]).startswith("your loss falls like the vanilla GPT's")
    assert line([3.2, 3.3, 3.4]).startswith("your loss falls more slowly than the vanilla "
                                            "GPT's from step 20")


def test_summary_says_where_it_diverges() -> None:
    same = curves.curve("x", [0, 1, 2], [3.0, 2.5, 2.0], [3.0, 2.5, 2.0])
    assert same["summary"] == "your loss falls like the reference's (final 2 vs 2)"
    off = curves.curve("x", [0, 1, 2], [3.0, 2.9, 2.8], [3.0, 2.5, 2.0])
    assert off["summary"].startswith("your loss diverges from the reference's from step 1")
    nan = curves.curve("x", [0, 1], [3.0, float("nan")], [3.0, 2.5])
    assert nan["student"][1] is None and "from step 1" in nan["summary"]


# ----------------------------------------------------------------------------- week 3

def _w3_cells(bug: str | None = None) -> bytes:
    cells = []
    for cell in w3._cells():
        text = "".join(cell["source"])
        if cell["cell_type"] == "code" and any(k in text for k in w3.CORE):
            cells.append({**cell, "source": text})
    if bug is not None:
        old, new, _ = w3.BUGS[bug]
        for c in cells:
            c["source"] = c["source"].replace(old, new)
    return w3._notebook(cells)


@pytest.fixture(scope="module")
def w3_reports(data_dir: Path) -> dict[str, grade.GradeReport]:
    return {k: grade.grade(source.from_bytes(_w3_cells(bug), "week3.ipynb", 3), data_dir,
                           seed=11)
            for k, bug in (("ok", None), ("tanh", "tanh is identity"))}


def test_week3_correct_curve_matches_reference(w3_reports: dict) -> None:
    r = w3_reports["ok"]
    assert r.score == 100
    (c,) = r.extras["curves"]
    _shape_ok(c)
    assert c["label"] == "training loss (grader's batches)"
    assert c["steps"] == list(range(week3_curves.STEPS))
    assert np.allclose(c["student"], c["reference"], rtol=1e-5, atol=1e-6)
    assert c["student"][-1] < c["student"][0] - 0.3  # it trains
    assert c["summary"].startswith("your loss falls like the reference's")


def test_week3_tanh_bug_diverges(w3_reports: dict) -> None:
    (c,) = w3_reports["tanh"].extras["curves"]
    _shape_ok(c)
    assert not np.allclose(c["student"], c["reference"], rtol=1e-3, atol=1e-3)
    assert "diverges from the reference's from step" in c["summary"]
    # the reference curve is the same run from the same start: identical to the correct one's
    assert c["reference"] == w3_reports["ok"].extras["curves"][0]["reference"]


def test_week3_forged_results_cannot_plant_the_curve(data_dir: Path) -> None:
    """Planted loss arrays are ignored; features and weights of another grading's run (or
    edited ones) give the curve they really give, against this grading's reference."""
    inputs = week3.make_inputs(np.random.default_rng(5), data_dir)
    other = week3.make_inputs(np.random.default_rng(6), data_dir)
    ref = week3_curves.reference_losses(inputs)
    honest = w3._honest_train_outputs(inputs)
    fake = np.asarray(ref) - 0.5
    planted = {**w3._honest_train_outputs(other), "losses": fake, "lossi": fake,
               "curve": fake, "student": fake, "reference": fake}
    (c,) = week3.WEEK_SPEC.extras(Ctx(inputs, {"train": planted}, {}), [])["curves"]
    assert np.allclose(c["reference"], ref) and "diverges" in c["summary"]
    assert not np.allclose(c["student"], fake, atol=1e-2)
    (h,) = week3.WEEK_SPEC.extras(Ctx(inputs, {"train": honest}, {}), [])["curves"]
    assert np.allclose(h["student"], ref, rtol=1e-6) and "falls like" in h["summary"]
    assert week3.WEEK_SPEC.extras(Ctx(inputs, {"train": {"losses": fake}}, {}), []) == {}
    assert week3.WEEK_SPEC.extras(Ctx(inputs, {}, {"train": "crashed"}), []) == {}


# ----------------------------------------------------------------------------- week 5

@pytest.fixture(scope="module")
def w5_reports(data_dir: Path) -> dict[str, grade.GradeReport]:
    from tests.grader import test_week5 as w5

    return {"ok": w5.run(w5.NB, data_dir, seed=5),
            "residual": w5.run(w5.mutate("x = x + self.sa(self.ln1(x))",
                                         "x = self.sa(self.ln1(x))"), data_dir, seed=5)}


def test_week5_correct_curve_matches_reference(w5_reports: dict) -> None:
    r = w5_reports["ok"]
    assert r.score == 100
    (c,) = r.extras["curves"]
    _shape_ok(c)
    assert c["steps"] == list(range(week5_curves.TRAIN_STEPS + 1))
    assert np.allclose(c["student"], c["reference"], rtol=1e-4, atol=1e-4)
    assert c["student"][-1] < c["student"][0] - 0.5
    assert c["summary"].startswith("your loss falls like the reference's")


def test_week5_missing_residual_diverges(w5_reports: dict) -> None:
    (c,) = w5_reports["residual"].extras["curves"]
    _shape_ok(c)
    assert abs(c["student"][0] - c["reference"][0]) < 1e-4  # same start: the same parameters
    assert not np.allclose(c["student"], c["reference"], rtol=1e-3, atol=1e-3)
    assert "diverges from the reference's from step" in c["summary"]


def test_week5_forged_results_cannot_plant_the_curve(data_dir: Path) -> None:
    """Planted loss arrays are ignored; parameters that did not train give a flat curve
    against the reference trained here from the same start."""
    from grader.probes import week5 as probes
    from grader.weeks import week5

    inputs = week5.make_inputs(np.random.default_rng(3), data_dir)
    ns = _reference_namespace()
    honest = {k: v.detach().numpy() for k, v in probes.train(ns, inputs).items()}
    fake = np.linspace(4.2, 1.0, week5_curves.TRAIN_STEPS + 1)
    frozen = {**honest, "losses": fake, "curve": fake, "student": fake,
              **{k: np.broadcast_to(v[:1], v.shape).copy() for k, v in honest.items()
                 if k.startswith("ps.")}}
    (h,) = week5.WEEK_SPEC.extras(Ctx(inputs, {"train": honest}, {}), [])["curves"]
    (c,) = week5.WEEK_SPEC.extras(Ctx(inputs, {"train": frozen}, {}), [])["curves"]
    assert "falls like" in h["summary"] and np.allclose(h["student"], h["reference"], 1e-4)
    assert c["reference"] == h["reference"] and "diverges" in c["summary"]
    assert np.allclose(c["student"], c["student"][0]) and not np.allclose(c["student"], fake)
    no_stack = {k: v for k, v in honest.items() if not k.startswith("ps.")}
    assert week5.WEEK_SPEC.extras(Ctx(inputs, {"train": {**no_stack, "losses": fake}}, {}),
                                  []) == {}


def _reference_namespace() -> dict[str, Any]:
    """The lecture's GPT as a notebook namespace would hold it (configured by globals)."""
    from reference import gpt

    class GPTLanguageModel(gpt.GPTLanguageModel):
        def __init__(self) -> None:
            super().__init__(week5_curves.CFG)

    return {"GPTLanguageModel": GPTLanguageModel}


# ----------------------------------------------------------------------------- week 6

@pytest.fixture(scope="module")
def w6_reports(data_dir: Path) -> dict[str, grade.GradeReport]:
    from tests.grader import test_week6 as w6

    return {"architect": w6.correct("architect", data_dir),
            "specialist": w6.correct("specialist", data_dir),
            "arch_blind": w6.run(w6.mutate("architect", BLIND), data_dir),
            "spec_frozen": w6.run(w6.mutate("specialist", FROZEN), data_dir, corpus=w6.CORPUS)}


# the output layer sees nothing: only its bias learns (a unigram), the vanilla GPT does better
BLIND = ("        logits = self.lm_head(x) # (B,T,vocab_size)\n",
         "        logits = self.lm_head(x * 0) # (B,T,vocab_size)\n")
# only the output layer learns: its loss falls, far more slowly than the reference's
FROZEN = ("        logits = self.lm_head(x) # (B,T,vocab_size)\n",
          "        logits = self.lm_head(x.detach()) # (B,T,vocab_size)\n")


def test_week6_architect_curve_follows_the_vanilla_gpt(w6_reports: dict) -> None:
    r = w6_reports["architect"]
    assert r.score == 100
    (c,) = r.extras["curves"]
    _shape_ok(c)
    assert c["steps"] == sorted(c["steps"]) and c["steps"][-1] == 40
    # RoPE learns faster than learned positions: below the vanilla GPT's, never far off
    assert np.allclose(c["student"], c["reference"], rtol=0.15)
    assert c["summary"].startswith(("your loss falls faster than the vanilla GPT's",
                                    "your loss falls like the vanilla GPT's")), c["summary"]


def test_week6_specialist_curve_matches_the_reference(w6_reports: dict) -> None:
    r = w6_reports["specialist"]
    assert r.score == 100
    (c,) = r.extras["curves"]
    _shape_ok(c)
    assert c["steps"] == [0, 41, 80]  # probes after steps -1 and 40 (0-based), then the end
    assert np.allclose(c["student"], c["reference"], rtol=1e-3, atol=1e-3)
    assert c["student"][-1] < c["student"][0] - 0.5
    assert c["summary"].startswith("your loss falls like the reference's")


def test_week6_architect_blind_head_falls_behind(w6_reports: dict) -> None:
    (c,) = w6_reports["arch_blind"].extras["curves"]
    _shape_ok(c)
    assert c["student"][-1] > c["reference"][-1] + 0.1
    assert "falls more slowly than the vanilla GPT's from step" in c["summary"]


def test_week6_specialist_frozen_body_diverges(w6_reports: dict) -> None:
    (c,) = w6_reports["spec_frozen"].extras["curves"]
    _shape_ok(c)
    assert c["student"][0] == pytest.approx(c["reference"][0], abs=1e-4)  # the same start
    assert c["student"][-1] > c["reference"][-1] + 0.1
    assert "diverges from the reference's from step 41" in c["summary"]


def test_week6_forged_results_cannot_plant_the_curve(data_dir: Path) -> None:
    """Planted step losses are never the curve: it is the held-out loss of the returned logits
    (targets the job never saw) against the reference trained here; logits that did not come
    from training give the flat ln V they give."""
    import dataclasses

    from grader.capstone import curves as capstone_curves
    from grader.weeks import InputRequest, week6
    from tests.grader import test_week6 as w6

    src = dataclasses.replace(source.from_bytes(w6.notebook("specialist"), "week6.ipynb", 6),
                              extra_files={"capstone/data.txt": w6.CORPUS})
    inputs = week6._job_inputs(InputRequest(np.random.default_rng(4), data_dir, src))
    ins = inputs.sandbox
    V, n = len(ins["s_vocab"]), ins["s_val_x"].shape
    fake = np.linspace(3.0, 0.1, int(ins["s_train_x"].shape[0]))
    forged = {"probe_logits": np.zeros((2, *n, V)), "val_logits": np.zeros((1, *n, V)),
              "losses": fake, "probe_at": np.array([[0, -1], [0, 40]]),
              "curve": fake, "student": fake, "reference": fake}
    ctx = Ctx(ins, {"specialist": forged}, {}, data_dir, inputs.trusted)
    (c,) = capstone_curves.extras(ctx, "specialist")["curves"]
    assert np.allclose(c["student"], np.log(V))
    want = week6_reference_losses(ins, inputs.trusted)
    assert np.allclose(c["reference"], want, atol=1e-6) and c["reference"][-1] < np.log(V) - 1
    assert "diverges from the reference's from step 0" in c["summary"] or \
        "from step 41" in c["summary"]
    nan = {**forged, "val_logits": np.full((1, *n, V), np.nan)}
    assert capstone_curves.extras(Ctx(ins, {"specialist": nan}, {}, data_dir, inputs.trusted),
                                  "specialist") == {}


def week6_reference_losses(ins: dict, trusted: Any) -> list[float]:
    """The reference run's held-out losses, recomputed independently of the extras."""
    from grader.capstone import curves as capstone_curves
    from grader.capstone import verify

    return verify.heldout_losses(capstone_curves.reference_run(ins), trusted["s_val_y"],
                                 len(ins["s_vocab"]), "ref")
