"""Week 3, trusted side: inputs and the verdict of the short training run.

The probe loads the grader's start weights into the student's C + Linear / BatchNorm1d / Tanh /
Linear, takes SGD steps on grader-chosen batches and sends back what the last Linear saw and
did. Everything about the loss is computed here: the logits must be that Linear's forward pass
(x @ weight + bias), each update of its weight and bias must be the SGD step of the
cross-entropy of those logits, and the val loss before and after comes from the returned
hidden features and weights. The student's BatchNorm and Tanh are not re-judged here (their
checks do that), so a bug in them costs this check nothing unless training stops working.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from grader.checks import Ctx, expect, expect_close

STEPS, BATCH, LR, N_EMBD, N_HIDDEN, BLOCK = 40, 32, 0.1, 10, 64, 3
MARGIN = 0.1
D = torch.float64


def make(rng: np.random.Generator, n_train: int) -> dict[str, np.ndarray]:
    """Start weights (the lecture's init: kaiming for tanh, a timid last layer) and batches."""
    fan_in = N_EMBD * BLOCK
    return {"tr_C": rng.normal(size=(27, N_EMBD)),
            "tr_W1": rng.normal(size=(fan_in, N_HIDDEN)) * (5 / 3) / fan_in**0.5,
            "tr_W2": rng.normal(size=(N_HIDDEN, 27)) * 0.1 / N_HIDDEN**0.5,
            "tr_b2": np.zeros(27), "tr_lr": np.array([LR]),
            "tr_ix": rng.integers(0, n_train, (STEPS, BATCH))}


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a, dtype=np.float64))


def _loss(h: np.ndarray, w: np.ndarray, b: np.ndarray, y: np.ndarray) -> float:
    return float(F.cross_entropy(_t(h) @ _t(w) + _t(b), torch.as_tensor(y)))


def _sgd(h: np.ndarray, logits: np.ndarray, y: np.ndarray,
         lr: float) -> tuple[np.ndarray, np.ndarray]:
    """-lr * d(mean cross-entropy)/d(weight, bias) of a Linear that saw h and gave logits."""
    p = torch.softmax(_t(logits), 1)
    p[torch.arange(len(y)), torch.as_tensor(y)] -= 1
    d = (p / len(y)).numpy()
    return -lr * (h.T @ d), -lr * d.sum(0)


def check(ctx: Ctx) -> str:
    """Verify every step of the last Linear and judge the val loss from the returned numbers."""
    i = ctx.inputs
    o = {k: ctx.arr("train", k) for k in ("W2", "b2", "h", "logits", "h_val0", "h_val1")}
    w, b, h, logits = (np.asarray(o[k], dtype=np.float64) for k in ("W2", "b2", "h", "logits"))
    tol = 1e-4 if any(o[k].dtype == np.float32 for k in ("W2", "h", "logits")) else 1e-6
    expect(w.shape == (STEPS + 1, N_HIDDEN, 27) and b.shape == (STEPS + 1, 27)
           and h.shape == (STEPS, BATCH, N_HIDDEN) and logits.shape == (STEPS, BATCH, 27),
           f"train: shapes {w.shape} {b.shape} {h.shape} {logits.shape}, expected "
           f"({STEPS + 1}, {N_HIDDEN}, 27) ({STEPS + 1}, 27) ({STEPS}, {BATCH}, {N_HIDDEN}) "
           f"({STEPS}, {BATCH}, 27)")
    expect_close(w[0], i["tr_W2"], "the last Linear's weight as the grader set it", tol, tol)
    expect_close(b[0], i["tr_b2"], "the last Linear's bias as the grader set it", tol, tol)
    ys = i["tr_Y"][i["tr_ix"]]
    lr = float(i["tr_lr"][0])
    for s in range(STEPS):
        expect_close(logits[s], h[s] @ w[s] + b[s], f"step {s}: logits of the last Linear "
                     "(x @ weight + bias)", tol, tol)
        dw, db = _sgd(h[s], logits[s], ys[s], lr)
        expect_close(w[s + 1], w[s] + dw, f"step {s}: the last Linear's weight after "
                     "p.data += -lr * p.grad of the cross-entropy", tol, tol)
        expect_close(b[s + 1], b[s] + db, f"step {s}: the last Linear's bias after the SGD "
                     "step", tol, tol)
    hv0, hv1 = (np.asarray(o[k], dtype=np.float64) for k in ("h_val0", "h_val1"))
    n_val = len(i["va_Y"])
    expect(hv0.shape == hv1.shape == (n_val, N_HIDDEN), f"train: val features have shapes "
           f"{hv0.shape} {hv1.shape}, expected ({n_val}, {N_HIDDEN})")
    before, after = _loss(hv0, w[0], b[0], i["va_Y"]), _loss(hv1, w[-1], b[-1], i["va_Y"])
    expect(math.isfinite(before) and math.isfinite(after) and after < before - MARGIN,
           f"{STEPS} SGD steps (lr {lr:g}, batch {BATCH}) of C + Linear/BatchNorm1d/Tanh/Linear "
           f"from the grader's start weights should lower the val loss (computed by the grader "
           f"from your layers' outputs) by more than {MARGIN}: before {before:.4f}, after "
           f"{after:.4f}")
    return f"val loss {before:.4f} -> {after:.4f} in {STEPS} verified SGD steps"
