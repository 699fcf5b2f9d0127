"""The worker scripts on real engines, 2 processes on 127.0.0.1: Horovod + Gluon, MXNet's parameter server,
TensorFlow's MultiWorkerMirroredStrategy, and the Horovod benchmarks. Short runs (a few seconds of training).

The key check is ``test_two_horovod_ranks_match_one_process_with_the_double_batch``: data-parallel SGD is
the same algorithm as single-process SGD with the global batch, up to float rounding.
"""
import json
import threading
import time
import uuid

import numpy as np
import psutil
import pytest

from hpml_helpers import distributed
from test_distributed import processes_running

pytestmark = pytest.mark.timeout(300)
ONE_THREAD = 1  # two workers on two cores: one math thread each


def first_and_last(losses, window=5):
    return float(np.mean(losses[:window])), float(np.mean(losses[-window:]))


# --------------------------------------------------------------------------------------------- Horovod

def test_horovod_gluon_training_on_two_ranks(tmp_path):
    checkpoint = tmp_path / "lenet5.params"
    results = distributed.run_horovod(
        "horovod_gluon_mnist", num_proc=2, timeout=180, threads_per_worker=ONE_THREAD, stream=False,
        args=["--num-train", 2048, "--batch-size", 32, "--epochs", 2, "--max-steps", 40, "--learning-rate", 0.05,
              "--warmup-epochs", 1, "--checkpoint", checkpoint])
    assert [r["rank"] for r in results] == [0, 1] and all(r["size"] == 2 for r in results)
    rank0, rank1 = results
    assert rank0["param_digest"] == rank1["param_digest"]  # the ranks hold bit-identical parameters
    assert rank0["param_sum"] == rank1["param_sum"] and rank0["update_norm"] > 0.1
    assert rank0["losses"] == rank1["losses"] and rank0["local_losses"] != rank1["local_losses"]  # own shards
    first, last = first_and_last(rank0["losses"])
    assert last < 0.8 * first, (first, last)
    # Linear scaling with warmup: from the 1-worker rate 0.05 towards 2 x 0.05 over one epoch (32 steps).
    rates = rank0["learning_rates"]
    assert rates[0] == pytest.approx(0.05) and rates[16] == pytest.approx(0.075) and rates[39] == pytest.approx(0.1)
    assert rank0["test_accuracy"] > 0.6 and rank1["test_accuracy"] is None
    assert rank0["checkpoint"] == str(checkpoint) and checkpoint.stat().st_size > 200_000  # 61,706 float32
    assert rank0["total_images_per_second"] == pytest.approx(rank0["images_per_second"] + rank1["images_per_second"],
                                                             rel=1e-4)


def test_two_horovod_ranks_match_one_process_with_the_double_batch(tmp_path):
    """2 ranks x batch 32 (rate 0.05 scaled to 0.1) == 1 process x batch 64 at rate 0.1, same data order."""
    import mxnet as mx

    common = ["--num-train", 1024, "--max-steps", 12, "--warmup-epochs", 0, "--momentum", 0, "--seed", 7,
              "--num-test", 100]
    two = distributed.run_horovod(
        "horovod_gluon_mnist", num_proc=2, timeout=180, threads_per_worker=ONE_THREAD, stream=False,
        args=common + ["--batch-size", 32, "--learning-rate", 0.05, "--checkpoint", tmp_path / "two.params"])
    one = distributed.run_horovod(
        "horovod_gluon_mnist", num_proc=1, timeout=180, threads_per_worker=ONE_THREAD, stream=False,
        args=common + ["--batch-size", 64, "--learning-rate", 0.1, "--checkpoint", tmp_path / "one.params"])
    assert two[0]["learning_rates"] == one[0]["learning_rates"] == [pytest.approx(0.1)] * 12
    assert two[0]["global_batch_size"] == one[0]["global_batch_size"] == 64
    np.testing.assert_allclose(two[0]["losses"], one[0]["losses"], rtol=1e-4, atol=1e-5)
    parallel, single = mx.nd.load(str(tmp_path / "two.params")), mx.nd.load(str(tmp_path / "one.params"))
    assert sorted(parallel) == sorted(single)
    difference = np.sqrt(sum(np.sum((parallel[k].asnumpy().astype(np.float64) - single[k].asnumpy()) ** 2)
                             for k in single))
    # The parameters moved (update_norm), and the two runs moved them the same way up to float rounding.
    assert one[0]["update_norm"] > 0.05
    assert difference < 1e-4 * one[0]["update_norm"], (difference, one[0]["update_norm"])


