"""Which hardware and which framework builds this machine has, and which one the notebooks use.

- ``report()``: one line (and a dict) with Python, CPU, TensorFlow/oneDNN, Keras, MXNet/MKLDNN and
  Horovod's build; every notebook prints it in its setup cell.
- ``use("auto" | "intel" | "nvidia", threads=None)``: select the device for TensorFlow and MXNet.
  "intel" is the CPU path through oneDNN (Intel's library; it runs on any x86-64 CPU, AMD included),
  "nvidia" the CUDA path; "auto" takes NVIDIA when a GPU and a CUDA build are present.
- ``install_mxnet_numpy_shim()``: the one place where the kit patches numpy for MXNet (see below).
- ``usable_cpus()``: the CPUs this process may really use: its affinity, capped by a container's CPU
  quota (Binder, ``docker --cpus``), which the frameworks themselves do not see.

Used by every notebook (setup cell) and by the worker scripts.
"""
import dataclasses
import os
import platform
import shutil
import subprocess
import sys

from . import horovod_build
from .threads import THREAD_VARIABLES, thread_environment

DEVICE_CHOICES = ("auto", "intel", "nvidia")


# ---------------------------------------------------------------------------------------------
# The MXNet numpy shim.
# MXNet 1.9.1 (the last release; the project is retired) uses ``np.bool`` at import time. numpy
# deprecated that alias in 1.20 and removed it in 1.24, so ``import mxnet`` fails with numpy 1.26,
# which TensorFlow 2.21 needs. ``np.bool`` meant the builtin ``bool``, so restoring the alias is
# exact. Rather than importing numpy on every interpreter start, a meta-path hook restores it just
# before ``mxnet`` is imported. The kit's install writes a .pth file that calls this function, so
# Horovod's build, ``horovodrun --check-build`` and worker processes get it too.
# ---------------------------------------------------------------------------------------------
class _MXNetNumpyShim:
    """Import hook: restores ``numpy.bool`` the moment ``mxnet`` is about to be imported."""

    def find_spec(self, name, path=None, target=None):
        if name == "mxnet":
            _restore_numpy_bool()
        return None  # the regular finders do the actual import


def _restore_numpy_bool():
    import numpy

    if "bool" not in vars(numpy):
        numpy.bool = bool


def install_mxnet_numpy_shim():
    """Make ``import mxnet`` work with numpy >= 1.24 (idempotent)."""
    if "numpy" in sys.modules:
        _restore_numpy_bool()
    if not any(isinstance(finder, _MXNetNumpyShim) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MXNetNumpyShim())


install_mxnet_numpy_shim()


# ---------------------------------------------------------------------------------------------
# CPU quotas.
# A container may see all the host's cores but be allowed only some of their time: Binder gives
# 1 CPU on a machine with dozens of cores. TensorFlow, MXNet, OpenMP and BLAS size their thread pools
# by the cores they see, so they would start dozens of threads that take turns on one CPU's worth of
# time, far slower than one thread. When the cgroup sets a quota below the visible cores, the thread
# counts default to the quota (variables already set are left alone); nothing changes otherwise.
# ---------------------------------------------------------------------------------------------
CGROUP_ROOT = "/sys/fs/cgroup"


def cpu_quota(cgroup_root=CGROUP_ROOT):
    """CPUs' worth of time the cgroup allows (e.g. 1.0 on Binder, 0.5), or None when there is no quota."""
    def read(name):
        with open(os.path.join(cgroup_root, name)) as handle:
            return handle.read().split()

    try:  # cgroup v2: "max 100000" (no limit) or "<quota> <period>" in microseconds
        quota, period = read("cpu.max")[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1: quota -1 means no limit
        quota, period = int(read("cpu/cpu.cfs_quota_us")[0]), int(read("cpu/cpu.cfs_period_us")[0])
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError, IndexError):
        return None


