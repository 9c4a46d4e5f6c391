#!/usr/bin/env bash
# MDLM / SEDD reference numerics: tiny random DiT models written by
# tests/ref/make_dit_models.py in the official Hugging Face layouts
# (mdlm-owt, sedd-small) and as dllm's GGUF "mdlm"/"sedd"; dllm-cli logits at
# several noise levels against the script's independent float64 torch
# forward: max abs error < 1e-4 x max abs logit (SEDD at sigma 0 is +inf
# off the input tokens, matched exactly). Plus: a model without time
# conditioning ignores --sigma bit for bit, GGUF and safetensors give the
# same bits, bad --sigma values and a missing tokenizer fail clearly, and
# info shows the noise/graph fields.
cd "$(dirname "$0")/.."
. tests/lib.sh
mkdir -p tests/out
OUT=$(mktemp -d tests/out/dit.XXXXXX)
CLI=$OUT/dllm-cli
cp "${DLLM_CLI:-bin/dllm-cli}" "$CLI"
if ! $PY -c 'import torch, numpy' 2>/dev/null; then
    t_skip "DiT reference models" "$PY has no torch/numpy"
    t_summary
    exit $?
fi
if ! $PY tests/ref/make_dit_models.py "$OUT" > "$OUT.log" 2>&1; then
    t_fail "make_dit_models.py" "$(tail -n 5 "$OUT.log")"
    t_summary
    exit 1
fi
n=0
while IFS=$'\t' read -r name path ids sigma exp; do
    n=$((n + 1))
    got="$OUT/got$n.f32"
    t_check "logits $name sigma $sigma" sh -c \
        "$CLI logits --model '$path' --ids '$ids' --sigma '$sigma' --out '$got' && $PY tests/ref/compare.py '$got' '$exp' 1e-4"
done < "$OUT/manifest.tsv"

IDS=$(awk -F'\t' '$1 == "mdlm_hf" {print $3; exit}' "$OUT/manifest.tsv")
lg() { $CLI logits --model "$1" --ids "$IDS" --sigma "$2" --out "$3"; }
t_check "mdlm without time conditioning: sigma has no effect (bit-identical)" sh -c \
    "$(declare -f lg); CLI=$CLI IDS='$IDS'; lg $OUT/mdlm_hf 0 $OUT/a.f32 && lg $OUT/mdlm_hf 7.5 $OUT/b.f32 && cmp $OUT/a.f32 $OUT/b.f32"
t_check "mdlm with time conditioning: sigma changes the logits" sh -c \
    "$(declare -f lg); CLI=$CLI IDS='$IDS'; lg $OUT/mdlm_tc_hf 0 $OUT/a.f32 && lg $OUT/mdlm_tc_hf 1 $OUT/b.f32 && ! cmp -s $OUT/a.f32 $OUT/b.f32"
t_check "sedd: GGUF and safetensors give the same bits" sh -c \
    "$(declare -f lg); CLI=$CLI IDS='$IDS'; lg $OUT/sedd_hf 0.5 $OUT/a.f32 && lg $OUT/sedd.gguf 0.5 $OUT/b.f32 && cmp $OUT/a.f32 $OUT/b.f32"

for bad in -1 nan inf -inf abc 1e39 ""; do
    t_check "--sigma '$bad' rejected" sh -c \
        "! $CLI logits --model $OUT/sedd_hf --ids '1 2' --sigma '$bad' --out $OUT/x.f32 2> $OUT/err.txt && grep -q 'sigma' $OUT/err.txt"
done
while IFS=$'\t' read -r path words; do
    t_check "$(basename "$path"): error names $words" sh -c \
        "! $CLI info --model '$path' 2> $OUT/err.txt && grep -qF \"$words\" $OUT/err.txt"
done < "$OUT/broken.tsv"
t_check "missing tokenizer.json: says to put GPT-2's there" sh -c \
    "! $CLI info --model $OUT/no_tok_hf 2> $OUT/err.txt && grep -q \"GPT-2's tokenizer.json\" $OUT/err.txt"
t_check "info: mdlm-owt-like config" sh -c \
    "$CLI info --model $OUT/mdlm_hf > $OUT/info.txt && grep -qx 'architecture: mdlm' $OUT/info.txt && grep -qx 'time_conditioning: 0' $OUT/info.txt && grep -qx 'mask_id: 267' $OUT/info.txt && grep -qx 'noise: loglinear' $OUT/info.txt && grep -qx 'context_length: 256' $OUT/info.txt"
t_check "info: sedd geometric, absorbing" sh -c \
    "$CLI info --model $OUT/sedd_geo.gguf > $OUT/info.txt && grep -qx 'architecture: sedd' $OUT/info.txt && grep -qx 'noise: geometric' $OUT/info.txt && grep -qx 'sigma_max: 20' $OUT/info.txt && grep -qx 'scale_by_sigma: 1' $OUT/info.txt && grep -qx 'time_conditioning: 1' $OUT/info.txt"
t_check "info: sedd uniform graph has no mask" sh -c \
    "$CLI info --model $OUT/sedd_uni_hf > $OUT/info.txt && grep -qx 'graph: uniform' $OUT/info.txt && grep -qx 'mask_id: -1' $OUT/info.txt && grep -qx 'vocab_size: 267' $OUT/info.txt"
t_check "generate refuses a DiT, naming the server's samplers" sh -c \
    "! $CLI generate --model $OUT/sedd_hf --prompt 'the' 2> $OUT/err.txt && grep -q 'euler' $OUT/err.txt"
t_check "detokenize skips the mask id (no text)" sh -c \
    "test \"\$($CLI detokenize --model $OUT/mdlm_hf --ids '40 267 72')\" = 'Ii'"
[ "$T_FAIL" -eq 0 ] && rm -rf "$OUT" "$OUT.log"
t_summary
