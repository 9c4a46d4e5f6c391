#!/usr/bin/env bash
# Installs what dllm needs to build, run and test on Debian 12, idempotently:
# Debian packages only when one is missing, npm packages from the lock file.
# Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
    build-essential pkg-config git ca-certificates curl
    libmicrohttpd-dev libcjson-dev libuv1-dev libopenblas-dev  # server and CPU engine
    clang libclang-rt-14-dev                                    # libFuzzer harnesses
    python3 python3-numpy python3-torch                         # reference numerics, training
    nodejs npm                                                  # real clients (openai SDK), browser test
    chromium chromium-driver                                    # headless browser test
    bible-kjv                                                   # training corpus, tokenizer benchmark text
    wrk                                                         # HTTP load figures
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

missing=()
for p in "${PKGS[@]}"; do
    # a Node.js that did not come from Debian (e.g. NodeSource) already provides node and npm
    if { [ "$p" = nodejs ] || [ "$p" = npm ]; } && command -v node >/dev/null && command -v npm >/dev/null; then
        continue
    fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "install-deps: Debian packages present"
fi

if [ -f package-lock.json ]; then
    if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        echo "install-deps: npm ci"
        npm ci --no-audit --no-fund
    else
        echo "install-deps: node_modules up to date"
    fi
fi
