"""Launch distributed training on real engines, from a notebook or a shell.

- ``run_horovod(script, num_proc)``: ``horovodrun -np N -H localhost:N --gloo python script`` (Horovod
  over Gloo on this machine; ``controller="mpi"`` and ``hosts=`` for a cluster).
- ``run_parameter_server(script, num_workers, num_servers, mode)``: MXNet's parameter server, with a
  scheduler, servers and workers on 127.0.0.1 and a free port chosen for you.
- ``run_tf_multiworker(script, num_workers)``: TensorFlow's MultiWorkerMirroredStrategy, N workers on
  127.0.0.1, each with a TF_CONFIG naming the cluster (free ports) and its own index.

Every launcher streams the workers' output prefixed by rank, collects the JSON result line each
worker prints with ``emit_result``, enforces a timeout, and on a worker failure, a timeout or a
keyboard interrupt ends every process it started (children included) and raises ``WorkerError``
naming the rank and its last lines. ``threads_per_worker=1`` pins each process's math libraries to one
thread (OMP, MKL, MXNet's engine, TensorFlow), so N workers on N cores do not fight over them.
Workers end with the launching process whatever ends it (SIGTERM, a hang-up, a killed kernel): each
direct child gets a parent-death signal and its own process group, and every worker script (through
``workers/_common.py``) watches for the launcher and exits once it is gone, which also reaches the ranks
horovodrun starts as grandchildren. Worker scripts live in ``hpml_helpers/workers/``.
Used by notebooks 00, 07, 08 and 09.
"""
import json
import math
import os
import pathlib
import re
import socket
import sys

from . import backends, horovod_build
from .paths import REPO_ROOT, WORKERS_DIR
from .process_group import ProcessGroup, WorkerError, run_group
from .threads import thread_environment
from .validation import check_bool, check_integer, check_positive_int, is_real_number
from .workers._common import KVSTORE_MODES, LAUNCHER_PID_VARIABLE, RESULT_PREFIX, emit_result

__all__ = ["WorkerError", "emit_result", "free_port", "horovod_python", "run_horovod", "run_parameter_server",
           "run_tf_multiworker", "tf_config", "thread_environment", "worker_script", "ProcessGroup",
           "KVSTORE_MODES", "RESULT_PREFIX", "REPO_ROOT", "WORKERS_DIR"]
MAX_OVERSUBSCRIBE = 8  # processes per usable core at most, even with oversubscribe=True
HOROVOD_ENVS = {"mxnet": REPO_ROOT / ".venv", "tensorflow": REPO_ROOT / ".venv-tf-horovod"}
BIND_CORE = ("-m", "hpml_helpers.workers._bind_core")  # python -m ... SCRIPT: bound before any import


def worker_script(name):
    """Path of a worker script: a file path, or the name of one in hpml_helpers/workers/."""
    if not isinstance(name, (str, os.PathLike)) or not str(name).strip():
        raise TypeError(f"script name must be a worker name or a path to a .py file, got {name!r}")
    path = pathlib.Path(name)
    if path.suffix != ".py":
        path = WORKERS_DIR / f"{name}.py"
    if not path.is_file():
        known = sorted(p.stem for p in WORKERS_DIR.glob("*.py") if not p.stem.startswith("_"))
        raise ValueError(f"script name {name!r} not found; give a path or one of: {', '.join(known)}")
    return path


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _check_port(port, name="port"):
    check_integer(port, name, minimum=1024, maximum=65535)
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ValueError(f"{name} {port} on 127.0.0.1 is already in use; pass another or {name}=None") from None


