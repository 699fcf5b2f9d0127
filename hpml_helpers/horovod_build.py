"""Horovod's build in an environment: which frameworks and controllers ``horovodrun --check-build`` lists,
and whether their compiled extensions are really there; the answer is kept beside the environment,
fingerprinted by those compiled files, so a notebook's setup cell does not wait 5-15 s for it.

Used by ``backends.report`` (every notebook's setup cell), ``distributed.run_horovod``,
scripts/check_horovod.py (set-up) and notebook 08-allreduce-and-horovod.
"""
import os
import subprocess
import sys


def horovodrun_path(venv=None):
    """Path of ``horovodrun`` in the given virtual environment (default: this interpreter's)."""
    bin_dir = os.path.join(venv, "bin") if venv else os.path.dirname(sys.executable)
    return os.path.join(bin_dir, "horovodrun")


def parse_check_build(text):
    """Parse ``horovodrun --check-build`` output into {section: [enabled names]}."""
    sections, current = {}, None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Horovod v"):
            sections["version"] = stripped.split()[1].lstrip("v").rstrip(":")
        elif stripped.endswith(":") and not stripped.startswith("["):
            current = stripped[:-1].replace("Available ", "").lower().replace(" ", "_")
            sections[current] = []
        elif stripped.startswith("[X]") and current:
            sections[current].append(stripped[3:].strip())
    return sections


_EXTENSION_DIRS = {"TensorFlow": "tensorflow", "PyTorch": "torch", "MXNet": "mxnet"}


def frameworks_with_extension(horovodrun, listed):
    """Keep the frameworks whose compiled Horovod extension exists.

    ``--check-build`` only tries to import ``horovod.<framework>``; ``horovod.torch`` imports even
    when Horovod was built without PyTorch, so it would list PyTorch wrongly. The compiled
    ``mpi_lib*.so`` beside the package is the real sign of a framework build.
    """
    import glob

    venv = os.path.dirname(os.path.dirname(horovodrun))
    built = []
    for name in listed:
        pattern = os.path.join(venv, "lib", "python3*", "site-packages", "horovod",
                               _EXTENSION_DIRS.get(name, name.lower()), "mpi_lib*.so")
        if glob.glob(pattern):
            built.append(name)
    return built


# `horovodrun --check-build` imports every framework to see which Horovod supports: 5-15 s, in every
# notebook's setup cell. Its answer only changes when Horovod is rebuilt or packages are added or
# removed, so it is kept beside the environment with a fingerprint of exactly those files.
_CHECK_BUILD_CACHE = ".hpml-horovod-check-build.json"


def _build_fingerprint(horovodrun):
    import glob

    venv = os.path.dirname(os.path.dirname(horovodrun))
    site = glob.glob(os.path.join(venv, "lib", "python3*", "site-packages"))
    files = [horovodrun, *site, *sorted(glob.glob(os.path.join(venv, "lib", "python3*", "site-packages", "horovod",
                                                          "**", "*.so"), recursive=True))]
    fingerprint = []
    for name in files:
        status = os.stat(name)
        fingerprint.append([name, status.st_mtime_ns, status.st_size])
    return fingerprint


def _cached_check_build(horovodrun):
    """The stored ``--check-build`` output when nothing it depends on changed since; else None."""
    import json

    cache = os.path.join(os.path.dirname(os.path.dirname(horovodrun)), _CHECK_BUILD_CACHE)
    try:
        with open(cache) as handle:
            stored = json.load(handle)
        return stored["stdout"] if stored["fingerprint"] == _build_fingerprint(horovodrun) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _cache_check_build(horovodrun, stdout):
    import json

    cache = os.path.join(os.path.dirname(os.path.dirname(horovodrun)), _CHECK_BUILD_CACHE)
    try:
        with open(cache, "w") as handle:
            json.dump({"fingerprint": _build_fingerprint(horovodrun), "stdout": stdout}, handle)
    except OSError:  # a read-only environment: just ask again next time
        pass


def horovod_info(venv=None):
    """Horovod's build as ``horovodrun --check-build`` reports it: frameworks, controllers, tensor ops."""
    path = horovodrun_path(venv)
    if not os.path.exists(path):
        return {"installed": False, "error": f"{path} not found (run `make lab` or `make test` to build it)"}
    stdout = _cached_check_build(path)
    if stdout is None:
        try:
            out = subprocess.run([path, "--check-build"], capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            return {"installed": False, "error": "horovodrun --check-build did not answer within 120 s"}
        if out.returncode != 0:
            return {"installed": False, "error": (out.stderr or out.stdout).strip()[-500:]}
        stdout = out.stdout
        _cache_check_build(path, stdout)
    parsed = parse_check_build(stdout)
    return {
        "installed": True,
        "version": parsed.get("version"),
        "frameworks": frameworks_with_extension(path, parsed.get("frameworks", [])),
        "controllers": parsed.get("controllers", []),
        "tensor_operations": parsed.get("tensor_operations", []),
    }
