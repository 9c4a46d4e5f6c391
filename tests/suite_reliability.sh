#!/usr/bin/env bash
# Reliability: load, faults and hostile input against the real server on
# loopback, and bad model files at start. Short form in `make test`;
# DLLM_TEST_LONG=1 (make test-long) runs longer with concurrency 256.
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
out=tests/out/reliability
mkdir -p "$out"
if [ ! -f "$T_MODEL" ] || [ ! -x bin/dllm-server ] || ! command -v node >/dev/null; then
    t_skip "reliability" "needs $T_MODEL, bin/dllm-server and node"
    t_summary; exit
fi
if [ "${DLLM_TEST_LONG:-0}" = 1 ]; then secs=60; conc=256; else secs=8; conc=64; fi

# Counts the ok/FAIL lines a node run printed.
tally() {
    local log=$1
    T_PASS=$((T_PASS + $(grep -c '^ok ' "$log")))
    T_FAIL=$((T_FAIL + $(grep -c '^FAIL ' "$log")))
    grep -E '^(ok|FAIL) ' "$log"
}

# 1. Load, with the queue small enough that 429s happen, and RSS tracking.
port=$(t_free_port)
if ! t_start_server bin/dllm-server "$port" "$out/server-load.log" --model "$T_MODEL" --max-queue 16 --log-requests false; then
    t_fail "server starts" "$(tail -5 "$out/server-load.log")"; t_summary; exit
fi
node tests/reliability/abuse.mjs "$port" load 2 4 > /dev/null
base=$(t_rss_kb "$T_SERVER_PID")
node tests/reliability/abuse.mjs "$port" load "$secs" "$conc" > "$out/load1.log" 2>&1; tally "$out/load1.log"
sleep 1; after1=$(t_rss_kb "$T_SERVER_PID")
node tests/reliability/abuse.mjs "$port" load "$secs" "$conc" > "$out/load2.log" 2>&1; tally "$out/load2.log"
sleep 1; after2=$(t_rss_kb "$T_SERVER_PID")
echo "    RSS KiB: baseline $base, after round 1 $after1, after round 2 $after2"
# A second identical round must not grow memory beyond noise: growth per round is a leak.
if [ $((after2 - after1)) -le $((after1 / 10 + 8192)) ]; then t_ok "load: memory steady across rounds ($after1 -> $after2 KiB)"
else t_fail "load: memory steady across rounds" "$after1 -> $after2 KiB"; fi
grep '^stats' "$out/load1.log" "$out/load2.log" | sed 's/^/    /'

# 2. SIGTERM during load: in-flight requests end cleanly, exit status 0.
node tests/reliability/abuse.mjs "$port" load 4 16 > "$out/term.log" 2>&1 &
client=$!
sleep 2
t_stop_server; status=$T_SERVER_STATUS
wait "$client"
if [ "$status" = 0 ]; then t_ok "SIGTERM during load: exit status 0"; else t_fail "SIGTERM during load" "exit status $status"; fi

# 3. Faults and hostile input against the sanitizer build (LeakSanitizer on).
srv=bin/dllm-server-asan
[ -x "$srv" ] || srv=bin/dllm-server
port=$(t_free_port)
if t_start_server "$srv" "$port" "$out/server-asan.log" --model "$T_MODEL" --max-body-bytes 1048576 --log-requests false; then
    node tests/reliability/abuse.mjs "$port" faults "$secs" "$conc" > "$out/faults.log" 2>&1; tally "$out/faults.log"
    node tests/reliability/abuse.mjs "$port" hostile > "$out/hostile.log" 2>&1; tally "$out/hostile.log"
    t_stop_server; status=$T_SERVER_STATUS
    if [ "$status" = 0 ]; then t_ok "$srv: exit status 0 after faults"; else t_fail "$srv: exit status 0 after faults" "$status"; fi
    if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$out/server-asan.log"; then
        t_fail "$srv: no sanitizer reports" "$(grep -m3 -E 'ERROR|runtime error' "$out/server-asan.log")"
    else t_ok "$srv: no sanitizer reports"; fi
else
    t_fail "$srv starts" "$(tail -5 "$out/server-asan.log")"
fi

# 4. Broken model files at start: a clear message and a non-zero exit, no crash.
head -c 100000 "$T_MODEL" > "$out/truncated.gguf"
for bad in "$out/truncated.gguf" "$out/does-not-exist.gguf"; do
    port=$(t_free_port)
    timeout 60 bin/dllm-server --port "$port" --model "$bad" > "$out/bad-model.log" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && grep -q "$(basename "$bad")" "$out/bad-model.log"; then
        t_ok "bad model $(basename "$bad"): clear error, exit $rc"
    else
        t_fail "bad model $(basename "$bad")" "exit $rc: $(tail -2 "$out/bad-model.log")"
    fi
done
t_summary
