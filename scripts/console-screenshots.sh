#!/usr/bin/env bash
# Regenerate docs/console/*.png: the console's browser test (a real server and console with
# traffic, a canary rolled back by button, a drifted window) saves a screenshot of each page.
set -euo pipefail
cd "$(dirname "$0")/.."
CONVEYOR_CONSOLE_SCREENSHOTS=1 .venv/bin/python -m pytest -q -p no:cacheprovider \
    tests/serving/test_console.py -k browser
ls docs/console/
