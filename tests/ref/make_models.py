#!/usr/bin/python3
"""Tiny random LLaDA-, Dream-, Llama-, BERT- and RoBERTa-shaped models, written
as GGUF (tools/gguf_write.py) and as Hugging Face directories (safetensors
written here by hand, config.json, a minimal tokenizer.json), with the logits
of an independent float64 torch implementation of each architecture, written
from the published definitions (not from dllm's C code):

  LLaDA  (GSAI-ML modeling_llada.py): pre-RMSNorm blocks, rotate-half RoPE,
         SwiGLU ff_out(silu(ff_proj x) * up_proj x), no biases, full attention.
  Dream  (Qwen2 blocks): q/k/v biases, grouped-query attention, RoPE theta from
         the config, full attention, logits shifted: out[i] = logits[i-1],
         out[0] = logits[0].
  Llama  causal attention, tied output embedding.
  BERT   post-LayerNorm, exact-erf GELU, learned positions + token type 0,
         MLM head dense + GELU + LayerNorm + decoder (tied) + bias.
  RoBERTa as BERT, positions counted from padding_idx + 1 over non-pad tokens.

GGUF files follow llama.cpp's conventions: Q/K rows of LLaDA and Llama are
permuted into interleaved RoPE pairs as its converter does,
  w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols),
Dream's are not. Hugging Face files keep rotate-half.

For F16/BF16/Q8_0 files the reference runs on the weights as the file stores
them (round-tripped here with numpy), so the same tight tolerance holds; the
error against the float32 model is reported as well, with looser limits.

Usage: make_models.py OUTDIR  -> the models and .npy logits in OUTDIR, and
OUTDIR/manifest.tsv, a line per model file:
  name  model_path  ids  expected.npy  kind  f32_expected.npy  loose_tol_rel
(loose_tol_rel 0 for float32 files).
"""
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from gguf_write import GGUFWriter, GGMLType, GGUFValueType, f32_to_bf16_bits, quantize_q8_0, dequantize_q8_0  # noqa: E402

torch.set_default_dtype(torch.float64)

VOCAB = 96
D, HEADS, HD, FF, LAYERS = 64, 4, 16, 96, 2
IDS = [5, 17, 3, 94, 40, 2, 63, 11, 94, 29, 7, 88]
# RoBERTa with a pad token inside: positions skip it (HF's create_position_ids)
IDS_ROBERTA = [0, 17, 3, 94, 1, 40, 2, 63, 94, 29, 7, 2]

# ------------------------------------------------------------------ weights


def rand_weights(arch, seed):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0, offset=0.0):
        return (torch.randn(*shape, generator=g) * scale + offset).float().numpy()

    kv = 2 if arch in ("dream", "llama") else HEADS
    w = {"token_embd": r(VOCAB, D)}
    bert = arch in ("bert", "roberta")
    for l in range(LAYERS):
        p = "blk.%d." % l
        w[p + "attn_q"] = r(HEADS * HD, D, scale=D ** -0.5)
        w[p + "attn_k"] = r(kv * HD, D, scale=D ** -0.5)
        w[p + "attn_v"] = r(kv * HD, D, scale=D ** -0.5)
        w[p + "attn_output"] = r(D, HEADS * HD, scale=D ** -0.5)
        w[p + "ffn_up"] = r(FF, D, scale=D ** -0.5)
        w[p + "ffn_down"] = r(D, FF, scale=FF ** -0.5)
        if bert or arch == "dream":
            w[p + "attn_q.bias"] = r(HEADS * HD, scale=0.1)
            w[p + "attn_k.bias"] = r(kv * HD, scale=0.1)
            w[p + "attn_v.bias"] = r(kv * HD, scale=0.1)
        if bert:
            w[p + "attn_output.bias"] = r(D, scale=0.1)
            w[p + "attn_output_norm"] = r(D, scale=0.1, offset=1.0)
            w[p + "attn_output_norm.bias"] = r(D, scale=0.1)
            w[p + "ffn_up.bias"] = r(FF, scale=0.1)
            w[p + "ffn_down.bias"] = r(D, scale=0.1)
            w[p + "layer_output_norm"] = r(D, scale=0.1, offset=1.0)
            w[p + "layer_output_norm.bias"] = r(D, scale=0.1)
        else:
            w[p + "attn_norm"] = r(D, scale=0.1, offset=1.0)
            w[p + "ffn_norm"] = r(D, scale=0.1, offset=1.0)
            w[p + "ffn_gate"] = r(FF, D, scale=D ** -0.5)
    if bert:
        w["position_embd"] = r(40, D, scale=0.5)
        w["token_types"] = r(2, D, scale=0.5)
        w["token_embd_norm"] = r(D, scale=0.1, offset=1.0)
        w["token_embd_norm.bias"] = r(D, scale=0.1)
        w["mlm.dense"] = r(D, D, scale=D ** -0.5)
        w["mlm.dense.bias"] = r(D, scale=0.1)
        w["mlm.norm"] = r(D, scale=0.1, offset=1.0)
        w["mlm.norm.bias"] = r(D, scale=0.1)
        w["output.bias"] = r(VOCAB, scale=0.1)
    else:
        w["output_norm"] = r(D, scale=0.1, offset=1.0)
        if arch != "llama":
            w["output"] = r(VOCAB, D, scale=D ** -0.5 * 4)
    return w, kv


