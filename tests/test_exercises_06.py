"""Notebook 06's exercise checks accept a right answer, reject a wrong one, and tolerate the placeholder."""
import pytest

from hpml_helpers import exercises

INTENSITY = 2 * 56 * 56 * 64 * 64 * 9 / (4 * (3 * 3 * 64 * 64 + 64 + 2 * 56 * 56 * 64))  # 131.87 FLOP/byte
VGG16_GFLOPS = 30.94  # 2 x 15.47 GMAC
# Right answer, wrong answer, the `...` placeholder: run by test_exercises.py::test_check.
CASES = [
    (exercises.check_arithmetic_intensity, (INTENSITY,), (INTENSITY / 2,), (...,)),
    (exercises.check_training_exaflops, (VGG16_GFLOPS, VGG16_GFLOPS * 1e9 * 3 * 1.28e6 * 50 / 1e18),
     (VGG16_GFLOPS, VGG16_GFLOPS * 1e9 * 1.28e6 * 50 / 1e18), (VGG16_GFLOPS, ...)),
    (exercises.check_roofline_bound, (0.5, 200.0, 20.0, "memory"), (0.5, 200.0, 20.0, "compute"),
     (0.5, 200.0, 20.0, ...)),
    (exercises.check_roofline_bound, (131.9, 200.0, 20.0, "compute-bound"), (131.9, 200.0, 20.0, "memory"),
     (131.9, 200.0, 20.0, ...)),
    (exercises.check_attainable_gflops, (0.5, 200.0, 20.0, 10.0), (0.5, 200.0, 20.0, 200.0),
     (0.5, 200.0, 20.0, ...)),
]


def test_hints_name_the_usual_mistakes(capsys):
    exercises.check_arithmetic_intensity(INTENSITY / 2)
    assert "2 FLOPs" in capsys.readouterr().out
    exercises.check_arithmetic_intensity(INTENSITY * 4)
    assert "4 bytes" in capsys.readouterr().out
    exercises.check_training_exaflops(VGG16_GFLOPS, VGG16_GFLOPS * 1e9 * 1.28e6 * 50 / 1e18)
    assert "3 x the forward" in capsys.readouterr().out


def test_wrong_kind_of_answer_prints_what_is_wrong(capsys):
    assert exercises.check_arithmetic_intensity("132") is False
    assert "answer must be a number" in capsys.readouterr().out
    assert exercises.check_roofline_bound(0.5, 200.0, 20.0, 1) is False
    assert "'memory' or 'compute'" in capsys.readouterr().out
