#!/usr/bin/env bash
# A separate venv (.venv-evidently) with Evidently, for benchmarks/drift.py to compare
# `conveyor drift` against. Evidently is not a Conveyor dependency: it pins libraries
# Conveyor does not, and 0.7.x breaks on pandas 3, so it never shares Conveyor's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-evidently
stamp=$venv/.installed-v1
[ -f "$stamp" ] && exit 0
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "evidently==0.7.23" "pandas<3" "numpy" "pyarrow"
touch "$stamp"
