"""Week 1 — micrograd: the student's Value against torch float64 op by op, graphs, an MLP."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from grader.checks import CheckFailed, CheckSpec, Ctx, as_float, expect
from grader.probes.week1 import CASES, GRAPHS, OPS, TRAIN_STEPS
from grader.sandbox import Limits
from grader.weeks import week1_mlp as mlp_ref
from reference import micrograd as ref

WEEK = 1
TITLE = "micrograd"
ITERATION_CAP = 20
HYPERPARAMS: dict[str, object] = {}
SNAPSHOTS: dict[str, list[str]] = {}
LIMITS = Limits(wall_s=30, memory_mb=1024)

RTOL, ATOL = 1e-6, 1e-9
LECTURE_NEURON = [2.0, 0.0, -3.0, 1.0, 6.8813735870195432]  # x1, x2, w1, w2, b
GRAPH_SIZES = {"small": (3, 12), "medium": (6, 60), "large": (10, 340)}  # leaves, ops
MAX_NODES = 500
TRAIN_LR = 0.05


def _signed(rng: np.random.Generator, lo: float, hi: float, shape: tuple[int, ...]) -> np.ndarray:
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, size=shape)


def _case_inputs(rng: np.random.Generator, group: str) -> tuple[np.ndarray, np.ndarray]:
    """Leaves (n, 5) and constants (n, 2) for one group; magnitudes keep every op well defined."""
    n = len(CASES[group])
    v, k = _signed(rng, 0.5, 2.0, (n, 5)), _signed(rng, 0.5, 3.0, (n, 2))
    if group == "pow":
        v[:, 0], v[:, 1] = np.abs(v[:, 0]), -np.abs(v[:, 1])
        k[4, 0] = rng.uniform(-2.5, 2.5)
    elif group == "tanh":
        v[:, 0] = [rng.uniform(-0.5, 0.5), rng.uniform(0.5, 1.5), -rng.uniform(1.5, 3.0),
                   rng.uniform(-3.0, 3.0)]
    elif group == "exp":
        v[:, 0] = rng.uniform(-2.0, 2.0, size=n)
    elif group == "relu":
        v[:, 0] = [abs(v[0, 0]), -abs(v[1, 0])]
    elif group == "sanity":  # test_engine.py uses x = -4 and a, b = -4, 2; fresh ones here
        v[0, 0] = rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 4.0)
        v[1, :2] = _signed(rng, 2.0, 5.0, (1,))[0], _signed(rng, 1.0, 3.0, (1,))[0]
    elif group == "neuron":  # the lecture's neuron on fresh numbers (row 0 keeps x2 = 0)
        v[:, 4] = _signed(rng, 0.3, 1.5, (n,)) - v[:, 0] * v[:, 2] - v[:, 1] * v[:, 3]
        v[0, 1] = 0.0
        v[0, 4] = _signed(rng, 0.3, 1.5, (1,))[0] - v[0, 0] * v[0, 2]
    return v, k


def _well_conditioned(group: str, v: np.ndarray, k: np.ndarray) -> bool:
    """Every case's value and grads are moderate (no f**-1 of a near-zero f)."""
    for (_, _, fn), row, ks in zip(CASES[group], v.tolist(), k.tolist(), strict=True):
        out, grad = ref.torch_case(fn, row, ks)
        if not all(np.isfinite([out, *grad])) or max(abs(out), *map(abs, grad)) > 1e9:
            return False
    return True


def _graph(seed: int, n_leaves: int, n_ops: int) -> dict[str, list[Any]]:
    rnd = random.Random(seed)
    while True:
        g = ref.random_graph(rnd, n_leaves, n_ops)
        if len(g["leaf"]) + len(g["op"]) <= MAX_NODES:
            return g


