"""Writes an LLaDA-8B-shaped GGUF with 2 layers (d 4096, ffn 12288, vocab
126464, F16, about 3 GB) for the model-open benchmark. Weights are zeros: the
benchmark times opening the file, not the numbers in it.
usage: /usr/bin/python3 tests/bench/make_big_gguf.py OUT.gguf"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from gguf_write import GGUFWriter, GGMLType  # noqa: E402

d, ff, vocab, layers = 4096, 12288, 126464, 2
w = GGUFWriter(sys.argv[1])
w.add_string("general.architecture", "llada")
w.add_string("general.name", "llada-8b-shaped-2-layers")
for k, v in [("context_length", 4096), ("embedding_length", d), ("block_count", layers),
             ("feed_forward_length", ff), ("attention.head_count", 32), ("attention.head_count_kv", 32),
             ("rope.dimension_count", 128), ("vocab_size", vocab)]:
    w.add_uint32("llada." + k, v)
w.add_float32("llada.rope.freq_base", 500000.0)
w.add_float32("llada.attention.layer_norm_rms_epsilon", 1e-5)
w.add_bool("llada.attention.causal", False)
tokens = ["<0x%02X>" % i if i < 256 else "t%d" % i for i in range(vocab)]
tokens[126336] = "<|mdm_mask|>"
tokens[126080] = "<|startoftext|>"
tokens[126081] = "<|endoftext|>"
w.add_string("tokenizer.ggml.model", "gpt2")
w.add_string("tokenizer.ggml.pre", "gpt-2")
w.add_array("tokenizer.ggml.tokens", tokens)
w.add_array("tokenizer.ggml.merges", ["t t"])
w.add_uint32("tokenizer.ggml.bos_token_id", 126080)
w.add_uint32("tokenizer.ggml.eos_token_id", 126081)
w.add_uint32("tokenizer.ggml.mask_token_id", 126336)
f16 = GGMLType.F16
w.add_tensor("token_embd.weight", np.zeros((vocab, d), np.float16), f16)
for i in range(layers):
    for n in ("attn_norm", "ffn_norm"):
        w.add_tensor("blk.%d.%s.weight" % (i, n), np.ones(d, np.float32), GGMLType.F32)
    for n in ("attn_q", "attn_k", "attn_v", "attn_output"):
        w.add_tensor("blk.%d.%s.weight" % (i, n), np.zeros((d, d), np.float16), f16)
    w.add_tensor("blk.%d.ffn_gate.weight" % i, np.zeros((ff, d), np.float16), f16)
    w.add_tensor("blk.%d.ffn_up.weight" % i, np.zeros((ff, d), np.float16), f16)
    w.add_tensor("blk.%d.ffn_down.weight" % i, np.zeros((d, ff), np.float16), f16)
w.add_tensor("output_norm.weight", np.ones(d, np.float32), GGMLType.F32)
w.add_tensor("output.weight", np.zeros((vocab, d), np.float16), f16)
w.write()
