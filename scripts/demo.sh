#!/usr/bin/env bash
# Set Hexad up and run its main job on a real workspace with the embedded defaults:
# index the workspace, answer `callers`, draw the repository map, search memory, propose a
# verified rename (its diff, checks and calibrated confidence), plan a move (validated
# against the index; --dry-run runs nothing).
# Usage: scripts/demo.sh [WORKSPACE]   (default: Django's source, installed from PyPI
#        into .cache/demo — a real codebase of 885 files; nothing is committed)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ -n "${1:-}" ]; then
  ws=$(cd "$1" && pwd)
  symbol=${2:-}
else
  ws="$PWD/.cache/demo/django-src"
  if [ ! -d "$ws/django" ]; then
    rm -rf .cache/demo/wheel
    .venv/bin/python -m pip install --quiet --no-deps --target .cache/demo/wheel "django==5.2.*"
    mkdir -p "$ws" && cp -r .cache/demo/wheel/django "$ws/"
  fi
  symbol=django.utils.crypto.get_random_string
fi
set -x
.venv/bin/hexad index "$ws"
if [ -n "$symbol" ]; then
  .venv/bin/hexad callers "$symbol" -w "$ws"
  .venv/bin/hexad callees "$symbol" -w "$ws"
fi
.venv/bin/hexad map --tokens 1024 -w "$ws"
# semantic memory: chunks synced and embedded with the workspace's own model, then a
# question answered by words and meaning
.venv/bin/hexad memory stats -w "$ws"
.venv/bin/hexad memory search "${QUERY:-generate a random secret string}" -k 5 -w "$ws" --no-refresh
# a verified proposal: the rename's diff and its checks (nothing is written without --apply)
if [ -n "$symbol" ]; then
  .venv/bin/hexad propose --rename "$symbol" "${symbol##*.}_v2" --no-tests -w "$ws"
fi
# a plan: moving the symbol to a new module, every import following, validated first
if [ -n "$symbol" ] && [ -z "${1:-}" ]; then
  .venv/bin/hexad plan --move "$symbol" django/utils/random_strings.py --dry-run -w "$ws"
fi
