#!/usr/bin/env bash
# CPU against CUDA backend (tests/cuda/test_cuda.c) on a model built in the
# test, the tiny reference models of every architecture (tests/ref, when
# torch is there to write them; MDLM/SEDD from make_dit_models.py) and
# stories260K. Needs a GPU: without
# nvidia-smi (or with no device listed) the suite is skipped with a notice.
cd "$(dirname "$0")/.."
. tests/lib.sh
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    t_skip "cuda backend" "no GPU (nvidia-smi absent or lists no device)"
    t_summary
    exit
fi
OUT=tests/out/cuda
mkdir -p "$OUT"
rm -f bin/test-cuda
if ! make CUDA=1 -j"$(nproc)" bin/test-cuda > "$OUT/build.log" 2>&1; then
    t_fail "make CUDA=1 bin/test-cuda" "$(tail -n 5 "$OUT/build.log")"
    t_summary
    exit
fi
models=()
if $PY -c 'import torch, numpy' 2>/dev/null && $PY tests/ref/make_models.py "$OUT/ref" > "$OUT/ref.log" 2>&1; then
    while IFS=$'\t' read -r name path rest; do
        models+=("$path")
    done < "$OUT/ref/manifest.tsv"
else
    t_skip "reference models" "$PY has no torch/numpy (or make_models.py failed)"
fi
if $PY -c 'import torch, numpy' 2>/dev/null && $PY tests/ref/make_dit_models.py "$OUT/dit" > "$OUT/dit.log" 2>&1; then
    # MDLM and SEDD (the DiT): each model file once
    while IFS=$'\t' read -r name path rest; do
        case " ${models[*]} " in *" $path "*) ;; *) models+=("$path") ;; esac
    done < "$OUT/dit/manifest.tsv"
else
    t_skip "DiT reference models" "$PY has no torch/numpy (or make_dit_models.py failed)"
fi
S="$T_SHARED/models/stories260K"
if [ -n "$T_SHARED" ] && [ -f "$S/stories260K.bin" ]; then
    models+=("$S")
else
    t_skip "stories260K" "no ../shared/models/stories260K"
fi
bin/test-cuda "${models[@]}" > "$OUT/test.log" 2>&1
rc=$?
sed -e '/^[0-9]* passed, /d' -e 's/^/    /' "$OUT/test.log"
if [ $rc -eq 0 ]; then
    t_ok "cpu and cuda agree ($(tail -n 1 "$OUT/test.log"))"
else
    t_fail "cpu and cuda agree" "$(tail -n 1 "$OUT/test.log")"
fi
t_summary
