"""hpml_helpers.bench: timers and the GEMM measurement (values checked for sense, not speed)."""
import time

import pytest

from hpml_helpers import bench


def test_best_time_takes_the_fastest_call():
    durations = iter([0.0, 0.05, 0.01, 0.03])  # warm-up, then three timed calls
    seconds = bench.best_time(lambda: time.sleep(next(durations)), repeats=3, warmup=1)
    assert 0.009 < seconds < 0.03


def test_gemm_gflops_is_consistent_with_its_timing():
    results = bench.gemm_gflops(sizes=(32, 128), repeats=2)
    assert [row["size"] for row in results] == [32, 128]
    for row in results:
        assert row["gflops"] == pytest.approx(2 * row["size"] ** 3 / row["seconds"] / 1e9)
        assert row["gflops"] > 0.01
    assert bench.peak_gflops(results) == max(row["gflops"] for row in results)
    figure = bench.plot_gemm(results)
    assert figure.axes[0].get_ylabel() == "GFLOP/s"


def test_bad_arguments():
    with pytest.raises(ValueError, match="repeats must be an integer >= 1"):
        bench.best_time(lambda: None, repeats=0)
    with pytest.raises(TypeError, match="function must be callable"):
        bench.best_time(3)
    with pytest.raises(ValueError, match="sizes must be"):
        bench.gemm_gflops(sizes=(0,))
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        bench.gemm_gflops(sizes=(4,), dtype="int8")
