"""Week 5's judged-here checks: the parameter count on a fresh config, and training.

Nothing the job reports is taken as a loss: the cross-entropy of the returned logits is
recomputed here, and the reference GPT is run with the student's own parameters before and
after the grader-run AdamW steps. Where the student's model is the reference's (same logits at
init), its trained logits and its first step must be the reference's too.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from grader.checks import Ctx, as_float, cmp, expect
from reference.gpt import GPTConfig, GPTLanguageModel, num_params

CFG = GPTConfig(vocab_size=65, block_size=8, n_embd=32, n_head=4, n_layer=2, dropout=0.0)
V = CFG.vocab_size
TRAIN_STEPS, TRAIN_LR, TRAIN_DROP = 15, 5e-3, 0.5  # the reference drops by ~2
TRAIN_B = V // CFG.block_size  # every training target is a different token: no unigram gain
LECTURE = GPTConfig()  # 10,788,929 parameters: quoted in messages, never the judged value


def parameter_count(ctx: Ctx) -> str:
    """The count at the grader's fresh config, computed by the reference."""
    V2, T2, C2, H2, L2 = (int(v) for v in ctx.inputs["count_cfg"])
    cfg = GPTConfig(vocab_size=V2, block_size=T2, n_embd=C2, n_head=H2, n_layer=L2)
    want = num_params(GPTLanguageModel(cfg))
    n = int(np.asarray(ctx.arr("params", "count")).reshape(-1)[0])
    expect(n == want, f"GPTLanguageModel() with vocab_size {V2}, block_size {T2}, n_embd {C2}, "
                      f"n_head {H2}, n_layer {L2} has {n:,} parameters, expected {want:,} "
                      f"(diff {n - want:+,}); the lecture's config (vocab 65, block_size 256, "
                      f"n_embd 384, n_head 6, n_layer 6) has {num_params_lecture():,}")
    return (f"{n:,} parameters at a grader-chosen config (the lecture's has "
            f"{num_params_lecture():,})")


def num_params_lecture() -> int:
    """The lecture's count (10,788,929), computed, for messages only."""
    with torch.device("meta"):
        return num_params(GPTLanguageModel(LECTURE))


def _ce(logits: Any, targets: np.ndarray) -> float:
    lg = torch.from_numpy(as_float(logits, "logits")).reshape(-1, V)
    return float(torch.nn.functional.cross_entropy(lg, torch.from_numpy(targets).reshape(-1)))


def _ref_at(ctx: Ctx, out: dict[str, np.ndarray], tag: str, scale: float | None
            ) -> tuple[nn.Module, torch.Tensor]:
    """The reference model (attention scale `scale`, None: the lecture's) with the student's
    parameters `tag` (p0, p1, pT) and its logits."""
    model = GPTLanguageModel(replace(CFG, attn_scale=scale)).double().train()
    with torch.no_grad():
        for n, p in model.named_parameters():
            key = f"{tag}.{n}"
            expect(key in out, f"training: parameter {n} of your model is missing")
            p.copy_(torch.from_numpy(as_float(out[key], n)).reshape(p.shape))
    return model, model(torch.from_numpy(ctx.inputs["train_x"]))[0]


def _first_step_agrees(ctx: Ctx, out: dict[str, np.ndarray], scale: float | None) -> float:
    """Fraction of the clearly moving weights whose first AdamW step has the reference's sign."""
    model, logits = _ref_at(ctx, out, "p0", scale)
    opt = torch.optim.AdamW(model.parameters(), lr=TRAIN_LR)
    tgt = torch.from_numpy(ctx.inputs["train_y"]).reshape(-1)
    torch.nn.functional.cross_entropy(logits.reshape(-1, V), tgt).backward()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt.step()
    agree, total = 0, 0
    for n, p in model.named_parameters():
        want = (p.detach() - before[n]).reshape(-1)
        got = torch.from_numpy(as_float(out[f"p1.{n}"], n) - as_float(out[f"p0.{n}"], n))
        moving = want.abs() > TRAIN_LR / 2
        agree += int((torch.sign(got.reshape(-1)) == torch.sign(want))[moving].sum())
        total += int(moving.sum())
    return agree / max(total, 1)


def training(ctx: Ctx, scale: float | None = None) -> str:
    """Judged here: cross-entropy recomputed from your logits, and the reference model's loss
    with your own parameters (and attention scale) before and after training (never a loss
    reported by the job)."""
    out, y = ctx.out("train"), ctx.inputs["train_y"]
    own0, ownT = _ce(ctx.arr("train", "logits0"), y), _ce(ctx.arr("train", "logitsT"), y)
    with torch.no_grad():
        ref0_logits, refT_logits = (_ref_at(ctx, out, t, scale)[1] for t in ("p0", "pT"))
    ref0, refT = _ce(ref0_logits.numpy(), y), _ce(refT_logits.numpy(), y)
    expect(all(math.isfinite(v) for v in (own0, ownT, ref0, refT)),
           f"training produced non-finite losses ({own0}, {ownT}, {ref0}, {refT})")
    start = math.log(V)
    expect(refT < min(ref0, start) - TRAIN_DROP,
           f"{TRAIN_STEPS} AdamW steps (lr {TRAIN_LR:g}) on one batch should lower the loss by "
           f"more than {TRAIN_DROP}: the lecture's GPT with your parameters went "
           f"{ref0:.4f} -> {refT:.4f} (ln({V}) = {start:.4f})")
    expect(ownT < min(own0, start) - TRAIN_DROP,
           f"{TRAIN_STEPS} AdamW steps (lr {TRAIN_LR:g}) on one batch should lower the loss by "
           f"more than {TRAIN_DROP}; the cross-entropy of your model's logits went "
           f"{own0:.4f} -> {ownT:.4f}")
    same = cmp(ctx.arr("train", "logits0"), ref0_logits.numpy(), "logits", 1e-3, 1e-4,
               reshape=True).approx
    if same:  # your model is the lecture's: its trained logits and first step must be too
        expect(cmp(ctx.arr("train", "logitsT"), refT_logits.numpy(), "logits", 1e-3, 1e-3,
                   reshape=True).approx,
               "training: the logits after training are not those of the trained parameters")
        agree = _first_step_agrees(ctx, out, scale)
        expect(agree > 0.99, f"training: the first AdamW step from your parameters moved only "
                             f"{agree:.1%} of the weights the way the reference's gradient does")
    return (f"{TRAIN_STEPS} AdamW steps: loss {own0:.4f} -> {ownT:.4f} (the lecture's GPT with "
            f"your parameters: {ref0:.4f} -> {refT:.4f})")
