"""distributed_plots: timeline parsing against a hand-written Horovod timeline, the staleness teaching model
against its known stability limit, the ring replay against the simulation's result, and every plot draws."""
import json

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from hpml_helpers import distributed_plots, allreduce_model  # noqa: E402


def fake_timeline(fused, rounds=2, tensors=3, truncate=False):
    """Events in Horovod's format: one "process" per tensor, nested B/E events, times in us."""
    events = [{"name": "process_name", "ph": "M", "pid": 0, "args": {"start_time_since_epoch_in_micros": 1}}]
    for index in range(tensors):
        events.append({"name": "process_name", "ph": "M", "pid": index + 1,
                       "args": {"name": f"horovod_allreduce.fusion.{index}"}})
    events.append({"name": "process_name", "ph": "M", "pid": 99, "args": {"name": "horovod_allreduce.barrier"}})
    for round_index in range(rounds):
        base = 10_000 * (round_index + 1)
        for index in range(tensors):
            pid, start = index + 1, base + (0 if fused else 1000 * index)
            events += [{"ph": "B", "name": "NEGOTIATE_ALLREDUCE", "ts": start, "pid": pid},
                       {"ph": "X", "name": "0", "ts": start, "pid": pid, "dur": 0},
                       {"ph": "E", "ts": start + 100, "pid": pid},
                       {"ph": "B", "name": "ALLREDUCE", "ts": start + 200, "pid": pid}]
            if fused:
                events += [{"ph": "B", "name": "MEMCPY_IN_FUSION_BUFFER", "ts": start + 210, "pid": pid},
                           {"ph": "E", "ts": start + 220, "pid": pid}]
            if truncate and round_index == rounds - 1 and index == tensors - 1:
                continue  # Horovod never wrote this tensor's end: the round is incomplete
            events.append({"ph": "E", "ts": start + 900, "pid": pid, "args": {"dtype": "float32"}})
    events += [{"ph": "B", "name": "ALLREDUCE", "ts": 5, "pid": 99}, {"ph": "E", "ts": 9, "pid": 99}]
    return events


def test_read_timeline_accepts_an_unclosed_array(tmp_path):
    events = fake_timeline(fused=True)
    path = tmp_path / "timeline.json"
    path.write_text(json.dumps(events)[:-1] + ",\n")  # as Horovod leaves it: no closing bracket
    assert distributed_plots.read_timeline(path) == events
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(ValueError, match="HOROVOD_TIMELINE"):
        distributed_plots.read_timeline(tmp_path / "empty.json")


@pytest.mark.parametrize("fused", [True, False])
def test_timeline_intervals_keep_the_last_round_of_the_chosen_tensors(fused):
    rows = distributed_plots.timeline_intervals(fake_timeline(fused))
    assert {row["tensor"] for row in rows} == {"fusion.0", "fusion.1", "fusion.2"}  # not the barrier
    allreduces = sorted((row for row in rows if row["activity"] == "ALLREDUCE"), key=lambda row: row["tensor"])
    assert [row["start_ms"] for row in allreduces] == ([0.2] * 3 if fused else [0.2, 1.2, 2.2])
    assert all(row["end_ms"] - row["start_ms"] == pytest.approx(0.7) for row in allreduces)
    assert ("MEMCPY_IN_FUSION_BUFFER" in {row["activity"] for row in rows}) == fused
    every_round = distributed_plots.timeline_intervals(fake_timeline(fused), last_round=False)
    assert len(every_round) == 2 * len(rows) and min(row["start_ms"] for row in every_round) == 0.0


def test_an_incomplete_last_round_is_skipped_and_bad_input_is_named():
    rows = distributed_plots.timeline_intervals(fake_timeline(True, rounds=2, truncate=True))
    assert min(row["start"] for row in rows) == 10_000  # the first, complete round
    with pytest.raises(ValueError, match="no round"):
        distributed_plots.timeline_intervals(fake_timeline(True, rounds=1, truncate=True))
    with pytest.raises(ValueError, match="no tensor named 'size.'"):
        distributed_plots.timeline_intervals(fake_timeline(True), prefix="size.")
    with pytest.raises(TypeError, match="events must be"):
        distributed_plots.timeline_intervals("timeline.json")


