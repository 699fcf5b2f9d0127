"""Notebook 01 in a real browser: Debian's chromium, driven by Playwright, against `make lab`.

Runs all cells, checks that none failed, that the kernel-editor widget renders and that moving one of its
sliders changes the output image, and leaves screenshots under build/browser/. Chromium comes from the
distribution (`apt-get install chromium`, done here when it is missing and we are root), never from
`playwright install`, which downloads a browser build.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import LAB_TOKEN, REPO_ROOT, http_status

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = REPO_ROOT / "build" / "browser"
NOTEBOOK = "01-convolution-and-sobel.ipynb"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def ensure_chromium():
    """Install Debian's chromium when it is missing (needs root and apt); explain otherwise."""
    if os.path.exists(CHROMIUM):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, capture_output=True,
                       timeout=900)
        return
    reason = f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get): `sudo apt-get install chromium`"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def code_prompts(page):
    return page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "nodes => nodes.map(n => n.textContent.trim())")


def saved_notebook(base):
    code, body = http_status(f"{base}/api/contents/{NOTEBOOK}", LAB_TOKEN)
    assert code == 200
    return json.loads(body)["content"]


@pytest.mark.timeout(900)
def test_notebook_01_runs_in_the_browser_and_its_widget_reacts(lab_server):
    ensure_chromium()
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = (REPO_ROOT / "notebooks" / NOTEBOOK).read_bytes()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"{lab_server}/lab/tree/{NOTEBOOK}?token={LAB_TOKEN}")
            page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
            # the kernel must be started and idle before "Run All Cells" (the indicator is idle before that too)
            page.wait_for_function("document.body.innerText.includes('Python 3 (ipykernel) | Idle')",
                                   timeout=120_000)

            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                prompts = code_prompts(page)
                if prompts and all(p.startswith("[") and p[1:-2].isdigit() for p in prompts):
                    break
                time.sleep(2)
            prompts = code_prompts(page)
            assert all(p[1:-2].isdigit() for p in prompts), f"not every cell ran: {prompts}"

            # the kernel editor: rendered, and a slider move changes the output picture
            page.wait_for_selector(".widget-slider", timeout=60_000)
            sliders = page.locator(".jupyter-widgets.widget-slider")
            assert sliders.count() == 9
            pictures = page.locator("img.widget-image")
            assert pictures.count() == 2
            pictures.nth(1).scroll_into_view_if_needed()
            before = pictures.nth(1).get_attribute("src")
            readout = sliders.nth(4).locator(".widget-readout")  # the centre weight
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("3")
            page.keyboard.press("Enter")
            page.wait_for_function("([el, old]) => el.getAttribute('src') !== old",
                                   arg=[pictures.nth(1).element_handle(), before], timeout=30_000)
            for button in page.locator(".jp-toast-button:text-is('No')").all():  # the news prompt, if shown
                button.click()
            page.locator(".jupyter-widgets.widget-vbox").first.screenshot(
                path=str(SCREENSHOTS / "notebook-01-kernel-editor.png"))
            page.locator(".jp-OutputArea-output img").nth(1).scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / "notebook-01-sobel.png"))

            page.keyboard.press("Control+S")  # save, so the outputs can be read back through the API
            time.sleep(3)
            browser.close()
        notebook = saved_notebook(lab_server)
        errors = [output for cell in notebook["cells"] if cell["cell_type"] == "code"
                  for output in cell["outputs"] if output["output_type"] == "error"]
        assert not errors, f"cells failed in the browser: {[e['ename'] + ': ' + e['evalue'] for e in errors]}"
        assert sum("image/png" in o.get("data", {}) for c in notebook["cells"] for o in c.get("outputs", [])) >= 4
        assert (SCREENSHOTS / "notebook-01-kernel-editor.png").stat().st_size > 20_000
    finally:
        (REPO_ROOT / "notebooks" / NOTEBOOK).write_bytes(original)  # notebooks stay committed without outputs
