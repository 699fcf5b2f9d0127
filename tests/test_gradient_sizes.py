"""The gradient tensors of real networks against hand counts, the power-of-2 histogram and the crossover shares,
the ring model on a gradient list, bad inputs, and one real 2-rank Horovod run of the list worker."""
import os
import subprocess
import sys

import numpy as np
import pytest

from hpml_helpers import allreduce_model, distributed
from hpml_helpers import gradient_sizes as gs


@pytest.fixture(scope="module")
def lists():
    return gs.gradient_lists()


def test_lenet5_tensors_by_hand(lists):
    lenet = lists["LeNet-5"]
    # conv1 5x5x1x6 + 6, conv2 5x5x6x16 + 16, fc1 400x120 + 120, fc2 120x84 + 84, output 84x10 + 10
    assert lenet.shapes == ((5, 5, 1, 6), (6,), (5, 5, 6, 16), (16,), (400, 120), (120,), (120, 84), (84,),
                            (84, 10), (10,))
    values = [150, 6, 2400, 16, 48000, 120, 10080, 84, 840, 10]
    assert lenet.tensor_bytes.tolist() == [4 * v for v in values]
    assert lenet.backprop_bytes() == [4 * v for v in reversed(values)]  # the output layer's gradients come first
    assert lenet.params == 61706 and lenet.total_bytes == 4 * 61706 and lenet.num_tensors == 10


def test_alexnet_vgg16_resnet50_counts(lists):
    alexnet, vgg, resnet = lists["AlexNet (small)"], lists["VGG-16"], lists["ResNet-50"]
    assert alexnet.num_tensors == 16 and alexnet.params == 229_482  # 5 conv + 3 dense, kernel and bias each
    assert vgg.num_tensors == 32 and vgg.params == 138_357_544  # 13 conv + 3 dense
    assert vgg.tensor_bytes.max() == 4 * 25088 * 4096  # fc1: 7x7x512 inputs x 4096 units, 411 MB
    # Keras's ResNet-50: 53 convolutions with kernel and bias, 53 batch norms (gamma, beta), the dense layer:
    # 214 trainable tensors, slide 73's "N=214 buffers"; without the 53 conv biases (torchvision) 161.
    assert resnet.num_tensors == 214
    assert sum(name.endswith("_conv/bias") for name in resnet.names) == 53
    assert resnet.num_tensors - 53 == 161
    assert resnet.params == 25_583_592  # 25.6 M with the 53,120 moving means and variances, not trainable
    assert resnet.tensor_bytes.max() == 4 * 3 * 3 * 512 * 512


def test_histogram_bins_are_powers_of_two():
    histogram = gs.size_histogram([1, 2, 3, 4, 7, 8, 1024])
    assert histogram.exponents.tolist() == list(range(11))  # every bin from 2^0 to 2^10, empty ones too
    assert histogram.counts.tolist() == [1, 2, 2, 1] + [0] * 6 + [1]
    assert histogram.bytes.tolist() == [1, 5, 11, 8] + [0] * 6 + [1024]


def test_resnet50_histogram_starts_as_on_slide_73(lists):
    histogram = gs.size_histogram(lists["ResNet-50"])
    assert histogram.counts.sum() == 214 and histogram.bytes.sum() == lists["ResNet-50"].total_bytes
    # slide 73 counts parameters: its bins 2^6, 2^7, 2^8 values (64-channel biases and batch norms ...) hold
    # 21, 24 and 48 buffers; in float32 bytes those are the bins 2^8, 2^9, 2^10.
    assert histogram.exponents[0] == 8 and histogram.counts[:3].tolist() == [21, 24, 48]


@pytest.mark.parametrize("crossover", [1, 100, 4096, 5000, 10**9])
def test_shares_sum_to_one(crossover):
    sizes = [64, 100, 4096, 10**6]
    shares = gs.crossover_shares(sizes, crossover)
    assert shares.tensors_below + shares.tensors_above == 4
    assert shares.bytes_below + shares.bytes_above == sum(sizes)
    assert 0 <= shares.share_tensors_below <= 1 and 0 <= shares.share_bytes_below <= 1
    row = gs.share_rows({"x": gs.GradientList("x", ("a", "b", "c", "d"), ((16,), (25,), (1024,), (250000,)))},
                        crossover)[0]
    assert row["share of tensors below"] + row["share of tensors above"] == pytest.approx(1)
    assert row["share of bytes below"] + row["share of bytes above"] == pytest.approx(1)
    assert row["share of tensors below"] == pytest.approx(shares.share_tensors_below)


def test_a_tensor_at_the_crossover_counts_as_bandwidth_bound():
    shares = gs.crossover_shares([100, 4096, 5000], 4096)
    assert (shares.tensors_below, shares.bytes_below, shares.bytes_above) == (1, 100, 9096)


def test_predictions_one_by_one_and_in_buffers():
    alpha, bandwidth, p = 1e-4, 1e9, 2
    sizes = [300, 300, 300]
    separate, buffers = gs.predicted_list_seconds(sizes, p, alpha, bandwidth, threshold=0)
    assert buffers == 3 and separate == pytest.approx(3 * allreduce_model.ring_allreduce_time(300, p, alpha, bandwidth))
    fused, buffers = gs.predicted_list_seconds(sizes, p, alpha, bandwidth, threshold=None)  # 900 B < 64 MB
    assert buffers == 1 and fused == pytest.approx(allreduce_model.ring_allreduce_time(900, p, alpha, bandwidth))
    packed, buffers = gs.predicted_list_seconds(sizes, p, alpha, bandwidth, threshold=600)  # [600, 300]
    assert buffers == 2 and packed == pytest.approx(2 * 2 * alpha + 900 / bandwidth)  # p = 2: 2 alpha + N/B each
    rows = gs.fusion_rows([{"threshold": 0, "label": "off", "median_seconds": 2 * separate}], sizes, p, alpha, bandwidth)
    assert rows[0]["measured / model"] == pytest.approx(2.0) and rows[0]["buffers (model)"] == 3


