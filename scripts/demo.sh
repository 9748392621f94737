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
# short intervals for a demo: the monitor checks every 2 s (60 s by default), rollouts are
# read every second and the server follows its alias every 2 s
export CONVEYOR_MONITOR_INTERVAL_SECONDS=2 CONVEYOR_MONITOR_FLUSH_SECONDS=1 \
    CONVEYOR_ROLLOUT_POLL_SECONDS=1 CONVEYOR_ROLLOUT_CONTROLLER_SECONDS=1
conveyor serve wine --port "$port" --refresh-seconds 2 &
server_pid=$!
ui_port="$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
conveyor ui --port "$ui_port" 2>/dev/null &
ui_pid=$!
trap 'kill -TERM "$server_pid" "$ui_pid" 2>/dev/null || true' EXIT
printf '\nconsole: http://127.0.0.1:%s/   (models, the rollouts below live, monitoring)\n' "$ui_port"
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

url="http://127.0.0.1:$port"
cat >> conveyor.yaml <<'YAML'
rollout:                      # short steps for the demo (default: 5 → 25 → 50 → 100 %, 5 min each)
  strategy: canary
  steps: [50, 100]
  step_seconds: 6
  analysis: {min_requests: 40, min_pairs: 40, min_labels: 30, max_wait_seconds: 30}
YAML

step "v2: stronger regularisation (C: 0.5) → conveyor run"
sed -i.bak 's/    C: 1.0/    C: 0.5/' conveyor.yaml
conveyor run

# roll VERSION REASON: a canary of VERSION under traffic whose true labels arrive as feedback
roll() {
    python "$root/scripts/demo_traffic.py" "$url" --seconds 150 --feedback --seed "$1" &
    local traffic_pid=$!
    conveyor rollout start wine "$1" --reason "$2"
    conveyor rollout status wine --wait --timeout 120 || echo "(exit $?: the rollout did not succeed)"
    kill -TERM "$traffic_pid" 2>/dev/null
    wait "$traffic_pid" || true
}

step "conveyor rollout start wine 2   (canary under traffic with delayed labels)"
roll 2 "demo: stronger regularisation"

step "v3: trained on relabelled data (labels permuted consistently: its own holdout looks fine)"
python - <<'PY'
from sklearn.datasets import load_wine
frame = load_wine(as_frame=True).frame
frame.assign(target=(frame["target"] + 1) % 3).to_csv("wine-relabelled.csv", index=False)
PY
sed -i.bak 's#source: sklearn:wine#source: wine-relabelled.csv#' conveyor.yaml
conveyor run

step "conveyor rollout start wine 3   (the feedback and the champion give it away)"
roll 3 "demo: new training data"

step "conveyor rollout history wine"
conveyor rollout history wine
conveyor models history wine

step "stopping the server (SIGTERM: drains requests, flushes the inference log)"
kill -TERM "$server_pid"
wait "$server_pid" || true
kill -TERM "$ui_pid" 2>/dev/null || true
wait "$ui_pid" 2>/dev/null || true
trap - EXIT

printf '\nMLflow UI on these files: mlflow ui --backend-store-uri sqlite:///%s/mlflow.db\n' "$CONVEYOR_HOME"
printf 'Console on these files: CONVEYOR_HOME=%s conveyor ui   (http://127.0.0.1:8100/)\n' "$CONVEYOR_HOME"
