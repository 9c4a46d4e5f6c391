#!/usr/bin/env bash
# Runs every libFuzzer target bin/fuzz_* for a bounded time (DLLM_FUZZ_SECONDS,
# 20 s by default); one check per target: no crash, leak or sanitizer report.
# Seeds: tests/data/fuzz/NAME/ and tests/fuzz/corpus_NAME/ when present; new
# inputs go to tests/out/fuzz/NAME/. The targets come from `make test` (or
# `make bin/fuzz_NAME`).
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
secs=${DLLM_FUZZ_SECONDS:-20}
found=0
for bin in bin/fuzz_*; do
    [ -x "$bin" ] || continue
    found=1
    name=${bin#bin/fuzz_}
    work=tests/out/fuzz/$name
    mkdir -p "$work"
    seeds=()
    for d in "tests/data/fuzz/$name" "tests/fuzz/corpus_$name"; do
        [ -d "$d" ] && seeds+=("$d")
    done
    log=tests/out/fuzz/$name.log
    if "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="tests/out/fuzz/$name-" "$work" "${seeds[@]}" > "$log" 2>&1; then
        t_ok "fuzz_$name: ${secs}s without a crash ($(grep -o 'Done [0-9]* runs' "$log" | tail -n 1))"
    else
        t_fail "fuzz_$name" "$(grep -m1 -E 'ERROR|SUMMARY|runtime error' "$log") (log: $log)"
    fi
done
[ "$found" -eq 1 ] || t_skip "fuzzers" "no bin/fuzz_* built (make test builds them; needs clang)"
t_summary
