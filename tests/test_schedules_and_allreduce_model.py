"""Tests for hpml_helpers.schedules and hpml_helpers.allreduce_model: learning-rate schedules in three forms, the alpha-beta allreduce model,
projected scaling efficiency and the ring-allreduce teaching model.

References checked:
- Goyal et al. 2017 (arXiv:1706.02677): 0.1 per 256 images -> 3.2 at batch 8192; warmup from eta to k*eta
  over 5 epochs; divide by 10 at epochs 30, 60 and 80.
- The ring allreduce sends 2(p-1)/p of the data per worker in 2(p-1) steps (Patarasuk & Yuan 2009).
- The Keras and MXNet schedules are checked by real optimizer updates, not only by calling them.
"""
import doctest
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")  # noqa: E402  (no display in CI)

import numpy as np
import pytest

from hpml_helpers import allreduce_model, schedules

STEPS = np.arange(0, 130)


def example_schedules():
    """A step-decay and a cosine schedule, both with warmup, small enough to check every step."""
    return {
        "step": schedules.WarmupStepSchedule(0.8, warmup_steps=10, start_learning_rate=0.1,
                                           decay_boundaries=(40, 80, 100)),
        "cosine": schedules.WarmupStepSchedule(0.8, warmup_steps=10, start_learning_rate=0.1,
                                             cosine_decay_steps=100, final_learning_rate=0.01),
    }


# --------------------------------------------------------------------------------------- linear scaling

def test_linear_scaling_rule_matches_the_paper():
    assert schedules.scaled_learning_rate(0.1, 8192) == pytest.approx(3.2)
    assert schedules.scaled_learning_rate(0.1, 256) == pytest.approx(0.1)
    assert schedules.scaled_learning_rate(0.1, 32) == pytest.approx(0.0125)
    assert schedules.scaled_learning_rate(0.01, 512, base_batch_size=128) == pytest.approx(0.04)
    assert schedules.scaled_for_workers(0.1, 8) == pytest.approx(0.8)
    assert schedules.scaled_for_workers(0.1, 1) == pytest.approx(0.1)


def test_goyal_schedule_warms_up_from_the_per_worker_rate_and_divides_by_ten():
    steps_per_epoch = 10
    schedule = schedules.goyal_schedule(8192, steps_per_epoch)
    assert schedule(0) == pytest.approx(0.0125)  # eta: 0.1 * 32 / 256, one worker's minibatch
    assert schedule(5 * steps_per_epoch) == pytest.approx(3.2)  # k * eta after 5 epochs
    for epoch, expected in [(29, 3.2), (30, 0.32), (59, 0.32), (60, 0.032), (80, 0.0032), (89, 0.0032)]:
        assert schedule(epoch * steps_per_epoch) == pytest.approx(expected), epoch


# --------------------------------------------------------------------------------------------- schedules

def test_warmup_starts_at_the_start_rate_and_reaches_the_peak_linearly():
    schedule = schedules.WarmupStepSchedule(0.8, warmup_steps=10, start_learning_rate=0.1)
    values = schedule(np.arange(0, 20))
    assert values[0] == pytest.approx(0.1)
    assert values[5] == pytest.approx(0.45)
    assert values[10] == pytest.approx(0.8)
    np.testing.assert_allclose(np.diff(values[:11]), 0.07)
    np.testing.assert_allclose(values[10:], 0.8)
    assert schedules.WarmupStepSchedule(0.5)(0) == pytest.approx(0.5)  # no warmup: the peak from step 0
    assert schedules.WarmupStepSchedule(0.5, warmup_steps=4)(0) == 0.0  # default start


def test_step_decay_divides_at_each_boundary():
    schedule = example_schedules()["step"]
    for step, expected in [(39, 0.8), (40, 0.08), (79, 0.08), (80, 0.008), (100, 0.0008), (10_000, 0.0008)]:
        assert schedule(step) == pytest.approx(expected), step
    assert isinstance(schedule(3), float)
    assert schedules.WarmupStepSchedule(1.0, decay_boundaries=[5], decay_factor=0.5)(5) == pytest.approx(0.5)


