"""Shared test set-up: no downloads (CI has no internet), the repository root importable."""
import os
import pathlib
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ["HPML_OFFLINE"] = "1"
