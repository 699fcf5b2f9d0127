"""Every exercise check accepts a right answer, rejects a wrong one, and tolerates the placeholder."""
import pytest

import test_exercises_03_04
import test_exercises_06
import test_exercises_07
import test_exercises_08
import test_exercises_09
import test_exercises_10
from hpml_helpers import exercises

CASES = [
    (exercises.check_gemm_flops, (lambda n: 2 * n ** 3,), (lambda n: n ** 3,), (lambda n: ...,)),
    (exercises.check_allreduce_sum, (4, 10), (4, 4), (4, ...)),
    (exercises.check_matmul_seconds, (200.0, 8192, 2 * 8192 ** 3 / 200e9), (200.0, 8192, 1.0), (200.0, 8192, ...)),
    (exercises.check_output_size, (lambda n, k, s, p: (n + 2 * p - k) // s + 1,),
     (lambda n, k, s, p: n - k + 1,), (lambda n, k, s, p: ...,)),
    (exercises.check_horizontal_edge_kernel, ([[-1, -2, -1], [0, 0, 0], [1, 2, 1]],),
     ([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],), (...,)),
    (exercises.check_conv_parameters, (5, 1, 6, 156), (5, 1, 6, 150), (5, 1, 6, ...)),
    (exercises.check_sgd_update, (lambda w, g, lr: w - lr * g,), (lambda w, g, lr: w + lr * g,),
     (lambda w, g, lr: ...,)),
]


# Every notebook's checks, each with a right answer, a wrong one and the `...` placeholder.
ALL_CASES = CASES + test_exercises_03_04.CASES + test_exercises_06.CASES + test_exercises_07.CASES + test_exercises_08.CASES
ALL_CASES += test_exercises_09.CASES
ALL_CASES += test_exercises_10.CASES


@pytest.mark.parametrize("check, right, wrong, placeholder", ALL_CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_check(check, right, wrong, placeholder, capsys):
    assert check(*right) is True
    assert "Correct" in capsys.readouterr().out
    assert check(*wrong) is False
    assert "Not yet" in capsys.readouterr().out
    assert check(*placeholder) is False
    assert "Not answered yet" in capsys.readouterr().out


def test_wrong_kind_of_answer_prints_what_is_wrong(capsys):
    assert exercises.check_allreduce_sum(2, "three") is False
    assert "answer must be a number" in capsys.readouterr().out
    assert exercises.check_gemm_flops(8) is False
    assert "flops_function must be a function" in capsys.readouterr().out