@pytest.mark.parametrize("delay", [0, 1, 2, 3])
def test_delayed_gradient_descent_is_stable_exactly_below_the_known_limit(delay):
    limit = distributed_plots.stable_learning_rate(delay)
    below = distributed_plots.delayed_gradient_descent(0.97 * limit, delay, steps=3000)
    above = distributed_plots.delayed_gradient_descent(1.03 * limit, delay, steps=3000)
    assert abs(below[-1]) < 1e-3 < 1e3 < abs(above[-1])


def test_delayed_gradient_descent_without_delay_is_plain_gradient_descent():
    w = distributed_plots.delayed_gradient_descent(0.5, delay=0, curvature=2.0, steps=3)
    np.testing.assert_allclose(w, [1.0, 0.0, 0.0, 0.0])  # w - 0.5 * 2 * w
    assert distributed_plots.stable_learning_rate(0, curvature=4.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="delay must be"):
        distributed_plots.delayed_gradient_descent(0.1, delay=-1)
    with pytest.raises(ValueError, match="learning_rate must be"):
        distributed_plots.delayed_gradient_descent(0.0)


def test_moving_average():
    np.testing.assert_allclose(distributed_plots.moving_average([1, 2, 3, 4, 5], 2), [1, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_allclose(distributed_plots.moving_average([3, 1], 10), [3, 2])
    with pytest.raises(ValueError, match="window"):
        distributed_plots.moving_average([1, 2], 0)


@pytest.mark.parametrize("num_workers", [2, 3, 5])
def test_ring_replay_ends_with_every_chunk_holding_every_worker(num_workers):
    simulation = allreduce_model.ring_allreduce_simulation([np.arange(10.0) + k for k in range(num_workers)])
    states = distributed_plots.ring_contributions(simulation)
    assert len(states) == 2 * (num_workers - 1) + 1
    assert (states[0] == 1).all() and (states[-1] == num_workers).all()
    # After reduce-scatter each worker holds exactly one complete chunk.
    assert ((states[num_workers - 1] == num_workers).sum(axis=1) == 1).all()


def test_plots_draw(tmp_path):
    sizes = [64 * 4 ** k for k in range(8)]
    seconds = [allreduce_model.ring_allreduce_time(size, 2, 500e-6, 1e9) for size in sizes]
    fit = allreduce_model.fit_alpha_beta(sizes, seconds, 2)
    figure = distributed_plots.plot_allreduce(sizes, seconds, fit)
    assert "latency-bound" in [text.get_text() for text in figure.axes[0].texts]
    path = tmp_path / "timeline.json"
    path.write_text(json.dumps(fake_timeline(False)))
    figure = distributed_plots.plot_timeline({"fusion on": fake_timeline(True), "fusion off": path})
    assert len(figure.axes) == 2
    ps_result = {"rank": 0, "losses": [2.3, 2.0, 1.5], "seconds": [0.1, 0.2, 0.3]}
    figure = distributed_plots.plot_sync_async({"dist_sync": [ps_result], "dist_async": [dict(ps_result, rank=1)]})
    assert len(figure.axes[0].lines) == 2
    figure = distributed_plots.plot_ring_allreduce(allreduce_model.ring_allreduce_simulation([np.ones(4)] * 3))
    assert len(figure.axes) == 5
    with pytest.raises(ValueError, match="sizes and seconds"):
        distributed_plots.plot_allreduce([1], [1.0], fit)
    with pytest.raises(TypeError, match="timelines must be"):
        distributed_plots.plot_timeline([])


def test_step_wall_times_use_the_timestamps_only_when_they_cover_the_measured_total():
    done = {"seconds": [0.5, 1.0, 1.5, 2.0], "total_seconds": 2.05}
    times, measured = distributed_plots.step_wall_times(done)
    assert measured and list(times) == done["seconds"]
    queued = {"seconds": [0.01, 0.02, 0.03, 0.04], "total_seconds": 2.0}  # MXNet queued them, ran them later
    times, measured = distributed_plots.step_wall_times(queued)
    assert not measured and list(times) == [0.5, 1.0, 1.5, 2.0]
    times, measured = distributed_plots.step_wall_times({"seconds": [1.0, 2.0]})  # no total: trust them
    assert measured and list(times) == [1.0, 2.0]
