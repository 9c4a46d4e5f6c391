# tests/lib.sh: sourced by tests/suite_*.sh. Counts checks and prints the
# suite's closing line "N passed, N failed, N skipped".
T_PASS=0 T_FAIL=0 T_SKIP=0
t_ok()   { echo "ok   $1"; T_PASS=$((T_PASS + 1)); }
t_fail() { echo "FAIL $1${2:+: $2}"; T_FAIL=$((T_FAIL + 1)); }
t_skip() { echo "skip $1${2:+: $2}"; T_SKIP=$((T_SKIP + 1)); }
# t_check NAME COMMAND...: passes when the command exits 0; its output is kept on failure.
t_check() {
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then t_ok "$name"; else t_fail "$name"; echo "$out" | tail -n 20 | sed 's/^/    /'; fi
}
t_summary() { echo "$T_PASS passed, $T_FAIL failed, $T_SKIP skipped"; [ "$T_FAIL" -eq 0 ]; }
# The shared folder beside the checkout, where the tests find stories260K.
T_SHARED=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared
[ -d "$T_SHARED" ] || T_SHARED=
PY=/usr/bin/python3

# A free TCP port on loopback.
t_free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# t_start_server BINARY PORT LOG ARGS...: starts the server, waits for /health
# to answer 200 (up to 120 s); sets T_SERVER_PID. Returns 1 if it never did.
t_start_server() {
    local bin=$1 port=$2 log=$3; shift 3
    "$bin" --port "$port" "$@" > "$log" 2>&1 &
    T_SERVER_PID=$!
    for _ in $(seq 1 240); do
        if curl -sf -o /dev/null "http://127.0.0.1:$port/health"; then return 0; fi
        kill -0 "$T_SERVER_PID" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}
# t_stop_server: SIGTERM, wait; the exit status lands in T_SERVER_STATUS.
# (Not for $(...): a subshell cannot wait for the server it did not start.)
# A server still running 60 s after SIGTERM is killed and its status is "hung".
t_stop_server() {
    kill -TERM "$T_SERVER_PID" 2>/dev/null
    for _ in $(seq 1 120); do
        kill -0 "$T_SERVER_PID" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$T_SERVER_PID" 2>/dev/null; then
        kill -KILL "$T_SERVER_PID" 2>/dev/null
        wait "$T_SERVER_PID" 2>/dev/null
        T_SERVER_STATUS=hung
        return
    fi
    wait "$T_SERVER_PID"
    T_SERVER_STATUS=$?
}
# Resident memory of a process in KiB.
t_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# The model the integration tests serve: the default one.
T_MODEL=models/dllm-kjv.gguf
