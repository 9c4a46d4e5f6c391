"""Float64 logits of a LLaDA GGUF over the side-by-side canvas, for telling
which engine a difference between dllm and llama.cpp comes from. Written from
LLaDA's published definition (GSAI-ML modeling_llada.py: pre-RMSNorm blocks,
RoPE, full attention, SwiGLU, no biases), with RoPE on interleaved pairs
(2i, 2i+1), the layout llama.cpp's converter gives LLaDA's Q/K rows. The
weights are the file's own values (F16 widened, Q8_0 dequantized: scale
times int8), so the result is what an exact engine computes from this file.

usage: /usr/bin/python3 tests/bench/ref_llada_logits.py MODEL.gguf L OUT.f32
       (ids: (i * 7919 + 13) % (vocab - 1), as bench_forward and
       llamacpp_forward use)"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from gguf_write import GGMLType, dequantize_q8_0, read_gguf  # noqa: E402


def weights(tensors, name):
    ne, gtype, raw = tensors[name]
    shape = tuple(reversed(ne))
    if gtype == GGMLType.F32:
        a = np.frombuffer(raw, "<f4").reshape(shape)
    elif gtype == GGMLType.F16:
        a = np.frombuffer(raw, "<f2").reshape(shape)
    elif gtype == GGMLType.Q8_0:
        a = dequantize_q8_0(raw, shape)
    else:
        raise ValueError("%s: type %d not handled here" % (name, gtype))
    return a.astype(np.float64)


def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rope_pairs(x, theta):
    """x [L, H, hd]: rotates each pair (2i, 2i+1) by pos * theta^(-2i/hd)."""
    L, _, hd = x.shape
    inv = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.arange(L, dtype=np.float64)[:, None] * inv[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def main():
    path, L, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    kv, t = read_gguf(path)
    arch = kv["general.architecture"]
    n_layers = kv[arch + ".block_count"]
    heads = kv[arch + ".attention.head_count"]
    eps = kv[arch + ".attention.layer_norm_rms_epsilon"]
    theta = kv[arch + ".rope.freq_base"]
    emb = weights(t, "token_embd.weight")
    vocab, d = emb.shape
    hd = d // heads
    ids = [(i * 7919 + 13) % (vocab - 1) for i in range(L)]
    x = emb[ids]
    for i in range(n_layers):
        def w(n):
            return weights(t, "blk.%d.%s.weight" % (i, n))
        h = rmsnorm(x, w("attn_norm"), eps)
        q = rope_pairs((h @ w("attn_q").T).reshape(L, heads, hd), theta)
        k = rope_pairs((h @ w("attn_k").T).reshape(L, heads, hd), theta)
        v = (h @ w("attn_v").T).reshape(L, heads, hd)
        s = np.einsum("ihd,jhd->hij", q, k) / np.sqrt(hd)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        a = np.einsum("hij,jhd->ihd", p, v).reshape(L, d)
        x = x + a @ w("attn_output").T
        h = rmsnorm(x, w("ffn_norm"), eps)
        g = h @ w("ffn_gate").T
        x = x + ((g / (1 + np.exp(-g))) * (h @ w("ffn_up").T)) @ w("ffn_down").T
    x = rmsnorm(x, weights(t, "output_norm.weight"), eps)
    logits = x @ weights(t, "output.weight").T
    logits.astype("<f4").tofile(out_path)


if __name__ == "__main__":
    main()
