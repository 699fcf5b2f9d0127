"""The exercise checks of notebooks 03 and 04: a right answer, a wrong one, and the `...` placeholder."""
import numpy as np
import pytest

from hpml_helpers import exercises

HEAT_MAP = np.ones((28, 28))
HEAT_MAP[10:14, 5:9] = 0.1  # lowest where the patch covered the important part

LENET_LAYERS = [(5, 1), (2, 2), (5, 1)]

# Right answer, wrong answer, the `...` placeholder: run by test_exercises.py::test_check.
CASES = [
    (exercises.check_receptive_field, (LENET_LAYERS, 14), (LENET_LAYERS, 9), (LENET_LAYERS, ...)),
    (exercises.check_occlusion_minimum, (HEAT_MAP, (11, 6)), (HEAT_MAP, (0, 0)), (HEAT_MAP, ...)),
    (exercises.check_ascent_step, (lambda image, gradient, lr: image + lr * gradient,),
     (lambda image, gradient, lr: image - lr * gradient,), (lambda image, gradient, lr: ...,)),
    (exercises.check_conv_macs, (27, 5, 64, 192, 223_948_800), (27, 5, 64, 192, 307_392), (27, 5, 64, 192, ...)),
    (exercises.check_worst_removal, ((3, 4, 6, 7),), ((6, 7),), (...,)),
    (exercises.check_parameters_saved, (49_414_144,), (54_534_144,), (...,)),
]


def test_answers_in_other_forms_are_accepted(capsys):
    assert exercises.check_worst_removal([7, 6, 4, 3]) is True       # any order, any sequence
    assert exercises.check_parameters_saved(49.4e6) is True          # rounded to 3 significant digits
    assert exercises.check_occlusion_minimum(HEAT_MAP, (13, 8)) is True  # any pixel of the lowest patch
    assert exercises.check_receptive_field([(11, 4), (3, 2), (5, 1)], 51) is True  # AlexNet up to conv2
    assert exercises.check_occlusion_minimum(HEAT_MAP, (40, 3)) is False  # outside the map: a hint, no error
    assert "inside" in capsys.readouterr().out


@pytest.mark.parametrize("call, message", [
    (lambda: exercises.check_worst_removal("3467"), "removed layer numbers"),
    (lambda: exercises.check_occlusion_minimum(HEAT_MAP, 5), "row, column"),
    (lambda: exercises.check_receptive_field(5, 14), "kernel_size, stride"),
    (lambda: exercises.check_ascent_step(0.1), "step_function must be a function"),
    (lambda: exercises.check_conv_macs(27, 5, 64, 192, "a lot"), "answer must be a number"),
])
def test_wrong_kinds_of_answer_print_what_is_wrong(call, message, capsys):
    assert call() is False
    assert message in capsys.readouterr().out
