"""How many threads a worker process's math libraries may start, as environment variables.

A process started with ``thread_environment(k)`` in its environment runs OpenMP, MKL, OpenBLAS, MXNet's
engine and TensorFlow's pools on ``k`` threads, so N workers on N cores do not fight over them.
The variables are read when a library loads, so they must be set before the process starts.
Used by ``distributed`` (``threads_per_worker=``) and by the measurements of notebook 06 that run in a
child process, and by ``backends`` (which must not import numpy: this module does not).
"""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def thread_environment(threads, name="threads_per_worker"):
    """Environment variables that limit one process's math libraries to ``threads`` threads (None: {})."""
    if threads is None:
        return {}
    from .validation import check_positive_int  # here: backends imports this module, and must not import numpy

    check_positive_int(threads, name)
    values = {variable: threads for variable in THREAD_VARIABLES}
    # TensorFlow's collective ops hold an inter-op thread while they wait for the other workers: one
    # inter-op thread more than intra-op keeps one free for the compute they wait on.
    values["TF_NUM_INTEROP_THREADS"] = threads + 1
    return values
