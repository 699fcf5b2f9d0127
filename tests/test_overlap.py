"""overlap: the fraction of allreduce time hidden behind the backward pass, on hand-made Horovod timelines with
known answers (full, none, partial, several steps, fused tensors), one small real 2-rank timeline, bad inputs,
and the projection's ``overlap`` argument."""
import json
import math

import numpy as np
import pytest

from hpml_helpers import allreduce_model, distributed, distributed_plots, overlap

OFFSET = -100.0  # timeline seconds = worker seconds + OFFSET in the hand-made runs


def _tensor(events, pid, name, ready, start, end):
    """One allreduce of ``name``: NEGOTIATE with each rank's ready mark, then ALLREDUCE (Gloo inside); seconds."""
    us = lambda seconds: round(seconds * 1e6)  # noqa: E731
    if not any(e.get("pid") == pid and e.get("ph") == "M" for e in events):
        events.append({"name": "process_name", "ph": "M", "pid": pid, "args": {"name": f"horovod_allreduce.{name}"}})
    events.append({"ph": "B", "name": "NEGOTIATE_ALLREDUCE", "ts": us(min(ready.values())), "pid": pid})
    for rank, when in sorted(ready.items(), key=lambda item: item[1]):
        events.append({"ph": "X", "name": str(rank), "ts": us(when), "pid": pid, "dur": 0})
    events.append({"ph": "E", "ts": us(max(ready.values())), "pid": pid})
    events += [{"ph": "B", "name": "ALLREDUCE", "ts": us(start), "pid": pid},
               {"ph": "B", "name": "GLOO_ALLREDUCE", "ts": us(start), "pid": pid},
               {"ph": "E", "ts": us(end), "pid": pid}, {"ph": "E", "ts": us(end), "pid": pid, "args": {}}]


def fake_run(steps, lag=0.0):
    """Events and {rank: marks} of traced steps; each step is (t0, backward start, [(ready, start, end), ...]).

    Times in timeline seconds, the same on both ranks (rank 1's readiness ``lag`` later); each step's marker
    allreduce is enqueued at t0 and noted ``step * 1e-4`` s later on rank 0 (so the smallest lag is step 0's)."""
    events = [{"name": "process_name", "ph": "M", "pid": 0, "args": {"start_time_since_epoch_in_micros": 0}}]
    marks = {0: [], 1: []}
    for step, (t0, backward, tensors) in enumerate(steps):
        _tensor(events, 1000 + step, f"{overlap.MARKER_PREFIX}{step}", {0: t0 + step * 1e-4, 1: t0 + 2e-4},
                t0 + 3e-4, t0 + 4e-4)
        end = max(e for _, _, e in tensors) + 1e-3
        for rank in (0, 1):
            marks[rank].append({"step": step, "marker": t0 - OFFSET, "forward": t0 + 1e-3 - OFFSET,
                                "backward": backward - OFFSET, "end": end - OFFSET})
        for index, (ready, start, end_) in enumerate(tensors):
            _tensor(events, index + 1, f"{overlap.GRADIENT_PREFIX}{index}", {0: ready, 1: ready + lag}, start, end_)
    return events, marks


FULL = (1.0, 1.01, [(1.02, 1.03, 1.04), (1.05, 1.06, 1.07), (1.10, 1.10, 1.10)])  # both inside [1.01, 1.10]
NONE = (2.0, 2.01, [(2.10, 2.11, 2.13), (2.10, 2.11, 2.15)])  # every gradient at the end: nothing to hide
PARTIAL = (3.0, 3.01, [(3.02, 3.04, 3.08), (3.10, 3.12, 3.14)])  # 0.06 of 0.04 + 0.02 is inside [3.01, 3.10]


@pytest.mark.parametrize("step, expected", [(FULL, 1.0), (NONE, 0.0), (PARTIAL, 2 / 3)])
def test_one_step_has_the_hand_counted_fraction(step, expected):
    events, marks = fake_run([step])
    measured = overlap.measure_overlap(events, marks, num_tensors=len(step[2]))
    assert measured.offset == pytest.approx(OFFSET, abs=1e-6)
    (only,) = measured.steps
    assert only.fraction == pytest.approx(expected, abs=1e-6)
    assert only.backward_start == pytest.approx(step[1]) and only.backward_end == pytest.approx(step[2][-1][0])
    assert measured.fraction == measured.pooled_fraction == pytest.approx(expected, abs=1e-6)


