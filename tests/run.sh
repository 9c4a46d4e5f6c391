#!/usr/bin/env bash
# Runs every test suite and ends with one line "N passed, N failed, N skipped"
# summed over them. A suite is a program that ends its output with the line
# "N passed, N failed[, N skipped]": the unit runner (plain and with
# AddressSanitizer + UndefinedBehaviorSanitizer) and every tests/suite_*.sh.
# A suite that ends without that line counts as one failure.
set -u
cd "$(dirname "$0")/.."
mkdir -p tests/out
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
total_pass=0 total_fail=0 total_skip=0
run_suite() {
    local name=$1; shift
    local log="tests/out/$name.log"
    echo "=== $name"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local last
    last=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n 1)
    if [ -z "$last" ]; then
        echo "--- $name: ended without a summary line (exit $rc)"
        total_fail=$((total_fail + 1))
        return
    fi
    local p f s
    p=$(echo "$last" | sed -E 's/^([A-Za-z]+: )?([0-9]+) passed.*/\2/')
    f=$(echo "$last" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    s=$(echo "$last" | sed -nE 's/.* ([0-9]+) skipped$/\1/p')
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + ${s:-0}))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "--- $name: exit status $rc"
        total_fail=$((total_fail + 1))
    fi
}
run_suite unit bin/unit-tests
run_suite unit-asan bin/unit-tests-asan
for s in tests/suite_*.sh; do
    [ -e "$s" ] || continue
    n=$(basename "$s" .sh); n=${n#suite_}
    run_suite "$n" bash "$s"
done
echo "=== all suites"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
