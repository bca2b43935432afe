"""reference/micrograd.py against torch float64 (after karpathy/micrograd test/test_engine.py)."""

from __future__ import annotations

import math
import random

import pytest
import torch

from grader.probes import week1 as probes
from reference import micrograd as ref
from reference.micrograd import MLP, Layer, Neuron, Value

TOL = 1e-6


def _tensor(x: float) -> torch.Tensor:
    return torch.tensor([x], dtype=torch.float64, requires_grad=True)


def _grad(t: torch.Tensor) -> float:
    assert t.grad is not None
    return t.grad.item()


def test_sanity_check() -> None:
    def graph(x):
        z = 2 * x + 2 + x
        q = z.relu() + z * x
        h = (z * z).relu()
        return h + q + q * x

    xmg = Value(-4.0)
    ymg = graph(xmg)
    ymg.backward()
    xpt = _tensor(-4.0)
    ypt = graph(xpt)
    ypt.backward()
    assert ymg.data == ypt.item()  # forward pass went well
    assert xmg.grad == _grad(xpt)  # backward pass went well


def test_more_ops() -> None:
    def graph(a, b):
        c = a + b
        d = a * b + b**3
        c = c + (c + 1)
        c = c + (1 + c + (-a))
        d = d + (d * 2 + (b + a).relu())
        d = d + (3 * d + (b - a).relu())
        e = c - d
        f = e**2
        g = f / 2.0
        return g + 10.0 / f

    a, b = Value(-4.0), Value(2.0)
    g = graph(a, b)
    g.backward()
    at, bt = _tensor(-4.0), _tensor(2.0)
    gt = graph(at, bt)
    gt.backward()
    assert abs(g.data - gt.item()) < TOL
    assert abs(a.grad - _grad(at)) < TOL
    assert abs(b.grad - _grad(bt)) < TOL


def test_lecture_neuron() -> None:
    x1, x2, w1, w2, b = (Value(v) for v in (2.0, 0.0, -3.0, 1.0, 6.8813735870195432))
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    assert o.data == pytest.approx(math.sqrt(0.5), abs=1e-12)
    grads = [x1.grad, x2.grad, w1.grad, w2.grad, b.grad]
    assert grads == pytest.approx([-1.5, 0.5, 1.0, 0.0, 0.5], abs=1e-12)


def test_grad_accumulates_on_reuse() -> None:
    a = Value(3.0)
    (a + a).backward()
    assert a.grad == 2.0
    a, b = Value(-2.0), Value(3.0)
    f = (a * b) * (a + b)  # the lecture's second reuse example
    f.backward()
    assert (a.grad, b.grad) == (-3.0, -8.0)


@pytest.mark.parametrize("group", sorted(probes.CASES))
def test_every_case_matches_torch(group: str) -> None:
    rnd = random.Random(group)
    for _, _, fn in probes.CASES[group]:
        row = [rnd.choice([-1, 1]) * rnd.uniform(0.5, 2.0) for _ in range(probes.N_LEAVES)]
        row[0] = abs(row[0]) if group in ("pow", "rsub_rdiv") else row[0]
        row[1] = -abs(row[1]) if group == "pow" else row[1]
        ks = [rnd.uniform(0.5, 3.0), 1.0]
        leaves = [Value(x) for x in row]
        out = fn(leaves, ks)
        out.backward()
        want, grads = ref.torch_case(fn, row, ks)
        assert out.data == pytest.approx(want, rel=TOL)
        assert [v.grad for v in leaves] == pytest.approx(grads, rel=TOL, abs=1e-12)


def test_torch_case_gives_zero_for_unused_leaves() -> None:
    out, grads = ref.torch_case(lambda v, k: v[0] * k[0], [2.0, 5.0], [3.0])
    assert out == 6.0 and grads == [3.0, 0.0]


@pytest.mark.parametrize("seed", range(6))
def test_random_graph_matches_torch(seed: int) -> None:
    g = ref.random_graph(random.Random(seed), n_leaves=8, n_ops=300)
    nodes = ref.graph_values(g, Value)
    nodes[-1].backward()
    vals, grads = ref.graph_torch(g)
    assert [n.data for n in nodes] == pytest.approx(vals, rel=TOL, abs=1e-9)
    assert [n.grad for n in nodes] == pytest.approx(grads, rel=TOL, abs=1e-9)


def test_random_graph_shape() -> None:
    """Reused nodes, bounded values, every node an ancestor of the output, deterministic."""
    g = ref.random_graph(random.Random(7), n_leaves=10, n_ops=340)
    assert g == ref.random_graph(random.Random(7), n_leaves=10, n_ops=340)
    n = len(g["leaf"]) + len(g["op"])
    assert n <= 500 and set(g["op"]) == set(range(len(ref.OPS)))
    binary = {ref.OPS.index(o) for o in ("add", "mul", "sub", "div")}
    used = [a for a in g["a"]] + [b for op, b in zip(g["op"], g["b"], strict=True) if op in binary]
    assert max(used.count(i) for i in set(used)) >= 3  # fan-out
    reach = {n - 1}
    for i in range(n - 1, len(g["leaf"]) - 1, -1):
        j = i - len(g["leaf"])
        if i in reach:
            reach.add(g["a"][j])
            if g["op"][j] in binary:
                reach.add(g["b"][j])
    assert reach == set(range(n))
    vals = ref.graph_values(g, float)
    assert all(math.isfinite(v) and abs(v) < 500 for v in vals)


def test_probe_ops_match_reference() -> None:
    assert probes.OPS == ref.OPS
    for op, name in enumerate(ref.OPS):
        c = 2.0 if name == "pow" else 1.5
        want = ref.apply_op(op, Value(0.7), Value(1.3), c).data
        assert probes._node(name, Value(0.7), Value(1.3), c).data == want


def test_parameter_counts() -> None:
    assert len(Neuron(3).parameters()) == 4
    assert len(Layer(3, 4).parameters()) == 16
    assert len(MLP(3, [4, 4, 1]).parameters()) == 41
    assert len(MLP(2, [16, 16, 1]).parameters()) == 337


@pytest.mark.parametrize("seed", [0, 1, 1337])
def test_sgd_lowers_the_toy_loss(seed: int) -> None:
    random.seed(seed)
    n = MLP(3, [4, 4, 1])
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    losses = []
    for _ in range(20):
        loss = sum((n(x) - y) ** 2 for x, y in zip(xs, ys, strict=True))
        for p in n.parameters():
            p.grad = 0.0
        loss.backward()
        for p in n.parameters():
            p.data += -0.05 * p.grad
        losses.append(loss.data)
    assert losses[-1] < 0.5 * losses[0]
