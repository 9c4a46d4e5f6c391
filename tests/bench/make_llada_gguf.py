"""Writes a small LLaDA-shaped GGUF with random weights for the side by side
with llama.cpp (tests/bench/llamacpp_bench.sh): 12 layers, d_model 768,
12 heads of 64, SwiGLU 2048, vocabulary 32000, bidirectional. The same seed
gives the same float32 weights for every --type, so the F16 and Q8_0 files
hold two roundings of one model.

The file is what llama.cpp's converter writes for LLaDA: architecture
"llada", attention.causal false, matrices in the chosen type (token_embd and
output included), norms in F32, a gpt2 byte-level BPE tokenizer (the 256
GPT-2 byte symbols, one merge, filler tokens, three control tokens). The
weights are random, so the Q/K row permutation llama.cpp's converter applies
needs no doing: both engines read the rows as interleaved RoPE pairs.

usage: /usr/bin/python3 tests/bench/make_llada_gguf.py OUT.gguf f16|q8_0"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from gguf_write import GGUFWriter, GGMLType, GGUFValueType  # noqa: E402

LAYERS, D, HEADS, FF, VOCAB = 12, 768, 12, 2048, 32000
BOS, EOS, MASK = VOCAB - 3, VOCAB - 2, VOCAB - 1


def gpt2_byte_symbols():
    """GPT-2's printable stand-in for each byte value 0..255."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("f16", "q8_0"):
        sys.exit(__doc__)
    path, kind = sys.argv[1], sys.argv[2]
    wtype = GGMLType.F16 if kind == "f16" else GGMLType.Q8_0
    rng = np.random.default_rng(20260425)

    def mat(rows, cols, scale):
        return (rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(scale)).astype(np.float32)

    def norm():
        return (1.0 + 0.1 * rng.standard_normal(D, dtype=np.float32)).astype(np.float32)

    w = GGUFWriter(path)
    w.add_string("general.architecture", "llada")
    w.add_string("general.name", "llada-shaped-random-12l-d768-" + kind)
    w.add_uint32("general.file_type", 1 if kind == "f16" else 7)
    for k, v in [("context_length", 4096), ("embedding_length", D), ("block_count", LAYERS),
                 ("feed_forward_length", FF), ("attention.head_count", HEADS),
                 ("attention.head_count_kv", HEADS), ("rope.dimension_count", D // HEADS),
                 ("vocab_size", VOCAB)]:
        w.add_uint32("llada." + k, v)
    w.add_float32("llada.rope.freq_base", 500000.0)
    w.add_float32("llada.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_bool("llada.attention.causal", False)

    tokens = gpt2_byte_symbols() + ["th"]
    tokens += ["t%d" % i for i in range(len(tokens), VOCAB - 3)]
    tokens += ["<|startoftext|>", "<|endoftext|>", "<|mdm_mask|>"]
    types = [1] * (VOCAB - 3) + [3, 3, 3]  # normal, then control
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "gpt-2")
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.token_type", types, GGUFValueType.INT32)
    w.add_array("tokenizer.ggml.merges", ["t h"])
    w.add_uint32("tokenizer.ggml.bos_token_id", BOS)
    w.add_uint32("tokenizer.ggml.eos_token_id", EOS)
    w.add_uint32("tokenizer.ggml.mask_token_id", MASK)
    w.add_bool("tokenizer.ggml.add_bos_token", False)

    # Scales keep activations near unit size through 12 residual layers and
    # logits of a few units, as in a trained model.
    w.add_tensor("token_embd.weight", mat(VOCAB, D, 1.0), wtype)
    for i in range(LAYERS):
        p = "blk.%d." % i
        w.add_tensor(p + "attn_norm.weight", norm(), GGMLType.F32)
        for n in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(p + n + ".weight", mat(D, D, D ** -0.5), wtype)
        w.add_tensor(p + "ffn_norm.weight", norm(), GGMLType.F32)
        w.add_tensor(p + "ffn_gate.weight", mat(FF, D, D ** -0.5), wtype)
        w.add_tensor(p + "ffn_up.weight", mat(FF, D, D ** -0.5), wtype)
        w.add_tensor(p + "ffn_down.weight", mat(D, FF, FF ** -0.5 / 2), wtype)
    w.add_tensor("output_norm.weight", norm(), GGMLType.F32)
    w.add_tensor("output.weight", mat(VOCAB, D, 2 * D ** -0.5), wtype)
    w.write()


if __name__ == "__main__":
    main()
