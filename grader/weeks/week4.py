"""Week 4 — manual backprop (makemore part 4) and WaveNet (makemore part 5).

Backprop: the lecture has no backward function, so the probe reads the exercise's tensors as
they were right after Exercise 1 (snapshot "backprop": from the first statement after which the
parameters, Xb, Yb and all 26 gradients exist, computed from those parameters, followed through
in-place fills such as the dC loop; if they never all exist together, snapshot
"backprop_partial", from dlogprobs on, until the parameters or the batch are rebound; rules in
grader/snapshots.py). The reference gradients are recomputed here by autograd, in float64,
from the student's parameters and batch.

Decisions:
- The 26 gradients are judged in four groups. A gradient passes when it matches autograd; one
  that differs only because a gradient it is computed from is wrong (its own step, recomputed
  from the student's upstream values, is right) is reported but does not fail its group. So a
  bug fails the group of the step where it is made, not every group downstream of it. That
  credit needs a non-degenerate upstream (week4_backprop.degenerate): zeros are the "right step"
  from zeros and earn nothing.
- Every point is earned on inputs the notebook could not foresee: a gradient counts only if it is
  also right when the student's Exercise 1 statements are re-run on fresh parameters and a fresh
  batch (grader-chosen, regenerated here from the seed; forward tensors without .grad), so a
  `.grad` copy scores nothing, and the static flag tells the staff (week4_backprop).
- The parameter count is asked at a grader-chosen (vocab, n_embd, n_hidden); the lecture's
  76,579 appears only in messages.
- Tolerance: |got - want| <= rtol * (|want| + max|want|) + floor, rtol 1e-4 for float32 results
  (the lecture's dtype), 1e-6 for float64; the floor (1e-7 / 1e-10) covers gradients that are
  zero in theory (db1, dlogit_maxes). "exact" is bit-equality with float32 autograd (the cmp).
- Bonus (0 points): Exercise 2's dlogits, read in snapshot "fused_ce" (after the statement
  that defines hpreact_fast, Exercise 3's forward); the last dhprebn of the notebook (Exercise 3, or
  the last step of Exercise 4's loop, whose bngain has been updated since) must be the batchnorm
  backward of the hprebn and dhpreact beside it, up to a per-column gain that is the bngain.
- WaveNet: the student's classes are run on grader sizes and float64 weights loaded by order and
  shape. Top-level training loops are capped at 50 steps; loops over a size, such as
  Exercise 1's `for k in range(Xb.shape[0])`, keep their length (grader/transform.py).
"""

from __future__ import annotations

import numpy as np
import torch

from grader.checks import CheckFailed, CheckSpec, Ctx, as_float, expect, expect_close
from grader.sandbox import Limits
from grader.weeks import week4_backprop as wb
from reference import backprop as bp
from reference import wavenet as wn

WEEK = 4
TITLE = "manual backprop and WaveNet (makemore parts 4-5)"
ITERATION_CAP = 50
HYPERPARAMS: dict = {}
BACKPROP_NAMES = [*bp.PARAM_NAMES, "Xb", "Yb", *bp.GRAD_NAMES]
SNAPSHOTS = {"backprop": BACKPROP_NAMES,
             "fused_ce": [*bp.PARAM_NAMES, "Xb", "Yb", "dlogits", "hpreact_fast"],
             "backprop_partial": [*bp.PARAM_NAMES, "Xb", "Yb", "dlogprobs"]}
LIMITS = Limits(wall_s=180, memory_mb=4096)
VOCAB = 27
LECTURE_PARAMS = sum(p.nelement() for p in wn.hierarchical(27, 24, 128).parameters())  # 76,579
GROUPS = {
    "cross-entropy backward": bp.GRAD_NAMES[:8],
    "second layer and tanh backward": bp.GRAD_NAMES[8:12],
    "batchnorm backward": bp.GRAD_NAMES[12:21],
    "first layer and embedding backward": bp.GRAD_NAMES[21:],
}
LAYER_NAMES = ["Embedding", *["FlattenConsecutive", "Linear", "BatchNorm1d", "Tanh"] * 3, "Linear"]


