"""Week 6 — capstone: Specialist, Inspector or Architect (CAPSTONE_TRACK in the notebook).

Contract names beyond week 5's: `CAPSTONE_TRACK`; Architect: `apply_rope(x)` (x (..., T, hs),
positions 0..T-1) and/or `SwiGLU(n_embd)` (nn.Linear w1, w3: n_embd -> hidden, w2: hidden ->
n_embd) and the variant `GPTLanguageModel()`; Inspector: `get_attention_maps(model, idx)`;
Specialist: the fork's capstone/data.txt and `GPTLanguageModel()`.

Trust: the job's inputs and the trusted-only data are separate (capstone/inputs.JobInputs:
held-out targets stay here; the job's data files lack the held-out text). A step's time is
taken here, from handing the job its turn to the arrival of the report the grader's training
loop writes to a dedicated pipe (prints are never read); losses are computed here from logits
on held-out tokens the grader chose, and the step losses the job commits are checked against
them (capstone/verify.py); untimed turns and the whole run are bounded by the baseline's. The
vanilla baseline runs from trusted code in a separate sandbox job, step for step in turn with
the student's job, which is frozen meanwhile (grader/capstone/trusted.py, grader/turns.py).
Figures reach report.benchmarks only when the benchmark check (Architect) or the held-out
check (Specialist) passed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from grader.capstone import architect, inspector, specialist
from grader.capstone import curves as capstone_curves
from grader.capstone.inputs import make_job_inputs
from grader.capstone.measure import mean_std
from grader.capstone.trusted import pair
from grader.checks import CheckFailed, CheckSpec, Ctx
from grader.report import CheckResult
from grader.sandbox import Limits

WEEK = 6
TITLE = "Capstone"
ITERATION_CAP = 10
HYPERPARAMS: dict = {"batch_size": 4, "block_size": 8, "max_iters": 10, "eval_interval": 5,
                     "eval_iters": 2, "n_embd": 32, "n_head": 4, "n_layer": 2, "dropout": 0.0}
SNAPSHOTS: dict = {}
LIMITS = Limits(wall_s=180, memory_mb=3072)
TRACKS = ("specialist", "inspector", "architect")
NO_TRACK = "CAPSTONE_TRACK"

__all__ = ["make_job_inputs", "make_inputs", "pair"]


def make_inputs(rng: np.random.Generator, data_dir: Any) -> dict[str, np.ndarray]:
    """Inputs without a submission (no corpus; CPU sizes)."""
    return make_job_inputs(rng, data_dir, None, False)


def _no_track(ctx: Ctx) -> str:
    err = ctx.errors.get("track")
    if err:
        raise CheckFailed(err)
    raise CheckFailed('set CAPSTONE_TRACK = "specialist", "inspector" or "architect" in your '
                      "notebook to choose a capstone track")


def track(ctx: Ctx) -> str | None:
    """The chosen track's name, or None."""
    try:
        i = int(np.asarray(ctx.outputs["track"]["track"]).reshape(-1)[0])
    except (KeyError, ValueError, TypeError, IndexError):
        return None
    return TRACKS[i] if 0 <= i < len(TRACKS) else None


def checks_for(ctx: Ctx) -> list[CheckSpec]:
    """The chosen track's checks (100 points), or one failing check naming CAPSTONE_TRACK."""
    t = track(ctx)
    if t == "architect":
        return architect.specs(ctx)
    if t == "inspector":
        return inspector.SPECS
    if t == "specialist":
        return specialist.SPECS
    return [CheckSpec(NO_TRACK, 100, _no_track, "choose a capstone track")]


def _passed(results: list[CheckResult], name: str) -> bool:
    return any(r.name == name and r.passed for r in results)


def _row(track: str, metric: str, value: float, unit: str, device: str,
         seed: int | None = None) -> dict[str, Any]:
    return {"track": track, "metric": metric, "value": float(value), "unit": unit,
            "device": device, "seed": seed, **PROVENANCE}


# the grader's own torch (the sandbox runs the same interpreter): each row's provenance
PROVENANCE = {"torch": torch.__version__, "cuda": torch.version.cuda or ""}


UNITS = {"tokens_per_s": "tok/s", "ms_per_iter": "ms", "val_loss": "nats", "mfu": "fraction",
         "run_s": "s"}  # run_s: the whole run (every turn: build, steps, probe, held-out logits)