def _check_count(value, name, oversubscribe=False):
    check_positive_int(value, name)
    check_bool(oversubscribe, "oversubscribe")
    cores = backends.usable_cpus()  # a container's CPU quota (Binder: 1) counts, not the host's cores
    if value > MAX_OVERSUBSCRIBE * cores:
        raise ValueError(f"{name}={value} is more than {MAX_OVERSUBSCRIBE} processes per CPU core "
                         f"({cores} usable here), even with oversubscribe=True; use {name}<={MAX_OVERSUBSCRIBE * cores}")
    if name != "num_servers" and value > cores and not oversubscribe:
        raise ValueError(f"{name}={value} is more than the {cores} CPU cores this machine gives us; each "
                         f"worker would fight for a core and the timings would mean nothing. Use {name}<={cores}, "
                         f"or oversubscribe=True if you want it anyway.")


def _worker_environment(extra=None, threads=None):
    """Environment for worker processes: unbuffered output, the kit importable, optional thread limits."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env[LAUNCHER_PID_VARIABLE] = str(os.getpid())  # workers/_common.py ends the worker once this pid is gone
    env.update({key: str(value) for key, value in {**thread_environment(threads), **(extra or {})}.items()})
    return env


def _validate_common(args, timeout, env_vars=None, threads=None, stream=True):
    if not isinstance(args, (list, tuple)) or not all(
            isinstance(arg, (str, os.PathLike)) or is_real_number(arg) for arg in args):
        raise TypeError(f"args must be a list of strings, numbers or paths, got {args!r}")
    if not is_real_number(timeout):
        raise TypeError(f"timeout must be a number of seconds, got {timeout!r} ({type(timeout).__name__})")
    if not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a finite positive number of seconds, got {timeout!r}")
    if env_vars is not None:
        if not isinstance(env_vars, dict):
            raise TypeError(f"env_vars must be a dict of variable names to values, got {env_vars!r}")
        for key, value in env_vars.items():
            if not isinstance(key, str) or not key or "=" in key or "\0" in key:
                raise TypeError(f"env_vars keys must be variable names (strings without '='), got {key!r}")
            if not (isinstance(value, (str, os.PathLike)) or is_real_number(value)) or "\0" in str(value):
                raise TypeError(f"env_vars[{key!r}] must be a string or a number, got {value!r}")
    thread_environment(threads)
    check_bool(stream, "stream")


def _check_hosts(hosts):
    """``hosts`` as horovodrun's -H list ("node1:4,node2:4"), each a host name and a slot count."""
    if not isinstance(hosts, str):
        raise TypeError(f"hosts must be a string like 'node1:2,node2:2', got {hosts!r}")
    for entry in hosts.split(","):
        name, _, slots = entry.strip().partition(":")
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name) or not (slots.isdigit() and int(slots) > 0):
            raise ValueError(f"hosts must be 'host:slots' entries separated by commas, got {hosts!r}")


def horovod_python(env="mxnet"):
    """The Python of the environment Horovod runs in: "mxnet" (.venv) or "tensorflow" (.venv-tf-horovod)."""
    if not isinstance(env, str) or env not in HOROVOD_ENVS:
        raise ValueError(f"env must be one of {', '.join(map(repr, HOROVOD_ENVS))}, got {env!r}")
    venv = HOROVOD_ENVS[env]
    python = venv / "bin" / "python"
    if env == "mxnet" and not python.exists():
        python = pathlib.Path(sys.executable)  # a kernel outside .venv: use its own interpreter
        venv = python.parent.parent
    framework = "MXNet" if env == "mxnet" else "TensorFlow"
    horovodrun = horovod_build.horovodrun_path(str(venv))
    # The compiled extension is the quick sign of a build (``--check-build`` takes seconds).
    if not python.exists() or not os.path.exists(horovodrun) or \
            not horovod_build.frameworks_with_extension(horovodrun, [framework]):
        how = ("Run `make lab` or `make test` from the repository root: they build it"
               + (" (or `bash scripts/setup.sh`: about 5 minutes, from requirements-tf-horovod.txt; TensorFlow 2.15 "
                  "with Keras 2, because Horovod 0.28.1 does not build against the kernel's TensorFlow 2.21)"
                  if env == "tensorflow" else "") + ".")
        raise RuntimeError(f"Horovod for {framework} is not installed in {venv}. {how}")
    return python


