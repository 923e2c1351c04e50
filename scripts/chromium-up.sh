#!/usr/bin/env bash
# Make sure Debian's `chromium` is installed for the browser tests (pytest-playwright drives it through
# `executable_path`; no browser is downloaded by Playwright). Installs the package when it is absent.
set -euo pipefail
CHROMIUM="${ORDERBRIDGE_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
echo "chromium-up: installing Debian's chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium >/dev/null
test -x "$CHROMIUM" || { echo "chromium-up: $CHROMIUM still missing after install" >&2; exit 1; }
