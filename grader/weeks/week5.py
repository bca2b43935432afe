"""Week 5 — GPT ("Let's build GPT"): trusted inputs and checks.

The probes set the lecture's hyper-parameter globals to a small config, load the grader's
weights into the student's modules (float64, eval, dropout 0) and run them; here the same
weights go through reference/gpt.py and the results are compared at 1e-6. Block is compared
on one-position sequences, where attention reduces to the values, so an attention bug fails
the attention checks and the whole-model check but not Block's residual/LayerNorm check.

Every point is earned on inputs the notebook could not foresee, and judged here: the parameter
count is asked at a fresh small config (the lecture's 10,788,929 only in messages); "training
lowers loss" recomputes the cross-entropy of the returned logits and, above all, the reference
GPT's loss with the student's own parameters before and after training (a model that equals the
reference must also show the reference's trained logits and first AdamW step); the attention
weights must be a softmax of the grader's q @ k^T; outputs that are the same everywhere fail.
One bug, one check: a usual wrong attention scale (C**-0.5) is charged by the scaling check
alone, the module checks then comparing against the reference with the student's own scale
(week5_attention); the generate checks are in week5_generate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from grader.checks import CheckFailed, CheckSpec, Ctx, as_float, expect, expect_close
from grader.sandbox import Limits
from grader.weeks import week5_generate as gen
from grader.weeks.week5_attention import HS, K_FUTURE, TOL, B, C, T, own_scale
from grader.weeks.week5_attention import causal as _causal
from grader.weeks.week5_attention import rows as _rows
from grader.weeks.week5_attention import scale as _scale
from grader.weeks.week5_judged import CFG, TRAIN_B, TRAIN_LR, TRAIN_STEPS, V
from grader.weeks.week5_judged import parameter_count as _params
from grader.weeks.week5_judged import training as _train
from reference.gpt import (
    Block,
    FeedFoward,
    GPTConfig,
    GPTLanguageModel,
    Head,
    MultiHeadAttention,
)

WEEK = 5
TITLE = "GPT"
ITERATION_CAP = 20
HYPERPARAMS: dict = {"batch_size": 4, "block_size": 8, "max_iters": 20, "eval_interval": 10,
                     "eval_iters": 2, "n_embd": 32, "n_head": 4, "n_layer": 2, "dropout": 0.0}
SNAPSHOTS: dict = {}
LIMITS = Limits(wall_s=90, memory_mb=3072)



REF_MODULES: dict[str, Callable[[GPTConfig], nn.Module]] = {  # weight prefix -> reference
    "head": lambda c: Head(c, HS), "attn": lambda c: Head(c, HS),
    "mha": lambda c: MultiHeadAttention(c, c.n_head, HS), "ffwd": FeedFoward,
    "block": Block, "model": GPTLanguageModel}


def _weight(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Non-trivial weights: Linear ~ N(0, 1/fan_in), LayerNorm gain ~ 1, biases ~ 0.2 N(0,1)."""
    if len(shape) == 2:
        fan_in = shape[1] if "embedding" not in name else 1
        return rng.normal(size=shape) / math.sqrt(fan_in)
    if name.endswith("weight"):
        return 1.0 + 0.2 * rng.normal(size=shape)
    return 0.2 * rng.normal(size=shape)


def _count_cfg(rng: np.random.Generator) -> np.ndarray:
    """A fresh small config (vocab, block_size, n_embd, n_head, n_layer) to count parameters of."""
    n_head = int(rng.integers(1, 5))
    return np.array([int(rng.integers(10, 100)), int(rng.integers(4, 33)),
                     n_head * int(rng.integers(2, 9)), n_head, int(rng.integers(1, 4))])


def make_inputs(rng: np.random.Generator, data_dir: Path) -> dict[str, np.ndarray]:
    """Fresh weights, tokens and gradients for one submission."""
    assert HS == T, "the attention read-out needs head_size == block_size"
    out: dict[str, np.ndarray] = {
        "cfg": np.array([V, T, C, CFG.n_head, CFG.n_layer]),
        "seed": rng.integers(0, 2**31, size=2),
        "train_steps": np.array([TRAIN_STEPS]), "train_lr": np.array([TRAIN_LR]),
        "count_cfg": _count_cfg(rng)}
    for prefix, make in REF_MODULES.items():
        for n, p in make(CFG).named_parameters():
            out[f"{prefix}.{n}"] = _weight(n, tuple(p.shape), rng)
    out["attn.value.weight"] = np.concatenate([np.zeros((HS, C - T)), np.eye(T)], axis=1)
    onehot = np.broadcast_to(np.eye(T), (B, T, T))
    out["x_attn"] = np.concatenate([rng.normal(size=(B, T, C - T)), onehot], axis=-1)
    out |= {"x": rng.normal(size=(B, T, C)), "g_hs": rng.normal(size=(B, T, HS)),
            "g_c": rng.normal(size=(B, T, C)), "x1": rng.normal(size=(4, 1, C)),
            "g1": rng.normal(size=(4, 1, C))}
    tok: Callable[..., np.ndarray] = lambda *shape: rng.integers(0, V, size=shape)
    out |= {"idx": tok(B, T), "targets": tok(B, T), "idx_init": tok(16, T),
            "targets_init": tok(16, T), "train_x": tok(TRAIN_B, T),
            "train_y": rng.permutation(V)[:TRAIN_B * T].reshape(TRAIN_B, T)}
    out["idx_future"] = out["idx"].copy()
    out["idx_future"][:, K_FUTURE:] = (out["idx"][:, K_FUTURE:] + tok(B, T - K_FUTURE) % (V - 1)
                                       + 1) % V
    return out | gen.make_prompts(rng) | gen.gen_weights(out)