def run_horovod(script, num_proc=2, args=(), env="mxnet", timeout=300, hosts=None, controller="gloo",
                env_vars=None, stream=True, oversubscribe=False, threads_per_worker=None, bind_cores=False):
    """Run a worker script on ``num_proc`` Horovod ranks; return the workers' results sorted by rank.

    ``env="tensorflow"`` runs the ranks in .venv-tf-horovod (Horovod for TensorFlow 2.15 + Keras 2) instead
    of the kernel's environment (Horovod for MXNet).
    ``bind_cores=True`` binds each rank to one core (core = local rank; ``workers/_bind_core.py`` says why),
    like ``mpirun --bind-to core``; ``env_vars={"HPML_CORE_OFFSET": k}`` starts the count at core k.
    """
    path = worker_script(script)
    check_bool(bind_cores, "bind_cores")
    check_bool(oversubscribe, "oversubscribe")
    if hosts is not None:
        _check_hosts(hosts)
    _check_count(num_proc, "num_proc", oversubscribe or hosts is not None)
    _validate_common(args, timeout, env_vars, threads_per_worker, stream)
    if not isinstance(controller, str) or controller not in ("gloo", "mpi"):
        raise ValueError(f"controller must be 'gloo' or 'mpi', got {controller!r}")
    python = horovod_python(env)
    command = [str(python.parent / "horovodrun"), "-np", str(num_proc), "-H", hosts or f"localhost:{num_proc}",
               f"--{controller}", str(python), *BIND_CORE * bind_cores, str(path), *map(str, args)]
    for attempt in (1, 2):
        group = ProcessGroup(stream=stream)
        group.start("horovodrun", command, _worker_environment(env_vars, threads_per_worker))
        try:
            run_group(group, ["horovodrun"], timeout, split_ranks=True)
            break
        except WorkerError as error:
            if attempt == 2 or not crashed_before_any_result(error, group.results):
                raise
            # MXNet + Horovod ranks now and then die of a segmentation fault while starting (e.g. horovod#1533,
            # horovod#2299); nothing was measured yet, so the run is started once more, and says so.
            print(f"[run_horovod] {error.label} died of a segmentation fault before any rank reported a result; "
                  "starting the run once more", flush=True)
    results = [item for label, items in group.results.items() for item in items]
    missing = num_proc - len(results)
    if missing:
        raise WorkerError(f"{missing} of {num_proc} ranks printed no result line (emit_result)", "horovodrun",
                          group.tails["horovodrun"])
    return sorted(results, key=lambda item: item.get("rank", 0))


def crashed_before_any_result(error, results):
    """True when ``error`` (a WorkerError) is a segmentation fault and no worker had printed a result yet."""
    crashed = any("Segmentation fault" in str(line) for line in error.last_lines) or "SIGSEGV" in str(error)
    return crashed and not any(results.values())


