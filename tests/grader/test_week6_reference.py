"""reference/capstone.py: attention maps equal each head's own attention; unigram baseline."""

from __future__ import annotations

import math

import torch

from reference.capstone import attention_maps, cross_entropy, unigram_loss
from reference.gpt import GPTConfig, GPTLanguageModel
from reference.gpt_variants import GPTVariant, VariantConfig


def _hooked_maps(model: GPTLanguageModel, idx: torch.Tensor) -> list[torch.Tensor]:
    """The weights each Head really uses in forward, captured by patching attention()."""
    seen: list[torch.Tensor] = []

    def spy(orig):  # type: ignore[no-untyped-def]
        def attention(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
            seen.append(orig(q, k))
            return seen[-1]
        return attention

    for block in model.blocks:
        for head in block.sa.heads:  # type: ignore[union-attr]
            head.attention = spy(head.attention)
    model(idx)
    L, H = model.cfg.n_layer, model.cfg.n_head
    return [torch.stack(seen[i * H:(i + 1) * H], dim=1) for i in range(L)]


def test_maps_equal_the_attention_forward_uses() -> None:
    torch.manual_seed(0)
    for model in (GPTLanguageModel(GPTConfig(vocab_size=11, block_size=6, n_embd=8, n_head=2,
                                             n_layer=3, dropout=0.0)),
                  GPTVariant(VariantConfig(vocab_size=11, block_size=6, n_embd=8, n_head=2,
                                           n_layer=3, dropout=0.0, rope=True, swiglu=True))):
        model = model.double().eval()
        idx = torch.randint(0, 11, (2, 6))
        maps = attention_maps(model, idx)
        assert [tuple(m.shape) for m in maps] == [(2, 2, 6, 6)] * 3
        for got, want in zip(maps, _hooked_maps(model, idx), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(got.sum(-1), torch.ones(2, 2, 6, dtype=torch.float64))
            assert float(torch.triu(got, diagonal=1).abs().max()) == 0.0


def test_unigram_and_cross_entropy() -> None:
    counts = torch.tensor([3, 0, 1])  # add-one: probabilities 4/7, 1/7, 2/7
    assert math.isclose(unigram_loss(counts, torch.tensor([0, 2])),
                        -(math.log(4 / 7) + math.log(2 / 7)) / 2, rel_tol=1e-12)
    logits = torch.zeros(2, 3, 5)
    assert math.isclose(cross_entropy(logits, torch.zeros(2, 3, dtype=torch.long)),
                        math.log(5), rel_tol=1e-12)
