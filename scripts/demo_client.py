"""The demo's client: waits for the server, then shows predictions, model info and metrics."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request

base = sys.argv[1]


def call(path: str, body: object | None = None) -> str:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


deadline = time.monotonic() + 60
while True:
    try:
        call("/ready")
        break
    except (urllib.error.URLError, ConnectionError):
        if time.monotonic() > deadline:
            sys.exit("server did not become ready in 60 s")
        time.sleep(0.2)

row = {
    "alcohol": 13.2, "malic_acid": 1.78, "ash": 2.14, "alcalinity_of_ash": 11.2, "magnesium": 100.0,
    "total_phenols": 2.65, "flavanoids": 2.76, "nonflavanoid_phenols": 0.26, "proanthocyanins": 1.28,
    "color_intensity": 4.38, "hue": 1.05, "od280/od315_of_diluted_wines": 3.4, "proline": 1050.0,
}
print("POST /predict (named instances)")
print(" ", call("/predict", {"instances": [row]}))
print("POST /predict (matrix in schema order)")
print(" ", call("/predict", {"features": [list(row.values()), [12.4, 1.1, 2.3, 18, 90, 2.2, 2.0, 0.3, 1.5, 3.0, 1.0, 2.8, 500]]}))
info = json.loads(call("/model/info"))
print("GET /model/info")
print("  " + json.dumps({k: info[k] for k in ("name", "version", "stage", "semver", "runtime", "loaded_at")}))
print("GET /metrics (a few lines)")
for line in call("/metrics").splitlines():
    if line.startswith(("conveyor_requests_total{", "conveyor_model_info{", "conveyor_predictions_total{")):
        print("  " + line)