def make_job_inputs(rng: np.random.Generator, data_dir, source, on_gpu: bool
                    ) -> wb.JobInputs:
    """make_inputs plus Exercise 1's re-run (seed and the student's statements)."""
    cells = source.cells if source is not None else ()  # no submission: nothing to re-run
    return wb.make_job_inputs(make_inputs(rng, data_dir), rng, cells)


def make_inputs(rng: np.random.Generator, data_dir) -> dict[str, np.ndarray]:
    """WaveNet sizes, weights and batches, fresh per submission."""
    E, H, B = int(rng.integers(3, 7)), int(rng.integers(5, 10)), int(rng.integers(4, 8))
    ins = {"wn_dims": np.array([VOCAB, E, H]),
           "wn_X": rng.integers(0, VOCAB, (B, 8)), "wn_Y": rng.integers(0, VOCAB, (B,))}
    ws = [rng.normal(size=(VOCAB, E))]
    for fan_in in (2 * E, 2 * H, 2 * H):
        ws += [rng.normal(size=(fan_in, H)) / fan_in**0.5,
               1 + 0.2 * rng.normal(size=H), 0.2 * rng.normal(size=H)]
    ws += [rng.normal(size=(H, VOCAB)) / H**0.5, 0.1 * rng.normal(size=VOCAB)]
    ins.update({f"wn_p{i:02d}": w for i, w in enumerate(ws)})
    ins["pc_dims"] = np.array([int(rng.integers(5, 60)), int(rng.integers(2, 40)),
                               int(rng.integers(3, 200))])
    C, n = int(rng.integers(2, 6)), int(rng.choice([2, 4]))
    ins.update({"fl_x": rng.normal(size=(B, 8, C)), "fl_n": np.array([n])})
    T = int(rng.integers(3, 7))
    shift = rng.normal(size=(1, T, H)) * 2  # time steps differ, so the reduced dims matter
    ins.update({"bn_x": rng.normal(size=(B, T, H)) * 1.5 + shift,
                "bn_p00": 1 + 0.2 * rng.normal(size=H), "bn_p01": 0.2 * rng.normal(size=H)})
    return ins


# ---------------------------------------------------------------- backprop (Exercise 1)

def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(as_float(a, "value"))


Batch = tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]


def _inputs(out: dict[str, np.ndarray]) -> Batch:
    """The student's parameters (float64, lecture shapes) and batch, validated."""
    p = {k: _t(out[k]) for k in bp.PARAM_NAMES}
    Xb, Yb = np.asarray(out["Xb"]), np.asarray(out["Yb"])
    expect(Xb.dtype.kind in "iu" and Yb.dtype.kind in "iu", "Xb and Yb should hold integers")
    expect(p["C"].dim() == 2 and Xb.ndim == 2 and Yb.ndim == 1 and len(Xb) == len(Yb) >= 2,
           f"unexpected shapes: C {tuple(p['C'].shape)}, Xb {Xb.shape}, Yb {Yb.shape}")
    V, E = p["C"].shape
    n, T = Xb.shape
    H = p["W1"].shape[-1] if p["W1"].dim() == 2 else -1
    V2 = p["W2"].shape[-1] if p["W2"].dim() == 2 else -1
    ok = (tuple(p["W1"].shape) == (T * E, H) and tuple(p["W2"].shape) == (H, V2)
          and p["b1"].numel() == H and p["b2"].numel() == V2
          and p["bngain"].numel() == H and p["bnbias"].numel() == H)
    expect(ok, "C, W1, b1, W2, b2, bngain, bnbias and Xb do not fit together as in the lecture: "
           + ", ".join(f"{k} {tuple(v.shape)}" for k, v in p.items()) + f", Xb {Xb.shape}")
    expect(bool(((Xb >= 0) & (Xb < V)).all() and ((Yb >= 0) & (Yb < V2)).all()),
           "Xb or Yb holds an index outside the vocabulary")
    expect(all(bool(torch.isfinite(v).all()) for v in p.values()), "parameters are not finite")
    p["b1"], p["b2"] = p["b1"].reshape(H), p["b2"].reshape(V2)
    p["bngain"], p["bnbias"] = p["bngain"].reshape(1, H), p["bnbias"].reshape(1, H)
    return p, torch.from_numpy(Xb.astype(np.int64)), torch.from_numpy(Yb.astype(np.int64))


