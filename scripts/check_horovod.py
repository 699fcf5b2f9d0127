"""Exit 0 when Horovod in a virtual environment is built for a framework and Gloo, else 1 (with why).

    python scripts/check_horovod.py --venv .venv --framework MXNet
    python scripts/check_horovod.py --venv .venv-tf-horovod --framework TensorFlow
Used by scripts/setup.sh to skip the build when it is already done. It runs with the main environment's
Python (the kit's ``horovod_build.horovod_info``) and asks the other environment's ``horovodrun --check-build``.
"""
import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from hpml_helpers.horovod_build import horovod_info  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--venv", required=True)
parser.add_argument("--framework", required=True, choices=["MXNet", "TensorFlow"])
parser.add_argument("--quiet", action="store_true")
args = parser.parse_args()
info = horovod_info(str(pathlib.Path(args.venv).resolve()))
ok = info["installed"] and args.framework in info["frameworks"] and "Gloo" in info["controllers"]
if not args.quiet or ok:
    if ok:
        print(f"[setup] Horovod {info['version']} in {args.venv}: frameworks {', '.join(info['frameworks'])}; "
              f"controllers {', '.join(info['controllers'])}")
    elif not args.quiet:
        print(f"[setup] Horovod in {args.venv} is not built for {args.framework} + Gloo: {info}", file=sys.stderr)
sys.exit(0 if ok else 1)
