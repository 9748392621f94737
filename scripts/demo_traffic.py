"""The demo's traffic: wine rows resampled from the dataset, some with a few features shifted.

python demo_traffic.py URL --rows 200                 # traffic like the training data
python demo_traffic.py URL --rows 400 --shift         # alcohol +3, proline x2, hue x0.5
"""

from __future__ import annotations

import argparse
import json
import urllib.request

import numpy as np
from sklearn.datasets import load_wine

SHIFTED = {"alcohol": ("add", 3.0), "proline": ("mul", 2.0), "hue": ("mul", 0.5)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--shift", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = load_wine(as_frame=True).frame.drop(columns="target")
    rng = np.random.default_rng(args.seed)
    sample = data.iloc[rng.integers(0, len(data), args.rows)].reset_index(drop=True)
    if args.shift:
        for column, (op, amount) in SHIFTED.items():
            sample[column] = sample[column] + amount if op == "add" else sample[column] * amount
    classes: dict[str, int] = {}
    for row in sample.to_dict("records"):
        body = json.dumps({"instances": [row]}).encode()
        request = urllib.request.Request(
            args.url + "/predict", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            label = str(json.loads(response.read())["predictions"][0])
        classes[label] = classes.get(label, 0) + 1
    what = "shifted (" + ", ".join(SHIFTED) + ")" if args.shift else "like the training data"
    print(f"  sent {args.rows} single-row requests {what}; predicted classes {classes}")


if __name__ == "__main__":
    main()