def test_several_steps_give_per_step_fractions_median_and_pooled():
    events, marks = fake_run([FULL, NONE, PARTIAL])
    measured = overlap.measure_overlap(events, marks, num_tensors=2)  # FULL has 3 tensors: 2 is the least per step
    assert [step.fraction for step in measured.steps] == pytest.approx([1.0, 0.0, 2 / 3], abs=1e-6)
    assert measured.fraction == pytest.approx(2 / 3, abs=1e-6)  # the median
    hidden = 0.02 + 0.0 + 0.04  # seconds inside the windows, over 0.02 + 0.04 + 0.06 of allreduce
    assert measured.pooled_fraction == pytest.approx(hidden / 0.12, abs=1e-6)
    assert measured.offset == pytest.approx(OFFSET)  # step 0's marker was noted soonest
    assert "3 steps" in str(measured)


def test_the_rank_that_finishes_backward_last_sets_the_window():
    events, marks = fake_run([PARTIAL], lag=0.02)  # rank 1 has every gradient 20 ms later
    (step,) = overlap.measure_overlap(events, marks, num_tensors=2).steps
    assert step.critical_rank == 1 and step.backward_end == pytest.approx(3.12)
    assert step.fraction == pytest.approx((0.04 + 0.0) / 0.06, abs=1e-6)  # the second allreduce starts at 3.12
    only_rank_0 = overlap.measure_overlap(events, marks[0], num_tensors=2).steps[0]
    assert only_rank_0.critical_rank == 0 and only_rank_0.backward_end == pytest.approx(3.10)


def test_fused_tensors_count_their_shared_allreduce_once():
    assert overlap.interval_union([(0, 2), (1, 3), (5, 6), (6, 7)]) == [(0, 3), (5, 7)]
    assert overlap.overlap_fraction([(0, 2), (0, 2)], [(1, 4)]) == pytest.approx(0.5)
    assert overlap.overlap_fraction([(0, 1), (2, 3)], [(0.5, 2.5)]) == pytest.approx(0.5)
    assert overlap.overlap_seconds([(0, 4)], [(1, 2), (3, 5)]) == pytest.approx(2.0)


def test_a_step_the_timeline_holds_only_in_part_is_left_out():
    events, marks = fake_run([FULL, PARTIAL])
    cut = [e for e in events if not (e.get("pid") == 2 and e.get("ts", 0) >= 3.14e6)]  # PARTIAL's last end
    assert [s.step for s in overlap.measure_overlap(cut, marks, num_tensors=2).steps] == [0]
    assert [s.step for s in overlap.measure_overlap(events, marks, num_tensors=3).steps] == [0]  # FULL has 3
    with pytest.raises(ValueError, match="no step of the marks has all 4"):
        overlap.measure_overlap(events, marks, num_tensors=4)


def test_tensor_rows_and_plot():
    import matplotlib.pyplot as plt

    events, marks = fake_run([PARTIAL], lag=0.01)
    rows = overlap.tensor_rows(events)
    assert [row["tensor"] for row in rows] == ["grad.0", "grad.1"]
    assert rows[0]["ready"] == pytest.approx({0: 3.02, 1: 3.03}) and rows[0]["end"] == pytest.approx(3.08)
    step = overlap.measure_overlap(events, marks, num_tensors=2).steps[0]
    figure = overlap.plot_overlap_step(step)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["rank 0 compute", "rank 1 compute", "grad.0", "grad.1"]
    assert "67%" in figure.axes[0].get_title()
    plt.close(figure)


E, M = fake_run([PARTIAL])
STEP = overlap.measure_overlap(E, M, 2).steps[0]


