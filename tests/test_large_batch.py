"""hpml_helpers.large_batch: the three learning-rate rules, the training runs and the result helpers."""
import functools
import math

import numpy as np
import pytest

from hpml_helpers import data, large_batch, models, schedules


TANH_LENET5 = functools.partial(models.lenet5, activation="tanh")


@pytest.fixture(scope="module")
def mnist():
    return data.load("mnist", source="subset", num_train=1024, num_test=256, verbose=False)


def run_on(mnist, batch_size, learning_rate, num_epochs=1, **kwargs):
    kwargs.setdefault("model_builder", TANH_LENET5)  # notebook 09's model: tanh units do not die at high rates
    return large_batch.train_run(mnist.x_train, mnist.y_train, mnist.x_test, mnist.y_test, batch_size,
                                 learning_rate, num_epochs, **kwargs)


# ------------------------------------------------------------------------------------------ the rules

def test_naive_keeps_the_rate_and_linear_multiplies_it_by_k():
    assert large_batch.learning_rate_for("naive", 512, 32, 0.025, steps_per_epoch=15) == 0.025
    assert large_batch.learning_rate_for("linear", 512, 32, 0.025, steps_per_epoch=15) == pytest.approx(0.4)
    # Goyal et al.: 0.1 per 256 images gives 3.2 at 8k.
    assert large_batch.learning_rate_for("linear", 8192, 256, 0.1, steps_per_epoch=156) == pytest.approx(3.2)


def test_warmup_rises_linearly_from_the_small_batch_rate_to_k_times_it():
    schedule = large_batch.learning_rate_for("linear+warmup", 512, 32, 0.025, steps_per_epoch=15, warmup_epochs=2)
    assert isinstance(schedule, schedules.WarmupStepSchedule)
    rates = schedule(np.arange(40))
    assert rates[0] == pytest.approx(0.025) and rates[15] == pytest.approx(0.025 + (0.4 - 0.025) / 2)
    assert np.all(np.diff(rates[:30]) > 0) and rates[30:] == pytest.approx(0.4)
    # The Keras form the training uses gives the same numbers.
    keras_schedule = schedule.to_keras()
    assert [float(keras_schedule(step)) for step in (0, 15, 35)] == pytest.approx([rates[0], rates[15], rates[35]])


def test_decay_epochs_become_steps_for_every_rule():
    for rule in large_batch.RULES:
        schedule = large_batch.learning_rate_for(rule, 256, 32, 0.025, steps_per_epoch=31, decay_epochs=[8])
        assert schedule.decay_boundaries == (248,)
        assert schedule(247) > schedule(248) == pytest.approx(schedule(247) / 10)


@pytest.mark.parametrize("arguments, message", [
    (("quadratic", 512, 32, 0.1, 15), "rule must be one of"),
    (("linear", 0, 32, 0.1, 15), "batch_size must be an integer >= 1"),
    (("linear", 512, 32, -0.1, 15), "base_learning_rate must be finite and > 0"),
    (("linear", 512, 32, 0.1, 0), "steps_per_epoch must be an integer >= 1"),
])
def test_rule_arguments_are_validated(arguments, message):
    with pytest.raises(ValueError, match=message):
        large_batch.learning_rate_for(*arguments)
    with pytest.raises(ValueError, match="warmup_epochs"):
        large_batch.learning_rate_for("linear+warmup", 512, 32, 0.1, 15, warmup_epochs=-1)


# --------------------------------------------------------------------------------------------- the runs

def test_a_run_records_errors_per_epoch_and_its_schedule(mnist):
    schedule = large_batch.learning_rate_for("linear+warmup", 128, 32, 0.025, steps_per_epoch=8)
    run = run_on(mnist, 128, schedule, num_epochs=3, label="warmup")
    assert run.label == "warmup" and run.batch_size == 128 and run.steps_per_epoch == 8 and not run.diverged
    assert len(run.train_error) == len(run.test_error) == len(run.train_loss) == 3
    assert all(0 <= error <= 100 for error in run.train_error + run.test_error)
    np.testing.assert_allclose(run.learning_rates, schedule(np.arange(24)))
    assert run.train_loss[-1] < run.train_loss[0] and run.final_test_error < 50  # it learns
    assert "warmup" in repr(run) and run.seconds > 0


def test_same_seed_same_initial_weights_and_same_run(mnist):
    first, second = run_on(mnist, 64, 0.02), run_on(mnist, 64, 0.02)
    assert first.train_loss == pytest.approx(second.train_loss, rel=1e-5)
    assert first.test_error == pytest.approx(second.test_error, abs=0.5)