def test_killed_horovod_rank_ends_the_run_and_every_process(tmp_path):
    marker = f"killme-{uuid.uuid4().hex[:8]}"
    checkpoint = tmp_path / f"{marker}.params"
    killed = {}

    def kill_rank_one_when_training():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if checkpoint.exists():  # rank 0 finished an epoch: training is under way
                for process in psutil.process_iter(["pid", "cmdline", "name"]):
                    try:
                        cmdline = process.info["cmdline"] or []
                        if (any(marker in part for part in cmdline) and "horovodrun" not in " ".join(cmdline)
                                and "python" in process.info["name"]
                                and process.environ().get("HOROVOD_RANK") == "1"):
                            process.kill()
                            killed["at"] = time.monotonic()
                            return
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        pass
            time.sleep(0.2)

    killer = threading.Thread(target=kill_rank_one_when_training, daemon=True)
    killer.start()
    with pytest.raises(distributed.WorkerError) as failure:
        distributed.run_horovod("horovod_gluon_mnist", num_proc=2, timeout=150, threads_per_worker=ONE_THREAD,
                                stream=False, args=["--num-train", 512, "--batch-size", 32, "--epochs", 10_000,
                                                    "--log-every", 1000, "--checkpoint", checkpoint])
    killer.join(timeout=5)
    assert killed, "the test never found rank 1 to kill"
    assert time.monotonic() - killed["at"] < 60
    assert failure.value.label == "rank 1" and "SIGKILL" in str(failure.value)
    assert processes_running(marker) == []


# ------------------------------------------------------------------------------------ parameter server

@pytest.mark.parametrize("mode", ["dist_sync", "dist_async"])
def test_parameter_server_training_reduces_the_loss(mode):
    results = distributed.run_parameter_server(
        "ps_training", num_workers=2, mode=mode, timeout=180, threads_per_worker=ONE_THREAD, stream=False,
        args=["--num-train", 4096, "--batch-size", 32, "--learning-rate", 0.1, "--momentum", 0, "--num-test", 1000])
    assert sorted(r["rank"] for r in results) == [0, 1]
    for result in results:
        assert result["mode"] == mode and result["num_workers"] == 2 and result["steps"] == 64
        assert len(result["losses"]) == len(result["seconds"]) == 64
        assert result["seconds"] == sorted(result["seconds"])  # wall time of each update, increasing
        assert result["initial_loss"] > 2.0  # untrained: about ln(10) = 2.30
        first, last = first_and_last(result["losses"])
        assert last < 0.7 * first, (mode, first, last)
        assert result["final_loss"] < 0.75 * result["initial_loss"] and result["final_accuracy"] > 0.5
    # After the barrier both workers pull the servers' final parameters, in either mode.
    assert results[0]["final_loss"] == pytest.approx(results[1]["final_loss"], rel=1e-6)
    if mode == "dist_sync":  # lock step: the last pull already was the final state
        assert all(r["last_pull_loss"] == pytest.approx(r["final_loss"], rel=1e-6) for r in results)


# -------------------------------------------------------------------------------- TensorFlow multi-worker

def test_tf_multiworker_training_keeps_identical_weights():
    results = distributed.run_tf_multiworker(
        "tf_multiworker_mnist", num_workers=2, timeout=240, threads_per_worker=ONE_THREAD, stream=False,
        args=["--num-train", 2048, "--batch-size", 32, "--epochs", 2, "--max-steps", 40])
    assert [r["rank"] for r in results] == [0, 1] and all(r["num_workers"] == 2 for r in results)
    assert results[0]["param_digest"] == results[1]["param_digest"]
    assert results[0]["losses"] == pytest.approx(results[1]["losses"])  # strategy.reduce: the global loss
    first, last = first_and_last(results[0]["losses"])
    assert results[0]["steps"] == 40 and last < 0.8 * first, (first, last)
    assert results[0]["test_accuracy"] > 0.5 and results[1]["test_accuracy"] is None


# ----------------------------------------------------------------------------------- Horovod benchmarks

def test_synthetic_benchmark_reports_per_worker_and_total_rates():
    results = distributed.run_horovod(
        "horovod_synthetic_benchmark", num_proc=2, timeout=180, threads_per_worker=ONE_THREAD, stream=False,
        args=["--num-warmup-batches", 3, "--num-iters", 3, "--num-batches-per-iter", 5, "--batch-size", 32])
    rates = [r["images_per_second"] for r in results]
    assert all(rate > 0 and len(r["rates"]) == 3 for rate, r in zip(rates, results))
    for result in results:
        assert result["total_images_per_second"] == pytest.approx(sum(rates), rel=1e-4)


def read_timeline(path):
    """Horovod writes its timeline as a JSON array it may not close; read the events either way."""
    text = path.read_text().strip().rstrip(",")
    return json.loads(text if text.endswith("]") else text + "]")


