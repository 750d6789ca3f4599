#!/usr/bin/env bash
# Installs what browser clients (client = "browser" in a scenario) and the browser tests
# drive (crates/cli/tests/browser.rs and browser_clients.rs,
# scripts/browser-connection-limit.sh): Chromium and its WebDriver, chromedriver, from
# Debian's packages, when they are missing. Run by .ci/run; run it once by hand before the
# browser tests.
set -euo pipefail

have() { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }
if have; then
  exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "installing chromium and chromium-driver (apt-get)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  chromium chromium-driver >/dev/null
have || {
  echo "chromium or chromedriver still missing after apt-get install" >&2
  exit 1
}
chromedriver --version
