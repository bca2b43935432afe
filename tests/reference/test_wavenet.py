"""reference/wavenet.py: shapes, parameter count, layers against plain torch in float64."""

from __future__ import annotations

import torch

from reference import wavenet as wn


def test_lecture_config_has_76579_parameters():
    torch.manual_seed(42)
    model = wn.hierarchical(27, 24, 128)
    assert sum(p.nelement() for p in model.parameters()) == 76579


def test_shapes_through_the_hierarchy():
    torch.manual_seed(0)
    model = wn.hierarchical(27, 24, 128)
    x = torch.randint(0, 27, (4, 8))
    shapes = []
    for layer in model.layers:
        x = layer(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(4, 8, 24),
                      (4, 4, 48), (4, 4, 128), (4, 4, 128), (4, 4, 128),
                      (4, 2, 256), (4, 2, 128), (4, 2, 128), (4, 2, 128),
                      (4, 256), (4, 128), (4, 128), (4, 128),
                      (4, 27)]


def test_flatten_consecutive_puts_neighbours_side_by_side():
    x = torch.randn(3, 8, 5)
    out = wn.FlattenConsecutive(2)(x)
    assert out.shape == (3, 4, 10)
    assert torch.equal(out[:, 1], torch.cat([x[:, 2], x[:, 3]], dim=1))
    assert wn.FlattenConsecutive(8)(x).shape == (3, 40)  # T//n == 1 is squeezed


def test_batchnorm_3d_reduces_over_batch_and_time():
    bn = wn.BatchNorm1d(6)
    x = torch.randn(5, 4, 6, dtype=torch.float64) * 3 + 1
    out = bn(x)
    flat = wn.BatchNorm1d(6)(x.reshape(-1, 6))
    assert torch.allclose(out.reshape(-1, 6), flat, atol=1e-12)
    assert torch.allclose(out.mean((0, 1)), torch.zeros(6, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(bn.running_var.reshape(-1), 0.9 + 0.1 * x.reshape(-1, 6).var(0))
    bn.training = False
    assert bn(x).shape == x.shape


def _plain_torch(weights, x):
    """The same network written with torch functions (F.embedding, reshape, mean/var)."""
    h = torch.nn.functional.embedding(x, weights[0])
    for level in range(3):
        W, g, b = weights[1 + 3 * level: 4 + 3 * level]
        h = h.reshape(h.shape[0], -1, 2 * h.shape[-1]) @ W
        m, v = h.mean((0, 1), keepdim=True), h.var((0, 1), keepdim=True)
        h = torch.tanh(g * (h - m) / torch.sqrt(v + 1e-5) + b)
    return h.squeeze(1) @ weights[-2] + weights[-1]


def test_model_and_gradients_match_plain_torch_on_loaded_weights():
    torch.manual_seed(1)
    model = wn.hierarchical(27, 6, 10)
    weights = [torch.randn(p.shape, dtype=torch.float64, requires_grad=True)
               for p in model.parameters()]
    wn.load_parameters(model, weights)
    x, y = torch.randint(0, 27, (7, 8)), torch.randint(0, 27, (7,))
    logits, loss, grads = wn.loss_and_grads(model, x, y)
    want = _plain_torch(weights, x)
    torch.nn.functional.cross_entropy(want, y).backward()
    assert torch.allclose(logits, want, atol=1e-12)
    for g, w in zip(grads, weights, strict=True):
        assert w.grad is not None and torch.allclose(g, w.grad, atol=1e-12)
    assert wn.layer_shapes(model, x)[-1] == (7, 27)


def test_load_parameters_rejects_wrong_shapes():
    model = wn.hierarchical(27, 4, 5)
    bad = [torch.zeros(p.shape[::-1]) for p in model.parameters()]
    try:
        wn.load_parameters(model, bad)
    except ValueError as e:
        assert "shape" in str(e)
    else:
        raise AssertionError("expected ValueError")
