#!/usr/bin/env bash
# Every check of the VS Code extension, as CI runs them (scripts/test.sh calls this):
# npm ci, typecheck, lint, unit tests, the esbuild bundle, the .vsix, then the end-to-end
# test in a real VS Code (code-server) driven by Chromium.
#
#   extension/scripts/check.sh            all of it
#   HEXAD_E2E=0 extension/scripts/check.sh  everything but the end-to-end test
#
# The end-to-end harness (code-server from npm, Debian's chromium) is cached under
# <repo>/.cache/code-server; the first run installs it (about a minute and a half here).
# It needs the project's .venv (scripts/setup.sh) for the server. It is skipped only when
# its harness truly cannot be installed (not root and no sudo for apt-get); any other
# failure fails the check.
set -uo pipefail
cd "$(dirname "$0")/.."
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

status=0
step() {
  echo "== extension: $*"
  "$@" || { echo "== extension: FAILED: $*" >&2; status=1; }
}

# npm ci gives the exact tree of package-lock.json; nothing else runs without it
echo "== extension: npm ci"
if ! npm ci --no-progress >/tmp/hexad-npm-ci.$$ 2>&1; then
  cat /tmp/hexad-npm-ci.$$ >&2
  rm -f /tmp/hexad-npm-ci.$$
  echo "== extension: FAILED: npm ci" >&2
  exit 1
fi
grep -v '^npm warn install-scripts' /tmp/hexad-npm-ci.$$ || true
rm -f /tmp/hexad-npm-ci.$$

step npm run --silent typecheck
step npm run --silent lint
step npm run --silent test
step npm run --silent build
step npm run --silent package
if [ -f hexad.vsix ]; then
  echo "== extension: hexad.vsix is $(wc -c <hexad.vsix) bytes"
fi

if [ "${HEXAD_E2E:-1}" = "0" ]; then
  echo "== extension: e2e not run (HEXAD_E2E=0)"
elif [ "$status" -ne 0 ]; then
  echo "== extension: e2e not run: an earlier check failed" >&2
else
  echo "== extension: e2e (code-server + chromium)"
  node scripts/e2e.mjs --screenshots "${HEXAD_E2E_SCREENSHOTS:-../.cache/e2e-screenshots}"
  rc=$?
  if [ "$rc" -eq 77 ]; then
    echo "== extension: e2e SKIPPED (the reason is above)"
  elif [ "$rc" -ne 0 ]; then
    echo "== extension: FAILED: e2e" >&2
    status=1
  fi
fi
exit $status
