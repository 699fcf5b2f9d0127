"""MXNet parameter server round trip: each worker pushes (rank + 1) to a key and pulls the result back.

Started by ``hpml_helpers.distributed.run_parameter_server`` (which sets DMLC_ROLE, DMLC_PS_ROOT_URI,
DMLC_PS_ROOT_PORT, DMLC_NUM_SERVER, DMLC_NUM_WORKER and HPML_KVSTORE). In "dist_sync" mode the server
waits for every worker's push and applies their sum, so every worker pulls 1 + 2 + ... + N; in
"dist_async" it applies each push as it arrives, so a worker may pull a partial sum. The server's
update rule is SGD with learning rate -1 (weights += pushed value), which makes the sum visible.
"""
import os
import time

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim)
import mxnet as mx
from hpml_helpers.workers._common import emit_result

mode = os.environ.get("HPML_KVSTORE", "dist_sync")
kvstore = mx.kv.create(mode)  # HPML: connect to the scheduler; workers get their rank from it
kvstore.init("weights", mx.nd.zeros((4,)))  # HPML: the server holds the parameters
# HPML: the server runs the optimizer; async mode requires one (sync mode would just sum pushes)
kvstore.set_optimizer(mx.optimizer.SGD(learning_rate=-1.0, wd=0.0, rescale_grad=1.0))
start = time.perf_counter()
kvstore.push("weights", mx.nd.ones((4,)) * (kvstore.rank + 1))  # HPML: send this worker's "gradient"
pulled = mx.nd.zeros((4,))
kvstore.pull("weights", out=pulled)  # HPML: fetch the server's value back
values = pulled.asnumpy().tolist()
seconds = time.perf_counter() - start
workers = kvstore.num_workers
emit_result({"rank": kvstore.rank, "num_workers": workers, "mode": mode, "pulled": values,
             "expected_sync": [workers * (workers + 1) / 2] * 4, "seconds": seconds})
