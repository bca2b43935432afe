"""Week 3 probes (run inside the sandbox): call the student's build_dataset and layers.

Weights and inputs come from the grader and are loaded into the student's layers as
float64 tensors (.weight/.bias/.gamma/.beta/.running_mean/.running_var), so results are
float64 unless the student's code forces another dtype; the checker picks the tolerance
from the dtype it gets back. The short training run uses the student's own init (float32).
"""

import contextlib
import random

import torch
import torch.nn.functional as F

LETTERS = ".abcdefghijklmnopqrstuvwxyz"
D = torch.float64
_MISSING = object()


def _need(ns, name):
    """A name the notebook must define, with a clear error if it does not."""
    if name not in ns:
        raise NameError(f"{name!r} is not defined in your notebook (week 3 needs "
                        "build_dataset, Linear, BatchNorm1d and Tanh)")
    return ns[name]


def _layers(ns):
    return _need(ns, "Linear"), _need(ns, "BatchNorm1d"), _need(ns, "Tanh")


def _t(a, grad=False):
    """A float64 leaf tensor from a grader array."""
    return torch.tensor(a, dtype=D, requires_grad=grad)


@contextlib.contextmanager
def _global(obj, name, value):
    """Temporarily set a global that obj's code reads (e.g. block_size for build_dataset)."""
    fn = getattr(obj, "__init__", obj) if isinstance(obj, type) else obj
    glb = getattr(fn, "__globals__", None)
    if not isinstance(glb, dict):
        yield
        return
    old = glb.get(name, _MISSING)
    glb[name] = value
    try:
        yield
    finally:
        if old is _MISSING:
            glb.pop(name, None)
        else:
            glb[name] = old


def _words(codes):
    """Words from rows of letter codes (0 = padding)."""
    return ["".join(LETTERS[int(c)] for c in row if c) for row in codes]


def _xy(result):
    X, Y = result[0], result[1]
    return torch.as_tensor(X), torch.as_tensor(Y)


def build(ns, inputs):
    """build_dataset on grader words with the grader's block_size."""
    fn = _need(ns, "build_dataset")
    with _global(fn, "block_size", int(inputs["bd_block"][0])):
        X, Y = _xy(fn(_words(inputs["bd_words"])))
    return {"X": X, "Y": Y}


def splits(ns, inputs):
    """Shapes of the lecture's 80/10/10 split of names.txt (block_size 3)."""
    fn = _need(ns, "build_dataset")
    with open("names.txt") as f:
        words = f.read().splitlines()
    random.seed(42)
    random.shuffle(words)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    out = {}
    with _global(fn, "block_size", 3):
        for name, part in (("tr", words[:n1]), ("dev", words[n1:n2]), ("te", words[n2:])):
            X, Y = _xy(fn(part))
            out[f"{name}_X"] = list(X.shape)
            out[f"{name}_Y"] = list(Y.shape)
    return out


def linear(ns, inputs):
    """Init statistics of a large Linear, bias=False, and a forward with grader weights."""
    Linear = _need(ns, "Linear")
    fan_in, fan_out = (int(v) for v in inputs["lin_size"])
    big = Linear(fan_in, fan_out)
    w = torch.as_tensor(big.weight).detach().double()
    b = big.bias
    nob = Linear(fan_in, fan_out, bias=False)
    small = Linear(*(int(n) for n in inputs["lin_w"].shape))
    small.weight, small.bias = _t(inputs["lin_w"]), _t(inputs["lin_b"])
    return {"w_shape": list(w.shape), "w_std": w.std(), "w_mean": w.mean(),
            "b_shape": list(torch.as_tensor(b).shape) if b is not None else [-1],
            "b_absmax": torch.as_tensor(b).abs().max() if b is not None else -1.0,
            "nobias_none": float(nob.bias is None),
            "nobias_nparams": sum(p.nelement() for p in nob.parameters()),
            "y": small(_t(inputs["lin_x"]))}


def _bn(ns, inputs, *args):
    bn = _need(ns, "BatchNorm1d")(int(inputs["bn_x"].shape[1]), *args)
    bn.gamma, bn.beta = _t(inputs["bn_gamma"]), _t(inputs["bn_beta"])
    return bn


def bn_train(ns, inputs):
    """Training-mode forward of a fresh BatchNorm1d(dim) on a grader batch."""
    bn = _bn(ns, inputs)
    training0 = float(bn.training is True)
    return {"y": bn(_t(inputs["bn_x"])), "training0": training0}


def bn_running(ns, inputs):
    """Running stats after three training batches, default and grader momentum."""
    out = {}
    for tag, args in (("def", ()), ("mom", (1e-5, float(inputs["bn_momentum"][0])))):
        bn = _bn(ns, inputs, *args)
        bn.running_mean = torch.as_tensor(bn.running_mean).double()
        bn.running_var = torch.as_tensor(bn.running_var).double()
        for key in ("bn_x", "bn_x2", "bn_x3"):
            bn(_t(inputs[key], grad=True))
        rm, rv = torch.as_tensor(bn.running_mean), torch.as_tensor(bn.running_var)
        out[f"{tag}_rm"], out[f"{tag}_rv"] = rm, rv
        out[f"{tag}_tracked"] = torch.tensor(float(rm.requires_grad or rv.requires_grad))
    return out


