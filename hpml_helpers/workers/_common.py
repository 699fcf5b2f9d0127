"""What the worker scripts share: argument types, the global-batch sharding rule, parameter checksums.

Not a worker itself (the leading underscore keeps it out of ``distributed.worker_script``'s list).
"""
import argparse
import hashlib

import numpy as np


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

