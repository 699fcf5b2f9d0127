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
# HPML_TF_HOROVOD=skip leaves step 5 out (saves about 5 minutes and 1.4 GB of disk; notebook 08's TensorFlow +
# Horovod section then says it is missing and skips itself, and tests/test_tf_horovod.py fails).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
VENV=.venv
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

# setup_environment VENV PINS FRAMEWORK: steps 1-4 for one environment: VENV created, the pins of PINS
# installed when their hash changed (the stamp file in VENV records it), the kit linked in, and Horovod built
# for FRAMEWORK (MXNet or TensorFlow) + Gloo unless `horovodrun --check-build` there already lists it.
setup_environment() {
    local venv="$1" pins="$2" framework="$3" stamp wanted
    stamp="$venv/.hpml-requirements.sha256"
    create_venv "$venv"
    wanted="$(sha256sum "$pins" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        say "installing the pins of $pins into $venv (first time: a few minutes)"
        # pip 25.3 resolves these sets in seconds; the venv's bundled pip may be older.
        pip_quiet_in "$venv" install --quiet --disable-pip-version-check --upgrade "pip==25.3"
        # Horovod is built below with its own flags, so it is left out of this install.
        grep -v '^horovod==' "$pins" > "$venv/requirements-no-horovod.txt"
        pip_quiet_in "$venv" install --quiet --disable-pip-version-check -r "$venv/requirements-no-horovod.txt"
        echo "$wanted" > "$stamp"
    else
        say "$pins already installed in $venv"
    fi
    # The kit importable there (and, in .venv, the MXNet numpy shim), so workers also run by hand.
    "$venv/bin/python" scripts/link_kit.py
    if "$VENV/bin/python" scripts/check_horovod.py --venv "$venv" --framework "$framework" --quiet; then
        say "Horovod already built for $framework + Gloo in $venv"
    else
        bash scripts/build_horovod.sh "$venv/bin/python" "$(echo "$framework" | tr '[:upper:]' '[:lower:]')"
        "$VENV/bin/python" scripts/check_horovod.py --venv "$venv" --framework "$framework"
    fi
}

setup_environment "$VENV" requirements.txt MXNet

# Step 5: the TensorFlow + Horovod environment, same recipe with its own pin list.
if [ "${HPML_TF_HOROVOD:-}" = skip ]; then
    say "HPML_TF_HOROVOD=skip: leaving out $TF_VENV (TensorFlow + Horovod workers will not run)"
else
    setup_environment "$TF_VENV" "$TF_PINS" TensorFlow
fi

"$VENV/bin/python" -m hpml_helpers.data --verify
say "ready"
