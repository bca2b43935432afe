"""Week 3's training curve: the batch loss at each of the grader's SGD steps, the student's
against the reference layers trained from the same start on the same batches.

The student's loss is the cross-entropy, computed here, of the last Linear's forward pass on
the features the job returned (h[s] @ W2[s] + b2[s]), never a loss the job reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from grader import curves
from grader.checks import CheckFailed, Ctx, on_student_data
from grader.weeks.week3_train import BATCH, N_HIDDEN, STEPS
from reference import mlp

D = torch.float64
LABEL = "training loss (grader's batches)"


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a, dtype=np.float64))


def reference_losses(inputs: dict[str, np.ndarray]) -> list[float]:
    """The lecture's layers from the grader's start weights, SGD on the grader's batches."""
    C, W1, W2, b2 = (_t(inputs[k]).clone() for k in ("tr_C", "tr_W1", "tr_W2", "tr_b2"))
    hidden = W1.shape[1]
    layers: list[mlp.Layer] = [mlp.Linear(W1.shape[0], hidden, bias=False, dtype=D),
                               mlp.BatchNorm1d(hidden, dtype=D), mlp.Tanh(),
                               mlp.Linear(hidden, 27, dtype=D)]
    layers[0].weight, layers[3].weight, layers[3].bias = W1, W2, b2  # type: ignore[union-attr]
    params = [C] + [p for layer in layers for p in layer.parameters()]
    for p in params:
        p.requires_grad_(True)
    X, Y = torch.as_tensor(inputs["tr_X"]), torch.as_tensor(inputs["tr_Y"])
    lr, out = float(inputs["tr_lr"][0]), []
    for ix in inputs["tr_ix"]:
        ix = torch.as_tensor(ix)
        x = C[X[ix]].view(len(ix), -1)
        for layer in layers:
            x = layer(x)
        loss = F.cross_entropy(x, Y[ix])
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p += -lr * p.grad  # type: ignore[operator]
        out.append(float(loss.detach()))
    return out


def student_losses(ctx: Ctx) -> list[float]:
    """Cross-entropy of the last Linear on the returned features, per step (computed here)."""
    h, w, b = (np.asarray(ctx.arr("train", k), dtype=np.float64) for k in ("h", "W2", "b2"))
    if h.shape != (STEPS, BATCH, N_HIDDEN) or w.shape != (STEPS + 1, N_HIDDEN, 27) \
            or b.shape != (STEPS + 1, 27):
        raise CheckFailed("train: unexpected shapes")
    ys = torch.as_tensor(ctx.inputs["tr_Y"][ctx.inputs["tr_ix"]])
    logits = torch.einsum("sbh,shv->sbv", _t(h), _t(w[:-1])) + _t(b[:-1])[:, None]
    return [float(F.cross_entropy(logits[s], ys[s])) for s in range(STEPS)]


def extras(ctx: Ctx, results: list[Any]) -> dict[str, Any]:
    """report.extras["curves"]: one curve, or none when the job returned no usable run."""
    try:
        with on_student_data("training curve"), curves.one_thread():
            mine = student_losses(ctx)
    except CheckFailed:
        return {}
    with curves.one_thread():
        ref = reference_losses(ctx.inputs)
    return {"curves": [curves.curve(LABEL, range(STEPS), mine, ref, rtol=1e-3, atol=1e-3)]}
