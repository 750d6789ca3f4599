#!/usr/bin/env bash
# Installs what targets/nchan.toml runs: nginx and its nchan module, from Debian's (or
# Ubuntu's) packages, when they are missing. Run by .ci/run; run it once by hand before
# `pushbench run SCENARIO --target targets/nchan.toml`.
set -euo pipefail

module=/usr/lib/nginx/modules/ngx_nchan_module.so
if command -v nginx >/dev/null && [ -e "$module" ]; then
  exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "installing nginx-light and libnginx-mod-nchan (apt-get)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  nginx-light libnginx-mod-nchan >/dev/null
# The package starts a system nginx on port 80 where the init system allows it; the target
# starts its own, unprivileged, in a temporary directory, and needs none running.
command -v nginx >/dev/null && [ -e "$module" ] || {
  echo "nginx or $module still missing after apt-get install" >&2
  exit 1
}
nginx -v
