#!/usr/bin/env bash
# Model files through bin/dllm-cli, against a writer we did not write:
# tools/gguf_write.py builds a tiny LLaDA GGUF (Q8_0, F16, BF16, F32 tensors,
# alignment 64, no mask_token_id key) and numpy's dequantization of its
# tensors; `dllm-cli info --dump` must give the same float32 values exactly,
# and `info` the right config. Truncated copies must fail with the file's
# name (under the ASan build of the CLI when it is built). The default model
# models/dllm-kjv.gguf is opened when it exists.
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
OUT=tests/out/model
CLI=bin/dllm-cli
mkdir -p "$OUT"
if ! $PY -c 'import numpy' 2>/dev/null; then
    t_skip "gguf_write.py cross-check" "$PY has no numpy"
else
    if ! $PY - "$OUT" > "$OUT/py.log" 2>&1 <<'PYEOF'
"""Writes OUT/py-llada.gguf with tools/gguf_write.py (another writer than the
C fixtures) and, per tensor, OUT/NAME.want: numpy's float32 dequantization,
one row per line as dllm-cli info --dump prints it (%.9g round-trips float32).
OUT/tensors.txt lists the tensor names."""
import os
import sys

import numpy as np

sys.path.insert(0, "tools")
from gguf_write import GGUFWriter, GGMLType, dequantize_q8_0, f32_to_bf16_bits, tensor_bytes  # noqa: E402


def gpt2_bytes():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return [table[b] for b in range(256)]


def want_values(arr, gtype):
    if gtype == GGMLType.F32:
        return arr.astype(np.float32)
    if gtype == GGMLType.F16:
        return arr.astype(np.float16).astype(np.float32)
    if gtype == GGMLType.BF16:
        return (f32_to_bf16_bits(arr).astype(np.uint32) << 16).view(np.float32).reshape(arr.shape)
    return dequantize_q8_0(tensor_bytes(arr, gtype), arr.shape)


def main(out):
    rng = np.random.default_rng(3)
    d, heads, kv, ff, vocab = 32, 4, 2, 64, 288
    w = GGUFWriter(os.path.join(out, "py-llada.gguf"), alignment=64)
    w.add_string("general.architecture", "llada")
    w.add_uint32("llada.context_length", 128)
    w.add_uint32("llada.embedding_length", d)
    w.add_uint32("llada.block_count", 1)
    w.add_uint32("llada.feed_forward_length", ff)
    w.add_uint32("llada.attention.head_count", heads)
    w.add_uint32("llada.attention.head_count_kv", kv)
    w.add_float32("llada.rope.freq_base", 10000.0)
    w.add_float32("llada.attention.layer_norm_rms_epsilon", 1e-5)
    tokens = gpt2_bytes() + ["<|endoftext|>", "<|startoftext|>", "<|mdm_mask|>", "\u0120t", "he"]
    tokens += ["tok%d" % i for i in range(vocab - len(tokens))]
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.token_type", [1] * 256 + [3, 3, 3] + [1] * (vocab - 259))
    w.add_array("tokenizer.ggml.merges", ["\u0120 t", "h e"])
    w.add_uint32("tokenizer.ggml.bos_token_id", 257)
    w.add_uint32("tokenizer.ggml.eos_token_id", 256)
    specs = [
        ("token_embd.weight", (vocab, d), GGMLType.Q8_0),
        ("output_norm.weight", (d,), GGMLType.F32),
        ("blk.0.attn_norm.weight", (d,), GGMLType.F32),
        ("blk.0.attn_q.weight", (d, d), GGMLType.BF16),
        ("blk.0.attn_k.weight", (kv * 8, d), GGMLType.F16),
        ("blk.0.attn_v.weight", (kv * 8, d), GGMLType.Q8_0),
        ("blk.0.attn_output.weight", (d, d), GGMLType.F16),
        ("blk.0.ffn_norm.weight", (d,), GGMLType.F32),
        ("blk.0.ffn_gate.weight", (ff, d), GGMLType.Q8_0),
        ("blk.0.ffn_up.weight", (ff, d), GGMLType.BF16),
        ("blk.0.ffn_down.weight", (d, ff), GGMLType.Q8_0),
    ]
    names = []
    for name, shape, gtype in specs:
        arr = (rng.standard_normal(shape) * 0.7).astype(np.float32)
        w.add_tensor(name, arr, gtype)
        vals = want_values(arr, gtype).reshape(-1, shape[-1])
        with open(os.path.join(out, name + ".want"), "w") as f:
            for row in vals:
                f.write(" ".join("%.9g" % v for v in row.astype(np.float32).tolist()) + "\n")
        names.append(name)
    w.write()
    with open(os.path.join(out, "tensors.txt"), "w") as f:
        f.write("\n".join(names) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
PYEOF
    then
        t_fail "the gguf_write.py fixture" "$(tail -n 5 "$OUT/py.log")"
    else
        info=$($CLI info --model "$OUT/py-llada.gguf" 2>&1)
        t_check "info on a gguf_write.py file" test $? -eq 0
        for kv in "architecture: llada" "layers: 1" "d_model: 32" "heads: 4" "kv_heads: 2" "head_dim: 8" \
                  "d_ff: 64" "vocab_size: 288" "context_length: 128" "rope_interleaved: 1" "causal: 0" \
                  "tied_output: 1" "mask_id: 258" "bos_id: 257" "eos_id: 256" "chat_template: none" "tensors: 11"; do
            if grep -qx "$kv" <<< "$info"; then t_ok "info: $kv"; else t_fail "info: $kv" "$(grep "^${kv%%:*}:" <<< "$info")"; fi
        done
        while read -r name; do
            t_check "values of $name equal numpy's" sh -c \
                "$CLI info --model '$OUT/py-llada.gguf' --dump '$name' > '$OUT/$name.got' && cmp -s '$OUT/$name.got' '$OUT/$name.want'"
        done < "$OUT/tensors.txt"
        CUTCLI=$CLI
        [ -x bin/dllm-cli-asan ] && CUTCLI=bin/dllm-cli-asan
        size=$(stat -c %s "$OUT/py-llada.gguf")
        bad=0 n=0
        for cut in 0 3 4 8 16 23 24 40 100 500 1000 2000 4000 $((size / 2)) $((size - 64)) $((size - 1)); do
            [ "$cut" -lt "$size" ] || continue
            head -c "$cut" "$OUT/py-llada.gguf" > "$OUT/cut.gguf"
            err=$($CUTCLI info --model "$OUT/cut.gguf" 2>&1 >/dev/null); rc=$?
            n=$((n + 1))
            if [ $rc -ne 1 ] || ! grep -q "cut.gguf" <<< "$err" || grep -q "Sanitizer" <<< "$err"; then
                bad=$((bad + 1)); echo "    cut $cut: rc=$rc $err" | head -n 3
            fi
        done
        if [ $bad -eq 0 ]; then t_ok "$n truncated copies fail cleanly ($CUTCLI)"; else t_fail "truncated copies" "$bad of $n"; fi
    fi
fi
if [ -f models/dllm-kjv.gguf ]; then
    info=$($CLI info --model models/dllm-kjv.gguf 2>&1)
    if [ $? -eq 0 ] && grep -qx "architecture: llada" <<< "$info"; then
        t_ok "info on models/dllm-kjv.gguf"
    else
        t_fail "info on models/dllm-kjv.gguf" "$(head -n 3 <<< "$info")"
    fi
else
    t_skip "info on models/dllm-kjv.gguf" "not built yet"
fi
t_summary
