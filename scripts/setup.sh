#!/usr/bin/env bash
# Installs every build and test dependency of tend from Debian 12's own packages.
# Safe to re-run: apt-get skips what is already installed, and the package lists are
# refreshed only when a package is missing.
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config
  libboost1.81-dev libyaml-cpp-dev libtomlplusplus-dev nlohmann-json3-dev
  libcli11-dev libfmt-dev libsqlite3-dev
  libssl-dev openssl  # https probes and webhooks, HMAC signatures; the tests make certificates
  libgtest-dev libgmock-dev
  systemd nodejs  # systemd-analyze verifies `tend startup`'s units; node reads ecosystem.config.js
  curl procps python3 wrk
  tmux  # the `tend monit` tests drive it in a real terminal
  chromium  # the dashboard's browser test (tests/browser/), driven by playwright-core
  # The fuzz targets (scripts/fuzz.sh): clang with libFuzzer and the sanitizer runtimes, and
  # llvm-symbolizer for readable reports. clang 19: Debian 12's clang 14 cannot build tend.
  clang-19 libclang-rt-19-dev llvm-19
)
# npm installs playwright-core for that test; Debian's nodejs comes without it.
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all build and test dependencies are installed"
fi

# playwright-core (no browser download: it drives the chromium above), into the git-ignored
# tests/browser/node_modules, at the version package-lock.json pins. The tests run offline.
browser_dir=$(dirname "$0")/../tests/browser
if [ ! -f "$browser_dir/node_modules/playwright-core/package.json" ]; then
  echo "setup: installing playwright-core for the browser test"
  (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
