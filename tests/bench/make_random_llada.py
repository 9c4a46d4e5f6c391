"""Writes a random-weight LLaDA-shaped GGUF that shares the default model's
tokenizer (copied from models/dllm-kjv.gguf), for the block-cache benchmark:
bigger than the default model so the projections dominate as in LLaDA-8B,
random so agreement with the uncached run is measured on a model that never
learnt to be sure of anything.
usage: /usr/bin/python3 tests/bench/make_random_llada.py OUT.gguf [d_model layers ffn heads]"""
import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
from gguf_write import GGUFWriter, GGMLType, GGUFValueType, read_gguf  # noqa: E402

out = sys.argv[1]
d, layers, ff, heads = (int(x) for x in (sys.argv[2:6] if len(sys.argv) >= 6 else (1024, 4, 2816, 16)))
kv, _ = read_gguf(os.path.join(ROOT, "models", "dllm-kjv.gguf"))
vocab = len(kv["tokenizer.ggml.tokens"])
rng = np.random.default_rng(1234)
w = GGUFWriter(out)
w.add_string("general.architecture", "llada")
w.add_string("general.name", "random-llada-d%d-l%d" % (d, layers))
for k, v in [("context_length", 4096), ("embedding_length", d), ("block_count", layers),
             ("feed_forward_length", ff), ("attention.head_count", heads), ("attention.head_count_kv", heads),
             ("rope.dimension_count", d // heads), ("vocab_size", vocab)]:
    w.add_uint32("llada." + k, v)
w.add_float32("llada.rope.freq_base", 10000.0)
w.add_float32("llada.attention.layer_norm_rms_epsilon", 1e-5)
w.add_bool("llada.attention.causal", False)
for k in ("tokenizer.ggml.model", "tokenizer.ggml.pre"):
    w.add_string(k, kv[k])
w.add_array("tokenizer.ggml.tokens", kv["tokenizer.ggml.tokens"], GGUFValueType.STRING)
w.add_array("tokenizer.ggml.token_type", kv["tokenizer.ggml.token_type"], GGUFValueType.INT32)
w.add_array("tokenizer.ggml.merges", kv["tokenizer.ggml.merges"], GGUFValueType.STRING)
for k in ("bos", "eos", "padding", "mask", "eot"):
    w.add_uint32("tokenizer.ggml.%s_token_id" % k, kv["tokenizer.ggml.%s_token_id" % k])
w.add_bool("tokenizer.ggml.add_bos_token", False)


def mat(rows, cols):
    # scaled so activations keep their size through the layers
    return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)


f16 = GGMLType.F16
w.add_tensor("token_embd.weight", rng.standard_normal((vocab, d)).astype(np.float32), f16)
for i in range(layers):
    p = "blk.%d." % i
    w.add_tensor(p + "attn_norm.weight", np.ones(d, np.float32), GGMLType.F32)
    w.add_tensor(p + "ffn_norm.weight", np.ones(d, np.float32), GGMLType.F32)
    for n in ("attn_q", "attn_k", "attn_v", "attn_output"):
        w.add_tensor(p + n + ".weight", mat(d, d), f16)
    w.add_tensor(p + "ffn_gate.weight", mat(ff, d), f16)
    w.add_tensor(p + "ffn_up.weight", mat(ff, d), f16)
    w.add_tensor(p + "ffn_down.weight", mat(d, ff), f16)
w.add_tensor("output_norm.weight", np.ones(d, np.float32), GGMLType.F32)
w.add_tensor("output.weight", mat(vocab, d) * 4, f16)
w.write()
