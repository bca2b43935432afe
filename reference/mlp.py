"""Reference for week 3: makemore parts 2-3 (the MLP, then Linear / BatchNorm1d / Tanh).

Written the way the lectures write it; torch + stdlib only. The layers take an optional
dtype so the grader can recompute everything in float64.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

CHARS = "abcdefghijklmnopqrstuvwxyz"
stoi = {s: i + 1 for i, s in enumerate(CHARS)}
stoi["."] = 0
itos = {i: s for s, i in stoi.items()}
vocab_size = len(itos)  # 27


def build_dataset(words: list[str], block_size: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (context of block_size chars, next char) pair of the words, '.'-padded."""
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]  # crop and append
    X_t = torch.tensor(X, dtype=torch.int64).reshape(len(X), block_size)  # (N, block_size)
    Y_t = torch.tensor(Y, dtype=torch.int64)  # (N,)
    return X_t, Y_t


def lecture_splits(words: list[str], block_size: int = 3) -> dict[str, tuple[torch.Tensor, ...]]:
    """The lecture's 80/10/10 split after random.seed(42); random.shuffle(words)."""
    words = list(words)
    random.seed(42)
    random.shuffle(words)
    n1 = int(0.8 * len(words))
    n2 = int(0.9 * len(words))
    return {"train": build_dataset(words[:n1], block_size),
            "val": build_dataset(words[n1:n2], block_size),
            "test": build_dataset(words[n2:], block_size)}


class Linear:
    """y = x @ W + b, W initialised with randn / fan_in**0.5 (Kaiming without the gain)."""

    def __init__(self, fan_in: int, fan_out: int, bias: bool = True,
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32):
        self.weight = torch.randn((fan_in, fan_out), generator=generator, dtype=dtype) / fan_in**0.5
        self.bias = torch.zeros(fan_out, dtype=dtype) if bias else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.out = x @ self.weight  # (B, fan_out)
        if self.bias is not None:
            self.out = self.out + self.bias
        return self.out

    def parameters(self) -> list[torch.Tensor]:
        """Weight, then bias if there is one."""
        return [self.weight] + ([] if self.bias is None else [self.bias])


class BatchNorm1d:
    """The lecture's BatchNorm: batch mean / unbiased var in training, running stats in eval."""

    def __init__(self, dim: int, eps: float = 1e-5, momentum: float = 0.1,
                 dtype: torch.dtype = torch.float32):
        self.eps = eps
        self.momentum = momentum
        self.training = True
        # parameters (trained with backprop)
        self.gamma = torch.ones(dim, dtype=dtype)
        self.beta = torch.zeros(dim, dtype=dtype)
        # buffers (trained with a running 'momentum update')
        self.running_mean = torch.zeros(dim, dtype=dtype)
        self.running_var = torch.ones(dim, dtype=dtype)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            xmean = x.mean(0, keepdim=True)  # (1, dim) batch mean
            xvar = x.var(0, keepdim=True)  # (1, dim) batch variance, unbiased
        else:
            xmean = self.running_mean
            xvar = self.running_var
        xhat = (x - xmean) / torch.sqrt(xvar + self.eps)  # (B, dim) unit variance
        self.out = self.gamma * xhat + self.beta
        if self.training:
            with torch.no_grad():
                m = self.momentum
                self.running_mean = (1 - m) * self.running_mean + m * xmean.squeeze(0)
                self.running_var = (1 - m) * self.running_var + m * xvar.squeeze(0)
        return self.out

    def parameters(self) -> list[torch.Tensor]:
        """Gamma and beta (the running stats are buffers, not parameters)."""
        return [self.gamma, self.beta]


class Tanh:
    """Element-wise tanh."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.out = torch.tanh(x)
        return self.out

    def parameters(self) -> list[torch.Tensor]:
        """No parameters."""
        return []


Layer = Linear | BatchNorm1d | Tanh


def bengio_mlp(n_embd: int = 10, n_hidden: int = 200, block_size: int = 3,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, list[Layer]]:
    """The part-2 MLP: C, then Linear(+b1) -> Tanh -> Linear (11,897 params by default)."""
    C = torch.randn((vocab_size, n_embd), generator=generator)
    layers: list[Layer] = [Linear(n_embd * block_size, n_hidden, generator=generator), Tanh(),
                           Linear(n_hidden, vocab_size, generator=generator)]
    return C, layers


def bn_mlp(n_embd: int = 10, n_hidden: int = 200, block_size: int = 3,
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, list[Layer]]:
    """The part-3 MLP: no b1, BatchNorm (bngain/bnbias) before the Tanh (12,097 params)."""
    C = torch.randn((vocab_size, n_embd), generator=generator)
    layers: list[Layer] = [Linear(n_embd * block_size, n_hidden, bias=False, generator=generator),
                           BatchNorm1d(n_hidden), Tanh(),
                           Linear(n_hidden, vocab_size, generator=generator)]
    return C, layers


def count_params(C: torch.Tensor, layers: list[Layer]) -> int:
    """C plus every layer's parameters."""
    return C.nelement() + sum(p.nelement() for layer in layers for p in layer.parameters())


def forward(C: torch.Tensor, layers: list[Layer], X: torch.Tensor) -> torch.Tensor:
    """Logits (B, vocab_size) for contexts X (B, block_size)."""
    emb = C[X]  # (B, block_size, n_embd)
    x = emb.view(emb.shape[0], -1)  # (B, block_size * n_embd)
    for layer in layers:
        x = layer(x)
    return x


def loss_of(C: torch.Tensor, layers: list[Layer], X: torch.Tensor, Y: torch.Tensor) -> float:
    """Cross-entropy of the whole set, no gradient."""
    with torch.no_grad():
        return F.cross_entropy(forward(C, layers, X), Y).item()
