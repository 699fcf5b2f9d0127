"""Check functions for the notebooks' exercises: each prints a verdict and returns True or False.

A check never raises on a wrong answer (the learner should see a hint, not a traceback); it raises
TypeError only when the answer has the wrong kind entirely. The ``...`` placeholder the notebooks ship
with gets a "not answered yet" line, so a notebook runs top to bottom before anyone fills it in. Used by every notebook's Exercises section.
"""
import math


def _checked(check):
    """Decorator: a ``...`` answer prints a reminder and returns False instead of failing."""
    import functools

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except _NotAnswered:
            print("Not answered yet: replace the `...` with your answer and run the cell again.")
            return False

    return wrapper


def _verdict(ok, right, hint):
    ok = bool(ok)
    print(("Correct: " + right) if ok else ("Not yet: " + hint))
    return ok


class _NotAnswered(Exception):
    """The learner left the ``...`` placeholder in place."""


def _number(answer, name):
    if answer is Ellipsis:
        raise _NotAnswered
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(answer).__name__}")
    return float(answer)


# --- notebook 00 -------------------------------------------------------------------------------
@_checked
def check_gemm_flops(flops_function):
    """Exercise 00.1: a function n -> floating-point operations of an n x n by n x n product."""
    if not callable(flops_function):
        raise TypeError("pass a function that takes n and returns the operation count")
    cases = {1: 2, 10: 2000, 512: 2 * 512 ** 3}
    ok = all(math.isclose(_number(flops_function(n), "flops_function(n)"), want) for n, want in cases.items())
    return _verdict(ok, "each of the n^2 outputs needs n multiplications and n additions: 2 n^3.",
                    "count the multiply-adds for one output element, then multiply by the number of outputs "
                    "(a multiply-add counts as 2 operations).")


@_checked
def check_allreduce_sum(num_workers, answer):
    """Exercise 00.2: what every rank receives when rank r contributes r + 1 and they sum."""
    if not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"num_workers must be a positive integer, got {num_workers!r}")
    want = num_workers * (num_workers + 1) / 2
    ok = math.isclose(_number(answer, "answer"), want)
    return _verdict(ok, f"1 + 2 + ... + {num_workers} = {want:g}, and every rank gets the same value.",
                    "an allreduce gives every rank the sum of all contributions, not only its own.")


@_checked
def check_matmul_seconds(gflops, n, answer_seconds):
    """Exercise 00.3: time for one n x n GEMM at a measured GFLOP/s (within 1%)."""
    gflops = _number(gflops, "gflops")
    want = 2 * n ** 3 / (gflops * 1e9)
    ok = math.isclose(_number(answer_seconds, "answer_seconds"), want, rel_tol=0.01)
    return _verdict(ok, f"2 x {n}^3 / ({gflops:.0f} x 1e9) = {want:.3g} s.",
                    "divide the operation count (2 n^3) by the rate in operations per second (GFLOP/s x 1e9).")


# --- notebook 01 -------------------------------------------------------------------------------
@_checked
def check_output_size(output_size_function):
    """Exercise 01.1: a function (n, k, stride, padding) -> output size along one axis."""
    if not callable(output_size_function):
        raise TypeError("pass a function that takes (n, k, stride, padding)")
    cases = [((28, 5, 1, 0), 24), ((28, 5, 1, 2), 28), ((227, 11, 4, 0), 55), ((56, 3, 2, 1), 28), ((7, 3, 3, 0), 2)]
    wrong = [(args, want) for args, want in cases
             if _number(output_size_function(*args), "output_size_function(...)") != want]
    return _verdict(not wrong, "floor((n + 2p - k) / s) + 1: the last window must fit inside the padded input.",
                    f"for (n, k, stride, padding) = {wrong[0][0] if wrong else ''} the answer is "
                    f"{wrong[0][1] if wrong else ''}; count how many strides fit in n + 2p - k, then add 1.")


