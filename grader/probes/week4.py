"""Week 4 probes (run inside the sandbox): the backprop exercise's tensors and the WaveNet layers.

The backprop probes only read the student's tensors; every reference gradient is recomputed
outside the sandbox. The WaveNet probes build the lecture's hierarchical model from the
student's classes with the grader's sizes and weights (loaded by order and shape).
"""

import ast

import numpy as np
import torch
import torch.nn.functional as F

PARAMS = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")
GRADS = (
    "dlogprobs", "dprobs", "dcounts_sum_inv", "dcounts_sum", "dcounts", "dnorm_logits",
    "dlogit_maxes", "dlogits", "dh", "dW2", "db2", "dhpreact", "dbngain", "dbnbias", "dbnraw",
    "dbnvar_inv", "dbnvar", "dbndiff2", "dbndiff", "dbnmeani", "dhprebn", "dembcat", "dW1",
    "db1", "demb", "dC",
)
LAYERS = ("Embedding", "FlattenConsecutive", "Linear", "BatchNorm1d", "Tanh", "Sequential")


def _get(ns, name, why=""):
    if name not in ns:
        raise NameError(f"name {name!r} is not defined in your notebook{why}")
    return ns[name]


def _tensor(value, name):
    if value is None:
        raise ValueError(f"{name} is None (not computed yet?)")
    t = value.detach() if hasattr(value, "detach") else torch.as_tensor(value)
    return t.cpu()


def _read(ns, names, why):
    return {k: _tensor(_get(ns, k, why), k) for k in names}


def backprop(ns, inputs):
    """Parameters, batch and every gradient of Exercise 1, as they were right after it."""
    why = " (the backprop checks need the parameters, Xb, Yb and all 26 gradients of Exercise 1)"
    return _read(ns, PARAMS + ("Xb", "Yb") + GRADS, why)


def backprop_partial(ns, inputs):
    """When some gradient never got defined: those that were, right after dlogprobs's cell."""
    out = _read(ns, PARAMS + ("Xb", "Yb"), " (the backprop checks need it)")
    out.update({k: _tensor(ns[k], k) for k in GRADS if ns.get(k) is not None})
    return out


CAP_FN = "__zg_cap__"  # the name grader.transform gives the loop cap (test_integrity_w45 checks)
RERUN_CAP = 50
SCALES = {"C": (0.0, 1.0), "W1": (0.0, None), "b1": (0.0, 0.1), "W2": (0.0, 0.1),
          "b2": (0.0, 0.1), "bngain": (1.0, 0.1), "bnbias": (0.0, 0.1)}


def fresh_values(seed, shapes):
    """Fresh parameters and batch with the student's shapes (the lecture's init scales).

    The trusted side calls this too, with the same seed and shapes, and judges against its own.
    """
    rng = np.random.default_rng(int(seed))
    out = {}
    for name in PARAMS:
        mean, std = SCALES[name]
        if std is None:  # W1: (5/3) / sqrt(fan_in), as the lecture
            std = (5 / 3) / max(shapes["W1"][0], 1) ** 0.5
        out[name] = mean + std * rng.standard_normal(shapes[name])
    vocab, n_out = shapes["C"][0], shapes["W2"][-1]
    out["Xb"] = rng.integers(0, vocab, shapes["Xb"])
    out["Yb"] = rng.integers(0, n_out, shapes["Yb"])
    return out


def lecture_forward(p, Xb, Yb):
    """The lecture's chunked forward pass on plain tensors (no autograd, so no .grad)."""
    n = Xb.shape[0]
    f = {"emb": p["C"][Xb]}
    f["embcat"] = f["emb"].view(n, -1)
    f["hprebn"] = f["embcat"] @ p["W1"] + p["b1"]
    f["bnmeani"] = 1 / n * f["hprebn"].sum(0, keepdim=True)
    f["bndiff"] = f["hprebn"] - f["bnmeani"]
    f["bndiff2"] = f["bndiff"] ** 2
    f["bnvar"] = 1 / (n - 1) * f["bndiff2"].sum(0, keepdim=True)
    f["bnvar_inv"] = (f["bnvar"] + 1e-5) ** -0.5
    f["bnraw"] = f["bndiff"] * f["bnvar_inv"]
    f["hpreact"] = p["bngain"] * f["bnraw"] + p["bnbias"]
    f["h"] = torch.tanh(f["hpreact"])
    f["logits"] = f["h"] @ p["W2"] + p["b2"]
    f["logit_maxes"] = f["logits"].max(1, keepdim=True).values
    f["norm_logits"] = f["logits"] - f["logit_maxes"]
    f["counts"] = f["norm_logits"].exp()
    f["counts_sum"] = f["counts"].sum(1, keepdims=True)
    f["counts_sum_inv"] = f["counts_sum"] ** -1
    f["probs"] = f["counts"] * f["counts_sum_inv"]
    f["logprobs"] = f["probs"].log()
    f["loss"] = -f["logprobs"][range(n), Yb].mean()
    return f


