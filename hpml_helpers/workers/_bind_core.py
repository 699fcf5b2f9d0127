"""Run a worker script with its process bound to one CPU core, as ``mpirun --bind-to core`` does.

    python -m hpml_helpers.workers._bind_core SCRIPT [ARGS ...]

Started by ``distributed.run_horovod(..., bind_cores=True)`` and ``run_tf_multiworker(..., bind_cores=True)``,
for every rank. The core is number
``(HPML_CORE_OFFSET + local rank) mod (cores this process may use)``; the local rank comes from Horovod
(HOROVOD_LOCAL_RANK), Open MPI (OMPI_COMM_WORLD_LOCAL_RANK) or
``run_tf_multiworker`` (HPML_LOCAL_RANK, the worker's index), else 0.

Why: with one math thread per rank, each rank still has helper threads (Horovod's background loop, Gloo's
transport, MXNet's engine). Unbound, the scheduler lets them run on the *other* rank's core, so every step
one rank is slowed, and in synchronous SGD the other waits for it. Bound, each rank's helpers share its
own core and the ranks stay in step: on 2 cores that lifts weak-scaling efficiency by several points.
The binding happens here, before the script imports any framework, because a thread inherits the
affinity of the thread that creates it and keeps it afterwards.
"""
import os
import runpy
import sys

RANK_VARIABLES = ("HOROVOD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "HPML_LOCAL_RANK")  # last: run_tf_multiworker


def local_rank(environ=os.environ):
    """This process's rank on its node, from Horovod's or Open MPI's environment (0 if neither is set)."""
    for name in RANK_VARIABLES:
        if environ.get(name, "").isdigit():
            return int(environ[name])
    return 0


def core_for(rank, cores, offset=0):
    """The core for local rank ``rank``: the ``(offset + rank) mod len(cores)``-th of the sorted cores."""
    cores = sorted(cores)
    if not cores:
        raise ValueError("cores must name at least one CPU core")
    return cores[(offset + rank) % len(cores)]


def bind(environ=os.environ):
    """Bind this process to its core; return the core, or None where the OS has no sched_setaffinity."""
    if not hasattr(os, "sched_setaffinity"):
        print("[bind] this OS cannot bind processes to cores; running unbound", file=sys.stderr, flush=True)
        return None
    offset = int(environ.get("HPML_CORE_OFFSET", "0"))
    core = core_for(local_rank(environ), os.sched_getaffinity(0), offset)
    os.sched_setaffinity(0, {core})
    return core


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.exit("usage: python -m hpml_helpers.workers._bind_core SCRIPT [ARGS ...]")
    bind()
    sys.argv = list(argv)  # the script sees its own name and arguments, as if started directly
    runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
