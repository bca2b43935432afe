"""Inspector track: get_attention_maps(model, idx) validated against the reference."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from grader.checks import CheckFailed, CheckSpec, Ctx, as_float, expect, expect_close
from reference.capstone import attention_maps
from reference.gpt import Block, GPTConfig, GPTLanguageModel

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


def _model(ctx: Ctx, scale: float | None) -> GPTLanguageModel:
    """The reference GPT with the grader's weights, float64 (scale: another attention scale)."""
    model = GPTLanguageModel(dataclasses.replace(_cfg(ctx), attn_scale=scale)).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(ctx.inputs[f"model.{name}"]))
    return model


def reference_maps(ctx: Ctx, key: str, scale: float | None = None,
                   maps_only: bool = False) -> list[np.ndarray]:
    """Reference maps with the grader's weights; with a scale, the attention uses it (in the
    whole model, or, maps_only, in the maps while the model itself runs at head_size**-0.5)."""
    def run() -> list[np.ndarray]:
        idx = torch.from_numpy(ctx.inputs[key])
        with torch.no_grad():
            if not maps_only or scale is None:
                return [m.numpy() for m in attention_maps(_model(ctx, scale), idx)]
            plain, scaled = _model(ctx, None), _model(ctx, scale)
            x = plain.token_embedding_table(idx)  # (B,T,C)
            x = x + plain.position_embedding_table(torch.arange(idx.shape[1]))  # (T,C)
            maps = []
            for bp, bs in zip(plain.blocks, scaled.blocks, strict=True):
                assert isinstance(bp, Block) and isinstance(bs, Block)
                h = bp.ln1(x)  # (B,T,C)
                heads = [hd.attention(hd.query(h), hd.key(h))  # (B,T,T)
                         for hd in bs.sa.heads]  # type: ignore[union-attr]
                maps.append(torch.stack(heads, dim=1).numpy())  # (B,n_head,T,T)
                x = bp(x)  # (B,T,C)
            return maps
    return ctx.memo(f"ref.{key}.{scale}.{maps_only}", run)


def _against_reference(ctx: Ctx, which: str, key: str, what: str,
                       scale: tuple[float, bool] | None = None) -> list[str]:
    """Every layer's map equal to the reference's on the grader's weights (masked -inf as 0)."""
    refs = reference_maps(ctx, key, *scale) if scale else reference_maps(ctx, key)
    return [expect_close(np.where(np.isneginf(a), 0.0, a), r, f"layer {i} {what}", TOL, TOL)
            for i, (a, r) in enumerate(zip(student_maps(ctx, which), refs, strict=True))]


def video_scale(ctx: Ctx) -> tuple[float, bool] | None:
    """(n_embd**-0.5, maps_only) when the maps are the reference's at the lecture video's
    C**-0.5 scale, in the model or only in get_attention_maps (a known slip: one bug, so only
    the match check charges it), else None."""
    def detect() -> tuple[float, bool] | None:
        for maps_only in (False, True):
            scale = (_cfg(ctx).n_embd ** -0.5, maps_only)
            try:
                _against_reference(ctx, "a", "i_idx", "attention map", scale)
            except CheckFailed:
                continue
            return scale
        return None
    return ctx.memo("inspector.video_scale", detect)


def match(ctx: Ctx) -> str:
    """Equal to the reference's maps on the same weights (random grader-chosen tokens)."""
    try:
        lines = _against_reference(ctx, "a", "i_idx", "attention map")
    except CheckFailed as e:
        if video_scale(ctx) is None:
            raise
        raise CheckFailed("your maps equal the reference's only with the attention scaled by "
                          "n_embd**-0.5 (the lecture video's C**-0.5 slip): scale q @ k^T by "
                          "head_size**-0.5. Only this check charges it; the heatmaps are "
                          f"compared at your scale. {e.message}") from None
    return lines[0] + f" (and {len(lines) - 1} more layers match)"


def heat(ctx: Ctx) -> str:
    """Maps for the grader's text prompt equal the reference's on the same weights (what the
    dashboard draws is what the model looks at); stored for the dashboard."""
    maps = student_maps(ctx, "p")
    expect(not any(bool(np.any(np.isnan(a))) for a in maps),
           "the maps of the grader's prompt contain NaN values")
    scale = video_scale(ctx)
    _against_reference(ctx, "p", "i_prompt", "prompt heatmap", scale)
    return (f"{len(maps)} layers × {maps[0].shape[1]} heads of heatmaps stored, equal to the "
            "reference's on the same weights"
            + (" (at your attention scale n_embd**-0.5)" if scale is not None else ""))


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
