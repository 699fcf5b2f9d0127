"""Every exercise check, found by name, answers any wrong input with False and a printed sentence, never an
exception, and accepts a right answer given as a numpy number (what np.prod and friends return)."""
import inspect

import numpy as np
import pytest

from hpml_helpers import exercises

CHECKS = sorted(name for name, value in inspect.getmembers(exercises, inspect.isfunction) if name.startswith("check_"))
HEAT_MAP = np.ones((28, 28))
HEAT_MAP[10:14, 5:9] = 0.1


def _freeze(model):
    for name in ("conv1", "conv2"):
        model.get_layer(name).trainable = False
    return model


# Right answers, written with a converter ``t`` that turns each number into a numpy number.
RIGHT = {
    "check_gemm_flops": lambda t: (lambda n: t(2) * t(n) ** 3,),
    "check_allreduce_sum": lambda t: (t(4), t(10)),
    "check_matmul_seconds": lambda t: (t(200.0), t(64), t(2 * 64 ** 3 / 200e9)),
    "check_output_size": lambda t: (lambda n, k, s, p: t((n + 2 * p - k) // s + 1),),
    "check_horizontal_edge_kernel": lambda t: (np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=t.dtype),),
    "check_conv_parameters": lambda t: (t(5), t(1), t(6), t(156)),
    "check_sgd_update": lambda t: (lambda w, g, lr: (w - lr * g).astype(np.result_type(t.dtype, np.float32)),),
    "check_receptive_field": lambda t: ([(t(5), t(1)), (t(2), t(2)), (t(5), t(1))], t(14)),
    "check_occlusion_minimum": lambda t: (HEAT_MAP.astype(np.result_type(t.dtype, np.float32)), (t(11), t(6))),
    "check_ascent_step": lambda t: (lambda image, g, lr: (image + lr * g).astype(np.result_type(t.dtype, np.float32)),),
    "check_conv_macs": lambda t: (t(27), t(5), t(64), t(192), t(223_948_800)),
    "check_worst_removal": lambda t: (tuple(t(v) for v in (3, 4, 6, 7)),),
    "check_parameters_saved": lambda t: (t(49_414_144),),
    "check_arithmetic_intensity": lambda t: (t(2 * 56 * 56 * 64 * 64 * 9 / (4 * (3 * 3 * 64 * 64 + 64 + 2 * 56 * 56 * 64))),),
    "check_training_exaflops": lambda t: (t(15.5), t(15.5 * 1e9 * 3 * 1.28e6 * 50 / 1e18)),
    "check_roofline_bound": lambda t: (t(0.5), t(200.0), t(20.0), "memory"),
    "check_attainable_gflops": lambda t: (t(0.5), t(200.0), t(20.0), t(10.0)),
    "check_allreduce_prediction": lambda t: (t(500e-6), t(1e9), t(2 * 7 * 500e-6 + 2 * 7 / 8 * 100e6 / 1e9)),
    "check_crossover_bytes": lambda t: (t(500e-6), t(1e9), t(2), t(2 * 500e-6 * 1e9)),
    "check_stale_learning_rate": lambda t: (t(1.0),),
    "check_straggler_speedup": lambda t: (t(8), t(3), t(2.75)),
    "check_scaling_efficiency": lambda t: (t(1000.0), t(1800.0), t(2), t(0.9)),
    "check_scaled_learning_rate": lambda t: (t(0.1), t(256), t(8192), t(3.2)),
    "check_warmup_learning_rate": lambda t: (t(0.1), t(3.2), t(780), t(156), t(0.72)),
    "check_number_of_updates": lambda t: (t(8000), t(2048), t(10), t(30)),
    "check_trainable_parameters": lambda t: (t(5), t(58_709)),
    "check_freeze_backbone": lambda t: (_freeze,),
    "check_forward_passes_saved": lambda t: (t(500), t(20), t(9500)),
}


class Numpy:
    """Turns a number into a numpy number of ``dtype``; a fraction stays a float64 when ``dtype`` is integer."""

    def __init__(self, dtype):
        self.dtype = dtype

    def __call__(self, value):
        integral = np.issubdtype(self.dtype, np.integer)
        return self.dtype(value) if not integral or float(value).is_integer() else np.float64(value)


def _raises(*args):
    raise RuntimeError("broken")


WRONG = [None, "12", [1], {}, True, np.nan, -1, 0, 1e300, _raises, lambda: 1, lambda *args: "a string"]


def test_every_check_has_a_right_answer_here():
    assert sorted(RIGHT) == CHECKS


@pytest.mark.parametrize("name", CHECKS)
@pytest.mark.parametrize("kind", [np.int64, np.float32, np.float64])
def test_right_answer_as_numpy_number_is_accepted(name, kind, capsys):
    args = RIGHT[name](Numpy(kind))
    assert getattr(exercises, name)(*args) is True, capsys.readouterr().out
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("name", CHECKS)
@pytest.mark.parametrize("wrong", WRONG, ids=lambda w: getattr(w, "__name__", repr(w)))
def test_wrong_answer_in_any_position_prints_and_returns_false(name, wrong, capsys):
    right = RIGHT[name](Numpy(np.float64))
    # A huge notebook setting (a 1e300 GFLOP/s peak) is a valid, if odd, one: that value goes in the answer only.
    positions = [len(right) - 1] if isinstance(wrong, float) and wrong > 1e100 else range(len(right))
    for position in positions:
        args = list(right)
        args[position] = wrong
        assert getattr(exercises, name)(*args) is False, (position, capsys.readouterr().out)
        out = capsys.readouterr().out.strip()
        assert out.startswith("Not yet") and out.count("\n") == 0, out


@pytest.mark.parametrize("name", CHECKS)
def test_placeholder_is_not_answered_yet(name, capsys):
    right = RIGHT[name](Numpy(np.float64))
    assert getattr(exercises, name)(*right[:-1], ...) is False
    assert "Not answered yet" in capsys.readouterr().out
