#!/usr/bin/env bash
# Set up and run the whole test suite: lint, format, types, layer contracts, then pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test || exit 1
status=0
step() { echo "== $*"; "$@" || status=1; }
step .venv/bin/ruff check server tests bench
step .venv/bin/ruff format --check server tests bench
step .venv/bin/mypy
step .venv/bin/lint-imports --no-cache
# -- the VS Code extension: npm ci, typecheck, lint, unit tests, bundle, .vsix, and the
# end-to-end test in code-server driven by Chromium (extension/scripts/check.sh says more)
step extension/scripts/check.sh
# --
echo "== pytest"
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  rc=1
fi
[ "$rc" -ne 0 ] && status=$rc
exit $status
