"""Week-6 capstone references: attention maps of the lecture GPT and a unigram baseline."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from reference.gpt import Block, GPTLanguageModel


@torch.no_grad()
def attention_maps(model: GPTLanguageModel, idx: torch.Tensor) -> list[torch.Tensor]:
    """Per layer, the attention weights of every head: a list of (B, n_head, T, T)."""
    B, T = idx.shape
    x = model.token_embedding_table(idx)  # (B,T,C)
    if model.uses_position_table():
        pos = model.position_embedding_table
        assert isinstance(pos, nn.Embedding)
        x = x + pos(torch.arange(T, device=idx.device))  # (T,C)
    maps = []
    for block in model.blocks:
        assert isinstance(block, Block)
        h = block.ln1(x)  # (B,T,C)
        heads = []
        for head in block.sa.heads:  # type: ignore[union-attr]
            k, q = head.key(h), head.query(h)  # (B,T,hs) each
            if hasattr(head, "cos"):  # RoPE heads rotate q and k first
                from reference.gpt_variants import apply_rope

                k, q = apply_rope(k, head.cos, head.sin), apply_rope(q, head.cos, head.sin)
            heads.append(head.attention(q, k))  # (B,T,T)
        maps.append(torch.stack(heads, dim=1))  # (B,n_head,T,T)
        x = block(x)  # (B,T,C)
    return maps


def unigram_loss(counts: torch.Tensor, targets: torch.Tensor) -> float:
    """Cross-entropy of targets under add-one-smoothed character counts (V,) of a train split."""
    c = counts.double() + 1.0  # (V,)
    logp = (c / c.sum()).log()  # (V,)
    return float(-logp[targets.reshape(-1)].mean())


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean cross-entropy of (…, V) logits against (…) targets, in float64."""
    V = logits.shape[-1]
    return float(F.cross_entropy(logits.double().reshape(-1, V), targets.reshape(-1)))