def is_matrix(name, arr):
    return arr.ndim == 2


def stored(arr, kind):
    """The values a file of this kind holds for arr (2-D weights only)."""
    if kind == "f32" or arr.ndim != 2:
        return arr
    if kind == "f16":
        return arr.astype(np.float16).astype(np.float32)
    if kind == "bf16":
        return (f32_to_bf16_bits(arr).astype(np.uint32) << 16).view(np.float32).reshape(arr.shape)
    if kind == "q8_0":
        return dequantize_q8_0(quantize_q8_0(arr), arr.shape)
    raise ValueError(kind)


# -------------------------------------------------------- reference forward


def t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def layernorm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def rope_half(x, theta):
    """x [L, H, hd]; Hugging Face rotate_half convention."""
    L, _, hd = x.shape
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.arange(L, dtype=torch.float64)[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None, :]
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def attention(q, k, v, causal):
    """q [L, H, hd], k/v [L, Hkv, hd]; kv head of query head h is h // (H / Hkv)."""
    L, H, hd = q.shape
    rep = H // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = torch.einsum("ihd,jhd->hij", q, k) / hd ** 0.5
    if causal:
        s = s.masked_fill(torch.triu(torch.ones(L, L, dtype=torch.bool), 1), float("-inf"))
    p = torch.softmax(s, -1)
    return torch.einsum("hij,jhd->ihd", p, v).reshape(L, H * hd)


def forward_llama_family(w, kv, ids, causal, shift, theta, eps):
    W = {k: t(v) for k, v in w.items()}
    x = W["token_embd"][ids]
    L = len(ids)
    for l in range(LAYERS):
        p = "blk.%d." % l
        h = rmsnorm(x, W[p + "attn_norm"], eps)
        q = h @ W[p + "attn_q"].T + (W[p + "attn_q.bias"] if p + "attn_q.bias" in W else 0)
        k = h @ W[p + "attn_k"].T + (W[p + "attn_k.bias"] if p + "attn_k.bias" in W else 0)
        v = h @ W[p + "attn_v"].T + (W[p + "attn_v.bias"] if p + "attn_v.bias" in W else 0)
        q = rope_half(q.reshape(L, HEADS, HD), theta)
        k = rope_half(k.reshape(L, kv, HD), theta)
        a = attention(q, k, v.reshape(L, kv, HD), causal)
        x = x + a @ W[p + "attn_output"].T
        h = rmsnorm(x, W[p + "ffn_norm"], eps)
        g = h @ W[p + "ffn_gate"].T
        x = x + (torch.nn.functional.silu(g) * (h @ W[p + "ffn_up"].T)) @ W[p + "ffn_down"].T
    x = rmsnorm(x, W["output_norm"], eps)
    out = W["output"] if "output" in W else W["token_embd"]
    logits = x @ out.T
    if shift:
        logits = torch.cat([logits[:1], logits[:-1]], 0)
    return logits.numpy().astype(np.float32)


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / 2 ** 0.5))


