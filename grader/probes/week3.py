"""Week 3 probes (run inside the sandbox): call the student's build_dataset and layers.

Weights and inputs come from the grader and are loaded into the student's layers as
float64 tensors (.weight/.bias/.gamma/.beta/.running_mean/.running_var), so results are
float64 unless the student's code forces another dtype; the checker picks the tolerance
from the dtype it gets back. The short training run starts from the grader's weights too and
sends back what the last Linear saw and did at every step; the grader computes every loss.
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
    """Shapes of the lecture's 80/10/10 split (shuffle, then build_dataset) of grader words."""
    fn = _need(ns, "build_dataset")
    words = _words(inputs["sp_words"])
    random.Random(int(inputs["sp_seed"][0])).shuffle(words)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    out = {}
    with _global(fn, "block_size", int(inputs["sp_block"][0])):
        for name, part in (("tr", words[:n1]), ("dev", words[n1:n2]), ("te", words[n2:])):
            X, Y = _xy(fn(part))
            out[f"{name}_X"] = list(X.shape)
            out[f"{name}_Y"] = list(Y.shape)
            out[f"{name}_y"] = Y
    return out


def own_split(ns, inputs):
    """The notebook's own targets Ytr / Ydev / Yte (its split of the course's names.txt)."""
    return {tag: torch.as_tensor(_need(ns, tag)) for tag in ("Ytr", "Ydev", "Yte")}


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
    """Parameter counts of the Bengio and BatchNorm MLPs: grader's sizes, student's layers."""
    Linear, BatchNorm1d, Tanh = _layers(ns)
    n_embd, block, hidden = (int(v) for v in inputs["pc_cfg"])
    C = torch.randn((27, n_embd))
    with _global(Linear, "g", torch.Generator().manual_seed(0)):
        bengio = [Linear(n_embd * block, hidden), Tanh(), Linear(hidden, 27)]
        bnmlp = [Linear(n_embd * block, hidden, bias=False), BatchNorm1d(hidden), Tanh(),
                 Linear(hidden, 27)]
    return {"bengio": _count(C, bengio), "bn": _count(C, bnmlp)}


def train(ns, inputs):
    """SGD steps of C + Linear/BatchNorm1d/Tanh/Linear from the grader's start weights, on the
    grader's batches; returns what the last Linear saw and did (the grader judges it)."""
    Linear, BatchNorm1d, Tanh = _layers(ns)
    C, W1, W2, b2 = (_t(inputs[k]) for k in ("tr_C", "tr_W1", "tr_W2", "tr_b2"))
    hidden = W1.shape[1]
    with _global(Linear, "g", torch.Generator().manual_seed(0)):
        layers = [Linear(W1.shape[0], hidden, bias=False), BatchNorm1d(hidden), Tanh(),
                  Linear(hidden, 27)]
    layers[0].weight, layers[3].weight, layers[3].bias = W1, W2, b2
    layers[1].gamma, layers[1].beta = torch.ones(hidden, dtype=D), torch.zeros(hidden, dtype=D)
    parameters = [C] + [p for layer in layers for p in layer.parameters()]
    for p in parameters:
        p.requires_grad = True
    Xtr, Ytr = torch.as_tensor(inputs["tr_X"]), torch.as_tensor(inputs["tr_Y"])
    Xva = torch.as_tensor(inputs["va_X"])

    def forward(X):
        x = C[X].view(X.shape[0], -1)
        for layer in layers[:-1]:
            x = layer(x)
        return x, layers[-1](x)

    with torch.no_grad():  # val features in training mode: batch stats of the whole val set
        h_val0 = forward(Xva)[0].clone()
    ws, bs = [layers[3].weight.detach().clone()], [layers[3].bias.detach().clone()]
    hs, logits = [], []
    lr = float(inputs["tr_lr"][0])
    for ix in inputs["tr_ix"]:
        ix = torch.as_tensor(ix)
        h, out = forward(Xtr[ix])
        loss = F.cross_entropy(out, Ytr[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        for i, p in enumerate(parameters):
            if p.grad is None:
                raise RuntimeError(
                    f"parameter {i} (shape {tuple(p.shape)}) got no gradient: everything that "
                    "parameters() returns must be used by the forward pass (BatchNorm's "
                    "running_mean/running_var are buffers, not parameters)")
            p.data += -lr * p.grad
        hs.append(h.detach().clone())
        logits.append(out.detach().clone())
        ws.append(layers[3].weight.detach().clone())
        bs.append(layers[3].bias.detach().clone())
    with torch.no_grad():
        h_val1 = forward(Xva)[0].clone()
    return {"W2": torch.stack(ws), "b2": torch.stack(bs), "h": torch.stack(hs),
            "logits": torch.stack(logits), "h_val0": h_val0, "h_val1": h_val1}


PROBES = {
    "build": (None, build),
    "splits": (None, splits),
    "own_split": (None, own_split),
    "linear": (None, linear),
    "bn_train": (None, bn_train),
    "bn_running": (None, bn_running),
    "bn_eval": (None, bn_eval),
    "tanh": (None, tanh),
    "chain": (None, chain),
    "params": (None, params),
    "train": (None, train),
}
