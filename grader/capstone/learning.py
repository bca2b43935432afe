"""Architect track: was the learning done in the refereed steps? (held-out losses computed
here at the referee's probes and at the end of each run, against the step losses the job
committed, its untimed turns, and the baseline's losses at the same steps)."""

from __future__ import annotations

import numpy as np

from grader.capstone import measure, trusted, verify
from grader.capstone.inputs import hidden
from grader.checks import CheckFailed, Ctx, as_float, expect


def _cfg_v(ctx: Ctx) -> int:
    return int(ctx.inputs["cfg"][0])


def losses_of(ctx: Ctx, out: dict[str, np.ndarray], who: str, key: str = "val_logits"
              ) -> list[float]:
    """Held-out loss per seed (or probe), computed here from the returned logits and the
    targets only the trusted side holds."""
    got = as_float(out[key], f"{who} logits")
    n = len(ctx.inputs["b_seeds"])
    expect(len(got) == n, f"{who}: {len(got)} sets of held-out logits, expected {n} (one per "
                          "seed)")
    return verify.heldout_losses(got, hidden(ctx.trusted, "b_val_y"), _cfg_v(ctx), who)


def pairing(ctx: Ctx) -> trusted.Pairing:
    """This grading's refereed pairing (the architect track always has one)."""
    if ctx.runtime.paired is None:
        raise RuntimeError("the architect track was graded without its baseline pairing")
    return ctx.runtime.paired


def baseline(ctx: Ctx) -> trusted.Baseline | None:
    """The vanilla job's result when it ran through (None otherwise)."""
    paired = pairing(ctx)
    base = paired.baseline()
    ok = base is not None and not base.error and paired.referee.violation is None
    return base if ok else None


def step_points(ctx: Ctx, losses: list[float]) -> str:
    """The committed step losses agree with the held-out losses computed here at the probe
    the referee picked in each run and at the end of each run."""
    ref = pairing(ctx).referee
    R, S = len(ctx.inputs["b_seeds"]), int(ctx.inputs["b_train_x"].shape[0])
    out = ctx.out("bench")
    loss = verify.committed(ref.losses["a"], R, S, "your benchmark")
    at = np.asarray(out["probe_at"]).reshape(-1, 2).tolist()
    expect(at == [[r, s] for r, s in enumerate(ref.probes)],
           f"your benchmark answered held-out probes at {at}, the grader asked at "
           f"{list(enumerate(ref.probes))}")
    probes = losses_of(ctx, out, "your model", "probe_logits")
    points = [(r, s, ce) for r, (s, ce) in enumerate(zip(ref.probes, probes, strict=True))]
    return verify.check_step_losses(loss, points + [(r, S - 1, ce) for r, ce in
                                                    enumerate(losses)], "your benchmark")


def learnt_in_steps(ctx: Ctx, losses: list[float]) -> str:
    """The learning happened in the refereed steps: committed step losses agree with the
    held-out probes; untimed turns within the baseline's bound; held-out loss plausible."""
    ref = pairing(ctx).referee
    if not ref.engaged:
        raise CheckFailed("not judged: the grader's training loop never reported its first "
                          "step on the timing channel (was it replaced or bypassed?)")
    if ref.violation is not None and ref.violation.side == "a":
        raise CheckFailed(f"not judged: {ref.violation}")
    base = baseline(ctx)
    if base is not None:  # without it, the benchmark check fails and says why
        warm = int(ctx.inputs["b_warmup"][0])
        van_t = measure.step_times(ref.durations["b"], len(losses),
                                   int(ctx.inputs["b_train_x"].shape[0]))
        verify.check_untimed(ref.untimed["a"], ref.untimed["b"], van_t[:, warm:])
    line = step_points(ctx, losses)
    if base is not None:
        _plausible(ctx, base, losses)
    return line


def _plausible(ctx: Ctx, base: trusted.Baseline, losses: list[float]) -> None:
    """Fresh models at each run's start; held-out losses at the probes and at the end not far
    below the baseline's at the same steps."""
    ref = pairing(ctx).referee
    R, S = len(losses), int(ctx.inputs["b_train_x"].shape[0])
    verify.check_fresh(verify.committed(ref.losses["a"], R, S, "your benchmark"),
                       verify.committed(ref.losses["b"], R, S, "the vanilla reference"))
    mine = losses_of(ctx, ctx.out("bench"), "your model", "probe_logits")
    van = losses_of(ctx, base.outputs, "the vanilla reference", "probe_logits")
    for r, (a, b) in enumerate(zip(mine, van, strict=True)):
        verify.check_plausible(a, b, f"after step {ref.probes[r] + 1} of run {r}")
    van_end = losses_of(ctx, base.outputs, "the vanilla reference")
    verify.check_plausible(measure.mean_std(losses)[0], measure.mean_std(van_end)[0])


