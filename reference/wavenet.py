"""The hierarchical (WaveNet-like) MLP of makemore part 5, in the lecture's hand-made layers."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from typing import Any

import torch


class Linear:
    """y = x @ W + b, Kaiming-ish init."""

    def __init__(self, fan_in: int, fan_out: int, bias: bool = True) -> None:
        self.weight = torch.randn((fan_in, fan_out)) / fan_in**0.5
        self.bias = torch.zeros(fan_out) if bias else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.out = x @ self.weight
        if self.bias is not None:
            self.out = self.out + self.bias
        return self.out

    def parameters(self) -> list[torch.Tensor]:
        """weight, then bias if any."""
        return [self.weight] + ([] if self.bias is None else [self.bias])


class BatchNorm1d:
    """Batch statistics over dim 0 (2-D input) or dims (0, 1) (3-D input); unbiased variance."""

    def __init__(self, dim: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        self.eps = eps
        self.momentum = momentum
        self.training = True
        self.gamma = torch.ones(dim)  # trained with backprop
        self.beta = torch.zeros(dim)
        self.running_mean = torch.zeros(dim)  # trained with a running 'momentum update'
        self.running_var = torch.ones(dim)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            dim = 0 if x.ndim == 2 else (0, 1)
            xmean = x.mean(dim, keepdim=True)  # batch mean
            xvar = x.var(dim, keepdim=True)  # batch variance (unbiased, as the lecture)
        else:
            xmean, xvar = self.running_mean, self.running_var
        xhat = (x - xmean) / torch.sqrt(xvar + self.eps)  # normalize to unit variance
        self.out = self.gamma * xhat + self.beta
        if self.training:
            with torch.no_grad():
                m = self.momentum
                self.running_mean = (1 - m) * self.running_mean + m * xmean
                self.running_var = (1 - m) * self.running_var + m * xvar
        return self.out

    def parameters(self) -> list[torch.Tensor]:
        """gamma, beta."""
        return [self.gamma, self.beta]


class Tanh:
    """Elementwise tanh."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.out = torch.tanh(x)
        return self.out

    def parameters(self) -> list[torch.Tensor]:
        """None."""
        return []


class Embedding:
    """A lookup table: (B, T) indices -> (B, T, embedding_dim)."""

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.weight = torch.randn((num_embeddings, embedding_dim))

    def __call__(self, IX: torch.Tensor) -> torch.Tensor:
        self.out = self.weight[IX]
        return self.out

    def parameters(self) -> list[torch.Tensor]:
        """The table."""
        return [self.weight]


class FlattenConsecutive:
    """(B, T, C) -> (B, T//n, C*n): n consecutive positions side by side; squeeze if T//n == 1."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        x = x.view(B, T // self.n, C * self.n)
        if x.shape[1] == 1:
            x = x.squeeze(1)
        self.out = x
        return self.out

    def parameters(self) -> list[torch.Tensor]:
        """None."""
        return []


class Sequential:
    """Layers applied in order."""

    def __init__(self, layers: list) -> None:
        self.layers = layers

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        self.out = x
        return self.out

    def parameters(self) -> list[torch.Tensor]:
        """Every layer's parameters, in order."""
        return [p for layer in self.layers for p in layer.parameters()]


def hierarchical(vocab_size: int = 27, n_embd: int = 24, n_hidden: int = 128,
                 levels: int = 3) -> Sequential:
    """The lecture's model: pairs of positions fused level by level (block_size = 2**levels)."""
    layers: list = [Embedding(vocab_size, n_embd)]
    width = n_embd
    for _ in range(levels):
        layers += [FlattenConsecutive(2), Linear(width * 2, n_hidden, bias=False),
                   BatchNorm1d(n_hidden), Tanh()]
        width = n_hidden
    layers.append(Linear(n_hidden, vocab_size))
    with torch.no_grad():
        layers[-1].weight *= 0.1  # last layer made less confident
    return Sequential(layers)


def load_parameters(model: Any, tensors: Seq[torch.Tensor]) -> None:
    """Replace the model's parameters, by order and shape, with the given tensors (any dtype)."""
    params = model.parameters()
    if len(params) != len(tensors):
        raise ValueError(f"{len(params)} parameters but {len(tensors)} tensors")
    for i, (p, t) in enumerate(zip(params, tensors, strict=True)):
        if p.shape != t.shape:
            raise ValueError(f"parameter {i} has shape {tuple(p.shape)}, expected {tuple(t.shape)}")
        p.data = t.detach().clone()


def layer_shapes(model: Sequential, x: torch.Tensor) -> list[tuple[int, ...]]:
    """The output shape of every layer on input x."""
    shapes = []
    for layer in model.layers:
        x = layer(x)
        shapes.append(tuple(x.shape))
    return shapes


def loss_and_grads(model: Sequential, X: torch.Tensor,
                   Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """logits, cross-entropy loss and the gradient of every parameter (in order)."""
    params = model.parameters()
    for p in params:
        p.requires_grad_(True)
        p.grad = None
    logits = model(X)
    loss = torch.nn.functional.cross_entropy(logits, Y)
    loss.backward()
    return logits.detach(), loss.detach(), [p.grad for p in params]  # type: ignore[misc]