def _tol(raw: np.ndarray) -> tuple[float, float]:
    return (1e-6, 1e-10) if raw.dtype == np.float64 else (1e-4, 1e-7)


def _close(g: torch.Tensor, w: torch.Tensor, raw: np.ndarray) -> bool:
    rtol, floor = _tol(raw)
    scale = float(w.abs().max()) if w.numel() else 0.0
    return bool(((g - w).abs() <= rtol * (w.abs() + scale) + floor).all())


def _line(name: str, raw: np.ndarray, g: torch.Tensor, w: torch.Tensor, w32: torch.Tensor) -> str:
    exact = np.array_equal(np.asarray(raw).reshape(w32.shape), w32.numpy())
    return (f"{name[1:]:15s} | exact: {exact!s:5} | approximate: {_close(g, w, raw)!s:5} | "
            f"maxdiff: {float((g - w).abs().max()):.3g}")


def _run(grads: dict[str, np.ndarray], p: dict[str, torch.Tensor], Xb: torch.Tensor,
         Yb: torch.Tensor) -> dict:
    """One set of the student's gradients against autograd on its parameters and batch."""
    want = bp.autograd(p, Xb, Yb)
    got, bad = {}, {}
    for name in bp.GRAD_NAMES:
        if name not in grads:
            bad[name] = f"{name} is not defined (or is None) in your notebook"
            continue
        raw, shape = np.asarray(grads[name]), tuple(want[name].shape)
        if raw.dtype.kind not in "biuf" or raw.size != want[name].numel():
            bad[name] = f"{name}: shape {raw.shape} but expected {shape}"
        elif not np.all(np.isfinite(raw)):
            bad[name] = f"{name}: holds inf or nan"
        else:
            got[name] = _t(raw).reshape(shape)
    upstream = {k: got.get(k, want[k]) for k in bp.GRAD_NAMES}
    local = bp.backward(p, bp.forward(p, Xb, Yb), Xb, Yb, upstream=upstream)
    return {"raw": grads, "want": want, "got": got, "bad": bad, "local": local}


def _backprop(ctx: Ctx) -> dict:
    partial = "backprop" not in ctx.outputs
    out = ctx.out("backprop_partial") if partial else ctx.outputs["backprop"]
    p, Xb, Yb = _inputs(out)
    first = _run(out, p, Xb, Yb)
    first["want32"] = bp.autograd({k: v.float() for k, v in p.items()}, Xb, Yb)
    shapes = {k: tuple(np.asarray(out[k]).shape) for k in (*bp.PARAM_NAMES, "Xb", "Yb")}
    fp, fX, fY = wb.fresh_reference(int(ctx.inputs["bp_seed"][0]), shapes)
    fresh = {k: v.numpy() for k, v in fp.items()} | {"Xb": fX.numpy(), "Yb": fY.numpy()}
    probe = "rerun_partial" if partial else "rerun"
    rr = ctx.outputs.get(probe, {})
    again = _run({k[2:]: v for k, v in rr.items() if k.startswith("r_")}, *_inputs(fresh))
    if probe not in ctx.outputs:  # say why nothing came back
        why = ctx.errors.get(probe, "no result was produced")[-600:]
        again["bad"] = {k: f"{k}: the re-run failed: {why}" for k in bp.GRAD_NAMES}
    return {"first": first, "again": again, "out": out}


