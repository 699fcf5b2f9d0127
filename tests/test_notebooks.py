"""Every notebook runs top to bottom in smoke mode; wall time and kernel peak memory are recorded."""
import pytest

from conftest import REPO_ROOT
from tools import notebook_runner

RESULTS_FILE = REPO_ROOT / "build" / "notebook_results.json"
NOTEBOOKS = notebook_runner.notebook_paths()


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00-setup-check.ipynb"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path):
    result = notebook_runner.run_notebook(path, mode="smoke", cell_timeout=500,
                                          output_dir=REPO_ROOT / "build" / "smoke")
    notebook_runner.record(result, RESULTS_FILE)
    assert result["ok"], result["error"][-4000:]
    assert result["peak_rss_mb"] and result["peak_rss_mb"] > 50
    assert result["peak_total_mb"] and result["peak_total_mb"] > 50  # kernel + the workers it started
    assert result["figures"] >= 1, "every notebook shows at least one plot"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_committed_clean_and_follows_the_skeleton(path):
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "commit without outputs"
    assert notebook.cells[0].cell_type == "markdown" and "What you will learn" in notebook.cells[0].source
    parameters = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1 and 'os.environ.get("HPML_SMOKE") == "1"' in parameters[0].source
    assert "backends.report()" in code[1].source  # the setup cell right after the parameters
    text = "\n".join(cell.source for cell in notebook.cells)
    assert "## Takeaways" in text and "## Exercises" in text and "exercises.check_" in text
    assert "# HPML:" in text


def test_runner_rejects_unknown_names_and_modes():
    with pytest.raises(ValueError, match="unknown notebook"):
        notebook_runner.notebook_paths(["99-nothing"])
    with pytest.raises(ValueError, match="mode must be one of smoke, full"):
        notebook_runner.run_notebook(NOTEBOOKS[0], mode="fast")


def test_failing_cell_is_reported_and_the_executed_copy_kept(tmp_path):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("print('first cell ran')"),
                      nbformat.v4.new_code_cell("raise ValueError('broken on purpose')")]
    path = tmp_path / "99-broken.ipynb"
    nbformat.write(notebook, path)
    result = notebook_runner.run_notebook(path, mode="smoke", output_dir=tmp_path / "out")
    assert not result["ok"] and "broken on purpose" in result["error"]
    executed = nbformat.read(tmp_path / "out" / "99-broken.ipynb", as_version=4)
    assert "first cell ran" in executed.cells[0].outputs[0]["text"]


def test_memory_monitor_counts_the_kernel_and_its_children():
    import subprocess
    import sys
    import time

    # A stand-in "kernel" (its command line names ipykernel) whose child holds 200 MB for a moment.
    child = ("import time; block = bytearray(200 * 2**20); block[::4096] = b'x' * len(block[::4096]); "
             "time.sleep(2)")
    kernel = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; "
                               f"subprocess.run([sys.executable, '-c', {child!r}])", "ipykernel-stand-in"])
    try:
        with notebook_runner.MemoryMonitor(interval=0.1) as monitor:
            kernel.wait(timeout=30)
    finally:
        kernel.kill()
    assert monitor.peak_bytes > 200 * 2**20  # the grandchild's 200 MB were counted
    # A kernel that was already running before (a JupyterLab's) is not this run's: not counted.
    older = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys, time; "
                              f"subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(3)", "ipykernel-older"])
    try:
        time.sleep(1.5)
        with notebook_runner.MemoryMonitor(interval=0.1) as monitor:
            older.wait(timeout=30)
    finally:
        older.kill()
    assert monitor.peak_bytes < 100 * 2**20


@pytest.mark.timeout(300)
def test_setup_check_runs_on_one_cpu_like_binder(tmp_path):
    """Binder gives 1 CPU: notebook 00 must still run its 2-process checks there (oversubscribed)."""
    import os

    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})  # the kernel, started now, inherits this affinity
    try:
        result = notebook_runner.run_notebook(NOTEBOOKS[0], mode="smoke", output_dir=tmp_path)
    finally:
        os.sched_setaffinity(0, cpus)
    assert result["ok"], result["error"][-4000:]
    assert any("Horovod allreduce OK, parameter server OK" in line for line in result["key_results"])
