"""reference/gpt.py against independent float64 formulas and the lecture's facts."""

from __future__ import annotations

import math
from typing import Any, TypeVar

import pytest
import torch
from torch.nn import functional as F

from reference.gpt import (
    Block,
    FeedForward,
    FeedFoward,
    GPTConfig,
    GPTLanguageModel,
    Head,
    MultiHeadAttention,
    num_params,
)

SMALL = GPTConfig(vocab_size=65, block_size=8, n_embd=32, n_head=4, n_layer=2, dropout=0.0)


def small(**kw: object) -> GPTConfig:
    """The small test config with some fields changed."""
    return GPTConfig(**{**SMALL.__dict__, **kw})


M = TypeVar("M", bound=torch.nn.Module)


def randomize(module: M, seed: int = 0) -> M:
    """Float64, eval, and non-trivial weights everywhere (LayerNorm gains/biases too)."""
    g = torch.Generator().manual_seed(seed)
    module.double().eval()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.3)
    return module


def test_lecture_config_has_10788929_parameters() -> None:
    assert num_params(GPTLanguageModel(GPTConfig())) == 10_788_929


def test_state_dict_keys_are_the_lectures() -> None:
    keys = set(GPTLanguageModel(SMALL).state_dict())
    for k in ("token_embedding_table.weight", "position_embedding_table.weight",
              "blocks.0.sa.heads.0.key.weight", "blocks.0.sa.heads.3.query.weight",
              "blocks.1.sa.heads.0.value.weight", "blocks.0.sa.proj.weight",
              "blocks.0.sa.proj.bias", "blocks.0.ffwd.net.0.weight", "blocks.0.ffwd.net.2.bias",
              "blocks.0.ln1.weight", "blocks.1.ln2.bias", "ln_f.weight", "lm_head.weight"):
        assert k in keys, k
    assert FeedForward is FeedFoward


def test_head_equals_explicit_softmax_per_query() -> None:
    cfg = small()
    head = randomize(Head(cfg, 8))
    x = torch.randn(2, 8, 32, dtype=torch.float64)
    q, k, v = head.query(x), head.key(x), head.value(x)
    want = torch.zeros(2, 8, 8, dtype=torch.float64)
    for t in range(8):  # query t attends to keys 0..t, scaled by 1/sqrt(head_size)
        s = (q[:, t:t + 1] @ k[:, :t + 1].transpose(1, 2)).squeeze(1) / math.sqrt(8)
        want[:, t] = (torch.softmax(s, dim=-1)[:, :, None] * v[:, :t + 1]).sum(1)
    torch.testing.assert_close(head(x), want, rtol=1e-12, atol=1e-12)


def test_attention_is_causal_and_rows_sum_to_one() -> None:
    head = randomize(Head(small(), 8))
    x = torch.randn(3, 8, 32, dtype=torch.float64)
    wei = head.attention(head.query(x), head.key(x))
    torch.testing.assert_close(wei.sum(-1), torch.ones(3, 8, dtype=torch.float64))
    assert torch.all(wei.triu(diagonal=1) == 0)
    lower = torch.tril(torch.ones(8, 8, dtype=torch.bool))
    assert torch.all(wei[:, lower] > 0)


def test_multi_head_attention_equals_sdpa() -> None:
    mha = randomize(MultiHeadAttention(small(), 4, 8))
    x = torch.randn(2, 8, 32, dtype=torch.float64)
    outs = []
    heads: Any = mha.heads
    for h in heads:
        q, k, v = (h.query(x), h.key(x), h.value(x))
        outs.append(F.scaled_dot_product_attention(q, k, v, is_causal=True))
    want = F.linear(torch.cat(outs, -1), mha.proj.weight, mha.proj.bias)
    torch.testing.assert_close(mha(x), want, rtol=1e-10, atol=1e-10)