def forward_bert(w, ids, roberta, pad_id, eps):
    W = {k: t(v) for k, v in w.items()}
    L = len(ids)
    if roberta:
        mask = torch.tensor([i != pad_id for i in ids], dtype=torch.int64)
        pos = torch.cumsum(mask, 0) * mask + pad_id
    else:
        pos = torch.arange(L)
    x = W["token_embd"][ids] + W["position_embd"][pos] + W["token_types"][0]
    x = layernorm(x, W["token_embd_norm"], W["token_embd_norm.bias"], eps)
    for l in range(LAYERS):
        p = "blk.%d." % l
        q = (x @ W[p + "attn_q"].T + W[p + "attn_q.bias"]).reshape(L, HEADS, HD)
        k = (x @ W[p + "attn_k"].T + W[p + "attn_k.bias"]).reshape(L, HEADS, HD)
        v = (x @ W[p + "attn_v"].T + W[p + "attn_v.bias"]).reshape(L, HEADS, HD)
        a = attention(q, k, v, False) @ W[p + "attn_output"].T + W[p + "attn_output.bias"]
        x = layernorm(x + a, W[p + "attn_output_norm"], W[p + "attn_output_norm.bias"], eps)
        h = gelu(x @ W[p + "ffn_up"].T + W[p + "ffn_up.bias"])
        x = layernorm(x + h @ W[p + "ffn_down"].T + W[p + "ffn_down.bias"], W[p + "layer_output_norm"],
                      W[p + "layer_output_norm.bias"], eps)
    h = gelu(x @ W["mlm.dense"].T + W["mlm.dense.bias"])
    h = layernorm(h, W["mlm.norm"], W["mlm.norm.bias"], eps)
    return (h @ W["token_embd"].T + W["output.bias"]).numpy().astype(np.float32)


# ------------------------------------------------------------------ writers


def permute_qk(w, n_head):
    rows, cols = w.shape
    return w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def gguf_name(name):
    return name if name.endswith(".bias") else name + ".weight"


GGML = {"f32": GGMLType.F32, "f16": GGMLType.F16, "bf16": GGMLType.BF16, "q8_0": GGMLType.Q8_0}


def write_gguf(path, arch, w, kv, kind, theta, eps, mask_id, tokens):
    g = GGUFWriter(path)
    bert = arch == "bert"
    g.add_string("general.architecture", arch)
    g.add_string("general.name", "tiny-" + arch)
    g.add_uint32(arch + ".block_count", LAYERS)
    g.add_uint32(arch + ".embedding_length", D)
    g.add_uint32(arch + ".feed_forward_length", FF)
    g.add_uint32(arch + ".attention.head_count", HEADS)
    g.add_uint32(arch + ".attention.head_count_kv", kv)
    g.add_uint32(arch + ".context_length", 64 if not bert else 40)
    if bert:
        g.add_float32(arch + ".attention.layer_norm_epsilon", eps)
    else:
        g.add_float32(arch + ".attention.layer_norm_rms_epsilon", eps)
        g.add_float32(arch + ".rope.freq_base", theta)
    g.add_bool(arch + ".attention.causal", arch == "llama")
    if arch == "dream":
        g.add_bool("diffusion.shift_logits", True)
    g.add_string("tokenizer.ggml.model", "bert" if bert else "gpt2")
    g.add_array("tokenizer.ggml.tokens", tokens)
    if not bert:
        g.add_array("tokenizer.ggml.merges", ["t o"], GGUFValueType.STRING)
    if mask_id is not None:
        g.add_uint32("tokenizer.ggml.mask_token_id", mask_id)
    g.add_uint32("tokenizer.ggml.bos_token_id", 1)
    g.add_uint32("tokenizer.ggml.eos_token_id", 2)
    for name, arr in w.items():
        if arch in ("llada", "llama") and name.endswith("attn_q"):
            arr = permute_qk(arr, HEADS)
        if arch in ("llada", "llama") and name.endswith("attn_k"):
            arr = permute_qk(arr, kv)
        g.add_tensor(gguf_name(name), arr, GGML[kind] if arr.ndim == 2 else GGMLType.F32)
    g.write()


