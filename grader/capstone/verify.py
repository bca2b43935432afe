"""Trusted-side judges of what a week-6 job claims about its own training.

Every number here is recomputed from arrays against data only the trusted side holds:
held-out losses from the job's logits and the hidden targets, the committed step losses
against those held-out losses, untimed turns against the baseline's, samples against the
logits that are said to have produced them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from grader.checks import CheckFailed, as_float, expect
from reference.capstone import cross_entropy

LOSS_TOL = 0.75  # nats: |mean committed step loss next to a probe − held-out loss there|
NEAR = 3  # committed steps averaged next to a probe
UNTIMED_FACTOR = 4.0  # an untimed turn may take this x the baseline's same turn ...
UNTIMED_STEPS = 5.0  # ... plus this many of the baseline's median step times (gross deferral)
WHOLE_RUN_GAIN = 1.2  # timed-step speed ratio / whole-run speed ratio above this: hidden work
IMPLAUSIBLE = 1.0  # nats below the vanilla baseline's held-out loss at the same step
FRESH_TOL = 0.5  # nats: a run's first step loss below the baseline's by more: not a fresh model
SAMPLE_Z = 5.0  # sampling-consistency z-score limit


def heldout_losses(logits: np.ndarray, y: np.ndarray, V: int, who: str) -> list[float]:
    """Cross-entropy of each (N, T, V) block of logits against the hidden targets y (N, T)."""
    lg = as_float(logits, f"{who} held-out logits")
    want = (*y.shape, V)
    expect(lg.ndim == y.ndim + 2 and tuple(lg.shape[1:]) == want,
           f"{who}: held-out logits of shape {lg.shape}, expected (runs/probes, *{want})")
    expect(bool(np.all(np.isfinite(lg))), f"{who} returned NaN or infinite logits on the "
                                           "grader's held-out tokens")
    return [cross_entropy(torch.from_numpy(x), torch.from_numpy(y)) for x in lg]


def committed(losses: Sequence[float] | np.ndarray, runs: int, steps: int, who: str) -> np.ndarray:
    """The step losses as a finite (runs, steps) array, or fail."""
    a = np.asarray(losses, dtype=np.float64)
    expect(a.size == runs * steps and bool(np.all(np.isfinite(a))),
           f"{who}: expected {runs * steps} finite step losses, got {a.size} "
           f"(NaN/inf: {int(np.sum(~np.isfinite(a)))})")
    return a.reshape(runs, steps)


def near(loss: np.ndarray, step: int) -> float:
    """The committed training loss of the model as it was after `step` (-1: before any)."""
    lo = min(max(step + 1, 0), loss.size - NEAR)
    return float(loss[lo:lo + NEAR].mean())


def check_step_losses(loss: np.ndarray, points: list[tuple[int, int, float]], who: str) -> str:
    """Each (run, step, held-out loss) point agrees with the committed step losses there."""
    worst = 0.0
    for run, step, ce in points:
        d = near(loss[run], step) - ce
        worst = max(worst, abs(d))
        expect(abs(d) <= LOSS_TOL,
               f"{who}: the step losses reported after step {step + 1} of run {run} "
               f"({near(loss[run], step):.3f}) disagree with the held-out loss the grader "
               f"computed from your model's logits at that point ({ce:.3f}; tolerance "
               f"{LOSS_TOL}): the step losses must be the real losses of the steps as they "
               "run; losses the model does not have, or training done outside the grader's "
               "steps, earn nothing", maxdiff=abs(d))
    n = f"{len(points)} held-out probe" + ("s" if len(points) != 1 else "")
    return f"step losses agree with {n} (max gap {worst:.3f} nats)"


def check_not_below(loss: np.ndarray, step: int, ce: float, who: str) -> None:
    """The held-out loss is not far below the training loss the steps reported there (a held-out
    slice may be harder than the rest of a corpus, never much easier for a model of it)."""
    train = near(loss[0], step)
    expect(ce >= train - LOSS_TOL,
           f"{who}: the held-out loss the grader computed from your model's logits ({ce:.3f}) is "
           f"far below the training loss your steps reported ({train:.3f}; tolerance "
           f"{LOSS_TOL}): the held-out text is not yours to read")


def check_untimed(mine: list[tuple[float, str]], base: list[tuple[float, str]],
                  base_steps: np.ndarray) -> None:
    """Every untimed turn of the student's job within the bound set by the baseline's."""
    slack = UNTIMED_STEPS * float(np.median(base_steps))
    expect(len(mine) == len(base), "the untimed turns of your job and the baseline's differ")
    for (d, what), (b, _) in zip(mine, base, strict=True):
        limit = UNTIMED_FACTOR * b + slack
        expect(d <= limit,
               f"your job took {d * 1e3:.1f} ms in the untimed turn {what!r}, the "
               f"vanilla baseline {b * 1e3:.1f} ms (limit {limit * 1e3:.1f} ms): work moved out "
               "of the timed steps (e.g. training while the held-out logits are computed) does "
               "not count", seconds=d, limit=limit)


def check_whole_run(step_ratio: float, whole_ratio: float) -> None:
    """The speed-up over the timed steps is not bought with time spent elsewhere in the run."""
    expect(step_ratio <= WHOLE_RUN_GAIN * whole_ratio,
           f"no benchmark: your variant is {step_ratio:.2f}x vanilla over the timed steps but "
           f"only {whole_ratio:.2f}x over the whole run (every turn it was given): work moved "
           "out of the timed steps does not count")


def check_plausible(mine: float, vanilla: float, where: str = "after the same steps") -> None:
    """A held-out loss far below the baseline's at the same point is not a model's."""
    expect(mine >= vanilla - IMPLAUSIBLE,
           f"held-out loss {mine:.4f} is implausibly far below the vanilla GPT's {vanilla:.4f} "
           f"{where} (more than {IMPLAUSIBLE} nats): the held-out text is not yours to read, "
           "and a model trained before its run began earns nothing")


def check_fresh(mine: np.ndarray, vanilla: np.ndarray) -> None:
    """Each run's first step loss (a model just built from the grader's seed) is an
    untrained model's: not far below the baseline's fresh model's."""
    for r, (a, b) in enumerate(zip(mine[:, 0], vanilla[:, 0], strict=True)):
        expect(a >= b - FRESH_TOL,
               f"the loss of the first step of run {r} is {a:.3f}, the vanilla GPT's fresh "
               f"model's {b:.3f}: each run must start from a model built in its own turn "
               "(a model trained before its run began earns nothing)")


def sampling_z(samples: np.ndarray, logits: np.ndarray, start: int) -> float:
    """z-score of Σ(−log p(sampled) − entropy) over every sampled position: ≈ N(0, 1) when
    each token was drawn from softmax(logits); large for argmax, random or unrelated tokens."""
    lg = torch.from_numpy(as_float(logits, "sample logits"))  # (B, n, V)
    tok = torch.from_numpy(np.asarray(samples[:, start:], dtype=np.int64))  # (B, n)
    expect(tuple(lg.shape[:2]) == tuple(tok.shape) and bool(torch.isfinite(lg).all()),
           f"sample logits of shape {tuple(lg.shape)}, expected {(*tok.shape, 'V')} finite")
    logp = torch.log_softmax(lg, dim=-1)
    p = logp.exp()
    ent = -(p * logp).sum(-1)  # (B, n)
    nll = -logp.gather(-1, tok[..., None])[..., 0]  # (B, n)
    var = (p * logp ** 2).sum(-1) - ent ** 2  # Var(−log p(x)) under x ~ p
    total = float(var.sum())
    return float((nll - ent).sum()) / math.sqrt(max(total, 1e-12))


def fail(message: str) -> None:
    """Raise the student-facing failure."""
    raise CheckFailed(message)
