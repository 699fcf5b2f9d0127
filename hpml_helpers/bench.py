"""Timing tools and this machine's matrix-multiplication (GEMM) speed, the yardstick for everything else.

- ``best_time(function)``: the best of several timed calls (the least disturbed by other work).
- ``gemm_gflops(sizes)``: NumPy float32 GEMM GFLOP/s over square matrix sizes; ``plot_gemm`` draws it.
A convolution layer, a fully-connected layer and a training step are all judged against this peak.
Used by notebooks 00, 01 and 06 and by bench/.
"""
import time

from . import conv_gemm
from .validation import (check_choice, check_integer, check_number, check_positive_int, check_seed,
                         check_records, check_sequence, check_string)


class Timer:
    """``with Timer() as timer: ...`` then ``timer.seconds``."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False


def best_time(function, repeats=5, warmup=1):
    """Seconds taken by the fastest of ``repeats`` calls of ``function()``, after ``warmup`` calls."""
    if not callable(function):
        raise TypeError(f"function must be callable, got {type(function).__name__}")
    repeats = check_integer(repeats, "repeats", minimum=1)
    warmup = check_integer(warmup, "warmup", minimum=0)
    for _ in range(warmup):
        function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_gflops(sizes=(64, 128, 256, 512, 1024, 2048), dtype="float32", repeats=5, seed=0):
    """GFLOP/s of ``a @ b`` for n x n matrices (2 n^3 floating-point operations each)."""
    import numpy as np

    sizes = [check_positive_int(n, "sizes") for n in check_sequence(sizes, "sizes")]
    if max(sizes) > 16384:
        raise ValueError(f"sizes must be at most 16384 (an n x n matrix), got {max(sizes)}")
    dtype = conv_gemm.check_gemm_dtype(dtype).name  # float32 or float64, as the GEMM engines compute
    repeats = check_positive_int(repeats, "repeats")
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)
    results = []
    for n in sizes:
        a = rng.random((n, n), dtype=np.float64).astype(dtype)
        b = rng.random((n, n), dtype=np.float64).astype(dtype)
        # small products are fast and noisy: repeat them more so each size gets a fair best time
        calls = max(1, int(2e8 // (2 * n ** 3)))
        seconds = best_time(lambda: [a @ b for _ in range(calls)], repeats=repeats) / calls
        results.append({"size": n, "seconds": seconds, "gflops": 2 * n ** 3 / seconds / 1e9})
    return results


def check_gemm_results(results, name="results"):
    """``results`` as a non-empty list of ``gemm_gflops`` rows (dicts with a size and a finite gflops > 0)."""
    rows = check_records(results, name, ("size", "gflops"), "a gemm_gflops row")
    for index, row in enumerate(rows):
        check_positive_int(row["size"], f"{name}[{index}]['size']")
        check_number(row["gflops"], f"{name}[{index}]['gflops']", minimum=0, strict=True)
    return rows


def peak_gflops(results):
    """The highest GFLOP/s in a list of ``gemm_gflops`` results."""
    return max(row["gflops"] for row in check_gemm_results(results))


def plot_gemm(results, ax=None, label="NumPy float32 GEMM"):
    """GFLOP/s against matrix size, with the peak marked; returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    results = check_gemm_results(results)
    label = check_string(label, "label")
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    sizes = [row["size"] for row in results]
    rates = [row["gflops"] for row in results]
    ax.plot(sizes, rates, "o-", label=label)
    peak = peak_gflops(results)
    ax.axhline(peak, color="grey", linestyle="--", linewidth=1)
    ax.annotate(f"peak {peak:.0f} GFLOP/s", (sizes[0], peak), textcoords="offset points", xytext=(0, -14))
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.set_ylim(0, peak * 1.1)
    ax.set_xlabel("matrix size n (n x n times n x n)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title("How fast this machine multiplies matrices")
    ax.legend(loc="lower right")
    ax.figure.tight_layout()
    return ax.figure


CONV_METHODS = ("naive", "im2col", "tensorflow", "mxnet")


def conv_layer_flops(batch_size, height, width, in_channels, out_channels, kernel_size):
    """Floating-point operations of a stride-1 "same" convolution: 2 per multiply-add."""
    for name, value in (("batch_size", batch_size), ("height", height), ("width", width),
                        ("in_channels", in_channels), ("out_channels", out_channels), ("kernel_size", kernel_size)):
        check_positive_int(value, name)
    return 2 * batch_size * height * width * kernel_size * kernel_size * in_channels * out_channels


def _conv_function(method, images, kernel):
    """A no-argument callable computing the convolution with ``method`` (data already prepared)."""
    from . import conv

    if method == "naive":
        return lambda: conv.conv2d_naive(images, kernel, padding="same")
    if method == "im2col":
        return lambda: conv.conv2d_im2col(images, kernel, padding="same")
    if method == "tensorflow":
        import tensorflow as tf

        x, w = tf.constant(images), tf.constant(kernel)
        return lambda: tf.nn.conv2d(x, w, strides=1, padding="SAME").numpy()
    import mxnet as mx  # MXNet wants NCHW data and an OIHW kernel

    x = mx.nd.array(images.transpose(0, 3, 1, 2))
    w = mx.nd.array(kernel.transpose(3, 2, 0, 1))
    kh, kw = kernel.shape[:2]
    return lambda: mx.nd.Convolution(x, w, kernel=(kh, kw), pad=(kh // 2, kw // 2), num_filter=kernel.shape[3],
                                     no_bias=True).wait_to_read()


def conv_speeds(methods=("im2col", "tensorflow", "mxnet"), batch_size=8, image_size=56, in_channels=64,
                out_channels=64, kernel_size=3, repeats=3, seed=0):
    """Time a float32 "same" convolution layer with each method; rows with seconds and GFLOP/s."""
    import numpy as np

    methods = [check_choice(method, "methods", CONV_METHODS) for method in check_sequence(methods, "methods")]
    for name, value in (("batch_size", batch_size), ("image_size", image_size), ("in_channels", in_channels),
                        ("out_channels", out_channels), ("kernel_size", kernel_size)):
        check_positive_int(value, name)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd (a centred 'same' kernel), got {kernel_size}")
    repeats = check_positive_int(repeats, "repeats")
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((batch_size, image_size, image_size, in_channels), dtype=np.float32)
    kernel = rng.standard_normal((kernel_size, kernel_size, in_channels, out_channels), dtype=np.float32)
    flops = conv_layer_flops(batch_size, image_size, image_size, in_channels, out_channels, kernel_size)
    layer = f"batch {batch_size}, {image_size}x{image_size}, {in_channels}->{out_channels}, {kernel_size}x{kernel_size}"
    rows = []
    for method in methods:
        # BLAS, oneDNN and MXNet keep their idle threads spinning for a few ms after a call: a pause lets
        # them sleep, so no method pays for the one timed before it (or for a GEMM measured just before).
        time.sleep(0.1)
        seconds = best_time(_conv_function(method, images, kernel), repeats=repeats)
        rows.append({"method": method, "layer": layer, "seconds": seconds, "gflops": flops / seconds / 1e9})
    return rows
