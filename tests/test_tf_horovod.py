"""The second environment, .venv-tf-horovod: Horovod built for TensorFlow 2.15 + Gloo, and its Keras workers
on 2 local ranks (launched from the main environment by ``distributed.run_horovod(..., env="tensorflow")``).

`make test` builds that environment first (scripts/setup.sh), so these tests never skip: when it is
missing they fail and say how to build it. Short runs (a few seconds of training each).
"""
import subprocess

import numpy as np
import pytest

from hpml_helpers import backends, horovod_build, distributed

pytestmark = pytest.mark.timeout(300)
TF_VENV = distributed.HOROVOD_ENVS["tensorflow"]
ONE_THREAD = 1  # two ranks on two cores: one math thread each


@pytest.fixture(scope="module", autouse=True)
def second_environment():
    """Fail (not skip) with the fix when the environment is missing: `make test` is meant to build it."""
    if not (TF_VENV / "bin" / "python").exists():
        pytest.fail(f"{TF_VENV} is missing: run `bash scripts/setup.sh` (or `make test`) from the repository "
                    f"root; it builds it from requirements-tf-horovod.txt in about 5 minutes")


def test_check_build_lists_tensorflow_and_gloo():
    horovodrun = horovod_build.horovodrun_path(str(TF_VENV))
    # The command itself, not the kit's cached answer: this is the check the set-up promises.
    done = subprocess.run([horovodrun, "--check-build"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"horovodrun --check-build failed in {TF_VENV}:\n{done.stdout}{done.stderr}"
    build = horovod_build.parse_check_build(done.stdout)
    assert build["version"] == "0.28.1"
    assert "TensorFlow" in build["frameworks"] and "Gloo" in build["controllers"], done.stdout
    built = horovod_build.frameworks_with_extension(horovodrun, build["frameworks"])
    assert built == ["TensorFlow"]  # compiled for TensorFlow only: MXNet's Horovod lives in .venv
    assert distributed.horovod_python("tensorflow") == TF_VENV / "bin" / "python"


def test_keras_worker_on_two_ranks_keeps_identical_weights_and_learns(tmp_path):
    checkpoint = tmp_path / "lenet5.h5"
    results = distributed.run_horovod(
        "horovod_keras_mnist", num_proc=2, env="tensorflow", timeout=180, threads_per_worker=ONE_THREAD,
        stream=False, args=["--num-train", 2048, "--batch-size", 32, "--epochs", 2, "--learning-rate", 0.025,
                            "--warmup-epochs", 1, "--checkpoint", checkpoint])
    assert [r["rank"] for r in results] == [0, 1] and all(r["size"] == 2 for r in results)
    rank0, rank1 = results
    assert rank0["tensorflow"] == "2.15.1" and rank0["keras"].startswith("2.15")
    # Each rank drew its own initial weights; the broadcast and the averaged gradients make them one model.
    assert rank0["param_digest"] == rank1["param_digest"] and rank0["param_sum"] == rank1["param_sum"]
    assert rank0["update_norm"] > 0.1 and rank0["update_norm"] != rank1["update_norm"]
    assert rank0["steps"] == rank1["steps"] == 64  # 2048 images / (32 x 2) = 32 steps per epoch, 2 epochs
    assert rank0["losses"] == rank1["losses"] and rank0["local_losses"] != rank1["local_losses"]  # own shards
    first, last = np.mean(rank0["losses"][:5]), np.mean(rank0["losses"][-5:])
    assert last < 0.8 * first, (first, last)
    assert rank0["epoch_losses"][1] < rank0["epoch_losses"][0]
    assert rank0["epoch_losses"] == rank1["epoch_losses"]  # MetricAverageCallback: the same on every rank
    # Horovod's warmup: from rate/size to rate = 2 x 0.025 over one epoch (32 steps), then constant.
    rates = rank0["learning_rates"]
    assert rates[0] == pytest.approx(0.025 * (1 + 1 / 32)) and rates[31] == pytest.approx(0.05)
    assert rates[-1] == pytest.approx(0.05) and rates == rank1["learning_rates"]
    assert rank0["test_accuracy"] > 0.6 and rank1["test_accuracy"] is None
    assert rank0["checkpoint"] == str(checkpoint) and checkpoint.stat().st_size > 200_000  # 61,706 float32
    assert rank0["total_images_per_second"] == pytest.approx(
        rank0["images_per_second"] + rank1["images_per_second"], rel=1e-4)


def test_two_keras_ranks_match_one_process_with_the_double_batch():
    """2 ranks x batch 32 (rate 0.05 scaled to 0.1) == 1 process x batch 64 at rate 0.1, same data order:
    hvd.DistributedOptimizer averages the gradients, so data parallelism changes nothing but the speed.
    (Same initial weights on both ranks: Horovod's Keras callback broadcasts only after the first batch.)"""
    common = ["--num-train", 1024, "--epochs", 1, "--warmup-epochs", 0, "--momentum", 0, "--seed", 7,
              "--num-test", 100, "--same-initial-weights"]
    two = distributed.run_horovod("horovod_keras_mnist", num_proc=2, env="tensorflow", timeout=180,
                                  threads_per_worker=ONE_THREAD, stream=False,
                                  args=common + ["--batch-size", 32, "--learning-rate", 0.05])
    one = distributed.run_horovod("horovod_keras_mnist", num_proc=1, env="tensorflow", timeout=180,
                                  threads_per_worker=ONE_THREAD, stream=False,
                                  args=common + ["--batch-size", 64, "--learning-rate", 0.1])
    assert two[0]["learning_rates"] == one[0]["learning_rates"] == [pytest.approx(0.1)] * 16
    np.testing.assert_allclose(two[0]["losses"], one[0]["losses"], rtol=1e-4, atol=1e-5)
    assert one[0]["update_norm"] > 0.05
    assert two[0]["param_sum"] == pytest.approx(one[0]["param_sum"], rel=1e-4, abs=1e-3)


def test_tf_synthetic_benchmark_reports_per_worker_and_total_rates():
    results = distributed.run_horovod(
        "horovod_tf_synthetic_benchmark", num_proc=2, env="tensorflow", timeout=180, threads_per_worker=ONE_THREAD,
        stream=False, args=["--batch-size", 32, "--num-warmup-batches", 2, "--num-batches-per-iter", 3,
                            "--num-iters", 2])
    assert [r["rank"] for r in results] == [0, 1]
    for result in results:
        assert result["size"] == 2 and result["model"] == "lenet5" and len(result["rates"]) == 2
        assert result["images_per_second"] > 0 and result["cores_used"] > 0
    assert results[0]["total_images_per_second"] == pytest.approx(
        sum(r["images_per_second"] for r in results), rel=1e-4)


def test_worker_arguments_are_checked_before_any_rank_starts_training():
    with pytest.raises(distributed.WorkerError, match="too small for --batch-size 64 on 2 worker"):
        distributed.run_horovod("horovod_keras_mnist", num_proc=2, env="tensorflow", timeout=120,
                                threads_per_worker=ONE_THREAD, stream=False,
                                args=["--num-train", 100, "--batch-size", 64])


def test_missing_environment_says_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.setitem(distributed.HOROVOD_ENVS, "tensorflow", tmp_path / "no-such-venv")
    with pytest.raises(RuntimeError, match=r"Horovod for TensorFlow is not installed.*bash scripts/setup.sh"):
        distributed.run_horovod("horovod_keras_mnist", env="tensorflow")
