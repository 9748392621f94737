#!/usr/bin/env bash
# `make demo`: the main job on embedded defaults, in a scratch directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${DEMO_DIR:-$root/demo-work}"
rm -rf "$work"
mkdir -p "$work"
cd "$work"
export CONVEYOR_HOME="$work/.conveyor"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "conveyor init my-model --example wine"
conveyor init my-model --example wine
cd my-model

step "conveyor run   (validate → train → evaluate → ONNX → gates → register)"
conveyor run

step "conveyor promote wine 1 --to production"
conveyor promote wine 1 --to production --reason "demo: first production model" --by demo

step "conveyor models list"
conveyor models list

step "conveyor models show wine"
conveyor models show wine 1

step "conveyor models history wine"
conveyor models history wine

step "conveyor serve wine   (in the background)"
port="$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# the monitor checks every 2 s here (a version's spec says every 60 s by default)
CONVEYOR_MONITOR_INTERVAL_SECONDS=2 CONVEYOR_MONITOR_FLUSH_SECONDS=1 \
    conveyor serve wine --port "$port" --refresh-seconds 0 &
server_pid=$!
trap 'kill -TERM "$server_pid" 2>/dev/null || true' EXIT
python "$root/scripts/demo_client.py" "http://127.0.0.1:$port"

step "traffic: first like the training data, then with a few features shifted"
python "$root/scripts/demo_traffic.py" "http://127.0.0.1:$port" --rows 150
python "$root/scripts/demo_traffic.py" "http://127.0.0.1:$port" --rows 350 --shift --seed 1

step "conveyor alerts list   (raised by the server's monitor)"
for _ in $(seq 1 30); do
    if conveyor alerts list --model wine --json | grep -q '"rule": *"data_drift"'; then break; fi
    sleep 1
done
conveyor alerts list --model wine

step "conveyor monitor wine --window 1h"
conveyor monitor wine --window 1h || echo "(exit $?: an alert rule fires)"

step "conveyor report wine   (self-contained HTML with plots)"
conveyor report wine --out "$work/reports/"

step "stopping the server (SIGTERM: drains requests, flushes the inference log)"
kill -TERM "$server_pid"
wait "$server_pid" || true
trap - EXIT

printf '\nMLflow UI on these files: mlflow ui --backend-store-uri sqlite:///%s/mlflow.db\n' "$CONVEYOR_HOME"
