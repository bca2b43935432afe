"""GPT variants for the week-6 Architect track: RoPE and/or SwiGLU, plus FLOP/MFU estimates.

RoPE rotates each head's queries and keys by an angle proportional to the position, so
q_m . k_n depends only on m - n; it replaces the position embedding table. SwiGLU replaces
the ReLU MLP with W2(SiLU(W1 x) * W3 x) at hidden size int(2 * 4 * n_embd / 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F

from reference.gpt import Block, GPTConfig, GPTLanguageModel, Head, MultiHeadAttention


@dataclass
class VariantConfig(GPTConfig):
    """GPTConfig plus the architecture switches."""

    rope: bool = False
    swiglu: bool = False
    rope_base: float = 10000.0


def rope_angles(T: int, head_size: int, base: float = 10000.0,
                device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of position * theta_i, theta_i = base^(-2i/hs): each (T, hs/2)."""
    assert head_size % 2 == 0, "RoPE needs an even head_size"
    theta = base ** (-torch.arange(0, head_size, 2, device=device, dtype=torch.float64) / head_size)
    ang = torch.arange(T, device=device, dtype=torch.float64)[:, None] * theta[None, :]  # (T,hs/2)
    return ang.cos(), ang.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the pairs (x[2i], x[2i+1]) of x (..., T, hs) by the angles of their position."""
    T = x.shape[-2]
    cos, sin = cos[:T].to(x.dtype), sin[:T].to(x.dtype)  # (T,hs/2)
    x1, x2 = x[..., 0::2], x[..., 1::2]  # (...,T,hs/2) each
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # (...,T,hs/2,2)
    return out.flatten(-2)  # (...,T,hs)


class RopeHead(Head):
    """A Head whose queries and keys are rotated by position (no position table needed)."""

    cos: torch.Tensor
    sin: torch.Tensor

    def __init__(self, cfg: VariantConfig, head_size: int):
        super().__init__(cfg, head_size)
        cos, sin = rope_angles(cfg.block_size, head_size, cfg.rope_base)
        self.register_buffer("cos", cos.float(), persistent=False)
        self.register_buffer("sin", sin.float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = apply_rope(self.key(x), self.cos, self.sin)  # (B,T,hs)
        q = apply_rope(self.query(x), self.cos, self.sin)  # (B,T,hs)
        wei = self.dropout(self.attention(q, k))  # (B,T,T)
        return wei @ self.value(x)  # (B,T,hs)


class RopeMultiHeadAttention(MultiHeadAttention):
    """MultiHeadAttention built from RopeHeads."""

    def make_head(self, cfg: GPTConfig, head_size: int) -> nn.Module:
        assert isinstance(cfg, VariantConfig)
        return RopeHead(cfg, head_size)


def swiglu_hidden(n_embd: int) -> int:
    """Hidden width that keeps SwiGLU's 3 matrices near the 2 of a 4x MLP."""
    return int(2 * 4 * n_embd / 3)


class SwiGLU(nn.Module):
    """W2(SiLU(W1 x) * W3 x), no biases (LLaMA style)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        hidden = swiglu_hidden(cfg.n_embd)
        self.w1 = nn.Linear(cfg.n_embd, hidden, bias=False)
        self.w3 = nn.Linear(cfg.n_embd, hidden, bias=False)
        self.w2 = nn.Linear(hidden, cfg.n_embd, bias=False)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.w1(x)) * self.w3(x)  # (B,T,hidden)
        return self.dropout(self.w2(h))  # (B,T,C)


class VariantBlock(Block):
    """Block with RoPE attention and/or a SwiGLU MLP."""

    def make_attention(self, cfg: GPTConfig, head_size: int) -> nn.Module:
        assert isinstance(cfg, VariantConfig)
        if cfg.rope:
            return RopeMultiHeadAttention(cfg, cfg.n_head, head_size)
        return super().make_attention(cfg, head_size)

    def make_ffwd(self, cfg: GPTConfig) -> nn.Module:
        assert isinstance(cfg, VariantConfig)
        return SwiGLU(cfg) if cfg.swiglu else super().make_ffwd(cfg)


class GPTVariant(GPTLanguageModel):
    """GPTLanguageModel with the switches of a VariantConfig."""

    cfg: VariantConfig

    def __init__(self, cfg: VariantConfig):
        super().__init__(cfg)

    def uses_position_table(self) -> bool:
        return not self.cfg.rope

    def make_block(self, cfg: GPTConfig) -> nn.Module:
        return VariantBlock(cfg)


def non_embedding_params(model: GPTLanguageModel) -> int:
    """nanoGPT's N: every parameter except the position embedding table."""
    n = sum(p.numel() for p in model.parameters())
    if model.uses_position_table():
        n -= model.position_embedding_table.weight.numel()
    return n


def flops_per_token(cfg: GPTConfig, n_params: int, T: int | None = None) -> int:
    """nanoGPT's estimate for forward+backward: 6N + 12*L*H*Q*T (Q = head size)."""
    T = cfg.block_size if T is None else T
    L, H, Q = cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head
    return 6 * n_params + 12 * L * H * Q * T


def mfu(flops_token: int, tokens_per_s: float, peak_flops: float) -> float:
    """Model FLOPs utilisation: achieved FLOP/s over the device's peak."""
    return flops_token * tokens_per_s / peak_flops
