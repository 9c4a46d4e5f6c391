"""Export a training checkpoint to GGUF the way llama.cpp's converter writes a LLaDA model.

    /usr/bin/python3 train/export_gguf.py [--ckpt train/work/ckpt.pt] [--out models/dllm-kjv.gguf]
                                          [--type f16|q8_0|bf16|f32] [--check]

--check reads the file back, runs a numpy forward pass from the GGUF tensors
(interleaved-pair RoPE, as llama.cpp does after the q/k permutation) and compares
its logits with the torch model.
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
from bpe import Tokenizer  # noqa: E402
from model import Config, LLaDA  # noqa: E402
from gguf_write import GGUFWriter, GGMLType, GGUFValueType, read_gguf, dequantize_q8_0  # noqa: E402

# LLaDA-8B-Instruct's tokenizer_config.json chat_template (Llama-3 style; the
# assistant header is always appended).
CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}"
    "{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}"
    "{% endfor %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
)

TYPES = {"f32": GGMLType.F32, "f16": GGMLType.F16, "q8_0": GGMLType.Q8_0, "bf16": GGMLType.BF16}
FILE_TYPE = {"f32": 0, "f16": 1, "q8_0": 7, "bf16": 32}  # llama_ftype ALL_F32, MOSTLY_F16/Q8_0/BF16


def permute_qk(w, n_head):
    """HF rotate-half row order -> interleaved pairs (llama.cpp LlamaModel.permute)."""
    rows, cols = w.shape
    return w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def load_model(ckpt):
    ck = torch.load(ckpt, map_location="cpu")
    cfg = Config(**ck["config"])
    m = LLaDA(cfg)
    m.load_state_dict(ck["model"])
    m.eval()
    return m, cfg, ck.get("step")


def export(model, cfg, tok, out, typ="f16", name="dllm-kjv", context_length=512):
    w = GGUFWriter(out)
    hd = cfg.d_model // cfg.n_heads
    w.add_string("general.architecture", "llada")
    w.add_string("general.name", name)
    w.add_uint32("general.file_type", FILE_TYPE[typ])
    w.add_uint32("llada.context_length", context_length)
    w.add_uint32("llada.embedding_length", cfg.d_model)
    w.add_uint32("llada.block_count", cfg.n_layers)
    w.add_uint32("llada.feed_forward_length", cfg.ffn)
    w.add_uint32("llada.attention.head_count", cfg.n_heads)
    w.add_uint32("llada.attention.head_count_kv", cfg.n_heads)
    w.add_float32("llada.rope.freq_base", cfg.rope_theta)
    w.add_uint32("llada.rope.dimension_count", hd)
    w.add_float32("llada.attention.layer_norm_rms_epsilon", cfg.norm_eps)
    w.add_uint32("llada.vocab_size", len(tok.tokens))
    w.add_bool("llada.attention.causal", False)
    w.add_bool("diffusion.shift_logits", False)
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "gpt-2")
    w.add_array("tokenizer.ggml.tokens", tok.tokens, GGUFValueType.STRING)
    w.add_array("tokenizer.ggml.token_type",
                [1] * tok.n_normal + [3] * (len(tok.tokens) - tok.n_normal), GGUFValueType.INT32)
    w.add_array("tokenizer.ggml.merges", ["%s %s" % m for m in tok.merges], GGUFValueType.STRING)
    w.add_uint32("tokenizer.ggml.bos_token_id", tok.bos_id)
    w.add_uint32("tokenizer.ggml.eos_token_id", tok.eos_id)
    w.add_uint32("tokenizer.ggml.padding_token_id", tok.pad_id)
    w.add_uint32("tokenizer.ggml.mask_token_id", tok.mask_id)
    w.add_uint32("tokenizer.ggml.eot_token_id", tok.id["<|eot_id|>"])
    w.add_bool("tokenizer.ggml.add_bos_token", False)
    w.add_bool("tokenizer.ggml.add_eos_token", False)
    w.add_string("tokenizer.chat_template", CHAT_TEMPLATE)

    mt = TYPES[typ]
    norm_t = GGMLType.F32

    def mat(t):
        return t.detach().float().numpy()

    w.add_tensor("token_embd.weight", mat(model.embed.weight), mt)
    for i, b in enumerate(model.blocks):
        p = "blk.%d." % i
        w.add_tensor(p + "attn_norm.weight", mat(b.attn_norm.weight), norm_t)
        w.add_tensor(p + "attn_q.weight", permute_qk(mat(b.q.weight), cfg.n_heads), mt)
        w.add_tensor(p + "attn_k.weight", permute_qk(mat(b.k.weight), cfg.n_heads), mt)
        w.add_tensor(p + "attn_v.weight", mat(b.v.weight), mt)
        w.add_tensor(p + "attn_output.weight", mat(b.o.weight), mt)
        w.add_tensor(p + "ffn_norm.weight", mat(b.ffn_norm.weight), norm_t)
        w.add_tensor(p + "ffn_gate.weight", mat(b.w1.weight), mt)
        w.add_tensor(p + "ffn_up.weight", mat(b.w3.weight), mt)
        w.add_tensor(p + "ffn_down.weight", mat(b.w2.weight), mt)
    w.add_tensor("output_norm.weight", mat(model.norm.weight), norm_t)
    w.add_tensor("output.weight", mat(model.head.weight), mt)
    w.write()
    return out


# ---------------------------------------------------------------- numpy reference from the GGUF

def gguf_tensors(path):
    kv, ts = read_gguf(path)
    out = {}
    for n, (ne, t, raw) in ts.items():
        shape = tuple(reversed(ne))
        if t == GGMLType.F32:
            a = np.frombuffer(raw, "<f4").reshape(shape)
        elif t == GGMLType.F16:
            a = np.frombuffer(raw, "<f2").astype(np.float32).reshape(shape)
        elif t == GGMLType.BF16:
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
        elif t == GGMLType.Q8_0:
            a = dequantize_q8_0(raw, shape)
        out[n] = a.astype(np.float32)
    return kv, out


def np_forward(kv, T, ids):
    """Forward pass as llama.cpp computes it: RoPE on interleaved pairs (2i, 2i+1)."""
    d = kv["llada.embedding_length"]
    nh = kv["llada.attention.head_count"]
    hd = d // nh
    eps = kv["llada.attention.layer_norm_rms_epsilon"]
    theta = kv["llada.rope.freq_base"]
    L = len(ids)
    x = T["token_embd.weight"][ids]

    def rms(v, wt):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * wt

    inv = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.arange(L)[:, None] * inv[None, :]
    cos, sin = np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)

    def rope(q):  # q [L, nh, hd], pairs (2i, 2i+1)
        a, b = q[..., 0::2], q[..., 1::2]
        c, s = cos[:, None, :], sin[:, None, :]
        r = np.empty_like(q)
        r[..., 0::2] = a * c - b * s
        r[..., 1::2] = a * s + b * c
        return r

    for i in range(kv["llada.block_count"]):
        p = "blk.%d." % i
        h = rms(x, T[p + "attn_norm.weight"])
        q = rope((h @ T[p + "attn_q.weight"].T).reshape(L, nh, hd))
        k = rope((h @ T[p + "attn_k.weight"].T).reshape(L, nh, hd))
        v = (h @ T[p + "attn_v.weight"].T).reshape(L, nh, hd)
        s = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        y = np.einsum("hqk,khd->qhd", s, v).reshape(L, d)
        x = x + y @ T[p + "attn_output.weight"].T
        h = rms(x, T[p + "ffn_norm.weight"])
        g = h @ T[p + "ffn_gate.weight"].T
        u = h @ T[p + "ffn_up.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ T[p + "ffn_down.weight"].T
    return rms(x, T["output_norm.weight"]) @ T["output.weight"].T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(HERE, "work", "ckpt.pt"))
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "dllm-kjv.gguf"))
    ap.add_argument("--type", default="f16", choices=sorted(TYPES))
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    tok = Tokenizer.load(os.path.join(ROOT, "models", "dllm-kjv.tokenizer.json"))
    model, cfg, step = load_model(a.ckpt)
    export(model, cfg, tok, a.out, a.type, context_length=a.context)
    print("wrote %s (%s, step %s): %.2f MB" % (a.out, a.type, step, os.path.getsize(a.out) / 1e6))
    if a.check:
        kv, T = gguf_tensors(a.out)
        assert kv["tokenizer.ggml.tokens"] == tok.tokens
        ids = tok.encode("In the beginning God created the heaven and the earth.") + [tok.mask_id] * 8
        ref = model(torch.tensor([ids])).detach().numpy()[0]
        got = np_forward(kv, T, np.array(ids))
        err = np.abs(ref - got).max()
        print("numpy(GGUF, interleaved RoPE) vs torch logits: max abs diff %.4g (logit scale %.3g); "
              "argmax agree %d/%d" % (err, np.abs(ref).max(), (ref.argmax(-1) == got.argmax(-1)).sum(), len(ids)))


if __name__ == "__main__":
    main()
