"""run_horovod starts a run once more when a rank dies of a segmentation fault before any result (an
intermittent MXNet + Horovod start-up crash), and never otherwise."""
import textwrap

import pytest

import hpml_helpers  # noqa: F401
from hpml_helpers import distributed
from hpml_helpers.process_group import WorkerError

WORKER = textwrap.dedent("""
    import os, pathlib, signal, sys
    sys.path.insert(0, os.environ["HPML_REPO"])
    from hpml_helpers.workers._common import emit_result
    marker = pathlib.Path(os.environ["HPML_MARKER"])
    runs = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(runs))
    if os.environ["HPML_MODE"] == "result-then-crash" or runs == 1:
        if os.environ["HPML_MODE"] == "result-then-crash":
            emit_result({"rank": 0, "runs": runs})
        if os.environ["HPML_MODE"] == "plain-error":
            sys.exit(3)
        print("Segmentation fault: 11", file=sys.stderr, flush=True)  # what MXNet's handler prints
        os.kill(os.getpid(), signal.SIGSEGV)
    emit_result({"rank": 0, "runs": runs})
""")


def run(tmp_path, mode):
    script = tmp_path / "flaky_worker.py"
    script.write_text(WORKER)
    marker = tmp_path / "runs.txt"
    env_vars = {"HPML_MARKER": marker, "HPML_MODE": mode, "HPML_REPO": distributed.REPO_ROOT}
    try:
        return distributed.run_horovod(script, num_proc=1, stream=False, timeout=120, env_vars=env_vars)
    finally:
        run.runs = int(marker.read_text()) if marker.exists() else 0


def test_a_segfault_before_any_result_is_run_once_more(tmp_path, capsys):
    results = run(tmp_path, "crash-first")
    assert [result["runs"] for result in results] == [2] and run.runs == 2
    assert "segmentation fault before any rank reported a result; starting the run once more" in capsys.readouterr().out


@pytest.mark.parametrize("mode", ["plain-error", "result-then-crash"])
def test_other_failures_are_not_repeated(tmp_path, mode):
    with pytest.raises(WorkerError):
        run(tmp_path, mode)
    assert run.runs == 1
