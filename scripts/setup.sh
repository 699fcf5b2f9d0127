#!/usr/bin/env bash
# One idempotent set-up for `make lab`, `make test`, `make notebooks` and `make bench`:
#   1. create .venv with Python 3.11 if it is missing;
#   2. install requirements.txt when it changed since the last install (a stamp file records its hash);
#   3. make the kit importable in .venv and apply the MXNet numpy shim there (scripts/link_kit.py);
#   4. build Horovod for MXNet + Gloo unless `horovodrun --check-build` already lists both;
#   5. the second environment, .venv-tf-horovod: steps 1-4 again with requirements-tf-horovod.txt and
#      Horovod built for TensorFlow + Gloo (see below for why it exists);
#   6. check the shipped data against data/SHA256SUMS.
# A second run finds everything in place and only checks (a few seconds).
# HPML_TF_HOROVOD=skip leaves step 5 out (saves about 5 minutes and 1.4 GB of disk; notebook 07's TensorFlow +
# Horovod section then says it is missing and skips itself, and tests/test_tf_horovod.py fails).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
VENV=.venv
STAMP="$VENV/.hpml-requirements.sha256"
# Why a second environment: Horovod 0.28.1 (its last release) no longer builds against TensorFlow >= 2.16
# and has no Keras 3 support (horovod#4290), so .venv (TensorFlow 2.21 + Keras 3, the notebooks' kernel)
# runs Horovod on MXNet only. The lecture's hands-on used Horovod with Keras, as HPC centres' TensorFlow
# containers still do: that runs in .venv-tf-horovod (TensorFlow 2.15.1, Keras 2 as tf.keras), for worker
# processes only (hpml_helpers.distributed.run_horovod(..., env="tensorflow")); no notebook imports it.
TF_VENV=.venv-tf-horovod
TF_PINS=requirements-tf-horovod.txt

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
# Some machines list local package folders in their pip configuration that do not exist; pip warns about
# each one, which would bury the real messages. Only those lines are dropped.
pip_quiet_in() { local venv="$1"; shift; "$venv/bin/python" -m pip "$@" 2> >(grep -v "^WARNING: Location 'file://" >&2); }
pip_quiet() { pip_quiet_in "$VENV" "$@"; }

# create_venv DIR: a Python 3.11 virtual environment at DIR, unless one is there already.
create_venv() {
    local venv="$1" version
    [ -x "$venv/bin/python" ] && return 0
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
    say "creating $venv with $PYTHON"
    "$PYTHON" -m venv "$venv"
}

create_venv "$VENV"

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

# Step 5: the TensorFlow + Horovod environment (same recipe, its own pin list and stamp).
if [ "${HPML_TF_HOROVOD:-}" = skip ]; then
    say "HPML_TF_HOROVOD=skip: leaving out $TF_VENV (TensorFlow + Horovod workers will not run)"
else
    create_venv "$TF_VENV"
    tf_stamp="$TF_VENV/.hpml-requirements.sha256"
    tf_wanted="$(sha256sum "$TF_PINS" | cut -d' ' -f1)"
    if [ "$(cat "$tf_stamp" 2>/dev/null)" != "$tf_wanted" ]; then
        say "installing the pins of $TF_PINS into $TF_VENV (first time: about a minute)"
        pip_quiet_in "$TF_VENV" install --quiet --disable-pip-version-check --upgrade "pip==25.3"
        grep -v '^horovod==' "$TF_PINS" > "$TF_VENV/requirements-no-horovod.txt"
        pip_quiet_in "$TF_VENV" install --quiet --disable-pip-version-check -r "$TF_VENV/requirements-no-horovod.txt"
        echo "$tf_wanted" > "$tf_stamp"
    else
        say "$TF_PINS already installed in $TF_VENV"
    fi
    # The kit importable there too, so a worker also runs by hand with that environment's python.
    "$TF_VENV/bin/python" scripts/link_kit.py
    if "$VENV/bin/python" scripts/check_horovod.py --venv "$TF_VENV" --framework TensorFlow --quiet; then
        say "Horovod already built for TensorFlow + Gloo in $TF_VENV"
    else
        bash scripts/build_horovod.sh "$TF_VENV/bin/python" tensorflow
        "$VENV/bin/python" scripts/check_horovod.py --venv "$TF_VENV" --framework TensorFlow
    fi
fi

"$VENV/bin/python" -m hpml_helpers.data --verify
say "ready"
