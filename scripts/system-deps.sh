#!/usr/bin/env bash
# Installs the system packages the end-to-end tests need, when we are allowed to (root).
# Everything else livecast needs comes from PyPI into .venv.
set -euo pipefail
# Browser tests need chromium; benchmarks/bench_origin.py also wants nginx and wrk
# (`scripts/system-deps.sh bench`).
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ "${1:-}" = "bench" ]; then
  command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "note: ${need[*]} missing and not root; browser tests will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
