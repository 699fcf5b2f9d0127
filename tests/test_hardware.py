"""Tests for hpml_helpers.hardware: the roofline arithmetic against hand-worked numbers, layer intensities
of known layers, weight-free model building, the subprocess runner and the measurement helpers (small sizes)."""
import math

import matplotlib

matplotlib.use("Agg")  # noqa: E402  (no display in CI)

import numpy as np
import pytest

from hpml_helpers import cost, roofline, training_speed


def conv_block_model():
    """One 3x3 convolution, 64 -> 64 channels, on 56x56 maps with "same" padding."""
    import keras

    return keras.Sequential([keras.Input((56, 56, 64)), keras.layers.Conv2D(64, 3, padding="same", name="conv")],
                            name="one_conv")


# ---------------------------------------------------------------------------------------------
# Roofline arithmetic
# ---------------------------------------------------------------------------------------------
def test_attainable_is_the_minimum_of_peak_and_intensity_times_bandwidth():
    assert roofline.attainable_gflops(0.5, 200.0, 20.0) == pytest.approx(10.0)    # memory-bound: 0.5 x 20
    assert roofline.attainable_gflops(100.0, 200.0, 20.0) == pytest.approx(200.0)  # compute-bound: the peak
    assert roofline.attainable_gflops(10.0, 200.0, 20.0) == pytest.approx(200.0)   # exactly at the ridge
    curve = roofline.attainable_gflops(np.array([0.1, 1.0, 100.0]), 200.0, 20.0)
    np.testing.assert_allclose(curve, [2.0, 20.0, 200.0])


def test_ridge_point_and_bound():
    assert roofline.ridge_point(200.0, 20.0) == pytest.approx(10.0)
    assert roofline.bound(0.5, 200.0, 20.0) == "memory"
    assert roofline.bound(131.9, 200.0, 20.0) == "compute"
    # The same layer is compute-bound on this CPU and memory-bound on a GPU whose ridge is far to the right.
    h100_tensor_peak, h100_bandwidth = roofline.gpu_rooflines(["H100 SXM"])["H100 SXM tensor FP16/BF16"]
    assert roofline.ridge_point(h100_tensor_peak, h100_bandwidth) == pytest.approx(989e3 / 3350)
    assert roofline.bound(131.9, h100_tensor_peak, h100_bandwidth) == "memory"


@pytest.mark.parametrize("call, argument", [
    (lambda: roofline.attainable_gflops(1.0, -1.0, 20.0), "peak_gflops"),
    (lambda: roofline.attainable_gflops(1.0, 200.0, 0), "bandwidth_gbs"),
    (lambda: roofline.attainable_gflops([1.0, 0.0], 200.0, 20.0), "intensity"),
    (lambda: roofline.ridge_point(True, 20.0), "peak_gflops"),
    (lambda: roofline.bound(float("nan"), 200.0, 20.0), "intensity"),
    (lambda: roofline.gpu_rooflines(["A100"]), "names"),
    (lambda: roofline.memory_bandwidth([]), "sizes_mb"),
    (lambda: roofline.memory_bandwidth([1], threads=0), "threads"),
])
def test_bad_arguments_name_the_argument(call, argument):
    with pytest.raises((ValueError, TypeError), match=argument):
        call()


def test_datasheets_are_the_published_numbers():
    sheets = roofline.GPU_DATASHEETS
    assert (sheets["V100 SXM2"]["fp32_tflops"], sheets["V100 SXM2"]["tensor_tflops"]) == (15.7, 125.0)
    assert sheets["V100 SXM2"]["bandwidth_tbs"] == 0.9
    assert sheets["H100 SXM"]["bandwidth_tbs"] == 3.35 and sheets["H200 SXM"]["bandwidth_tbs"] == 4.8
    assert sheets["H200 SXM"]["tensor_tflops"] == sheets["H100 SXM"]["tensor_tflops"] == 989.0
    assert all("nvidia.com" in sheet["source"] for sheet in sheets.values())
    roofs = roofline.gpu_rooflines()
    assert roofs["V100 SXM2 FP32"] == (15700.0, 900.0) and len(roofs) == 2 * len(sheets)


# ---------------------------------------------------------------------------------------------
# Building without weights, layer intensities
# ---------------------------------------------------------------------------------------------
def test_count_architecture_counts_without_allocating_and_leaves_keras_clean():
    import keras
    from keras.src.backend.common import global_state

    from hpml_helpers import cost

    model, counted = cost.count_architecture(conv_block_model)
    assert counted.params == 3 * 3 * 64 * 64 + 64 == model.count_params()
    assert counted.macs == 56 * 56 * 64 * 64 * 9
    assert not global_state.get_global_attribute("uninitialized_variables", [])
    # Models built afterwards are normal, and counting them works as before.
    normal = conv_block_model()
    assert normal(np.zeros((1, 56, 56, 64), dtype="float32")).shape == (1, 56, 56, 64)
    assert cost.count(normal).macs == counted.macs
    with pytest.raises(TypeError, match="build must be a function"):
        cost.count_architecture(keras.Sequential())


