"""Week 1 probes (run inside the sandbox): expressions built with the student's Value, as numbers.

Nothing here judges anything. Each group of CASES is an expression fn(v, k) of leaf Values v and
float constants k; the trusted side evaluates the very same expressions on torch float64 tensors.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

N_LEAVES = 5  # leaves per case (unused ones just keep grad 0)
OPS = ("add", "mul", "sub", "div", "neg", "pow", "addc", "mulc", "subc", "divc", "tanh", "exp")
GRAPHS = ("small", "medium", "large")
TRAIN_STEPS = 20


def _more_ops(v: list, k: list) -> Any:
    """micrograd test_more_ops without relu (→ **2) and reflected ops."""
    a, b = v[0], v[1]
    c = a + b
    d = a * b + b**3
    c = c + (c + 1)
    c = c + ((c + 1) + (-a))
    d = d + (d * 2 + (b + a) ** 2)
    d = d + (d * 3 + (b - a) ** 2)
    e = c - d
    f = e**2
    g = f / 2.0
    return g + f**-1 * 10.0


def _sanity(v: list, k: list) -> Any:
    """micrograd test_sanity_check without relu (→ **2) and reflected ops."""
    x = v[0]
    z = x * 2 + 2 + x
    q = z**2 + z * x
    h = (z * z) ** 2
    return h + q + q * x


def _lecture_neuron(v: list, k: list) -> Any:
    x1, x2, w1, w2, b = v
    x1w1 = x1 * w1
    x2w2 = x2 * w2
    x1w1x2w2 = x1w1 + x2w2
    n = x1w1x2w2 + b
    return n.tanh()


def _reuse(v: list, k: list) -> Any:
    a, b = v[0], v[1]
    x = a + b
    y = x + a
    return y + x  # x reached along two paths


Case = tuple[str, str, Callable[[list, list], Any]]  # label, leaf names ("_" unused), fn
CASES: dict[str, list[Case]] = {
    "add": [("a + b", "a b", lambda v, k: v[0] + v[1]), ("a + k", "a", lambda v, k: v[0] + k[0]),
            ("(a + b) + c", "a b c", lambda v, k: (v[0] + v[1]) + v[2])],
    "mul": [("a * b", "a b", lambda v, k: v[0] * v[1]), ("a * k", "a", lambda v, k: v[0] * k[0]),
            ("(a * b) * c", "a b c", lambda v, k: (v[0] * v[1]) * v[2])],
    "pow": [("a ** 2", "a", lambda v, k: v[0] ** 2), ("b ** 3", "_ b", lambda v, k: v[1] ** 3),
            ("a ** -1", "a", lambda v, k: v[0] ** -1), ("a ** 0.5", "a", lambda v, k: v[0] ** 0.5),
            ("a ** k (float k)", "a", lambda v, k: v[0] ** k[0])],
    "div": [("a / b", "a b", lambda v, k: v[0] / v[1]), ("a / k", "a", lambda v, k: v[0] / k[0]),
            ("(a / b) / c", "a b c", lambda v, k: (v[0] / v[1]) / v[2])],
    "negsub": [("-a", "a", lambda v, k: -v[0]), ("a - b", "a b", lambda v, k: v[0] - v[1]),
               ("a - k", "a", lambda v, k: v[0] - k[0]),
               ("-(a - b)", "a b", lambda v, k: -(v[0] - v[1]))],
    "tanh": [("a.tanh()", "a", lambda v, k: v[0].tanh())] * 4,
    "exp": [("a.exp()", "a", lambda v, k: v[0].exp())] * 4,
    "reflected": [("k + a", "a", lambda v, k: k[0] + v[0]),
                  ("k * a", "a", lambda v, k: k[0] * v[0]),
                  ("sum([a, b, c])", "a b c", lambda v, k: sum([v[0], v[1], v[2]]))],
    "rsub_rdiv": [("k - a", "a", lambda v, k: k[0] - v[0]),
                  ("k / a", "a", lambda v, k: k[0] / v[0])],
    "relu": [("a.relu()", "a", lambda v, k: v[0].relu())] * 2,
    "accumulate": [("b = a + a", "a", lambda v, k: v[0] + v[0]),
                   ("b = a * a", "a", lambda v, k: v[0] * v[0]),
                   ("x = a + b; y = x + a; z = y + x", "a b", _reuse),
                   ("a * b + a", "a b", lambda v, k: v[0] * v[1] + v[0])],
    "sanity": [("micrograd's test_sanity_check graph", "x", _sanity),
               ("micrograd's test_more_ops graph", "a b", _more_ops)],
    "neuron": [("the lecture's neuron o = tanh(x1*w1 + x2*w2 + b)", "x1 x2 w1 w2 b",
                _lecture_neuron)] * 2,
}


def _need(ns: dict[str, Any], name: str) -> Any:
    if name not in ns:
        raise NameError(f"the notebook does not define `{name}` (week 1 needs {name})")
    return ns[name]


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Stop a probe that runs away (e.g. a topological sort that revisits nodes)."""
    def _raise(signum: int, frame: Any) -> None:
        raise TimeoutError(f"stopped after {seconds:g} s; a correct micrograd needs well under a "
                           "second here (does backward() visit the same node more than once?)")
    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _run_cases(group: str) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
    def probe(ns: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        Value = _need(ns, "Value")
        outs, grads = [], []
        with _deadline(1.0):
            for (_, _, fn), row, ks in zip(CASES[group], inputs[f"{group}_v"].tolist(),
                                        inputs[f"{group}_k"].tolist(), strict=True):
                leaves = [Value(x) for x in row]
                out = fn(leaves, ks)
                out.backward()
                outs.append(float(out.data))
                grads.append([float(leaf.grad) for leaf in leaves])
        return {"out": outs, "grad": grads}
    return probe


def _exponent(c: float) -> int | float:
    return int(c) if c == int(c) else c


def _node(op: str, a: Any, b: Any, c: float) -> Any:
    """One graph node built with the student's operators (see reference.micrograd.apply_op)."""
    table: dict[str, Callable[[], Any]] = {
        "add": lambda: a + b, "mul": lambda: a * b, "sub": lambda: a - b,
        "div": lambda: a / b, "neg": lambda: -a, "pow": lambda: a ** _exponent(c),
        "addc": lambda: a + c, "mulc": lambda: a * c, "subc": lambda: a - c,
        "divc": lambda: a / c, "tanh": lambda: a.tanh(), "exp": lambda: a.exp()}
    return table[op]()


def _run_graph(name: str) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
    def probe(ns: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        Value = _need(ns, "Value")
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
        pre = f"graph_{name}_"
        with _deadline(2.0):
            nodes = [Value(x) for x in inputs[pre + "leaf"].tolist()]
            for op, a, b, c in zip(inputs[pre + "op"].tolist(), inputs[pre + "a"].tolist(),
                                   inputs[pre + "b"].tolist(), inputs[pre + "c"].tolist(),
                                   strict=True):
                nodes.append(_node(OPS[op], nodes[a], nodes[b], c))
            nodes[-1].backward()
        return {"val": [float(n.data) for n in nodes], "grad": [float(n.grad) for n in nodes]}
    return probe


def params(ns: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """Parameter counts of Neuron, Layer and two MLPs of the grader's (fresh) sizes."""
    Neuron, Layer, MLP = (_need(ns, n) for n in ("Neuron", "Layer", "MLP"))
    with _deadline(1.0):
        models = [Neuron(int(inputs["params_neuron"][0])),
                  Layer(*(int(n) for n in inputs["params_layer"])),
                  *(MLP(int(c[0]), [int(n) for n in c[1:]]) for c in
                    (inputs["params_mlp1"], inputs["params_mlp2"]))]
        return {"count": [len(list(m.parameters())) for m in models]}


def _scalar(out: Any) -> Any:
    return out[0] if isinstance(out, list | tuple) and len(out) == 1 else out


def _slots(net: Any, nin: int, nouts: list[int]) -> list[Any]:
    """The MLP's weights and biases in the lecture's order (layer, neuron, w..., b).

    Read through the lecture's attributes (layers / neurons / w / b) so that a parameters()
    that leaves something out is still loaded; otherwise parameters() in the lecture's order.
    """
    want = sum((a + 1) * b for a, b in zip([nin] + nouts, nouts, strict=False))
    try:
        slots = [v for layer in net.layers for neuron in layer.neurons
                 for v in list(neuron.w) + [neuron.b]]
    except (AttributeError, TypeError):
        slots = list(net.parameters())
    if len(slots) != want:
        raise ValueError(f"MLP({nin}, {nouts}) should have {want} weights and biases (layers -> "
                         f"neurons -> w + [b], as in the lecture); the grader found {len(slots)}")
    return slots


def train(ns: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """The lecture's loop on the grader's MLP size, start weights and data: plain SGD, sum of
    squares. Returns weights, predictions and grads of every step; the grader judges them."""
    Value, MLP = _need(ns, "Value"), _need(ns, "MLP")
    nin, nouts = int(inputs["train_nin"][0]), [int(n) for n in inputs["train_nouts"]]
    xs, ys = inputs["train_x"].tolist(), inputs["train_y"].tolist()
    lr, start = float(inputs["train_lr"][0]), inputs["train_init"].tolist()
    weights, preds, grads = [], [], []
    with _deadline(3.0):
        n = MLP(nin, nouts)
        slots = _slots(n, nin, nouts)
        for v, x in zip(slots, start, strict=True):
            v.data = x
        params = list(n.parameters())
        mask = [int(any(s is p for p in params)) for s in slots]
        for step in range(TRAIN_STEPS + 1):  # the last pass only measures the final weights
            weights.append([float(s.data) for s in slots])
            outs = [_scalar(n(x)) for x in xs]
            preds.append([float(o.data) for o in outs])
            if step == TRAIN_STEPS:
                break
            loss = Value(0.0)
            for o, ygt in zip(outs, ys, strict=True):
                d = o - ygt
                loss = loss + d * d  # d * d, not d**2: a pow bug is the pow check's business
            for p in params:
                p.grad = 0.0
            loss.backward()
            grads.append([float(s.grad) for s in slots])
            for p in params:
                p.data += -lr * p.grad
    return {"weights": weights, "pred": preds, "grad": grads, "in_parameters": mask}


PROBES: dict[str, tuple[str | None, Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]]]
PROBES = {g: (None, _run_cases(g)) for g in CASES}
PROBES.update({f"graph_{g}": (None, _run_graph(g)) for g in GRAPHS})
PROBES.update({"params": (None, params), "train": (None, train)})
