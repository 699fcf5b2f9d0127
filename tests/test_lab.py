"""`make lab` starts JupyterLab on 127.0.0.1 that refuses requests without its token."""
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import REPO_ROOT
from hpml_helpers.distributed import free_port


def status(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


@pytest.mark.timeout(300)
def test_make_lab_serves_on_localhost_with_a_token(tmp_path):
    port, token = free_port(), "hpml-test-token"
    log = open(tmp_path / "lab.log", "w")
    lab = subprocess.Popen(["make", "lab", f"PORT={port}", f"TOKEN={token}", "LAB_ARGS=--no-browser"],
                           cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                           env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")})
    try:
        url = f"http://127.0.0.1:{port}/api/status"
        deadline = time.monotonic() + 240
        code = None
        while time.monotonic() < deadline and lab.poll() is None:
            try:
                code, _ = status(url, token)
                if code == 200:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert code == 200, (tmp_path / "lab.log").read_text()[-3000:]
        assert status(url)[0] == 403  # no token, no access
        assert status(url, "wrong-token")[0] == 403
        code, body = status(f"http://127.0.0.1:{port}/api/contents/00-setup-check.ipynb?content=0", token)
        assert code == 200 and '"name": "00-setup-check.ipynb"' in body.replace('":"', '": "')
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)
            try:
                lab.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(lab.pid, signal.SIGKILL)
        log.close()
