#!/usr/bin/env bash
# The browser tests drive Debian's chromium through Playwright (no browser download of Playwright's own).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then echo "chromium: $(/usr/bin/chromium --version 2>/dev/null)"; exit 0; fi
if [ "$(id -u)" != "0" ]; then echo "chromium: missing; run 'sudo apt-get install chromium'" >&2; exit 1; fi
echo "chromium: installing Debian's chromium"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version