def _architect_rows(ctx: Ctx) -> list[dict[str, Any]]:
    r, rows = ctx.memo("benchmark", lambda: architect.run_benchmark(ctx)), []
    dev = r["device"]
    series = [(prefix + metric, UNITS[metric], values) for side, prefix in
              (("variant", ""), ("vanilla", "vanilla_")) for metric, values in r[side].items()]
    for metric, unit, values in [*series, ("speed_ratio", "x", r["ratio"]),
                                 ("whole_run_ratio", "x", r["whole_ratio"])]:
        m, s = mean_std(values)  # per seed, then mean and std (the leaderboard uses the seeds)
        rows += [_row("architect", metric, v, unit, dev, seed)
                 for v, seed in zip(values, r["seeds"], strict=True)]
        rows += [_row("architect", metric, m, unit, dev),
                 _row("architect", metric + "_std", s, unit, dev)]
    return rows


def benchmarks(ctx: Ctx, results: list[CheckResult]) -> list[dict[str, Any]]:
    """Leaderboard rows, only from a passed benchmark / held-out and training checks."""
    t = track(ctx)
    if t == "architect" and _passed(results, architect.BENCH):
        return _architect_rows(ctx)
    if t == "specialist" and all(_passed(results, n) for n in (specialist.HELDOUT,
                                                                specialist.TRAINS)):
        ce, base = ctx.memo("spec.losses", lambda: specialist.losses(ctx))
        dev = "cuda" if ctx.runtime.gpu else "cpu"
        seed = int(ctx.inputs["s_seeds"][0])
        return [_row("specialist", "val_loss", ce, "nats", dev, seed),
                _row("specialist", "unigram_loss", base, "nats", dev, seed),
                _row("specialist", "val_loss_gain", base - ce, "nats", dev, seed)]
    return []


def _architect_extras(ctx: Ctx, results: list[CheckResult]) -> dict[str, Any]:
    """The benchmark's figures per seed and both runs' step losses (only when it passed)."""
    if not _passed(results, architect.BENCH):
        return {}
    r = ctx.memo("benchmark", lambda: architect.run_benchmark(ctx))
    ref, (steps, B, T) = ctx.runtime.paired, ctx.inputs["b_train_x"].shape[:3]
    losses = {k: [] if ref is None else [float(x) for x in ref.referee.losses[k]]
              for k in ("a", "b")}
    return {"benchmark": {**r, "steps": int(steps), "tokens_per_step": int(B * T),
                          "warmup": int(ctx.inputs["b_warmup"][0]),
                          "losses": {"variant": losses["a"], "vanilla": losses["b"]}}}


def extras(ctx: Ctx, results: list[CheckResult]) -> dict[str, Any]:
    """Track, heatmaps (Inspector), samples and losses (Specialist), benchmark (Architect)."""
    t = track(ctx)
    out: dict[str, Any] = {"track": t}
    if t == "inspector":
        out |= inspector.extras(ctx)
    elif t == "specialist":
        out |= specialist.extras(ctx)
    elif t == "architect":
        out |= _architect_extras(ctx, results)
    return out | capstone_curves.extras(ctx, t)


CHECKS: list[CheckSpec] = [  # the union over tracks; checks_for picks one track's 100 points
    *specialist.SPECS, *inspector.SPECS,
    *[CheckSpec(n, p, lambda c: None) for n, p in ((architect.ROPE_REL, 15),
      (architect.ROPE_NORM, 10), (architect.NOPOS, 5), (architect.SW_FORMULA, 15),
      (architect.SW_SHAPE, 5), (architect.LEARNS, 20), (architect.BENCH, 30))],
]


from grader.weeks import InputRequest, Inputs, JobSpec, Week  # noqa: E402 (beside WEEK_SPEC)


def _job_inputs(req: InputRequest) -> Inputs:
    """The job's arrays, the held-out targets kept back, and the only files the job reads."""
    ji = make_job_inputs(req.rng, req.data_dir, req.source, req.on_gpu)
    return Inputs(sandbox=dict(ji), trusted=ji.trusted, files=ji.files)


WEEK_SPEC = Week(  # the one interface grader.grade reads (grader/weeks/__init__.py)
    week=WEEK, title=TITLE, limits=LIMITS,
    job=JobSpec(f"week{WEEK}", ITERATION_CAP, HYPERPARAMS, SNAPSHOTS),
    make_inputs=_job_inputs, checks=CHECKS, checks_for=checks_for, pair=pair,
    benchmarks=benchmarks, extras=extras)
