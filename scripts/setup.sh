#!/usr/bin/env bash
# One idempotent set-up for `make lab`, `make test`, `make notebooks` and `make bench`:
#   1. create .venv with Python 3.11 if it is missing;
#   2. install requirements.txt when it changed since the last install (a stamp file records its hash);
#   3. make the kit importable in .venv and apply the MXNet numpy shim there (scripts/link_kit.py);
#   4. build Horovod for MXNet + Gloo unless `horovodrun --check-build` already lists both;
#   5. check the shipped data against data/SHA256SUMS.
# A second run finds everything in place and only checks (a few seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
VENV=.venv
STAMP="$VENV/.hpml-requirements.sha256"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
# Some machines list local package folders in their pip configuration that do not exist; pip warns about
# each one, which would bury the real messages. Only those lines are dropped.
pip_quiet() { "$VENV/bin/python" -m pip "$@" 2> >(grep -v "^WARNING: Location 'file://" >&2); }

if [ ! -x "$VENV/bin/python" ]; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "[setup] error: $PYTHON not found. HPML-CNN needs Python 3.11 (TensorFlow 2.21 + MXNet 1.9.1);" >&2
        echo "[setup] install it (e.g. pyenv install 3.11, or conda: see environment.yml) or run: make PYTHON=/path/to/python3.11 ..." >&2
        exit 1
    fi
    version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if [ "$version" != "3.11" ]; then
        echo "[setup] error: $PYTHON is Python $version; the pins are for Python 3.11." >&2
        exit 1
    fi
    say "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi

wanted="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ]; then
    say "installing the pins of requirements.txt into $VENV (first time: a few minutes)"
    # pip 25.3 resolves this set in seconds; the venv's bundled pip may be older.
    pip_quiet install --quiet --disable-pip-version-check --upgrade "pip==25.3"
    # Horovod is built in step 4 with its own flags, so it is left out of this install.
    grep -v '^horovod==' requirements.txt > "$VENV/requirements-no-horovod.txt"
    pip_quiet install --quiet --disable-pip-version-check -r "$VENV/requirements-no-horovod.txt"
    echo "$wanted" > "$STAMP"
else
    say "requirements.txt already installed in $VENV"
fi

"$VENV/bin/python" scripts/link_kit.py

if "$VENV/bin/python" scripts/check_horovod.py --venv "$VENV" --framework MXNet --quiet; then
    say "Horovod already built for MXNet + Gloo"
else
    bash scripts/build_horovod.sh "$VENV/bin/python" mxnet
    "$VENV/bin/python" scripts/check_horovod.py --venv "$VENV" --framework MXNet
fi

"$VENV/bin/python" -m hpml_helpers.data --verify
say "ready"
