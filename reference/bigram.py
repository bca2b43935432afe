"""Reference for week 2: makemore part 1 (bigram counts, then the one-layer neural bigram).

Written the way the lecture writes it; torch + stdlib only. Everything the grader compares is
recomputed here from the names file, never copied from a printout.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

SEED = 2147483647  # the lecture's generator seed
SYMBOLS = "." + "abcdefghijklmnopqrstuvwxyz"  # '.' -> 0, a-z -> 1..26


def load_words(path: Path | str) -> list[str]:
    """words = open('names.txt', 'r').read().splitlines()"""
    return Path(path).read_text().splitlines()


def build_vocab(words: list[str]) -> tuple[dict[str, int], dict[int, str]]:
    """The lecture's stoi / itos: '.' is 0, the sorted characters follow from 1."""
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    itos = {i: s for s, i in stoi.items()}
    return stoi, itos


def bigrams(words: list[str], stoi: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (ix1, ix2) pair of the words wrapped as '.word.'."""
    xs, ys = [], []
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:], strict=False):
            xs.append(stoi[ch1])
            ys.append(stoi[ch2])
    return torch.tensor(xs, dtype=torch.int64), torch.tensor(ys, dtype=torch.int64)  # (n,), (n,)


def count_matrix(xs: torch.Tensor, ys: torch.Tensor, V: int = 27) -> torch.Tensor:
    """N[ix1, ix2] = how often ix2 follows ix1, as the lecture's (V, V) int32 tensor."""
    flat = torch.bincount(xs * V + ys, minlength=V * V)  # (V*V,)
    return flat.view(V, V).to(torch.int32)


def probs_from_counts(N: torch.Tensor, smoothing: int = 1) -> torch.Tensor:
    """P = (N+smoothing) normalised along each row (keepdim!), in float64."""
    P = (N + smoothing).double()  # (V, V)
    return P / P.sum(1, keepdim=True)


def count_nll(P: torch.Tensor, N: torch.Tensor) -> float:
    """Average negative log likelihood of the bigrams counted in N under the model P."""
    Nd = N.double()
    logp = torch.where(Nd > 0, P.double().log(), torch.zeros_like(Nd))
    return float(-(Nd * logp).sum() / Nd.sum())


def init_weights(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """g = torch.Generator().manual_seed(2147483647); W = torch.randn((27, 27), generator=g)"""
    g = torch.Generator().manual_seed(SEED)
    return torch.randn((27, 27), generator=g).to(dtype)


def forward(W: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """One-hot input, one linear layer, softmax over the last dim: next-char probabilities."""
    xenc = F.one_hot(xs, num_classes=W.shape[0]).to(W.dtype)  # (n, 27)
    logits = xenc @ W  # (n, 27) log-counts
    counts = logits.exp()  # (n, 27) equivalent to N
    return counts / counts.sum(1, keepdim=True)  # (n, 27)


def nll(W: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> float:
    """loss = -probs[torch.arange(n), ys].log().mean(), without the regulariser."""
    probs = forward(W, xs)
    return float(-probs[torch.arange(len(xs)), ys].log().mean())


def weights_nll(W: torch.Tensor, N: torch.Tensor) -> float:
    """Dataset NLL of the neural bigram W, from counts (fast: one softmax per row)."""
    Wd = W.double()
    return count_nll(Wd.exp() / Wd.exp().sum(1, keepdim=True), N)


def train(W: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, steps: int,
          lr: float = 50.0, reg: float = 0.01) -> list[float]:
    """The lecture's gradient descent loop (in place on W); returns the losses seen."""
    W.requires_grad_(True)
    losses = []
    for _ in range(steps):
        probs = forward(W, xs)  # (n, 27)
        loss = -probs[torch.arange(len(xs)), ys].log().mean() + reg * (W**2).mean()
        losses.append(loss.item())
        W.grad = None
        loss.backward()
        W.data += -lr * W.grad  # type: ignore[operator]
    return losses


def expected_length(P: torch.Tensor) -> tuple[float, float]:
    """Mean and variance of a sample's length (the final '.' included) when sampling from P."""
    P = P.double()
    Q = P[1:, 1:]  # transitions among letters; leaving to '.' ends the sample
    A = torch.eye(Q.shape[0], dtype=P.dtype) - Q
    ones = torch.ones(Q.shape[0], dtype=P.dtype)
    t = torch.linalg.solve(A, ones)  # E[steps to '.'] from each letter
    s = torch.linalg.solve(A, ones + 2 * (Q @ t))  # E[steps**2]
    p0 = P[0, 1:]
    mean = 1 + float(p0 @ t)
    second = 1 + float(2 * (p0 @ t) + p0 @ s)
    return mean, second - mean**2