def _verdict(r: dict, name: str) -> tuple[str, str]:
    """("pass" | "inherited" | "fail", message) for one gradient of one run."""
    if name in r["bad"]:
        return "fail", r["bad"][name]
    raw, g, w = r["raw"][name], r["got"][name], r["want"][name]
    if _close(g, w, raw):
        return "pass", ""
    diff = float((g - w).abs().max())
    if _close(g, r["local"][name], raw):
        off = wb.degenerate(name, r["got"], r["want"], lambda a, b: _close(a, b, raw))
        if not off:
            return "inherited", (f"{name} differs from autograd (max abs diff {diff:.3g}) only "
                                 "because a gradient it is computed from is wrong; its own step "
                                 "is right")
        return "fail", (f"{name}: differs from autograd (max abs diff {diff:.3g}); it is the "
                        f"right step from {', '.join(off)}, but that is zero or far off in size, "
                        "so the step earns nothing on its own")
    return "fail", (f"{name}: differs from autograd (max abs diff {diff:.3g}), and is not "
                    "the right backward step from your own upstream gradients either "
                    f"(max abs diff {float((g - r['local'][name]).abs().max()):.3g})")


def _group(names: tuple[str, ...]):
    def check(ctx: Ctx) -> str:
        r = ctx.memo("backprop", lambda: _backprop(ctx))
        first, again = r["first"], r["again"]
        lines: list[str] = []
        fails: list[str] = []
        inherited: list[str] = []
        for name in names:
            kind, msg = _verdict(first, name)
            if name not in first["bad"]:
                lines.append(_line(name, first["raw"][name], first["got"][name],
                                   first["want"][name], first["want32"][name]))
            if kind == "pass" or kind == "inherited":
                kind2, msg2 = _verdict(again, name)
                if kind2 == "fail":
                    kind, msg = "fail", (f"{name}: right on your own tensors, but not when the "
                                         "grader re-ran your Exercise 1 code on fresh parameters "
                                         "and a fresh batch (forward tensors without .grad, as "
                                         "in a manual backward pass; Exercise 1 may read only "
                                         "the forward pass's tensors, the parameters and the "
                                         "batch): " + msg2)
            (fails if kind == "fail" else inherited if kind == "inherited" else []).append(msg)
        report = "\n".join(lines + inherited)
        if fails:
            note = wb.staff_note(ctx.trusted)
            extra = {"staff_note": note} if note else {}
            raise CheckFailed("\n".join(fails) + ("\n" + report if report else ""), **extra)
        return report
    return check


# ---------------------------------------------------------------- bonus: fused backward

def _fused_ce(ctx: Ctx) -> str:
    out = ctx.out("fused_ce")
    p, Xb, Yb = _inputs(out)
    want = bp.fused_dlogits(bp.forward(p, Xb, Yb)["logits"], Yb)
    rtol, floor = _tol(np.asarray(out["dlogits"]))
    return expect_close(out["dlogits"], want.numpy(), "dlogits (Exercise 2, fused)",
                        rtol=rtol, atol=rtol * float(want.abs().max()) + floor, reshape=True)