def bn_eval(ns, inputs):
    """Eval-mode forward with grader running stats; the stats must not move."""
    bn = _bn(ns, inputs)
    bn.training = False
    bn.running_mean, bn.running_var = _t(inputs["bn_rm"]), _t(inputs["bn_rv"])
    y = bn(_t(inputs["bn_xe"]))
    return {"y": y, "rm": torch.as_tensor(bn.running_mean),
            "rv": torch.as_tensor(bn.running_var)}


def tanh(ns, inputs):
    """Tanh()(x) and its (empty) parameter list."""
    act = _need(ns, "Tanh")()
    return {"y": act(_t(inputs["tanh_x"])), "nparams": len(list(act.parameters()))}


def chain(ns, inputs):
    """Linear -> BatchNorm1d -> Tanh on grader weights; output and gradients of sum(out * R)."""
    fan_in, fan_out = inputs["ch_w"].shape
    Linear, BatchNorm1d, Tanh = _layers(ns)
    lin, bn, act = Linear(fan_in, fan_out), BatchNorm1d(fan_out), Tanh()
    x = _t(inputs["ch_x"], grad=True)
    w, b = _t(inputs["ch_w"], grad=True), _t(inputs["ch_b"], grad=True)
    gamma, beta = _t(inputs["ch_gamma"], grad=True), _t(inputs["ch_beta"], grad=True)
    lin.weight, lin.bias, bn.gamma, bn.beta = w, b, gamma, beta
    out = act(bn(lin(x)))
    (out * _t(inputs["ch_r"])).sum().backward()
    zero = torch.zeros(())
    return {"out": out, "x": x.grad if x.grad is not None else zero,
            "weight": w.grad if w.grad is not None else zero,
            "bias": b.grad if b.grad is not None else zero,
            "gamma": gamma.grad if gamma.grad is not None else zero,
            "beta": beta.grad if beta.grad is not None else zero}


def _count(C, layers):
    return C.nelement() + sum(p.nelement() for layer in layers for p in layer.parameters())


def params(ns, inputs):
    """Parameter counts of the Bengio MLP and the BatchNorm MLP built from the student's layers."""
    Linear, BatchNorm1d, Tanh = _layers(ns)
    C = torch.randn((27, 10))
    bengio = [Linear(30, 200), Tanh(), Linear(200, 27)]
    bnmlp = [Linear(30, 200, bias=False), BatchNorm1d(200), Tanh(), Linear(200, 27)]
    return {"bengio": _count(C, bengio), "bn": _count(C, bnmlp)}


def _loss(C, layers, X, Y):
    x = C[X].view(X.shape[0], -1)
    for layer in layers:
        x = layer(x)
    return F.cross_entropy(x, Y)


def train(ns, inputs):
    """A few dozen SGD steps of C + Linear/BatchNorm1d/Tanh/Linear on grader data."""
    Linear, BatchNorm1d, Tanh = _layers(ns)
    seed = int(inputs["tr_seed"][0])
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    with _global(Linear, "g", gen):
        C = torch.randn((27, 10), generator=gen)
        layers = [Linear(30, 64, bias=False), BatchNorm1d(64), Tanh(), Linear(64, 27)]
    with torch.no_grad():
        layers[-1].weight *= 0.1  # less confident at init, as in the lecture
    parameters = [C] + [p for layer in layers for p in layer.parameters()]
    for p in parameters:
        p.requires_grad = True
    Xtr, Ytr = torch.as_tensor(inputs["tr_X"]), torch.as_tensor(inputs["tr_Y"])
    Xva, Yva = torch.as_tensor(inputs["va_X"]), torch.as_tensor(inputs["va_Y"])
    with torch.no_grad():  # val loss in training mode: batch stats of the whole val set
        before = _loss(C, layers, Xva, Yva).item()
    lossi = []
    for _ in range(int(inputs["tr_steps"][0])):
        ix = torch.randint(0, Xtr.shape[0], (32,), generator=gen)
        loss = _loss(C, layers, Xtr[ix], Ytr[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        for i, p in enumerate(parameters):
            if p.grad is None:
                raise RuntimeError(
                    f"parameter {i} (shape {tuple(p.shape)}) got no gradient: everything that "
                    "parameters() returns must be used by the forward pass (BatchNorm's "
                    "running_mean/running_var are buffers, not parameters)")
            p.data += -0.1 * p.grad
        lossi.append(loss.item())
    with torch.no_grad():
        after = _loss(C, layers, Xva, Yva).item()
    return {"before": before, "after": after, "lossi": lossi}


PROBES = {
    "build": (None, build),
    "splits": (None, splits),
    "linear": (None, linear),
    "bn_train": (None, bn_train),
    "bn_running": (None, bn_running),
    "bn_eval": (None, bn_eval),
    "tanh": (None, tanh),
    "chain": (None, chain),
    "params": (None, params),
    "train": (None, train),
}
