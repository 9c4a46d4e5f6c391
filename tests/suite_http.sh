#!/usr/bin/env bash
# HTTP front end with real clients over loopback: curl (plain, streaming,
# every error status) and the official openai SDK (tests/http/openai_client.mjs)
# against bin/dllm-server on the default model (models/dllm-kjv.gguf) or, when
# that is absent, a tiny random-weight model built here. The same checks run
# once more against bin/dllm-server-asan (ASan + UBSan + LSan): any sanitizer
# report fails the suite.
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
T_OUT=tests/out/http
CHECKS=$T_OUT/checks
mkdir -p "$T_OUT"
: > "$CHECKS"

if [ ! -x bin/dllm-server ] || ! command -v node >/dev/null || ! command -v curl >/dev/null; then
    t_skip "http" "needs bin/dllm-server, node and curl"
    t_summary; exit
fi
# The tiny model: built once, and always used by the sanitizer build, whose
# unoptimised matmuls would make the default model take minutes.
tiny=$T_OUT/tiny.gguf
if [ ! -f "$tiny" ] && ! "$PY" tests/http/tiny_model.py "$tiny" > "$T_OUT/tiny.log" 2>&1; then
    rm -f "$tiny"
fi
model=$T_MODEL
[ -f "$model" ] || model=$tiny
if [ ! -f "$model" ]; then
    t_skip "http" "no $T_MODEL and the tiny model could not be built: $(tail -1 "$T_OUT/tiny.log")"
    t_summary; exit
fi

