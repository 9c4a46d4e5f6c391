#!/usr/bin/env bash
# libFuzzer over the API request parsers and serialisers (bin/fuzz_api, built
# by `make test`): a bounded run from the seed corpus; longer with
# DLLM_TEST_LONG=1. A crash, leak or sanitizer report fails the suite.
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
if [ ! -x bin/fuzz_api ]; then
    t_skip "fuzz_api" "bin/fuzz_api not built (make test builds it)"
    t_summary; exit
fi
secs=15
[ "${DLLM_TEST_LONG:-0}" = 1 ] && secs=300
work=tests/out/fuzz_api
mkdir -p "$work"
if ./bin/fuzz_api -max_total_time="$secs" -max_len=4096 -rss_limit_mb=1024 -print_final_stats=1 \
    "$work" tests/fuzz/corpus_api > "$work.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work.log" | grep -o '[0-9]*$')
    t_ok "fuzz_api: ${runs:-?} executions in ${secs}s, no crash"
else
    t_fail "fuzz_api" "$(grep -m5 -E 'ERROR|SUMMARY|crash-' "$work.log")"
fi
t_summary
