"""Week 1, trusted side: the lecture's tanh MLP in torch float64, for the MLP checks.

The sandbox only ever sends weights, predictions and gradients; every loss and every verdict
about training is computed here from them.
"""

from __future__ import annotations

import numpy as np
import torch

D = torch.float64


def n_params(nin: int, nouts: list[int]) -> int:
    """Weights and biases of MLP(nin, nouts): every neuron has nin weights and one bias."""
    return sum((a + 1) * b for a, b in zip([nin, *nouts], nouts, strict=False))


def bias_mask(nin: int, nouts: list[int]) -> np.ndarray:
    """1 where a slot (lecture order: layer, neuron, w..., b) is a bias."""
    out: list[int] = []
    for a, b in zip([nin, *nouts], nouts, strict=False):
        out += ([0] * a + [1]) * b
    return np.array(out)


def forward(w: torch.Tensor, nin: int, nouts: list[int], xs: torch.Tensor) -> torch.Tensor:
    """Predictions (one per row of xs) of the MLP whose flat lecture-order weights are w."""
    h, i = xs, 0
    for a, b in zip([nin, *nouts], nouts, strict=False):
        block = w[i:i + (a + 1) * b].view(b, a + 1)
        h = torch.tanh(h @ block[:, :a].T + block[:, a])
        i += (a + 1) * b
    return h[:, 0]


def loss_grad(w: np.ndarray, nin: int, nouts: list[int], xs: np.ndarray,
              ys: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The lecture's loss sum((pred - y)**2), its gradient and the predictions, at weights w."""
    t = torch.tensor(w, dtype=D, requires_grad=True)
    pred = forward(t, nin, nouts, torch.tensor(xs, dtype=D))
    loss = ((pred - torch.tensor(ys, dtype=D)) ** 2).sum()
    loss.backward()
    assert t.grad is not None
    return float(loss.detach()), t.grad.numpy().copy(), pred.detach().numpy()


def trajectory(w0: np.ndarray, nin: int, nouts: list[int], xs: np.ndarray, ys: np.ndarray,
               lr: float, steps: int, mask: np.ndarray) -> list[float]:
    """Losses along `steps` SGD steps that update only the slots where mask is 1."""
    w, losses = w0.copy(), []
    for _ in range(steps):
        loss, g, _ = loss_grad(w, nin, nouts, xs, ys)
        losses.append(loss)
        w = w - lr * g * mask
    losses.append(loss_grad(w, nin, nouts, xs, ys)[0])
    return losses


def stable_start(rng: np.random.Generator, nin: int, nouts: list[int], xs: np.ndarray,
                 ys: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """Start weights (uniform(-1, 1) like the lecture) from which SGD lowers the loss clearly,
    whether or not the biases are trained, so a verdict never hangs on the draw."""
    n = n_params(nin, nouts)
    frozen = 1 - bias_mask(nin, nouts)
    for _ in range(200):
        w0 = rng.uniform(-1, 1, n)
        full = trajectory(w0, nin, nouts, xs, ys, lr, steps, np.ones(n))
        part = trajectory(w0, nin, nouts, xs, ys, lr, steps, frozen)
        if full[-1] < 0.7 * full[0] and part[-1] < 0.85 * part[0] and full[0] > 1.0:
            return w0
    raise RuntimeError("no stable start found")  # a grader fault: never the student's
