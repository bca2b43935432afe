"""Becoming a backprop ninja (makemore part 4): the chunked MLP forward and its manual backward.

Every intermediate of the lecture's forward pass has a name, and `backward` produces the
gradient of the loss with respect to each of them (`dlogprobs` … `dC`), one step at a time,
exactly as the lecture's Exercise 1 does. `fused_dlogits` and `fused_bn_backward` are
Exercises 2 and 3.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-5
PARAM_NAMES = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")
# gradients in the order the lecture computes them; d<name> is the gradient of <name>
GRAD_NAMES = (
    "dlogprobs", "dprobs", "dcounts_sum_inv", "dcounts_sum", "dcounts", "dnorm_logits",
    "dlogit_maxes", "dlogits", "dh", "dW2", "db2", "dhpreact", "dbngain", "dbnbias", "dbnraw",
    "dbnvar_inv", "dbnvar", "dbndiff2", "dbndiff", "dbnmeani", "dhprebn", "dembcat", "dW1",
    "db1", "demb", "dC",
)
Tensors = dict[str, torch.Tensor]


def init_params(vocab_size: int = 27, n_embd: int = 10, n_hidden: int = 64, block_size: int = 3,
                generator: torch.Generator | None = None,
                dtype: torch.dtype = torch.float32) -> Tensors:
    """The lecture's (deliberately non-standard) initialisation."""
    g = generator

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=g, dtype=dtype)

    fan_in = n_embd * block_size
    return {
        "C": randn(vocab_size, n_embd),
        "W1": randn(fan_in, n_hidden) * (5 / 3) / fan_in**0.5,
        "b1": randn(n_hidden) * 0.1,  # useless because of BN, kept for the exercise
        "W2": randn(n_hidden, vocab_size) * 0.1,
        "b2": randn(vocab_size) * 0.1,
        "bngain": randn(1, n_hidden) * 0.1 + 1.0,
        "bnbias": randn(1, n_hidden) * 0.1,
    }


def forward(p: Tensors, Xb: torch.Tensor, Yb: torch.Tensor) -> Tensors:
    """The lecture's forward pass, "chunkated" into steps; returns every named tensor."""
    n = Xb.shape[0]
    f: Tensors = {}
    f["emb"] = p["C"][Xb]  # (n, block_size, n_embd)
    f["embcat"] = f["emb"].view(n, -1)  # (n, block_size * n_embd)
    f["hprebn"] = f["embcat"] @ p["W1"] + p["b1"]  # (n, n_hidden)
    f["bnmeani"] = 1 / n * f["hprebn"].sum(0, keepdim=True)
    f["bndiff"] = f["hprebn"] - f["bnmeani"]
    f["bndiff2"] = f["bndiff"] ** 2
    f["bnvar"] = 1 / (n - 1) * f["bndiff2"].sum(0, keepdim=True)  # Bessel's correction
    f["bnvar_inv"] = (f["bnvar"] + EPS) ** -0.5
    f["bnraw"] = f["bndiff"] * f["bnvar_inv"]
    f["hpreact"] = p["bngain"] * f["bnraw"] + p["bnbias"]
    f["h"] = torch.tanh(f["hpreact"])
    f["logits"] = f["h"] @ p["W2"] + p["b2"]  # (n, vocab_size)
    f["logit_maxes"] = f["logits"].max(1, keepdim=True).values
    f["norm_logits"] = f["logits"] - f["logit_maxes"]
    f["counts"] = f["norm_logits"].exp()
    f["counts_sum"] = f["counts"].sum(1, keepdim=True)
    f["counts_sum_inv"] = f["counts_sum"] ** -1
    f["probs"] = f["counts"] * f["counts_sum_inv"]
    f["logprobs"] = f["probs"].log()
    f["loss"] = -f["logprobs"][torch.arange(n), Yb].mean()
    return f


