"""The GPT of the "Let's build GPT" lecture, with its hyper-parameters passed in a config.

Same modules and parameter names as the lecture (state_dict keys such as
`blocks.0.sa.heads.0.key.weight`), so a student's weights load straight into it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    """Hyper-parameters; the defaults are the lecture's (10,788,929 parameters)."""

    vocab_size: int = 65
    block_size: int = 256  # maximum context length
    n_embd: int = 384
    n_head: int = 6
    n_layer: int = 6
    dropout: float = 0.2
    init_weights: bool = True  # the lecture's N(0, 0.02) init; False keeps PyTorch defaults
    attn_scale: float | None = None  # None: the lecture's head_size**-0.5; else this scale


class Head(nn.Module):
    """One head of causal self-attention."""

    tril: torch.Tensor

    def __init__(self, cfg: GPTConfig, head_size: int):
        super().__init__()
        self.key = nn.Linear(cfg.n_embd, head_size, bias=False)
        self.query = nn.Linear(cfg.n_embd, head_size, bias=False)
        self.value = nn.Linear(cfg.n_embd, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(cfg.block_size, cfg.block_size)))
        self.dropout = nn.Dropout(cfg.dropout)
        self.scale = cfg.attn_scale

    def attention(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Causal softmax(q k^T / sqrt(hs)): (B,T,hs),(B,T,hs) -> (B,T,T), rows sum to 1."""
        T = q.shape[1]
        scale = k.shape[-1] ** -0.5 if self.scale is None else self.scale
        wei = q @ k.transpose(-2, -1) * scale  # (B,T,hs) @ (B,hs,T) -> (B,T,T)
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))  # (B,T,T)
        return F.softmax(wei, dim=-1)  # (B,T,T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.key(x)  # (B,T,hs)
        q = self.query(x)  # (B,T,hs)
        wei = self.dropout(self.attention(q, k))  # (B,T,T)
        v = self.value(x)  # (B,T,hs)
        return wei @ v  # (B,T,T) @ (B,T,hs) -> (B,T,hs)


class MultiHeadAttention(nn.Module):
    """Several heads in parallel, concatenated and projected back to n_embd."""

    def __init__(self, cfg: GPTConfig, num_heads: int, head_size: int):
        super().__init__()
        self.heads = nn.ModuleList([self.make_head(cfg, head_size) for _ in range(num_heads)])
        self.proj = nn.Linear(head_size * num_heads, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.dropout)

    def make_head(self, cfg: GPTConfig, head_size: int) -> nn.Module:
        """One head (variants override this)."""
        return Head(cfg, head_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([h(x) for h in self.heads], dim=-1)  # (B,T,num_heads*hs)
        return self.dropout(self.proj(out))  # (B,T,C)


class FeedFoward(nn.Module):
    """Position-wise MLP: Linear(C, 4C) -> ReLU -> Linear(4C, C) (the lecture's spelling)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(cfg.n_embd, 4 * cfg.n_embd),
            nn.ReLU(),
            nn.Linear(4 * cfg.n_embd, cfg.n_embd),
            nn.Dropout(cfg.dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B,T,C)


FeedForward = FeedFoward


class Block(nn.Module):
    """Transformer block, pre-norm: communication (attention) then computation (MLP)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        head_size = cfg.n_embd // cfg.n_head
        self.sa = self.make_attention(cfg, head_size)
        self.ffwd = self.make_ffwd(cfg)
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.ln2 = nn.LayerNorm(cfg.n_embd)

    def make_attention(self, cfg: GPTConfig, head_size: int) -> nn.Module:
        """The attention sub-layer (variants override this)."""
        return MultiHeadAttention(cfg, cfg.n_head, head_size)

    def make_ffwd(self, cfg: GPTConfig) -> nn.Module:
        """The feed-forward sub-layer (variants override this)."""
        return FeedFoward(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.sa(self.ln1(x))  # (B,T,C)
        x = x + self.ffwd(self.ln2(x))  # (B,T,C)
        return x


class GPTLanguageModel(nn.Module):
    """Token + position embeddings, n_layer blocks, final LayerNorm, linear head."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.token_embedding_table = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        if self.uses_position_table():
            self.position_embedding_table = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.Sequential(*[self.make_block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)  # final layer norm
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size)
        if cfg.init_weights:
            self.apply(self._init_weights)

    def uses_position_table(self) -> bool:
        """True: learned absolute positions (RoPE variants say False)."""
        return True

    def make_block(self, cfg: GPTConfig) -> nn.Module:
        """One transformer block (variants override this)."""
        return Block(cfg)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T = idx.shape
        x = self.token_embedding_table(idx)  # (B,T,C)
        if self.uses_position_table():
            x = x + self.position_embedding_table(torch.arange(T, device=idx.device))  # (T,C)
        x = self.blocks(x)  # (B,T,C)
        x = self.ln_f(x)  # (B,T,C)
        logits = self.lm_head(x)  # (B,T,vocab_size)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample max_new_tokens after idx (B,T), each conditioned on the last block_size."""
        for _ in range(max_new_tokens):
            idx_cond = idx[:, -self.cfg.block_size:]  # (B,<=block_size)
            logits, _ = self(idx_cond)  # (B,T,V)
            probs = F.softmax(logits[:, -1, :], dim=-1)  # (B,V)
            idx_next = torch.multinomial(probs, num_samples=1, generator=generator)  # (B,1)
            idx = torch.cat((idx, idx_next), dim=1)  # (B,T+1)
        return idx


def num_params(model: nn.Module) -> int:
    """All trainable parameters (the lecture's count)."""
    return sum(p.numel() for p in model.parameters())
