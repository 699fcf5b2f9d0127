"""Notebook 07's exercise check (stale gradients) accepts a right answer, rejects a wrong one, and tolerates the
placeholder."""
import pytest

from hpml_helpers import distributed_plots, exercises

# Right answer, wrong answer, the `...` placeholder: run by test_exercises.py::test_check.
CASES = [
    (exercises.check_stale_learning_rate, (1.0,), (2.0,), (...,)),
    (exercises.check_straggler_speedup, (8, 3, 2.75), (8, 3, 1.25), (8, 3, ...)),
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


def test_straggler_speedup_matches_the_notebooks_model_and_names_the_two_worker_mistake(capsys):
    """Notebook 07 computes (N - 1 + 1/f) / (N / f) for N = 2; the exercise asks it for 8 workers."""
    assert exercises.check_straggler_speedup(2, 3, (2 - 1 + 1 / 3) / (2 / 3))
    assert exercises.check_straggler_speedup(8, 3, (7 + 1 / 3) / (8 / 3))
    capsys.readouterr()
    assert exercises.check_straggler_speedup(8, 3, 2.0) is False  # the answer for 2 workers
    assert "2 workers" in capsys.readouterr().out
    assert exercises.check_straggler_speedup(1, 3, 1.0) is False  # one worker has no straggler to wait for
    assert "num_workers" in capsys.readouterr().out
