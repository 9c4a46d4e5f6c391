#!/usr/bin/env bash
# Side by side with llama.cpp on the same machine and the same GGUF: one
# bidirectional forward over a whole canvas with the logits of every
# position, dllm's CPU engine (bin/bench_forward) against llama.cpp
# (tests/bench/llamacpp_forward.c), on a 12-layer LLaDA-shaped model with
# random weights (tests/bench/make_llada_gguf.py) in F16 and Q8_0, canvas
# 128 and 256, 2 threads each. Also compares the two engines' logits (a
# second, independent check of dllm's LLaDA GGUF reading: RoPE pair layout,
# bidirectional attention, the output head), and both against float64
# logits of the file's weights, which shows where a difference comes from.
#
# llama.cpp is not a dependency of dllm: its prebuilt library
# (@node-llama-cpp/linux-x64) and its source (the git bundle inside
# node-llama-cpp, for llama.h) are fetched with `npm pack` into a cache
# outside the tree ($DLLM_BENCH_CACHE, default ~/.cache/dllm-bench) and
# never enter package.json. Without npm, the registry or git, llama.cpp's
# side is skipped with a notice and dllm's figures are still printed.
#
# Then per generated token (DLLM_BENCH_PART=gen runs only this, =forward
# only the above): dllm generates through its canvas scheduler
# (bin/bench_sched --cache-only --prompt 64: one request, prompt 64 token
# ids + gen 128 and 256, block 32, steps = gen, low_confidence, greedy)
# with no cache, the prefix cache and the dual cache, timed end to end;
# llama.cpp's diffusion example runs one full forward of the whole canvas
# per step and keeps no cache, so its cost per generated token is
# steps x (its forward at the exact canvas length, 64 + gen, timed here) /
# gen. The sampling work of its example is left out, which favours it.
#
# Environment: DLLM_BENCH_THREADS (2), DLLM_BENCH_ROUNDS (3: the engines
# alternate, each round runs DLLM_BENCH_RUNS (3) timed forwards after a
# warm-up; the figure is the median of the per-round medians),
# DLLM_LLAMACPP_VERSION (3.22.1, the npm version of both packages),
# DLLM_BENCH_PART (all), DLLM_BENCH_GEN ("128 256": gen lengths),
# DLLM_BENCH_GEN_ROUNDS (1: dllm runs per setting, median taken).
set -u
cd "$(dirname "$0")/../.."
threads=${DLLM_BENCH_THREADS:-2}
rounds=${DLLM_BENCH_ROUNDS:-3}
runs=${DLLM_BENCH_RUNS:-3}
part=${DLLM_BENCH_PART:-all}
# dllm's weights: f32 products always, BF16 products where the CPU has them
# (engine/cpu/bf16.c; auto picks them for the Q8_0 file, not the F16 one)
wmodes=f32
grep -q avx512_bf16 /proc/cpuinfo && wmodes="f32 bf16"
gens=${DLLM_BENCH_GEN:-128 256}
gen_rounds=${DLLM_BENCH_GEN_ROUNDS:-1}
version=${DLLM_LLAMACPP_VERSION:-3.22.1}
cache=${DLLM_BENCH_CACHE:-$HOME/.cache/dllm-bench}/node-llama-cpp-$version
out=tests/out/bench/llamacpp
py=/usr/bin/python3
mkdir -p "$out"

if [ ! -x bin/bench_forward ]; then
    echo "llamacpp_bench: bin/bench_forward missing (make bench builds it); skipped"
    exit 0
fi

# ------------------------------------------------------------ the models
for t in f16 q8_0; do
    f=$out/llada-12l-$t.gguf
    if [ ! -s "$f" ]; then
        $py tests/bench/make_llada_gguf.py "$f.tmp" "$t" && mv "$f.tmp" "$f" ||
            { echo "llamacpp_bench: could not write $f; skipped"; exit 0; }
    fi
done

