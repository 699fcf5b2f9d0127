"""hpml_helpers.backends: the report, device selection, the MXNet shim and Horovod's build."""
import os
import subprocess
import sys

import pytest

from hpml_helpers import backends, horovod_build

SAMPLE_CHECK_BUILD = """Horovod v0.28.1:

Available Frameworks:
    [ ] TensorFlow
    [X] PyTorch
    [X] MXNet

Available Controllers:
    [ ] MPI
    [X] Gloo

Available Tensor Operations:
    [ ] NCCL
    [ ] DDL
    [ ] CCL
    [ ] MPI
    [X] Gloo
"""


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_import_is_light_and_makes_mxnet_importable():
    out = run_python("import sys, hpml_helpers; heavy = [m for m in ('tensorflow', 'keras', 'mxnet', 'horovod') "
                     "if m in sys.modules]; print('heavy', heavy); import mxnet; print('mxnet', mxnet.__version__)")
    assert out.returncode == 0, out.stderr
    assert "heavy []" in out.stdout and "mxnet 1.9.1" in out.stdout


def test_mxnet_import_needs_the_shim():
    # The shim is real: without it, MXNet 1.9.1 fails on numpy 1.26 (np.bool was removed in 1.24).
    out = run_python("import sys; sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "
                     "'_MXNetNumpyShim']; import numpy; assert 'bool' not in vars(numpy); import mxnet")
    assert out.returncode != 0 and "bool" in out.stderr


def test_plain_interpreter_of_the_environment_gets_the_shim():
    # scripts/link_kit.py's .pth applies it in every process of .venv (workers, horovodrun, builds)
    out = run_python("import numpy, mxnet; print(mxnet.__version__)")
    assert out.returncode == 0, out.stderr[-2000:]


def test_report_covers_every_back_end(capsys):
    info = backends.report()
    line = capsys.readouterr().out.strip()
    assert line == info["line"] and "\n" not in line
    for part in ("Python 3.11", "CPU", "TensorFlow 2.21.0 oneDNN", "Keras 3.15.1 (tensorflow)",
                 "MXNet 1.9.1 MKLDNN on", "Horovod 0.28.1: MXNet", "Gloo"):
        assert part in line
    assert info["cpu"]["usable_cpus"] >= 1 and info["cpu"]["model"]
    assert info["tensorflow"]["onednn"] is True and info["mxnet"]["mkldnn"] is True
    assert info["mxnet"]["dist_kvstore"] is True and info["mxnet"]["contexts"][0] == "cpu(0)"
    assert "MXNet" in info["horovod"]["frameworks"] and "Gloo" in info["horovod"]["controllers"]
    assert "PyTorch" not in info["horovod"]["frameworks"]  # no torch extension was built


def test_parse_check_build():
    parsed = horovod_build.parse_check_build(SAMPLE_CHECK_BUILD)
    assert parsed["version"] == "0.28.1"
    assert parsed["frameworks"] == ["PyTorch", "MXNet"]
    assert parsed["controllers"] == ["Gloo"] and parsed["tensor_operations"] == ["Gloo"]


def test_horovod_missing_in_an_environment_is_reported(tmp_path):
    info = horovod_build.horovod_info(str(tmp_path))
    assert info["installed"] is False and "make lab" in info["error"]


def test_check_build_is_asked_once_per_build(tmp_path):
    # A stand-in environment: horovodrun prints a --check-build answer and counts its calls.
    site = tmp_path / "lib" / "python3.11" / "site-packages" / "horovod" / "mxnet"
    site.mkdir(parents=True)
    (site / "mpi_lib.cpython-311-x86_64-linux-gnu.so").write_bytes(b"built")
    (tmp_path / "bin").mkdir()
    calls = tmp_path / "calls"
    horovodrun = tmp_path / "bin" / "horovodrun"
    horovodrun.write_text(f"#!/bin/sh\necho x >> {calls}\ncat <<'EOF'\n{SAMPLE_CHECK_BUILD}\nEOF\n")
    horovodrun.chmod(0o755)
    first = horovod_build.horovod_info(str(tmp_path))
    assert first == horovod_build.horovod_info(str(tmp_path))
    assert first["frameworks"] == ["MXNet"] and calls.read_text().count("x") == 1  # the second came from the cache
    os.utime(site / "mpi_lib.cpython-311-x86_64-linux-gnu.so", ns=(1, 1))  # "rebuilt"
    assert horovod_build.horovod_info(str(tmp_path)) == first
    assert calls.read_text().count("x") == 2