def backward(p: Tensors, f: Tensors, Xb: torch.Tensor, Yb: torch.Tensor,
             upstream: Tensors | None = None) -> Tensors:
    """Exercise 1: every gradient, one step at a time.

    Each step reads the gradients it needs from `upstream` when given (to judge one step on
    its own, from a student's upstream values), else from the ones it has just computed.
    """
    n = Xb.shape[0]
    d: Tensors = {}
    u = d if upstream is None else upstream
    d["dlogprobs"] = torch.zeros_like(f["logprobs"])
    d["dlogprobs"][torch.arange(n), Yb] = -1.0 / n
    d["dprobs"] = (1.0 / f["probs"]) * u["dlogprobs"]
    d["dcounts_sum_inv"] = (f["counts"] * u["dprobs"]).sum(1, keepdim=True)
    d["dcounts_sum"] = -f["counts_sum"] ** -2 * u["dcounts_sum_inv"]
    d["dcounts"] = (f["counts_sum_inv"] * u["dprobs"]
                    + torch.ones_like(f["counts"]) * u["dcounts_sum"])
    d["dnorm_logits"] = f["counts"] * u["dcounts"]
    d["dlogit_maxes"] = (-u["dnorm_logits"]).sum(1, keepdim=True)
    onehot = F.one_hot(f["logits"].max(1).indices, num_classes=f["logits"].shape[1])
    d["dlogits"] = u["dnorm_logits"] + onehot * u["dlogit_maxes"]
    d["dh"] = u["dlogits"] @ p["W2"].T
    d["dW2"] = f["h"].T @ u["dlogits"]
    d["db2"] = u["dlogits"].sum(0)
    d["dhpreact"] = (1.0 - f["h"] ** 2) * u["dh"]
    d["dbngain"] = (f["bnraw"] * u["dhpreact"]).sum(0, keepdim=True)
    d["dbnbias"] = u["dhpreact"].sum(0, keepdim=True)
    d["dbnraw"] = p["bngain"] * u["dhpreact"]
    d["dbnvar_inv"] = (f["bndiff"] * u["dbnraw"]).sum(0, keepdim=True)
    d["dbnvar"] = -0.5 * (f["bnvar"] + EPS) ** -1.5 * u["dbnvar_inv"]
    d["dbndiff2"] = 1.0 / (n - 1) * torch.ones_like(f["bndiff2"]) * u["dbnvar"]
    d["dbndiff"] = f["bnvar_inv"] * u["dbnraw"] + 2 * f["bndiff"] * u["dbndiff2"]
    d["dbnmeani"] = (-u["dbndiff"]).sum(0, keepdim=True)
    d["dhprebn"] = u["dbndiff"] + 1.0 / n * torch.ones_like(f["hprebn"]) * u["dbnmeani"]
    d["dembcat"] = u["dhprebn"] @ p["W1"].T
    d["dW1"] = f["embcat"].T @ u["dhprebn"]
    d["db1"] = u["dhprebn"].sum(0)
    d["demb"] = u["dembcat"].view(f["emb"].shape)
    d["dC"] = torch.zeros_like(p["C"]).index_add_(0, Xb.reshape(-1),
                                                   u["demb"].reshape(-1, p["C"].shape[1]))
    return d


def autograd(p: Tensors, Xb: torch.Tensor, Yb: torch.Tensor) -> Tensors:
    """The same gradients from PyTorch autograd (the lecture's `loss.backward()`)."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in p.items()}
    f = forward(leaves, Xb, Yb)
    for name, t in f.items():
        if name != "loss" and t.requires_grad:
            t.retain_grad()
    f["loss"].backward()
    every = {**f, **leaves}
    return {name: every[name[1:]].grad for name in GRAD_NAMES}  # type: ignore[misc]


def fused_dlogits(logits: torch.Tensor, Yb: torch.Tensor) -> torch.Tensor:
    """Exercise 2: the gradient of F.cross_entropy(logits, Yb) in one go."""
    n = logits.shape[0]
    dlogits = F.softmax(logits, 1)
    dlogits[torch.arange(n), Yb] -= 1
    return dlogits / n


def fused_bn_backward(hprebn: torch.Tensor, bngain: torch.Tensor,
                      dhpreact: torch.Tensor) -> torch.Tensor:
    """Exercise 3: dhprebn from dhpreact through the whole batchnorm in one line."""
    n = hprebn.shape[0]
    bnvar_inv = (hprebn.var(0, keepdim=True, unbiased=True) + EPS) ** -0.5
    bnraw = (hprebn - hprebn.mean(0, keepdim=True)) * bnvar_inv
    return bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0)
                                     - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
