#!/usr/bin/python3
"""Tiny random MDLM- and SEDD-shaped models in the official Hugging Face
layouts, dllm's GGUF "mdlm"/"sedd" files of the same weights, and the logits
of an independent float64 torch implementation of their forward, written
from the papers and the official code's definitions (not from dllm's C):

  DiT (kuleshov-group/mdlm models/dit.py, louaaron/Score-Entropy-Discrete-
  Diffusion model/transformer.py):
    f = [cos(sigma w_k), sin(sigma w_k)], w_k = exp(-ln(1e4) k / 128), k < 128
    c = SiLU(fc2 SiLU(fc1 f + b1) + b2)
    x = E[ids]; per block, (shift1, scale1, gate1, shift2, scale2, gate2) =
    ada c + ada_b; a = LN(x) w1 (1 + scale1) + shift1 (LayerNorm eps 1e-5
    without bias); qkv = a Wqkv split (3, heads, head_dim); rotate-half RoPE
    base 1e4 on q and k; full softmax attention; x += gate1 (att Wo);
    x += gate2 (GELU_tanh(m Wup + bup) Wdown + bdown), m = LN(x) w2 (1 +
    scale2) + shift2; final: (shift, scale) = fada c + fada_b,
    logits = (LN(x) wf (1 + scale) + shift) Wout + bout.
  MDLM: sigma is zeroed when time_conditioning is false (the HF backbone
    does this); the output is the raw logits (SUBS is the sampler's).
  SEDD: out = logits - ln(e^sigma - 1) - ln(V - 1) when scale_by_sigma,
    then out[i, ids[i]] = 0. sigma = 0 gives +inf (ln 0).

Layouts written:
  MDLM (kuleshov-group/mdlm-owt): config.json {model_type "mdlm", hidden_dim,
    n_blocks, n_heads, cond_dim, vocab_size, model_length, time_conditioning},
    model.safetensors with "backbone."-prefixed names (backbone.vocab_embed.
    embedding, backbone.sigma_map.mlp.0.weight, backbone.blocks.N.attn_qkv.
    weight, ..., backbone.output_layer.linear.bias, backbone.rotary_emb.inv_freq).
  SEDD (louaaron/sedd-small, PyTorchModelHubMixin): config.json is the
    training config dict (tokens, graph {type}, noise {type, sigma_min,
    sigma_max}, model {hidden_size, cond_dim, length, n_blocks, n_heads,
    scale_by_sigma, ...}), model.safetensors with the module names unprefixed.
  Both: tokenizer.json, a small GPT-2-style byte-level BPE (256 byte tokens,
    a few merges, <|endoftext|>); V = its size + 1 (MASK = V - 1, no text)
    for the absorbing graph, its size for the uniform one.

Usage (what tests/suite_dit.sh runs; other tests may use the models too):

    /usr/bin/python3 tests/ref/make_dit_models.py OUTDIR

writes, under OUTDIR:
    mdlm_hf/      MDLM, time_conditioning false (as mdlm-owt)
    mdlm_tc_hf/   MDLM, time_conditioning true
    sedd_hf/      SEDD, absorbing graph, log-linear noise, scale_by_sigma
    sedd_geo_hf/  SEDD, absorbing graph, geometric noise (1e-4 .. 20)
    sedd_uni_hf/  SEDD, uniform graph, scale_by_sigma false
    mdlm.gguf, mdlm_tc.gguf, sedd.gguf, sedd_geo.gguf: the same weights as GGUF
    sedd_f16.gguf, mdlm_tc_q8_0.gguf: F16 / Q8_0 matrices (reference on the
                  weights as stored)
    no_tok_hf/    an MDLM directory without tokenizer.json (must fail clearly)
    bad_*.gguf    broken metadata or tensors; broken.tsv: path, words of the error
    *.npy         expected logits, float64 reference cast to float32
    manifest.tsv  name  model_path  ids  sigma  expected.npy
`make_dit_models.py --fuzz-seed FILE` writes the small mdlm GGUF kept as
tests/data/fuzz/gguf_model/seed-tiny-mdlm.gguf.
Each model: 2 blocks, width 64, 4 heads, cond 32, vocab 268 (267 for the
uniform graph), model_length 256; random weights (fixed seeds).
"""
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
from gguf_write import GGUFWriter, GGMLType, GGUFValueType  # noqa: E402
from make_models import stored, write_safetensors  # noqa: E402