KEY=test-key-123
N_REQ=0
# req METHOD PATH [BODY] [curl args...]: sets CODE and BODY_FILE (headers in $T_OUT/h).
req() {
    local m=$1 p=$2 b=${3-}; shift 3 2>/dev/null || shift $#
    N_REQ=$((N_REQ + 1))
    BODY_FILE=$T_OUT/body.$N_REQ
    local args=(-s -o "$BODY_FILE" -D "$T_OUT/h" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $KEY" "$@")
    [ -n "$b" ] && args+=(-H 'Content-Type: application/json' --data-binary "$b")
    CODE=$(curl "${args[@]}" "http://127.0.0.1:$port$p")
}
# JSON checks are collected and run by one node process (check_json.mjs).
# jok200 NAME EXPR: the last reply is 200 and its JSON j satisfies EXPR.
jok200() { printf '%s\t%s\t200\t%s\t%s\n' "$1" "$CODE" "$BODY_FILE" "$2" >> "$CHECKS"; }
# is_error NAME STATUS [PARAM]: the last reply is STATUS with an OpenAI error
# object (naming PARAM when given).
is_error() {
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$CODE" "$2" "$BODY_FILE" \
        "j.error && typeof j.error.message === 'string' && 'type' in j.error && 'param' in j.error && 'code' in j.error ${3:+&& j.error.param === '$3'}" >> "$CHECKS"
}
run_json_checks() {
    node tests/http/check_json.mjs "$CHECKS" > "$CHECKS.out" 2>&1
    cat "$CHECKS.out"
    T_PASS=$((T_PASS + $(grep -c '^ok ' "$CHECKS.out")))
    T_FAIL=$((T_FAIL + $(grep -c '^FAIL ' "$CHECKS.out")))
    grep -qE '^(ok|FAIL) ' "$CHECKS.out" || t_fail "JSON checks ran" "$(tail -3 "$CHECKS.out")"
    : > "$CHECKS"
}
# sse_ok FILE: every data line is JSON or [DONE], and the last one is [DONE].
sse_ok() {
    node -e "
const t = require('fs').readFileSync('$1', 'utf8');
const data = t.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
if (!data.length || data[data.length - 1] !== '[DONE]') { console.log('no [DONE] at the end'); process.exit(1); }
for (const d of data.slice(0, -1)) JSON.parse(d);
" || { head -c 600 "$1"; return 1; }
}

# Checks over the last req's CODE, BODY and headers ($T_OUT/h).
body_is() { [ "$CODE" = "$1" ] && [ "$(cat "$BODY_FILE")" = "$2" ] || { echo "status $CODE body $(cat "$BODY_FILE")"; return 1; }; }
has_header() { [ "$CODE" = "$1" ] && grep -qi "$2" "$T_OUT/h" || { echo "status $CODE"; cat "$T_OUT/h"; return 1; }; }
has_error_header() { [ "$CODE" = "$1" ] && grep -qi "$2" "$T_OUT/h" || { echo "status $CODE"; cat "$T_OUT/h"; return 1; }; }
sse_has() { sse_ok "$1" || return 1; local f=$1; shift; for p in "$@"; do grep -qF "$p" "$f" || { echo "no $p"; return 1; }; done; }
chat_stream_ok() {
    sse_ok "$1" && grep -m1 '^data: {"id"' "$1" | grep -q '"role":"assistant"' && grep -q '^event: frame' "$1"
}
# same_text A B: two completion bodies with the same choices[0].text.
same_text() {
    node -e "
const fs = require('fs');
const a = JSON.parse(fs.readFileSync('$1', 'utf8')).choices[0].text, b = JSON.parse(fs.readFileSync('$2', 'utf8')).choices[0].text;
if (a !== b) { console.log(JSON.stringify(a) + ' vs ' + JSON.stringify(b)); process.exit(1); }
"
}
# A streamed canvas: the deltas add up to the spans' texts, the closing chunk
# carries canvas and spans, frames list every span.
canvas_stream_ok() {
    sse_ok "$1" && node -e "
const t = require('fs').readFileSync('$1', 'utf8');
const data = t.split('\\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)));
const frames = data.filter((d) => d.object === 'dllm.frame');
const chunks = data.filter((d) => d.object === 'text_completion');
const last = chunks.map((c) => c.choices[0]).filter((c) => c && c.finish_reason).pop();
const text = chunks.map((c) => (c.choices[0] ? c.choices[0].text : '')).join('');
const why = !frames.length ? 'no frames' : frames.some((f) => f.spans.length !== 2) ? 'frame spans' :
  !last || !last.canvas || last.canvas.length !== 3 ? 'no canvas in the closing chunk' :
  last.spans.join('') !== text ? 'deltas ' + JSON.stringify(text) + ' vs spans ' + JSON.stringify(last.spans) :
  last.canvas[1].text !== ' God created' ? 'given text changed' : '';
if (why) { console.log(why); process.exit(1); }
"
}
metrics_ok() {
    [ "$CODE" = 200 ] && grep -q '^dllm_requests_total{status="200"}' "$BODY_FILE" &&
        grep -q '^dllm_step_seconds_bucket{le="+Inf"}' "$BODY_FILE" && grep -q '^dllm_queue_depth' "$BODY_FILE" &&
        grep -q '^dllm_tokens_per_second' "$BODY_FILE"
}

# SIGTERM and the exit status, in this shell (a $(...) subshell cannot wait
# for the server).
stop_server() { kill -TERM "$T_SERVER_PID" 2>/dev/null; wait "$T_SERVER_PID"; T_STATUS=$?; }

run_checks() {
    local tag=$1
    req GET /health ""; t_check "$tag: GET /health 200 ok" body_is 200 '{"status":"ok"}'
    req GET / ""; t_check "$tag: GET / serves the page" has_header 200 'content-type: text/html'
    req GET /v1/models ""
    id=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$BODY_FILE','utf8')).data[0].id)")
    jok200 "$tag: GET /v1/models lists the model" "j.object === 'list' && j.data[0].object === 'model'"
    req GET "/v1/models/$id" ""; jok200 "$tag: GET /v1/models/{id}" "j.id === '$id'"

    req POST /v1/completions '{"prompt":"In the beginning God","max_tokens":8,"temperature":0}'
    jok200 "$tag: completion" "j.object === 'text_completion' && typeof j.choices[0].text === 'string' && ['stop','length'].includes(j.choices[0].finish_reason) && j.usage.total_tokens === j.usage.prompt_tokens + j.usage.completion_tokens && j.choices[0].logprobs === null"
    req POST /v1/completions '{"prompt":[[10,11,12],[13,14]],"max_tokens":4,"n":2,"echo":true,"logprobs":2}'
    jok200 "$tag: token-id prompts x n=2, echo, logprobs" "j.choices.length === 4 && j.choices.map(c => c.index).join() === '0,1,2,3' && j.choices[0].logprobs.tokens.length > 0 && j.choices[0].logprobs.top_logprobs[0] !== null"
    req POST /v1/completions '{"prompt":"The LORD is my","suffix":" shall not want.","max_tokens":6,"stop":["\n"]}'
    jok200 "$tag: completion with suffix (infill) and stop" "typeof j.choices[0].text === 'string'"
    req POST /v1/chat/completions '{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Who made the earth?"}]}],"max_completion_tokens":8,"steps":4,"block_length":4,"remasking":"random","seed":3}'
    jok200 "$tag: chat with extensions" "j.object === 'chat.completion' && j.choices[0].message.role === 'assistant' && typeof j.choices[0].message.content === 'string'"
    req POST /infill '{"input_prefix":"Blessed are the","input_suffix":" for they shall","input_extra":[{"filename":"a.txt","text":"x"}],"n_predict":6}'
    jok200 "$tag: /infill (llama.cpp shape)" "typeof j.content === 'string' && j.stop === true"

    # fill in the blanks: any number of spans anywhere; the answer keeps the given text
    req POST /v1/completions '{"canvas":[{"mask":3},{"text":"In the beginning"},{"mask":5},{"text":" and the earth."},{"mask":4}],"seed":4,"n":2,"temperature":0.7}'
    jok200 "$tag: canvas: spans filled, given text kept, text = the spans" "j.choices.length === 2 && j.choices.every(c => c.canvas.length === 5 && c.canvas[1].text === 'In the beginning' && c.canvas[1].mask === undefined && c.canvas[3].text === ' and the earth.' && c.canvas[0].mask === 3 && c.canvas[2].mask === 5 && c.canvas[4].mask === 4 && c.spans.length === 3 && c.spans[0] === c.canvas[0].text && c.spans[1] === c.canvas[2].text && c.spans[2] === c.canvas[4].text && c.text === c.spans.join('')) && j.usage.completion_tokens > 0"
    req POST /v1/completions '{"canvas":[{"text":"And God said"},{"mask":4}],"seed":9,"temperature":0}'
    local one=$BODY_FILE
    jok200 "$tag: canvas [text][mask] is a completion" "j.choices[0].spans.length === 1 && j.choices[0].canvas[0].text === 'And God said'"
    req POST /v1/completions '{"prompt":"And God said","max_tokens":4,"seed":9,"temperature":0}'
    t_check "$tag: canvas [text][mask] answers as the same prompt + max_tokens" same_text "$one" "$BODY_FILE"
    curl -sN -H "Authorization: Bearer $KEY" "http://127.0.0.1:$port/v1/completions" \
        -d '{"canvas":[{"mask":4},{"text":" God created"},{"mask":6}],"stream":true,"frames":true,"seed":2}' > "$T_OUT/s4"
    t_check "$tag: canvas stream: deltas, frames with every span, canvas at the end" canvas_stream_ok "$T_OUT/s4"
    req POST /v1/completions '{"canvas":[{"text":"no blank"}]}'; is_error "$tag: 400 canvas without a masked span" 400 canvas
    req POST /v1/completions '{"canvas":[{"text":"a"},{"image":"b"}]}'; is_error "$tag: 400 canvas: unknown segment type" 400 'canvas[1]'
    req POST /v1/completions '{"canvas":[{"text":"a"},{"mask":"4"}]}'; is_error "$tag: 400 canvas: wrong type" 400 'canvas[1].mask'
    req POST /v1/completions '{"canvas":[{"text":5},{"mask":4}]}'; is_error "$tag: 400 canvas: text not a string" 400 'canvas[0].text'
    req POST /v1/completions '{"canvas":"a [mask]"}'; is_error "$tag: 400 canvas not an array" 400 canvas
    req POST /v1/completions '{"canvas":[{"mask":4}],"prompt":"x"}'; is_error "$tag: 400 canvas with prompt" 400 canvas
    req POST /v1/completions '{"canvas":[{"mask":1000},{"text":"x"}]}'
    is_error "$tag: 400 canvas longer than the context" 400 canvas
    printf '%s\t%s\t400\t%s\t%s\n' "$tag: canvas longer than the context: code" "$CODE" "$BODY_FILE" "j.error.code === 'context_length_exceeded'" >> "$CHECKS"
    req POST /v1/completions '{"canvas":[{"mask":1000},{"mask":1000}]}'; is_error "$tag: 400 spans over the server's max tokens" 400 canvas
    req POST /v1/completions '{"canvas":[{"mask":0}]}'; is_error "$tag: 400 empty span" 400 'canvas[0].mask'
    req POST /v1/completions '{"prompt":"x","remasking":"mdlm"}'; is_error "$tag: 400 an MDLM sampler on a LLaDA model" 400 remasking
    req POST /v1/completions '{"prompt":"x","remasking":"analytic"}'; is_error "$tag: 400 a SEDD sampler on a LLaDA model" 400 remasking
    req POST /v1/completions '{"prompt":"x","t_eps":1.5}'; is_error "$tag: 400 t_eps out of range" 400 t_eps
    curl -sN -H "Authorization: Bearer $KEY" "http://127.0.0.1:$port/v1/completions" \
        -d '{"prompt":"And God said","max_tokens":8,"stream":true,"stream_options":{"include_usage":true}}' > "$T_OUT/s1"
    t_check "$tag: completion stream ends with [DONE], usage chunk" sse_has "$T_OUT/s1" '"usage":{' '"finish_reason":"'
    curl -sN -H "Authorization: Bearer $KEY" "http://127.0.0.1:$port/v1/chat/completions" \
        -d '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":8,"stream":true,"frames":true}' > "$T_OUT/s2"
    t_check "$tag: chat stream: role first, frames as named events" chat_stream_ok "$T_OUT/s2"
    curl -sN -H "Authorization: Bearer $KEY" "http://127.0.0.1:$port/infill" \
        -d '{"input_prefix":"In the","input_suffix":"earth.","n_predict":4,"stream":true}' > "$T_OUT/s3"
    t_check "$tag: /infill stream ends with stop true" grep -q '"stop":true' "$T_OUT/s3"

    # errors, each with an OpenAI error body
    req POST /v1/completions '{"prompt": "x",'; is_error "$tag: 400 malformed JSON" 400
    req POST /v1/completions '{"prompt":"x","max_tokens":"many"}'; is_error "$tag: 400 wrong type names the field" 400 max_tokens
    req POST /v1/completions '{"prompt":"x","temperature":-1}'; is_error "$tag: 400 out of range" 400 temperature
    req POST /v1/completions '{"prompt":"x","n":1,"best_of":3}'; is_error "$tag: 400 best_of > n" 400 best_of
    req POST /v1/chat/completions '{"messages":[{"role":"wizard","content":"x"}]}'; is_error "$tag: 400 bad role" 400 messages.role
    req POST /v1/completions $'{"prompt":"\xff\xfe"}'; is_error "$tag: 400 invalid UTF-8" 400
    req POST /v1/completions '{"prompt":[99999999]}'; is_error "$tag: 400 token id outside the vocabulary" 400 prompt
    req POST /v1/completions '{"prompt":"x","max_tokens":100000000}'; is_error "$tag: 400 max_tokens over the limit" 400 max_tokens
    req POST /v1/completions '{"prompt":"x","model":"no-such-model"}'; is_error "$tag: 404 unknown model" 404 model
    req GET /v1/nothing ""; is_error "$tag: 404 unknown route" 404
    req GET /../etc/passwd ""; is_error "$tag: 404 path tricks" 404
    req GET /v1/completions ""; is_error "$tag: 405 wrong method (Allow header)" 405; t_check "$tag: 405 wrong method (Allow header) header" has_error_header 405 '^allow: POST'
    N_REQ=$((N_REQ + 1)); BODY_FILE=$T_OUT/body.$N_REQ; CODE=$(curl -s -o "$BODY_FILE" -w '%{http_code}' "http://127.0.0.1:$port/v1/models")
    is_error "$tag: 401 without API key" 401
    N_REQ=$((N_REQ + 1)); BODY_FILE=$T_OUT/body.$N_REQ; CODE=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -H 'Authorization: Bearer wrong-key-123' "http://127.0.0.1:$port/v1/completions" -d '{"prompt":"x"}')
    is_error "$tag: 401 wrong API key" 401
    head -c 70000 /dev/zero | tr '\0' a | sed 's/^/{"prompt":"/; s/$/"}/' > "$T_OUT/big.json"
    N_REQ=$((N_REQ + 1)); BODY_FILE=$T_OUT/body.$N_REQ; CODE=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -H "Authorization: Bearer $KEY" "http://127.0.0.1:$port/v1/completions" --data-binary @"$T_OUT/big.json")
    is_error "$tag: 413 body too large" 413
    N_REQ=$((N_REQ + 1)); BODY_FILE=$T_OUT/body.$N_REQ; CODE=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Transfer-Encoding: chunked' "http://127.0.0.1:$port/v1/completions" --data-binary @"$T_OUT/big.json")
    is_error "$tag: 413 body too large (chunked, no length)" 413
    # two streams from one client with max_streams_per_client 1: the second is 429
    curl -sN -H "Authorization: Bearer $KEY" "http://127.0.0.1:$port/v1/completions" -d '{"prompt":"x","max_tokens":256,"steps":256,"stream":true}' > /dev/null &
    local bg=$!
    sleep 0.5
    req POST /v1/completions '{"prompt":"x","max_tokens":4,"stream":true}'
    is_error "$tag: 429 too many streams, Retry-After" 429; t_check "$tag: 429 too many streams, Retry-After header" has_error_header 429 '^retry-after:'
    # the client of the long stream leaves: its request is cancelled
    kill "$bg" 2>/dev/null; wait "$bg" 2>/dev/null
    local open=1
    for _ in $(seq 1 40); do
        open=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^dllm_open_requests / {print $2}')
        [ "$open" = 0 ] && break
        sleep 0.25
    done
    t_check "$tag: a client leaving mid-stream cancels its request" test "$open" = 0
    # CORS
    CODE=$(curl -s -o /dev/null -D "$T_OUT/h" -w '%{http_code}' -X OPTIONS -H 'Origin: http://example.test' \
        -H 'Access-Control-Request-Method: POST' "http://127.0.0.1:$port/v1/chat/completions")
    t_check "$tag: CORS preflight" has_header 204 '^access-control-allow-origin: http://example.test'
    req GET /metrics ""
    t_check "$tag: /metrics (Prometheus text)" metrics_ok

    node tests/http/openai_client.mjs "$port" "$KEY" > "$T_OUT/sdk-$tag.log" 2>&1
    sed "s/^\(ok  \|FAIL\) /\1 $tag: /" "$T_OUT/sdk-$tag.log" | grep -E '^(ok|FAIL) ' | while read -r line; do echo "$line"; done
    T_PASS=$((T_PASS + $(grep -c '^ok ' "$T_OUT/sdk-$tag.log")))
    T_FAIL=$((T_FAIL + $(grep -c '^FAIL ' "$T_OUT/sdk-$tag.log")))
    grep -q '^ok ' "$T_OUT/sdk-$tag.log" || { t_fail "$tag: openai SDK client ran" "$(tail -5 "$T_OUT/sdk-$tag.log")"; }
}

