#!/usr/bin/env bash
# The end-to-end test harness: a real VS Code (code-server, from the npm registry) and
# Debian's Chromium, installed once into a cache outside the repository.
#
#   extension/scripts/code-server.sh          install if missing; print the code-server path
#   HEXAD_CODE_SERVER_CACHE=DIR ...           cache folder (default <repo>/.cache/code-server,
#                                             which git ignores)
#
# code-server's own postinstall downloads ripgrep from GitHub, which is not reachable
# here: its VS Code dependencies are installed without scripts, the native modules
# rebuilt, and Debian's rg put where @vscode/ripgrep looks for it.
set -euo pipefail
VERSION="${HEXAD_CODE_SERVER_VERSION:-4.100.3}"  # 4.100.x runs on Node 20 (later ones need Node 24)
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${HEXAD_CODE_SERVER_CACHE:-$REPO/.cache/code-server}"
DIR="$CACHE/$VERSION"
BIN="$DIR/node_modules/code-server/out/node/entry.js"
STAMP="$DIR/.installed"

if [ -f "$STAMP" ] && [ -x /usr/bin/chromium ] && command -v rg >/dev/null; then
  echo "$BIN"
  exit 0
fi

log() { echo "code-server.sh: $*" >&2; }
# node-gyp must use the headers on this machine, never download them
NODE_HEADERS="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
export npm_config_nodedir="${npm_config_nodedir:-$NODE_HEADERS}"
gyp() { node "$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js" "$@"; }

need_apt=()
for pkg in chromium ripgrep libkrb5-dev libxkbfile-dev libsecret-1-dev libx11-dev pkg-config \
  build-essential python3; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    log "needs Debian packages ${need_apt[*]} and cannot install them (not root)"
    exit 3
  fi
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  log "installing ${need_apt[*]}"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${need_apt[@]}" >&2
fi

if [ ! -f "$STAMP" ]; then
  rm -rf "$DIR"
  mkdir -p "$DIR"
  cd "$DIR"
  export npm_config_unsafe_perm=true npm_config_yes=true npm_config_audit=false \
    npm_config_fund=false npm_config_update_notifier=false
  log "npm install code-server@$VERSION (no scripts) into $DIR"
  echo '{"name":"hexad-code-server-harness","private":true}' > package.json
  npm install --no-save --ignore-scripts "code-server@$VERSION" >&2
  VS="$DIR/node_modules/code-server/lib/vscode"
  (
    cd "$VS"
    log "installing VS Code's own dependencies"
    npm install --omit=dev --ignore-scripts >&2
    npm rebuild kerberos node-pty @parcel/watcher >&2 || true
    # npm >= 11.19 runs no dependency's install script unless allowed: build every native
    # module still without its binary (spdlog, native-watchdog, ... ) with node-gyp
    for gypfile in node_modules/*/binding.gyp node_modules/@*/*/binding.gyp; do
      mod="$(dirname "$gypfile")"
      case "$mod" in *windows*) continue ;; esac
      ls "$mod"/build/Release/*.node >/dev/null 2>&1 && continue
      log "building $mod"
      (cd "$mod" && gyp rebuild >&2)
    done
    mkdir -p node_modules/@vscode/ripgrep/bin
    cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
    ln -sfn node_modules node_modules.asar
    [ -e bin/remote-cli/code-server ] || ln -s code-linux.sh bin/remote-cli/code-server
    [ -e bin/helpers/browser.sh ] || ln -s browser-linux.sh bin/helpers/browser.sh
    cd extensions
    log "installing the built-in extensions' dependencies"
    npm install --omit=dev >&2
  )
  (cd "$DIR" && npm rebuild argon2 >&2) || true
  if ! node -e 'require(process.argv[1])' "$DIR/node_modules/argon2" 2>/dev/null; then
    # npm ≥ 11.19 skips dependencies' install scripts: build it the way its script would
    (cd "$DIR/node_modules/argon2" && PATH="$DIR/node_modules/.bin:$PATH" \
      node-pre-gyp install --fallback-to-build >&2)
  fi
  node "$BIN" --version >&2
  touch "$STAMP"
fi
echo "$BIN"
