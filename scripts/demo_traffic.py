"""The demo's traffic: wine rows resampled from the dataset, some with a few features shifted.

python demo_traffic.py URL --rows 200                 # traffic like the training data
python demo_traffic.py URL --rows 400 --shift         # alcohol +3, proline x2, hue x0.5
"""

from __future__ import annotations

import argparse
import json
import signal
import time
import urllib.request

import numpy as np
from sklearn.datasets import load_wine

SHIFTED = {"alcohol": ("add", 3.0), "proline": ("mul", 2.0), "hue": ("mul", 0.5)}


def post(url: str, body: object) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--seconds", type=float, help="send for this long instead of --rows")
    parser.add_argument("--shift", action="store_true")
    parser.add_argument("--feedback", action="store_true", help="post each row's true label")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    wine = load_wine(as_frame=True)
    data, target = wine.frame.drop(columns="target"), wine.target.to_numpy()
    rng = np.random.default_rng(args.seed)
    if args.shift:
        data = data.copy()
        for column, (op, amount) in SHIFTED.items():
            data[column] = data[column] + amount if op == "add" else data[column] * amount
    records = data.to_dict("records")
    classes: dict[str, int] = {}
    versions: dict[str, int] = {}
    deadline = time.monotonic() + args.seconds if args.seconds else None
    stopped: list[int] = []  # SIGTERM: finish the request in flight, report, exit
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopped.append(signum))
    sent = 0
    while not stopped and (
        (sent < args.rows) if deadline is None else (time.monotonic() < deadline)
    ):
        i = int(rng.integers(len(records)))
        answer = post(args.url + "/predict", {"instances": [records[i]]})
        label = str(answer["predictions"][0])
        classes[label] = classes.get(label, 0) + 1
        version = str(answer["model"]["version"])
        versions[version] = versions.get(version, 0) + 1
        if args.feedback:
            post(
                args.url + "/feedback",
                {"request_id": answer["request_id"], "label": int(target[i])},
            )
        sent += 1
    what = "shifted (" + ", ".join(SHIFTED) + ")" if args.shift else "like the training data"
    labels = ", true labels posted back" if args.feedback else ""
    print(
        f"  sent {sent} single-row requests {what}{labels}; "
        f"answered by versions {versions}; predicted classes {classes}"
    )


if __name__ == "__main__":
    main()