def _edge_images():
    import numpy as np

    flat = np.full((9, 9), 0.5)
    horizontal = np.zeros((9, 9))
    horizontal[5:, :] = 1.0  # dark above, bright below: a horizontal edge
    vertical = horizontal.T.copy()
    return flat, horizontal, vertical


@_checked
def check_horizontal_edge_kernel(kernel):
    """Exercise 01.2: a 3x3 kernel that responds to horizontal edges and not to flat or vertical ones."""
    import numpy as np

    if kernel is Ellipsis:
        raise _NotAnswered
    kernel = np.asarray(kernel, dtype=float)
    if kernel.shape != (3, 3):
        raise TypeError(f"kernel must be 3x3, got shape {kernel.shape}")
    from .conv import conv2d

    def response(image):
        out = conv2d(image[None, :, :, None], kernel[:, :, None, None], padding="valid")
        return np.abs(out).max()

    flat, horizontal, vertical = _edge_images()
    strong = response(horizontal)
    ok = strong > 1e-6 and response(flat) < 1e-6 * max(1.0, strong) and response(vertical) < 0.05 * strong
    return _verdict(ok, "its rows sum to opposite signs and its columns are equal, like Sobel's Gy = "
                        "[[-1, -2, -1], [0, 0, 0], [1, 2, 1]].",
                    "a horizontal edge changes from row to row: make the top row negative, the bottom row "
                    "positive, the weights sum to 0, and every column the same.")


# --- notebook 02 -------------------------------------------------------------------------------
@_checked
def check_conv_parameters(kernel_size, in_channels, out_channels, answer):
    """Exercise 02.1: trainable parameters of a conv layer (weights plus one bias per output channel)."""
    want = kernel_size * kernel_size * in_channels * out_channels + out_channels
    ok = _number(answer, "answer") == want
    return _verdict(ok, f"{kernel_size}x{kernel_size}x{in_channels}x{out_channels} weights + {out_channels} "
                        f"biases = {want}.",
                    "each output channel has one k x k x C_in kernel and one bias.")


@_checked
def check_sgd_update(update_function):
    """Exercise 02.2: step 4, a function (weights, gradients, learning_rate) -> updated weights."""
    import numpy as np

    if not callable(update_function):
        raise TypeError("pass a function that takes (weights, gradients, learning_rate)")
    rng = np.random.default_rng(0)
    weights, gradients = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    result = update_function(weights.copy(), gradients, 0.1)
    if result is Ellipsis:
        raise _NotAnswered
    ok = np.shape(result) == weights.shape and np.allclose(result, weights - 0.1 * gradients)
    return _verdict(ok, "w <- w - learning_rate * gradient: a small step downhill on the loss.",
                    "move against the gradient (minus sign), scaled by the learning rate.")


# --- notebook 06 -------------------------------------------------------------------------------
# The layer of exercise 05.1: a 3x3 convolution, 64 -> 64 channels, on 56x56 maps ("same" padding).
_CONV_05 = {"flops": 2 * 56 * 56 * 64 * 64 * 9, "bytes": 4 * (3 * 3 * 64 * 64 + 64 + 2 * 56 * 56 * 64)}


@_checked
def check_arithmetic_intensity(answer):
    """Exercise 05.1: FLOP per byte of the 3x3, 64 -> 64 convolution on 56x56 maps (batch 1, float32)."""
    value, want = _number(answer, "answer"), _CONV_05["flops"] / _CONV_05["bytes"]
    hints = {want / 2: "that is MACs per byte: a multiply-add counts as 2 FLOPs.",
             want * 4: "divide by bytes, not by values: a float32 value is 4 bytes.",
             _CONV_05["flops"] / (4 * 3 * 3 * 64 * 64): "count the activations too: the input and output maps "
                                                        "(56 x 56 x 64 values each) are read and written."}
    hint = next((text for wrong, text in hints.items() if math.isclose(value, wrong, rel_tol=0.02)),
                "FLOPs = 2 x 56 x 56 x 64 x 64 x 9; bytes = 4 x (weights + biases + input + output values).")
    return _verdict(math.isclose(value, want, rel_tol=0.02),
                    f"{_CONV_05['flops']:,} FLOPs / {_CONV_05['bytes']:,} bytes = {want:.1f} FLOP/byte.", hint)