def test_the_schedule_is_what_the_optimizer_uses(mnist):
    """A rate of 10,000 blows ReLU LeNet-5 up at once; warming up to it over more steps than the run has does not."""
    exploding = run_on(mnist, 128, 1e4, num_epochs=2, model_builder=models.lenet5)
    assert exploding.diverged and len(exploding.test_error) == 1 and not math.isfinite(exploding.train_loss[-1])
    slow_start = schedules.WarmupStepSchedule(1e4, warmup_steps=10**7, start_learning_rate=0.01)  # 0.011 at step 16
    survived = run_on(mnist, 128, slow_start, num_epochs=2, model_builder=models.lenet5)
    assert not survived.diverged and len(survived.test_error) == 2 and survived.train_loss[1] < survived.train_loss[0]


def test_gluon_runs_the_same_experiment(mnist):
    schedule = large_batch.learning_rate_for("linear+warmup", 128, 32, 0.025, steps_per_epoch=8)
    run = run_on(mnist, 128, schedule, num_epochs=2, framework="gluon")
    assert len(run.test_error) == 2 and not run.diverged
    assert run.train_loss[1] < run.train_loss[0] < 2.4


@pytest.mark.parametrize("changes, error, message", [
    ({"learning_rate": 0}, ValueError, "learning_rate must be > 0"),
    ({"learning_rate": "0.1"}, TypeError, "learning_rate must be a positive number"),
    ({"momentum": 1.0}, ValueError, "momentum must be in"),
    ({"batch_size": 4096}, ValueError, "larger than the number of training images"),
    ({"framework": "torch"}, ValueError, "framework must be one of"),
    ({"seed": 1.5}, TypeError, "seed must be an integer"),
])
def test_run_arguments_are_validated(mnist, changes, error, message):
    arguments = {"batch_size": 64, "learning_rate": 0.01, "num_epochs": 1, **changes}
    with pytest.raises(error, match=message):
        large_batch.train_run(mnist.x_train, mnist.y_train, mnist.x_test, mnist.y_test, **arguments)


def test_test_data_are_checked_before_training(mnist):
    with pytest.raises(ValueError, match="y_test has 255 labels"):
        large_batch.train_run(mnist.x_train, mnist.y_train, mnist.x_test, mnist.y_test[:-1], 64, 0.01, 1)


# -------------------------------------------------------------------------------------------- results

def fake_run(label, batch_size, test_errors, diverged=False):
    return large_batch.Run(label, batch_size, 1000 // batch_size, np.full(10, 0.1),
                           train_error=[e - 1 for e in test_errors], test_error=list(test_errors),
                           train_loss=[1.0] * len(test_errors), diverged=diverged)


def test_breakdown_is_the_first_batch_more_than_the_tolerance_worse():
    sizes, errors = [32, 64, 128, 256, 512], [2.8, 2.7, 3.5, 4.1, 3.0]
    assert large_batch.breakdown_batch_size(sizes, errors, 2.8, tolerance=1.0) == 256
    assert large_batch.breakdown_batch_size(sizes[::-1], errors[::-1], 2.8, tolerance=1.0) == 256  # any order
    assert large_batch.breakdown_batch_size(sizes, errors, 2.8, tolerance=2.0) is None
    assert large_batch.breakdown_batch_size([32, 64], [2.8, math.nan], 2.8) == 64  # NaN counts as broken
    with pytest.raises(ValueError, match="same, non-zero length"):
        large_batch.breakdown_batch_size([32, 64], [2.8], 2.8)


def test_plots_and_table():
    import matplotlib

    matplotlib.use("Agg")
    runs = {"small": fake_run("small", 32, [5.0, 3.0]), "big": fake_run("big", 512, [9.0, 90.0], diverged=True)}
    figure = large_batch.plot_error_curves(runs, "test_error")
    assert [line.get_label() for line in figure.axes[0].lines][:2] == ["small: 3.00%", "big: 90.00%"]
    figure = large_batch.plot_error_vs_batch_size([32, 512], [3.0, 90.0], 3.0)
    assert any("breaks down at batch 512" in text.get_text() for text in figure.axes[0].get_legend().get_texts())
    table = large_batch.table(runs.values(), reference=runs["small"])
    assert table.loc["big", "vs reference (points)"] == pytest.approx(87.0) and table.loc["big", "diverged"]
    assert list(table.index) == ["small", "big"] and not table.loc["small", "diverged"]
    with pytest.raises(TypeError, match="runs must be a Run"):
        large_batch.table([])
    with pytest.raises(ValueError, match="key must be"):
        large_batch.plot_error_curves(runs, "loss")
