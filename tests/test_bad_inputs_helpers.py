"""Bad inputs to the small helpers around training (schedules, the allreduce model, large-batch rules,
transfer, tables, the data folder, worker names): each gives a ValueError/TypeError naming the argument."""
import math

import numpy as np
import pytest

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim before mxnet is imported)
from hpml_helpers import allreduce_model, data, distributed, large_batch, models, schedules, tables, transfer

GOYAL = dict(batch_size=8192, steps_per_epoch=100)
RATE_FOR = dict(rule="linear", batch_size=512, base_batch_size=64, base_learning_rate=0.1, steps_per_epoch=10)
FIT = dict(num_bytes=[1e3, 1e4, 1e5], seconds=[1e-3, 2e-3, 5e-3], num_workers=2)
ROWS = [{"a": 1, "b": 2}]

CASES = [
    *[(schedules.goyal_schedule, GOYAL | {"per_worker_batch_size": value}, error, "per_worker_batch_size")
      for value, error in ((math.nan, TypeError), (True, TypeError), ("32", TypeError), (0, ValueError))],
    *[(schedules.goyal_schedule, GOYAL | {"warmup_epochs": value}, error, "warmup_epochs")
      for value, error in ((math.nan, ValueError), (math.inf, ValueError), (True, TypeError), ("5", TypeError),
                           (None, TypeError), (-1, ValueError))],
    *[(schedules.goyal_schedule, GOYAL | {"decay_epochs": value}, error, "decay_epochs")
      for value, error in ((30, TypeError), (None, TypeError), ("30", TypeError), ([30, math.nan], ValueError),
                           ([True], TypeError))],
    *[(allreduce_model.fit_alpha_beta, FIT | {"relative": value}, TypeError, "relative")
      for value in (math.nan, 1, "yes", None)],
    *[(large_batch.learning_rate_for, RATE_FOR | {"decay_factor": value}, error, "decay_factor")
      for value, error in ((math.nan, ValueError), (math.inf, ValueError), (True, TypeError), ("0.1", TypeError),
                           (None, TypeError), (0, ValueError), (-0.1, ValueError), (10, ValueError))],
    (large_batch.learning_rate_for, RATE_FOR | {"decay_epochs": [5, "x"]}, TypeError, r"decay_epochs\[1\]"),
    *[(tables.table, {"rows": ROWS, "columns": value}, TypeError, "columns") for value in (3, math.nan, True, "a")],
    (tables.table, {"rows": ROWS, "columns": ["a", "zzz"]}, ValueError, "columns"),
    *[(tables.table, {"rows": ROWS, "rename": value}, TypeError, "rename") for value in ([], "a", 3, ("a", "b"))],
    *[(tables.table, {"rows": ROWS, "index": value}, ValueError, "index") for value in ("zzz", 0, True, ["a"])],
    (tables.table, {"rows": {"a": 1}}, TypeError, "rows"),
    (tables.table, {"rows": [3]}, TypeError, "rows"),
    *[(data.load, {"name": "mnist", "data_dir": value}, error, "data_dir")
      for value, error in (("/no/such/folder", ValueError), (3, TypeError), ("", TypeError))],
    (distributed.worker_script, {"name": "no_such_worker"}, ValueError, "script name"),
    (distributed.worker_script, {"name": 3}, TypeError, "script name"),
]


@pytest.mark.parametrize("function, arguments, error, argument", CASES,
                         ids=[f"{case[0].__name__}-{case[3]}-{index}" for index, case in enumerate(CASES)])
def test_refuses_bad_input(function, arguments, error, argument):
    with pytest.raises(error, match=argument):
        function(**arguments)


@pytest.fixture(scope="module")
def pretrained():
    return models.lenet5("keras")


@pytest.mark.parametrize("value", [math.nan, math.inf, True, -1, 0, None, np.float32(2.0)])
def test_transfer_model_refuses_a_transfer_layers_that_is_no_list(pretrained, value):
    with pytest.raises(TypeError, match="transfer_layers"):
        transfer.transfer_model(pretrained, 5, transfer_layers=value)


def test_the_good_forms_still_work(pretrained):
    assert schedules.goyal_schedule(**GOYAL, decay_epochs=[30.0, 60]).warmup_steps == 500
    assert allreduce_model.fit_alpha_beta(**FIT, relative=False).bandwidth > 0
    assert large_batch.learning_rate_for(**RATE_FOR, decay_epochs=[1], decay_factor=1.0) is not None
    assert list(tables.table(ROWS, columns=["b"], rename={"b": "B"}).columns) == ["B"]
    assert transfer.transfer_model(pretrained, 5, transfer_layers=["conv1"]).layers[-1].units == 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fast_finite_check_agrees_with_numpy(dtype):
    from hpml_helpers import validation

    array = np.random.default_rng(0).random((4, 128, 256), dtype=dtype)  # large enough for the BLAS fast path
    assert validation.all_finite(array)
    assert validation.all_finite(array * dtype(np.finfo(dtype).max / 2))  # huge values: the dot overflows, still finite
    for bad in (np.nan, np.inf, -np.inf):
        spoiled = array.copy()
        spoiled[3, 100, 200] = bad
        assert not validation.all_finite(spoiled)
        assert not validation.all_finite(spoiled[:, ::2])  # not contiguous: the element-wise path