def _rerun(ns, inputs):
    """Exercise 1 again, on fresh parameters and a fresh batch whose tensors have no .grad.

    The trusted side sends the statements of the student's Exercise 1 (bp_code); they run one
    by one in a copy of the namespace where the parameters, the batch and every forward tensor
    are replaced and every d* name is removed. A gradient written by hand comes out right; one
    copied from `.grad` comes out None or not at all.
    """
    code = bytes(inputs["bp_code"].astype(np.uint8)).decode()
    base = {k: _tensor(_get(ns, k), k) for k in PARAMS + ("Xb", "Yb")}
    shapes = {k: tuple(v.shape) for k, v in base.items()}
    vals = fresh_values(int(inputs["bp_seed"][0]), shapes)
    dtype = base["C"].dtype if base["C"].is_floating_point() else torch.float32
    p = {k: torch.from_numpy(vals[k]).to(dtype) for k in PARAMS}
    Xb, Yb = (torch.from_numpy(vals[k]).to(base[k].dtype) for k in ("Xb", "Yb"))
    local = {k: v for k, v in ns.items() if k not in GRADS}
    local.update(p, Xb=Xb, Yb=Yb, n=Xb.shape[0], **lecture_forward(p, Xb, Yb))
    local[CAP_FN] = lambda r: r[:RERUN_CAP]
    for stmt in ast.parse(code).body:
        try:
            exec(compile(ast.Module([stmt], []), "<exercise 1 re-run>", "exec"), local)
        except Exception:  # noqa: BLE001, S110 - a step that needs .grad fails; so be it
            pass
    out = {}
    for k in GRADS:
        v = local.get(k)
        if v is not None and (hasattr(v, "detach") or isinstance(v, np.ndarray)):
            out["r_" + k] = _tensor(v, k)
    return out


def rerun(ns, inputs):
    """The re-run on the namespace of the full backprop snapshot."""
    return _rerun(ns, inputs)


def rerun_partial(ns, inputs):
    """The re-run on the partial snapshot (some gradient never got defined)."""
    return _rerun(ns, inputs)


def fused_ce(ns, inputs):
    """Exercise 2's dlogits, read after the Exercise 3 forward cell (hpreact_fast) has run."""
    _get(ns, "hpreact_fast", " (it marks the end of Exercise 2; the fused dlogits is read there)")
    return _read(ns, PARAMS + ("Xb", "Yb", "dlogits"), "")


def fused_bn(ns, inputs):
    """The last dhprebn of the notebook with the hprebn and dhpreact it was computed from."""
    return _read(ns, ("hprebn", "dhpreact", "dhprebn", "bngain"), " (fused batchnorm backward)")


def _ints(inputs, key):
    return [int(v) for v in inputs[key]]


def _build(ns, vocab, n_embd, n_hidden):
    """The lecture's hierarchical network from the student's classes."""
    Emb, Flat, Lin, BN, Tanh, Seq = (_get(ns, k) for k in LAYERS)
    layers = [Emb(vocab, n_embd)]
    width = n_embd
    for _ in range(3):
        layers += [Flat(2), Lin(width * 2, n_hidden, bias=False), BN(n_hidden), Tanh()]
        width = n_hidden
    layers.append(Lin(n_hidden, vocab))
    return Seq(layers)


