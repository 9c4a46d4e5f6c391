#!/usr/bin/env bash
# MDLM and SEDD end to end: tiny random DiT models written by
# tests/ref/make_dit_models.py (Hugging Face layouts and GGUF), each served by
# bin/dllm-server and driven through the HTTP API (tests/http/mdlm_sedd.mjs):
# completions and fill-in-the-blanks canvases with every sampler (mdlm,
# euler, analytic), streamed frames, batch invariance, auto's choice, and the
# 400s (other families' rules, t_eps, block_length, mdlm on the uniform
# graph); the uniform graph's spans of random tokens settling at the end.
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
T_OUT=tests/out/mdlm_sedd
mkdir -p "$T_OUT"
if [ ! -x bin/dllm-server ] || ! command -v node >/dev/null || ! command -v curl >/dev/null; then
    t_skip "mdlm/sedd end to end" "needs bin/dllm-server, node and curl"
    t_summary; exit
fi
if ! $PY -c 'import torch, numpy' 2>/dev/null; then
    t_skip "mdlm/sedd end to end" "$PY has no torch/numpy"
    t_summary; exit
fi
models=$T_OUT/models
rm -rf "$models"   # written afresh: the script may have changed
if ! $PY tests/ref/make_dit_models.py "$models" > "$T_OUT/models.log" 2>&1; then
    t_fail "make_dit_models.py" "$(tail -n 5 "$T_OUT/models.log")"
    t_summary; exit
fi

# serve BINARY NAME PATH FAMILY [uniform]: one server, the client's checks,
# SIGTERM; the sanitizer build also fails on any report in its log.
serve() {
    local bin=$1 name=$2 path=$3 family=$4 extra=${5-}
    local port log
    port=$(t_free_port)
    log=$T_OUT/$name.log
    if ! t_start_server "$bin" "$port" "$log" --model "$path"; then
        t_fail "$name: server starts" "$(tail -3 "$log")"
        return
    fi
    node tests/http/mdlm_sedd.mjs "$port" "$family" $extra > "$T_OUT/$name.out" 2>&1
    sed "s/^\(ok  \|FAIL\) /\1 $name: /" "$T_OUT/$name.out" | grep -E '^(ok|FAIL) '
    T_PASS=$((T_PASS + $(grep -c '^ok ' "$T_OUT/$name.out")))
    T_FAIL=$((T_FAIL + $(grep -c '^FAIL ' "$T_OUT/$name.out")))
    grep -q '^ok ' "$T_OUT/$name.out" || t_fail "$name: client ran" "$(tail -3 "$T_OUT/$name.out")"
    t_stop_server
    t_check "$name: SIGTERM exits 0" test "$T_SERVER_STATUS" = 0
    if [ "$bin" = bin/dllm-server-asan ]; then
        if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
            t_fail "$name: no sanitizer reports" "$(grep -m3 -E 'ERROR|runtime error' "$log")"
        else
            t_ok "$name: no sanitizer reports"
        fi
    fi
}

serve bin/dllm-server mdlm_hf "$models/mdlm_hf" mdlm
serve bin/dllm-server mdlm_tc_gguf "$models/mdlm_tc.gguf" mdlm
serve bin/dllm-server sedd_hf "$models/sedd_hf" sedd
serve bin/dllm-server sedd_geo_gguf "$models/sedd_geo.gguf" sedd
serve bin/dllm-server sedd_uni_hf "$models/sedd_uni_hf" sedd uniform
# the same paths under AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer
if [ -x bin/dllm-server-asan ]; then
    serve bin/dllm-server-asan asan_mdlm_tc_hf "$models/mdlm_tc_hf" mdlm
    serve bin/dllm-server-asan asan_sedd_hf "$models/sedd_hf" sedd
    serve bin/dllm-server-asan asan_sedd_uni_hf "$models/sedd_uni_hf" sedd uniform
else
    t_skip "mdlm/sedd under the sanitizer build" "bin/dllm-server-asan not built (make test builds it)"
fi
t_summary