HF_LLADA = {"attn_norm": "attn_norm", "attn_q": "q_proj", "attn_k": "k_proj", "attn_v": "v_proj",
            "attn_output": "attn_out", "ffn_norm": "ff_norm", "ffn_gate": "ff_proj", "ffn_up": "up_proj",
            "ffn_down": "ff_out"}
HF_QWEN = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
           "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
           "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
HF_BERT = {"attn_q": "attention.self.query", "attn_k": "attention.self.key", "attn_v": "attention.self.value",
           "attn_output": "attention.output.dense", "attn_output_norm": "attention.output.LayerNorm",
           "ffn_up": "intermediate.dense", "ffn_down": "output.dense", "layer_output_norm": "output.LayerNorm"}


def hf_name(arch, name):
    base, suffix = (name[:-5], "bias") if name.endswith(".bias") else (name, "weight")
    if base.startswith("blk."):
        _, l, part = base.split(".", 2)
        if arch == "llada":
            return "model.transformer.blocks.%s.%s.%s" % (l, HF_LLADA[part], suffix)
        if arch in ("dream", "llama"):
            return "model.layers.%s.%s.%s" % (l, HF_QWEN[part], suffix)
        return "%s.encoder.layer.%s.%s.%s" % (arch, l, HF_BERT[part], suffix)
    if arch == "llada":
        return {"token_embd": "model.transformer.wte.weight", "output_norm": "model.transformer.ln_f.weight",
                "output": "model.transformer.ff_out.weight"}[base]
    if arch in ("dream", "llama"):
        return {"token_embd": "model.embed_tokens.weight", "output_norm": "model.norm.weight",
                "output": "lm_head.weight"}[base]
    e = arch + ".embeddings."
    if arch == "bert":
        head = {"mlm.dense": "cls.predictions.transform.dense", "mlm.norm": "cls.predictions.transform.LayerNorm",
                "output": "cls.predictions"}
    else:
        head = {"mlm.dense": "lm_head.dense", "mlm.norm": "lm_head.layer_norm", "output": "lm_head"}
    if base in head:
        return head[base] + "." + suffix
    return {"token_embd": e + "word_embeddings.weight", "position_embd": e + "position_embeddings.weight",
            "token_types": e + "token_type_embeddings.weight", "token_embd_norm": e + "LayerNorm." + suffix}[base]


def write_safetensors(path, tensors, kind):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        if kind == "bf16" and arr.ndim == 2:
            raw, dt = f32_to_bf16_bits(arr).astype("<u2").tobytes(), "BF16"
        elif kind == "f16" and arr.ndim == 2:
            raw, dt = arr.astype("<f2").tobytes(), "F16"
        else:
            raw, dt = np.ascontiguousarray(arr, "<f4").tobytes(), "F32"
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_hf(path, arch, w, kv, kind, theta, eps, mask_id, tokens):
    os.makedirs(path, exist_ok=True)
    tensors = {hf_name(arch, n): a for n, a in w.items()}
    write_safetensors(os.path.join(path, "model.safetensors"), tensors, kind)
    if arch == "llada":
        cfg = {"model_type": "llada", "architectures": ["LLaDAModelLM"], "d_model": D, "n_heads": HEADS,
               "n_kv_heads": kv, "n_layers": LAYERS, "mlp_hidden_size": FF, "vocab_size": VOCAB,
               "embedding_size": VOCAB, "rope_theta": theta, "rms_norm_eps": eps, "max_sequence_length": 64,
               "mask_token_id": mask_id, "weight_tying": False, "include_bias": False}
    elif arch in ("dream", "llama"):
        cfg = {"model_type": "Dream" if arch == "dream" else "llama", "hidden_size": D,
               "num_attention_heads": HEADS, "num_key_value_heads": kv, "num_hidden_layers": LAYERS,
               "intermediate_size": FF, "vocab_size": VOCAB, "rope_theta": theta, "rms_norm_eps": eps,
               "max_position_embeddings": 64, "tie_word_embeddings": arch == "llama", "bos_token_id": 1,
               "eos_token_id": 2}
        if mask_id is not None:
            cfg["mask_token_id"] = mask_id
    else:
        cfg = {"model_type": arch, "hidden_size": D, "num_attention_heads": HEADS, "num_hidden_layers": LAYERS,
               "intermediate_size": FF, "vocab_size": VOCAB, "max_position_embeddings": 40,
               "layer_norm_eps": eps, "type_vocab_size": 2, "pad_token_id": 1 if arch == "roberta" else 0,
               "hidden_act": "gelu"}
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    vocab = {tok: i for i, tok in enumerate(tokens)}
    tj = {"version": "1.0", "added_tokens": [], "model": {"type": "WordPiece" if arch in ("bert",) else "BPE",
                                                           "vocab": vocab}}
    if arch == "bert":
        tj["model"]["unk_token"] = "[UNK]"
    else:
        tj["model"]["merges"] = []
    with open(os.path.join(path, "tokenizer.json"), "w") as f:
        json.dump(tj, f)