def _load(params, inputs, prefix, count):
    """Put the grader's float64 weights into the student's parameters, by order and shape."""
    if len(params) != count:
        raise ValueError(f"parameters() returned {len(params)} tensors, expected {count}")
    for i, p in enumerate(params):
        w = torch.from_numpy(inputs[f"{prefix}{i:02d}"]).clone()
        if tuple(p.shape) != tuple(w.shape):
            raise ValueError(f"parameter {i} has shape {tuple(p.shape)}, expected {tuple(w.shape)}")
        p.data = w
        p.requires_grad_(True)
        p.grad = None


def _n_wn_params(inputs):
    return sum(1 for k in inputs if k.startswith("wn_p"))


def wavenet(ns, inputs):
    """Forward and backward of the whole model on the grader's batch and weights."""
    vocab, n_embd, n_hidden = _ints(inputs, "wn_dims")
    model = _build(ns, vocab, n_embd, n_hidden)
    params = model.parameters()
    _load(params, inputs, "wn_p", _n_wn_params(inputs))
    X, Y = torch.from_numpy(inputs["wn_X"]), torch.from_numpy(inputs["wn_Y"])
    logits = model(X)
    loss = F.cross_entropy(logits.reshape(X.shape[0], -1), Y)
    loss.backward()
    out = {"logits": logits, "loss": loss}
    for i, p in enumerate(params):
        if p.grad is None:
            raise ValueError(f"parameter {i} got no gradient from loss.backward()")
        out[f"g{i:02d}"] = p.grad
    return out


def hierarchy(ns, inputs):
    """The output shape of every layer, run one by one (padded with -1 to 3 dims)."""
    vocab, n_embd, n_hidden = _ints(inputs, "wn_dims")
    model = _build(ns, vocab, n_embd, n_hidden)
    x = torch.from_numpy(inputs["wn_X"])
    shapes = []
    for layer in model.layers:
        x = layer(x)
        shapes.append(list(x.shape)[:4] + [-1] * (4 - x.dim()))
    return {"shapes": shapes}


def param_count(ns, inputs):
    """Parameters of the hierarchical network at the grader's (vocab, n_embd, n_hidden)."""
    model = _build(ns, *_ints(inputs, "pc_dims"))
    return {"n": sum(p.nelement() for p in model.parameters())}


def embedding(ns, inputs):
    """Embedding(vocab, n_embd) with the grader's table, on the grader's (B, T) indices."""
    vocab, n_embd, _ = _ints(inputs, "wn_dims")
    emb = _get(ns, "Embedding")(vocab, n_embd)
    _load(emb.parameters(), inputs, "wn_p", 1)
    return {"out": emb(torch.from_numpy(inputs["wn_X"]))}


def flatten(ns, inputs):
    """FlattenConsecutive(n) on (B, T, C) and on (B, n, C) (which the lecture squeezes to 2-D)."""
    (n,) = _ints(inputs, "fl_n")
    x = torch.from_numpy(inputs["fl_x"])
    Flat = _get(ns, "FlattenConsecutive")
    return {"out": Flat(n)(x), "out_last": Flat(n)(x[:, :n].contiguous())}


def batchnorm(ns, inputs):
    """BatchNorm1d on a 3-D batch: training output, running stats, then eval output."""
    x = torch.from_numpy(inputs["bn_x"])
    bn = _get(ns, "BatchNorm1d")(x.shape[-1])
    _load(bn.parameters(), inputs, "bn_p", 2)
    with torch.no_grad():
        out = bn(x)
        mean, var = _tensor(bn.running_mean, "running_mean"), _tensor(bn.running_var, "running_var")
        bn.training = False
        out_eval = bn(x)
    return {"out": out, "running_mean": mean, "running_var": var, "out_eval": out_eval}


PROBES = {
    "backprop": ("backprop", backprop),
    "backprop_partial": ("backprop_partial", backprop_partial),
    "rerun": ("backprop", rerun),
    "rerun_partial": ("backprop_partial", rerun_partial),
    "fused_ce": ("fused_ce", fused_ce),
    "fused_bn": (None, fused_bn),
    "embedding": (None, embedding),
    "flatten": (None, flatten),
    "batchnorm": (None, batchnorm),
    "hierarchy": (None, hierarchy),
    "param_count": (None, param_count),
    "wavenet": (None, wavenet),
}
