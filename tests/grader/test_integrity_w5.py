"""Week 5 grade integrity: the parameter count and "training lowers loss" are judged here.

Unit tests feed the trusted checks forged probe results (the real keys, public numbers, fake
falling losses, one-hot logits of the targets); graded tests forge them from inside a notebook
(a wrapped `numpy.savez`). Each scores nothing it did not earn, and a deterministic notebook
with a planted bug gets the same score on five sets of fresh inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from grader import grade, source
from grader.checks import Ctx, run_check
from grader.report import STATUS_GRADED, GradeReport
from grader.weeks import week5
from reference.gpt import GPTConfig, GPTLanguageModel, num_params
from tests.grader.forge import code_cells, forged_replay
from tests.grader.test_week5 import NB_PATH as NB
from tests.grader.test_week5 import mutate

SPEC = {c.name: c for c in week5.CHECKS}
TRAIN, COUNT = SPEC["training lowers loss"], SPEC["parameter count"]
POINTS = {c.name: c.points for c in week5.CHECKS}


def _inputs(seed: int = 0) -> dict[str, np.ndarray]:
    return week5.make_inputs(np.random.default_rng(seed), None)


def _params(model: torch.nn.Module, tag: str) -> dict[str, np.ndarray]:
    return {f"{tag}.{n}": p.detach().numpy().copy() for n, p in model.named_parameters()}


def _honest(ins: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What an honest notebook's train probe returns (the reference GPT, float32)."""
    torch.manual_seed(int(ins["seed"][0]))
    m = GPTLanguageModel(week5.CFG).train()
    x, y = (torch.from_numpy(ins[k]) for k in ("train_x", "train_y"))
    opt = torch.optim.AdamW(m.parameters(), lr=week5.TRAIN_LR)
    out = {"logits0": m(x)[0].detach().numpy(), **_params(m, "p0")}
    for step in range(week5.TRAIN_STEPS):
        _, loss = m(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step == 0:
            out.update(_params(m, "p1"))
    return out | {"logitsT": m(x)[0].detach().numpy()} | _params(m, "pT")


def _judge(spec, ins: dict[str, np.ndarray], probe: str, out: dict[str, np.ndarray]):
    return run_check(spec, Ctx(ins, {probe: out}, {}))


def test_honest_training_passes_and_is_verified_step_by_step() -> None:
    ins = _inputs(1)
    o = _judge(TRAIN, ins, "train", _honest(ins))
    assert o.passed, o.message


@pytest.mark.parametrize("attack", ["one-hot logits", "fake step", "unigram bias", "no p"])
def test_forged_training_results_earn_nothing(attack: str) -> None:
    ins = _inputs(2)
    out = _honest(ins)
    y = ins["train_y"]
    if attack == "one-hot logits":  # an untrained model whose reported logits fall
        out |= {k.replace("p0.", "pT."): v for k, v in out.items() if k.startswith("p0.")}
        out["logitsT"] = 20.0 * np.eye(week5.V)[y]
    elif attack == "fake step":  # trained weights, but the first step is not AdamW's
        out |= {k.replace("p0.", "p1."): v + 1e-3 * np.sign(np.random.randn(*v.shape))
                for k, v in out.items() if k.startswith("p0.")}
    elif attack == "unigram bias":  # no GPT at all: favour the batch's targets in lm_head
        out |= {k.replace("p0.", "pT."): v for k, v in out.items() if k.startswith("p0.")}
        out["pT.lm_head.bias"] = out["p0.lm_head.bias"] + 5.0 * np.isin(np.arange(65), y)
        out["logitsT"] = 20.0 * np.eye(week5.V)[y]
    else:
        out = {"logits0": np.zeros((8, 8, 65)), "logitsT": 20.0 * np.eye(65)[y]}
    o = _judge(TRAIN, ins, "train", out)
    assert not o.passed, o.message


def test_parameter_count_is_asked_on_a_fresh_config() -> None:
    counts = set()
    for seed in range(5):
        ins = _inputs(seed)
        vocab, block, n_embd, n_head, n_layer = (int(v) for v in ins["count_cfg"])
        cfg = GPTConfig(vocab_size=vocab, block_size=block, n_embd=n_embd, n_head=n_head,
                              n_layer=n_layer)
        want = num_params(GPTLanguageModel(cfg))
        counts.add(want)
        assert _judge(COUNT, ins, "params", {"count": np.array([want])}).passed
        lecture = _judge(COUNT, ins, "params", {"count": np.array([10_788_929])})
        assert not lecture.passed and "10,788,929" in lecture.message
    assert len(counts) == 5 and 10_788_929 not in counts


def run(data: bytes, data_dir: Path, seed: int) -> GradeReport:
    return grade.grade(source.from_bytes(data, "week5.ipynb", 5), data_dir, seed=seed)


def test_correct_notebook_with_forged_count_and_losses_loses_exactly_those(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The genuine results of the same inputs, with the lecture's count and a loss that falls
    (one-hot logits of the targets) swapped in: exactly those two checks reject them."""
    y = _inputs(3)["train_y"]

    def swap(outputs: dict) -> None:
        outputs["params"] = {**outputs["params"], "count": np.array([10788929])}
        outputs["train"] = {**outputs["train"], "logitsT": 20.0 * np.eye(65)[y]}
    r = forged_replay(monkeypatch, code_cells(NB), 5, data_dir, 3, swap)
    assert r.status == STATUS_GRADED, r.message
    assert {c.name for c in r.checks if not c.passed} == {TRAIN.name, COUNT.name}, [
        (c.name, c.message[:200]) for c in r.checks if not c.passed]
    msgs = {c.name: c.message for c in r.checks}
    assert "not those of the trained parameters" in msgs[TRAIN.name]


def test_planted_bug_scores_the_same_on_five_sets_of_fresh_inputs(data_dir: Path) -> None:
    nb = mutate("x = x + self.sa(self.ln1(x))", "x = self.sa(self.ln1(x))")  # missing residual
    scores = [run(nb, data_dir, seed=s).score for s in (101, 202, 303, 404, 505)]
    want = 100 - POINTS["Block forward/backward"] - POINTS["GPT forward/backward"]
    assert scores == [want] * 5



@pytest.mark.parametrize("check", ["causal mask", "attention rows sum to 1"])
def test_forged_attention_weights_earn_nothing(check: str) -> None:
    """Causal rows that sum to 1 (uniform over the past), not computed from the grader's q, k."""
    ins = _inputs(4)
    T = week5.T
    wei = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]
    outs = {"attn": {"wei": np.broadcast_to(wei, (week5.B, T, T)).copy()},
            "causal": {"a": np.zeros((week5.B, T, 65)),
                       "b": np.concatenate([np.zeros((week5.B, 5, 65)),
                                            np.ones((week5.B, T - 5, 65))], axis=1)}}
    o = run_check(SPEC[check], Ctx(ins, outs, {}))
    assert not o.passed and "q @ k^T" in o.message, o.message


def _gen_outputs(ins: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> dict:
    """Forged generate/window results: each prompt followed by the given new tokens."""
    keys = {"out": "prompt", "p1": "prompt", "p2": "prompt2"}
    gen = {k: np.concatenate([ins[p], new[k]], axis=1) for k, p in keys.items()}
    win = {k: np.concatenate([ins[f"long_{k}"], new[k]], axis=1) for k in "abcd"}
    win["own"] = np.concatenate([ins["long_a"], new["own"]], axis=1)
    return {"generate": gen, "window": win}


@pytest.mark.parametrize("attack", ["same tokens for every prompt", "first block only",
                                    "last token unread", "last token only", "fresh randomness",
                                    "no model"])
def test_forged_generate_results_earn_nothing_they_did_not_show(attack: str) -> None:
    """Continuations that ignore the prompt, read its first block, or ignore the seed."""
    ins = _inputs(6)
    rng = np.random.default_rng(0)
    n, m = ins["prompt"].shape[0], int(ins["max_new"][0])
    fixed = rng.integers(0, week5.V, size=(n, m))
    fresh = {k: rng.integers(0, week5.V, size=(n, m))
             for k in ("out", "p1", "p2", "a", "b", "c", "d", "own")}
    if attack == "same tokens for every prompt":
        new, fails = dict.fromkeys(fresh, fixed), "generate: length and vocabulary"
    elif attack == "first block only":  # long prompts a, c share their first block_size tokens
        new, fails = fresh | {"c": fresh["a"]}, "generate: last block_size tokens"
    elif attack == "last token unread":  # a, b share the window; c differs in its last token
        new, fails = fresh | {"b": fresh["a"], "c": fresh["a"]}, "generate: last block_size tokens"
    elif attack == "last token only":  # a bigram's generate: d shares only the last token
        new, fails = fresh | {"b": fresh["a"], "d": fresh["a"]}, "generate: last block_size tokens"
    elif attack == "fresh randomness":
        new, fails = fresh, "generate: last block_size tokens"
    else:  # seeded random tokens, whatever the prompt or the model: not charged twice, but
        new, fails = dict.fromkeys(fresh, fixed), "generate: last block_size tokens"  # unpaid
    o = run_check(SPEC[fails], Ctx(ins, _gen_outputs(ins, new), {}))
    assert not o.passed and "must" in o.message, o.message
    honest = fresh | {"b": fresh["a"]}  # what a correct generate shows
    for name in ("generate: length and vocabulary", "generate: last block_size tokens"):
        o = run_check(SPEC[name], Ctx(ins, _gen_outputs(ins, honest), {}))
        assert o.passed, o.message


def test_generate_inputs_share_or_differ_where_the_checks_say() -> None:
    ins = _inputs(7)
    T, a = week5.T, ins["long_a"]
    assert (ins["long_b"][:, -T:] == a[:, -T:]).all() and (ins["long_b"][:, :-T] != a[:, :-T]).all()
    assert (ins["long_c"][:, :-1] == a[:, :-1]).all() and (ins["long_c"][:, -1] != a[:, -1]).all()
    d = ins["long_d"]
    assert (d[:, -1] == a[:, -1]).all() and (d[:, :-T] == a[:, :-T]).all()
    assert (d[:, -T:-1] != a[:, -T:-1]).all()
    assert (ins["prompt2"] != ins["prompt"]).all()
    sharp, plain = (np.abs(ins[f"{p}.lm_head.weight"]).mean() for p in ("gen", "model"))
    assert sharp > 100 * plain