for srv in bin/dllm-server bin/dllm-server-asan; do
    tag=$(basename "$srv")
    if [ ! -x "$srv" ]; then t_skip "$tag" "not built (make test builds it)"; continue; fi
    port=$(t_free_port)
    log=$T_OUT/$tag.log
    m=$model
    [ "$tag" = dllm-server-asan ] && [ -f "$tiny" ] && m=$tiny
    echo "    $tag on $m"
    if ! t_start_server "$srv" "$port" "$log" --model "$m" --api-key "$KEY" --cors-origin http://example.test \
        --max-body-bytes 65536 --max-streams-per-client 1 --shutdown-grace-ms 2000; then
        t_fail "$tag: starts and answers /health" "$(tail -5 "$log")"
        continue
    fi
    run_checks "$tag"
    run_json_checks
    stop_server
    t_check "$tag: SIGTERM exits 0" test "$T_STATUS" = 0
    t_check "$tag: one log line per request" grep -qE '^POST /v1/completions 200 tokens=[0-9]+ [0-9.]+ms$' "$log"
    if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
        t_fail "$tag: no sanitizer reports" "$(grep -m3 -E 'ERROR|runtime error' "$log")"
    else
        t_ok "$tag: no sanitizer reports"
    fi
done

# Queue full: one canvas at a time and one waiting; a burst gets 429s, and
# every other request completes.
port=$(t_free_port)
rm -f "$T_OUT/burst"
if t_start_server bin/dllm-server "$port" "$T_OUT/queue.log" --model "$model" --max-queue 1 --max-active 1 --log-requests false; then
    pids=()
    for i in $(seq 1 8); do
        curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/v1/completions" -d '{"prompt":"x","max_tokens":32,"steps":32}' >> "$T_OUT/burst" &
        pids+=($!)
    done
    wait "${pids[@]}"
    n429=$(grep -c '^429$' "$T_OUT/burst"); n200=$(grep -c '^200$' "$T_OUT/burst")
    t_check "queue full: 429s and 200s only ($n200 x 200, $n429 x 429)" test "$n429" -ge 1 -a "$((n429 + n200))" = 8
    stop_server
    t_check "queue server: SIGTERM exits 0" test "$T_STATUS" = 0
