#!/usr/bin/env bash
# Headless Chromium and its WebDriver, for the browser tests of the web UI (tests/ui.rs):
# Debian's `chromium` and `chromium-driver`, installed once. Idempotent.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver >/dev/null
chromium --version
