"""LLaDA-style bidirectional transformer (mask predictor), plain torch.

Block: x += o(attn(rmsnorm(x)));  x += w2(silu(w1 h) * w3 h), h = rmsnorm(x)
Attention: multi-head, no GQA, no biases, RoPE (HF rotate-half layout) on q and k,
full bidirectional (no mask). Final RMSNorm, untied output head.
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int = 3072
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 4
    ffn: int = 704
    max_seq: int = 128        # training length; RoPE itself works for any length
    context_length: int = 1024  # written to GGUF as llada.context_length
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    def to_dict(self):
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_cos_sin(n, head_dim, theta, device=None):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim))
    t = torch.arange(n, dtype=torch.float32, device=device)
    f = torch.outer(t, inv)
    emb = torch.cat([f, f], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c.d_model
        self.n_heads = c.n_heads
        self.hd = d // c.n_heads
        self.attn_norm = RMSNorm(d, c.norm_eps)
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.ffn_norm = RMSNorm(d, c.norm_eps)
        self.w1 = nn.Linear(d, c.ffn, bias=False)  # gate
        self.w3 = nn.Linear(d, c.ffn, bias=False)  # up
        self.w2 = nn.Linear(c.ffn, d, bias=False)  # down

    def forward(self, x, cos, sin):
        B, L, D = x.shape
        h = self.attn_norm(x)
        q = self.q(h).view(B, L, self.n_heads, self.hd).transpose(1, 2)
        k = self.k(h).view(B, L, self.n_heads, self.hd).transpose(1, 2)
        v = self.v(h).view(B, L, self.n_heads, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        att = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.hd))
        att = att.softmax(dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(B, L, D)
        x = x + self.o(y)
        h = self.ffn_norm(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class LLaDA(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed = nn.Embedding(c.vocab_size, c.d_model)
        self.blocks = nn.ModuleList([Block(c) for _ in range(c.n_layers)])
        self.norm = RMSNorm(c.d_model, c.norm_eps)
        self.head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self._rope = {}
        self.reset_parameters()

    def reset_parameters(self):
        std = 0.02
        for n, p in self.named_parameters():
            if p.dim() == 2:
                s = std
                if n.endswith("o.weight") or n.endswith("w2.weight"):
                    s = std / math.sqrt(2 * self.c.n_layers)
                nn.init.normal_(p, 0.0, s)

    def rope(self, L, device):
        key = (L, str(device))
        if key not in self._rope:
            self._rope[key] = rope_cos_sin(L, self.c.d_model // self.c.n_heads, self.c.rope_theta, device)
        return self._rope[key]

    def hidden(self, ids):
        x = self.embed(ids)
        cos, sin = self.rope(ids.shape[1], ids.device)
        for b in self.blocks:
            x = b(x, cos, sin)
        return self.norm(x)

    def forward(self, ids):
        return self.head(self.hidden(ids))