# ----------------------------------------------------------------------------- reference


def _loaded(prefix: str, inputs: dict[str, np.ndarray], scale: float | None = None
            ) -> tuple[nn.Module, list]:
    module = REF_MODULES[prefix](replace(CFG, attn_scale=scale)).double().eval()
    params = list(module.named_parameters())
    with torch.no_grad():
        for n, p in params:
            p.copy_(torch.from_numpy(inputs[f"{prefix}.{n}"]))
    return module, params


def _grads(params: list) -> dict[str, np.ndarray]:
    return {f"g.{n}": p.grad.numpy() for n, p in params}


def _ref_run(ctx: Ctx, prefix: str, x_key: str, g_key: str, scale: float | None = None
             ) -> dict[str, np.ndarray]:
    """Reference output, input gradient and parameter gradients (float64)."""
    def run() -> dict[str, np.ndarray]:
        module, params = _loaded(prefix, ctx.inputs, scale)
        x = torch.from_numpy(ctx.inputs[x_key]).clone().requires_grad_(True)
        out = module(x)
        (out * torch.from_numpy(ctx.inputs[g_key])).sum().backward()
        assert x.grad is not None
        return {"out": out.detach().numpy(), "gx": x.grad.numpy(), **_grads(params)}
    return ctx.memo(f"ref.{prefix}.{scale}", run)


def _ref_model(ctx: Ctx, scale: float | None = None) -> dict[str, np.ndarray]:
    def run() -> dict[str, np.ndarray]:
        model, params = _loaded("model", ctx.inputs, scale)
        idx, tgt = (torch.from_numpy(ctx.inputs[k]) for k in ("idx", "targets"))
        logits, loss = model(idx, tgt)
        assert loss is not None
        loss.backward()
        return {"logits": logits.detach().numpy(), "loss": loss.detach().numpy(),
                **_grads(params)}
    return ctx.memo(f"ref.model.{scale}", run)


# ----------------------------------------------------------------------------- checks


def _compare(ctx: Ctx, probe: str, what: str, ref: dict[str, np.ndarray],
             reshape: bool = False) -> str:
    """Every array of ref against the probe's, with the student-facing name of each."""
    lines = []
    for key, want in ref.items():
        label = {"out": f"{what} output", "gx": f"{what} gradient of its input x",
                 "logits": f"{what} logits", "loss": f"{what} loss"}.get(key)
        label = label or f"{what} gradient of {key[2:]}"
        lines.append(expect_close(ctx.arr(probe, key), want, label, TOL, TOL, reshape))
    return lines[0] + f" (and {len(lines) - 1} more arrays match)"


def _shapes(ctx: Ctx) -> str:
    want = {"head": (B, T, HS), "mha": (B, T, C), "ffwd": (B, T, C), "block": (B, T, C)}
    names = {"head": f"Head({HS})", "mha": f"MultiHeadAttention(4, {HS})",
             "ffwd": f"FeedFoward({C})", "block": f"Block({C}, 4)"}
    for k, w in want.items():
        got = tuple(int(s) for s in ctx.arr("shapes", k))
        expect(got == w, f"{names[k]} on x of shape {(B, T, C)} returned shape {got}, "
                         f"expected {w}")
    logits = tuple(int(s) for s in ctx.arr("shapes", "logits"))
    expect(logits in ((B, T, V), (B * T, V)),
           f"GPTLanguageModel logits have shape {logits}, expected {(B, T, V)} or {(B * T, V)}")
    loss = tuple(int(s) for s in ctx.arr("shapes", "loss"))
    expect(loss == (), f"the loss has shape {loss}, expected a scalar ()")
    for k in want:  # (not the logits: a zero-initialised lm_head is a fair choice)
        spread = float(as_float(ctx.arr("shapes", f"spread_{k}"), "spread").reshape(-1)[0])
        expect(spread > 1e-7, f"{names[k]} returns the same number everywhere: its output "
                              "should depend on its input and weights")
    return "Head, MultiHeadAttention, FeedFoward, Block and the model give the right shapes"


