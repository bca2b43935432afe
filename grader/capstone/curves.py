"""Week 6's training curves: held-out loss (computed here from the returned logits and the
targets only the trusted side holds) against the reference trained from the same start.

Architect: the student's variant at the referee's probe of each seed and at the end, against
the vanilla baseline job (the reference GPT, same seeds, same batches, same AdamW) at the same
steps. Specialist: the student's model before, half-way and after the grader's run on their
corpus, against the reference GPT trained here through the same loop from the same seed (CPU
profile only: on a GPU the trusted process would pay the whole run again).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from grader import curves
from grader.capstone import verify
from grader.capstone.inputs import hidden
from grader.capstone.learning import baseline, losses_of, pairing
from grader.checks import CheckFailed, Ctx, on_student_data
from grader.probes import capstone_common
from reference.gpt import GPTConfig, GPTLanguageModel

HELDOUT = "held-out loss (grader's held-out text)"
ARCH_TOL = 0.15  # nats: within this, the variant falls like the vanilla GPT
SPEC_TOL = 1e-3  # the lecture GPT from the same seed is the same run


def architect(ctx: Ctx) -> list[dict[str, Any]]:
    """Your variant's held-out loss at the refereed probes and the end, against vanilla's."""
    ref, base = pairing(ctx).referee, baseline(ctx)
    if base is None:
        return []
    S = int(ctx.inputs["b_train_x"].shape[0])
    mine_p = losses_of(ctx, ctx.out("bench"), "your model", "probe_logits")
    van_p = losses_of(ctx, base.outputs, "the vanilla reference", "probe_logits")
    mine_e = losses_of(ctx, ctx.out("bench"), "your model")
    van_e = losses_of(ctx, base.outputs, "the vanilla reference")
    pts = sorted(zip((s + 1 for s in ref.probes), mine_p, van_p, strict=True))
    pts.append((S, float(np.mean(mine_e)), float(np.mean(van_e))))
    label = (f"{HELDOUT}: your variant vs the vanilla GPT, same seeds and batches (one probe "
             f"per seed, then the mean of {len(mine_e)} seeds at the end)")
    return [curves.curve(label, [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts],
                         atol=ARCH_TOL, who="the vanilla GPT's", variant=True)]


def reference_run(inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The reference GPT through the specialist's loop: held-out logits at the probes, end."""
    V, T, C, H, L = (int(v) for v in inputs["s_cfg"])
    cfg = GPTConfig(vocab_size=V, block_size=T, n_embd=C, n_head=H, n_layer=L, dropout=0.0)
    with curves.one_thread(), torch.random.fork_rng():  # the grader's RNG left as it was
        arrays, _ = capstone_common.train_runs(
            lambda: GPTLanguageModel(cfg), inputs,
            capstone_common.Quiet(inputs["s_probes"].tolist()), "s_")
    return np.concatenate([arrays["probe_logits"].numpy(), arrays["val_logits"].numpy()])


def specialist(ctx: Ctx) -> list[dict[str, Any]]:
    """Your model's held-out loss before, half-way and after training, against the lecture
    GPT's from the same seed on the same batches."""
    if ctx.runtime.gpu or int(ctx.inputs["s_error"][0]) != 0:
        return []
    y, V = hidden(ctx.trusted, "s_val_y"), len(ctx.inputs["s_vocab"])
    got = np.concatenate([np.asarray(ctx.arr("specialist", "probe_logits"), np.float64),
                          np.asarray(ctx.arr("specialist", "val_logits"), np.float64)])
    mine = verify.heldout_losses(got, y, V, "your model")
    want = verify.heldout_losses(ctx.memo("spec.ref_run", lambda: reference_run(ctx.inputs)),
                                 y, V, "the reference")
    steps = [int(s) + 1 for s in ctx.inputs["s_probes"]] + [int(ctx.inputs["s_train_x"].shape[0])]
    if len(mine) != len(steps):
        return []
    return [curves.curve(f"{HELDOUT}: your model vs the lecture GPT from the same seed",
                         steps, mine, want, rtol=SPEC_TOL, atol=SPEC_TOL)]


def extras(ctx: Ctx, track: str | None) -> dict[str, Any]:
    """report.extras["curves"] for the architect and specialist tracks (none when the job
    returned nothing usable)."""
    fn = {"architect": architect, "specialist": specialist}.get(track or "")
    if fn is None:
        return {}
    try:
        with on_student_data("training curve"):
            got = fn(ctx)
    except CheckFailed:  # on_student_data turns anything raised (no pairing, …) into this
        return {}
    return {"curves": got} if got else {}