@_checked
def check_training_exaflops(forward_gflops, answer_exaflops):
    """Exercise 05.2: ExaFLOPs (1e18) of 50 epochs on 1.28 M images at 3 x the forward FLOPs per image."""
    forward = _number(forward_gflops, "forward_gflops")
    value, want = _number(answer_exaflops, "answer_exaflops"), forward * 1e9 * 3 * 1.28e6 * 50 / 1e18
    hint = ("a training step is forward + backward: about 3 x the forward FLOPs." if math.isclose(value, want / 3,
                                                                                                  rel_tol=0.01)
            else "multiply GFLOPs x 1e9 x 3 x 1,280,000 images x 50 epochs, then divide by 1e18.")
    return _verdict(math.isclose(value, want, rel_tol=0.01),
                    f"{forward:.1f} GFLOP x 3 x 1.28e6 x 50 = {want:.2f} ExaFLOPs.", hint)


@_checked
def check_roofline_bound(intensity, peak_gflops, bandwidth_gbs, answer):
    """Exercise 05.3: "memory" or "compute": which roof limits a layer of this intensity."""
    if answer is Ellipsis:
        raise _NotAnswered
    if not isinstance(answer, str):
        raise TypeError(f"answer must be the string 'memory' or 'compute', got {type(answer).__name__}")
    ridge = _number(peak_gflops, "peak_gflops") / _number(bandwidth_gbs, "bandwidth_gbs")
    want = "memory" if _number(intensity, "intensity") < ridge else "compute"
    return _verdict(answer.strip().lower().startswith(want),
                    f"the ridge point is {ridge:.1f} FLOP/byte and the layer does {intensity:.2f}: {want}-bound.",
                    "compare the layer's intensity with the ridge point, peak / bandwidth (FLOP per byte).")


@_checked
def check_attainable_gflops(intensity, peak_gflops, bandwidth_gbs, answer):
    """Exercise 05.4: the roofline bound, min(peak, intensity x bandwidth), within 1%."""
    intensity, peak = _number(intensity, "intensity"), _number(peak_gflops, "peak_gflops")
    want = min(peak, intensity * _number(bandwidth_gbs, "bandwidth_gbs"))
    return _verdict(math.isclose(_number(answer, "answer"), want, rel_tol=0.01),
                    f"min({peak:.0f}, {intensity:.2f} x {bandwidth_gbs:.1f}) = {want:.1f} GFLOP/s.",
                    "the bound is the lower of the two roofs: the peak, or intensity x bandwidth.")


# --- notebook 07 -------------------------------------------------------------------------------
def _ring_seconds(num_bytes, num_workers, latency, bandwidth):
    """The ring-allreduce model T = 2(p-1) alpha + 2(p-1)/p N/B (as in allreduce_model.ring_allreduce_time)."""
    return 2 * (num_workers - 1) * latency + 2 * (num_workers - 1) / num_workers * num_bytes / bandwidth


