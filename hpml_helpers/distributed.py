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
Worker scripts live in ``hpml_helpers/workers/``.
Used by notebooks 00, 07 and 09.
"""
import collections
import json
import os
import pathlib
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from . import backends

WORKERS_DIR = pathlib.Path(__file__).resolve().parent / "workers"
REPO_ROOT = WORKERS_DIR.parent.parent
RESULT_PREFIX = "HPML_RESULT "
KVSTORE_MODES = ("dist_sync", "dist_async")
HOROVOD_ENVS = {"mxnet": REPO_ROOT / ".venv", "tensorflow": REPO_ROOT / ".venv-tf-horovod"}
BIND_CORE = ("-m", "hpml_helpers.workers._bind_core")  # python -m ... SCRIPT: bound before any import
_HOROVOD_LINE = re.compile(r"^\[(\d+)\]<(stdout|stderr)>:(.*)$")


class WorkerError(RuntimeError):
    """A worker failed or timed out; ``label`` names it and ``last_lines`` holds its last output."""

    def __init__(self, message, label=None, last_lines=()):
        self.label = label
        self.last_lines = list(last_lines)
        tail = "\n".join(f"    {line}" for line in self.last_lines)
        super().__init__(f"{message}\n  last lines of {label}:\n{tail}" if label and tail else message)


def emit_result(result):
    """Called by a worker: print its result as one JSON line the launcher collects."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def worker_script(name):
    """Path of a worker script: a file path, or the name of one in hpml_helpers/workers/."""
    path = pathlib.Path(name)
    if path.suffix != ".py":
        path = WORKERS_DIR / f"{name}.py"
    if not path.exists():
        known = sorted(p.stem for p in WORKERS_DIR.glob("*.py") if not p.stem.startswith("_"))
        raise ValueError(f"script {name!r} not found; give a path or one of: {', '.join(known)}")
    return path


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _check_port(port):
    if not isinstance(port, int) or not 1024 <= port <= 65535:
        raise ValueError(f"port must be an integer in 1024..65535, got {port!r}")
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ValueError(f"port {port} on 127.0.0.1 is already in use; pass another or port=None") from None


def _check_count(value, name, oversubscribe=False):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    cores = backends.usable_cpus()  # a container's CPU quota (Binder: 1) counts, not the host's cores
    if name != "num_servers" and value > cores and not oversubscribe:
        raise ValueError(f"{name}={value} is more than the {cores} CPU cores this machine gives us; each "
                         f"worker would fight for a core and the timings would mean nothing. Use {name}<={cores}, "
                         f"or oversubscribe=True if you want it anyway.")


def thread_environment(threads):
    """Environment variables that limit one process's math libraries to ``threads`` threads (None: {})."""
    if threads is None:
        return {}
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads_per_worker must be a positive integer or None, got {threads!r}")
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS",
             "TF_NUM_INTRAOP_THREADS")
    # TensorFlow's collective ops hold an inter-op thread while they wait for the other workers: one
    # inter-op thread more than intra-op keeps one free for the compute they wait on.
    return {**{name: threads for name in names}, "TF_NUM_INTEROP_THREADS": threads + 1}