def _fused_bn(ctx: Ctx) -> str:
    out = ctx.out("fused_bn")
    hprebn, dhpreact, dhprebn = (_t(out[k]) for k in ("hprebn", "dhpreact", "dhprebn"))
    expect(hprebn.dim() == 2 and hprebn.shape[0] >= 2
           and hprebn.shape == dhpreact.shape and dhprebn.numel() == hprebn.numel(),
           f"hprebn {tuple(hprebn.shape)}, dhpreact {tuple(dhpreact.shape)} and dhprebn "
           f"{tuple(dhprebn.shape)} should all be (batch, n_hidden)")
    dhprebn = dhprebn.reshape(hprebn.shape)
    unit = bp.fused_bn_backward(hprebn, torch.ones(1, hprebn.shape[1], dtype=torch.float64),
                                dhpreact)
    norm2 = (unit * unit).sum(0)
    live = norm2 > 1e-20
    gain = torch.where(live, (dhprebn * unit).sum(0) / norm2.clamp_min(1e-30), 0.0)
    bngain = _t(out["bngain"]).reshape(-1)
    expect(bngain.numel() == gain.numel(), f"bngain has {bngain.numel()} entries, expected "
           f"{gain.numel()}")
    off = float(((gain - bngain).abs() * live).max())
    expect(off <= 0.05 + 0.05 * float(bngain.abs().max()),
           f"dhprebn is not scaled by bngain (per-column factor off by up to {off:.3g})")
    rtol, floor = _tol(np.asarray(out["dhprebn"]))
    want = gain * unit
    return expect_close(dhprebn.numpy(), want.numpy(), "dhprebn (the notebook's last one)",
                        rtol=rtol, atol=rtol * float(want.abs().max()) + floor)


# ---------------------------------------------------------------- WaveNet (part 5)

def _wn_ref(ctx: Ctx) -> dict:
    def compute() -> dict:
        ins = ctx.inputs
        model = wn.hierarchical(*(int(v) for v in ins["wn_dims"]))
        n = len(model.parameters())
        wn.load_parameters(model, [torch.from_numpy(ins[f"wn_p{i:02d}"]) for i in range(n)])
        X, Y = torch.from_numpy(ins["wn_X"]), torch.from_numpy(ins["wn_Y"])
        logits, loss, grads = wn.loss_and_grads(model, X, Y)
        return {"shapes": wn.layer_shapes(model, X), "logits": logits, "loss": loss,
                "grads": grads}
    return ctx.memo("wn", compute)


def _wn_tol(a: np.ndarray) -> float:
    return 1e-6 if np.asarray(a).dtype == np.float64 else 1e-4


def _embedding(ctx: Ctx) -> str:
    out = ctx.arr("embedding", "out")
    want = ctx.inputs["wn_p00"][ctx.inputs["wn_X"]]
    return expect_close(out, want, "Embedding output", _wn_tol(out), _wn_tol(out))