@_checked
def check_allreduce_prediction(latency, bandwidth, answer_seconds, num_bytes=100e6, num_workers=8):
    """Exercise 06.1: the ring model's time for a 100 MB gradient on 8 workers (within 2%)."""
    latency, bandwidth = _number(latency, "latency"), _number(bandwidth, "bandwidth")
    value, want = _number(answer_seconds, "answer_seconds"), _ring_seconds(num_bytes, num_workers, latency, bandwidth)
    hints = {_ring_seconds(num_bytes, 2, latency, bandwidth): f"that is the time on 2 workers: put p = {num_workers}.",
             2 * (num_workers - 1) / num_workers * num_bytes / bandwidth: "add the latency term 2(p-1) alpha.",
             num_bytes / bandwidth + 2 * (num_workers - 1) * latency: "each worker sends 2(p-1)/p of the buffer, "
                                                                      "not the buffer once."}
    hint = next((text for wrong, text in hints.items() if math.isclose(value, wrong, rel_tol=0.02)),
                "T = 2(p-1) alpha + 2(p-1)/p N/B with N in bytes, B in bytes/s, alpha in seconds.")
    return _verdict(math.isclose(value, want, rel_tol=0.02),
                    f"2 x {num_workers - 1} x {latency * 1e6:.0f} us + 2 x {num_workers - 1}/{num_workers} x "
                    f"{num_bytes / 1e6:.0f} MB / {bandwidth / 1e9:.3g} GB/s = {want:.3g} s: bandwidth-bound.", hint)


@_checked
def check_crossover_bytes(latency, bandwidth, num_workers, answer_bytes):
    """Exercise 06.2: the buffer size where latency and bandwidth terms are equal, p alpha B (within 2%)."""
    latency, bandwidth = _number(latency, "latency"), _number(bandwidth, "bandwidth")
    value, want = _number(answer_bytes, "answer_bytes"), num_workers * latency * bandwidth
    hint = ("that is alpha x B: the bandwidth term has the factor 1/p, so solve 2(p-1) alpha = 2(p-1)/p N/B."
            if math.isclose(value, latency * bandwidth, rel_tol=0.02)
            else "set 2(p-1) alpha equal to 2(p-1)/p N/B and solve for N (bytes).")
    return _verdict(math.isclose(value, want, rel_tol=0.02),
                    f"N = p alpha B = {num_workers} x {latency * 1e6:.0f} us x {bandwidth / 1e9:.3g} GB/s = "
                    f"{want / 1e3:,.0f} KB; smaller buffers are latency-bound: fuse them.", hint)


@_checked
def check_stale_learning_rate(answer):
    """Exercise 06.3: largest stable learning rate on f(w) = w^2/2 when every gradient is 1 update old."""
    value, want = _number(answer, "answer"), 1.0  # 2 sin(pi / 6) for delay 1, curvature 1
    hint = ("2 is the limit without staleness; with a one-update-old gradient the iteration overshoots sooner."
            if math.isclose(value, 2.0, rel_tol=0.03)
            else "try learning rates with distributed_plots.delayed_gradient_descent(lr, delay=1, steps=500) "
                 "and look whether |w| shrinks or grows.")
    return _verdict(math.isclose(value, want, rel_tol=0.03),
                    "1.0, half the limit of 2 without delay: stale gradients need smaller steps, and more "
                    "asynchronous workers mean staler gradients; that is how async SGD diverges.", hint)


@_checked
def check_scaling_efficiency(rate_one, rate_total, num_workers, answer):
    """Exercise 06.4: weak-scaling efficiency, total images/s on N workers / (N x images/s on 1), within 1%."""
    rate_one, rate_total = _number(rate_one, "rate_one"), _number(rate_total, "rate_total")
    value, want = _number(answer, "answer"), rate_total / (num_workers * rate_one)
    hint = ("that is the speed-up; divide it by the number of workers." if math.isclose(value, rate_total / rate_one,
                                                                                      rel_tol=0.01)
            else "efficiency = total images/s of N workers / (N x images/s of 1 worker).")
    return _verdict(math.isclose(value, want, rel_tol=0.01),
                    f"{rate_total:,.0f} / ({num_workers} x {rate_one:,.0f}) = {want:.2f}.", hint)


