#!/usr/bin/env bash
# Make sure Neovim (>= 0.7, with its built-in LSP client) is on PATH, installing Debian's
# package with apt-get when it is missing and apt can be used (as root, or with sudo that
# needs no password). Prints the path of `nvim` on success. Idempotent: once nvim is there
# it only checks the version. Exit status: 0 ready, 3 cannot install (the reason on stderr).
# Usage: scripts/ensure-neovim.sh
set -euo pipefail

need_major=0
need_minor=7

version_ok() {
  local line major minor
  line=$("$1" --version 2>/dev/null | head -n 1) || return 1  # "NVIM v0.7.2"
  line=${line#NVIM v}
  major=${line%%.*}
  minor=${line#*.}
  minor=${minor%%.*}
  [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] || return 1
  (( major > need_major || (major == need_major && minor >= need_minor) ))
}

if found=$(command -v nvim 2>/dev/null) && version_ok "$found"; then
  echo "$found"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-neovim: nvim is missing and there is no apt-get to install it" >&2
  exit 3
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "ensure-neovim: nvim is missing and apt-get needs root (no passwordless sudo)" >&2
  exit 3
fi

export DEBIAN_FRONTEND=noninteractive
# several test processes may call this at once: one installs, the others wait for it
lock=/tmp/hexad-ensure-neovim.lock
exec 9>"$lock"
flock 9
if found=$(command -v nvim 2>/dev/null) && version_ok "$found"; then
  echo "$found"
  exit 0
fi
install() {
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends neovim >&2
}
if ! install; then
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update >&2 || true
  if ! install; then
    echo "ensure-neovim: apt-get could not install neovim" >&2
    exit 3
  fi
fi
if found=$(command -v nvim 2>/dev/null) && version_ok "$found"; then
  echo "$found"
  exit 0
fi
echo "ensure-neovim: installed neovim, but no nvim >= $need_major.$need_minor is on PATH" >&2
exit 3