def test_intensity_of_a_conv_layer_worked_by_hand():
    model, _ = cost.count_architecture(conv_block_model)
    (row,) = roofline.layer_intensities(model)
    flops = 2 * 56 * 56 * 64 * 64 * 9                        # 231,211,008
    moved = 4 * (3 * 3 * 64 * 64 + 64 + 2 * 56 * 56 * 64)    # weights + bias + input + output, float32
    assert (row["flops"], row["bytes"]) == (flops, moved)
    assert row["intensity"] == pytest.approx(131.87, abs=0.01)
    # A batch of 8 reads the weights once for 8 images: more FLOPs per byte.
    (batched,) = roofline.layer_intensities(model, batch_size=8)
    assert batched["intensity"] == pytest.approx(8 * flops / (4 * (36928 + 8 * 2 * 200704)))
    (half,) = roofline.layer_intensities(model, dtype="bfloat16")
    assert half["intensity"] == pytest.approx(2 * row["intensity"])
    with pytest.raises(ValueError, match="batch_size"):
        roofline.layer_intensities(model, batch_size=0)
    with pytest.raises(ValueError, match="dtype"):
        roofline.layer_intensities(model, dtype="int8")


def test_alexnet_fully_connected_layers_are_memory_bound_at_batch_one():
    from hpml_helpers import models

    model, counted = cost.count_architecture(lambda: models.alexnet(variant="full"))
    assert counted.macs == pytest.approx(0.714e9, rel=0.01)
    rows = {row["name"]: row for row in roofline.layer_intensities(model)}
    assert list(rows) == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    fc6 = rows["fc6"]  # 9,216 x 4,096 weights, each used once per image: 2 FLOPs per 4 bytes
    assert fc6["intensity"] == pytest.approx(2 * 9216 * 4096 / (4 * (9216 * 4096 + 4096 + 9216 + 4096)))
    assert rows["conv1"]["input_elements"] == 228 * 228 * 3  # the 2-pixel zero padding is read too
    assert all(rows[name]["intensity"] > 50 for name in ("conv1", "conv2", "conv3", "conv4", "conv5"))


def test_measure_layers_times_each_layer_alone():
    from hpml_helpers import models

    model = models.lenet5()
    rows = roofline.layer_intensities(model, batch_size=4)
    measured = roofline.measure_layers(model, rows, repeats=2)
    assert [row["name"] for row in measured] == ["conv1", "conv2", "fc1", "fc2", "output"]
    assert all(row["seconds"] > 0 and row["measured_gflops"] > 0 for row in measured)
    with pytest.raises(ValueError, match="layer_intensities"):
        roofline.measure_layers(model, [{"name": "nothing", "batch_size": 1, "flops": 1}])


def test_plots_return_figures():
    import matplotlib.pyplot as plt

    rows = [{"name": "a", "intensity": 0.5}, {"name": "b", "intensity": 100.0, "measured_gflops": 50.0}]
    figure = roofline.plot_roofline(200.0, 20.0, layers={"net": rows}, others=roofline.gpu_rooflines(["V100 SXM2"]))
    assert len(figure.axes[0].lines) >= 3  # this machine, two V100 roofs (and the ridge line)
    speeds = [{"workload": "lenet5", "setting": name, "images_per_second": rate}
              for name, rate in (("oneDNN on", 2.0), ("oneDNN off", 1.0))]
    for figure in (figure, cost.plot_model_costs([{"model": "m", "flops": 2e9, "params": 5e6}]),
                   training_speed.plot_speeds(speeds)):
        assert isinstance(figure, plt.Figure)
    plt.close("all")
    with pytest.raises(TypeError, match="layers must be a dict"):
        roofline.plot_roofline(200.0, 20.0, layers=rows)


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------
def test_memory_bandwidth_is_positive():
    rows = roofline.memory_bandwidth((1, 8), threads=2, repeats=2)
    assert [row["megabytes"] for row in rows] == [1, 8]
    assert all(row["gb_per_s"] > 0.1 and math.isfinite(row["gb_per_s"]) for row in rows)


def test_tensorflow_roofline_on_the_cpu():
    gflops, gbs = roofline.tensorflow_roofline("/CPU:0", n=256, megabytes=8, repeats=2)
    assert gflops > 0.1 and gbs > 0.1
    with pytest.raises(ValueError, match="dtype"):
        roofline.tensorflow_roofline(dtype="int8")


def test_run_worker_passes_env_and_returns_its_result_lines(tmp_path):
    script = tmp_path / "echo.py"
    script.write_text("import json, os, sys\nfor n in (1, 2):\n"
                      "    print('HPML_RESULT ' + json.dumps({'value': os.environ['HPML_TEST'], 'n': n, 'arg': sys.argv[1]}))\n")
    results = training_speed.run_worker(script, ["x"], env={"HPML_TEST": "set here"}, name="echo")
    assert [r["n"] for r in results] == [1, 2] and results[0]["value"] == "set here" and results[0]["arg"] == "x"
    assert results[0]["process_seconds"] > 0