torch.set_default_dtype(torch.float64)

D, HEADS, COND, LAYERS, NFREQ, LENGTH = 64, 4, 32, 2, 256, 256
HD = D // HEADS

# ---------------------------------------------------------------- tokenizer


def byte_to_unicode():
    """GPT-2's reversible byte -> printable character table."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("r", "e"), ("o", "n"), ("Ġ", "s"),
          ("e", "r"), ("a", "t")]


def tokenizer():
    """Token texts in id order (byte-level spelling), merges, end-of-text id."""
    b2u = byte_to_unicode()
    # GPT-2 orders the printable ASCII bytes first, then the rest, as bytes_to_unicode lists them
    order = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    order += [b for b in range(256) if b not in order]
    toks = [b2u[b] for b in order]
    for a, b in MERGES:
        toks.append(a + b)
    toks.append("<|endoftext|>")
    return toks, ["%s %s" % m for m in MERGES], len(toks) - 1


def write_tokenizer_json(path, toks, merges, eot):
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": eot, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": {t: i for i, t in enumerate(toks)}, "merges": merges},
    }
    with open(path, "w") as f:
        json.dump(tj, f, ensure_ascii=False)


# ------------------------------------------------------------------ weights


def rand_weights(V, seed):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0, offset=0.0):
        return (torch.randn(*shape, generator=g) * scale + offset).float().numpy()

    # adaLN and the sigma MLP are not zero as at initialisation: the test
    # must see the modulation and the noise level act
    w = {"token_embd": r(V, D),
         "t_embd.fc1": r(COND, NFREQ, scale=NFREQ ** -0.5 * 2), "t_embd.fc1.bias": r(COND, scale=0.1),
         "t_embd.fc2": r(COND, COND, scale=COND ** -0.5 * 2), "t_embd.fc2.bias": r(COND, scale=0.1),
         "output_norm": r(D, scale=0.1, offset=1.0),
         "output_adaln": r(2 * D, COND, scale=COND ** -0.5 * 0.5), "output_adaln.bias": r(2 * D, scale=0.1),
         "output": r(V, D, scale=D ** -0.5 * 3), "output.bias": r(V, scale=0.3)}
    for l in range(LAYERS):
        p = "blk.%d." % l
        w[p + "attn_norm"] = r(D, scale=0.1, offset=1.0)
        w[p + "attn_qkv"] = r(3 * D, D, scale=D ** -0.5)
        w[p + "attn_output"] = r(D, D, scale=D ** -0.5)
        w[p + "ffn_norm"] = r(D, scale=0.1, offset=1.0)
        w[p + "ffn_up"] = r(4 * D, D, scale=D ** -0.5)
        w[p + "ffn_up.bias"] = r(4 * D, scale=0.1)
        w[p + "ffn_down"] = r(D, 4 * D, scale=(4 * D) ** -0.5)
        w[p + "ffn_down.bias"] = r(D, scale=0.1)
        w[p + "adaln"] = r(6 * D, COND, scale=COND ** -0.5 * 0.5)
        w[p + "adaln.bias"] = r(6 * D, scale=0.1)
    return w


# -------------------------------------------------------- reference forward


def t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def silu(x):
    return x / (1.0 + torch.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def layernorm(x, w, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w


def sigma_features(sigma, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    a = sigma * freqs
    return torch.cat([torch.cos(a), torch.sin(a)])


def rope(x):
    """x [L, H, hd], rotate-half pairs (i, i + hd/2), base 1e4."""
    L = x.shape[0]
    inv = 1.0 / (10000.0 ** (torch.arange(0, HD, 2, dtype=torch.float64) / HD))
    ang = torch.arange(L, dtype=torch.float64)[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None, :]
    x1, x2 = x[..., : HD // 2], x[..., HD // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def dit_forward(w, ids, sigma, arch, time_cond, scale_by_sigma):
    W = {k: t(v) for k, v in w.items()}
    if not time_cond:
        sigma = 0.0
    L = len(ids)
    f = sigma_features(float(sigma), NFREQ)
    c = silu(silu(f @ W["t_embd.fc1"].T + W["t_embd.fc1.bias"]) @ W["t_embd.fc2"].T + W["t_embd.fc2.bias"])
    x = W["token_embd"][ids]
    for l in range(LAYERS):
        p = "blk.%d." % l
        sh1, sc1, g1, sh2, sc2, g2 = (c @ W[p + "adaln"].T + W[p + "adaln.bias"]).chunk(6)
        a = layernorm(x, W[p + "attn_norm"]) * (1 + sc1) + sh1
        qkv = (a @ W[p + "attn_qkv"].T).reshape(L, 3, HEADS, HD)
        q, k, v = rope(qkv[:, 0]), rope(qkv[:, 1]), qkv[:, 2]
        s = torch.einsum("ihd,jhd->hij", q, k) / math.sqrt(HD)
        att = torch.einsum("hij,jhd->ihd", torch.softmax(s, -1), v).reshape(L, D)
        x = x + g1 * (att @ W[p + "attn_output"].T)
        m = layernorm(x, W[p + "ffn_norm"]) * (1 + sc2) + sh2
        h = gelu_tanh(m @ W[p + "ffn_up"].T + W[p + "ffn_up.bias"])
        x = x + g2 * (h @ W[p + "ffn_down"].T + W[p + "ffn_down.bias"])
    sh, sc = (c @ W["output_adaln"].T + W["output_adaln.bias"]).chunk(2)
    out = (layernorm(x, W["output_norm"]) * (1 + sc) + sh) @ W["output"].T + W["output.bias"]
    if arch == "sedd":
        V = out.shape[-1]
        if scale_by_sigma:
            out = out - torch.log(torch.expm1(torch.tensor(float(sigma)))) - math.log(V - 1)
        out[torch.arange(L), torch.tensor(ids)] = 0.0
    return out.numpy().astype(np.float32)


# ------------------------------------------------------------------ writers

HF_TOP = {"token_embd": "vocab_embed.embedding", "t_embd.fc1": "sigma_map.mlp.0.weight",
          "t_embd.fc1.bias": "sigma_map.mlp.0.bias", "t_embd.fc2": "sigma_map.mlp.2.weight",
          "t_embd.fc2.bias": "sigma_map.mlp.2.bias", "output_norm": "output_layer.norm_final.weight",
          "output_adaln": "output_layer.adaLN_modulation.weight",
          "output_adaln.bias": "output_layer.adaLN_modulation.bias", "output": "output_layer.linear.weight",
          "output.bias": "output_layer.linear.bias"}
HF_BLK = {"attn_norm": "norm1.weight", "attn_qkv": "attn_qkv.weight", "attn_output": "attn_out.weight",
          "ffn_norm": "norm2.weight", "ffn_up": "mlp.0.weight", "ffn_up.bias": "mlp.0.bias",
          "ffn_down": "mlp.2.weight", "ffn_down.bias": "mlp.2.bias", "adaln": "adaLN_modulation.weight",
          "adaln.bias": "adaLN_modulation.bias"}


def hf_tensors(w, prefix):
    out = {}
    for name, arr in w.items():
        if name.startswith("blk."):
            _, l, part = name.split(".", 2)
            out["%sblocks.%s.%s" % (prefix, l, HF_BLK[part])] = arr
        else:
            out[prefix + HF_TOP[name]] = arr
    # the rotary buffer is part of both checkpoints' state dicts
    out[prefix + "rotary_emb.inv_freq"] = (1.0 / (10000 ** (np.arange(0, HD, 2) / HD))).astype(np.float32)
    return out


def write_hf(path, arch, w, V, spec, toks, merges, eot, with_tokenizer=True):
    os.makedirs(path, exist_ok=True)
    if arch == "mdlm":
        cfg = {"architectures": ["MDLM"], "model_type": "mdlm",
               "auto_map": {"AutoConfig": "configuration_mdlm.MDLMConfig",
                            "AutoModelForMaskedLM": "modeling_mdlm.MDLM"},
               "vocab_size": V, "model_length": LENGTH, "hidden_dim": D, "cond_dim": COND, "n_blocks": LAYERS,
               "n_heads": HEADS, "dropout": 0.1, "time_conditioning": spec["time_cond"], "torch_dtype": "float32"}
        tensors = hf_tensors(w, "backbone.")
    else:
        cfg = {"ngpus": 1, "tokens": len(toks),
               "training": {"batch_size": 8, "accum": 1, "n_iters": 10, "ema": 0.9999, "weight": "standard"},
               "data": {"train": "openwebtext", "valid": "wikitext103", "cache_dir": "data"},
               "graph": {"type": spec["graph"], "file": "data", "report_all": False},
               "noise": {"type": spec["noise"], "sigma_min": 1e-4, "sigma_max": 20},
               "sampling": {"predictor": "euler", "steps": 128, "noise_removal": True},
               "model": {"name": "tiny", "type": "ddit", "hidden_size": D, "cond_dim": COND, "length": LENGTH,
                         "n_blocks": LAYERS, "n_heads": HEADS, "scale_by_sigma": spec["scale_by_sigma"],
                         "dropout": 0.1}}
        tensors = hf_tensors(w, "")
    write_safetensors(os.path.join(path, "model.safetensors"), tensors, "f32")
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    if with_tokenizer:
        write_tokenizer_json(os.path.join(path, "tokenizer.json"), toks, merges, eot)


def gguf_name(name):
    return name if name.endswith(".bias") else name + ".weight"


GGML = {"f32": GGMLType.F32, "f16": GGMLType.F16, "q8_0": GGMLType.Q8_0}


def write_gguf(path, arch, w, V, spec, toks, merges, eot, kind="f32", bad=None, drop=()):
    """bad: {key: None (left out) or fn(writer, key) (another value)}; drop: tensors left out."""
    g = GGUFWriter(path)
    g.add_string("general.architecture", arch)
    g.add_string("general.name", "tiny-" + arch)
    g.add_uint32(arch + ".block_count", LAYERS)
    g.add_uint32(arch + ".embedding_length", D)
    g.add_uint32(arch + ".feed_forward_length", 4 * D)
    g.add_uint32(arch + ".attention.head_count", HEADS)
    g.add_uint32(arch + ".context_length", LENGTH)
    g.add_uint32(arch + ".vocab_size", V)
    g.add_float32(arch + ".attention.layer_norm_epsilon", 1e-5)
    g.add_float32(arch + ".rope.freq_base", 10000.0)
    g.add_uint32(arch + ".conditioning_length", COND)
    g.add_bool(arch + ".time_conditioning", spec["time_cond"])
    g.add_string(arch + ".noise.schedule", spec["noise"])
    g.add_float32(arch + ".noise.eps", 1e-3)
    g.add_float32(arch + ".noise.sigma_min", 1e-4)
    g.add_float32(arch + ".noise.sigma_max", 20.0)
    if arch == "sedd":
        g.add_string("sedd.graph", spec["graph"])
        g.add_bool("sedd.scale_by_sigma", spec["scale_by_sigma"])
    g.add_string("tokenizer.ggml.model", "gpt2")
    g.add_string("tokenizer.ggml.pre", "gpt-2")
    g.add_array("tokenizer.ggml.tokens", toks)
    g.add_array("tokenizer.ggml.token_type", [3 if i == eot else 1 for i in range(len(toks))], GGUFValueType.INT32)
    g.add_array("tokenizer.ggml.merges", merges, GGUFValueType.STRING)
    g.add_uint32("tokenizer.ggml.bos_token_id", eot)
    g.add_uint32("tokenizer.ggml.eos_token_id", eot)
    for name, arr in w.items():
        if gguf_name(name) not in drop:
            g.add_tensor(gguf_name(name), arr, GGML[kind] if arr.ndim == 2 else GGMLType.F32)
    for key, fn in (bad or {}).items():
        g.kv = [kv for kv in g.kv if kv[0] != key]
        g.keys.discard(key)
        if fn is not None:
            fn(g, key)
    g.write()


# Broken GGUF files and a word or two of the error each must give.
BROKEN = [
    ("bad_nocond.gguf", "mdlm", {"mdlm.conditioning_length": None}, (), "mdlm.conditioning_length"),
    ("bad_noise.gguf", "mdlm", {"mdlm.noise.schedule": lambda g, k: g.add_string(k, "cosine")}, (),
     "mdlm.noise.schedule"),
    ("bad_geo.gguf", "sedd", {"sedd.noise.schedule": lambda g, k: g.add_string(k, "geometric"),
                              "sedd.noise.sigma_min": lambda g, k: g.add_float32(k, 0.0)}, (), "geometric noise"),
    ("bad_sedd_tc.gguf", "sedd", {"sedd.time_conditioning": lambda g, k: g.add_bool(k, False)}, (),
     "sedd.time_conditioning"),
    ("bad_graph.gguf", "sedd", {"sedd.graph": lambda g, k: g.add_string(k, "absorbing")}, (), "sedd.graph"),
    ("bad_flag.gguf", "sedd", {"sedd.scale_by_sigma": lambda g, k: g.add_string(k, "yes")}, (),
     "sedd.scale_by_sigma"),
    ("bad_mask.gguf", "mdlm", {"tokenizer.ggml.mask_token_id": lambda g, k: g.add_uint32(k, 267)}, (),
     "outside the tokenizer"),
    ("bad_tensor.gguf", "mdlm", {}, ("blk.1.adaln.bias",), "'blk.1.adaln.bias' is missing"),
    ("bad_ff.gguf", "mdlm", {"mdlm.feed_forward_length": lambda g, k: g.add_uint32(k, D)}, (), "MLP width 64"),
    ("bad_shape.gguf", "sedd", {"sedd.conditioning_length": lambda g, k: g.add_uint32(k, COND + 1)}, (),
     "t_embd.fc1.weight"),
]


# -------------------------------------------------------------------- cases

SPECS = {
    # name: arch, seed, time_cond, graph, noise, scale_by_sigma, gguf
    "mdlm": dict(arch="mdlm", seed=11, time_cond=False, graph="absorb", noise="loglinear", scale_by_sigma=False,
                 gguf=True),
    "mdlm_tc": dict(arch="mdlm", seed=12, time_cond=True, graph="absorb", noise="loglinear", scale_by_sigma=False,
                    gguf=True),
    "sedd": dict(arch="sedd", seed=13, time_cond=True, graph="absorb", noise="loglinear", scale_by_sigma=True,
                 gguf=True),
    "sedd_geo": dict(arch="sedd", seed=14, time_cond=True, graph="absorb", noise="geometric", scale_by_sigma=True,
                     gguf=True),
    "sedd_uni": dict(arch="sedd", seed=15, time_cond=True, graph="uniform", noise="geometric",
                     scale_by_sigma=False, gguf=False),
}
SIGMAS = {"mdlm": [0.0, 0.01, 1.0, 5.0], "sedd": [0.0, 1e-4, 0.01, 0.3, 0.7, 1.0, 5.0, 20.0]}


def fuzz_seed(path):
    """A minimal mdlm GGUF (width 8, one block) for the GGUF model fuzzer's seeds."""
    global D, HEADS, COND, LAYERS, NFREQ, HD
    D, HEADS, COND, LAYERS, NFREQ = 8, 2, 4, 1, 16
    HD = D // HEADS
    toks, merges, eot = tokenizer()
    write_gguf(path, "mdlm", rand_weights(len(toks) + 1, 1), len(toks) + 1, SPECS["mdlm_tc"], toks, merges, eot)