def test_cosine_decay_goes_from_peak_to_final():
    schedule = example_schedules()["cosine"]
    assert schedule(10) == pytest.approx(0.8)
    assert schedule(60) == pytest.approx((0.8 + 0.01) / 2)
    assert schedule(110) == pytest.approx(0.01)
    assert schedule(500) == pytest.approx(0.01)
    assert (np.diff(schedule(np.arange(10, 111))) < 0).all()


@pytest.mark.parametrize("kind", ["step", "cosine"])
def test_keras_and_gluon_forms_agree_with_numpy_step_by_step(kind):
    import keras

    schedule = example_schedules()[kind]
    expected = schedule(STEPS)
    keras_schedule = schedule.to_keras()
    assert isinstance(keras_schedule, keras.optimizers.schedules.LearningRateSchedule)
    # Keras computes in float32: agreement to float32 rounding (1 + cos near pi loses a few bits).
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras_schedule(STEPS)), expected, rtol=1e-6, atol=2e-7)
    for step in (0, 9, 10, 40, 60, 129):
        assert float(keras_schedule(step)) == pytest.approx(expected[step], rel=1e-6, abs=2e-7)
    gluon_scheduler = schedule.to_gluon()
    # MXNet passes num_update = k + 1 for the k-th update (see the next test).
    np.testing.assert_allclose([gluon_scheduler(int(step) + 1) for step in STEPS], expected, rtol=1e-12)


def test_keras_optimizer_applies_schedule_k_at_update_k():
    import keras

    schedule = example_schedules()["step"]
    weight = keras.Variable(np.zeros(1, "float32"))
    optimizer = keras.optimizers.SGD(learning_rate=schedule.to_keras())
    values = []
    for _ in range(45):
        optimizer.apply_gradients([(keras.ops.ones(1), weight)])  # gradient 1: the update is -lr
        values.append(float(weight.numpy()[0]))
    np.testing.assert_allclose(-np.diff([0.0] + values), schedule(np.arange(45)), rtol=1e-5, atol=1e-7)


def test_gluon_trainer_applies_schedule_k_at_update_k():
    import mxnet as mx
    from mxnet import autograd, gluon

    schedule = example_schedules()["step"]
    layer = gluon.nn.Dense(1, use_bias=False, in_units=1)
    layer.initialize(mx.init.Zero())
    trainer = gluon.Trainer(layer.collect_params(), "sgd", {"lr_scheduler": schedule.to_gluon()})
    values = []
    for _ in range(45):
        with autograd.record():
            output = layer(mx.nd.ones((1, 1))).sum()  # gradient 1: the update is -lr
        output.backward()
        trainer.step(1)
        values.append(float(layer.weight.data().asscalar()))
    np.testing.assert_allclose(-np.diff([0.0] + values), schedule(np.arange(45)), rtol=1e-5, atol=1e-7)


def test_keras_schedule_round_trips_through_serialization():
    import keras

    schedule = example_schedules()["step"]
    config = keras.optimizers.schedules.serialize(schedule.to_keras())
    restored = keras.optimizers.schedules.deserialize(config)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(STEPS)), schedule(STEPS), rtol=1e-6)


def test_schedule_plot_returns_a_figure():
    import matplotlib.pyplot as plt

    figure = schedules.goyal_schedule(8192, 10).plot(900, steps_per_epoch=10)
    assert isinstance(figure, matplotlib.figure.Figure)
    assert figure.axes[0].get_xlabel() == "epoch"
    plt.close(figure)


# -------------------------------------------------------------------------------------- alpha-beta model

