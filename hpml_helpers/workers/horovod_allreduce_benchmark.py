"""Allreduce time over buffer sizes, and tensor fusion (many small tensors), with Horovod over Gloo.

Run by ``bench/bench_distributed.py``, notebook 08 and the tests through
``hpml_helpers.distributed.run_horovod``, or by hand:
    horovodrun -np 2 -H localhost:2 --gloo python hpml_helpers/workers/horovod_allreduce_benchmark.py --quick
    HOROVOD_FUSION_THRESHOLD=0 horovodrun -np 2 ... --gloo python .../horovod_allreduce_benchmark.py --quick

1. Sizes: one float32 buffer of 64 B, 256 B, ..., 64 MB (powers of 4; ``--quick``: powers of 16 up to
   4 MB and fewer repeats) is allreduced ``--repeats`` times (fewer for the largest buffers); each
   repeat starts after a barrier-like tiny allreduce so the ranks start together, and is timed until
   the result is ready (``wait_to_read``: MXNet and Horovod both run asynchronously). Small buffers
   are latency-bound, large ones bandwidth-bound: fit T = 2(p-1) alpha + 2(p-1)/p N/B to the medians
   (``hpml_helpers.allreduce_model.fit_alpha_beta``).
2. Fusion: ``--fusion-tensors`` tensors of ``--fusion-bytes`` each are all enqueued with the
   asynchronous ``hvd.allreduce_`` and then waited for. Horovod's background thread packs what is
   ready in one cycle into one fusion buffer (HOROVOD_FUSION_THRESHOLD, default 64 MB) and allreduces
   it once; with HOROVOD_FUSION_THRESHOLD=0 every tensor pays the latency on its own.
Set HOROVOD_TIMELINE=/path/timeline.json (the launcher passes ``env_vars``) and Horovod writes its
timeline (open it in chrome://tracing or https://ui.perfetto.dev): NEGOTIATE, then MEMCPY_IN_FUSION_BUFFER
and one ALLREDUCE for a fused group.

Result (one line per rank): rank, size, sizes (bytes), median_seconds and all seconds per size,
fusion: tensors, bytes_each, median_seconds, threshold (the HOROVOD_FUSION_THRESHOLD in effect), timeline.
"""
import argparse
import os
import time

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim)
import horovod.mxnet as hvd
import mxnet as mx
import numpy as np

from hpml_helpers.workers._common import emit_result
import hpml_helpers.workers._common as common

FULL_SIZES = [64 * 4 ** k for k in range(11)]  # 64 B ... 64 MB
QUICK_SIZES = [64 * 16 ** k for k in range(5)]  # 64 B, 1 KB, 16 KB, 256 KB, 4 MB


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes (up to 4 MB) and repeats")
    parser.add_argument("--repeats", type=common.positive_int, default=None,
                        help="timed allreduces per size (default 20, or 5 with --quick)")
    parser.add_argument("--max-bytes", type=common.positive_int, default=None,
                        help="leave out buffers larger than this")
    parser.add_argument("--fusion-tensors", type=common.nonnegative_int, default=64,
                        help="small tensors in the fusion experiment (0: skip it)")
    parser.add_argument("--fusion-bytes", type=common.positive_int, default=4096)
    return parser.parse_args(argv)


def repeats_for(num_bytes, repeats):
    """Fewer repeats for the big buffers, so 64 MB does not dominate the run time (>= 3 for a median)."""
    return max(3, min(repeats, int(repeats * 2 ** 20 / num_bytes))) if num_bytes > 2 ** 20 else repeats


def synchronize():
    """A 4-byte allreduce: every rank leaves it at about the same time (a barrier for timing)."""
    hvd.allreduce(mx.nd.zeros((1,)), name="barrier").wait_to_read()


def time_sizes(sizes, repeats):
    medians, seconds = [], []
    for num_bytes in sizes:
        buffer = mx.nd.ones((max(1, num_bytes // 4),), dtype="float32")
        hvd.allreduce(buffer, name=f"size.{num_bytes}").wait_to_read()  # untimed: first use allocates
        times = []
        for _ in range(repeats_for(num_bytes, repeats)):
            synchronize()
            start = time.perf_counter()
            hvd.allreduce(buffer, average=True, name=f"size.{num_bytes}").wait_to_read()  # HPML: one allreduce
            times.append(time.perf_counter() - start)
        seconds.append(times)
        medians.append(float(np.median(times)))
        if hvd.rank() == 0:
            print(f"{num_bytes:>10,d} B  median {medians[-1] * 1e6:10.1f} us", flush=True)
    return medians, seconds


def time_fusion(num_tensors, num_bytes, repeats):
    tensors = [mx.nd.ones((num_bytes // 4,), dtype="float32") for _ in range(num_tensors)]
    times = []
    for repeat in range(repeats + 1):
        synchronize()
        start = time.perf_counter()
        for index, tensor in enumerate(tensors):
            hvd.allreduce_(tensor, average=True, name=f"fusion.{index}")  # HPML: enqueue; does not wait
        for tensor in tensors:
            tensor.wait_to_read()  # HPML: now wait for all of them
        if repeat:  # the first round is untimed (allocation, negotiation caches)
            times.append(time.perf_counter() - start)
    return float(np.median(times)), times


def main(argv=None):
    args = parse_arguments(argv)
    hvd.init()  # HPML: join the ranks horovodrun started
    repeats = args.repeats or (5 if args.quick else 20)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    if args.max_bytes:
        sizes = [size for size in sizes if size <= args.max_bytes] or sizes[:1]
    medians, seconds = time_sizes(sizes, repeats)
    fusion = None
    if args.fusion_tensors:
        fusion_median, fusion_times = time_fusion(args.fusion_tensors, args.fusion_bytes, repeats)
        threshold = os.environ.get("HOROVOD_FUSION_THRESHOLD", "default (64 MB)")
        fusion = {"tensors": args.fusion_tensors, "bytes_each": args.fusion_bytes, "threshold": threshold,
                  "median_seconds": fusion_median, "seconds": fusion_times}
        if hvd.rank() == 0:
            print(f"fusion: {args.fusion_tensors} x {args.fusion_bytes:,d} B, threshold {threshold}: "
                  f"median {fusion_median * 1e3:.2f} ms", flush=True)
    emit_result({"rank": hvd.rank(), "size": hvd.size(), "sizes": sizes, "median_seconds": medians,
                 "seconds": seconds, "fusion": fusion, "timeline": os.environ.get("HOROVOD_TIMELINE"),
                 "cycle_time_ms": os.environ.get("HOROVOD_CYCLE_TIME")})


if __name__ == "__main__":
    main()