def _worker_environment(extra=None, threads=None):
    """Environment for worker processes: unbuffered output, the kit importable, optional thread limits."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update({key: str(value) for key, value in {**thread_environment(threads), **(extra or {})}.items()})
    return env


def _describe_status(code):
    """Say "status 1", or "status 137 (killed by SIGKILL)" for a process a signal ended."""
    number = -code if code < 0 else code - 128 if code > 128 else None
    try:
        return f"status {code} (killed by {signal.Signals(number).name})" if number else f"status {code}"
    except ValueError:
        return f"status {code}"


class ProcessGroup:
    """Processes started together, read line by line, and all ended together, children included."""

    def __init__(self, stream=True, tail_lines=15):
        self.stream = stream
        self.processes = {}
        self.lines = queue.Queue()
        self.tails = collections.defaultdict(lambda: collections.deque(maxlen=tail_lines))
        self.results = collections.defaultdict(list)
        self.open_streams = set()

    def start(self, label, command, env):
        """Start one process in its own session, its output merged and read by a thread."""
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, text=True, bufsize=1, start_new_session=True)
        self.processes[label] = process
        self.open_streams.add(label)
        threading.Thread(target=self._read, args=(label, process), daemon=True).start()
        return process

    def _read(self, label, process):
        for line in process.stdout:
            self.lines.put((label, line.rstrip("\n")))
        self.lines.put((label, None))

    def _handle(self, label, line, split_ranks):
        if split_ranks:  # horovodrun prefixes each worker line with "[rank]<stdout>:"
            match = _HOROVOD_LINE.match(line)
            if match:
                label, line = f"rank {match.group(1)}", match.group(3)
        self.tails[label].append(line)
        if line.startswith(RESULT_PREFIX):
            self.results[label].append(json.loads(line[len(RESULT_PREFIX):]))
        elif self.stream:
            print(f"[{label}] {line}", flush=True)

    def wait(self, required, timeout, split_ranks=False):
        """Stream output until every ``required`` process ended; raise WorkerError on failure or timeout."""
        deadline = time.monotonic() + timeout
        open_streams = self.open_streams
        while open_streams or any(self.processes[label].poll() is None for label in required):
            try:
                label, line = self.lines.get(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
            except queue.Empty:
                label = line = None
            if label is not None and line is None:
                open_streams.discard(label)
            elif label is not None:
                self._handle(label, line, split_ranks)
            for name, process in self.processes.items():
                code = process.poll()
                if code not in (None, 0):
                    self._drain(split_ranks)
                    failed, code = self._failed_label(name, code, split_ranks)
                    raise WorkerError(f"{failed} exited with {_describe_status(code)}", failed, self.tails[failed])
            if time.monotonic() > deadline:
                self._drain(split_ranks)
                slowest = next((n for n in required if self.processes[n].poll() is None), required[0])
                raise WorkerError(f"timed out after {timeout:.0f} s; ended all processes", slowest,
                                  self.tails[slowest])
            if not any(self.processes[n].poll() is None for n in required) and not (open_streams & set(required)):
                break
        self._drain(split_ranks)

    def _failed_label(self, name, code, split_ranks):
        """For horovodrun, name the rank that failed first (horovodrun reports it) rather than the launcher."""
        if split_ranks:
            report = "\n".join(self.tails[name])
            first = re.search(r"Process name: (\d+)\s+Exit code: (-?\d+)", report)
            if first:
                return f"rank {first.group(1)}", int(first.group(2))
            for label, tail in self.tails.items():
                if label.startswith("rank") and any("Error" in line or "Traceback" in line for line in tail):
                    return label, code
        return name, code

    def _drain(self, split_ranks):
        while True:
            try:
                label, line = self.lines.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                self._handle(label, line, split_ranks)

    def kill_all(self, grace=3.0):
        """SIGTERM every process and its descendants, then SIGKILL what is left after ``grace`` s."""
        import psutil

        victims = []
        for process in self.processes.values():
            try:
                root = psutil.Process(process.pid)
                victims += [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        for process in self.processes.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        for victim in victims:
            try:
                victim.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(victims, timeout=grace)
        for victim in alive:
            try:
                victim.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=grace)
        for process in self.processes.values():
            process.poll()


def _run(group, required, timeout, split_ranks=False, finish_grace=15.0):
    """Wait for ``required`` processes; end everything on failure, timeout or interrupt."""
    try:
        group.wait(required, timeout, split_ranks)
        others = [label for label in group.processes if label not in required]
        if others:  # scheduler and servers stop by themselves once the workers are done
            try:
                group.wait(others, finish_grace, split_ranks)
            except WorkerError:
                pass  # the workers finished; whatever still lingers is ended below
    finally:
        group.kill_all()


def _validate_common(args, timeout, env_vars=None, threads=None):
    if isinstance(args, str) or not all(isinstance(arg, (str, int, float, os.PathLike)) for arg in args):
        raise TypeError(f"args must be a list of strings, numbers or paths, got {args!r}")
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if env_vars is not None and not (isinstance(env_vars, dict) and all(isinstance(key, str) for key in env_vars)):
        raise TypeError(f"env_vars must be a dict of variable names to values, got {env_vars!r}")
    thread_environment(threads)


def horovod_python(env="mxnet"):
    """The Python of the environment Horovod runs in: "mxnet" (.venv) or "tensorflow" (.venv-tf-horovod)."""
    if env not in HOROVOD_ENVS:
        raise ValueError(f"env must be one of {', '.join(map(repr, HOROVOD_ENVS))}, got {env!r}")
    venv = HOROVOD_ENVS[env]
    python = venv / "bin" / "python"
    if env == "mxnet" and not python.exists():
        python = pathlib.Path(sys.executable)  # a kernel outside .venv: use its own interpreter
        venv = python.parent.parent
    framework = "MXNet" if env == "mxnet" else "TensorFlow"
    horovodrun = backends.horovodrun_path(str(venv))
    # The compiled extension is the quick sign of a build (``--check-build`` takes seconds).
    if not python.exists() or not os.path.exists(horovodrun) or \
            not backends.frameworks_with_extension(horovodrun, [framework]):
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
    if not isinstance(bind_cores, bool):
        raise TypeError(f"bind_cores must be True or False, got {bind_cores!r}")
    _check_count(num_proc, "num_proc", oversubscribe or hosts is not None)
    _validate_common(args, timeout, env_vars, threads_per_worker)
    if controller not in ("gloo", "mpi"):
        raise ValueError(f"controller must be 'gloo' or 'mpi', got {controller!r}")
    python = horovod_python(env)
    command = [str(python.parent / "horovodrun"), "-np", str(num_proc), "-H", hosts or f"localhost:{num_proc}",
               f"--{controller}", str(python), *BIND_CORE * bind_cores, str(path), *map(str, args)]
    group = ProcessGroup(stream=stream)
    group.start("horovodrun", command, _worker_environment(env_vars, threads_per_worker))
    _run(group, ["horovodrun"], timeout, split_ranks=True)
    results = [item for label, items in group.results.items() for item in items]
    missing = num_proc - len(results)
    if missing:
        raise WorkerError(f"{missing} of {num_proc} ranks printed no result line (emit_result)", "horovodrun",
                          group.tails["horovodrun"])
    return sorted(results, key=lambda item: item.get("rank", 0))


def run_parameter_server(script, num_workers=2, num_servers=1, mode="dist_sync", args=(), timeout=300,
                         port=None, env_vars=None, stream=True, oversubscribe=False, threads_per_worker=None):
    """Run MXNet's parameter server on 127.0.0.1; return the workers' results sorted by kvstore rank."""
    path = worker_script(script)
    _check_count(num_workers, "num_workers", oversubscribe)
    _check_count(num_servers, "num_servers")
    _validate_common(args, timeout, env_vars, threads_per_worker)
    if mode not in KVSTORE_MODES:
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
    _run(group, workers, timeout)
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
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


def run_tf_multiworker(script, num_workers=2, args=(), timeout=300, ports=None, env_vars=None, stream=True,
                       oversubscribe=False, threads_per_worker=None):
    """Run a TensorFlow multi-worker script on 127.0.0.1; return the workers' results sorted by index."""
    path = worker_script(script)
    _check_count(num_workers, "num_workers", oversubscribe)
    _validate_common(args, timeout, env_vars, threads_per_worker)
    if ports is None:
        ports = _free_ports(num_workers)
    else:
        ports = list(ports)
        if len(ports) != num_workers or len(set(ports)) != num_workers:
            raise ValueError(f"ports must be {num_workers} different ports (one per worker), got {ports!r}")
        for port in ports:
            _check_port(port)
    group = ProcessGroup(stream=stream)
    workers = [f"worker {index}" for index in range(num_workers)]
    try:
        for index, label in enumerate(workers):
            # Quiet C++ logs unless asked; TF_CONFIG tells MultiWorkerMirroredStrategy who is who.
            extra = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"), **(env_vars or {}),
                     "TF_CONFIG": tf_config(ports, index)}
            group.start(label, [sys.executable, str(path), *map(str, args)],
                        _worker_environment(extra, threads_per_worker))
    except BaseException:
        group.kill_all()
        raise
    _run(group, workers, timeout)
    return _worker_results(group, workers)
