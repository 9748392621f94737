#!/usr/bin/env bash
# A separate venv (.venv-evidently) with Evidently, for benchmarks/drift.py to compare
# `conveyor drift` against. Evidently is not a Conveyor dependency: it pins libraries
# Conveyor does not, and 0.7.x breaks on pandas 3, so it never shares Conveyor's venv.
#
# Idempotent: a venv that is complete and imports Evidently is left alone; a half-built one
# (interrupted, offline) is completed on the next run. PYTHON picks the interpreter (python3).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-evidently
python=${PYTHON:-python3}
packages=("evidently==0.7.23" "pandas<3" "numpy" "pyarrow")
stamp=$venv/.installed-v2 # bump when the packages change

fail() {
    echo "scripts/evidently-venv.sh: $*" >&2
    exit 1
}

installed() { # the right versions, without importing Evidently (seconds)
    "$venv/bin/python" - 2>/dev/null <<'EOF'
import importlib.metadata as m
import importlib.util as u
assert m.version("evidently") == "0.7.23" and int(m.version("pandas").split(".")[0]) < 3
assert all(u.find_spec(name) for name in ("evidently", "pandas", "pyarrow"))
EOF
}

works() {
    "$venv/bin/python" -c 'from evidently import Report; from evidently.presets import DataDriftPreset'
}

if [ -f "$stamp" ] && installed; then
    exit 0
fi
rm -f "$venv"/.installed-*
command -v "$python" >/dev/null || fail "no '$python' interpreter; set PYTHON=/path/to/python3"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    fail "Evidently 0.7 needs Python 3.10 or newer; $python is $("$python" -V 2>&1)"
if ! "$venv/bin/python" -c '' 2>/dev/null; then # absent, or its interpreter is gone
    "$python" -m venv --clear "$venv" ||
        fail "could not create $venv with $python (Debian/Ubuntu: apt-get install python3-venv)"
fi
echo "installing ${packages[*]} into $venv ..." >&2
"$venv/bin/python" -m pip install --quiet --upgrade pip ||
    fail "could not upgrade pip in $venv (offline? no package index?); run again when fixed"
"$venv/bin/python" -m pip install --quiet "${packages[@]}" ||
    fail "pip could not install ${packages[*]} (offline? no package index?); run again when fixed"
{ installed && works; } ||
    fail "installed, but Evidently does not import in $venv; delete $venv and run again"
touch "$stamp"
echo "$venv ready: $("$venv/bin/python" -c 'import evidently; print("evidently", evidently.__version__)')" >&2
