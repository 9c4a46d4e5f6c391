#!/usr/bin/env bash
# make bench: every benchmark, figures printed. Each bench binary or script
# prints its own table; inputs it needs are made here.
set -u
cd "$(dirname "$0")/../.."
mkdir -p tests/out/bench
model=${DLLM_BENCH_MODEL:-models/dllm-kjv.gguf}
text=tests/out/bench/kjv.txt
if [ ! -s "$text" ] && command -v bible >/dev/null; then
    bible -f 'Genesis1:1-Revelation22:21' > "$text" 2>/dev/null
fi
for b in bin/bench_*; do
    [ -x "$b" ] || continue
    name=$(basename "$b")
    # bench_forward runs inside llamacpp_bench.sh, beside llama.cpp
    [ "$name" = bench_forward ] && continue
    echo "=== $name"
    case "$name" in
        bench_tok) "$b" "$text" "$model" ;;
        bench_cpu | bench_dit | bench_bf16) "$b" ;;
        *) "$b" "$model" ;;
    esac
done
for s in tests/bench/*.sh; do
    [ "$(basename "$s")" = run.sh ] && continue
    echo "=== $(basename "$s")"
    bash "$s"
done