def test_use_rejects_unknown_devices():
    with pytest.raises(ValueError, match="device must be one of 'auto', 'intel', 'nvidia'; got 'amd'"):
        backends.use("amd")
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        backends.use("intel", threads=0)


def test_use_nvidia_without_a_gpu_says_what_was_looked_for():
    if backends._nvidia_problem() is None:
        assert backends.use("nvidia").kind == "nvidia"  # a GPU machine with CUDA builds
        return
    with pytest.raises(RuntimeError, match="nvidia-smi.*TensorFlow sees.*MXNet was built"):
        backends.use("nvidia")


def test_use_auto_and_intel_select_the_cpu_here(capsys):
    expected = "intel" if backends._nvidia_problem() else "nvidia"
    device = backends.use("auto")
    assert device.kind == expected and backends.current() == device
    assert "Using" in capsys.readouterr().out
    intel = backends.use("intel", verbose=False)
    assert intel.tensorflow_device == "/CPU:0" and str(intel.mxnet_context()) == "cpu(0)"


# ----------------------------------------------------------------------- CPU quotas (Binder, docker --cpus)

def fake_cgroup(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return str(tmp_path)


@pytest.mark.parametrize("files, quota", [
    ({"cpu.max": "100000 100000\n"}, 1.0),                      # cgroup v2, Binder's 1 CPU
    ({"cpu.max": "50000 100000\n"}, 0.5),
    ({"cpu.max": "max 100000\n"}, None),                        # v2, no limit
    ({"cpu/cpu.cfs_quota_us": "150000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1.5),  # cgroup v1
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),     # v1, no limit
    ({}, None),                                                 # no cgroup files at all
])
def test_cpu_quota_reads_cgroup_v1_and_v2(tmp_path, files, quota):
    assert backends.cpu_quota(fake_cgroup(tmp_path, files)) == quota


def test_usable_cpus_is_capped_by_the_quota_and_never_zero(tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "visible_cpus", lambda: 16)
    assert backends.usable_cpus(fake_cgroup(tmp_path / "a", {"cpu.max": "100000 100000"})) == 1
    assert backends.usable_cpus(fake_cgroup(tmp_path / "b", {"cpu.max": "20000 100000"})) == 1
    assert backends.usable_cpus(fake_cgroup(tmp_path / "c", {"cpu.max": "400000 100000"})) == 4
    assert backends.usable_cpus(fake_cgroup(tmp_path / "d", {"cpu.max": "max 100000"})) == 16


def test_thread_counts_follow_a_quota_below_the_visible_cores(monkeypatch):
    for name in backends.THREAD_VARIABLES:  # setenv first: monkeypatch then undoes what the test sets
        monkeypatch.setenv(name, "1")
        monkeypatch.delenv(name)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # set by the user: left alone
    monkeypatch.setattr(backends, "visible_cpus", lambda: 16)
    monkeypatch.setattr(backends, "usable_cpus", lambda: 1)
    backends._limit_threads_to_quota()
    assert os.environ["OMP_NUM_THREADS"] == "3"
    assert os.environ["MKL_NUM_THREADS"] == "1" and os.environ["TF_NUM_INTRAOP_THREADS"] == "1"
    assert os.environ["TF_NUM_INTEROP_THREADS"] == "2"


def test_no_quota_changes_no_thread_count(monkeypatch):
    for name in backends.THREAD_VARIABLES:  # setenv first: monkeypatch then undoes what the test sets
        monkeypatch.setenv(name, "1")
        monkeypatch.delenv(name)
    monkeypatch.setattr(backends, "visible_cpus", lambda: 2)
    monkeypatch.setattr(backends, "usable_cpus", lambda: 2)
    backends._limit_threads_to_quota()
    assert not any(name in os.environ for name in backends.THREAD_VARIABLES)


def test_launchers_count_the_quota_not_the_host_cores(monkeypatch):
    from hpml_helpers import distributed

    monkeypatch.setattr(backends, "usable_cpus", lambda: 1)
    with pytest.raises(ValueError, match="num_proc=2 is more than the 1 CPU cores"):
        distributed.run_horovod("allreduce_check", num_proc=2)
