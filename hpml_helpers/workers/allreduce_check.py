"""Horovod over Gloo, smallest possible check: every rank contributes (rank + 1), allreduce sums them.

Run by notebook 00 and the tests through ``hpml_helpers.distributed.run_horovod``, or by hand:
    horovodrun -np 2 -H localhost:2 --gloo python hpml_helpers/workers/allreduce_check.py
Each rank prints one result line: its rank, the world size, the sum it received, the expected sum and the
CPU cores it may run on (one, when the launcher binds ranks to cores).
"""
import os
import socket
import time

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim)
import horovod.mxnet as hvd
import mxnet as mx
from hpml_helpers.workers._common import emit_result

hvd.init()  # HPML: join the ring of workers that horovodrun started
contribution = mx.nd.ones((4,)) * (hvd.rank() + 1)
start = time.perf_counter()
total = hvd.allreduce(contribution, average=False, name="check")  # HPML: sum over all ranks
values = total.asnumpy().tolist()
seconds = time.perf_counter() - start
size = hvd.size()
emit_result({"rank": hvd.rank(), "size": size, "host": socket.gethostname(), "sum": values,
             "expected": [size * (size + 1) / 2] * 4, "seconds": seconds,
             "cores_allowed": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None})
