"""Where the kit's files are: the repository root and the folders the helpers share.

One definition, so a launcher, a measurement and the tooling all agree on the same places.
Used by ``distributed`` (worker scripts and Horovod environments), the notebook runner in ``tools/`` and
the tests.
"""
import pathlib

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
WORKERS_DIR = PACKAGE_DIR / "workers"
DATA_DIR = REPO_ROOT / "data"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
BUILD_DIR = REPO_ROOT / "build"