def run_parameter_server(script, num_workers=2, num_servers=1, mode="dist_sync", args=(), timeout=300,
                         port=None, env_vars=None, stream=True, oversubscribe=False, threads_per_worker=None):
    """Run MXNet's parameter server on 127.0.0.1; return the workers' results sorted by kvstore rank."""
    path = worker_script(script)
    _check_count(num_workers, "num_workers", oversubscribe)
    _check_count(num_servers, "num_servers")
    _validate_common(args, timeout, env_vars, threads_per_worker, stream)
    if not isinstance(mode, str) or mode not in KVSTORE_MODES:
        raise ValueError(f"mode must be one of {', '.join(KVSTORE_MODES)}, got {mode!r}")
    if port is None:
        port = free_port()
    _check_port(port)
    cluster = {"DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": port, "DMLC_NUM_SERVER": num_servers,
               "DMLC_NUM_WORKER": num_workers, "HPML_KVSTORE": mode, **(env_vars or {})}
    # Scheduler and servers run MXNet's built-in server loop, which starts on `import mxnet`.
    serve = [sys.executable, "-c", "import hpml_helpers, mxnet"]
    group = ProcessGroup(stream=stream)
    try:
        group.start("scheduler", serve, _worker_environment({**cluster, "DMLC_ROLE": "scheduler"}))
        for index in range(num_servers):
            group.start(f"server {index}", serve,
                        _worker_environment({**cluster, "DMLC_ROLE": "server"}, threads_per_worker))
        workers = []
        for index in range(num_workers):
            workers.append(f"worker {index}")
            group.start(workers[-1], [sys.executable, str(path), *map(str, args)],
                        _worker_environment({**cluster, "DMLC_ROLE": "worker"}, threads_per_worker))
    except BaseException:
        group.kill_all()
        raise
    run_group(group, workers, timeout)
    return _worker_results(group, workers)


def _worker_results(group, workers):
    """The workers' result lines sorted by rank; a WorkerError names the first worker that printed none."""
    results = [item for label in workers for item in group.results[label]]
    if len(results) < len(workers):
        silent = next(label for label in workers if not group.results[label])
        raise WorkerError(f"{len(workers) - len(results)} of {len(workers)} workers printed no result line "
                          "(emit_result)", silent, group.tails[silent])
    return sorted(results, key=lambda item: item.get("rank", 0))


def _free_ports(count):
    """``count`` different ports on 127.0.0.1, free right now (held open together so none repeats)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def tf_config(ports, index):
    """The TF_CONFIG of worker ``index`` in a cluster of workers on 127.0.0.1 at ``ports``."""
    if not isinstance(ports, (list, tuple)) or not ports:
        raise TypeError(f"ports must be a non-empty list of port numbers, got {ports!r}")
    for port in ports:
        check_integer(port, "ports", minimum=1, maximum=65535)
    check_integer(index, "index", minimum=0, maximum=len(ports) - 1)
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


def run_tf_multiworker(script, num_workers=2, args=(), timeout=300, ports=None, env_vars=None, stream=True,
                       oversubscribe=False, threads_per_worker=None, bind_cores=False):
    """Run a TensorFlow multi-worker script on 127.0.0.1; return the workers' results sorted by index.

    ``bind_cores=True`` binds worker i to core i (``workers/_bind_core.py``), as ``run_horovod`` does.
    """
    path = worker_script(script)
    check_bool(bind_cores, "bind_cores")
    _check_count(num_workers, "num_workers", oversubscribe)
    _validate_common(args, timeout, env_vars, threads_per_worker, stream)
    if ports is None:
        ports = _free_ports(num_workers)
    else:
        if not isinstance(ports, (list, tuple)):
            raise TypeError(f"ports must be a list of {num_workers} port numbers, got {ports!r}")
        ports = list(ports)
        for port in ports:
            _check_port(port, "ports")
        if len(ports) != num_workers or len(set(ports)) != num_workers:
            raise ValueError(f"ports must be {num_workers} different ports (one per worker), got {ports!r}")
    group = ProcessGroup(stream=stream)
    workers = [f"worker {index}" for index in range(num_workers)]
    try:
        for index, label in enumerate(workers):
            # Quiet C++ logs unless asked; TF_CONFIG tells MultiWorkerMirroredStrategy who is who.
            extra = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"), **(env_vars or {}),
                     "TF_CONFIG": tf_config(ports, index), "HPML_LOCAL_RANK": index}
            group.start(label, [sys.executable, *BIND_CORE * bind_cores, str(path), *map(str, args)],
                        _worker_environment(extra, threads_per_worker))
    except BaseException:
        group.kill_all()
        raise
    run_group(group, workers, timeout)
    return _worker_results(group, workers)
