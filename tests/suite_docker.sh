#!/usr/bin/env bash
# The Docker files cannot be built here (no Docker engine), so check what can
# be checked: every path they COPY from the build context exists, the make
# targets they run exist, and the compose file names Dockerfiles that exist.
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
for df in docker/Dockerfile docker/Dockerfile.cuda; do
    missing=""
    # COPY lines without --from: every source path is relative to the repo root
    while read -r line; do
        set -- $line
        shift
        args=("$@")
        n=${#args[@]}
        for ((i = 0; i < n - 1; i++)); do
            src=${args[$i]}
            case "$src" in --*) continue ;; esac
            [ -e "$src" ] || missing="$missing $src"
        done
    done < <(grep -E '^COPY ' "$df" | grep -v -- '--from=')
    if [ -z "$missing" ]; then t_ok "$df: COPY sources exist"; else t_fail "$df: COPY sources exist" "missing:$missing"; fi
    for target in $(grep -oE 'make [^&]*' "$df" | grep -oE '\b(all|test|run|bench)\b' | sort -u); do
        t_check "$df: make target $target exists" grep -qE "^$target:" Makefile
    done
done
# The build stage sees only what it copied before `RUN make`: lay those paths
# out in a scratch folder and ask make (dry run) whether it could build there.
for df in docker/Dockerfile docker/Dockerfile.cuda; do
    ctx=$(mktemp -d)
    awk '/^RUN make/ {exit} /^COPY / && !/--from=/ {print}' "$df" | while read -r _ src dst; do
        [ -e "$src" ] && mkdir -p "$ctx/$(dirname "$src")" && cp -r "$src" "$ctx/$src"
    done
    if out=$(make -C "$ctx" -n all 2>&1); then t_ok "$df: the build stage has what make all needs"
    else t_fail "$df: the build stage has what make all needs" "$(echo "$out" | grep -m2 -i 'error\|no rule')"; fi
    rm -rf "$ctx"
done
for f in $(grep -oE 'dockerfile: *[^ ]+' docker/compose.yaml | awk '{print $2}'); do
    t_check "compose names $f" test -f "$f"
done
t_summary