def test_run_worker_reports_the_scripts_failure(tmp_path):
    for name, code in (("divide", "x = 1 / 0"), ("silent", "x = 1"), ("sleep", "import time\ntime.sleep(30)")):
        (tmp_path / f"{name}.py").write_text(code)
    with pytest.raises(training_speed.WorkerError, match=r"divide.*failed.*ZeroDivisionError: division by zero"):
        training_speed.run_worker(tmp_path / "divide.py", name="divide")
    with pytest.raises(training_speed.WorkerError, match="printed no result line"):
        training_speed.run_worker(tmp_path / "silent.py")
    with pytest.raises(training_speed.WorkerError, match="did not finish within 1 s"):
        training_speed.run_worker(tmp_path / "sleep.py", timeout=1)
    with pytest.raises(ValueError, match="script"):
        training_speed.run_worker(tmp_path / "missing.py")
    with pytest.raises(TypeError, match="env"):
        training_speed.run_worker(tmp_path / "silent.py", env={"A": 1.5})


def test_training_speed_worker_runs_by_hand_on_a_tiny_workload():
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(training_speed.WORKER), "--workloads", "lenet5", "--batch-sizes", "8",
                           "--onednn", "off", "--threads", "1", "--seconds", "0.05"],
                          capture_output=True, text=True, timeout=240, cwd="/")
    assert done.returncode == 0, done.stderr[-2000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("HPML_RESULT ")]
    result = json.loads(line[len("HPML_RESULT "):])
    assert result["workload"] == "lenet5" and result["onednn"] is False and result["threads"] == 1
    assert result["images_per_second"] > 0 and result["batch_size"] == 8
    bad = subprocess.run([sys.executable, str(training_speed.WORKER), "--seconds", "-1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--seconds" in bad.stderr


@pytest.mark.parametrize("kwargs, argument", [
    ({"workloads": "lenet5"}, "workloads"), ({"workloads": ("resnet",)}, "workloads"),
    ({"variants": (("float16", False),)}, "variants"), ({"variants": (("float32", "yes"),)}, "variants"),
    ({"onednn": "off"}, "onednn"), ({"threads": 0}, "threads"), ({"batch_size": -1}, "batch_size"),
    ({"seconds": 0}, "seconds"),
])
def test_keras_training_speed_checks_its_arguments(kwargs, argument):
    with pytest.raises((ValueError, TypeError), match=argument):
        training_speed.keras_training_speed(**kwargs)


def test_keras_training_speed_with_onednn_off_runs_in_its_own_process():
    (result,) = training_speed.keras_training_speed(workloads=("lenet5",), onednn=False, threads=1, batch_size=32,
                                              seconds=0.1)
    assert result["onednn"] is False and result["threads"] == 1  # the child really ran without oneDNN
    assert result["setting"] == "oneDNN off, 1 thread(s), float32"
    assert result["workload"] == "lenet5" and result["images_per_second"] > 0 and result["train_gflops"] > 0


def test_keras_training_speed_times_a_real_resnet_on_small_images():
    """ResNet-50 of keras.applications at 32x32 (the smallest it takes): its FLOP/s come from the kit's count."""
    from hpml_helpers import cost

    (result,) = training_speed.keras_training_speed(workloads=("resnet50",), batch_size=1, image_size=32, seconds=0.1)
    assert result["workload"] == "resnet50" and result["image_size"] == 32 and result["batch_size"] == 1
    macs = cost.count_application("ResNet50").macs * (32 / 224) ** 2  # convolutions scale with the positions
    assert result["train_gflops"] == pytest.approx(6 * macs * result["images_per_second"] / 1e9, rel=0.1)


def test_speed_ratios_divide_the_matching_settings():
    def row(rate, precision="float32", jit_compile=False, onednn=True, threads=2):
        return {"workload": "w", "precision": precision, "jit_compile": jit_compile, "onednn": onednn,
                "threads": threads, "images_per_second": rate}

    rows = [row(100.0), row(250.0, "mixed_bfloat16"), row(40.0, jit_compile=True), row(20.0, onednn=False),
            row(60.0, threads=1)]
    assert training_speed.speed_ratios(rows) == {"w": pytest.approx({
        "oneDNN on / off": 5.0, "all cores / 1 thread": 100 / 60, "mixed bfloat16 / float32": 2.5,
        "XLA / no XLA": 0.4})}
    assert training_speed.speed_ratios(rows[:1]) == {"w": {}}  # nothing to compare with
    with pytest.raises(ValueError, match="no float32 run of w"):
        training_speed.speed_ratios(rows[1:2])


def test_framework_speed_trains_the_same_lenet5_in_both():
    speeds = training_speed.framework_speed(num_images=256, batch_size=64, num_epochs=2)
    assert set(speeds) == {"keras", "gluon"} and all(value > 0 for value in speeds.values())
    with pytest.raises(ValueError, match="frameworks"):
        training_speed.framework_speed(frameworks=("torch",))
