"""Week 3 — MLP and BatchNorm (makemore parts 2-3): trusted inputs and checks.

The probes load the grader's weights into the student's layers as float64, so results are
compared at 1e-6; a result that comes back float32 (the student's code cast it) is compared
at the contract's float32 tolerance, 1e-4 relative.
"""

from __future__ import annotations

import functools
import math
import random
from pathlib import Path

import numpy as np
import torch

from grader.checks import CheckFailed, CheckSpec, Ctx, cmp, expect, expect_close
from grader.sandbox import Limits
from grader.weeks import week3_curves, week3_train
from reference import mlp

WEEK = 3
TITLE = "MLP and BatchNorm"
ITERATION_CAP = 50
HYPERPARAMS: dict = {}
SNAPSHOTS: dict = {}
LIMITS = Limits(wall_s=120, memory_mb=3072)
D = torch.float64
LETTERS = ".abcdefghijklmnopqrstuvwxyz"


@functools.lru_cache(maxsize=4)
def _names(path: str) -> tuple[str, ...]:
    return tuple(Path(path).read_text().splitlines())


def _split_sets(words: list[str], seed: int, block: int) -> dict[str, torch.Tensor]:
    """The lecture's split (shuffle, 80/10/10, build_dataset) of grader words: Y per part."""
    words = list(words)
    random.Random(seed).shuffle(words)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    return {tag: mlp.build_dataset(part, block)[1]
            for tag, part in (("tr", words[:n1]), ("dev", words[n1:n2]), ("te", words[n2:]))}


def _encode(words: list[str]) -> np.ndarray:
    arr = np.zeros((len(words), max(len(w) for w in words)), dtype=np.int64)
    for i, w in enumerate(words):
        arr[i, :len(w)] = [LETTERS.index(c) for c in w]
    return arr