def visible_cpus():
    """The CPUs this process may be scheduled on (its affinity), whatever their quota."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def usable_cpus(cgroup_root=CGROUP_ROOT):
    """The CPUs this process can keep busy: visible CPUs, capped by the quota (at least 1)."""
    quota = cpu_quota(cgroup_root)
    visible = visible_cpus()
    return visible if quota is None else max(1, min(visible, int(quota + 0.5)))


def _limit_threads_to_quota():
    usable = usable_cpus()
    if usable < visible_cpus():
        for name in THREAD_VARIABLES:
            # TensorFlow's collectives hold an inter-op thread while they wait: keep one more.
            os.environ.setdefault(name, str(usable + 1 if name == "TF_NUM_INTEROP_THREADS" else usable))


_limit_threads_to_quota()


# ---------------------------------------------------------------------------------------------
# Hardware and build detection
# ---------------------------------------------------------------------------------------------
def cpu_info():
    """CPU model name, physical cores, logical CPUs and the CPUs this process may use."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import psutil

    usable = usable_cpus()
    return {
        "model": model,
        "physical_cores": psutil.cpu_count(logical=False) or os.cpu_count(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def nvidia_gpus():
    """Names of the NVIDIA GPUs that ``nvidia-smi`` lists (empty when there is none or no driver)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def tensorflow_info():
    """TensorFlow version, whether oneDNN is on, CUDA build, visible GPUs, thread settings."""
    try:
        import tensorflow as tf
    except ImportError as error:
        return {"installed": False, "error": str(error)}
    from tensorflow.python.util import _pywrap_util_port

    # oneDNN is built into TF's x86 wheels and on by default; TF_ENABLE_ONEDNN_OPTS=0 turns it off.
    onednn = bool(_pywrap_util_port.IsMklEnabled()) and os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0"
    return {
        "installed": True,
        "version": tf.__version__,
        "onednn": onednn,
        "cuda_build": bool(tf.test.is_built_with_cuda()),
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def keras_info():
    """Keras version and the backend it runs on."""
    try:
        import keras
    except ImportError as error:
        return {"installed": False, "error": str(error)}
    return {"installed": True, "version": keras.__version__, "backend": keras.backend.backend()}


def mxnet_info():
    """MXNet version, its MKLDNN/CUDA/distributed-kvstore features, and its contexts."""
    try:
        import mxnet as mx
    except ImportError as error:
        return {"installed": False, "error": str(error)}
    features = mx.runtime.Features()
    cuda = features.is_enabled("CUDA")
    num_gpus = mx.context.num_gpus() if cuda else 0
    return {
        "installed": True,
        "version": mx.__version__,
        "mkldnn": features.is_enabled("MKLDNN"),
        "cuda": cuda,
        "dist_kvstore": features.is_enabled("DIST_KVSTORE"),
        "contexts": ["cpu(0)"] + [f"gpu({i})" for i in range(num_gpus)],
    }


def _on_off(flag):
    return "on" if flag else "off"


def _summary_line(info):
    """The one-line form of ``report()``'s dict."""
    cpu, tf, ks, mx, hvd = info["cpu"], info["tensorflow"], info["keras"], info["mxnet"], info["horovod"]
    parts = [f"Python {info['python']}",
             f"CPU {cpu['model']} ({cpu['physical_cores']} cores, {cpu['usable_cpus']} threads usable)"]
    parts.append(f"TensorFlow {tf['version']} oneDNN {_on_off(tf['onednn'])}, GPUs {len(tf['gpus'])}"
                 if tf["installed"] else "TensorFlow not installed")
    parts.append(f"Keras {ks['version']} ({ks['backend']})" if ks["installed"] else "Keras not installed")
    parts.append(f"MXNet {mx['version']} MKLDNN {_on_off(mx['mkldnn'])}, CUDA {_on_off(mx['cuda'])}, "
                 f"{'/'.join(mx['contexts'])}" if mx["installed"] else "MXNet not installed")
    parts.append(f"Horovod {hvd['version']}: {'+'.join(hvd['frameworks']) or 'no framework'}, "
                 f"{'+'.join(hvd['controllers']) or 'no controller'}"
                 if hvd["installed"] else "Horovod not built")
    if info["nvidia_gpus"]:
        parts.append(f"NVIDIA: {', '.join(info['nvidia_gpus'])}")
    return " | ".join(parts)


def report(verbose=True):
    """Collect the back-end facts into a dict; print them on one line unless ``verbose=False``."""
    from .validation import check_bool  # here: importing this module must not import numpy (see use())

    check_bool(verbose, "verbose")
    info = {
        "python": platform.python_version(),
        "cpu": cpu_info(),
        "nvidia_gpus": nvidia_gpus(),
        "tensorflow": tensorflow_info(),
        "keras": keras_info(),
        "mxnet": mxnet_info(),
        "horovod": horovod_build.horovod_info(),
    }
    info["line"] = _summary_line(info)
    if verbose:
        print(info["line"])
    return info


# ---------------------------------------------------------------------------------------------
# Device selection
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Device:
    """The device the notebooks train on: ``kind`` is "intel" or "nvidia"."""

    kind: str
    tensorflow_device: str
    description: str

    def mxnet_context(self):
        """The MXNet context for this device (``mx.cpu()`` or ``mx.gpu(0)``)."""
        import mxnet as mx

        return mx.gpu(0) if self.kind == "nvidia" else mx.cpu()


_current = None


def current():
    """The device last chosen by ``use()`` (``use("auto")`` is applied on first call)."""
    return _current or use("auto", verbose=False)


def _nvidia_problem():
    """None when the NVIDIA path can run here, else a sentence saying what was looked for."""
    gpus = nvidia_gpus()
    tf = tensorflow_info()
    mx = mxnet_info()
    cuda_frameworks = [name for name, ok in (("TensorFlow", tf.get("installed") and tf["gpus"]),
                                             ("MXNet", mx.get("installed") and mx["cuda"])) if ok]
    if gpus and cuda_frameworks:
        return None
    looked = ["`nvidia-smi` " + (f"lists {', '.join(gpus)}" if gpus else
                                 "is missing or lists no GPU" if shutil.which("nvidia-smi") is None
                                 else "lists no GPU"),
              "TensorFlow sees " + (f"{len(tf['gpus'])} GPU(s)" if tf.get("installed") and tf["gpus"]
                                    else "no GPU (the tensorflow-cpu build has no CUDA)"),
              "MXNet was built " + ("with CUDA" if mx.get("installed") and mx["cuda"] else "without CUDA")]
    return ("no usable NVIDIA GPU: looked for one and found that " + "; ".join(looked) +
            ". Devices available here: 'intel' (the CPU) and 'auto' (which picks it); for GPUs install "
            "the NVIDIA route of README.md.")


def _set_threads(environment):
    """Apply ``thread_environment``'s counts: the variables MXNet, OpenMP and BLAS read when they load, and
    TensorFlow's intra-/inter-op pools (settable until TensorFlow starts)."""
    os.environ.update({name: str(value) for name, value in environment.items()})
    notes = []
    if "mxnet" in sys.modules:
        notes.append("MXNet is already imported, so OMP_NUM_THREADS only applies to new processes")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(environment["TF_NUM_INTRAOP_THREADS"])
        tf.config.threading.set_inter_op_parallelism_threads(environment["TF_NUM_INTEROP_THREADS"])
    except RuntimeError:
        notes.append("TensorFlow has already started, so its thread counts stay as they were "
                     "(restart the kernel and call use() first)")
    return notes


def use(device="auto", threads=None, verbose=True):
    """Select "intel" (CPU via oneDNN), "nvidia" (CUDA) or "auto" for TensorFlow and MXNet.

    ``threads`` (a positive int, or None to leave them) sets the thread counts of the math libraries,
    by the one rule of ``threads.thread_environment``."""
    global _current
    # Imported here, not at the top: a .pth file imports this module in every Python process, which must
    # not pay for (nor be changed by) numpy, and validation imports numpy.
    from .validation import check_bool, check_choice

    device = check_choice(device, "device", DEVICE_CHOICES)
    environment = thread_environment(threads, "threads")  # {} for None; checks threads first
    verbose = check_bool(verbose, "verbose")
    problem = _nvidia_problem() if device in ("auto", "nvidia") else "not asked for"
    if device == "nvidia" and problem:
        raise RuntimeError(f"backends.use(device='nvidia'): {problem}")
    notes = _set_threads(environment) if environment else []
    kind = "nvidia" if device == "nvidia" or (device == "auto" and problem is None) else "intel"
    import tensorflow as tf

    if kind == "intel":
        try:
            tf.config.set_visible_devices([], "GPU")  # keep TF off any GPU so "intel" means the CPU
        except RuntimeError:
            notes.append("TensorFlow had already started; GPUs, if any, stay visible to it")
        _current = Device("intel", "/CPU:0", f"CPU ({cpu_info()['model']}), oneDNN kernels")
    else:
        _current = Device("nvidia", "/GPU:0", f"NVIDIA GPU ({nvidia_gpus()[0]}), CUDA kernels")
    if verbose:
        print(f"Using {_current.kind}: {_current.description}" + "".join(f"; note: {n}" for n in notes))
    return _current