# --- notebooks 03 and 04 -----------------------------------------------------------------------
@_checked
def check_receptive_field(layers, answer):
    """Exercise 03.1: pixels along one side seen by one unit after ``layers``, a list of (kernel_size, stride)."""
    try:
        pairs = [(int(kernel), int(stride)) for kernel, stride in layers]
    except (TypeError, ValueError):
        raise TypeError("layers must be a list of (kernel_size, stride) pairs, e.g. [(5, 1), (2, 2), (5, 1)]") from None
    size, jump = 1, 1
    for kernel, stride in pairs:
        size += (kernel - 1) * jump  # each layer widens the view by (k - 1) steps of the input spacing
        jump *= stride               # and a stride spreads the next layer's steps further apart
    ok = _number(answer, "answer") == size
    return _verdict(ok, f"{size} pixels: one unit there sees a {size}x{size} patch of the image, so it can "
                        "combine the edges that the first layer found in that patch.",
                    "start from 1 pixel; each layer adds (kernel_size - 1) times the product of the strides "
                    "of the layers before it.")


@_checked
def check_occlusion_minimum(heat_map, answer):
    """Exercise 03.2: (row, column) where the occlusion map is lowest (ties and near-ties accepted)."""
    import numpy as np

    if answer is Ellipsis:
        raise _NotAnswered
    heat_map = np.asarray(heat_map, dtype=float)
    if heat_map.ndim != 2:
        raise TypeError(f"heat_map must be a 2-D map, got shape {heat_map.shape}")
    try:
        row, column = (int(value) for value in answer)
    except (TypeError, ValueError):
        raise TypeError("answer must be a (row, column) pair of integers") from None
    low, high = float(heat_map.min()), float(heat_map.max())
    if not (0 <= row < heat_map.shape[0] and 0 <= column < heat_map.shape[1]):
        return _verdict(False, "", f"(row, column) must lie inside the {heat_map.shape[0]}x{heat_map.shape[1]} map.")
    value = heat_map[row, column]
    return _verdict(value <= low + 0.05 * (high - low),
                    f"covering the image around ({row}, {column}) drops the class probability to {value:.2f}: "
                    "the network relies on that part most.",
                    "find the smallest value of the map, e.g. with np.unravel_index(heat_map.argmin(), "
                    "heat_map.shape).")


@_checked
def check_ascent_step(step_function):
    """Exercise 03.3: one step of activation maximization, (image, gradient, learning_rate) -> new image."""
    import numpy as np

    if not callable(step_function):
        raise TypeError("pass a function that takes (image, gradient, learning_rate)")
    rng = np.random.default_rng(0)
    image, gradient = rng.random((8, 8)), rng.normal(size=(8, 8))
    result = step_function(image.copy(), gradient, 0.05)
    if result is Ellipsis:
        raise _NotAnswered
    ok = np.shape(result) == image.shape and np.allclose(result, image + 0.05 * gradient)
    return _verdict(ok, "image <- image + learning_rate * gradient: uphill on the activation, the opposite "
                        "of SGD's step on the weights.",
                    "here we climb: move the image along the gradient (plus sign), scaled by the learning rate.")


@_checked
def check_conv_macs(output_size, kernel_size, in_channels, out_channels, answer):
    """Exercise 04.1: multiply-accumulates of a conv layer with square output_size x output_size maps."""
    want = output_size * output_size * kernel_size * kernel_size * in_channels * out_channels
    ok = _number(answer, "answer") == want
    return _verdict(ok, f"{output_size}x{output_size} positions x {out_channels} filters x "
                        f"{kernel_size}x{kernel_size}x{in_channels} multiply-adds each = {want:,}.",
                    "every output value (positions x output channels) costs one multiply-add per kernel weight "
                    "(k x k x C_in); biases are not counted.")


ZEILER_FERGUS_WORST = (3, 4, 6, 7)


@_checked
def check_worst_removal(answer):
    """Exercise 04.2: the removal that hurt Zeiler & Fergus's network most, as layer numbers."""
    if answer is Ellipsis:
        raise _NotAnswered
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "__iter__"):
        raise TypeError("answer must be the removed layer numbers, e.g. (3, 4)")
    numbers = sorted(_number(value, "each layer number") for value in answer)
    ok = numbers == list(ZEILER_FERGUS_WORST)
    return _verdict(ok, "removing 3, 4, 6 and 7 leaves conv1, conv2, conv5 and the classifier: 71.3 % top-1 "
                        "error against 40.5 %. Either pair alone costs a few points; both together, depth "
                        "itself is gone.",
                    "each single pair cost Zeiler & Fergus less than 5 points; which variant keeps only 4 of "
                    "the 8 layers?")


