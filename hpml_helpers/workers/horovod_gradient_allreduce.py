"""Allreduce one real network's list of gradient tensors with Horovod over Gloo, as one training step would.

Run by notebook 08 through ``hpml_helpers.gradient_sizes.measure_list_allreduce`` (which calls
``hpml_helpers.distributed.run_horovod``) and by the tests, or by hand:
    horovodrun -np 2 -H localhost:2 --gloo python hpml_helpers/workers/horovod_gradient_allreduce.py \
        --sizes 600,24,9600,64
    HOROVOD_FUSION_THRESHOLD=0 horovodrun -np 2 ... --sizes-file resnet50.json

The list holds one size in bytes per float32 tensor (``--sizes`` comma-separated, or ``--sizes-file``, a
JSON list that ``gradient_sizes.write_sizes`` writes), in the order the gradients become ready (backprop:
the last layer first). One repeat is one full step's communication: after a barrier-like tiny allreduce
every tensor is enqueued with the asynchronous ``hvd.allreduce_`` and then all are waited for
(``wait_to_read``), so Horovod's background thread fuses what is ready in one cycle into buffers of up to
HOROVOD_FUSION_THRESHOLD bytes (default 64 MB; 0: every tensor alone). The first ``--warmup`` repeats are
untimed (allocation, negotiation caches).

Result (one line per rank): rank, size, tensors, total_bytes, threshold (the HOROVOD_FUSION_THRESHOLD in
effect), median_seconds, seconds (every timed repeat).
"""
import argparse
import json
import os
import time

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim)
import horovod.mxnet as hvd
import mxnet as mx
import numpy as np

from hpml_helpers.workers._common import emit_result
import hpml_helpers.workers._common as common

MAX_TOTAL_BYTES = 2 ** 30  # a list larger than this (1 GB per rank) is a mistake on a workshop machine


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sizes", help="tensor sizes in bytes, comma-separated, e.g. 600,24,9600")
    source.add_argument("--sizes-file", help="a JSON list of tensor sizes in bytes")
    parser.add_argument("--repeats", type=common.positive_int, default=10, help="timed rounds of the whole list")
    parser.add_argument("--warmup", type=common.nonnegative_int, default=1, help="untimed rounds first")
    args = parser.parse_args(argv)
    args.sizes = read_sizes(parser, args.sizes, args.sizes_file)
    return args


def read_sizes(parser, text, path):
    """The list of sizes (positive whole bytes) from ``--sizes`` or ``--sizes-file``; parser.error if bad."""
    try:
        if path is not None:
            with open(path) as handle:
                sizes = json.load(handle)
        else:
            sizes = [int(item) for item in text.split(",")]
    except (OSError, ValueError) as error:
        parser.error(f"cannot read the tensor sizes: {error}")
    if not isinstance(sizes, list) or not sizes or not all(
            isinstance(size, int) and not isinstance(size, bool) and size > 0 for size in sizes):
        parser.error("the tensor sizes must be a non-empty list of positive whole numbers of bytes")
    if sum(sizes) > MAX_TOTAL_BYTES:
        parser.error(f"the tensors hold {sum(sizes):,d} bytes, more than {MAX_TOTAL_BYTES:,d}")
    return sizes


def synchronize():
    """A 4-byte allreduce: every rank leaves it at about the same time (a barrier for timing)."""
    hvd.allreduce(mx.nd.zeros((1,)), name="barrier").wait_to_read()


def time_list(sizes, repeats, warmup):
    """Seconds of each timed round: enqueue every tensor's allreduce, then wait for all of them."""
    tensors = [mx.nd.ones((max(1, size // 4),), dtype="float32") for size in sizes]
    times = []
    for round_index in range(warmup + repeats):
        synchronize()
        start = time.perf_counter()
        for index, tensor in enumerate(tensors):
            hvd.allreduce_(tensor, average=True, name=f"gradient.{index}")  # HPML: enqueue, as backprop does
        for tensor in tensors:
            tensor.wait_to_read()  # HPML: the step can go on once every gradient is averaged
        if round_index >= warmup:
            times.append(time.perf_counter() - start)
        if hvd.rank() == 0:
            print(f"round {round_index + 1}/{warmup + repeats}: {(time.perf_counter() - start) * 1e3:.1f} ms"
                  + ("" if round_index >= warmup else " (warm-up, untimed)"), flush=True)
    return times


def main(argv=None):
    args = parse_arguments(argv)
    hvd.init()  # HPML: join the ranks horovodrun started
    threshold = os.environ.get("HOROVOD_FUSION_THRESHOLD", "default (64 MB)")
    times = time_list(args.sizes, args.repeats, args.warmup)
    median = float(np.median(times))
    if hvd.rank() == 0:
        print(f"{len(args.sizes)} tensors, {sum(args.sizes):,d} B, threshold {threshold}: median "
              f"{median * 1e3:.2f} ms per full allreduce", flush=True)
    emit_result({"rank": hvd.rank(), "size": hvd.size(), "tensors": len(args.sizes), "total_bytes": sum(args.sizes),
                 "threshold": threshold, "median_seconds": median, "seconds": times})


if __name__ == "__main__":
    main()