def make_inputs(rng: np.random.Generator, data_dir: Path | None) -> dict[str, np.ndarray]:
    """Fresh leaves/constants per case group, three random graphs and the training seed."""
    inputs: dict[str, np.ndarray] = {}
    for group in CASES:
        v, k = _case_inputs(rng, group)
        while group == "sanity" and not _well_conditioned(group, v, k):
            v, k = _case_inputs(rng, group)
        inputs[f"{group}_v"], inputs[f"{group}_k"] = v, k
    for name in GRAPHS:
        g = _graph(int(rng.integers(2**62)), *GRAPH_SIZES[name])
        for key, dtype in (("leaf", np.float64), ("op", np.int64), ("a", np.int64),
                           ("b", np.int64), ("c", np.float64)):
            inputs[f"graph_{name}_{key}"] = np.asarray(g[key], dtype=dtype)
    inputs.update(_param_sizes(rng))
    inputs.update(_train_inputs(rng))
    return inputs


def _param_sizes(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Sizes for the parameter-count check; none equals the lecture's (4, 16, 41, 337)."""
    def ints(lo: int, hi: int, n: int) -> list[int]:
        return [int(x) for x in rng.integers(lo, hi + 1, n)]
    return {"params_neuron": np.array(ints(5, 12, 1)), "params_layer": np.array(ints(4, 9, 2)),
            "params_mlp1": np.array(ints(4, 7, 1) + ints(5, 9, 2) + [1]),
            "params_mlp2": np.array(ints(2, 4, 1) + ints(10, 20, 3) + ints(1, 3, 1))}


def _train_inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A small MLP, data set and start weights (chosen so SGD clearly lowers the loss)."""
    nin, nouts = int(rng.integers(2, 5)), [int(x) for x in rng.integers(3, 6, 2)] + [1]
    npts = int(rng.integers(4, 7))
    xs = rng.uniform(-2.0, 3.0, (npts, nin))
    ys = rng.permutation(np.resize([1.0, -1.0], npts))
    w0 = mlp_ref.stable_start(rng, nin, nouts, xs, ys, TRAIN_LR, TRAIN_STEPS)
    return {"train_nin": np.array([nin]), "train_nouts": np.array(nouts), "train_x": xs,
            "train_y": ys, "train_lr": np.array([TRAIN_LR]), "train_init": w0}


# ---------------------------------------------------------------- op-by-op cases


def _want_cases(inputs: dict[str, np.ndarray], group: str) -> tuple[np.ndarray, np.ndarray]:
    outs, grads = [], []
    for (_, _, fn), row, ks in zip(CASES[group], inputs[f"{group}_v"].tolist(),
                                   inputs[f"{group}_k"].tolist(), strict=True):
        out, grad = ref.torch_case(fn, row, ks)
        outs.append(out)
        grads.append(grad)
    return np.array(outs), np.array(grads)


def _got(ctx: Ctx, probe: str, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """A probe array of the expected shape (a missing name is reported in one line)."""
    try:
        got = as_float(ctx.arr(probe, key), f"{probe} {key}")
    except CheckFailed as e:
        last = e.message.strip().splitlines()[-1] if e.message.strip() else ""
        if last.startswith("NameError: the notebook does not define"):
            raise CheckFailed(last.removeprefix("NameError: ")) from None
        if any(s in e.message for s in _NUMBER_MIX):
            raise CheckFailed(_wrap_hint(probe) + "\n" + e.message) from None
        raise
    expect(got.shape == shape, f"{probe}: {key} has shape {got.shape}, expected {shape}")
    return got


_NUMBER_MIX = ("'float' object has no attribute", "'int' object has no attribute",
               "unsupported operand type")


def _wrap_hint(probe: str) -> str:
    """Which expressions the grader tried, and the usual fix for a Value-and-number crash."""
    tried = ", ".join(dict.fromkeys(f"`{c[0]}`" for c in CASES.get(probe, [])))
    what = f"the expressions {tried}" if tried else "a random graph mixing Values and numbers"
    return (f"Your Value crashed on {what} (a, b, c are Values; k is a plain float, as in "
            "`a + 2.3`). Wrap plain numbers: `other = other if isinstance(other, Value) else "
            "Value(other)`; `2.3 + a` also needs __radd__ (and __rmul__ …).")


def _close(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.isfinite(got) & np.isclose(got, want, rtol=RTOL, atol=ATOL)


def _case_fail(group: str, i: int, ctx: Ctx, got: tuple[Any, np.ndarray],
               want: tuple[Any, np.ndarray]) -> str | None:
    """Why case i of a group is wrong, or None."""
    label, leaves, _ = CASES[group][i]
    used = [(j, n) for j, n in enumerate(leaves.split()) if n != "_"]  # "_": a leaf not used
    idx, names = [j for j, _ in used], [n for _, n in used]
    row, k = ctx.inputs[f"{group}_v"][i], float(ctx.inputs[f"{group}_k"][i, 0])
    at = ", ".join(f"{n}={row[j]:.6g}" for j, n in used)
    at += f", k={k:.6g}" if "k" in label.split() or "k)" in label else ""
    if not _close(got[0], want[0]):
        return (f"{label} with {at}: forward value {got[0]:.8g}, expected {want[0]:.8g} "
                f"(torch float64); abs diff {abs(got[0] - want[0]):.3g}")
    g, w = got[1][idx], want[1][idx]
    if _close(g, w).all():
        return None
    fmt = lambda xs: ", ".join(f"{n}.grad={x:.8g}" for n, x in zip(names, xs, strict=True))
    return (f"{label} with {at}: after backward() got {fmt(g)}; expected {fmt(w)} "
            f"(torch float64); max abs diff {np.max(np.abs(g - w)):.3g}")


def _cases_check(group: str) -> Callable[[Ctx], str]:
    def check(ctx: Ctx) -> str:
        want_out, want_grad = ctx.memo(group, lambda: _want_cases(ctx.inputs, group))
        got_out = _got(ctx, group, "out", want_out.shape)
        got_grad = _got(ctx, group, "grad", want_grad.shape)
        for i in range(len(CASES[group])):
            why = _case_fail(group, i, ctx, (got_out[i], got_grad[i]), (want_out[i], want_grad[i]))
            if why:
                raise CheckFailed(why)
        diff = max(np.max(np.abs(got_out - want_out)), np.max(np.abs(got_grad - want_grad)))
        return f"{len(CASES[group])} expressions match torch (max abs diff {diff:.3g})"
    return check


# ---------------------------------------------------------------- random graphs


def _describe(inputs: dict[str, np.ndarray], name: str, i: int) -> str:
    pre, n_leaves = f"graph_{name}_", len(inputs[f"graph_{name}_leaf"])
    if i < n_leaves:
        return f"leaf {i}"
    j = i - n_leaves
    op, a, b, c = (inputs[pre + key][j].item() for key in ("op", "a", "b", "c"))
    k = f"{c:.6g}" if c >= 0 else f"({c:.6g})"
    args = {"add": f"node {a} + node {b}", "mul": f"node {a} * node {b}",
            "sub": f"node {a} - node {b}", "div": f"node {a} / node {b}", "neg": f"-node {a}",
            "pow": f"node {a} ** {k}", "addc": f"node {a} + {k}",
            "mulc": f"node {a} * {k}", "subc": f"node {a} - {k}",
            "divc": f"node {a} / {k}", "tanh": f"node {a}.tanh()", "exp": f"node {a}.exp()"}
    return f"node {i} = {args[OPS[op]]}"


def _consumers(inputs: dict[str, np.ndarray], name: str, i: int) -> list[str]:
    pre, n_leaves = f"graph_{name}_", len(inputs[f"graph_{name}_leaf"])
    a, b = inputs[pre + "a"].tolist(), inputs[pre + "b"].tolist()
    return [_describe(inputs, name, n_leaves + j) for j in range(len(a)) if i in (a[j], b[j])]


def _graph_check_one(ctx: Ctx, name: str) -> float:
    g = {k: ctx.inputs[f"graph_{name}_{k}"].tolist() for k in ("leaf", "op", "a", "b", "c")}
    want = ctx.memo(f"graph_{name}", lambda: ref.graph_torch(g))
    want_val, want_grad = np.array(want[0]), np.array(want[1])
    got_val = _got(ctx, f"graph_{name}", "val", want_val.shape)
    got_grad = _got(ctx, f"graph_{name}", "grad", want_grad.shape)
    bad = np.flatnonzero(~_close(got_val, want_val))
    if bad.size:
        i = int(bad[0])
        raise CheckFailed(f"{name} graph ({want_val.size} nodes): forward values differ at "
                          f"{bad.size} nodes; the first is {_describe(ctx.inputs, name, i)}: got "
                          f"{got_val[i]:.8g}, expected {want_val[i]:.8g} (torch float64)")
    bad = np.flatnonzero(~_close(got_grad, want_grad))
    if bad.size:
        i = int(bad[-1])  # backward runs from the last node: every node after i is right
        users = "; ".join(_consumers(ctx.inputs, name, i)[:4])
        if i == want_val.size - 1:
            raise CheckFailed(f"{name} graph: the output node has grad {got_grad[i]:.8g} after "
                              "backward(), expected 1.0: backward() starts with self.grad = 1.0")
        raise CheckFailed(f"{name} graph ({want_val.size} nodes): gradients differ at {bad.size} "
                          f"nodes (max abs diff {np.max(np.abs(got_grad - want_grad)):.3g}). The "
                          f"first wrong one in backward order is {_describe(ctx.inputs, name, i)}: "
                          f"grad {got_grad[i]:.8g}, expected {want_grad[i]:.8g}. It gets its "
                          f"gradient from: {users} — check those ops' _backward.")
    return float(max(np.max(np.abs(got_val - want_val)), np.max(np.abs(got_grad - want_grad))))


def _graphs(ctx: Ctx) -> str:
    diffs = [_graph_check_one(ctx, name) for name in GRAPHS]
    sizes = "/".join(str(len(ctx.inputs[f"graph_{n}_leaf"]) + len(ctx.inputs[f"graph_{n}_op"]))
                     for n in GRAPHS)
    return f"graphs of {sizes} nodes match torch (max abs diff {max(diffs):.3g})"


# ---------------------------------------------------------------- the MLP


def _sizes(ctx: Ctx) -> list[tuple[str, int]]:
    """(constructor call, expected parameter count) for the grader's fresh sizes."""
    i = ctx.inputs
    nin, (lin, lout) = int(i["params_neuron"][0]), (int(n) for n in i["params_layer"])
    out = [(f"Neuron({nin})", nin + 1), (f"Layer({lin}, {lout})", (lin + 1) * lout)]
    for key in ("params_mlp1", "params_mlp2"):
        a, *nouts = (int(n) for n in i[key])
        out.append((f"MLP({a}, {nouts})", mlp_ref.n_params(a, nouts)))
    return out


def _params(ctx: Ctx) -> str:
    want = _sizes(ctx)
    got = _got(ctx, "params", "count", (len(want),))
    for (name, w), g in zip(want, got.tolist(), strict=True):
        expect(g == w, f"{name}.parameters() has {g:g} parameters, expected {w} (every neuron "
                       "has nin weights and one bias; the lecture's MLP(3, [4, 4, 1]) has 41)")
    return ", ".join(f"{n}: {w}" for n, w in want)


def _train(ctx: Ctx) -> str:
    i, steps = ctx.inputs, TRAIN_STEPS
    nin, nouts = int(i["train_nin"][0]), [int(n) for n in i["train_nouts"]]
    xs, ys, lr = i["train_x"], i["train_y"], float(i["train_lr"][0])
    n, net = mlp_ref.n_params(nin, nouts), f"MLP({nin}, {nouts})"
    w = _got(ctx, "train", "weights", (steps + 1, n))
    pred = _got(ctx, "train", "pred", (steps + 1, len(ys)))
    grad = _got(ctx, "train", "grad", (steps, n))
    mask = _got(ctx, "train", "in_parameters", (n,))
    expect(bool(np.isin(mask, (0, 1)).all()), "train: in_parameters must be 0/1")
    expect(bool(_close(w[0], i["train_init"]).all()), f"the grader set the weights of your "
           f"{net} to its own start values (layers -> neurons -> w, b); they read back "
           "differently, expected them unchanged")
    for s in range(steps + 1):
        p_ref = mlp_ref.loss_grad(w[s], nin, nouts, xs, ys)[2]
        expect(bool(_close(pred[s], p_ref).all()), f"{net} at SGD step {s}: predictions "
               f"{pred[s][:3].tolist()}…, expected {p_ref[:3].tolist()}… (the lecture's neuron "
               "tanh(sum(wi*xi) + b) on the weights your MLP holds)")
        if s == steps:
            break
        expect(bool(np.any(grad[s] * mask != 0)), f"step {s}: backward() left every gradient "
               f"of {net}.parameters() at 0, expected the loss's gradients")
        expect(bool(_close(w[s + 1], w[s] - lr * grad[s] * mask).all()), f"step {s}: the "
               "weights after p.data += -lr * p.grad do not follow from the gradients your "
               "backward() gave (expected only parameters() to change, by -lr * grad)")
    # The loss is the grader's: SGD with exact gradients on what your parameters() exposes, from
    # the grader's start. Whether the loss then falls with *your* gradients is left to the op
    # checks (a wrong tanh derivative lowers it on most draws, not all: a coin flip per seed).
    losses = mlp_ref.trajectory(i["train_init"], nin, nouts, xs, ys, lr, steps, mask)
    expect(losses[-1] < 0.9 * losses[0], f"{steps} SGD steps (lr {lr:g}) on what "
           f"{net}.parameters() returns take the grader's loss from {losses[0]:.4f} only to "
           f"{losses[-1]:.4f}; expected it to fall (does parameters() return every w and b?)")
    got = mlp_ref.loss_grad(w[-1], nin, nouts, xs, ys)[0]
    return (f"{net}: forward and updates right at all {steps} steps; loss {losses[0]:.4f} -> "
            f"{got:.4f} (with exact gradients {losses[-1]:.4f})")


def _spec(name: str, points: float, fn: Callable[[Ctx], str | None], desc: str,
          bonus: bool = False) -> CheckSpec:
    return CheckSpec(name, points, fn, desc, bonus)


CHECKS = [
    _spec("add", 7, _cases_check("add"), "a + b and a + number: value and grads"),
    _spec("mul", 7, _cases_check("mul"), "a * b and a * number: value and grads"),
    _spec("pow", 7, _cases_check("pow"), "a ** int and a ** float: value and grad"),
    _spec("div", 6, _cases_check("div"), "a / b and a / number: value and grads"),
    _spec("neg and sub", 6, _cases_check("negsub"), "-a, a - b, a - number"),
    _spec("tanh forward/backward", 8, _cases_check("tanh"), "a.tanh() and its grad 1 - t**2"),
    _spec("exp forward/backward", 6, _cases_check("exp"), "a.exp() and its grad"),
    _spec("reflected add/mul", 6, _cases_check("reflected"), "2 + a, 2 * a, sum([...])"),
    _spec("reflected sub/div", 0, _cases_check("rsub_rdiv"), "2 - a, 2 / a", bonus=True),
    _spec("relu", 0, _cases_check("relu"), "a.relu() (optional)", bonus=True),
    _spec("gradient accumulation", 8, _cases_check("accumulate"),
          "a + a gives a.grad == 2: grads add up (+=) when a node is reused"),
    _spec("random graphs", 14, _graphs,
          "seeded random expression graphs (up to 500 nodes, reused nodes) equal torch"),
    _spec("micrograd sanity graphs", 6, _cases_check("sanity"),
          "test_engine.py's two graphs (relu replaced by **2) on fresh inputs equal torch"),
    _spec("lecture neuron", 6, _cases_check("neuron"),
          "o = tanh(x1*w1 + x2*w2 + b) on fresh numbers (the lecture's x1=2, x2=0, w1=-3, "
          "w2=1, b=6.88… gives 0.7071 and grads -1.5, 1.0, 0.5, 0.0)"),
    _spec("MLP parameter counts", 6, _params,
          "parameters() of a Neuron, a Layer and MLPs of fresh sizes (the lecture's "
          "MLP(3, [4, 4, 1]) has 41)"),
    _spec("MLP training", 7, _train,
          "20 SGD steps of the lecture's loop on a fresh MLP and data set: the grader checks "
          "each step and computes the loss"),
]


from grader.weeks import JobSpec, Week, sandbox_only  # noqa: E402 (kept beside WEEK_SPEC)

WEEK_SPEC = Week(  # the one interface grader.grade reads (grader/weeks/__init__.py)
    week=WEEK, title=TITLE, limits=LIMITS,
    job=JobSpec(f"week{WEEK}", ITERATION_CAP, HYPERPARAMS, SNAPSHOTS),
    make_inputs=sandbox_only(make_inputs), checks=CHECKS)
