"""Stragglers and stale gradients: the servers' counting rule against hand-simulated update orders, the
summaries against hand-made worker records, bad inputs, every plot draws, and one real parameter-server run
per mode whose staleness records must satisfy the invariants that always hold."""
import pickle

import matplotlib
import mxnet as mx
import numpy as np
import pytest

matplotlib.use("Agg")

from hpml_helpers import distributed, staleness  # noqa: E402
from hpml_helpers.workers import _staleness_counter as counter  # noqa: E402


# ----------------------------------------------------------------------------------- the counting rule

def test_counter_rule_reproduces_a_hand_simulated_async_order():
    # Server order (2 workers, both start from version 0): w0 push, w1 push, w0 push, w0 push, w1 push.
    # Each worker pulls right after its push. By hand: 0; 1 (w1 pulled 0, applied after 1 update); 1 (w0 pulled
    # 1, applied at 2); 0; 2 (w1 pulled 2, applied at 4).
    value = np.zeros(3)
    pulled = {0: 0, 1: 0}
    seen = []
    for rank in (0, 1, 0, 0, 1):
        value = counter.apply_counter_push(value, counter.encode_push(rank, pulled[rank], 2))
        pulled[rank], own = counter.decode_pull(value, rank)  # the worker's pull right after its push
        seen.append(own)
    assert seen == [0, 1, 1, 0, 2]
    assert value[0] == 5  # five updates applied


def test_counter_rule_in_sync_gives_zero_for_every_summed_push():
    value = np.zeros(4)
    for step in range(3):
        summed = sum(counter.encode_push(rank, step, 3) for rank in range(3))  # the servers sum the 3 pushes
        value = counter.apply_counter_push(value, summed)
        assert [counter.decode_pull(value, rank) for rank in range(3)] == [(step + 1, 0)] * 3


def test_staleness_bound_from_consecutive_versions():
    assert counter.staleness_bound([2, 3, 7]).tolist() == [1, 0, 3]
    assert counter.staleness_bound([5], first_version=4).tolist() == [0]