def main():
    if sys.argv[1] == "--fuzz-seed":
        fuzz_seed(sys.argv[2])
        return
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    toks, merges, eot = tokenizer()
    manifest = []
    for name, spec in SPECS.items():
        arch = spec["arch"]
        V = len(toks) + (1 if spec["graph"] == "absorb" else 0)
        w = rand_weights(V, spec["seed"])
        # text tokens, end-of-text, and (absorbing graph) the mask id V - 1
        ids = [eot, 40, 72, 264, 101, 257, 5, 200, 33, 260, 7, 90, 265, eot]
        if spec["graph"] == "absorb":
            ids[3] = ids[8] = ids[11] = V - 1
        paths = [os.path.join(out, name + "_hf")]
        write_hf(paths[0], arch, w, V, spec, toks, merges, eot)
        if spec["gguf"]:
            paths.append(os.path.join(out, name + ".gguf"))
            write_gguf(paths[1], arch, w, V, spec, toks, merges, eot)
        for sigma in SIGMAS[arch]:
            exp = os.path.join(out, "%s_s%g.npy" % (name, sigma))
            np.save(exp, dit_forward(w, ids, sigma, arch, spec["time_cond"], spec["scale_by_sigma"]))
            for p in paths:
                manifest.append([os.path.basename(p), p, " ".join(map(str, ids)), repr(sigma), exp])
    # quantized and half-precision GGUF files: the reference runs on the
    # weights as stored, so the same tolerance holds
    for name, kind in (("sedd", "f16"), ("mdlm_tc", "q8_0")):
        spec = SPECS[name]
        V = len(toks) + 1
        w = rand_weights(V, spec["seed"])
        path = os.path.join(out, "%s_%s.gguf" % (name, kind))
        write_gguf(path, spec["arch"], w, V, spec, toks, merges, eot, kind)
        ws = {n: stored(a, kind) for n, a in w.items()}
        ids = [eot, 40, 72, V - 1, 101, 257, 5, 200, V - 1, 260, 7, V - 1, 265, eot]
        for sigma in (0.01, 1.0):
            exp = os.path.join(out, "%s_%s_s%g.npy" % (name, kind, sigma))
            np.save(exp, dit_forward(ws, ids, sigma, spec["arch"], spec["time_cond"], spec["scale_by_sigma"]))
            manifest.append([os.path.basename(path), path, " ".join(map(str, ids)), repr(sigma), exp])
    with open(os.path.join(out, "broken.tsv"), "w") as f:
        for fname, arch, bad, drop, words in BROKEN:
            spec = SPECS[arch]
            V = len(toks) + 1
            path = os.path.join(out, fname)
            write_gguf(path, arch, rand_weights(V, spec["seed"]), V, spec, toks, merges, eot, bad=bad, drop=drop)
            f.write("%s\t%s\n" % (path, words))
    write_hf(os.path.join(out, "no_tok_hf"), "mdlm", rand_weights(len(toks) + 1, 11), len(toks) + 1,
             SPECS["mdlm"], toks, merges, eot, with_tokenizer=False)
    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        for row in manifest:
            f.write("\t".join(row) + "\n")


if __name__ == "__main__":
    main()
