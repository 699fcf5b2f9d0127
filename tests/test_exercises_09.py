"""Notebook 09's exercise checks accept a right answer, reject a wrong one, and tolerate the placeholder."""
import pytest

from hpml_helpers import exercises, schedules

WARMUP = (0.1, 3.2, 780, 156)  # Goyal et al.: 0.1 -> 3.2 over 5 epochs of 156 updates; update 156
# Right answer, wrong answer, the `...` placeholder: run by test_exercises.py::test_check.
CASES = [
    (exercises.check_scaled_learning_rate, (0.1, 256, 8192, schedules.scaled_learning_rate(0.1, 8192)),
     (0.1, 256, 8192, 0.1), (0.1, 256, 8192, ...)),
    (exercises.check_warmup_learning_rate,
     WARMUP + (schedules.WarmupStepSchedule(3.2, warmup_steps=780, start_learning_rate=0.1)(156),),
     WARMUP + (3.2 * 156 / 780,), WARMUP + (...,)),
    (exercises.check_warmup_learning_rate, (0.1, 3.2, 780, 1000, 3.2), (0.1, 3.2, 780, 1000, 4.0),
     (0.1, 3.2, 780, 1000, ...)),
    (exercises.check_number_of_updates, (8000, 2048, 10, 30), (8000, 2048, 10, 40), (8000, 2048, 10, ...)),
]


def test_the_answers_the_solutions_give():
    assert exercises.check_scaled_learning_rate(0.1, 256, 8192, 3.2)
    assert exercises.check_warmup_learning_rate(0.1, 3.2, 780, 156, 0.72)
    assert exercises.check_number_of_updates(8000, 2048, 10, (8000 // 2048) * 10)


def test_hints_name_the_usual_mistakes(capsys):
    exercises.check_scaled_learning_rate(0.1, 256, 8192, 0.1)
    assert "fewer updates" in capsys.readouterr().out
    exercises.check_warmup_learning_rate(*WARMUP, 3.2 * 156 / 780)
    assert "ramps up from 0" in capsys.readouterr().out
    exercises.check_number_of_updates(8000, 2048, 10, 40)
    assert "incomplete batch" in capsys.readouterr().out


def test_wrong_kind_of_answer_and_bad_settings_are_explained_not_raised(capsys):
    # A learner's wrong kind of answer gets a "Not yet" that names the argument, not a traceback.
    assert not exercises.check_scaled_learning_rate(0.1, 256, 8192, "3.2")
    assert "answer must be a number" in capsys.readouterr().out
    assert not exercises.check_number_of_updates(8000, 2048, 10, [30])
    assert "answer must be a number" in capsys.readouterr().out
    assert not exercises.check_warmup_learning_rate(0.1, 3.2, 0, 10, 1.0)
    assert "warmup_steps must be" in capsys.readouterr().out
