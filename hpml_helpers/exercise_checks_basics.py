"""Exercise checks of notebooks 00 to 04: operation counts, convolution sizes, edges, SGD, receptive
fields, occlusion and the AlexNet ablation. Each prints a verdict and returns True or False, never raises
(see ``exercise_verdicts``); the notebooks call them as ``exercises.check_*``.
Used by notebooks 00-04, through ``exercises``.
"""
import math

import numpy as np

from .exercise_verdicts import WrongAnswer, array, call, checked, function, number, same_count, verdict, whole


# --- notebook 00 -------------------------------------------------------------------------------
@checked
def check_gemm_flops(flops_function):
    """Exercise 00.1: a function n -> floating-point operations of an n x n by n x n product."""
    flops_function = function(flops_function, "flops_function", ["n"])
    cases = {1: 2, 10: 2000, 512: 2 * 512 ** 3}
    ok = all(math.isclose(number(call(flops_function, "flops_function(n)", n), "flops_function(n)"), want)
             for n, want in cases.items())
    return verdict(ok, "each of the n^2 outputs needs n multiplications and n additions: 2 n^3.",
                   "count the multiply-adds for one output element, then multiply by the number of outputs "
                   "(a multiply-add counts as 2 operations).")


@checked
def check_allreduce_sum(num_workers, answer):
    """Exercise 00.2: what every rank receives when rank r contributes r + 1 and they sum."""
    num_workers = whole(num_workers, "num_workers")
    want = num_workers * (num_workers + 1) / 2
    return verdict(math.isclose(number(answer, "answer"), want),
                   f"1 + 2 + ... + {num_workers} = {want:g}, and every rank gets the same value.",
                   "an allreduce gives every rank the sum of all contributions, not only its own.")


@checked
def check_matmul_seconds(gflops, n, answer_seconds):
    """Exercise 00.3: time for one n x n GEMM at a measured GFLOP/s (within 1%)."""
    gflops, n = number(gflops, "gflops"), whole(n, "n")
    if gflops <= 0:
        raise WrongAnswer(f"gflops must be > 0, got {gflops:g}.")
    want = 2 * n ** 3 / (gflops * 1e9)
    return verdict(math.isclose(number(answer_seconds, "answer_seconds"), want, rel_tol=0.01),
                   f"2 x {n}^3 / ({gflops:.0f} x 1e9) = {want:.3g} s.",
                   "divide the operation count (2 n^3) by the rate in operations per second (GFLOP/s x 1e9).")


# --- notebook 01 -------------------------------------------------------------------------------
@checked
def check_output_size(output_size_function):
    """Exercise 01.1: a function (n, k, stride, padding) -> output size along one axis."""
    output_size_function = function(output_size_function, "output_size_function", ["n", "k", "stride", "padding"])
    cases = [((28, 5, 1, 0), 24), ((28, 5, 1, 2), 28), ((227, 11, 4, 0), 55), ((56, 3, 2, 1), 28), ((7, 3, 3, 0), 2)]
    wrong = [(args, want) for args, want in cases
             if not same_count(call(output_size_function, "output_size_function(...)", *args), want,
                               "output_size_function(...)")]
    return verdict(not wrong, "floor((n + 2p - k) / s) + 1: the last window must fit inside the padded input.",
                   f"for (n, k, stride, padding) = {wrong[0][0] if wrong else ''} the answer is "
                   f"{wrong[0][1] if wrong else ''}; count how many strides fit in n + 2p - k, then add 1.")


def _edge_images():
    flat = np.full((9, 9), 0.5)
    horizontal = np.zeros((9, 9))
    horizontal[5:, :] = 1.0  # dark above, bright below: a horizontal edge
    return flat, horizontal, horizontal.T.copy()