@_checked
def check_parameters_saved(answer):
    """Exercise 04.3: parameters full AlexNet (1000 classes) loses when fc6 and fc7 are removed."""
    before = (9216 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    after = 9216 * 1000 + 1000  # fc8 now reads the 6x6x256 = 9,216 pool5 features directly
    want = before - after
    ok = math.isclose(_number(answer, "answer"), want, rel_tol=0.005)
    return _verdict(ok, f"fc6 + fc7 + fc8 = {before:,} become one 9,216 x 1,000 fc8 with {after:,}: "
                        f"{want:,} fewer, 81 % of AlexNet's 61.1 M, for 4.3 points of top-1 error.",
                    "count fc6, fc7 and fc8 before (9,216 -> 4,096 -> 4,096 -> 1,000), then fc8 alone after "
                    "(9,216 -> 1,000); weights plus biases.")


# --- notebook 09 -------------------------------------------------------------------------------
@_checked
def check_scaled_learning_rate(base_learning_rate, base_batch_size, batch_size, answer):
    """Exercise 07.1: the linear scaling rule, base rate x batch size / base batch size (within 1%)."""
    base = _number(base_learning_rate, "base_learning_rate")
    want = base * _number(batch_size, "batch_size") / _number(base_batch_size, "base_batch_size")
    value = _number(answer, "answer")
    hint = ("that is the base rate unchanged: with k times the batch the same epochs make k times fewer "
            "updates, so each update must go k times further." if math.isclose(value, base, rel_tol=0.01)
            else "multiply the base rate by k = batch size / base batch size.")
    return _verdict(math.isclose(value, want, rel_tol=0.01),
                    f"k = {batch_size / base_batch_size:g}, so the rate is {base:g} x {batch_size / base_batch_size:g}"
                    f" = {want:g}.", hint)


@_checked
def check_warmup_learning_rate(start_learning_rate, peak_learning_rate, warmup_steps, step, answer):
    """Exercise 07.2: the gradually warmed-up rate at ``step`` (linear from start to peak; 1% tolerance)."""
    start, peak = _number(start_learning_rate, "start_learning_rate"), _number(peak_learning_rate,
                                                                                "peak_learning_rate")
    warmup, at = _number(warmup_steps, "warmup_steps"), _number(step, "step")
    if warmup <= 0 or at < 0:
        raise ValueError(f"warmup_steps must be > 0 and step >= 0, got {warmup_steps!r} and {step!r}")
    want = start + (peak - start) * at / warmup if at < warmup else peak
    value = _number(answer, "answer")
    hint = ("that ramps up from 0; Goyal et al. start at the small batch's rate, eta, and add (k eta - eta) / "
            "warmup_steps per step." if math.isclose(value, peak * min(at / warmup, 1.0), rel_tol=0.01)
            else "the rate rises in a straight line: start + (peak - start) x step / warmup_steps.")
    right = (f"{start:g} + ({peak:g} - {start:g}) x {at:g} / {warmup:g} = {want:.4g}." if at < warmup
             else f"the warmup is over after {warmup:g} steps: the rate stays at the peak, {peak:g}.")
    return _verdict(math.isclose(value, want, rel_tol=0.01), right, hint)


@_checked
def check_number_of_updates(num_images, batch_size, num_epochs, answer):
    """Exercise 07.3: parameter updates in ``num_epochs`` epochs when only full batches are used."""
    images, batch = int(_number(num_images, "num_images")), int(_number(batch_size, "batch_size"))
    want = (images // batch) * int(_number(num_epochs, "num_epochs"))
    value = _number(answer, "answer")
    hint = ("that counts the last, incomplete batch: only full batches are used (integer division)."
            if math.isclose(value, math.ceil(images / batch) * num_epochs)
            or math.isclose(value, images / batch * num_epochs) else
            "one epoch is num_images // batch_size updates; multiply by the epochs.")
    return _verdict(value == want, f"{images:,} // {batch:,} = {images // batch} updates per epoch, x {num_epochs} "
                                   f"= {want} updates in all.", hint)


# --- notebook 10 -------------------------------------------------------------------------------
_LENET5_HEAD = ((400, 120), (120, 84))  # fc1 and fc2: (inputs, units); the output layer follows with 84 inputs
_LENET5_BACKBONE_WEIGHTS = (5 * 5 * 1 * 6 + 6) + (5 * 5 * 6 * 16 + 16)  # conv1 + conv2 with biases: 2,572


@_checked
def check_trainable_parameters(num_classes, answer):
    """Exercise 08.1: weights LeNet-5 trains when conv1 and conv2 are frozen and the output has num_classes units."""
    classes = int(_number(num_classes, "num_classes"))
    head = sum(inputs * units + units for inputs, units in _LENET5_HEAD) + 84 * classes + classes
    value = _number(answer, "answer")
    hints = {head + _LENET5_BACKBONE_WEIGHTS: "that counts conv1 and conv2 too: frozen weights are not trained.",
             84 * classes + classes: "that is the output layer alone: fc1 and fc2 are part of the new head and train.",
             head - classes - 120 - 84: "add one bias per unit."}
    hint = next((text for wrong, text in hints.items() if value == wrong),
                "add up inputs x units + units (the biases) for fc1 (400 -> 120), fc2 (120 -> 84) and the output "
                f"layer (84 -> {classes}).")
    return _verdict(value == head, f"fc1 48,120 + fc2 10,164 + output {84 * classes + classes:,} = {head:,}; the "
                                   f"{_LENET5_BACKBONE_WEIGHTS:,} weights of conv1 and conv2 stay as task A left them.",
                    hint)


@_checked
def check_freeze_backbone(freeze_function):
    """Exercise 08.2: a function that makes a LeNet-5's conv1 and conv2 untrainable and returns the model."""
    from . import models

    if not callable(freeze_function):
        raise TypeError("pass a function that takes a Keras model and returns it")
    model = models.lenet5(num_classes=5)
    result = freeze_function(model)
    if result is Ellipsis:
        raise _NotAnswered
    if result is not None and result is not model:
        raise TypeError("freeze_function must change the model it is given and return it")
    frozen = [layer.name for layer in model.layers if layer.weights and not layer.trainable]
    if frozen == ["conv1", "conv2"]:
        return _verdict(True, "conv1 and conv2 keep task A's weights; fc1, fc2 and the output layer learn task B "
                              f"({len(model.trainable_variables)} trainable variables, weights and biases).", "")
    hint = ("nothing is frozen: set model.get_layer(name).trainable = False for conv1 and conv2." if not frozen
            else f"you froze {frozen}: freeze the backbone (conv1, conv2) only, or the new head cannot learn.")
    return _verdict(False, "", hint)


@_checked
def check_forward_passes_saved(num_images, num_epochs, answer):
    """Exercise 08.3: backbone forward passes saved by computing frozen features once instead of every epoch."""
    images, epochs = int(_number(num_images, "num_images")), int(_number(num_epochs, "num_epochs"))
    want, value = images * (epochs - 1), _number(answer, "answer")
    hint = ("the features still have to be computed once: one pass per image before training."
            if value == images * epochs else "without caching: one pass per image per epoch; with it: one pass "
                                             "per image in all. Subtract.")
    return _verdict(value == want, f"{images:,} x {epochs} - {images:,} = {want:,} passes: the frozen backbone's "
                                   "work is done once instead of every epoch.", hint)
