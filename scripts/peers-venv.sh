#!/usr/bin/env bash
# A separate venv (.venv-peers) with the peer servers and clients the tests and benchmarks
# compare against: MLServer (+ its sklearn runtime) and KServe's Python client. They pin
# libraries Conveyor does not, so they never share Conveyor's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-peers
stamp=$venv/.installed-v1
[ -f "$stamp" ] && exit 0
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# MLServer 1.7.1 needs uvloop 0.21 (0.23 kills its workers at start)
"$venv/bin/python" -m pip install --quiet "mlserver==1.7.1" "mlserver-sklearn==1.7.1" "uvloop==0.21.0" "kserve" "scikit-learn" "joblib"
touch "$stamp"
