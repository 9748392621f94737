#!/usr/bin/env bash
# Test-only system tools from Debian's packages: promtool (package prometheus), amtool
# (package prometheus-alertmanager), wrk, shellcheck (actionlint runs it) and chromium (headless,
# renders the HTML report in a test) and pg_dump/pg_restore (the backup runbook's commands).
# Installs only what is missing; needs root (CI runs as root) or passwordless sudo.
set -euo pipefail
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)
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
# the packages' services are not wanted: promtool and amtool are all the tests use
if command -v systemctl >/dev/null 2>&1; then
    for service in prometheus prometheus-alertmanager; do
        $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true
    done
fi
