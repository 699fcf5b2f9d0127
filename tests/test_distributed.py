"""Real engines on 127.0.0.1: Horovod over Gloo and MXNet's parameter server, their failures and clean-up."""
import os
import socket
import textwrap
import time

import psutil
import pytest

from hpml_helpers import distributed

pytestmark = pytest.mark.timeout(300)


def processes_running(marker):
    """Processes whose command line mentions ``marker`` (used to prove that nothing survived)."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(marker in part for part in process.info["cmdline"] or []):
                found.append(process.info["pid"])
        except psutil.NoSuchProcess:
            pass
    return found


def write_worker(tmp_path, name, body):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_horovod_allreduce_on_two_ranks(capsys):
    results = distributed.run_horovod("allreduce_check", num_proc=2, timeout=180)
    assert [result["rank"] for result in results] == [0, 1]
    for result in results:
        assert result["size"] == 2 and result["sum"] == [3.0] * 4
    assert processes_running("allreduce_check.py") == []


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="binding 2 ranks to 2 cores needs 2 cores")
def test_horovod_bind_cores_gives_each_rank_its_own_core():
    cores = sorted(os.sched_getaffinity(0))
    results = distributed.run_horovod("allreduce_check", num_proc=2, timeout=180, bind_cores=True)
    assert [result["cores_allowed"] for result in results] == [[cores[0]], [cores[1]]]
    assert all(result["sum"] == [3.0] * 4 for result in results)  # bound ranks still talk
    shifted = distributed.run_horovod("allreduce_check", num_proc=1, timeout=180, bind_cores=True,
                                      env_vars={"HPML_CORE_OFFSET": 1})
    assert shifted[0]["cores_allowed"] == [cores[1]]
    unbound = distributed.run_horovod("allreduce_check", num_proc=1, timeout=180)
    assert unbound[0]["cores_allowed"] == cores


def test_core_choice_follows_the_local_rank():
    from hpml_helpers.workers import _bind_core

    assert _bind_core.local_rank({"HOROVOD_LOCAL_RANK": "3"}) == 3
    assert _bind_core.local_rank({"OMPI_COMM_WORLD_LOCAL_RANK": "1"}) == 1
    assert _bind_core.local_rank({}) == 0
    assert [_bind_core.core_for(rank, {5, 2}) for rank in range(3)] == [2, 5, 2]  # wraps around
    assert _bind_core.core_for(0, {0, 1}, offset=1) == 1
    with pytest.raises(ValueError, match="cores"):
        _bind_core.core_for(0, set())
    with pytest.raises(TypeError, match="bind_cores"):
        distributed.run_horovod("allreduce_check", bind_cores="yes")


@pytest.mark.parametrize("mode", ["dist_sync", "dist_async"])
def test_parameter_server_round_trip(mode):
    results = distributed.run_parameter_server("ps_roundtrip", num_workers=2, mode=mode, timeout=180)
    assert sorted(result["rank"] for result in results) == [0, 1]
    for result in results:
        assert result["num_workers"] == 2 and result["mode"] == mode
        if mode == "dist_sync":  # both pushes are applied before anyone pulls
            assert result["pulled"] == [3.0] * 4
        else:  # async: a worker sees its own push, perhaps not yet the other's
            assert result["pulled"][0] in (result["rank"] + 1.0, 3.0)
    assert processes_running("ps_roundtrip.py") == []


def test_failing_horovod_rank_is_named_with_its_last_lines(tmp_path):
    script = write_worker(tmp_path, "fails_on_rank_one", """
        import hpml_helpers, horovod.mxnet as hvd
        hvd.init()
        if hvd.rank() == 1:
            raise RuntimeError("rank one fails on purpose")
        import time; time.sleep(60)
    """)
    start = time.monotonic()
    with pytest.raises(distributed.WorkerError) as failure:
        distributed.run_horovod(str(script), num_proc=2, timeout=120, stream=False)
    assert failure.value.label == "rank 1"
    assert any("rank one fails on purpose" in line for line in failure.value.last_lines)
    assert time.monotonic() - start < 60  # ended at the failure, not at the other rank's sleep
    assert processes_running(script.name) == []


def test_timeout_ends_every_process(tmp_path):
    script = write_worker(tmp_path, "sleeps_forever", """
        import os, time
        print("worker started", os.environ["DMLC_ROLE"], flush=True)
        time.sleep(600)
    """)
    start = time.monotonic()
    with pytest.raises(distributed.WorkerError, match="timed out after 8 s") as failure:
        distributed.run_parameter_server(str(script), num_workers=2, timeout=8, stream=False)
    assert time.monotonic() - start < 30
    assert "worker started worker" in failure.value.last_lines
    time.sleep(0.5)
    assert processes_running(script.name) == []
    assert processes_running("import hpml_helpers, mxnet") == []  # scheduler and server are gone too


def test_worker_without_result_line_is_an_error(tmp_path):
    script = write_worker(tmp_path, "no_result", """
        import hpml_helpers, horovod.mxnet as hvd
        hvd.init()
        print("done without a result", flush=True)
    """)
    with pytest.raises(distributed.WorkerError, match="2 of 2 ranks printed no result line"):
        distributed.run_horovod(str(script), num_proc=2, timeout=120, stream=False)


def test_output_is_streamed_with_rank_prefixes(tmp_path, capsys):
    script = write_worker(tmp_path, "talks", """
        import hpml_helpers, horovod.mxnet as hvd
        from hpml_helpers.workers._common import emit_result
        hvd.init()
        print("hello from", hvd.rank(), flush=True)
        emit_result({"rank": hvd.rank()})
    """)
    distributed.run_horovod(str(script), num_proc=2, timeout=120)
    out = capsys.readouterr().out
    assert "[rank 0] hello from 0" in out and "[rank 1] hello from 1" in out


def test_clear_errors_for_bad_requests():
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match=f"num_proc={cores + 1} is more than the {cores} CPU cores"):
        distributed.run_horovod("allreduce_check", num_proc=cores + 1)
    with pytest.raises(ValueError, match="script name 'nope' not found.*allreduce_check"):
        distributed.run_horovod("nope")
    with pytest.raises(ValueError, match="mode must be one of dist_sync, dist_async"):
        distributed.run_parameter_server("ps_roundtrip", mode="sync")
    with pytest.raises(ValueError, match="env must be one of"):
        distributed.run_horovod("allreduce_check", env="pytorch")
    with pytest.raises(ValueError, match="timeout must be a finite positive number"):
        distributed.run_horovod("allreduce_check", timeout=0)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ValueError, match=f"port {port} on 127.0.0.1 is already in use"):
            distributed.run_parameter_server("ps_roundtrip", port=port)


def test_missing_horovod_environment_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(distributed.HOROVOD_ENVS, "tensorflow", tmp_path / "no-such-venv")
    with pytest.raises(RuntimeError, match="Horovod for TensorFlow is not installed.*make lab"):
        distributed.run_horovod("allreduce_check", env="tensorflow")


# ----------------------------------------------------------------------- TensorFlow multi-worker launcher

def test_tf_multiworker_gives_each_worker_its_tf_config_and_thread_limits(tmp_path):
    script = write_worker(tmp_path, "shows_tf_config", """
        import json, os
        from hpml_helpers.workers._common import emit_result
        config = json.loads(os.environ["TF_CONFIG"])
        emit_result({"rank": config["task"]["index"], "config": config,
                     "threads": os.environ["OMP_NUM_THREADS"], "extra": os.environ["HPML_EXTRA"]})
    """)
    results = distributed.run_tf_multiworker(str(script), num_workers=2, timeout=60, stream=False,
                                             threads_per_worker=1, env_vars={"HPML_EXTRA": "yes"})
    assert [result["rank"] for result in results] == [0, 1]
    addresses = results[0]["config"]["cluster"]["worker"]
    assert len(set(addresses)) == 2 and all(address.startswith("127.0.0.1:") for address in addresses)
    for index, result in enumerate(results):
        assert result["config"] == {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
        assert result["threads"] == "1" and result["extra"] == "yes"


def test_thread_environment_names_every_library():
    assert distributed.thread_environment(None) == {}
    env = distributed.thread_environment(2)
    assert env["OMP_NUM_THREADS"] == env["MXNET_CPU_WORKER_NTHREADS"] == env["TF_NUM_INTRAOP_THREADS"] == 2


# The same failure on each engine: after a few real collective steps, worker 1 is killed (SIGKILL, as
# the kernel's out-of-memory killer would do it) while worker 0 waits for it in the next collective step.
KILLED_WORKERS = {
    "horovod": """
        import os, signal
        import hpml_helpers, horovod.mxnet as hvd, mxnet as mx
        hvd.init()
        for step in range(1_000_000):
            hvd.allreduce(mx.nd.ones((16,)), name="step").wait_to_read()
            if step == 5 and hvd.rank() == 1:
                print("rank 1 dies now", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
    """,
    "parameter_server": """
        import os, signal
        import hpml_helpers, mxnet as mx
        kv = mx.kv.create("dist_sync")
        kv.init("w", mx.nd.zeros((16,)))
        out = mx.nd.zeros((16,))
        for step in range(1_000_000):
            kv.push("w", mx.nd.ones((16,)))
            kv.pull("w", out=out)
            out.wait_to_read()
            if step == 5 and kv.rank == 1:
                print("worker 1 dies now", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
    """,
    "tf_multiworker": """
        import json, os, signal
        import hpml_helpers, tensorflow as tf
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        for step in range(1_000_000):
            total = strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)
            if step == 5 and index == 1:
                print("worker 1 dies now", float(total), flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
    """,
}


@pytest.mark.parametrize("engine", sorted(KILLED_WORKERS))
def test_killed_worker_fails_the_run_within_a_minute_and_leaves_no_process(tmp_path, engine):
    marker = f"killed_{engine}_{os.getpid()}_{time.monotonic_ns()}"
    script = str(write_worker(tmp_path, marker, KILLED_WORKERS[engine]))
    launch = {"horovod": lambda: distributed.run_horovod(script, num_proc=2, timeout=150, stream=False),
              "parameter_server": lambda: distributed.run_parameter_server(script, num_workers=2, timeout=150,
                                                                           stream=False),
              "tf_multiworker": lambda: distributed.run_tf_multiworker(script, num_workers=2, timeout=150,
                                                                       stream=False)}[engine]
    start = time.monotonic()
    with pytest.raises(distributed.WorkerError, match="exited with status .*SIGKILL") as failure:
        launch()
    # Horovod and TF label workers by rank; MXNet's scheduler hands out kvstore ranks in connection
    # order, so the process launched as "worker 0" may hold rank 1: its own output names the rank.
    expected = {"horovod": ("rank 1",), "tf_multiworker": ("worker 1",),
                "parameter_server": ("worker 0", "worker 1")}[engine]
    assert failure.value.label in expected
    assert any("1 dies now" in line for line in failure.value.last_lines)  # the error names the killed one
    assert time.monotonic() - start < 60
    assert processes_running(marker) == []


def test_tf_multiworker_rejects_bad_requests():
    with pytest.raises(ValueError, match="ports must be 2 different ports"):
        distributed.run_tf_multiworker("tf_multiworker_mnist", ports=[20001, 20001])
    with pytest.raises(ValueError, match="num_workers must be an integer >= 1"):
        distributed.run_tf_multiworker("tf_multiworker_mnist", num_workers=0)
    with pytest.raises(ValueError, match="threads_per_worker must be an integer >= 1"):
        distributed.run_tf_multiworker("tf_multiworker_mnist", threads_per_worker=0)
    with pytest.raises(TypeError, match="env_vars must be a dict"):
        distributed.run_horovod("allreduce_check", env_vars=["OMP_NUM_THREADS=1"])
    with pytest.raises(TypeError, match="args must be a list of strings, numbers or paths"):
        distributed.run_parameter_server("ps_training", args="--epochs 1")
