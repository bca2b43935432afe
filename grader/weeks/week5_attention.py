"""Week 5's attention checks, on a Head whose values are one-hot positions (its output IS the
attention matrix): causal mask, softmax rows, and the scale, each judged against a softmax of
the grader's q @ k^T. The student's own scale, where it is a usual wrong one, is found here so
that the module checks compare against the lecture's modules with that scale (one bug, one check).
"""

from __future__ import annotations

import numpy as np
import torch

from grader.checks import CheckFailed, Ctx, as_float, cmp, expect
from grader.weeks.week5_judged import CFG

HS = CFG.n_embd // CFG.n_head  # head_size; equals block_size so one-hot values read out wei
B, T, C = 2, CFG.block_size, CFG.n_embd
K_FUTURE = 5
TOL = 1e-6


def _ref_wei(inputs: dict[str, np.ndarray], scale: float, mask: bool, dim: int) -> np.ndarray:
    """Attention weights of the attn head's q, k for one scale / mask / softmax dim."""
    x = torch.from_numpy(inputs["x_attn"])
    q, k = (x @ torch.from_numpy(inputs[f"attn.{n}.weight"]).T for n in ("query", "key"))
    wei = q @ k.transpose(-2, -1) * scale
    if mask:
        wei = wei.masked_fill(torch.tril(torch.ones(T, T)) == 0, float("-inf"))
    return torch.softmax(wei, dim=dim).numpy()


def _wei(ctx: Ctx) -> np.ndarray:
    wei = as_float(ctx.arr("attn", "wei"), "attention weights")
    expect(wei.shape == (B, T, T), f"Head({HS}) returned shape {wei.shape}, expected {(B, T, T)}")
    return wei


def causal(ctx: Ctx) -> str:
    wei = _wei(ctx)
    upper = np.abs(np.triu(wei, k=1)).max()
    expect(upper < 1e-9, f"attention weights above the diagonal (future positions) should be 0 "
                         f"but reach {upper:.3g}: mask them with tril / masked_fill(-inf) "
                         "before the softmax", maxdiff=float(upper))
    off = _softmax_of_scores(ctx, wei, (True,), (-1, -2))
    expect(off < TOL, "the attention weights are not a masked softmax of the scores q @ k^T "
                      f"(of the grader's weights) under any usual scale (max abs diff {off:.3g})",
           maxdiff=off)
    a = as_float(ctx.arr("causal", "a"), "logits").reshape(B, T, -1)
    b = as_float(ctx.arr("causal", "b"), "logits").reshape(B, T, -1)
    c = cmp(a[:, :K_FUTURE], b[:, :K_FUTURE], "logits", 0, 1e-9)
    expect(c.approx, f"changing only the tokens at positions >= {K_FUTURE} changed the logits "
                     f"at positions < {K_FUTURE} (max abs diff {c.maxdiff:.3g}): a position "
                     "must not see the future", maxdiff=c.maxdiff)
    moved = float(np.abs(a[:, K_FUTURE:] - b[:, K_FUTURE:]).max())
    expect(moved > 1e-6, f"changing the tokens at positions >= {K_FUTURE} did not change the "
                         "logits there either: the model's output should depend on its input",
           maxdiff=moved)
    return "no attention to future positions; earlier logits ignore later tokens"


def _softmax_of_scores(ctx: Ctx, wei: np.ndarray, masks: tuple[bool, ...],
                       dims: tuple[int, ...]) -> float:
    """How far wei is from every softmax of the grader's q @ k^T (any usual scale)."""
    scales = (HS ** -0.5, C ** -0.5, 1.0)  # the scale is judged by its own check
    return min(float(np.abs(wei - _ref_wei(ctx.inputs, s, m, d)).max())
               for s in scales for m in masks for d in dims)


def rows(ctx: Ctx) -> str:
    wei = _wei(ctx)
    sums = wei.sum(-1)
    err = float(np.abs(sums - 1).max())
    expect(err < 1e-6, f"rows of the attention weights should sum to 1 but sum to "
                       f"{sums.min():.4g} … {sums.max():.4g} (max abs diff {err:.3g}): "
                       "softmax over the last dimension, F.softmax(wei, dim=-1)", maxdiff=err)
    off = _softmax_of_scores(ctx, wei, (True, False), (-1,))
    expect(off < TOL, "the attention weights sum to 1 but are not a softmax over the last dim "
                      f"of the scores q @ k^T of the grader's weights (max abs diff {off:.3g})",
           maxdiff=off)
    return "every row of the attention weights sums to 1"


SCALES = {"head_size**-0.5": HS ** -0.5, "C**-0.5 with C = n_embd": C ** -0.5, "1": 1.0}


def _scale_diffs(ctx: Ctx, masks: tuple[bool, ...], dims: tuple[int, ...]) -> dict[str, float]:
    """How far the student's weights are from a softmax of q @ k^T under each usual scale."""
    wei = _wei(ctx)
    return {label: min(float(np.abs(wei - _ref_wei(ctx.inputs, s, m, d)).max())
                       for m in masks for d in dims) for label, s in SCALES.items()}


def own_scale(ctx: Ctx) -> tuple[float | None, str]:
    """The student's scale where it is a usual wrong one and the rest of the attention is right.

    The module checks then compare against the lecture's modules with that scale (the scaling
    check alone charges it); otherwise (None, "") and the lecture's head_size**-0.5.
    """
    def find() -> tuple[float | None, str]:
        try:
            diffs = _scale_diffs(ctx, (True,), (-1,))
        except CheckFailed:
            return None, ""
        for label, s in SCALES.items():
            if diffs[label] < TOL:
                return (None, "") if s == HS ** -0.5 else (s, label)
        return None, ""
    return ctx.memo("own_scale", find)


def scale(ctx: Ctx) -> str:
    diffs = _scale_diffs(ctx, (True, False), (-1, -2))  # mask and dim have their own checks
    if diffs["head_size**-0.5"] < TOL:
        return f"attention scores are scaled by head_size**-0.5 = {HS ** -0.5:.4g}"
    best = min(diffs, key=lambda k: diffs[k])
    hint = (f"; they match a scale of {best}" if diffs[best] < TOL else "")
    if own_scale(ctx)[0] is not None:
        hint += (" (only this check charges it: Head, MultiHeadAttention and GPT are compared "
                 "with the lecture's modules at your scale)")
    raise CheckFailed(f"attention scores should be scaled by head_size**-0.5 = {HS ** -0.5:.4g} "
                      f"(k.shape[-1]**-0.5, head_size {HS}, n_embd {C}){hint}; max abs diff of "
                      f"the weights {diffs['head_size**-0.5']:.3g}",
                      maxdiff=diffs["head_size**-0.5"])
