"""What the worker scripts share: the result protocol, the end-with-the-launcher rule, argument types,
the global-batch sharding rule and parameter checksums.

Result protocol: a worker prints its result once as ``HPML_RESULT {json}`` (``emit_result``); the
launchers in ``distributed`` read it back with ``parse_result_line``, so both sides use one definition.

Ending with the launcher: importing this module makes the worker end when the process that launched the
run (``HPML_LAUNCHER_PID``, set by ``distributed``) is gone, whatever ended it (SIGTERM, a hang-up, a
killed kernel). A Horovod rank is a grandchild of the launcher (horovodrun starts it through a shell),
so a parent-death signal alone would not reach it; a watchdog thread that looks for the launcher does.
Not a worker itself (the leading underscore keeps it out of ``distributed.worker_script``'s list).
Used by every script in ``hpml_helpers/workers/`` and by ``distributed``.
"""
import argparse
import hashlib
import json
import os
import signal
import threading
import time

import numpy as np

RESULT_PREFIX = "HPML_RESULT "
KVSTORE_MODES = ("dist_sync", "dist_async")
LAUNCHER_PID_VARIABLE = "HPML_LAUNCHER_PID"
WATCH_INTERVAL = 0.5


def emit_result(result):
    """Print this worker's result as one JSON line the launcher collects."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def parse_result_line(line):
    """The result a worker printed on ``line``, or None for an ordinary output line.

    Raises ValueError when the line carries the result prefix but no valid JSON after it.
    """
    if not line.startswith(RESULT_PREFIX):
        return None
    try:
        return json.loads(line[len(RESULT_PREFIX):])
    except json.JSONDecodeError as error:
        raise ValueError(f"malformed result line ({error.msg} at column {error.pos + 1}): {line[:200]!r}") from None


def process_alive(pid):
    """True while process ``pid`` runs (a zombie, ended but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal probe above is all we have


def _watch_launcher(pid):
    while True:
        time.sleep(WATCH_INTERVAL)
        if not process_alive(pid):
            os._exit(128 + signal.SIGTERM)  # the run is over: no clean-up is worth a hang at exit


def end_with_launcher(environ=os.environ):
    """Start the watchdog that ends this process when the launcher is gone; return whether it started."""
    text = environ.get(LAUNCHER_PID_VARIABLE, "")
    if not text.isdigit() or int(text) == os.getpid():
        return False
    threading.Thread(target=_watch_launcher, args=(int(text),), name="hpml-launcher-watch", daemon=True).start()
    return True


end_with_launcher()


def _number_type(convert, minimum, strict, description):
    """An argparse type: ``convert(text)``, finite, and above (``strict``) or at least ``minimum``."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}") from None
        if not np.isfinite(value) or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}")
        return value

    parse.__name__ = description.replace(" ", "_")
    return parse


positive_int = _number_type(int, 0, True, "a positive integer")
nonnegative_int = _number_type(int, 0, False, "an integer >= 0")
positive_float = _number_type(float, 0.0, True, "a positive number")
nonnegative_float = _number_type(float, 0.0, False, "a number >= 0")


def steps_per_epoch(num_examples, batch_size, num_workers, parser=None):
    """Whole global batches per epoch (the remainder is dropped so every worker takes the same steps)."""
    steps = num_examples // (batch_size * num_workers)
    if steps < 1:
        message = (f"--num-train {num_examples} is too small for --batch-size {batch_size} on {num_workers} "
                   f"worker(s): one step needs {batch_size * num_workers} examples")
        if parser is not None:
            parser.error(message)
        raise ValueError(message)
    return steps


def global_batches(num_examples, batch_size, rank, num_workers, seed, epoch):
    """This worker's index batches for one epoch under the global-batch sharding rule.

    Every worker draws the same permutation (seed + epoch). Step s's global batch is
    ``order[s*B:(s+1)*B]`` with B = batch_size * num_workers, and worker ``rank`` takes
    ``global_batch[rank::num_workers]``. So the union of the workers' batches at step s is exactly the
    batch one process with batch size B takes at step s, and worker ``rank`` sees the shard
    ``order[rank::num_workers]`` in consecutive chunks of ``batch_size``.
    """
    order = np.random.default_rng(seed + epoch).permutation(num_examples)
    global_size = batch_size * num_workers
    for step in range(steps_per_epoch(num_examples, batch_size, num_workers)):
        yield order[step * global_size:(step + 1) * global_size][rank::num_workers]


def checksum(arrays):
    """Sum of all values (float64) and a SHA-256 of their float32 bytes: equal digests mean equal weights."""
    digest = hashlib.sha256()
    total = 0.0
    for array in arrays:
        array = np.ascontiguousarray(array, dtype=np.float32)
        digest.update(array.tobytes())
        total += float(array.astype(np.float64).sum())
    return total, digest.hexdigest()


def gluon_arrays(model):
    """A Gluon model's parameters as numpy arrays, in a fixed (sorted-name) order."""
    params = model.collect_params()
    return [params[name].data().asnumpy() for name in sorted(params.keys())]

