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
