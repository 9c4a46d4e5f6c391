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