def test_plots_draw_one_panel_per_network(lists):
    import matplotlib.pyplot as plt

    figure = gs.plot_size_histograms(lists, 300e3)
    assert sum(ax.get_visible() for ax in figure.axes) == 4
    assert all(any(line.get_xdata()[0] == pytest.approx(np.log2(300e3)) for line in ax.lines) for ax in figure.axes)
    rows = [{"case": "off", "measured (ms)": 3.0, "ring model (ms)": 2.0}]
    assert len(gs.plot_fusion(rows).axes[0].patches) == 2
    plt.close("all")
    assert gs.format_bytes(4096) == "4 KB" and gs.format_bytes(100) == "100 B"


BAD = [
    (gs.gradient_list, ("ResNet-51",), ValueError, "network must be one of"),
    (gs.gradient_list, (None,), ValueError, "network must be one of"),
    (gs.size_histogram, ([],), ValueError, "tensor_bytes"),
    (gs.size_histogram, ([0, 4],), ValueError, "tensor_bytes"),
    (gs.size_histogram, ([1.5],), ValueError, "whole numbers"),
    (gs.size_histogram, ("1024",), TypeError, "tensor_bytes"),
    (gs.size_histogram, (4096,), TypeError, "tensor_bytes"),
    (gs.size_histogram, ([[4], [8, 16]],), TypeError, "tensor_bytes"),
    (gs.crossover_shares, ([4], 0), ValueError, "crossover_bytes"),
    (gs.crossover_shares, ([4], "1e5"), TypeError, "crossover_bytes"),
    (gs.share_rows, ({}, 1e5), TypeError, "gradient_lists"),
    (gs.share_rows, ({"x": [4, 8]}, 1e5), TypeError, "gradient_lists"),
    (gs.plot_size_histograms, ({}, 1e5), TypeError, "gradient_lists"),
    (gs.predicted_list_seconds, ([4], 2, 1e-4, 1e9, -1), ValueError, "threshold"),
    (gs.predicted_list_seconds, ([4], 2, 1e-4, 1e9, 1.5), TypeError, "threshold"),
    (gs.predicted_list_seconds, ([4], 1, 1e-4, 1e9, 0), ValueError, "num_workers"),
    (gs.predicted_list_seconds, ([4], 2, -1e-4, 1e9, 0), ValueError, "latency"),
    (gs.fusion_rows, ([{"threshold": 0}], [4], 2, 1e-4, 1e9), ValueError, "label"),
    (gs.plot_fusion, ([{"case": "x"}],), ValueError, "measured"),
    (gs.write_sizes, (None, [4]), TypeError, "path"),
    (gs.measure_list_allreduce, ([4],), {"thresholds": [-1]}, ValueError, "thresholds"),
    (gs.measure_list_allreduce, ([4],), {"repeats": 0}, ValueError, "repeats"),
    (gs.measure_list_allreduce, ([4],), {"thresholds": 0}, TypeError, "thresholds"),
]


@pytest.mark.parametrize("case", BAD, ids=[f"{case[0].__name__}-{index}" for index, case in enumerate(BAD)])
def test_bad_inputs(case):
    function, args, *rest = case
    kwargs, error, message = rest if len(rest) == 3 else ({}, *rest)
    with pytest.raises(error, match=message):
        function(*args, **kwargs)


@pytest.mark.parametrize("args, message", [(["--sizes", "600,-4"], "positive whole numbers"),
                                           (["--sizes-file", "/nonexistent/sizes.json"], "cannot read")])
def test_worker_refuses_bad_size_lists(args, message):
    script = distributed.worker_script("horovod_gradient_allreduce")
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(distributed.REPO_ROOT)})
    assert done.returncode == 2 and message in done.stderr, done.stderr[-500:]


def test_two_ranks_allreduce_the_lenet5_list(lists, tmp_path):
    sizes = lists["LeNet-5"].backprop_bytes()
    rows = gs.measure_list_allreduce(sizes, thresholds=(0, None), repeats=3, work_dir=tmp_path, timeout=120)
    assert [row["threshold"] for row in rows] == [0, None]
    assert all(row["median_seconds"] > 0 and len(row["rounds"]) == 1 for row in rows)
    assert [int(v) for v in (tmp_path / "gradient_sizes.json").read_text().strip("[]").split(",")] == sizes
    results = distributed.run_horovod("horovod_gradient_allreduce", num_proc=2, threads_per_worker=1, stream=False,
                                      timeout=120, env_vars={"HOROVOD_FUSION_THRESHOLD": 0},
                                      args=["--sizes", ",".join(map(str, sizes)), "--repeats", 2, "--warmup", 0])
    assert [r["rank"] for r in results] == [0, 1]
    assert all(r["tensors"] == 10 and r["total_bytes"] == 4 * 61706 and r["threshold"] == "0"
               and len(r["seconds"]) == 2 for r in results)
