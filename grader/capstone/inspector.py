"""Inspector track: get_attention_maps(model, idx) validated against the reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from grader.checks import CheckSpec, Ctx, as_float, expect, expect_close
from reference.capstone import attention_maps
from reference.gpt import GPTConfig, GPTLanguageModel

SHAPES, ROWS = "attention maps: one (B, n_head, T, T) per layer", "attention rows sum to 1"
CAUSAL, MATCH = "no attention to the future", "maps equal the reference on the same weights"
HEAT = "heatmaps of the grader's prompt equal the reference"
TOL = 1e-6


def _cfg(ctx: Ctx) -> GPTConfig:
    V, T, C, H, L = (int(v) for v in ctx.inputs["cfg"])
    return GPTConfig(vocab_size=V, block_size=T, n_embd=C, n_head=H, n_layer=L, dropout=0.0)


def student_maps(ctx: Ctx, which: str = "a") -> list[np.ndarray]:
    """The returned maps for idx ("a") or the prompt ("p"), checked for count and shape."""
    cfg, out = _cfg(ctx), ctx.out("maps")
    idx = ctx.inputs["i_idx" if which == "a" else "i_prompt"]
    n = int(np.asarray(out["n" if which == "a" else "np"]).reshape(-1)[0])
    expect(n == cfg.n_layer, f"get_attention_maps returned {n} maps, expected one per layer "
                             f"({cfg.n_layer})")
    want = (idx.shape[0], cfg.n_head, idx.shape[1], idx.shape[1])
    maps = [as_float(out[f"{which}{i}"], f"layer {i} map") for i in range(n)]
    for i, a in enumerate(maps):
        expect(a.shape == want, f"layer {i}: map of shape {a.shape}, expected (B, n_head, T, T) "
                                f"= {want}")
    return maps


def shapes(ctx: Ctx) -> str:
    """A list with one (B, n_head, T, T) array per layer."""
    student_maps(ctx)
    return "one (B, n_head, T, T) map per layer"


def rows(ctx: Ctx) -> str:
    """Softmax over the last dim: every row sums to 1."""
    err = max(float(np.nan_to_num(np.abs(a.sum(-1) - 1), nan=np.inf).max())
              for a in student_maps(ctx))
    expect(err < TOL, f"rows of the attention maps should sum to 1 (softmax over the last dim) "
                      f"but are off by up to {err:.3g}", maxdiff=err)
    return "every row sums to 1"


def causal(ctx: Ctx) -> str:
    """Entries above the diagonal are 0 (a masked-but-unnormalised -inf counts as masked)."""
    worst = 0.0
    for a in student_maps(ctx):
        up = np.triu(np.where(np.isneginf(a), 0.0, a), k=1)
        worst = max(worst, float(np.nan_to_num(np.abs(up), nan=np.inf).max()))
    expect(worst < 1e-9, f"weights above the diagonal (future positions) should be 0 but reach "
                         f"{worst:.3g}: mask with tril before the softmax", maxdiff=worst)
    return "no weight on future positions"


def reference_maps(ctx: Ctx, key: str) -> list[np.ndarray]:
    """Reference maps with the grader's weights, float64."""
    def run() -> list[np.ndarray]:
        model = GPTLanguageModel(_cfg(ctx)).double().eval()
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(torch.from_numpy(ctx.inputs[f"model.{name}"]))
        return [m.numpy() for m in attention_maps(model, torch.from_numpy(ctx.inputs[key]))]
    return ctx.memo(f"ref.{key}", run)


def _against_reference(ctx: Ctx, which: str, key: str, what: str) -> list[str]:
    """Every layer's map equal to the reference's on the grader's weights (masked -inf as 0)."""
    return [expect_close(np.where(np.isneginf(a), 0.0, a), r, f"layer {i} {what}", TOL, TOL)
            for i, (a, r) in enumerate(zip(student_maps(ctx, which), reference_maps(ctx, key),
                                           strict=True))]


def match(ctx: Ctx) -> str:
    """Equal to the reference's maps on the same weights (random grader-chosen tokens)."""
    lines = _against_reference(ctx, "a", "i_idx", "attention map")
    return lines[0] + f" (and {len(lines) - 1} more layers match)"


def heat(ctx: Ctx) -> str:
    """Maps for the grader's text prompt equal the reference's on the same weights (what the
    dashboard draws is what the model looks at); stored for the dashboard."""
    maps = student_maps(ctx, "p")
    expect(not any(bool(np.any(np.isnan(a))) for a in maps),
           "the maps of the grader's prompt contain NaN values")
    _against_reference(ctx, "p", "i_prompt", "prompt heatmap")
    return (f"{len(maps)} layers × {maps[0].shape[1]} heads of heatmaps stored, equal to the "
            "reference's on the same weights")


def extras(ctx: Ctx) -> dict[str, Any]:
    """Rounded per-layer/per-head maps of the prompt for the dashboard (SVG heatmaps)."""
    try:
        maps = student_maps(ctx, "p")
    except Exception:  # noqa: BLE001 - nothing to draw
        return {}
    prompt = "".join(chr(int(c)) for c in ctx.inputs["i_prompt_chars"])
    return {"attention": {"prompt": list(prompt), "decimals": 3,
                          "layers": [np.round(np.nan_to_num(a[0], neginf=0.0, posinf=1.0), 3)
                                     .tolist() for a in maps]}}


SPECS = [
    CheckSpec(SHAPES, 15, shapes, "a list, one map per layer"),
    CheckSpec(ROWS, 20, rows, "softmax over the last dim"),
    CheckSpec(CAUSAL, 20, causal, "zeros above the diagonal"),
    CheckSpec(MATCH, 30, match, "vs reference/capstone.attention_maps"),
    CheckSpec(HEAT, 15, heat, "per layer/head heatmaps of a prompt"),
]
