#!/usr/bin/env bash
# Test-only system tools from Debian's packages: promtool (package prometheus) and wrk.
# Installs only what is missing; needs root (CI runs as root) or passwordless sudo.
set -euo pipefail
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-tools: no apt-get; install ${missing[*]} by hand (tests that need them skip)" >&2
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
echo "install-test-tools: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# the package's service is not wanted: promtool is all the tests use
if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
