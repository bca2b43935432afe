"""reference/backprop.py against PyTorch autograd in float64."""

from __future__ import annotations

import pytest
import torch

from reference import backprop as bp


def _setup(seed: int, n: int = 32, dtype: torch.dtype = torch.float64):
    g = torch.Generator().manual_seed(seed)
    p = bp.init_params(generator=g, dtype=dtype)
    Xb = torch.randint(0, 27, (n, 3), generator=g)
    Xb[:, 0] = 0  # like the lecture's batches: many contexts start with '...'
    Yb = torch.randint(0, 27, (n,), generator=g)
    return p, Xb, Yb


def test_lecture_param_count():
    p = bp.init_params(generator=torch.Generator().manual_seed(2147483647))
    assert sum(t.nelement() for t in p.values()) == 4137


def test_forward_loss_is_cross_entropy():
    p, Xb, Yb = _setup(0)
    f = bp.forward(p, Xb, Yb)
    assert torch.allclose(f["loss"], torch.nn.functional.cross_entropy(f["logits"], Yb))
    assert torch.allclose(f["bnvar"], f["hprebn"].var(0, keepdim=True, unbiased=True))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_manual_gradient_equals_autograd(seed):
    p, Xb, Yb = _setup(seed)
    want = bp.autograd(p, Xb, Yb)
    got = bp.backward(p, bp.forward(p, Xb, Yb), Xb, Yb)
    assert list(got) == list(bp.GRAD_NAMES)
    for name in bp.GRAD_NAMES:
        assert want[name] is not None, name
        g, w = got[name], want[name]
        assert torch.allclose(g.reshape(w.shape), w, rtol=1e-10, atol=1e-12), name


def test_dC_accumulates_repeated_indices():
    p, Xb, Yb = _setup(3)
    d = bp.backward(p, bp.forward(p, Xb, Yb), Xb, Yb)
    assert (Xb == 0).sum() > 32  # index 0 repeats within the batch
    assert torch.allclose(d["dC"][0], d["demb"][Xb == 0].sum(0))


def test_one_step_from_given_upstream():
    p, Xb, Yb = _setup(4)
    f = bp.forward(p, Xb, Yb)
    chained = bp.backward(p, f, Xb, Yb)
    local = bp.backward(p, f, Xb, Yb, upstream=chained)
    for name in bp.GRAD_NAMES:
        assert torch.allclose(local[name], chained[name], rtol=1e-12, atol=1e-14), name
    wrong = dict(chained, dbndiff2=chained["dbndiff2"] * 2)
    local = bp.backward(p, f, Xb, Yb, upstream=wrong)
    assert torch.allclose(local["dbndiff2"], chained["dbndiff2"])  # its own step is still right
    assert not torch.allclose(local["dbndiff"], chained["dbndiff"])  # the next one sees the bug


def test_fused_dlogits_and_fused_batchnorm():
    p, Xb, Yb = _setup(5)
    want = bp.autograd(p, Xb, Yb)
    f = bp.forward(p, Xb, Yb)
    assert torch.allclose(bp.fused_dlogits(f["logits"], Yb), want["dlogits"], atol=1e-14)
    got = bp.fused_bn_backward(f["hprebn"], p["bngain"], want["dhpreact"])
    assert torch.allclose(got, want["dhprebn"], atol=1e-14)


def test_float32_matches_float64_closely():
    p, Xb, Yb = _setup(6, dtype=torch.float32)
    d32 = bp.backward(p, bp.forward(p, Xb, Yb), Xb, Yb)
    want = bp.autograd({k: v.double() for k, v in p.items()}, Xb, Yb)
    for name in bp.GRAD_NAMES:
        scale = want[name].abs().max().item()
        assert (d32[name].double().reshape(want[name].shape) - want[name]).abs().max() <= \
            1e-4 * scale + 1e-7, name
