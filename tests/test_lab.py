"""`make lab` starts JupyterLab on 127.0.0.1 that refuses requests without its token."""
import pytest

from conftest import LAB_TOKEN, http_status


@pytest.mark.timeout(300)
def test_make_lab_serves_on_localhost_with_a_token(lab_server):
    assert lab_server.startswith("http://127.0.0.1:")
    assert http_status(f"{lab_server}/api/status", LAB_TOKEN)[0] == 200
    assert http_status(f"{lab_server}/api/status")[0] == 403  # no token, no access
    assert http_status(f"{lab_server}/api/status", "wrong-token")[0] == 403
    code, body = http_status(f"{lab_server}/api/contents/00-setup-check.ipynb?content=0", LAB_TOKEN)
    assert code == 200 and '"name": "00-setup-check.ipynb"' in body.replace('":"', '": "')