@checked
def check_horizontal_edge_kernel(kernel):
    """Exercise 01.2: a 3x3 kernel that responds to horizontal edges and not to flat or vertical ones."""
    kernel = array(kernel, "kernel", shape=(3, 3))
    from .conv import conv2d

    def response(image):
        out = conv2d(image[None, :, :, None], kernel[:, :, None, None], padding="valid")
        return np.abs(out).max()

    flat, horizontal, vertical = _edge_images()
    strong = response(horizontal)
    ok = strong > 1e-6 and response(flat) < 1e-6 * max(1.0, strong) and response(vertical) < 0.05 * strong
    return verdict(ok, "its rows sum to opposite signs and its columns are equal, like Sobel's Gy = "
                       "[[-1, -2, -1], [0, 0, 0], [1, 2, 1]].",
                   "a horizontal edge changes from row to row: make the top row negative, the bottom row "
                   "positive, the weights sum to 0, and every column the same.")


# --- notebook 02 -------------------------------------------------------------------------------
@checked
def check_conv_parameters(kernel_size, in_channels, out_channels, answer):
    """Exercise 02.1: trainable parameters of a conv layer (weights plus one bias per output channel)."""
    kernel_size, in_channels = whole(kernel_size, "kernel_size"), whole(in_channels, "in_channels")
    out_channels = whole(out_channels, "out_channels")
    want = kernel_size * kernel_size * in_channels * out_channels + out_channels
    return verdict(same_count(answer, want), f"{kernel_size}x{kernel_size}x{in_channels}x{out_channels} weights + "
                                             f"{out_channels} biases = {want}.",
                   "each output channel has one k x k x C_in kernel and one bias.")


def _step_check(step_function, name, parameters, sign):
    """Shared by the SGD and the gradient-ascent exercises: does ``step_function`` move by sign x lr x g?"""
    step_function = function(step_function, name, parameters)
    rng = np.random.default_rng(0)
    values, gradient = rng.random((8, 8)), rng.normal(size=(8, 8))
    result = call(step_function, name, values.copy(), gradient, 0.05)
    try:
        result = np.asarray(result, dtype=float)
    except (TypeError, ValueError):
        raise WrongAnswer(f"{name} must return an array like its first argument, got {type(result).__name__}.") from None
    if result.shape != values.shape:
        raise WrongAnswer(f"{name} must return an array of the shape it is given, {values.shape}; got {result.shape}.")
    return bool(np.allclose(result, values + sign * 0.05 * gradient))


@checked
def check_sgd_update(update_function):
    """Exercise 02.2: step 4, a function (weights, gradients, learning_rate) -> updated weights."""
    ok = _step_check(update_function, "update_function", ["weights", "gradients", "learning_rate"], -1)
    return verdict(ok, "w <- w - learning_rate * gradient: a small step downhill on the loss.",
                   "move against the gradient (minus sign), scaled by the learning rate.")