def functional_block(b: Any, x: torch.Tensor) -> torch.Tensor:
    """The pre-norm block written with torch.nn.functional only."""
    h = F.layer_norm(x, (x.shape[-1],), b.ln1.weight, b.ln1.bias)
    heads = [F.scaled_dot_product_attention(hd.query(h), hd.key(h), hd.value(h), is_causal=True)
             for hd in b.sa.heads]
    x = x + F.linear(torch.cat(heads, -1), b.sa.proj.weight, b.sa.proj.bias)
    h = F.layer_norm(x, (x.shape[-1],), b.ln2.weight, b.ln2.bias)
    net = b.ffwd.net
    return x + F.linear(F.relu(F.linear(h, net[0].weight, net[0].bias)), net[2].weight, net[2].bias)


def test_block_is_pre_norm_with_residuals() -> None:
    block = randomize(Block(small()))
    x = torch.randn(2, 8, 32, dtype=torch.float64)
    torch.testing.assert_close(block(x), functional_block(block, x), rtol=1e-10, atol=1e-10)


def test_block_gradients_pass_gradcheck() -> None:
    block = randomize(Block(small(n_embd=8, n_head=2, block_size=4)))
    x = torch.randn(1, 4, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), eps=1e-6, atol=1e-6)


def test_model_loss_is_cross_entropy_of_logits() -> None:
    model = randomize(GPTLanguageModel(SMALL))
    idx = torch.randint(0, 65, (2, 8))
    tgt = torch.randint(0, 65, (2, 8))
    logits, loss = model(idx, tgt)
    assert logits.shape == (2, 8, 65)
    logp = torch.log_softmax(logits, -1)
    want = -logp.gather(-1, tgt[..., None]).mean()
    assert loss is not None
    torch.testing.assert_close(loss, want)
    assert model(idx)[1] is None


def test_changing_future_tokens_leaves_earlier_logits() -> None:
    model = randomize(GPTLanguageModel(SMALL))
    a = torch.randint(0, 65, (2, 8))
    b = a.clone()
    b[:, 5:] = (b[:, 5:] + 7) % 65
    la, lb = model(a)[0], model(b)[0]
    torch.testing.assert_close(la[:, :5], lb[:, :5], rtol=0, atol=0)
    assert not torch.allclose(la[:, 5:], lb[:, 5:])


def test_loss_at_init_is_about_ln_vocab() -> None:
    torch.manual_seed(1337)
    model = GPTLanguageModel(SMALL).eval()
    _, loss = model(torch.randint(0, 65, (8, 8)), torch.randint(0, 65, (8, 8)))
    assert loss is not None and abs(loss.item() - math.log(65)) < 0.05


def test_generate_length_vocabulary_and_window() -> None:
    torch.manual_seed(0)
    model = GPTLanguageModel(SMALL).eval()
    a = torch.randint(0, 65, (2, 12))  # longer than block_size
    b = a.clone()
    b[:, :4] = (b[:, :4] + 1) % 65  # differs only before the last block_size tokens
    out_a = model.generate(a, 6, generator=torch.Generator().manual_seed(5))
    out_b = model.generate(b, 6, generator=torch.Generator().manual_seed(5))
    assert out_a.shape == (2, 18) and out_a.min() >= 0 and out_a.max() < 65
    assert torch.equal(out_a[:, :12], a)
    assert torch.equal(out_a[:, 12:], out_b[:, 12:])


def test_a_few_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    model = GPTLanguageModel(SMALL)
    xb, yb = torch.randint(0, 65, (4, 8)), torch.randint(0, 65, (4, 8))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        _, loss = model(xb, yb)
        assert loss is not None
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3


def test_eval_turns_dropout_off() -> None:
    model = GPTLanguageModel(small(dropout=0.5))
    idx = torch.randint(0, 65, (2, 8))
    model.train()
    assert not torch.equal(model(idx)[0], model(idx)[0])
    model.eval()
    assert torch.equal(model(idx)[0], model(idx)[0])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_float32_matches_cpu_float64() -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = randomize(GPTLanguageModel(SMALL))
    idx = torch.randint(0, 65, (4, 8))
    tgt = torch.randint(0, 65, (4, 8))
    want, _ = model(idx, tgt)
    model.cuda().float()
    got, loss = model(idx.cuda(), tgt.cuda())
    assert loss is not None and loss.is_cuda
    torch.testing.assert_close(got.double().cpu(), want, rtol=1e-4, atol=1e-4)
    out = model.generate(idx.cuda(), 10)
    assert out.shape == (4, 18) and out.is_cuda