def _with_own_scale(fn: Callable[[Ctx, float | None], str]) -> Callable[[Ctx], str]:
    """A module check run against the reference with the student's own attention scale."""
    def check(ctx: Ctx) -> str:
        scale, label = own_scale(ctx)
        note = (f" (compared with the lecture's modules using your attention scale {label}; "
                "the scaling check charges the scale)") if scale is not None else ""
        try:
            return fn(ctx, scale) + note
        except CheckFailed as e:
            raise CheckFailed(e.message + note, **e.details) from None
    check.__doc__ = fn.__doc__
    return check


@_with_own_scale
def _head(ctx: Ctx, scale: float | None) -> str:
    return _compare(ctx, "head", f"Head({HS})", _ref_run(ctx, "head", "x", "g_hs", scale))


@_with_own_scale
def _mha_ffwd(ctx: Ctx, scale: float | None) -> str:
    _compare(ctx, "mha", "MultiHeadAttention", _ref_run(ctx, "mha", "x", "g_c", scale))
    return _compare(ctx, "ffwd", "FeedFoward", _ref_run(ctx, "ffwd", "x", "g_c"))


def _block(ctx: Ctx) -> str:
    return _compare(ctx, "block", "Block (one position)", _ref_run(ctx, "block", "x1", "g1"))


@_with_own_scale
def _model(ctx: Ctx, scale: float | None) -> str:
    ref = _ref_model(ctx, scale)
    nt = as_float(ctx.arr("model", "logits_nt"), "logits")
    expect(nt.shape == (B, T, V), f"without targets the logits should have shape {(B, T, V)} "
                                  f"(generate reads logits[:, -1, :]), got {nt.shape}")
    return _compare(ctx, "model", "GPTLanguageModel", ref, reshape=True)


def _training(ctx: Ctx) -> str:
    return _train(ctx, own_scale(ctx)[0])


def _init_loss(ctx: Ctx) -> str:
    loss = float(as_float(ctx.arr("init_loss", "loss"), "loss").reshape(-1)[0])
    logits = torch.from_numpy(as_float(ctx.arr("init_loss", "logits"), "logits")).reshape(-1, V)
    tgt = torch.from_numpy(ctx.inputs["targets_init"]).reshape(-1)
    ce = float(torch.nn.functional.cross_entropy(logits, tgt))
    expect(math.isfinite(loss) and abs(loss - ce) < 1e-4 * max(1.0, abs(ce)),
           f"the loss should be the mean cross-entropy of your logits, {ce:.6g}; got {loss:.6g}")
    spread = float(logits.std(0).max())
    expect(spread > 1e-7, "the logits of a fresh model are the same for every token: they "
                          "should come from the embeddings, blocks and lm_head")
    expect(abs(loss - math.log(V)) < 0.4, f"loss at initialisation is {loss:.4f}, expected about "
                                          f"ln({V}) = {math.log(V):.4f} (within 0.4)")
    return f"loss at init {loss:.4f} ≈ ln({V}) = {math.log(V):.4f}"


CHECKS = [
    CheckSpec("shapes", 5, _shapes, "every module's output shape"),
    CheckSpec("causal mask", 10, _causal, "no attention to the future; logits ignore later tokens"),
    CheckSpec("attention rows sum to 1", 8, _rows, "softmax over the last dim"),
    CheckSpec("scaling head_size**-0.5", 8, _scale, "scores scaled by 1/sqrt(head_size)"),
    CheckSpec("Head forward/backward", 10, _head, "vs reference on the same weights"),
    CheckSpec("MultiHeadAttention and FeedFoward", 7, _mha_ffwd, "forward and gradients"),
    CheckSpec("Block forward/backward", 12, _block, "residuals and pre-norm LayerNorms"),
    CheckSpec("GPT forward/backward", 12, _model, "logits, loss and every gradient"),
    CheckSpec("loss at init ≈ ln(vocab)", 5, _init_loss, "cross-entropy of a fresh model"),
    CheckSpec("parameter count", 8, _params, "a grader-chosen config (lecture: 10,788,929)"),
    CheckSpec("training lowers loss", 5, _training, f"{TRAIN_STEPS} grader-run AdamW steps"),
    CheckSpec("generate: length and vocabulary", 5, gen.generate,
              "prompt + max_new_tokens, conditioned on the prompt"),
    CheckSpec("generate: last block_size tokens", 5, gen.window, "crops long prompts"),
]


from grader.weeks import JobSpec, Week, sandbox_only  # noqa: E402 (kept beside WEEK_SPEC)
from grader.weeks.week5_curves import extras as _curves  # noqa: E402

WEEK_SPEC = Week(  # the one interface grader.grade reads (grader/weeks/__init__.py)
    week=WEEK, title=TITLE, limits=LIMITS,
    job=JobSpec(f"week{WEEK}", ITERATION_CAP, HYPERPARAMS, SNAPSHOTS,
                data=("tinyshakespeare.txt",)),
    make_inputs=sandbox_only(make_inputs), checks=CHECKS,
    extras=lambda ctx, results: _curves(ctx))
