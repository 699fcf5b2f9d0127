"""Notebook 07's exercise check (stale gradients) accepts a right answer, rejects a wrong one, and tolerates the
placeholder."""
import pytest

from hpml_helpers import distributed_plots, exercises

# Right answer, wrong answer, the `...` placeholder: run by test_exercises.py::test_check.
CASES = [
    (exercises.check_stale_learning_rate, (1.0,), (2.0,), (...,)),
]


def test_the_check_agrees_with_the_kits_model():
    """The reference answer is the one distributed_plots.py computes: 2 sin(pi / 6) for a one-update delay."""
    assert distributed_plots.stable_learning_rate(delay=1) == pytest.approx(1.0, abs=1e-12)
    assert exercises.check_stale_learning_rate(distributed_plots.stable_learning_rate(delay=1))


def test_hint_names_the_usual_mistake(capsys):
    exercises.check_stale_learning_rate(2.0)
    assert "without staleness" in capsys.readouterr().out


def test_wrong_kind_of_answer_is_a_verdict_not_an_error(capsys):
    assert exercises.check_stale_learning_rate([1.0]) is False
    assert "answer must be a number" in capsys.readouterr().out
