"""Counting stale gradients on MXNet's parameter server: an extra counter key and the server-side rule for it.

The parameter server applies the pushes to one key one at a time, in the order they arrive. A worker
pulls its parameters, computes a gradient on them and pushes it; the STALENESS of that gradient is the
number of server updates applied between that pull and the application of the push. To count it exactly,
every worker also pushes and pulls one small extra key, ``COUNTER_KEY``, in every step, and the servers
run ``CountingSGD``: plain SGD for every parameter key, and for the counter key the rule
``apply_counter_push`` instead of a gradient step. The counter's value on the server, for N workers:

    value[0]       the number of updates the server has applied to the counter key so far (its version)
    value[1 + w]   the staleness of worker w's latest push, computed by the server when it applied it

Worker w pushes ``encode_push(rank=w, version=v)``: a vector with ``v + 1`` in slot ``1 + w`` (zero
elsewhere), where v is the ``value[0]`` it pulled with its current parameters. The server computes the
staleness as (its update count now) - v: exact, because it alone sees the order of the updates, and the
worker reads it back in its next pull (``decode_pull``). In dist_sync the servers sum the N workers'
pushes before one update: each worker's slot arrives intact and every staleness is 0 by construction.

What is exact and what is not. The count is exact for the counter key. Each parameter array is a key of
its own with its own queue on the server, so another worker's push may land between two keys of one
worker's pull: the parameters' staleness equals the counter's unless such an interleaving happened
(then it differs by one for those arrays). From the worker's side alone, without the server's help, only
a bound is observable: staleness of the push of step t <= version pulled after step t - version pulled
after step t-1 - 1 (``staleness_bound``), since the other workers' pushes between our push and our next
pull count in that difference too.

Not a worker itself (the leading underscore keeps it out of ``distributed.worker_script``'s list); the
servers import it when they unpickle the optimizer. Used by ``workers/ps_training.py`` and by the tests.
"""
import mxnet as mx
import numpy as np

COUNTER_KEY = 99_999  # far above the Trainer's keys (0 .. number of parameter arrays - 1)


def counter_size(num_workers):
    """Length of the counter key for ``num_workers`` workers: the update count and one slot per worker."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 1:
        raise ValueError(f"num_workers must be a positive integer, got {num_workers!r}")
    return 1 + int(num_workers)


def encode_push(rank, version, num_workers):
    """What worker ``rank`` pushes to the counter: ``version + 1`` in its slot, zero elsewhere (float32)."""
    size = counter_size(num_workers)
    for name, value, upper in (("rank", rank, num_workers - 1), ("version", version, 2 ** 24 - 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= upper:
            raise ValueError(f"{name} must be an integer in [0, {upper}], got {value!r}")
    push = np.zeros(size, dtype=np.float32)
    push[1 + int(rank)] = int(version) + 1  # + 1: a zero slot means "this worker did not push"
    return push


def apply_counter_push(value, push):
    """The server's rule for one (in dist_sync: summed) counter push; returns the new counter value.

    Every worker slot w with ``push[1 + w] = v + 1 > 0`` gets staleness ``value[0] - v`` (the updates
    applied since the version v that worker pulled), then the update count ``value[0]`` grows by one.
    """
    value = np.asarray(value, dtype=np.float64)
    push = np.asarray(push, dtype=np.float64)
    if value.ndim != 1 or value.shape != push.shape or value.size < 2:
        raise ValueError(f"counter value and push must be 1-D arrays of the same length >= 2, got shapes "
                         f"{value.shape} and {push.shape}")
    pushed = np.flatnonzero(push[1:] > 0)
    if pushed.size == 0:
        raise ValueError("a counter push must carry at least one worker's version (all slots are zero)")
    versions = np.rint(push[1 + pushed]) - 1
    if (versions > value[0]).any() or (versions < 0).any():
        raise ValueError(f"a pushed version ({versions.tolist()}) is newer than the server's update count "
                         f"({value[0]:.0f}) or negative: the push was not made from a pull of this counter")
    new = value.copy()
    new[1 + pushed] = value[0] - versions
    new[0] = value[0] + 1
    return new


def decode_pull(value, rank):
    """(version, staleness of worker ``rank``'s latest push) from a pulled counter value, as integers."""
    value = np.asarray(value, dtype=np.float64)
    if value.ndim != 1 or not 0 <= rank < value.size - 1:
        raise ValueError(f"rank {rank!r} has no slot in a counter of shape {value.shape}")
    return int(round(value[0])), int(round(value[1 + rank]))


def staleness_bound(versions, first_version=0):
    """Upper bound on each push's staleness seen from the worker alone: v_t - v_{t-1} - 1 (v_0 = first)."""
    versions = np.asarray(versions, dtype=np.int64)
    previous = np.concatenate([[first_version], versions[:-1]])
    return versions - previous - 1


class CountingSGD(mx.optimizer.SGD):
    """SGD for every parameter key; for ``COUNTER_KEY`` the counting rule ``apply_counter_push``."""

    def create_state_multi_precision(self, index, weight):
        """No optimizer state for the counter key; SGD's state (momentum) for the others."""
        if index == COUNTER_KEY:
            return None
        return super().create_state_multi_precision(index, weight)

    def update_multi_precision(self, index, weight, grad, state):
        """Apply one update; the server calls it with one key (or a list of keys when it aggregates)."""
        if isinstance(index, (list, tuple)):
            rest = [i for i, key in enumerate(index) if key != COUNTER_KEY]
            for i, key in enumerate(index):
                if key == COUNTER_KEY:
                    self._count(weight[i], grad[i])
            if rest:
                pick = (lambda items: type(items)(items[i] for i in rest))
                super().update_multi_precision(pick(index), pick(weight), pick(grad), pick(state))
        elif index == COUNTER_KEY:
            self._count(weight, grad)
        else:
            super().update_multi_precision(index, weight, grad, state)

    def update(self, index, weight, grad, state):
        """Same as ``update_multi_precision`` (float32 everywhere)."""
        self.update_multi_precision(index, weight, grad, state)

    @staticmethod
    def _count(weight, grad):
        """The counter update on the server: read, apply the rule, write back in place."""
        weight[:] = apply_counter_push(weight.asnumpy(), grad.asnumpy()).astype(np.float32)
