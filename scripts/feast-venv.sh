#!/usr/bin/env bash
# A separate venv (.venv-feast) with Conveyor and Feast (SQLite and Redis online stores) for the
# feature-store tests and benchmark. Feast pins pandas < 3 and prometheus-client < 0.25, which
# Conveyor's own venv does not, so the two never share one.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-feast
stamp=$venv/.installed-v1
[ -f "$stamp" ] && exit 0
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e ".[feast]"
touch "$stamp"