def _flatten(ctx: Ctx) -> str:
    x, n = ctx.inputs["fl_x"], int(ctx.inputs["fl_n"][0])
    B, T, C = x.shape
    out, last = ctx.arr("flatten", "out"), ctx.arr("flatten", "out_last")
    expect_close(out, x.reshape(B, T // n, C * n), f"FlattenConsecutive({n}) on {x.shape}")
    return expect_close(last, x[:, :n].reshape(B, n * C),
                        f"FlattenConsecutive({n}) on {(B, n, C)} (squeezed to 2-D)")


def _batchnorm(ctx: Ctx) -> str:
    x, g, b = (torch.from_numpy(ctx.inputs[k]) for k in ("bn_x", "bn_p00", "bn_p01"))
    bn = wn.BatchNorm1d(x.shape[-1])
    wn.load_parameters(bn, [g, b])
    want = bn(x)
    H = x.shape[-1]
    msgs = [expect_close(ctx.arr("batchnorm", "out"), want.numpy(),
                         "training output (statistics over dims (0, 1))")]
    for key in ("running_mean", "running_var"):
        msgs.append(expect_close(ctx.arr("batchnorm", key), getattr(bn, key).reshape(H).numpy(),
                                 key, reshape=True))
    bn.training = False
    msgs.append(expect_close(ctx.arr("batchnorm", "out_eval"), bn(x).numpy(), "eval output"))
    return "\n".join(msgs)


def _hierarchy(ctx: Ctx) -> str:
    want = _wn_ref(ctx)["shapes"]
    got = np.asarray(ctx.arr("hierarchy", "shapes"))
    expect(got.ndim == 2 and len(got) == len(want),
           f"expected {len(want)} layers, got shapes {got.tolist()}")
    for i, (row, w) in enumerate(zip(got, want, strict=True)):
        g = tuple(int(v) for v in row if v >= 0)
        expect(g == w, f"layer {i} ({LAYER_NAMES[i]}) outputs shape {g}, expected {w}")
    return " -> ".join(str(w) for w in want)


def _param_count(ctx: Ctx) -> str:
    vocab, n_embd, n_hidden = (int(v) for v in ctx.inputs["pc_dims"])
    want = sum(p.nelement() for p in wn.hierarchical(vocab, n_embd, n_hidden).parameters())
    n = int(np.asarray(ctx.arr("param_count", "n")).reshape(-1)[0])
    expect(n == want, f"the hierarchical network with vocab_size {vocab}, n_embd {n_embd} and "
           f"n_hidden {n_hidden} has {n:,} parameters, expected {want:,} (the lecture's, with "
           f"vocab 27, n_embd 24 and n_hidden 128, has {LECTURE_PARAMS:,})")
    return f"{n:,} parameters at a grader-chosen size (the lecture's: {LECTURE_PARAMS:,})"


def _wavenet(ctx: Ctx) -> str:
    ref, out = _wn_ref(ctx), ctx.out("wavenet")
    tol = _wn_tol(ctx.arr("wavenet", "logits"))
    msgs = [expect_close(out["logits"], ref["logits"].numpy(), "logits", tol, tol, reshape=True),
            expect_close(out["loss"], ref["loss"].numpy(), "loss", tol, tol, reshape=True)]
    for i, w in enumerate(ref["grads"]):
        w = w.numpy()
        atol = tol * float(np.abs(w).max())
        msgs.append(expect_close(ctx.arr("wavenet", f"g{i:02d}"), w, f"gradient of parameter {i}",
                                 tol, atol, reshape=True))
    return "\n".join(msgs)


CHECKS = [
    *[CheckSpec(name, pts, _group(GROUPS[name]), f"{GROUPS[name][0]} … {GROUPS[name][-1]}")
      for name, pts in (("cross-entropy backward", 16), ("second layer and tanh backward", 10),
                        ("batchnorm backward", 18), ("first layer and embedding backward", 16))],
    CheckSpec("fused cross-entropy backward", 0, _fused_ce,
              "Exercise 2: dlogits in one go", bonus=True),
    CheckSpec("fused batchnorm backward", 0, _fused_bn,
              "Exercise 3: dhprebn in one go", bonus=True),
    CheckSpec("Embedding", 5, _embedding, "(B, T) indices -> (B, T, n_embd)"),
    CheckSpec("FlattenConsecutive", 7, _flatten, "(B, T, C) -> (B, T//n, C*n), squeezed at T//n=1"),
    CheckSpec("BatchNorm1d on 3-D input", 8, _batchnorm, "statistics over dims (0, 1)"),
    CheckSpec("shapes through the hierarchy", 6, _hierarchy, "every layer's output shape"),
    CheckSpec("parameter count", 4, _param_count, "a grader-chosen size (lecture: 76,579)"),
    CheckSpec("WaveNet forward/backward", 10, _wavenet,
              "logits, loss and gradients with the grader's weights"),
]


from grader.weeks import InputRequest, Inputs, JobSpec, Week  # noqa: E402 (beside WEEK_SPEC)


def _job_inputs(req: InputRequest) -> Inputs:
    """The sandbox's arrays (with Exercise 1's re-run) and the staff flags, kept back."""
    ji = make_job_inputs(req.rng, req.data_dir, req.source, req.on_gpu)
    return Inputs(sandbox=dict(ji), trusted=ji.trusted)


WEEK_SPEC = Week(  # the one interface grader.grade reads (grader/weeks/__init__.py)
    week=WEEK, title=TITLE, limits=LIMITS,
    job=JobSpec(f"week{WEEK}", ITERATION_CAP, HYPERPARAMS, SNAPSHOTS, data=("names.txt",)),
    make_inputs=_job_inputs, checks=CHECKS)