def test_allreduce_benchmark_sizes_and_tensor_fusion(tmp_path):
    timeline = tmp_path / "timeline.json"
    args = ["--quick", "--max-bytes", 16384, "--repeats", 5, "--fusion-tensors", 64, "--fusion-bytes", 4096]
    fused = distributed.run_horovod("horovod_allreduce_benchmark", num_proc=2, timeout=180, args=args,
                                    threads_per_worker=ONE_THREAD, stream=False,
                                    env_vars={"HOROVOD_TIMELINE": timeline})
    unfused_timeline = tmp_path / "timeline-unfused.json"
    unfused = distributed.run_horovod("horovod_allreduce_benchmark", num_proc=2, timeout=180, args=args,
                                      threads_per_worker=ONE_THREAD, stream=False,
                                      env_vars={"HOROVOD_FUSION_THRESHOLD": 0,
                                                "HOROVOD_TIMELINE": unfused_timeline})
    result = fused[0]
    assert result["sizes"] == [64, 1024, 16384]
    assert len(result["median_seconds"]) == 3 and all(0 < t < 1 for t in result["median_seconds"])
    assert all(len(times) == 5 for times in result["seconds"])
    assert result["fusion"]["threshold"].startswith("default") and unfused[0]["fusion"]["threshold"] == "0"
    # Whether fusion happened is read from Horovod's own timeline, not from timings (noisy on shared
    # machines; `make bench` reports the speed-up): with the default threshold the small tensors are
    # copied into the fusion buffer, with HOROVOD_FUSION_THRESHOLD=0 they never are.
    assert unfused[0]["fusion"]["median_seconds"] > 0 and result["fusion"]["median_seconds"] > 0
    names = {event.get("name") for event in read_timeline(timeline)}
    assert {"NEGOTIATE_ALLREDUCE", "ALLREDUCE", "MEMCPY_IN_FUSION_BUFFER"} <= names, names
    unfused_names = {event.get("name") for event in read_timeline(unfused_timeline)}
    assert "ALLREDUCE" in unfused_names and "MEMCPY_IN_FUSION_BUFFER" not in unfused_names, unfused_names
    assert result["timeline"] == str(timeline)


def test_bench_distributed_turns_measurements_into_rows(monkeypatch):
    """bench/bench_distributed.py's arithmetic, on made-up measurements (the real runs are above)."""
    from bench import bench_distributed
    from hpml_helpers import allreduce_model

    from hpml_helpers import distributed, scaling

    rates = {(1, 0): (1000.0, 1.0), (1, 1): (900.0, 1.0), (2, 0): (1800.0, 0.9)}  # (workers, first core)
    monkeypatch.setattr(bench_distributed, "_synthetic",
                        lambda num_proc, quick, first_core=0: rates[num_proc, first_core])
    training = {scaling.GLUON: (1000.0, 1800.0, 1900.0), scaling.TF_DISTRIBUTE: (1000.0, 1200.0, 2000.0)}

    def fake_training(framework, num_workers, rounds, **options):
        assert options["batch_size"] == bench_distributed.BATCH_SIZE
        one, many, independent = training[framework]
        return scaling.ScalingMeasurement(num_workers, one, many, independent, rounds)

    def no_second_environment(env):
        raise RuntimeError("the TensorFlow + Horovod environment is not built")

    monkeypatch.setattr(scaling, "measure_lenet5_mnist", fake_training)
    monkeypatch.setattr(distributed, "horovod_python", no_second_environment)
    sizes = [64 * 4 ** k for k in range(6)]
    seconds = [allreduce_model.ring_allreduce_time(size, 2, 500e-6, 1e9) for size in sizes]  # alpha 500 us, B 1 GB/s

    def fake_allreduce(quick, env_vars=None):
        fusion = 0.040 if env_vars else 0.004
        return [{"sizes": sizes, "median_seconds": seconds, "fusion": {"median_seconds": fusion}}] * 2

    monkeypatch.setattr(bench_distributed, "_allreduce", fake_allreduce)
    rows = {(row["benchmark"], row["case"]): row for row in bench_distributed.run(quick=True)}
    assert all(set(row) == {"benchmark", "case", "value", "unit", "note"} for row in rows.values())
    assert rows[(bench_distributed.SCALING, "efficiency")]["value"] == pytest.approx(0.9)  # 1800 / (2 x 1000)
    assert "NOT met" not in rows[(bench_distributed.SCALING, "efficiency")]["note"]
    assert rows[(bench_distributed.SCALING, "control: 2 independent 1-worker jobs")]["value"] == pytest.approx(0.95)
    gluon, keras2, tf_distribute = (bench_distributed.TRAINING[f] for f in scaling.FRAMEWORKS)
    assert rows[(gluon, "efficiency / control")]["value"] == pytest.approx(0.9 / 0.95)  # (1800/2000) / (1900/2000)
    assert "goal >= 0.85: met" in rows[(gluon, "efficiency / control")]["note"]
    assert rows[(tf_distribute, "efficiency / control")]["value"] == pytest.approx(0.6)  # 0.6 / 1.0
    assert "NOT met" in rows[(tf_distribute, "efficiency / control")]["note"]
    assert "NOT MEASURED" in rows[(keras2, "efficiency / control")]["note"]
    assert np.isnan(rows[(keras2, "efficiency / control")]["value"])
    assert rows[(bench_distributed.ALLREDUCE, "alpha (latency)")]["value"] == pytest.approx(500, rel=1e-3)
    assert rows[(bench_distributed.ALLREDUCE, "B (bandwidth)")]["value"] == pytest.approx(1.0, rel=1e-3)
    assert rows[(bench_distributed.FUSION, "speed-up from fusion")]["value"] == pytest.approx(10.0)