# -------------------------------------------------------------------- cases


def tokens_for(arch):
    toks = ["tok%d" % i for i in range(VOCAB)]
    if arch == "bert":
        toks[0], toks[1], toks[2], toks[3], toks[94] = "[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"
    elif arch == "roberta":
        toks[0], toks[1], toks[2], toks[3], toks[94] = "<s>", "<pad>", "</s>", "<unk>", "<mask>"
    else:
        toks[1], toks[2], toks[94] = "<s>", "</s>", "<|mask|>"
        toks[3], toks[4], toks[5] = "t", "o", "to"
    return toks


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    manifest = []
    specs = {"llada": (1, 500000.0, 1e-5), "dream": (2, 1000000.0, 1e-6), "llama": (3, 10000.0, 1e-5),
             "bert": (4, 0.0, 1e-12), "roberta": (5, 0.0, 1e-5)}
    loose = {"f16": 5e-3, "bf16": 3e-2, "q8_0": 3e-2}
    for arch, (seed, theta, eps) in specs.items():
        w, kv = rand_weights(arch, seed)
        toks = tokens_for(arch)
        mask_id = 94

        ids = IDS_ROBERTA if arch == "roberta" else IDS

        def ref(weights):
            if arch in ("bert", "roberta"):
                return forward_bert(weights, ids, arch == "roberta", 1, eps)
            return forward_llama_family(weights, kv, ids, arch == "llama", arch == "dream", theta, eps)

        f32_ref = os.path.join(out, arch + "_f32.npy")
        np.save(f32_ref, ref(w))
        kinds = {"llada": ["f32", "f16", "q8_0", "bf16"], "dream": ["f32", "bf16"], "llama": ["f32", "q8_0"],
                 "bert": ["f32", "f16"], "roberta": []}[arch]
        for kind in kinds:
            name = "%s_%s.gguf" % (arch, kind)
            path = os.path.join(out, name)
            write_gguf(path, arch, w, kv, kind, theta, eps, mask_id, toks)
            exp = f32_ref
            if kind != "f32":
                exp = os.path.join(out, "%s_%s.npy" % (arch, kind))
                np.save(exp, ref({n: stored(a, kind) for n, a in w.items()}))
            manifest.append([name, path, ids, exp, kind, f32_ref, loose.get(kind, 0)])
        for kind in {"llada": ["f32", "bf16"], "dream": ["f32"], "llama": ["f32"], "bert": ["f32"],
                     "roberta": ["f32", "f16"]}[arch]:
            name = "%s_hf_%s" % (arch, kind)
            path = os.path.join(out, name)
            write_hf(path, arch, w, kv, kind, theta, eps, mask_id, toks)
            exp = f32_ref
            if kind != "f32":
                exp = os.path.join(out, "%s_hf_%s.npy" % (arch, kind))
                np.save(exp, ref({n: stored(a, kind) for n, a in w.items()}))
            manifest.append([name, path, ids, exp, kind, f32_ref, loose.get(kind, 0)])
    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        for name, path, ids, exp, kind, f32_ref, lt in manifest:
            f.write("\t".join([name, path, " ".join(map(str, ids)), exp, kind, f32_ref, str(lt)]) + "\n")


if __name__ == "__main__":
    main()