else
    t_fail "queue server starts" "$(tail -3 "$T_OUT/queue.log")"
fi

# 503 while loading: a model path that is a FIFO blocks the loader until a
# writer comes; meanwhile /health and generation answer 503.
rm -f "$T_OUT/slow.gguf"; mkfifo "$T_OUT/slow.gguf"
port=$(t_free_port)
bin/dllm-server --port "$port" --model "$T_OUT/slow.gguf" > "$T_OUT/loading.log" 2>&1 &
pid=$!
for _ in $(seq 1 40); do curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
N_REQ=$((N_REQ + 1)); BODY_FILE=$T_OUT/body.$N_REQ; CODE=$(curl -s -o "$BODY_FILE" -w '%{http_code}' "http://127.0.0.1:$port/health")
t_check "503 while loading: /health says loading" body_is 503 '{"status":"loading"}'
N_REQ=$((N_REQ + 1)); BODY_FILE=$T_OUT/body.$N_REQ; CODE=$(curl -s -o "$BODY_FILE" -w '%{http_code}' "http://127.0.0.1:$port/v1/completions" -d '{"prompt":"x"}')
is_error "503 while loading: completions" 503
# A writer that closes at once: the loader reads an empty file and fails.
: > "$T_OUT/slow.gguf"
wait "$pid"; rc=$?
t_check "a model that fails to load: exit 1 with its name" test "$rc" = 1 -a -n "$(grep slow.gguf "$T_OUT/loading.log")"
rm -f "$T_OUT/slow.gguf"
run_json_checks
t_summary