# --- notebooks 03 and 04 -----------------------------------------------------------------------
def _layer_pairs(layers):
    message = "layers must be a list of (kernel_size, stride) pairs, e.g. [(5, 1), (2, 2), (5, 1)]."
    if isinstance(layers, (str, bytes, dict)) or not hasattr(layers, "__iter__"):
        raise WrongAnswer(message)
    pairs = []
    for pair in layers:
        if isinstance(pair, (str, bytes, dict)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise WrongAnswer(message)
        pairs.append((whole(pair[0], "each kernel_size"), whole(pair[1], "each stride")))
    if not pairs:
        raise WrongAnswer(message)
    return pairs


@checked
def check_receptive_field(layers, answer):
    """Exercise 03.1: pixels along one side seen by one unit after ``layers``, a list of (kernel_size, stride)."""
    size, jump = 1, 1
    for kernel, stride in _layer_pairs(layers):
        size += (kernel - 1) * jump  # each layer widens the view by (k - 1) steps of the input spacing
        jump *= stride               # and a stride spreads the next layer's steps further apart
    return verdict(same_count(answer, size), f"{size} pixels: one unit there sees a {size}x{size} patch of the "
                                             "image, so it can combine the edges that the first layer found there.",
                   "start from 1 pixel; each layer adds (kernel_size - 1) times the product of the strides "
                   "of the layers before it.")


@checked
def check_occlusion_minimum(heat_map, answer):
    """Exercise 03.2: (row, column) where the occlusion map is lowest (ties and near-ties accepted)."""
    heat_map = np.asarray(array(heat_map, "heat_map", shape=None))
    if heat_map.ndim != 2 or heat_map.size == 0:
        raise WrongAnswer(f"heat_map must be a non-empty 2-D map, got shape {heat_map.shape}.")
    if isinstance(answer, (str, bytes, dict)) or not hasattr(answer, "__len__") or len(answer) != 2:
        raise WrongAnswer(f"answer must be a (row, column) pair of integers, got {answer!r}.")
    row, column = (whole(value, "each of row, column", minimum=-10 ** 9) for value in answer)
    if not (0 <= row < heat_map.shape[0] and 0 <= column < heat_map.shape[1]):
        return verdict(False, "", f"(row, column) must lie inside the {heat_map.shape[0]}x{heat_map.shape[1]} map.")
    low, high, value = float(heat_map.min()), float(heat_map.max()), heat_map[row, column]
    return verdict(value <= low + 0.05 * (high - low),
                   f"covering the image around ({row}, {column}) drops the class probability to {value:.2f}: "
                   "the network relies on that part most.",
                   "find the smallest value of the map, e.g. with np.unravel_index(heat_map.argmin(), heat_map.shape).")


@checked
def check_ascent_step(step_function):
    """Exercise 03.3: one step of activation maximization, (image, gradient, learning_rate) -> new image."""
    ok = _step_check(step_function, "step_function", ["image", "gradient", "learning_rate"], +1)
    return verdict(ok, "image <- image + learning_rate * gradient: uphill on the activation, the opposite "
                       "of SGD's step on the weights.",
                   "here we climb: move the image along the gradient (plus sign), scaled by the learning rate.")


@checked
def check_conv_macs(output_size, kernel_size, in_channels, out_channels, answer):
    """Exercise 04.1: multiply-accumulates of a conv layer with square output_size x output_size maps."""
    sizes = [whole(value, name) for value, name in ((output_size, "output_size"), (kernel_size, "kernel_size"),
                                                    (in_channels, "in_channels"), (out_channels, "out_channels"))]
    want = math.prod(sizes[:1] * 2 + sizes[1:2] * 2 + sizes[2:])
    return verdict(same_count(answer, want), f"{sizes[0]}x{sizes[0]} positions x {sizes[3]} filters x "
                                             f"{sizes[1]}x{sizes[1]}x{sizes[2]} multiply-adds each = {want:,}.",
                   "every output value (positions x output channels) costs one multiply-add per kernel weight "
                   "(k x k x C_in); biases are not counted.")


ZEILER_FERGUS_WORST = (3, 4, 6, 7)


@checked
def check_worst_removal(answer):
    """Exercise 04.2: the removal that hurt Zeiler & Fergus's network most, as layer numbers."""
    if isinstance(answer, (str, bytes, dict)) or not hasattr(answer, "__iter__"):
        raise WrongAnswer(f"answer must be the removed layer numbers, e.g. (3, 4); got {answer!r}.")
    numbers = sorted(whole(value, "each layer number") for value in answer)
    return verdict(numbers == list(ZEILER_FERGUS_WORST),
                   "removing 3, 4, 6 and 7 leaves conv1, conv2, conv5 and the classifier: 71.3 % top-1 "
                   "error against 40.5 %. Either pair alone costs a few points; both together, depth itself is gone.",
                   "each single pair cost Zeiler & Fergus less than 5 points; which variant keeps only 4 of "
                   "the 8 layers?")


@checked
def check_parameters_saved(answer):
    """Exercise 04.3: parameters full AlexNet (1000 classes) loses when fc6 and fc7 are removed."""
    before = (9216 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    after = 9216 * 1000 + 1000  # fc8 now reads the 6x6x256 = 9,216 pool5 features directly
    want = before - after
    return verdict(math.isclose(number(answer, "answer"), want, rel_tol=0.005),
                   f"fc6 + fc7 + fc8 = {before:,} become one 9,216 x 1,000 fc8 with {after:,}: "
                   f"{want:,} fewer, 81 % of AlexNet's 61.1 M, for 4.3 points of top-1 error.",
                   "count fc6, fc7 and fc8 before (9,216 -> 4,096 -> 4,096 -> 1,000), then fc8 alone after "
                   "(9,216 -> 1,000); weights plus biases.")
