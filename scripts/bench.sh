#!/usr/bin/env bash
# `make bench`: run every benchmark in bench/ one after the other (they print their figures).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh >/dev/null
for script in bench/bench_*.py; do
  printf '\033[1m==> %s\033[0m\n' "$script"
  PYTHONPATH=. .venv/bin/python "$script"
done
