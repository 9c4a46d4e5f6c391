#!/usr/bin/env bash
# The front end alone: wrk against GET /health (no engine work) at 1/16/64
# connections, and bin/bench_http on the tiny random model of the HTTP suite
# (a 2-layer model, so the figures are mostly HTTP, queueing and scheduling).
set -u
cd "$(dirname "$0")/../.."
source tests/lib.sh
tiny=tests/out/http/tiny.gguf
[ -f "$tiny" ] || "$PY" tests/http/tiny_model.py "$tiny" > /dev/null 2>&1 || { echo "no tiny model"; exit 0; }
if command -v wrk > /dev/null; then
    port=$(t_free_port)
    if t_start_server bin/dllm-server "$port" tests/out/bench/http-wrk.log --model "$tiny" --log-requests false; then
        echo "wrk GET /health, 5 s per level (keep-alive)"
        printf '%8s %10s %10s %10s\n' connections req/s p50 p99
        for c in 1 16 64; do
            wrk -t "$([ "$c" = 1 ] && echo 1 || echo 2)" -c "$c" -d 5s --latency "http://127.0.0.1:$port/health" > tests/out/bench/wrk-$c.txt 2>&1
            rps=$(awk '/Requests\/sec/ {print $2}' tests/out/bench/wrk-$c.txt)
            p50=$(awk '$1 == "50%" {print $2}' tests/out/bench/wrk-$c.txt)
            p99=$(awk '$1 == "99%" {print $2}' tests/out/bench/wrk-$c.txt)
            printf '%8s %10s %10s %10s\n' "$c" "$rps" "$p50" "$p99"
        done
        kill -TERM "$T_SERVER_PID"; wait "$T_SERVER_PID"
    fi
fi
echo "bin/bench_http on the tiny model"
bin/bench_http "$tiny" 5