@pytest.mark.parametrize("call, error, message", [
    (lambda: overlap.tensor_rows("timeline.json"), TypeError, r"events must be the list"),
    (lambda: overlap.tensor_rows([]), ValueError, r"events must not be empty"),
    (lambda: overlap.tensor_rows([3]), TypeError, r"events\[0\] must be a dict"),
    (lambda: overlap.tensor_rows([{"ph": "B", "pid": 1, "name": "ALLREDUCE"}]), ValueError, r"events\[0\] has no 'ts'"),
    (lambda: overlap.tensor_rows([{"ph": "E", "pid": 1, "ts": "soon"}]), TypeError, r"ts'\] must be a number"),
    (lambda: overlap.tensor_rows(E, prefix="weights."), ValueError, r"no allreduce of a tensor named 'weights\.'"),
    (lambda: overlap.tensor_rows(E, prefix=None), TypeError, r"prefix must be a string"),
    (lambda: overlap.clock_offset(E, [{"step": 0}]), ValueError, r"marks\[0\]\[0\] has no 'marker'"),
    (lambda: overlap.clock_offset(E, {}), ValueError, r"marks must not be empty"),
    (lambda: overlap.clock_offset(E, {"zero": M[0]}), TypeError, r"marks rank must be an integer"),
    (lambda: overlap.clock_offset(E, [dict(M[0][0], step=7)]), ValueError, r"no marker allreduce"),
    (lambda: overlap.measure_overlap(E, M, 0), ValueError, r"num_tensors must be an integer >= 1"),
    (lambda: overlap.measure_overlap(E, M, 2.0), TypeError, r"num_tensors must be an integer"),
    (lambda: overlap.measure_overlap(E, M, 2, offset=math.nan), ValueError, r"offset must be a finite"),
    (lambda: overlap.measure_overlap(E, {0: [dict(M[0][0], backward=M[0][0]["end"] + 1)]}, 2), ValueError,
     r"not in order forward <= backward <= end"),
    (lambda: overlap.interval_union([(2, 1)]), ValueError, r"intervals\[0\] ends before it starts"),
    (lambda: overlap.interval_union([(1, 2, 3)]), TypeError, r"intervals\[0\] must be a \(start, end\) pair"),
    (lambda: overlap.interval_union([(0, math.inf)]), ValueError, r"intervals\[0\] must be a finite"),
    (lambda: overlap.interval_union("0-1"), TypeError, r"intervals must be"),
    (lambda: overlap.overlap_fraction([(1, 1)], [(0, 2)]), ValueError, r"intervals must hold some allreduce time"),
    (lambda: overlap.overlap_fraction([], [(0, 2)]), ValueError, r"intervals must hold some allreduce time"),
    (lambda: overlap.plot_overlap_step({"step": 0}), TypeError, r"step must be an OverlapStep"),
    (lambda: overlap.plot_overlap_step(STEP, ax="top"), TypeError, r"ax must be a matplotlib Axes"),
])
def test_bad_inputs_are_refused_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("value, error", [(-0.1, ValueError), (1.5, ValueError), (math.nan, ValueError),
                                          ("half", TypeError), (True, TypeError), ([0.1, 0.2], TypeError)])
def test_projection_validates_its_overlap(value, error):
    with pytest.raises(error, match="overlap"):
        allreduce_model.projected_scaling(1e8, 0.2, 25e-6, 1.25e9, overlap=value)


def test_projection_hides_the_measured_fraction_of_the_allreduce():
    measured = np.float64(0.37)  # a fraction as measure_overlap returns it
    projection = allreduce_model.projected_scaling(1e8, 0.2, 25e-6, 1.25e9, num_workers=(1, 2, 512), overlap=measured)
    communication = allreduce_model.ring_allreduce_time(1e8, np.array([1, 2, 512]), 25e-6, 1.25e9)
    np.testing.assert_allclose(projection.step_seconds, 0.2 + (1 - 0.37) * communication)
    np.testing.assert_allclose(projection.efficiency, 0.2 / projection.step_seconds)


def test_a_real_two_rank_timeline_is_parsed_and_measured(tmp_path):
    """Horovod + Gluon, 2 ranks, LeNet-5: two traced steps (about 15 s on 2 cores)."""
    path = tmp_path / "timeline.json"
    runs = distributed.run_horovod("horovod_overlap", num_proc=2, threads_per_worker=1, bind_cores=True, stream=False,
                                   timeout=60, env_vars={"HOROVOD_TIMELINE": path},
                                   args=["--model", "lenet5", "--batch-size", 16, "--num-warmup-steps", 1,
                                         "--num-steps", 2])
    events = distributed_plots.read_timeline(path)
    tensors = len(runs[0]["tensor_bytes"])
    assert tensors == 10 and runs[0]["parameters"] == 61_706  # LeNet-5: 5 layers x (weight, bias)
    measured = overlap.measure_overlap(events, {run["rank"]: run["marks"] for run in runs}, tensors)
    assert len(measured.steps) == 2
    header = next(e for e in events if "start_time_since_epoch_in_micros" in e.get("args", {}))
    clock = runs[0]["clock"]  # the timeline's own start time gives the same offset, to within a cycle
    from_header = clock["time"] - clock["monotonic"] - header["args"]["start_time_since_epoch_in_micros"] / 1e6
    assert measured.offset == pytest.approx(from_header, abs=0.02)
    for step in measured.steps:
        assert len(step.rows) == tensors and 0.0 <= step.fraction <= 1.0
        assert step.hidden_seconds <= step.allreduce_seconds + 1e-9
        for row in step.rows:  # an allreduce starts only once every rank has the gradient
            assert set(row["ready"]) == {0, 1} and row["start"] >= max(row["ready"].values()) - 1e-6
            assert step.forward_start <= row["start"] <= row["end"] <= step.end
    json.dumps([run["marks"] for run in runs])  # the marks are plain JSON for the launcher
