"""Week 1 reference: micrograd (scalar autograd + a tiny MLP), and seeded random expression graphs.

Value/Neuron/Layer/MLP follow karpathy/micrograd (engine.py, nn.py) with the lecture's tanh neuron.
The graph helpers describe an expression DAG as flat lists (op codes, operand indices, constants)
so the sandbox can rebuild it with the student's Value and the grader with torch float64.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import torch


class Value:
    """Stores a single scalar value and its gradient."""

    def __init__(self, data: float, _children: tuple[Value, ...] = (), _op: str = "") -> None:
        self.data = data
        self.grad = 0.0
        # internal variables used for autograd graph construction
        self._backward: Callable[[], None] = lambda: None
        self._prev = set(_children)
        self._op = _op  # the op that produced this node, for graphviz / debugging / etc

    def __add__(self, other: Any) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, other: int | float) -> Value:
        assert isinstance(other, int | float), "only supporting int/float powers for now"
        out = Value(self.data**other, (self,), f"**{other}")

        def _backward() -> None:
            self.grad += (other * self.data ** (other - 1)) * out.grad
        out._backward = _backward
        return out

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward() -> None:
            self.grad += (1 - t**2) * out.grad
        out._backward = _backward
        return out

    def exp(self) -> Value:
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward() -> None:
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def relu(self) -> Value:
        out = Value(0.0 if self.data < 0 else self.data, (self,), "ReLU")

        def _backward() -> None:
            self.grad += (out.data > 0) * out.grad
        out._backward = _backward
        return out

    def backward(self) -> None:
        # topological order all of the children in the graph
        topo: list[Value] = []
        visited: set[Value] = set()

        def build_topo(v: Value) -> None:
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)
        build_topo(self)
        # go one variable at a time and apply the chain rule to get its gradient
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()

    def __neg__(self) -> Value:  # -self
        return self * -1

    def __radd__(self, other: Any) -> Value:  # other + self
        return self + other

    def __sub__(self, other: Any) -> Value:  # self - other
        return self + (-other)

    def __rsub__(self, other: Any) -> Value:  # other - self
        return other + (-self)

    def __rmul__(self, other: Any) -> Value:  # other * self
        return self * other

    def __truediv__(self, other: Any) -> Value:  # self / other
        return self * other**-1

    def __rtruediv__(self, other: Any) -> Value:  # other / self
        return other * self**-1

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"


class Neuron:
    """w·x + b squashed by tanh."""

    def __init__(self, nin: int) -> None:
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(random.uniform(-1, 1))

    def __call__(self, x: Sequence[Any]) -> Value:
        act = sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
        return act.tanh()

    def parameters(self) -> list[Value]:
        return self.w + [self.b]


class Layer:
    """nout independent neurons reading the same nin inputs."""

    def __init__(self, nin: int, nout: int) -> None:
        self.neurons = [Neuron(nin) for _ in range(nout)]

    def __call__(self, x: Sequence[Any]) -> Value | list[Value]:
        outs = [n(x) for n in self.neurons]
        return outs[0] if len(outs) == 1 else outs

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]


class MLP:
    """Layers of sizes [nin] + nouts, applied in order."""

    def __init__(self, nin: int, nouts: list[int]) -> None:
        sz = [nin] + nouts
        self.layers = [Layer(sz[i], sz[i + 1]) for i in range(len(nouts))]

    def __call__(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]


# ---------------------------------------------------------------- random expression graphs

OPS = ("add", "mul", "sub", "div", "neg", "pow", "addc", "mulc", "subc", "divc", "tanh", "exp")


def apply_op(op: int, a: Any, b: Any, c: float) -> Any:
    """One graph node: works on Values, torch tensors and floats alike (c is a constant)."""
    name = OPS[op]
    if name == "add":
        return a + b
    if name == "mul":
        return a * b
    if name == "sub":
        return a - b
    if name == "div":
        return a / b
    if name == "neg":
        return -a
    if name == "pow":
        return a ** (int(c) if c == int(c) else c)
    if name == "addc":
        return a + c
    if name == "mulc":
        return a * c
    if name == "subc":
        return a - c
    if name == "divc":
        return a / c
    if isinstance(a, float):
        return math.tanh(a) if name == "tanh" else math.exp(a)
    return a.tanh() if name == "tanh" else a.exp()


def _float_op(op: int, a: float, b: float, c: float) -> float | None:
    """Forward value with plain floats, or None where the op is unsafe here."""
    name = OPS[op]
    if (name == "div" and abs(b) < 0.5) or (name == "exp" and a > 3.0):
        return None
    if name == "pow" and (a <= 0.2 and c != int(c) or abs(a) < 0.3 and c < 0):
        return None
    return float(apply_op(op, a, b, c))


def _constant(rnd: random.Random, name: str) -> float:
    if name == "pow":
        return rnd.choice([2.0, 3.0, -1.0, 0.5, 1.5, -0.5, round(rnd.uniform(-2, 2), 3)])
    if name in ("addc", "subc", "mulc", "divc"):
        return rnd.choice([-1, 1]) * rnd.uniform(0.5, 2.0)
    return 0.0


def random_graph(rnd: random.Random, n_leaves: int, n_ops: int,
                 max_depth: int = 100) -> dict[str, list[Any]]:
    """A DAG with fan-out (reused nodes); its sinks are summed so the last node reaches them all."""
    vals = [rnd.choice([-1, 1]) * rnd.uniform(0.2, 2.0) for _ in range(n_leaves)]
    depth, uses = [0] * n_leaves, [0] * n_leaves
    g: dict[str, list[Any]] = {"leaf": list(vals), "op": [], "a": [], "b": [], "c": []}

    def pick() -> int:
        n = len(vals)
        return rnd.randrange(max(0, n - 6), n) if rnd.random() < 0.5 else rnd.randrange(n)

    def push(op: int, a: int, b: int, c: float, v: float) -> None:
        for key, x in zip(("op", "a", "b", "c"), (op, a, b, c), strict=True):
            g[key].append(x)
        uses[a] += 1
        uses[b] += OPS[op] in ("add", "mul", "sub", "div") and a != b
        vals.append(v)
        depth.append(1 + max(depth[a], depth[b]))
        uses.append(0)

    while len(g["op"]) < n_ops:
        op = rnd.randrange(len(OPS))
        a = pick()
        b = a if rnd.random() < 0.15 else pick()
        c = _constant(rnd, OPS[op])
        v = _float_op(op, vals[a], vals[b], c)
        if v is None or not 1e-3 < abs(v) < 30 or max(depth[a], depth[b]) >= max_depth:
            continue
        push(op, a, b, c, v)
    sinks = [i for i, u in enumerate(uses) if u == 0]
    while len(sinks) > 1:  # pairwise sums keep the extra depth logarithmic
        nxt = []
        for i in range(0, len(sinks) - 1, 2):
            push(OPS.index("add"), sinks[i], sinks[i + 1], 0.0, vals[sinks[i]] + vals[sinks[i + 1]])
            nxt.append(len(vals) - 1)
        sinks = nxt + sinks[len(sinks) - len(sinks) % 2:]
    return g


def graph_values(g: dict[str, list[Any]], leaf: Callable[[float], Any]) -> list[Any]:
    """Build the graph's nodes with leaf(x) for the leaves (Value, tensor, float)."""
    nodes = [leaf(x) for x in g["leaf"]]
    for op, a, b, c in zip(g["op"], g["a"], g["b"], g["c"], strict=True):
        nodes.append(apply_op(op, nodes[a], nodes[b], c))
    return nodes


def graph_torch(g: dict[str, list[Any]]) -> tuple[list[float], list[float]]:
    """Forward values and gradients of every node w.r.t. the last node, in torch float64."""
    nodes = graph_values(g, lambda x: torch.tensor(float(x), dtype=torch.float64,
                                                   requires_grad=True))
    for t in nodes:
        if not t.is_leaf:
            t.retain_grad()
    nodes[-1].backward()
    grads = [0.0 if t.grad is None else t.grad.item() for t in nodes]
    return [t.item() for t in nodes], grads


def torch_case(fn: Callable[..., Any], leaves: Sequence[float],
               consts: Sequence[float]) -> tuple[float, list[float]]:
    """out = fn(leaves, consts) in torch float64, and d out / d leaf for each leaf."""
    xs = [torch.tensor(float(x), dtype=torch.float64, requires_grad=True) for x in leaves]
    out = fn(xs, [float(k) for k in consts])
    out.backward()
    return out.item(), [0.0 if x.grad is None else x.grad.item() for x in xs]
