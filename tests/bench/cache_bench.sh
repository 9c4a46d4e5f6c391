#!/usr/bin/env bash
# Block caches beyond bench_sched's own table (gen 256 on the default model):
# gen 64 on the default model against the float64 PyTorch reference of the
# three cache modes (tests/bench/cache_ref.py), with the training
# evaluation's word measures; gen 1024 (256 steps, 4 tokens a step) on a
# random-weight model of the default model's shape with a 4096-token context
# (the default model's is 512); a random-weight LLaDA four times wider at gen
# 256, also against the reference. Random models: tests/bench/make_random_llada.py.
set -u
cd "$(dirname "$0")/../.."
model=${DLLM_BENCH_MODEL:-models/dllm-kjv.gguf}
out=tests/out/bench
mkdir -p "$out"
if [ ! -x bin/bench_sched ] || [ ! -s "$model" ]; then
    echo "cache_bench: needs bin/bench_sched and $model; skipped"
    exit 0
fi
bin/bench_sched "$model" --cache-only --cgen 64 --cn 16 --dump "$out/cache64.txt"
if [ -x /usr/bin/python3 ]; then
    /usr/bin/python3 tests/bench/cache_ref.py "$model" "$out/cache64.txt" --quality ||
        echo "cache_ref: skipped (needs python3-torch, and bible-kjv for the word measures)"
fi
small=$out/random-llada-d256.gguf
if [ ! -s "$small" ]; then
    /usr/bin/python3 tests/bench/make_random_llada.py "$small" 256 6 704 4 || { echo "cache_bench: could not write $small"; exit 0; }
fi
bin/bench_sched "$small" --cache-only --cgen 1024 --csteps 256 --cn 1
rnd=$out/random-llada.gguf
if [ ! -s "$rnd" ]; then
    /usr/bin/python3 tests/bench/make_random_llada.py "$rnd" || { echo "cache_bench: could not write $rnd"; exit 0; }
fi
bin/bench_sched "$rnd" --cache-only --cgen 256 --csteps 64 --cn 4 --dump "$out/cache_random.txt"
/usr/bin/python3 tests/bench/cache_ref.py "$rnd" "$out/cache_random.txt" || echo "cache_ref: skipped"