def _xy(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    X, Y = mlp.build_dataset(words, 3)
    return X.numpy(), Y.numpy()


def make_inputs(rng: np.random.Generator, data_dir: Path) -> dict[str, np.ndarray]:
    """Fresh words, sizes, weights and batches for one submission."""
    names = _names(str(Path(data_dir) / "names.txt"))
    n = min(3000, len(names))
    picked = [names[i] for i in rng.choice(len(names), n, replace=False)]
    odd = ["".join(LETTERS[1:][j] for j in rng.integers(0, 26, rng.integers(1, 13)))
           for _ in range(8)]
    dim, nb = 8, int(rng.integers(8, 33))
    scales = 10 ** rng.uniform(-3, 1, dim)  # tiny variances make eps matter
    means = rng.normal(0, 3, dim)
    bn = {f"bn_x{s}": means + scales * rng.normal(size=(nb, dim)) for s in ("", "2", "3")}
    k, m, cb, ci, co = (int(v) for v in (rng.integers(3, 8), rng.integers(2, 6),
                                          rng.integers(6, 20), rng.integers(3, 8),
                                          rng.integers(2, 6)))
    tr_X, tr_Y = _xy(picked[:n * 5 // 6])
    va_X, va_Y = _xy(picked[n * 5 // 6:])
    split_words = [names[i] for i in rng.choice(len(names), int(rng.integers(1000, 3000)),
                                               replace=False)] + odd
    return {
        "sp_words": _encode(split_words), "sp_seed": np.array([rng.integers(2**31)]),
        "sp_block": np.array([rng.integers(2, 7)]), "pc_cfg": _param_cfg(rng),
        **week3_train.make(rng, len(tr_Y)),
        "bd_words": _encode(picked[:40] + odd), "bd_block": np.array([rng.integers(2, 7)]),
        "lin_size": np.array([rng.integers(200, 600), rng.integers(200, 400)]),
        "lin_w": rng.normal(size=(k, m)), "lin_b": rng.normal(size=m),
        "lin_x": rng.normal(size=(5, k)),
        **bn, "bn_gamma": rng.uniform(0.5, 2, dim), "bn_beta": rng.normal(0, 0.5, dim),
        "bn_momentum": np.array([rng.uniform(0.01, 0.5)]),
        "bn_rm": rng.normal(0, 3, dim), "bn_rv": scales**2 * rng.uniform(0.5, 2, dim),
        "bn_xe": means + scales * rng.normal(size=(int(rng.integers(3, 12)), dim)),
        "tanh_x": rng.normal(0, 2, size=(4, 5)),
        "ch_x": rng.normal(size=(cb, ci)),
        "ch_w": rng.normal(size=(ci, co)) * 10 ** rng.uniform(-3, 0, co) / ci**0.5,  # small var
        "ch_b": rng.normal(0, 0.1, co), "ch_gamma": rng.uniform(0.5, 2, co),
        "ch_beta": rng.normal(0, 0.5, co), "ch_r": rng.normal(size=(cb, co)),
        "tr_X": tr_X, "tr_Y": tr_Y, "va_X": va_X, "va_Y": va_Y,
    }


def _param_cfg(rng: np.random.Generator) -> np.ndarray:
    """n_embd, block_size, n_hidden for the parameter counts (never the lecture's 10, 3, 200)."""
    while True:
        cfg = np.array([rng.integers(4, 17), rng.integers(2, 7), rng.integers(50, 301)])
        if tuple(cfg) != (10, 3, 200):
            return cfg


def _close(got: np.ndarray, want: torch.Tensor | np.ndarray, what: str,
           reshape: bool = False) -> str:
    """expect_close at 1e-6, or at 1e-4 when the student's result came back float32."""
    tol = 1e-4 if np.asarray(got).dtype == np.float32 else 1e-6
    w = want.detach().numpy() if isinstance(want, torch.Tensor) else want
    return expect_close(got, w, what, rtol=tol, atol=tol, reshape=reshape)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=D)


def _words(codes: np.ndarray) -> list[str]:
    return ["".join(LETTERS[int(c)] for c in row if c) for row in codes]


def _build(ctx: Ctx) -> str:
    words, bs = _words(ctx.inputs["bd_words"]), int(ctx.inputs["bd_block"][0])
    X, Y = mlp.build_dataset(words, bs)
    gx, gy = ctx.arr("build", "X"), ctx.arr("build", "Y")
    expect(gx.shape == tuple(X.shape) and gy.shape == tuple(Y.shape),
           f"build_dataset with block_size={bs} on {len(words)} words: X {gx.shape}, "
           f"Y {gy.shape}; expected X {tuple(X.shape)}, Y {tuple(Y.shape)}")
    bad = np.flatnonzero((gx != X.numpy()).any(axis=1) | (gy != Y.numpy()))
    if bad.size:
        i = int(bad[0])
        raise CheckFailed(f"build_dataset with block_size={bs}: example {i} is context "
                          f"{gx[i].tolist()} -> {int(gy[i])}, expected {X[i].tolist()} -> "
                          f"{int(Y[i])} ({bad.size} of {len(Y)} examples differ; the context "
                          "starts as [0]*block_size and shifts: context[1:] + [ix])")
    return f"{len(Y)} examples with block_size={bs} match"


def _splits(ctx: Ctx) -> str:
    i = ctx.inputs
    words, seed, bs = _words(i["sp_words"]), int(i["sp_seed"][0]), int(i["sp_block"][0])
    want = _split_sets(words, seed, bs)
    for tag, y in want.items():
        shapes = tuple(int(v) for v in ctx.arr("splits", f"{tag}_X").ravel()), \
            tuple(int(v) for v in ctx.arr("splits", f"{tag}_Y").ravel())
        expect(shapes == ((len(y), bs), (len(y),)), f"80/10/10 split of the grader's "
               f"{len(words)} shuffled words with block_size={bs}: {tag} X, Y have shapes "
               f"{shapes[0]}, {shapes[1]}, expected ({len(y)}, {bs}), ({len(y)},) (one example "
               "per character of every word plus its final '.'; on names.txt the lecture gets "
               "182625 / 22655 / 22866)")
        got = ctx.arr("splits", f"{tag}_y")
        expect(got.shape == tuple(y.shape) and bool(np.array_equal(got, y.numpy())),
               f"split {tag}: the targets Y differ from the characters of the words")
    sizes = " / ".join(str(len(y)) for y in want.values())
    _own_split(ctx)
    return (f"split sizes {sizes} for {len(words)} grader words (block_size {bs}), and your own "
            "Ytr / Ydev / Yte are the lecture's split of names.txt")


@functools.lru_cache(maxsize=2)
def _lecture_targets(names_txt: str) -> dict[str, torch.Tensor]:
    """Y of the lecture's split of names.txt: random.seed(42); random.shuffle(words); 80/10/10
    (the targets do not depend on block_size)."""
    return _split_sets(list(_names(names_txt)), 42, 3)


def _own_split(ctx: Ctx) -> None:
    """The notebook's own split of the course data must be the lecture's, shuffled first."""
    want = _lecture_targets(str(Path(ctx.data_dir) / "names.txt"))
    for tag, key in (("tr", "Ytr"), ("dev", "Ydev"), ("te", "Yte")):
        got = ctx.arr("own_split", key)
        expect(got.shape == tuple(want[tag].shape) and bool(np.array_equal(got, want[tag])),
               f"your {key} is not the lecture's split of names.txt: shuffle the words first "
               "(random.seed(42); random.shuffle(words)), then take 80% / 10% / 10% with "
               "n1 = int(0.8*len(words)), n2 = int(0.9*len(words))")


def _linear(ctx: Ctx) -> str:
    fan_in, fan_out = (int(v) for v in ctx.inputs["lin_size"])
    o = ctx.out("linear")
    expect(tuple(o["w_shape"].ravel()) == (fan_in, fan_out),
           f"Linear({fan_in}, {fan_out}).weight has shape {tuple(o['w_shape'].ravel())}, "
           f"expected ({fan_in}, {fan_out})")
    ratio = float(o["w_std"]) * fan_in**0.5
    expect(math.isfinite(ratio) and abs(ratio - 1) < 0.05,
           f"Linear({fan_in}, {fan_out}).weight has std {float(o['w_std']):.4g}, expected "
           f"1/sqrt(fan_in) = {fan_in**-0.5:.4g} (torch.randn(...) / fan_in**0.5)")
    expect(abs(float(o["w_mean"])) < 0.05 * fan_in**-0.5, "Linear weight mean should be ~0")
    expect(tuple(o["b_shape"].ravel()) == (fan_out,) and float(o["b_absmax"]) <= 0.1,
           f"Linear({fan_in}, {fan_out}).bias: shape {tuple(o['b_shape'].ravel())}, largest "
           f"|value| {float(o['b_absmax']):.3g}; expected torch.zeros({fan_out})")
    expect(float(o["nobias_none"]) == 1 and int(o["nobias_nparams"]) == fan_in * fan_out,
           f"Linear(..., bias=False) should have bias None and only the weight as parameter "
           f"({fan_in * fan_out} numbers); got {int(o['nobias_nparams'])}")
    want = _t(ctx.inputs["lin_x"]) @ _t(ctx.inputs["lin_w"]) + _t(ctx.inputs["lin_b"])
    return _close(o["y"], want, "Linear forward x @ weight + bias")


def _ref_bn(ctx: Ctx, momentum: float = 0.1) -> mlp.BatchNorm1d:
    bn = mlp.BatchNorm1d(int(ctx.inputs["bn_x"].shape[1]), 1e-5, momentum, dtype=D)
    bn.gamma, bn.beta = _t(ctx.inputs["bn_gamma"]), _t(ctx.inputs["bn_beta"])
    return bn


def _bn_train(ctx: Ctx) -> str:
    expect(float(ctx.arr("bn_train", "training0")) == 1,
           "a new BatchNorm1d should start with .training = True")
    want = _ref_bn(ctx)(_t(ctx.inputs["bn_x"]))
    return _close(ctx.arr("bn_train", "y"), want,
                  "BatchNorm1d training output (batch mean, unbiased x.var, sqrt(var + eps))")


def _bn_running(ctx: Ctx) -> str:
    lines = []
    for tag, momentum in (("def", 0.1), ("mom", float(ctx.inputs["bn_momentum"][0]))):
        bn = _ref_bn(ctx, momentum)
        for key in ("bn_x", "bn_x2", "bn_x3"):
            bn(_t(ctx.inputs[key]))
        what = ("momentum=0.1 (default)" if tag == "def" else f"momentum={momentum:.4g}") + \
            ", running = (1 - momentum) * running + momentum * batch stat"
        lines.append(_close(ctx.arr("bn_running", f"{tag}_rm"), bn.running_mean,
                            f"running_mean after 3 batches, {what}", reshape=True))
        lines.append(_close(ctx.arr("bn_running", f"{tag}_rv"), bn.running_var,
                            f"running_var after 3 batches, {what}", reshape=True))
        expect(float(ctx.arr("bn_running", f"{tag}_tracked")) == 0,
               "running_mean/running_var carry autograd history: update them inside "
               "`with torch.no_grad():`")
    return "\n".join(lines)


def _bn_eval(ctx: Ctx) -> str:
    bn = _ref_bn(ctx)
    bn.training = False
    bn.running_mean, bn.running_var = _t(ctx.inputs["bn_rm"]), _t(ctx.inputs["bn_rv"])
    msg = _close(ctx.arr("bn_eval", "y"), bn(_t(ctx.inputs["bn_xe"])),
                 "BatchNorm1d eval output (with .training = False it uses running_mean/var)")
    _close(ctx.arr("bn_eval", "rm"), ctx.inputs["bn_rm"], "running_mean in eval mode "
           "(must not change)", reshape=True)
    _close(ctx.arr("bn_eval", "rv"), ctx.inputs["bn_rv"], "running_var in eval mode "
           "(must not change)", reshape=True)
    return msg


def _tanh(ctx: Ctx) -> str:
    expect(int(ctx.arr("tanh", "nparams")) == 0, "Tanh().parameters() should be []")
    return _close(ctx.arr("tanh", "y"), np.tanh(ctx.inputs["tanh_x"]), "Tanh()(x)")


def _chain_ref(ctx: Ctx) -> dict[str, torch.Tensor]:
    i = ctx.inputs
    leaves = {k: _t(i[f"ch_{k}"]).requires_grad_() for k in ("x", "w", "b", "gamma", "beta")}
    fan_in, fan_out = (int(n) for n in i["ch_w"].shape)
    lin, bn = mlp.Linear(fan_in, fan_out, dtype=D), mlp.BatchNorm1d(fan_out, dtype=D)
    lin.weight, lin.bias = leaves["w"], leaves["b"]
    bn.gamma, bn.beta = leaves["gamma"], leaves["beta"]
    out = mlp.Tanh()(bn(lin(leaves["x"])))
    (out * _t(i["ch_r"])).sum().backward()
    grads = {k: v.grad if v.grad is not None else torch.zeros(()) for k, v in leaves.items()}
    return {"out": out.detach(), "x": grads["x"], "weight": grads["w"], "bias": grads["b"],
            "gamma": grads["gamma"], "beta": grads["beta"]}


def _chain(ctx: Ctx) -> str:
    want = _chain_ref(ctx)
    lines, bad = [], []
    for key, ref in want.items():
        got = ctx.arr("chain", key)
        name = "out" if key == "out" else f"d{key}"
        c = cmp(got, ref.numpy(), name, rtol=1e-4 if got.dtype == np.float32 else 1e-6,
                atol=1e-4 if got.dtype == np.float32 else 1e-6)
        lines.append(c.line(name))
        if not c.approx:
            bad.append(f"{name} (max abs diff {c.maxdiff:.3g})")
    if bad:
        raise CheckFailed("Linear -> BatchNorm1d -> Tanh on the grader's weights differs from "
                          "autograd of the lecture formula in " + ", ".join(bad) + ":\n"
                          + "\n".join(lines))
    return "\n".join(lines)


def _params(ctx: Ctx) -> str:
    e, bs, h = (int(v) for v in ctx.inputs["pc_cfg"])
    want = {"bengio": mlp.count_params(*mlp.bengio_mlp(e, h, bs)),
            "bn": mlp.count_params(*mlp.bn_mlp(e, h, bs))}
    for key, what in (("bengio", f"C (27, {e}) + Linear({e * bs}, {h}) + Tanh + Linear({h}, 27)"),
                      ("bn", f"C (27, {e}) + Linear({e * bs}, {h}, bias=False) + "
                             f"BatchNorm1d({h}) + Tanh + Linear({h}, 27)")):
        got = int(ctx.arr("params", key))
        expect(got == want[key], f"{what} has {got} parameters, expected {want[key]} "
               "(BatchNorm's parameters are gamma and beta; running stats are buffers; the "
               "lecture's sizes give 11,897 / 12,097)")
    return f"{want['bengio']} / {want['bn']} parameters (n_embd {e}, block {bs}, n_hidden {h})"


CHECKS = [
    CheckSpec("build_dataset contents", 10, _build, "contexts and targets on grader words"),
    CheckSpec("lecture split sizes", 10, _splits, "the lecture's 80/10/10 split of fresh grader "
              "words (on names.txt: 182625 / 22655 / 22866)"),
    CheckSpec("Linear init and forward", 10, _linear, "randn / fan_in**0.5, zero bias, x @ W + b"),
    CheckSpec("BatchNorm training forward", 15, _bn_train, "batch mean and unbiased var"),
    CheckSpec("BatchNorm running stats", 10, _bn_running, "momentum update under no_grad"),
    CheckSpec("BatchNorm eval forward", 10, _bn_eval, "uses running stats, leaves them alone"),
    CheckSpec("Tanh forward", 5, _tanh, "torch.tanh, no parameters"),
    CheckSpec("Linear→BatchNorm1d→Tanh gradients", 15, _chain, "forward and grads vs autograd"),
    CheckSpec("parameter counts", 5, _params, "Bengio MLP / BatchNorm MLP of fresh sizes (the "
              "lecture's: 11,897 / 12,097)"),
    CheckSpec("short training lowers val loss", 10, week3_train.check,
              "40 verified SGD steps from grader weights; the grader computes the loss"),
]


from grader.weeks import JobSpec, Week, sandbox_only  # noqa: E402 (kept beside WEEK_SPEC)

WEEK_SPEC = Week(  # the one interface grader.grade reads (grader/weeks/__init__.py)
    week=WEEK, title=TITLE, limits=LIMITS,
    job=JobSpec(f"week{WEEK}", ITERATION_CAP, HYPERPARAMS, SNAPSHOTS, data=("names.txt",)),
    make_inputs=sandbox_only(make_inputs), checks=CHECKS,
    extras=week3_curves.extras)
