"""Week 5's generate checks, judged on the continuations the probes sample under fixed seeds.

The probes seed torch (and random, numpy) before every call, so generate is a function of its
prompt, and give the student's model the grader's weights with a sharp lm_head (sampling is
then almost argmax, a function of the context). Two different prompts must give different
continuations somewhere; two prompts longer than block_size that share their last block_size
tokens must give the same one; prompts that differ only in their last token, or everywhere in
the window but the last token, must not. A generate that ignores the prompt is charged once,
by the first check; the second then asks only that its tokens come from the model (two
models, two continuations).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.checks import CheckFailed, Ctx, expect
from grader.weeks.week5_judged import CFG, V

T = CFG.block_size
N_PROMPT, EXTRA, MAX_NEW = 8, 4, 6  # prompt rows, tokens beyond block_size, tokens generated
SHARPEN = {"lm_head.": 1e3, "position_embedding_table.": 0.25}  # sampling ~ argmax of tokens


def gen_weights(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The GPT weights for generate: the grader's, with a sharp lm_head (sampling becomes almost
    argmax, a function of the context) and weak positions (no one token wins at a position)."""
    out = {}
    for key, w in inputs.items():
        if key.startswith("model."):
            name = key[len("model."):]
            out[f"gen.{name}"] = w * next((f for p, f in SHARPEN.items()
                                           if name.startswith(p)), 1.0)
    return out


def make_prompts(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Short prompts that differ everywhere; long ones that differ before / inside the window."""
    def tok(*shape: int) -> np.ndarray:
        return rng.integers(0, V, size=shape)

    def other(a: np.ndarray) -> np.ndarray:  # a different token at every place
        return (a + rng.integers(1, V, size=a.shape)) % V

    prompt, long_a = tok(N_PROMPT, 3), tok(N_PROMPT, T + EXTRA)
    long_b, long_c, long_d = long_a.copy(), long_a.copy(), long_a.copy()
    long_b[:, :EXTRA] = other(long_a[:, :EXTRA])  # before the window
    long_c[:, -1] = other(long_a[:, -1])  # the last token
    long_d[:, EXTRA:-1] = other(long_a[:, EXTRA:-1])  # the window but its last token
    return {"max_new": np.array([MAX_NEW]), "prompt": prompt,
            "prompt2": other(prompt), "long_a": long_a, "long_b": long_b, "long_c": long_c,
            "long_d": long_d}


def _tokens(got: Any, prompt: np.ndarray, what: str) -> np.ndarray:
    out = np.asarray(got)
    n, L = prompt.shape
    want = (n, L + MAX_NEW)
    expect(out.shape == want, f"{what}: generate returned shape {out.shape}, expected {want} "
                              f"(prompt {prompt.shape} plus max_new_tokens={MAX_NEW})")
    expect(out.dtype.kind in "iu", f"{what}: generate returned dtype {out.dtype}, expected ints")
    expect(bool(np.all((out >= 0) & (out < V))), f"{what}: tokens outside 0..{V - 1}")
    expect(np.array_equal(out[:, :L], prompt), f"{what}: the output must start with the prompt")
    return out[:, L:]


def _sampled(new: np.ndarray, what: str) -> None:
    """A fresh model's distribution is nearly uniform: equal draws everywhere mean no sampling."""
    expect(len(np.unique(new)) > 1, f"{what}: every new token is {int(new.flat[0])}: generate "
                                    "should sample each token from the model's softmax "
                                    "(torch.multinomial)")


def _conditioned(ctx: Ctx) -> tuple[np.ndarray, np.ndarray]:
    """Continuations of the two short prompts (the grader's weights, one seed)."""
    p1 = _tokens(ctx.arr("generate", "p1"), ctx.inputs["prompt"], "prompt of 3 tokens")
    p2 = _tokens(ctx.arr("generate", "p2"), ctx.inputs["prompt2"], "prompt of 3 tokens")
    return p1, p2


def ignores_prompt(ctx: Ctx) -> bool:
    """True when two different short prompts gave the same continuation (charged once)."""
    try:
        p1, p2 = _conditioned(ctx)
    except CheckFailed:
        return False
    return bool(np.array_equal(p1, p2))


def generate(ctx: Ctx) -> str:
    """Length, vocabulary, sampling, and conditioning on the prompt at all."""
    prompt = ctx.inputs["prompt"]
    _sampled(_tokens(ctx.arr("generate", "out"), prompt, "prompt of 3 tokens"),
             "prompt of 3 tokens")
    _conditioned(ctx)
    expect(not ignores_prompt(ctx),
           f"{N_PROMPT} pairs of different prompts gave the same {MAX_NEW} new tokens under "
           "the same seed: generate must condition on the prompt, logits from "
           "self(idx_cond) with idx_cond = idx[:, -block_size:]")
    return f"{MAX_NEW} new tokens appended, within the vocabulary, conditioned on the prompt"


def _long(ctx: Ctx, key: str) -> np.ndarray:
    L = T + EXTRA
    try:
        return _tokens(ctx.arr("window", key), ctx.inputs[f"long_{key}"], f"prompt of {L} tokens")
    except CheckFailed as e:
        if "ndex" not in e.message:  # IndexError / index out of range: the missing crop
            raise
        raise CheckFailed(f"generate() on a prompt longer than block_size = {T} must crop the "
                          f"context to idx[:, -block_size:]. {e.message}") from None


def window(ctx: Ctx) -> str:
    """Long prompts: the same last block_size tokens, the same continuation; else not."""
    a, b, c, d = (_long(ctx, k) for k in "abcd")
    expect(np.array_equal(a, b),
           f"two prompts that differ only before the last block_size = {T} tokens gave "
           "different continuations under the same seed: generate must condition on "
           "idx[:, -block_size:]")
    if ignores_prompt(ctx):  # charged by the first check; here it must still use the model
        own = _tokens(ctx.arr("window", "own"), ctx.inputs["long_a"], f"prompt of {T + EXTRA} "
                      "tokens")
        expect(not np.array_equal(a, own),
               "generate gave the same tokens from two different models (the grader's weights "
               "and your own init) under the same seed: the new tokens must be sampled from "
               "the model's softmax at the last position")
        return ("long prompts that share their last block_size tokens give the same "
                "continuation (generate ignores the prompt: charged by the check above)")
    expect(not np.array_equal(a, c),
           f"two prompts that differ in their last token gave the same continuation under the "
           f"same seed: generate must condition on the LAST block_size = {T} tokens, "
           "idx[:, -block_size:] (not idx[:, :block_size])")
    expect(not np.array_equal(a, d),
           f"two prompts that share only their last token gave the same continuation under the "
           f"same seed: generate must condition on all of the last block_size = {T} tokens, "
           "idx[:, -block_size:]")
    return "long prompts are cropped to the last block_size tokens"
