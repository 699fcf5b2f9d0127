"""Weak scaling against the control: ``scaling.measure``'s arithmetic and scheduling on made-up runs, bad
inputs, and one real Horovod + Gluon run pair that must give every worker the same number of steps."""
import threading
import time

import pytest

from hpml_helpers import scaling


def test_measure_keeps_the_best_round_of_each_case_and_runs_the_control_jobs_together():
    one, many, pair = [900.0, 1000.0], [1500.0, 1800.0], [(800.0, 850.0), (950.0, 900.0)]  # per round
    state = {"round": -1, "control": False, "control_calls": 0, "running": 0, "overlapped": False}
    calls, lock = [], threading.Lock()

    def run(num_workers, first_core):
        with lock:
            calls.append((num_workers, first_core))
            if num_workers == 2:  # the N-worker case; the control follows it
                value, state["control"] = many[state["round"]], True
            elif not state["control"]:  # the 1-worker case opens a round
                state["round"] += 1
                value = one[state["round"]]
            else:
                value = pair[state["round"]][first_core]
                state["control_calls"] += 1
                if state["control_calls"] == 2:
                    state.update(control=False, control_calls=0)
            state["running"] += 1
        time.sleep(0.05)
        with lock:
            state["overlapped"] |= state["running"] > 1
            state["running"] -= 1
        return value

    measured = scaling.measure(run, num_workers=2, rounds=2)
    assert sorted(calls) == sorted([(1, 0), (2, 0), (1, 0), (1, 1)] * 2)
    assert state["overlapped"], "the two control jobs must run at the same time"
    assert (measured.one, measured.many, measured.independent) == (1000.0, 1800.0, 1850.0)
    assert measured.efficiency == pytest.approx(0.9)
    assert measured.control == pytest.approx(0.925)
    assert measured.of_control == pytest.approx(0.9 / 0.925)


def test_measure_refuses_a_run_that_timed_nothing():
    with pytest.raises(RuntimeError, match="no images/s"):
        scaling.measure(lambda num_workers, first_core: 0.0 if num_workers == 2 else 100.0)


def test_total_images_per_second_sums_the_workers():
    assert scaling.total_images_per_second([{"images_per_second": 10.0}, {"images_per_second": 5.5}]) == 15.5


@pytest.mark.parametrize("kwargs, error, name", [
    ({"run": "not a function"}, TypeError, "run"),
    ({"num_workers": 1}, ValueError, "num_workers"),
    ({"num_workers": 2.5}, TypeError, "num_workers"),
    ({"rounds": 0}, ValueError, "rounds"),
])
def test_measure_bad_input_is_named(kwargs, error, name):
    arguments = {"run": lambda num_workers, first_core: 1.0, **kwargs}
    with pytest.raises(error, match=name):
        scaling.measure(**arguments)


@pytest.mark.parametrize("framework, kwargs, error, name", [
    ("PyTorch DDP", {}, ValueError, "framework"),
    (scaling.GLUON, {"batch_size": 0}, ValueError, "batch_size"),
    (scaling.GLUON, {"num_train": -1}, ValueError, "num_train"),
    (scaling.GLUON, {"epochs": 1.5}, TypeError, "epochs"),
    (scaling.GLUON, {"first_core": -1}, ValueError, "first_core"),
    (scaling.TF_DISTRIBUTE, {"bind_cores": "yes"}, TypeError, "bind_cores"),
])
def test_train_lenet5_mnist_bad_input_is_named(framework, kwargs, error, name):
    with pytest.raises(error, match=name):
        scaling.train_lenet5_mnist(framework, 2, **kwargs)


def test_every_target_names_a_framework():
    assert set(scaling.TARGET_OF_CONTROL) == set(scaling.FRAMEWORKS)
    assert all(0 < goal <= 1 for goal in scaling.TARGET_OF_CONTROL.values())


def test_weak_scaling_gives_every_worker_as_many_steps_as_one_worker():
    """Real Horovod + Gluon runs: 512 images at batch 64 are 8 steps on 1 worker; 2 workers get 2 epochs of 4."""
    one = scaling.train_lenet5_mnist(scaling.GLUON, 1, batch_size=64, num_train=512, epochs=1)
    two = scaling.train_lenet5_mnist(scaling.GLUON, 2, batch_size=64, num_train=512, epochs=1)
    assert [result["steps"] for result in one] == [8]
    assert [result["steps"] for result in two] == [8, 8]
    assert len({result["param_digest"] for result in two}) == 1  # one model on both ranks
    assert all(result["images_per_second"] > 0 for result in one + two)
