#!/usr/bin/env bash
# Build Horovod from its PyPI source release for one framework, with Gloo (no MPI needed on one machine).
#   scripts/build_horovod.sh PYTHON mxnet        # the main environment (.venv): MXNet + Gloo
#   scripts/build_horovod.sh PYTHON tensorflow   # the second one (.venv-tf-horovod): TensorFlow 2.15 + Gloo
# The version comes from the pin list of that environment: requirements.txt for mxnet,
# requirements-tf-horovod.txt for tensorflow.
# Why from source: Horovod ships no wheels. Why these flags: Horovod 0.28.1 (its last release) no longer
# builds against TensorFlow >= 2.16 (horovod#4290), so the main environment builds it for MXNet only
# and the second one, pinned to TensorFlow 2.15.1, for TensorFlow;
# --no-build-isolation lets its CMake import the installed framework (MXNet with the kit's numpy shim
# active, through the .pth that scripts/link_kit.py wrote; TensorFlow for its headers and compile flags);
# --no-cache-dir keeps pip from reusing a wheel that
# was built with other flags. On a cluster add HOROVOD_WITH_MPI=1 (and HOROVOD_GPU_OPERATIONS=NCCL on
# GPU nodes): see README.md and cluster/.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="$1"
FRAMEWORK="${2:-mxnet}"

case "$FRAMEWORK" in
    mxnet) flags=(HOROVOD_WITH_MXNET=1 HOROVOD_WITHOUT_TENSORFLOW=1); PINS=requirements.txt ;;
    tensorflow) flags=(HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1); PINS=requirements-tf-horovod.txt ;;
    *) echo "build_horovod.sh: framework must be mxnet or tensorflow, got '$FRAMEWORK'" >&2; exit 2 ;;
esac
VERSION="$(sed -n 's/^horovod==\([0-9.]*\).*/\1/p' "$PINS")"
[ -n "$VERSION" ] || { echo "build_horovod.sh: no horovod==VERSION line in $PINS" >&2; exit 2; }

echo "[setup] building Horovod $VERSION for $FRAMEWORK + Gloo from source (about 3-4 minutes on 2 cores)"
log="$(mktemp -t horovod-build.XXXXXX.log)"
if ! env "${flags[@]}" HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
        HOROVOD_CPU_OPERATIONS=GLOO MAKEFLAGS="-j$(nproc)" \
        "$PYTHON" -m pip install --disable-pip-version-check --no-cache-dir --no-build-isolation \
        --force-reinstall --no-deps "horovod==$VERSION" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "[setup] Horovod build failed; the full log is $log" >&2
    exit 1
fi
# Horovod's own run-time dependencies (cloudpickle, psutil, pyyaml, packaging), already pinned or light
"$PYTHON" -m pip install --quiet --disable-pip-version-check "horovod==$VERSION" >/dev/null
echo "[setup] Horovod built (log: $log)"
