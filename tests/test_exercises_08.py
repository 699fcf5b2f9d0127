"""Notebook 08's exercise checks (allreduce cost, scaling efficiency) accept a right answer, reject a wrong one,
and tolerate the placeholder."""
import pytest

from hpml_helpers import allreduce_model, exercises

ALPHA, BANDWIDTH = 500e-6, 1e9  # 500 us, 1 GB/s
PREDICTION = allreduce_model.ring_allreduce_time(100e6, 8, ALPHA, BANDWIDTH)  # 7 ms + 175 ms
# Right answer, wrong answer, the `...` placeholder: run by test_exercises.py::test_check.
CASES = [
    (exercises.check_allreduce_prediction, (ALPHA, BANDWIDTH, PREDICTION),
     (ALPHA, BANDWIDTH, allreduce_model.ring_allreduce_time(100e6, 2, ALPHA, BANDWIDTH)), (ALPHA, BANDWIDTH, ...)),
    (exercises.check_crossover_bytes, (ALPHA, BANDWIDTH, 2, allreduce_model.crossover_bytes(ALPHA, BANDWIDTH, 2)),
     (ALPHA, BANDWIDTH, 2, ALPHA * BANDWIDTH), (ALPHA, BANDWIDTH, 2, ...)),
    (exercises.check_scaling_efficiency, (1000.0, 1800.0, 2, 0.9), (1000.0, 1800.0, 2, 1.8), (1000.0, 1800.0, 2, ...)),
]


def test_the_checks_agree_with_the_kits_model():
    """The reference answers are the ones allreduce_model.py computes."""
    assert PREDICTION == pytest.approx(2 * 7 * ALPHA + 2 * 7 / 8 * 100e6 / BANDWIDTH)
    assert exercises.check_crossover_bytes(ALPHA, BANDWIDTH, 8, allreduce_model.crossover_bytes(ALPHA, BANDWIDTH, 8))


def test_hints_name_the_usual_mistakes(capsys):
    exercises.check_allreduce_prediction(ALPHA, BANDWIDTH, allreduce_model.ring_allreduce_time(100e6, 2, ALPHA, BANDWIDTH))
    assert "p = 8" in capsys.readouterr().out
    exercises.check_allreduce_prediction(ALPHA, BANDWIDTH, 2 * 7 / 8 * 100e6 / BANDWIDTH)
    assert "latency term" in capsys.readouterr().out
    exercises.check_crossover_bytes(ALPHA, BANDWIDTH, 2, ALPHA * BANDWIDTH)
    assert "factor 1/p" in capsys.readouterr().out
    exercises.check_scaling_efficiency(1000.0, 1800.0, 2, 1.8)
    assert "speed-up" in capsys.readouterr().out


def test_wrong_kind_of_answer_is_a_verdict_not_an_error(capsys):
    assert exercises.check_allreduce_prediction(ALPHA, BANDWIDTH, "0.18") is False
    assert "answer_seconds must be a number" in capsys.readouterr().out
