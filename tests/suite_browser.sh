#!/usr/bin/env bash
# Browser: the page the server embeds at / (server/page.html), in Debian's
# headless Chromium driven by playwright-core (tests/browser/denoise.test.mjs),
# against the real server on loopback with an API key set, serving the default
# model (models/dllm-kjv.gguf) or, when that is absent, a tiny random-weight
# model built here. Screenshots of three lanes replayed to the start, middle
# and end of their runs land in tests/out/browser/.
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
out=tests/out/browser
rm -rf "$out"
mkdir -p "$out"

missing=
[ -x bin/dllm-server ] || missing="$missing bin/dllm-server"
[ -x /usr/bin/chromium ] || missing="$missing /usr/bin/chromium (Debian package chromium)"
command -v node >/dev/null || missing="$missing node"
[ -d node_modules/playwright-core ] || missing="$missing node_modules/playwright-core (npm ci)"
if [ -n "$missing" ]; then
    t_skip "browser" "needs$missing"
    t_summary; exit
fi
model=$T_MODEL
if [ ! -f "$model" ]; then
    model=tests/out/browser-tiny.gguf
    if [ ! -f "$model" ] && ! "$PY" tests/http/tiny_model.py "$model" > "$out/tiny.log" 2>&1; then
        t_skip "browser" "no $T_MODEL and the tiny model could not be built: $(tail -1 "$out/tiny.log")"
        t_summary; exit
    fi
fi
echo "    model: $model"

key=browser-test-key
port=$(t_free_port)
if ! t_start_server bin/dllm-server "$port" "$out/server.log" --host 127.0.0.1 --model "$model" --api-key "$key" \
        --cors-origin "http://localhost:$port"; then
    t_fail "server starts" "$(tail -5 "$out/server.log")"
    t_summary; exit
fi
trap 'kill -TERM "$T_SERVER_PID" 2>/dev/null' EXIT

timeout 300 node tests/browser/denoise.test.mjs "http://127.0.0.1:$port" "$out" "$key" "http://localhost:$port" > "$out/browser.log" 2>&1
rc=$?
cat "$out/browser.log"
T_PASS=$((T_PASS + $(grep -c '^ok ' "$out/browser.log")))
T_FAIL=$((T_FAIL + $(grep -c '^FAIL ' "$out/browser.log")))
if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$out/browser.log"; then t_fail "browser test" "exit status $rc"; fi
for shot in start middle end; do
    if [ -s "$out/$shot.png" ]; then t_ok "screenshot $out/$shot.png"; else t_fail "screenshot $out/$shot.png" "missing"; fi
done

t_stop_server > /dev/null
trap - EXIT
t_summary
