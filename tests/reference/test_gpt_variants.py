"""reference/gpt_variants.py: RoPE properties, SwiGLU shapes and counts, FLOP estimate."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from reference.gpt import GPTConfig, GPTLanguageModel, num_params
from reference.gpt_variants import (
    GPTVariant,
    RopeHead,
    SwiGLU,
    VariantConfig,
    apply_rope,
    flops_per_token,
    mfu,
    non_embedding_params,
    rope_angles,
    swiglu_hidden,
)


def vcfg(**kw: object) -> VariantConfig:
    """A small variant config."""
    base = dict(vocab_size=65, block_size=16, n_embd=32, n_head=4, n_layer=2, dropout=0.0)
    return VariantConfig(**{**base, **kw})  # type: ignore[arg-type]


def rotate(x: torch.Tensor, hs: int = 8) -> torch.Tensor:
    """apply_rope on (..., T, hs) float64."""
    cos, sin = rope_angles(x.shape[-2], hs)
    return apply_rope(x, cos, sin)


def test_rope_scores_depend_only_on_relative_position() -> None:
    q, k = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    T = 12
    scores = rotate(q.expand(T, 8)) @ rotate(k.expand(T, 8)).T  # (T,T): q at m, k at n
    for m in range(T):
        for n in range(T):
            if m >= 1 and n >= 1:
                torch.testing.assert_close(scores[m, n], scores[m - 1, n - 1])
    assert not torch.allclose(scores[0, 0], scores[0, 3])  # but it does depend on m - n


def test_rope_preserves_norms_and_leaves_position_0() -> None:
    x = torch.randn(3, 10, 8, dtype=torch.float64)
    y = rotate(x)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(y[:, 0], x[:, 0], rtol=0, atol=0)
    assert not torch.allclose(y[:, 1:], x[:, 1:])


def test_rope_equals_complex_rotation() -> None:
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    theta = 10000.0 ** (-torch.arange(0, 8, 2, dtype=torch.float64) / 8)
    rot = torch.polar(torch.ones(6, 4, dtype=torch.float64), torch.arange(6.0)[:, None] * theta)
    want = torch.view_as_real(torch.view_as_complex(x.reshape(2, 6, 4, 2)) * rot).reshape(2, 6, 8)
    torch.testing.assert_close(rotate(x), want)


def test_rope_head_rotates_q_and_k_only() -> None:
    head = RopeHead(vcfg(rope=True), 8).double().eval()
    x = torch.randn(2, 16, 32, dtype=torch.float64)
    q, k, v = rotate(head.query(x)), rotate(head.key(x)), head.value(x)
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(head(x), want)


def test_rope_model_has_no_position_table_and_is_causal() -> None:
    model = GPTVariant(vcfg(rope=True)).double().eval()
    assert not any("position_embedding_table" in k for k in model.state_dict())
    a = torch.randint(0, 65, (2, 16))
    b = a.clone()
    b[:, 9:] = (b[:, 9:] + 3) % 65
    torch.testing.assert_close(model(a)[0][:, :9], model(b)[0][:, :9], rtol=0, atol=0)
    assert model.generate(torch.randint(0, 65, (1, 20)), 4).shape == (1, 24)


def test_swiglu_shapes_count_and_formula() -> None:
    assert swiglu_hidden(384) == 1024 and swiglu_hidden(32) == 85
    ff = SwiGLU(vcfg()).double()
    assert ff.w1.weight.shape == (85, 32) and ff.w3.weight.shape == (85, 32)
    assert ff.w2.weight.shape == (32, 85)
    assert num_params(ff) == 3 * 32 * 85
    x = torch.randn(2, 5, 32, dtype=torch.float64)
    want = (F.silu(x @ ff.w1.weight.T) * (x @ ff.w3.weight.T)) @ ff.w2.weight.T
    torch.testing.assert_close(ff(x), want)
    assert ff(x).shape == (2, 5, 32)


def test_swiglu_model_parameter_count() -> None:
    cfg = VariantConfig(swiglu=True)  # lecture sizes
    mlp_old = 2 * 384 * 1536 + 1536 + 384
    mlp_new = 3 * 384 * 1024
    assert num_params(GPTVariant(cfg)) == 10_788_929 + 6 * (mlp_new - mlp_old)


def test_variant_without_flags_is_the_vanilla_model() -> None:
    torch.manual_seed(0)
    keep = {k: v for k, v in vcfg().__dict__.items() if k in GPTConfig.__dataclass_fields__}
    vanilla = GPTLanguageModel(GPTConfig(**keep)).double().eval()
    variant = GPTVariant(vcfg()).double().eval()
    variant.load_state_dict(vanilla.state_dict())
    idx = torch.randint(0, 65, (2, 16))
    torch.testing.assert_close(variant(idx)[0], vanilla(idx)[0], rtol=0, atol=0)


def test_flops_per_token_is_nanogpt_formula() -> None:
    model = GPTLanguageModel(GPTConfig())
    n = non_embedding_params(model)
    assert n == 10_788_929 - 256 * 384
    assert flops_per_token(model.cfg, n) == 6 * n + 12 * 6 * 6 * 64 * 256
    rope = GPTVariant(VariantConfig(rope=True))
    assert non_embedding_params(rope) == num_params(rope) == 10_788_929 - 256 * 384
    assert mfu(100, 1e6, 1e9) == pytest.approx(0.1)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_rope_swiglu_on_cuda_matches_cpu() -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = GPTVariant(vcfg(rope=True, swiglu=True)).double().eval()
    idx = torch.randint(0, 65, (2, 16))
    want = model(idx)[0]
    got = model.cuda().float()(idx.cuda())[0]
    torch.testing.assert_close(got.double().cpu(), want, rtol=1e-4, atol=1e-4)
