"""Specialist track: the student's GPT trained by the grader on the student's own corpus."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from grader.capstone import verify
from grader.capstone.inputs import CORPUS_ERRORS, hidden
from grader.checks import CheckSpec, Ctx, as_float, expect
from reference.capstone import unigram_loss

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


def _heldout(ctx: Ctx, key: str) -> list[float]:
    """Held-out losses of the returned logits (val or probes), computed here."""
    V = len(ctx.inputs["s_vocab"])
    return verify.heldout_losses(ctx.arr("specialist", key), hidden(ctx.trusted, "s_val_y"), V,
                                 "your model")


def trains(ctx: Ctx) -> str:
    """The grader's training run lowers the held-out loss (judged here from the model's logits
    before, during and after it), and the step losses agree with it."""
    _need_corpus(ctx)
    steps = int(ctx.inputs["s_train_x"].shape[0])
    loss = verify.committed(as_float(ctx.arr("specialist", "losses"), "losses").reshape(-1), 1,
                            steps, "the training run")
    at = [int(s) for _, s in np.asarray(ctx.arr("specialist", "probe_at")).reshape(-1, 2)]
    want = [int(s) for s in ctx.inputs["s_probes"]]
    expect(at == want, f"held-out probes after steps {at}, expected {want}")
    (before, mid), (after,) = _heldout(ctx, "probe_logits"), _heldout(ctx, "val_logits")
    lnv = math.log(len(ctx.inputs["s_vocab"]))
    expect(after < min(before, lnv) - TRAIN_DROP,
           f"{steps} grader-run AdamW steps should lower the held-out loss by more than "
           f"{TRAIN_DROP} (from the untrained model's, and below ln V = {lnv:.3f}): "
           f"{before:.4f} -> {after:.4f}")
    # the untrained model's losses do not depend on which text they are measured on: the
    # first steps' reported losses must agree with the held-out one; later, the held-out slice
    # may be harder than the training text, never much easier
    line = verify.check_step_losses(loss, [(0, -1, before)], "the training run")
    verify.check_not_below(loss, steps - 1, after, "the training run")
    return f"{steps} steps: held-out loss {before:.4f} -> {mid:.4f} -> {after:.4f}; {line}"


def losses(ctx: Ctx) -> tuple[float, float]:
    """(held-out loss of the student's model, unigram baseline), both computed here."""
    _need_corpus(ctx)
    y = hidden(ctx.trusted, "s_val_y")
    logits = as_float(ctx.arr("specialist", "val_logits"), "held-out logits")
    expect(len(logits) == 1, f"{len(logits)} sets of held-out logits, expected 1")
    (ce,) = _heldout(ctx, "val_logits")
    base = unigram_loss(torch.from_numpy(ctx.inputs["s_train_counts"]), torch.from_numpy(y))
    return ce, base


def heldout(ctx: Ctx) -> str:
    """Held-out cross-entropy below the add-one unigram baseline of the training split, and
    the model's own (its training losses at the end agree with it)."""
    ce, base = ctx.memo("spec.losses", lambda: losses(ctx))
    steps = int(ctx.inputs["s_train_x"].shape[0])
    loss = verify.committed(as_float(ctx.arr("specialist", "losses"), "losses").reshape(-1), 1,
                            steps, "the training run")
    verify.check_not_below(loss, steps - 1, ce, "the training run")
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
    """generate() gives prompt + s_new in-vocabulary characters, drawn from the model's own
    next-character distributions (the model that was scored on the held-out text)."""
    s = _samples(ctx)
    lg = as_float(ctx.arr("samples", "sample_logits"), "sample logits")
    first = as_float(ctx.arr("specialist", "val_logits"), "held-out logits")[0, 0, 0]
    expect(lg.ndim == 3 and lg.shape[0] == s.shape[0] and lg.shape[1] > 0,
           f"sample logits of shape {lg.shape}, expected (samples, new characters, V)")
    expect(bool(np.allclose(lg[:, 0], first[None], rtol=1e-3, atol=1e-3)),
           "the logits behind the first sampled character are not those of the model the "
           "grader scored on the held-out text (same context): samples must come from "
           "your trained model")
    z = verify.sampling_z(s, lg, ctx.inputs["s_prompt"].shape[1])
    expect(z <= verify.SAMPLE_Z,
           f"the sampled characters are far less likely under your model than samples drawn "
           f"from it would be (z = {z:.1f} > {verify.SAMPLE_Z:g}): generate() should sample "
           "each character from softmax(logits) of your model (torch.multinomial)", z=z)
    return f"{s.shape[0]} samples of {s.shape[1]} characters stored (sampling z = {z:.2f})"


def _corpus_extras(ctx: Ctx) -> dict[str, Any]:
    """Corpus size, vocabulary and (when computed) the held-out and unigram losses."""
    if int(ctx.inputs["s_error"][0]) != 0:
        return {}
    vocab = "".join(chr(int(c)) for c in ctx.inputs["s_vocab"])
    out: dict[str, Any] = {"corpus": {"train_chars": int(ctx.inputs["s_train_counts"].sum()),
                                      "heldout_chars": int(hidden(ctx.trusted, "s_val_y").size),
                                      "vocab": vocab, "vocab_size": len(vocab),
                                      "ln_vocab": math.log(len(vocab))}}
    try:
        ce, base = ctx.memo("spec.losses", lambda: losses(ctx))
        out["heldout"] = {"val_loss": ce, "unigram_loss": base}
    except Exception:  # noqa: BLE001 - no losses to show
        pass
    return out


def extras(ctx: Ctx) -> dict[str, Any]:
    """The decoded samples, the corpus's size and vocabulary, and the held-out losses."""
    out = _corpus_extras(ctx)
    try:
        s = _samples(ctx)
    except Exception:  # noqa: BLE001 - nothing to show
        return out
    chars = [chr(int(c)) for c in ctx.inputs["s_vocab"]]
    return out | {"samples": ["".join(chars[int(t)] for t in row) for row in s]}


SPECS = [
    CheckSpec(CORPUS, 10, corpus, "capstone/data.txt: UTF-8, ≤ 20 MB"),
    CheckSpec(TRAINS, 20, trains, "grader-run training on your corpus"),
    CheckSpec(HELDOUT, 50, heldout, "grader's held-out split, loss from your logits"),
    CheckSpec(SAMPLES, 20, samples, "3 samples stored in the report"),
]