def test_counting_sgd_counts_the_counter_key_and_steps_the_others():
    optimizer = pickle.loads(pickle.dumps(counter.CountingSGD(learning_rate=0.5), 0))  # as the servers get it
    updater = mx.optimizer.get_updater(optimizer)
    weight = mx.nd.array([1.0, 2.0])
    updater(0, mx.nd.array([2.0, -2.0]), weight)  # a parameter key: w - lr * g
    assert weight.asnumpy().tolist() == [0.0, 3.0]
    value = mx.nd.zeros(3)
    for rank, version in ((1, 0), (0, 0), (1, 1)):
        updater(counter.COUNTER_KEY, mx.nd.array(counter.encode_push(rank, version, 2)), value)
    assert value.asnumpy().tolist() == [3.0, 1.0, 1.0]
    weights, grads = [mx.nd.ones(2), mx.nd.zeros(3)], [mx.nd.ones(2), mx.nd.array(counter.encode_push(0, 0, 2))]
    optimizer.update_multi_precision((3, counter.COUNTER_KEY), weights, grads, (None, None))  # aggregated call
    assert weights[0].asnumpy().tolist() == [0.5, 0.5] and weights[1].asnumpy().tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("call, error, message", [
    (lambda: counter.counter_size(0), ValueError, "num_workers"),
    (lambda: counter.counter_size(True), ValueError, "num_workers"),
    (lambda: counter.encode_push(2, 0, 2), ValueError, "rank"),
    (lambda: counter.encode_push(0, -1, 2), ValueError, "version"),
    (lambda: counter.encode_push(0, 1.5, 2), ValueError, "version"),
    (lambda: counter.apply_counter_push(np.zeros(3), np.zeros(3)), ValueError, "at least one worker"),
    (lambda: counter.apply_counter_push(np.zeros(3), np.zeros(2)), ValueError, "same length"),
    (lambda: counter.apply_counter_push(np.zeros(3), counter.encode_push(0, 4, 2)), ValueError, "newer"),
    (lambda: counter.decode_pull(np.zeros(3), 2), ValueError, "no slot"),
])
def test_counter_rejects_bad_inputs(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------------------ summaries of hand records

def worker(rank, staleness_values, seconds, mode="dist_async", batch=32, num_workers=2, start=100.0, **extra):
    """A hand-made ps_training result: one loss per step (decreasing), the given staleness and times."""
    steps = len(staleness_values)
    return {"rank": rank, "num_workers": num_workers, "mode": mode, "steps": steps,
            "losses": list(np.linspace(2.0, 1.0, steps)), "seconds": list(seconds), "total_seconds": seconds[-1],
            "batch_size": batch, "staleness": list(staleness_values), "start_unix": start, **extra}


def async_run():
    """Worker 0: 4 steps of 0.5 s; worker 1 (straggler, 3x slower): 2 steps of 1.5 s... up to 3 s."""
    return [worker(0, [0, 1, 0, 1], [0.5, 1.0, 1.5, 2.0]),
            worker(1, [1, 3], [1.5, 3.0], start=100.25, straggler_rank=1, straggler_delay_ms=1000)]


def test_rates_and_step_time_from_hand_records():
    rows = staleness.worker_rates(async_run())
    assert [row["images_per_second"] for row in rows] == [pytest.approx(64.0), pytest.approx(64 / 3)]
    assert [row["straggler"] for row in rows] == [False, True] and rows[1]["delay_ms"] == 1000
    assert staleness.cluster_rate(async_run()) == pytest.approx(6 * 32 / 3.0)  # all images / the slowest time
    assert staleness.step_seconds(async_run(), ranks=[0]) == pytest.approx(0.5)
    assert staleness.step_seconds(async_run(), ranks=[1]) == pytest.approx(1.5)


def test_staleness_histogram_counts_per_value_and_mean():
    histogram = staleness.staleness_histogram(async_run())
    assert histogram["counts"].tolist() == [2, 3, 0, 1] and histogram["values"].tolist() == [0, 1, 2, 3]
    assert histogram["pushes"] == 6 and histogram["mean"] == pytest.approx(6 / 6) and histogram["max"] == 3
    assert staleness.staleness_histogram(async_run(), ranks=[1])["mean"] == pytest.approx(2.0)
    empty = staleness.staleness_histogram([worker(0, [], [1.0], num_workers=1) | {"seconds": []}])
    assert empty["pushes"] == 0 and np.isnan(empty["mean"])


def test_loss_curve_merges_the_workers_in_wall_time_order():
    curve = staleness.loss_curve(async_run(), window=1)
    # worker 1 started 0.25 s later: its steps are at 1.75 and 3.25 on the shared clock
    assert curve["seconds"].tolist() == [0.5, 1.0, 1.5, 1.75, 2.0, 3.25]
    assert curve["images"].tolist() == [32, 64, 96, 128, 160, 192]
    assert curve["global_steps"].tolist() == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert curve["loss"][3] == pytest.approx(2.0) and curve["loss"][-1] == pytest.approx(1.0)
    assert staleness.time_to_loss(curve, 1.5) == pytest.approx(1.5)  # w0: 2, 1.67, 1.33 (at 1.5 s)
    assert np.isnan(staleness.time_to_loss(curve, 0.5))
    assert staleness.loss_at(curve, 1.8) == pytest.approx(2.0) and np.isnan(staleness.loss_at(curve, 0.1))


def good_run():
    return async_run()


@pytest.mark.parametrize("results, error, message", [
    ("run", TypeError, "list or tuple"),
    ([], ValueError, "must not be empty"),
    ([{"rank": 0}], ValueError, "no 'num_workers' key"),
    ([worker(0, [0, 1], [0.5]), worker(1, [0], [1.0])], ValueError, "1 seconds for 2 steps"),
    ([worker(0, [0, -1], [0.5, 1.0]), worker(1, [0], [1.0])], ValueError, "whole numbers >= 0"),
    ([worker(0, [0.5, 1], [0.5, 1.0]), worker(1, [0], [1.0])], ValueError, "whole numbers >= 0"),
    ([worker(0, [0, 1], [1.0, 0.5]), worker(1, [0], [1.0])], ValueError, "must not decrease"),
    ([worker(0, [0], [1.0]), worker(0, [0], [1.0])], ValueError, "ranks 0..1"),
    ([worker(0, [0], [1.0]), worker(1, [0], [1.0], mode="dist_sync")], ValueError, "mixes modes"),
    ([worker(0, [0], [1.0], num_workers=3), worker(1, [0], [1.0])], ValueError, "num_workers 2"),
    ([worker(0, [0], [1.0]) | {"batch_size": 0}, worker(1, [0], [1.0])], ValueError, "batch_size"),
])
def test_summaries_reject_bad_runs(results, error, message):
    with pytest.raises(error, match=message):
        staleness.cluster_rate(results)


@pytest.mark.parametrize("call, error, message", [
    (lambda: staleness.loss_curve(good_run(), window=0), ValueError, "window"),
    (lambda: staleness.staleness_histogram(good_run(), ranks=[2]), ValueError, "ranks"),
    (lambda: staleness.staleness_histogram(good_run(), ranks=3), TypeError, "ranks"),
    (lambda: staleness.time_to_loss({"loss": [1.0]}, 0.5), ValueError, "no 'seconds' key"),
    (lambda: staleness.time_to_loss(staleness.loss_curve(good_run()), "low"), TypeError, "target"),
    (lambda: staleness.loss_at(staleness.loss_curve(good_run()), -1), ValueError, "seconds"),
    (lambda: staleness.plot_worker_rates([]), TypeError, "runs"),
    (lambda: staleness.plot_staleness({"a": good_run()}, split_straggler="yes"), TypeError, "split_straggler"),
    (lambda: staleness.plot_staleness({"a": good_run()}, ax="axes"), TypeError, "ax"),
    (lambda: staleness.plot_loss_curves({"a": good_run()}, window=1.5), TypeError, "window"),
    (lambda: staleness.step_seconds([worker(0, [], [1.0], num_workers=1) | {"seconds": []}]), ValueError,
     "no steps"),
])
def test_helpers_reject_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_every_plot_draws():
    import matplotlib.pyplot as plt

    sync = [worker(rank, [0, 0], [1.5, 3.0], mode="dist_sync", straggler_rank=1, straggler_delay_ms=1000)
            for rank in (0, 1)]
    runs = {"sync + straggler": sync, "async + straggler": async_run()}
    ax = staleness.plot_worker_rates(runs)
    assert len(ax.patches) == 4
    ax = staleness.plot_staleness(runs)
    assert len(ax.get_legend().get_texts()) == 4  # each straggler run split: the straggler and the others
    assert "mean 2.00" in ax.get_legend().get_texts()[2].get_text()
    figure = staleness.plot_loss_curves(runs, window=2)
    assert [len(ax.get_lines()) for ax in figure.axes] == [2, 2]
    plt.close("all")


# ------------------------------------------------------------------------------- a real parameter server

@pytest.mark.timeout(120)
def test_real_parameter_server_reports_exact_staleness():
    common = ["--num-train", 512, "--batch-size", 32, "--num-test", 200, "--log-every", 1000]
    sync = distributed.run_parameter_server("ps_training", num_workers=2, mode="dist_sync", timeout=90,
                                            threads_per_worker=1, stream=False, args=common)
    for result in sync:  # 512 images / (2 x 32) = 8 lock steps, never stale
        assert result["staleness"] == [0] * 8 and result["staleness_bound"] == [0] * 8
        assert result["versions"] == list(range(1, 9)) and result["total_updates"] == 8
    delayed = distributed.run_parameter_server(
        "ps_training", num_workers=2, mode="dist_async", timeout=90, threads_per_worker=1, stream=False,
        args=common + ["--image-budget", 640, "--straggler-rank", 1, "--straggler-delay-ms", 20])
    pushes = sum(result["steps"] for result in delayed)
    assert all(result["total_updates"] == pushes for result in delayed)  # one server update per push
    assert pushes * 32 >= 640  # the budget was reached
    assert [result["straggler_delay_ms"] for result in delayed] == [0, 20]
    assert staleness.staleness_histogram(delayed)["pushes"] == pushes
    for result in delayed:
        values, bound = np.array(result["staleness"]), np.array(result["staleness_bound"])
        assert (values >= 0).all() and (values <= bound).all() and (values < pushes).all()
    # Both first gradients were computed on version 0: whichever the server applied second is stale.
    assert sorted(result["staleness"][0] for result in delayed)[0] == 0
    assert max(result["staleness"][0] for result in delayed) >= 1
