"""Workers end with the process that launched them, whatever ends it: SIGTERM, or SIGKILL (a killed
kernel). A launching Python process starts long-running workers; once they report their pids it is
signalled, and no worker (Horovod's ranks are its grandchildren) may be left 10 s later."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from conftest import REPO_ROOT

SLEEPER = """
import os, time
import hpml_helpers.workers._common  # noqa: F401  (the watchdog that ends it with the launcher)
print("WORKER_PID", os.getpid(), flush=True)
time.sleep(600)
"""
LAUNCHERS = {
    "horovod": "distributed.run_horovod(script, num_proc=2, timeout=300, oversubscribe=True)",
    "parameter_server": "distributed.run_parameter_server(script, num_workers=2, timeout=300, oversubscribe=True)",
}


def start_launcher(tmp_path, launcher):
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from hpml_helpers import distributed
        script = {str(script)!r}
        {LAUNCHERS[launcher]}
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=REPO_ROOT)


def wait_for_workers(launcher, count, timeout=40):
    """The pids the workers printed, and every process below the launcher then."""
    pids, deadline = set(), time.monotonic() + timeout
    lines = []
    while len(pids) < count and time.monotonic() < deadline:
        line = launcher.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "WORKER_PID" in line:
            pids.add(int(line.split("WORKER_PID")[1].split()[0]))
    assert len(pids) == count, "workers did not start:\n" + "".join(lines[-30:])
    descendants = {child.pid for child in psutil.Process(launcher.pid).children(recursive=True)}
    return pids, descendants


def alive(pids):
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            pass
    return left


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_workers_end_when_the_launcher_is_signalled(tmp_path, launcher, how):
    process = start_launcher(tmp_path, launcher)
    try:
        workers, descendants = wait_for_workers(process, 2)
        assert workers <= descendants and alive(workers)
        os.kill(process.pid, how)
        process.wait(timeout=20)
        deadline = time.monotonic() + 10
        while alive(workers | descendants) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(workers | descendants), f"left running after {how.name}: {alive(workers | descendants)}"
    finally:
        for pid in alive({process.pid}):
            os.kill(pid, signal.SIGKILL)
        process.stdout.close()
