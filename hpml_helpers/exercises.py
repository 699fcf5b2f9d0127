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
