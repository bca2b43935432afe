"""Week 5's training curve: at each of the grader-run AdamW steps, the lecture GPT's loss on
the grader's batch with the student's parameters of that step, against the lecture GPT
trained here from the same start (the student's initial parameters), same batch, same AdamW.

Both losses are computed here; the job only sends its parameters after every step (ps.*).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from grader import curves
from grader.checks import CheckFailed, Ctx, as_float, on_student_data
from grader.weeks.week5_judged import CFG, TRAIN_LR, TRAIN_STEPS, V
from reference.gpt import GPTLanguageModel

LABEL = "training loss (grader's batch)"


def _model() -> nn.Module:
    return GPTLanguageModel(CFG).double().train()


def _stacks(ctx: Ctx, model: nn.Module) -> dict[str, np.ndarray]:
    """The student's parameters after every step, checked for shape (else CheckFailed)."""
    out = {}
    for n, p in model.named_parameters():
        a = as_float(ctx.arr("train", f"ps.{n}"), n)
        if a.shape != (TRAIN_STEPS + 1, *p.shape):
            raise CheckFailed(f"train: ps.{n} has shape {a.shape}")
        out[n] = a
    return out


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model(x)[0]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))


def student_losses(ctx: Ctx) -> list[float]:
    """The lecture GPT's loss at the student's parameters of each step."""
    model, (x, y) = _model(), _xy(ctx)
    stacks = _stacks(ctx, model)
    out = []
    with torch.no_grad():
        for s in range(TRAIN_STEPS + 1):
            for n, p in model.named_parameters():
                p.copy_(torch.from_numpy(stacks[n][s]))
            out.append(float(_loss(model, x, y)))
    return out


def _xy(ctx: Ctx) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.from_numpy(ctx.inputs["train_x"]), torch.from_numpy(ctx.inputs["train_y"]))


def reference_losses(ctx: Ctx) -> list[float]:
    """The lecture GPT from the student's initial parameters, AdamW on the grader's batch."""
    model, (x, y) = _model(), _xy(ctx)
    start = _stacks(ctx, model)
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(torch.from_numpy(start[n][0]))
    opt = torch.optim.AdamW(model.parameters(), lr=TRAIN_LR)
    out = []
    for _ in range(TRAIN_STEPS):
        loss = _loss(model, x, y)
        out.append(float(loss.detach()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        out.append(float(_loss(model, x, y)))
    return out


def extras(ctx: Ctx) -> dict[str, Any]:
    """report.extras["curves"]: one curve, or none when the job returned no usable run."""
    try:
        with on_student_data("training curve"), curves.one_thread():
            mine, ref = student_losses(ctx), reference_losses(ctx)
    except CheckFailed:
        return {}
    return {"curves": [curves.curve(LABEL, range(TRAIN_STEPS + 1), mine, ref,
                                    rtol=1e-3, atol=1e-3)]}