def test_ring_allreduce_time_formula_and_broadcasting():
    latency, bandwidth = 1e-5, 1e9
    assert allreduce_model.ring_allreduce_time(1e6, 4, latency, bandwidth) == pytest.approx(6e-5 + 1.5e-3)
    assert allreduce_model.ring_allreduce_time(1e6, 1, latency, bandwidth) == 0.0
    times = allreduce_model.ring_allreduce_time(np.array([[1e3], [1e6]]), np.array([2, 4, 8]), latency, bandwidth)
    assert times.shape == (2, 3)
    assert (np.diff(times, axis=1) > 0).all()
    # The bandwidth term approaches 2 N / B, whatever p: the ring's selling point.
    assert allreduce_model.ring_allreduce_time(1e9, 1024, 0.0, bandwidth) == pytest.approx(2.0, rel=1e-3)


def synthetic_measurements(noise=0.0, num_workers=8, seed=0):
    """Allreduce times from the model, 1 KB to 256 MB, with multiplicative noise."""
    sizes = np.logspace(3, np.log10(256e6), 30)
    times = allreduce_model.ring_allreduce_time(sizes, num_workers, 5e-6, 1.25e9)
    return sizes, times * (1 + noise * np.random.default_rng(seed).standard_normal(sizes.size))


def test_fit_recovers_latency_and_bandwidth_from_noiseless_data():
    sizes, times = synthetic_measurements()
    fit = allreduce_model.fit_alpha_beta(sizes, times, 8)
    assert fit.latency == pytest.approx(5e-6, rel=1e-9)
    assert fit.bandwidth == pytest.approx(1.25e9, rel=1e-9)
    assert fit.r_squared == pytest.approx(1.0)
    np.testing.assert_allclose(fit.predict(sizes), times)
    # Several worker counts in one fit.
    workers = np.repeat([2, 4, 16], 10)
    sizes = np.tile(np.logspace(3, 8, 10), 3)
    times = allreduce_model.ring_allreduce_time(sizes, workers, 2e-6, 1e10)
    fit = allreduce_model.fit_alpha_beta(sizes, times, workers, relative=False)
    assert (fit.latency, fit.bandwidth) == (pytest.approx(2e-6), pytest.approx(1e10))
    assert fit.num_workers == (2, 4, 16)
    with pytest.raises(ValueError, match="num_workers"):
        fit.predict(1e6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_recovers_latency_and_bandwidth_from_noisy_data(seed):
    sizes, times = synthetic_measurements(noise=0.05, seed=seed)
    fit = allreduce_model.fit_alpha_beta(sizes, times, 8)
    assert fit.latency == pytest.approx(5e-6, rel=0.1)
    assert fit.bandwidth == pytest.approx(1.25e9, rel=0.1)
    assert fit.r_squared > 0.99


def test_fit_never_returns_a_negative_latency():
    sizes = np.logspace(5, 8, 12)
    times = allreduce_model.ring_allreduce_time(sizes, 4, 0.0, 1e9) * 1.02 - 1e-6  # would fit a negative alpha
    fit = allreduce_model.fit_alpha_beta(sizes, times, 4, relative=False)
    assert fit.latency == 0.0
    assert fit.bandwidth == pytest.approx(1e9, rel=0.05)


def test_crossover_is_where_latency_and_bandwidth_terms_are_equal():
    latency, bandwidth, workers = 5e-6, 1.25e9, 8
    crossover = allreduce_model.crossover_bytes(latency, bandwidth, workers)
    assert crossover == pytest.approx(workers * latency * bandwidth)  # 50 kB
    latency_term = allreduce_model.ring_allreduce_time(crossover, workers, latency, bandwidth=1e300)
    bandwidth_term = allreduce_model.ring_allreduce_time(crossover, workers, 0.0, bandwidth)
    assert latency_term == pytest.approx(bandwidth_term)


def test_fusion_pays_the_latency_once():
    latency, bandwidth = 25e-6, 1.25e9
    many_small = allreduce_model.fusion_gain([4096] * 200, 16, latency, bandwidth)
    assert many_small.gain > 10
    assert many_small.fused_seconds == pytest.approx(
        allreduce_model.ring_allreduce_time(4096 * 200, 16, latency, bandwidth))
    one_big = allreduce_model.fusion_gain([100e6], 16, latency, bandwidth)
    assert one_big.gain == pytest.approx(1.0)
    # A few big tensors: already bandwidth-bound, so fusion gains under 2%.
    assert allreduce_model.fusion_gain([25e6] * 4, 16, latency, bandwidth).gain == pytest.approx(1.0, abs=0.02)
    buffered = allreduce_model.fusion_gain([30e6] * 5, 16, latency, bandwidth, fusion_buffer_bytes=64e6)
    assert (buffered.num_tensors, buffered.num_buffers) == (5, 3)
    assert 1.0 < buffered.gain < allreduce_model.fusion_gain([30e6] * 5, 16, latency, bandwidth).gain + 1e-12


# -------------------------------------------------------------------------------------------- projections

def test_projected_efficiency_is_one_at_one_worker_and_decreases():
    projection = allreduce_model.projected_scaling(102.4e6, 0.2, latency=25e-6, bandwidth=allreduce_model.bytes_per_second(10))
    assert projection.num_workers[0] == 1
    assert projection.efficiency[0] == 1.0 and projection.speedup[0] == 1.0
    assert (np.diff(projection.efficiency) < 0).all()
    np.testing.assert_allclose(projection.speedup, projection.efficiency * projection.num_workers)
    assert projection.rows()[-1]["num_workers"] == 512
    hidden = allreduce_model.projected_scaling(102.4e6, 0.2, 25e-6, 1.25e9, overlap=1.0)
    np.testing.assert_allclose(hidden.efficiency, 1.0)
    half = allreduce_model.projected_scaling(102.4e6, 0.2, 25e-6, 1.25e9, overlap=0.5)
    assert (half.efficiency[1:] > projection.efficiency[1:]).all()


def test_docstring_example_and_plot():
    import matplotlib.pyplot as plt

    failures = doctest.testmod(schedules).failed + doctest.testmod(allreduce_model).failed
    assert failures == 0
    projections = {f"{gbits} Gbit/s": allreduce_model.projected_scaling(102.4e6, 0.2, 25e-6, allreduce_model.bytes_per_second(gbits))
                   for gbits in (10, 25, 100)}
    figure = allreduce_model.plot_scaling(projections)
    assert len(figure.axes[0].get_lines()) == 4  # three networks and the ideal line
    assert figure.axes[0].get_xscale() == "log"
    plt.close(figure)


# ------------------------------------------------------------------------------------------ teaching model

@pytest.mark.parametrize("num_workers", [1, 2, 3, 4, 7])
def test_ring_simulation_equals_the_sum(num_workers):
    rng = np.random.default_rng(num_workers)
    arrays = [rng.standard_normal((5, 3)) for _ in range(num_workers)]  # 15 elements: uneven chunks
    simulation = allreduce_model.ring_allreduce_simulation(arrays)
    for result in simulation.results:
        np.testing.assert_allclose(result, np.sum(arrays, axis=0))
    assert len(simulation.steps) == 2 * (num_workers - 1)
    for step in simulation.steps:
        assert sorted(sender for sender, _, _, _ in step["transfers"]) == list(range(num_workers))


@pytest.mark.parametrize("num_workers", [2, 4, 8])
def test_ring_simulation_sends_two_p_minus_one_over_p_of_the_data(num_workers):
    num_elements = 8 * 3
    arrays = [np.full(num_elements, float(worker)) for worker in range(num_workers)]
    simulation = allreduce_model.ring_allreduce_simulation(arrays)
    expected = 2 * (num_workers - 1) / num_workers * num_elements
    np.testing.assert_array_equal(simulation.elements_sent_per_worker, expected)
    assert [s["phase"] for s in simulation.steps].count("reduce-scatter") == num_workers - 1


# -------------------------------------------------------------------------------------------- validation

@pytest.mark.parametrize("call, argument", [
    (lambda: schedules.scaled_learning_rate(0.1, 0), "batch_size"),
    (lambda: schedules.scaled_learning_rate(0.1, 256, base_batch_size=-1), "base_batch_size"),
    (lambda: schedules.scaled_for_workers(0.1, 0), "num_workers"),
    (lambda: schedules.WarmupStepSchedule(0.1, warmup_steps=-1), "warmup_steps"),
    (lambda: schedules.WarmupStepSchedule(0.1, warmup_steps=2.5), "warmup_steps"),
    (lambda: schedules.WarmupStepSchedule(0.0), "peak_learning_rate"),
    (lambda: schedules.WarmupStepSchedule(0.1, decay_boundaries=(60, 30)), "decay_boundaries"),
    (lambda: schedules.WarmupStepSchedule(0.1, warmup_steps=50, decay_boundaries=(30,)), "decay_boundaries"),
    (lambda: schedules.WarmupStepSchedule(0.1, decay_boundaries=(5,), cosine_decay_steps=9), "cosine_decay_steps"),
    (lambda: schedules.WarmupStepSchedule(0.1)(-1), "step"),
    (lambda: allreduce_model.ring_allreduce_time(0, 4, 1e-6, 1e9), "num_bytes"),
    (lambda: allreduce_model.ring_allreduce_time(1e6, 0, 1e-6, 1e9), "num_workers"),
    (lambda: allreduce_model.ring_allreduce_time(1e6, 2.5, 1e-6, 1e9), "num_workers"),
    (lambda: allreduce_model.ring_allreduce_time(1e6, 4, -1e-6, 1e9), "latency"),
    (lambda: allreduce_model.ring_allreduce_time(1e6, 4, 1e-6, 0), "bandwidth"),
    (lambda: allreduce_model.crossover_bytes(1e-6, 1e9, 1), "num_workers"),
    (lambda: allreduce_model.fit_alpha_beta([1e3, 1e6], [1e-5], 4), "seconds"),
    (lambda: allreduce_model.fit_alpha_beta([1e3, 1e6], [1e-5, 1e-3], [4, 4, 4]), "num_workers"),
    (lambda: allreduce_model.fit_alpha_beta([1e3, 1e6], [1e-5, 1e-3], 1), "num_workers"),
    (lambda: allreduce_model.fit_alpha_beta([1e6, 1e6], [1e-3, 1e-3], 4), "num_bytes"),
    (lambda: allreduce_model.fusion_gain([], 4, 1e-6, 1e9), "tensor_bytes_list"),
    (lambda: allreduce_model.fusion_gain([1e3, -5], 4, 1e-6, 1e9), "tensor_bytes_list"),
    (lambda: allreduce_model.projected_scaling(0, 0.2, 1e-6, 1e9), "model_bytes"),
    (lambda: allreduce_model.projected_scaling(1e8, 0.2, 1e-6, 1e9, overlap=1.5), "overlap"),
    (lambda: allreduce_model.projected_scaling(1e8, 0.2, 1e-6, 1e9, num_workers=(1, 0)), "num_workers"),
    (lambda: allreduce_model.ring_allreduce_simulation([np.ones(3), np.ones(4)]), "arrays"),
])
def test_bad_arguments_raise_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


@pytest.mark.parametrize("call, argument", [
    (lambda: allreduce_model.ring_allreduce_time("big", 4, 1e-6, 1e9), "num_bytes"),
    (lambda: schedules.WarmupStepSchedule(0.1, decay_boundaries=object()), "decay_boundaries"),
    (lambda: allreduce_model.ring_allreduce_simulation([]), "arrays"),
    (lambda: allreduce_model.plot_scaling([1, 2]), "projections"),
])
def test_bad_types_raise_type_error_naming_the_argument(call, argument):
    with pytest.raises(TypeError, match=argument):
        call()


def test_importing_the_module_imports_no_framework():
    code = ("import sys, hpml_helpers.allreduce_model, hpml_helpers.schedules; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'mxnet', 'matplotlib.pyplot') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=str(schedules.__file__).rsplit("/hpml_helpers", 1)[0]).stdout
    assert output.strip() == "[]"
