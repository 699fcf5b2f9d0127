"""Worker processes started together, read line by line, and ended together, children included.

``ProcessGroup`` streams each process's output prefixed by its label, collects the result lines the
workers print (``workers/_common.py``'s protocol), and ``run_group`` waits with a timeout and ends every
process on failure, timeout or interrupt. Children get a parent-death signal and their own session.
Used by the launchers of ``distributed`` (notebooks 00, 07, 08 and 09).
"""
import collections
import ctypes
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

from .workers._common import parse_result_line

_HOROVOD_LINE = re.compile(r"^\[(\d+)\]<(stdout|stderr)>:(.*)$")


class WorkerError(RuntimeError):
    """A worker failed or timed out; ``label`` names it and ``last_lines`` holds its last output."""

    def __init__(self, message, label=None, last_lines=()):
        self.label = label
        self.last_lines = list(last_lines)
        tail = "\n".join(f"    {line}" for line in self.last_lines)
        super().__init__(f"{message}\n  last lines of {label}:\n{tail}" if label and tail else message)


def _describe_status(code):
    """Say "status 1", or "status 137 (killed by SIGKILL)" for a process a signal ended."""
    number = -code if code < 0 else code - 128 if code > 128 else None
    try:
        return f"status {code} (killed by {signal.Signals(number).name})" if number else f"status {code}"
    except ValueError:
        return f"status {code}"


def _end_with_parent():
    """In a child before exec: SIGTERM it when the launcher dies (Linux's PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the workers' own watchdog (workers/_common.py) still ends them


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
                                   stdin=subprocess.DEVNULL, text=True, bufsize=1, start_new_session=True,
                                   preexec_fn=_end_with_parent if sys.platform.startswith("linux") else None)
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
        try:
            result = parse_result_line(line)
        except ValueError as error:
            raise WorkerError(f"{label} printed a {error}", label, self.tails[label]) from None
        if result is not None:
            self.results[label].append(result)
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
                # horovodrun's own tail holds little: show the ranks' last lines too
                ranks = "".join(f"\n  last lines of {label}:\n" + "\n".join(f"    {line}" for line in tail)
                                for label, tail in self.tails.items() if label != slowest and tail)
                raise WorkerError(f"timed out after {timeout:g} s; ended all processes{ranks}", slowest,
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


def run_group(group, required, timeout, split_ranks=False, finish_grace=15.0):
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


