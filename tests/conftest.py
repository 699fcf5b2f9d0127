"""Shared test set-up: no downloads (CI has no internet), the repository root importable, and a
JupyterLab started with `make lab` for the tests that talk to it."""
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # the kit and tools/ importable

from hpml_helpers.paths import REPO_ROOT  # noqa: E402
os.environ["HPML_OFFLINE"] = "1"
LAB_TOKEN = "hpml-test-token"


def http_status(url, token=None):
    """(status code, body) of a GET, with the Jupyter token header when given."""
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """`make lab` on a free port with a known token and HPML_SMOKE=1; yields its base URL."""
    from hpml_helpers.distributed import free_port

    folder = tmp_path_factory.mktemp("lab")
    port = free_port()
    log_path = folder / "lab.log"
    log = open(log_path, "w")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(folder / "runtime"), "HPML_SMOKE": "1"}
    lab = subprocess.Popen(["make", "lab", f"PORT={port}", f"TOKEN={LAB_TOKEN}", "LAB_ARGS=--no-browser"],
                           cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, code = time.monotonic() + 240, None
        while time.monotonic() < deadline and lab.poll() is None and code != 200:
            try:
                code, _ = http_status(f"{base}/api/status", LAB_TOKEN)
            except OSError:
                time.sleep(1)
        if code != 200:
            pytest.fail("make lab did not answer:\n" + log_path.read_text()[-3000:])
        yield base
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)
            try:
                lab.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(lab.pid, signal.SIGKILL)
        log.close()
