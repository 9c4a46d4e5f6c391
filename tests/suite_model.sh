#!/usr/bin/env bash
# Model files through bin/dllm-cli, against a writer we did not write:
# tools/gguf_write.py builds a tiny LLaDA GGUF (Q8_0, F16, BF16, F32 tensors,
# alignment 64, no mask_token_id key) and numpy's dequantization of its
# tensors, plus Q4_0/Q4_K/Q6_K tensors packed by a numpy quantizer here;
# `dllm-cli info --dump` must give the same float32 values exactly,
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
import gguf_write  # noqa: E402
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


Q4_0, Q4_K, Q6_K = 2, 12, 14
_plain_bytes = gguf_write.tensor_bytes


def f16(x):
    return np.asarray(x, np.float32).astype(np.float16)


def q4_0(x):
    b = x.reshape(-1, 32)
    d = f16(np.abs(b).max(1) / 7)
    df = d.astype(np.float32)[:, None]
    q = np.clip(np.rint(np.divide(b, df, out=np.zeros_like(b), where=df != 0)) + 8, 0, 15).astype(np.uint8)
    raw = np.concatenate([d.view(np.uint8).reshape(-1, 2), q[:, :16] | (q[:, 16:] << 4)], 1)
    return raw.tobytes(), (df * (q.astype(np.float32) - 8)).reshape(x.shape)


def q4_k(x):
    b = x.reshape(-1, 8, 32)
    mn = np.maximum(0, -b.min(2))
    sc = (b.max(2) + mn) / 15
    d, dmin = f16(sc.max(1) / 63), f16(mn.max(1) / 63)
    df, dmf = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
    sci = np.clip(np.rint(np.divide(sc, df, out=np.zeros_like(sc), where=df != 0)), 0, 63).astype(np.uint8)
    mni = np.clip(np.rint(np.divide(mn, dmf, out=np.zeros_like(mn), where=dmf != 0)), 0, 63).astype(np.uint8)
    step = (df * sci.astype(np.float32))[:, :, None]
    m = (dmf * mni.astype(np.float32))[:, :, None]
    q = np.clip(np.rint(np.divide(b + m, step, out=np.zeros_like(b), where=step != 0)), 0, 15).astype(np.uint8)
    scales = np.concatenate([sci[:, :4] | ((sci[:, 4:] >> 4) << 6), mni[:, :4] | ((mni[:, 4:] >> 4) << 6),
                             (sci[:, 4:] & 15) | ((mni[:, 4:] & 15) << 4)], 1)
    qf = q.reshape(-1, 4, 2, 32)
    qs = (qf[:, :, 0] | (qf[:, :, 1] << 4)).reshape(-1, 128)
    raw = np.concatenate([d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2), scales, qs], 1)
    return raw.tobytes(), (step * q.astype(np.float32) - m).reshape(x.shape)


def q6_k(x):
    b = x.reshape(-1, 16, 16)
    sc = np.abs(b).max(2) / 31
    d = f16(sc.max(1) / 127)
    df = d.astype(np.float32)[:, None]
    sci = np.clip(np.rint(np.divide(sc, df, out=np.zeros_like(sc), where=df != 0)), -128, 127).astype(np.int8)
    step = (df * sci.astype(np.float32))[:, :, None]
    q = np.clip(np.rint(np.divide(b, step, out=np.zeros_like(b), where=step != 0)), -32, 31).astype(np.int16)
    L = (q + 32).astype(np.uint8).reshape(-1, 2, 4, 32)  # [block, half, quarter, l]
    ql = np.concatenate([L[:, :, 0] & 15 | (L[:, :, 2] & 15) << 4, L[:, :, 1] & 15 | (L[:, :, 3] & 15) << 4], 2)
    qh = L[:, :, 0] >> 4 | (L[:, :, 1] >> 4) << 2 | (L[:, :, 2] >> 4) << 4 | (L[:, :, 3] >> 4) << 6
    raw = np.concatenate([ql.reshape(-1, 128), qh.reshape(-1, 64), sci.view(np.uint8),
                          d.view(np.uint8).reshape(-1, 2)], 1)
    return raw.tobytes(), (step * q.astype(np.float32)).reshape(x.shape)


QUANT = {Q4_0: q4_0, Q4_K: q4_k, Q6_K: q6_k}


def quant_bytes(arr, gtype):
    if gtype in QUANT:
        return QUANT[gtype](np.asarray(arr, np.float32))[0]
    return _plain_bytes(arr, gtype)


def want_values(arr, gtype):
    if gtype in QUANT:
        return QUANT[gtype](arr)[1]
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
    # extra tensors of the types gguf_write.py has no quantizer for, packed
    # here with numpy as ggml describes them (model_open keeps extra tensors)
    gguf_write.GGML_TYPE_SIZE.update({Q4_0: (32, 18), Q4_K: (256, 144), Q6_K: (256, 210)})
    gguf_write.tensor_bytes = quant_bytes
    specs += [("extra.q4_0", (3, 64), Q4_0), ("extra.q4_k", (3, 512), Q4_K), ("extra.q6_k", (3, 512), Q6_K)]
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
                  "tied_output: 1" "mask_id: 258" "bos_id: 257" "eos_id: 256" "chat_template: none" "tensors: 14"; do
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
        # cuts inside the data (the file's last 20 bytes are padding after the last tensor)
        for cut in 0 3 4 8 16 23 24 40 100 500 1000 2000 4000 $((size / 2)) $((size - 64)) $((size - 40)); do
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
