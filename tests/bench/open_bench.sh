#!/usr/bin/env bash
# Model open time for a large GGUF (about 3 GB, LLaDA-8B-shaped, 2 layers):
# the file is mmapped, tensors point into the mapping, nothing is copied, so
# opening costs the header, the metadata and the tokenizer, not the weights.
set -u
cd "$(dirname "$0")/../.."
big=tests/out/bench/llada-8b-shaped-2l.gguf
mkdir -p tests/out/bench
if [ ! -s "$big" ]; then
    /usr/bin/python3 tests/bench/make_big_gguf.py "$big" || { echo "open_bench: could not write $big"; exit 0; }
fi
size=$(du -m "$big" | cut -f1)
for i in 1 2 3; do
    /usr/bin/time -f "%e s wall, %U s user, %S s system, %M KiB max RSS" bin/dllm-cli info --model "$big" > /dev/null 2> tests/out/bench/open.time || true
    echo "model open ($size MB GGUF, run $i): $(tail -n 1 tests/out/bench/open.time)"
done
