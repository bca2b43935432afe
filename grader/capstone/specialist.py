"""Specialist track: the student's GPT trained by the grader on the student's own corpus."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from grader.capstone.inputs import CORPUS_ERRORS
from grader.checks import CheckSpec, Ctx, as_float, expect
from reference.capstone import cross_entropy, unigram_loss

CORPUS, TRAINS = "corpus accepted", "training on your corpus lowers the loss"
HELDOUT, SAMPLES = "held-out loss beats a character unigram", "3 samples from your model"
TRAIN_DROP = 0.5


def corpus(ctx: Ctx) -> str:
    """capstone/data.txt exists, is UTF-8, big enough, not too many distinct characters."""
    err = int(ctx.inputs["s_error"][0])
    expect(err == 0, CORPUS_ERRORS.get(err, "corpus rejected"))
    n = int(ctx.inputs["s_train_counts"].sum())
    return f"{len(ctx.inputs['s_vocab'])} distinct characters, {n:,} training characters"


def _need_corpus(ctx: Ctx) -> None:
    expect(int(ctx.inputs["s_error"][0]) == 0, "not run: your corpus was not accepted")


def trains(ctx: Ctx) -> str:
    """The grader's training run on your corpus: finite losses that go down."""
    _need_corpus(ctx)
    losses = as_float(ctx.arr("specialist", "losses"), "losses").reshape(-1)
    steps = ctx.inputs["s_train_x"].shape[0]
    expect(losses.size == steps and bool(np.all(np.isfinite(losses))),
           f"expected {steps} finite training losses, got {losses.size} (NaN/inf: "
           f"{int(np.sum(~np.isfinite(losses)))})")
    end = float(losses[-10:].mean())
    expect(end < losses[0] - TRAIN_DROP, f"{steps} grader-run AdamW steps should lower the loss "
                                         f"by more than {TRAIN_DROP}: {losses[0]:.4f} -> {end:.4f}")
    return f"{steps} steps: loss {losses[0]:.4f} -> {end:.4f}"


def losses(ctx: Ctx) -> tuple[float, float]:
    """(held-out loss of the student's model, unigram baseline), both computed here."""
    _need_corpus(ctx)
    y, V = ctx.inputs["s_val_y"], len(ctx.inputs["s_vocab"])
    logits = as_float(ctx.arr("specialist", "val_logits"), "held-out logits")
    expect(logits.shape == (1, *y.shape, V), f"held-out logits have shape {logits.shape}, "
                                             f"expected {(1, *y.shape, V)}")
    expect(bool(np.all(np.isfinite(logits))), "your model returned NaN or infinite logits on the "
                                              "held-out text")
    ce = cross_entropy(torch.from_numpy(logits[0]), torch.from_numpy(y))
    base = unigram_loss(torch.from_numpy(ctx.inputs["s_train_counts"]), torch.from_numpy(y))
    return ce, base


def heldout(ctx: Ctx) -> str:
    """Held-out cross-entropy below the add-one unigram baseline of the training split."""
    ce, base = ctx.memo("spec.losses", lambda: losses(ctx))
    expect(ce < base, f"held-out loss {ce:.4f} is not below the character-unigram baseline "
                      f"{base:.4f} (the grader's split of your corpus)")
    lnv = math.log(len(ctx.inputs["s_vocab"]))
    return f"held-out loss {ce:.4f} vs unigram {base:.4f} (ln V = {lnv:.3f})"


def _samples(ctx: Ctx) -> np.ndarray:
    _need_corpus(ctx)
    s = np.asarray(ctx.arr("samples", "samples"))
    prompt, V = ctx.inputs["s_prompt"], len(ctx.inputs["s_vocab"])
    want = (prompt.shape[0], prompt.shape[1] + int(ctx.inputs["s_new"][0]))
    expect(s.shape == want and s.dtype.kind in "iu", f"samples of shape {s.shape} "
                                                     f"({s.dtype}), expected {want} ints")
    expect(bool(np.all((s >= 0) & (s < V))), f"sample tokens outside 0..{V - 1}")
    expect(np.array_equal(s[:, :prompt.shape[1]], prompt), "samples must start with the prompt")
    return s


def samples(ctx: Ctx) -> str:
    """generate() gives prompt + s_new in-vocabulary characters."""
    s = _samples(ctx)
    return f"{s.shape[0]} samples of {s.shape[1]} characters stored"


def extras(ctx: Ctx) -> dict[str, Any]:
    """The decoded samples for the report."""
    try:
        s = _samples(ctx)
    except Exception:  # noqa: BLE001 - nothing to show
        return {}
    chars = [chr(int(c)) for c in ctx.inputs["s_vocab"]]
    return {"samples": ["".join(chars[int(t)] for t in row) for row in s]}


SPECS = [
    CheckSpec(CORPUS, 10, corpus, "capstone/data.txt: UTF-8, ≤ 20 MB"),
    CheckSpec(TRAINS, 20, trains, "grader-run training on your corpus"),
    CheckSpec(HELDOUT, 50, heldout, "grader's held-out split, loss from your logits"),
    CheckSpec(SAMPLES, 20, samples, "3 samples stored in the report"),
]