# ------------------------------------------------------------ llama.cpp
# Prints why it is unavailable, or nothing; sets lib and prog.
lib=$cache/x64/package/bins/linux-x64
prog=$cache/llamacpp_forward
fetch_llamacpp() {
    command -v npm >/dev/null || { echo "npm not found"; return; }
    command -v git >/dev/null || { echo "git not found"; return; }
    command -v cc >/dev/null || { echo "cc not found"; return; }
    mkdir -p "$cache" || { echo "cannot create $cache"; return; }
    local p
    for p in @node-llama-cpp/linux-x64 node-llama-cpp; do
        local tgz
        tgz=$cache/$(echo "$p" | sed 's/^@//; s/\//-/')-$version.tgz
        if [ ! -s "$tgz" ]; then
            (cd "$cache" && timeout 300 npm pack "$p@$version" >/dev/null 2>npm.err) ||
                { echo "npm pack $p@$version failed: $(grep -m 1 -i 'err' "$cache/npm.err")"; return; }
        fi
    done
    if [ ! -d "$lib" ]; then
        rm -rf "$cache/x64" && mkdir -p "$cache/x64" && tar xzf "$cache/node-llama-cpp-linux-x64-$version.tgz" -C "$cache/x64" ||
            { echo "cannot unpack the linux-x64 package"; return; }
    fi
    if [ ! -s "$cache/include/llama.h" ]; then
        mkdir -p "$cache/nlc" "$cache/include" &&
            tar xzf "$cache/node-llama-cpp-$version.tgz" -C "$cache/nlc" package/llama/gitRelease.bundle \
                package/llama/llama.cpp.info.json || { echo "no llama/gitRelease.bundle in node-llama-cpp"; return; }
        rm -rf "$cache/src" && git init -q "$cache/src" &&
            git -C "$cache/src" fetch -q "$cache/nlc/package/llama/gitRelease.bundle" HEAD &&
            git -C "$cache/src" archive FETCH_HEAD include ggml/include | tar x -C "$cache/src" ||
            { echo "cannot read llama.h from the bundle"; return; }
        cp "$cache"/src/include/*.h "$cache"/src/ggml/include/*.h "$cache/include/"
    fi
    # The library names carry llama.cpp's release name (v0.5.0 in 3.22.1).
    local so
    so=$(cd "$lib" 2>/dev/null && ls libllama.v*.so 2>/dev/null | head -n 1)
    [ -n "$so" ] || { echo "no libllama in the linux-x64 package"; return; }
    local ggml=${so/libllama/libggml}
    if [ ! -x "$prog" ] || [ tests/bench/llamacpp_forward.c -nt "$prog" ]; then
        cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -I"$cache/include" -o "$prog" \
            tests/bench/llamacpp_forward.c -L"$lib" -l:"$so" -l:"$ggml" -l:libggml-base.so \
            -Wl,-rpath,"$lib" 2>"$cache/cc.err" || { echo "compile failed: $(head -n 3 "$cache/cc.err")"; return; }
    fi
}
why=$(fetch_llamacpp)
if [ -n "$why" ]; then
    echo "llamacpp_bench: llama.cpp side skipped: $why"
    have_lc=0
else
    have_lc=1
    tag=$(sed -n 's/.*"tag": *"\([^"]*\)".*/\1/p' "$cache/nlc/package/llama/llama.cpp.info.json")
    commit=$(git -C "$cache/src" rev-parse --short FETCH_HEAD 2>/dev/null)
    echo "llama.cpp: npm @node-llama-cpp/linux-x64@$version (prebuilt libllama, llama.cpp $tag, source commit $commit)"
fi

# ------------------------------------------------------------ per forward
forward_part() {
    echo "per forward: $rounds rounds x $runs forwards"
    printf '%-6s %-7s %5s %16s %16s %13s  %s\n' type weights L "dllm ms" "llama.cpp ms" ratio \
        "logits vs llama.cpp: max|diff| / max|logit|, argmax agreement"
    for t in f16 q8_0; do
        model=$out/llada-12l-$t.gguf
        : > "$out/$t.lc.txt"
        for w in $wmodes; do
            : > "$out/$t.dllm-$w.txt"
        done
        for r in $(seq "$rounds"); do
            for w in $wmodes; do
                bin/bench_forward "$model" --threads "$threads" --runs "$runs" --weights "$w" \
                    --out "$out/dllm-$t-$w" 128 256 >> "$out/$t.dllm-$w.txt" 2>&1
            done
            if [ $have_lc = 1 ]; then
                "$prog" "$model" --backends "$lib" --threads "$threads" --runs "$runs" --out "$out/lc-$t" 128 256 \
                    >> "$out/$t.lc.txt" 2>&1
            fi
        done
        for w in $wmodes; do
            for L in 128 256; do
                d=$(grep "^dllm L=$L " "$out/$t.dllm-$w.txt" | field median_ms | median)
                dbest=$(grep "^dllm L=$L " "$out/$t.dllm-$w.txt" | field min_ms | sort -n | head -n 1)
                l=skipped lbest= ratio=- agree=-
                if [ $have_lc = 1 ]; then
                    l=$(grep "^llama.cpp L=$L " "$out/$t.lc.txt" | field median_ms | median)
                    lbest=$(grep "^llama.cpp L=$L " "$out/$t.lc.txt" | field min_ms | sort -n | head -n 1)
                    [ -n "$l" ] && [ -n "$d" ] && ratio=$(awk -v a="$l" -v b="$d" -v c="$lbest" -v e="$dbest" \
                        'BEGIN {printf "%.2f (%.2f)", a / b, c / e}')
                    agree=$($py tests/bench/compare_logits.py "$out/dllm-$t-$w.$L.f32" "$out/lc-$t.$L.f32" "$L" 2>&1)
                fi
                printf '%-6s %-7s %5d %16s %16s %13s  %s\n' "$t" "$w" "$L" "${d:-failed} (${dbest:--})" \
                    "${l:-failed} (${lbest:--})" "$ratio" "$agree"
            done
        done
    done
    echo "ms: median of the rounds' medians (best single forward); ratio = llama.cpp ms / dllm ms, above 1: dllm faster"
    echo "raw lines: $out/*.dllm-*.txt, $out/*.lc.txt"

    # Which engine a difference comes from: both against float64 logits of the
    # file's own weights (tests/bench/ref_llada_logits.py), at L=128.
    for t in f16 q8_0; do
        ref=$out/ref-$t.128.f32
        $py tests/bench/ref_llada_logits.py "$out/llada-12l-$t.gguf" 128 "$ref" 2>/dev/null || continue
        line="float64 reference, $t L=128:"
        for w in $wmodes; do
            line="$line dllm $w $($py tests/bench/compare_logits.py "$ref" "$out/dllm-$t-$w.128.f32" 128 2>&1);"
        done
        [ $have_lc = 1 ] && line="$line llama.cpp $($py tests/bench/compare_logits.py "$ref" "$out/lc-$t.128.f32" 128 2>&1)"
        echo "$line"
    done

    # A control that must fail: dllm with causal attention against llama.cpp's
    # bidirectional logits differs by far more than the agreement above.
    if [ $have_lc = 1 ] && [ -x bin/dllm-cli ]; then
        ids=$(awk 'BEGIN {for (i = 0; i < 128; i++) printf "%d ", (i * 7919 + 13) % 31999}')
        if bin/dllm-cli logits --model "$out/llada-12l-f16.gguf" --ids "$ids" --causal --threads "$threads" \
            --out "$out/dllm-causal-f16.128.f32" 2>/dev/null; then
            echo "control, dllm causal vs llama.cpp bidirectional, f16 L=128: $($py tests/bench/compare_logits.py \
                "$out/dllm-causal-f16.128.f32" "$out/lc-f16.128.f32" 128 2>&1)"
        fi
    fi
}

# ------------------------------------------------------------ per token
gen_part() {
    echo
    echo "per generated token: prompt 64 + gen G, block 32, steps = G, low_confidence, greedy, one request"
    printf '%-6s %-7s %5s %7s %11s %11s %11s %11s  %s\n' type weights gen canvas "dllm none" "dllm prefix" \
        "dllm dual" "llama.cpp" "ratio llama.cpp / dllm: dual, prefix, none"
    local t g L w
    for t in f16 q8_0; do
        local model=$out/llada-12l-$t.gguf
        for g in $gens; do
            L=$((64 + g))
            local lc=skipped lct=
            if [ $have_lc = 1 ]; then
                "$prog" "$model" --backends "$lib" --threads "$threads" --runs "$runs" "$L" \
                    > "$out/gen-$t-$g.lc.txt" 2>&1
                lc=$(grep "^llama.cpp L=$L " "$out/gen-$t-$g.lc.txt" | field median_ms | median)
                [ -n "$lc" ] && lct=$(awk -v f="$lc" -v s="$g" -v g="$g" 'BEGIN {printf "%.2f", f * s / g}')
            fi
            for w in $wmodes; do
                local f=$out/gen-$t-$g-$w.dllm.txt r
                : > "$f"
                for r in $(seq "$gen_rounds"); do
                    bin/bench_sched "$model" --cache-only --prompt 64 --cgen "$g" --csteps "$g" --block 32 --cn 1 \
                        --threads "$threads" --weights "$w" >> "$f" 2>&1
                done
                # ms per generated token: the last column of the cache table
                local none prefix dual ratio=-
                none=$(awk '$1 == "none" {print $NF}' "$f" | median)
                prefix=$(awk '$1 == "prefix" {print $NF}' "$f" | median)
                dual=$(awk '$1 == "dual" {print $NF}' "$f" | median)
                [ -n "$lct" ] && [ -n "$dual" ] && [ -n "$prefix" ] && [ -n "$none" ] &&
                    ratio=$(awk -v a="$lct" -v b="$dual" -v c="$prefix" -v d="$none" \
                        'BEGIN {printf "%.2f, %.2f, %.2f", a / b, a / c, a / d}')
                printf '%-6s %-7s %5d %7d %11s %11s %11s %11s  %s\n' "$t" "$w" "$g" "$L" "${none:-failed}" \
                    "${prefix:-failed}" "${dual:-failed}" "${lct:-$lc}" "$ratio"
            done
        done
    done
    echo "ms per generated token: dllm = wall time of the whole generation / gen (median of $gen_rounds run(s));"
    echo "llama.cpp = steps x median forward at the canvas length / gen (steps = gen: one forward per token);"
    echo "ratio = llama.cpp / dllm, the goal is >= 2 with a cache. Raw: $out/gen-*.txt"
}

median() { sort -n | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]}'; }
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
echo "machine: $(nproc) cores, load average $(cut -d ' ' -f 1-3 /proc/loadavg) before; $threads threads each"
[ "$part" = gen ] || forward_part
[ "$part" = forward ] || gen_part
echo "load average $(cut -d ' ' -f 1-3 /proc/loadavg) after"
exit 0
