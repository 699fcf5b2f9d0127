"""Training steps under a Horovod timeline, with the times the timeline cannot know: when backward began.

Run by notebook 08 and the tests through ``hpml_helpers.distributed.run_horovod`` (with
``env_vars={"HOROVOD_TIMELINE": path}``), or by hand:
    HOROVOD_TIMELINE=/tmp/timeline.json horovodrun -np 2 -H localhost:2 --gloo \
        python hpml_helpers/workers/horovod_overlap.py --model alexnet-small

Random images and labels, ``--num-warmup-steps`` ordinary data-parallel steps, then ``--num-steps``
traced steps. Each traced step starts after ``mx.nd.waitall()`` with a one-number allreduce named
``overlap_marker.<k>``: it lines the ranks up, and the clock reading taken just before it is enqueued lets
``overlap.clock_offset`` put the worker's clock (``time.monotonic``, the steady clock Horovod's timeline
also counts from). Horovod's response cache is turned off (``HOROVOD_CACHE_CAPACITY=0``, unless set):
with it, tensors seen before skip the negotiation whose marks say when each rank had a gradient ready on the timeline's axis. Then the forward pass, waited for (``loss.wait_to_read()``), the
clock read (backward starts), ``loss.backward()`` and ``trainer.step``: MXNet queues both at once, so the
gradients' allreduces (tensors ``grad.<i>``, i = parameter index) start as soon as each gradient is
written, while the backward pass is still computing the earlier layers' gradients. Nothing waits between
backward and the allreduces, so the overlap is the one Horovod gets in real training. Last,
``--num-steps`` forward + backward passes with no allreduce at all, waited for: the backward pass alone.

Result (one line per rank): rank, size, model, batch_size, parameters, gradient_bytes, tensor_bytes (per
parameter, in the order of the ``grad.<i>`` names), marks (list of {step, marker, forward, backward,
end}: monotonic seconds), backward_alone_seconds (list), step_seconds (list), clock ({time, monotonic}: ``time.time()`` and
``time.monotonic()`` read together, to check the alignment against the timeline's start time), timeline.
"""
import argparse
import os
import time

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim)
import horovod.mxnet as hvd
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from hpml_helpers import data, models
from hpml_helpers.workers._common import emit_result
import hpml_helpers.workers._common as common
from hpml_helpers.workers.horovod_synthetic_benchmark import resnet_small

MODEL_SHAPES = {"alexnet-small": (64, 64, 1), "resnet-small": (32, 32, 3), "lenet5": (28, 28, 1)}
GRADIENT_PREFIX, MARKER_PREFIX = "grad.", "overlap_marker."


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODEL_SHAPES), default="alexnet-small")
    parser.add_argument("--batch-size", type=common.positive_int, default=64, help="per worker")
    parser.add_argument("--num-warmup-steps", type=common.nonnegative_int, default=3)
    parser.add_argument("--num-steps", type=common.positive_int, default=3, help="traced steps")
    parser.add_argument("--num-classes", type=common.positive_int, default=10)
    parser.add_argument("--no-hybridize", action="store_true", help="run the network op by op (imperative)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--context", choices=("cpu", "gpu"), default="cpu",
                        help="gpu: rank r uses GPU number hvd.local_rank() of its node (a CUDA build of MXNet)")
    return parser.parse_args(argv)


def build_model(name, num_classes, context):
    """The network to time: the kit's small AlexNet, the small ResNet or LeNet-5, as a Gluon block."""
    if name == "alexnet-small":
        return models.alexnet("gluon", variant="small", num_classes=num_classes, dropout=0.0, context=context)
    if name == "resnet-small":
        return resnet_small(num_classes, context)
    return models.lenet5("gluon", num_classes=num_classes, context=context)


def main(argv=None):
    args = parse_arguments(argv)
    # Horovod's response cache skips the negotiation of tensors it has seen, and with it the marks of when
    # each rank had a tensor ready; with the cache off the timeline keeps them for every step.
    os.environ.setdefault("HOROVOD_CACHE_CAPACITY", "0")
    hvd.init()  # HPML: join the ranks horovodrun started
    rank, size = hvd.rank(), hvd.size()
    clock = {"time": time.time(), "monotonic": time.monotonic()}  # a second way to line up the clocks
    context = mx.gpu(hvd.local_rank()) if args.context == "gpu" else mx.cpu()
    mx.random.seed(args.seed)
    model = build_model(args.model, args.num_classes, context)
    params = model.collect_params()
    hvd.broadcast_parameters(params, root_rank=0)
    if not args.no_hybridize:
        model.hybridize(static_alloc=True, static_shape=True)
    trainer = hvd.DistributedTrainer(params, "sgd", {"learning_rate": 0.01}, prefix=GRADIENT_PREFIX)
    loss_function = gluon.loss.SoftmaxCrossEntropyLoss()
    images, labels = data.synthetic(args.batch_size, MODEL_SHAPES[args.model], args.num_classes, "NCHW",
                                    seed=args.seed + rank)
    images, labels = mx.nd.array(images, ctx=context), mx.nd.array(labels, ctx=context, dtype="float32")

    for _ in range(args.num_warmup_steps):  # graph building, allocation, Gloo connections
        with autograd.record():
            loss = loss_function(model(images), labels)
        loss.backward()
        trainer.step(args.batch_size)
    mx.nd.waitall()
    marks, step_seconds = [], []
    for step in range(args.num_steps):
        mx.nd.waitall()
        marker = time.monotonic()  # HPML: enqueued right after: puts this clock on the timeline's axis
        hvd.allreduce(mx.nd.zeros(1, ctx=context), name=f"{MARKER_PREFIX}{step}").wait_to_read()
        forward = time.monotonic()
        with autograd.record():
            loss = loss_function(model(images), labels)
        loss.wait_to_read()  # the forward pass is done: what follows is backward and allreduce
        backward = time.monotonic()
        loss.backward()
        trainer.step(args.batch_size)  # HPML: allreduces queued now; each starts once its gradient is written
        mx.nd.waitall()
        end = time.monotonic()
        marks.append({"step": step, "marker": marker, "forward": forward, "backward": backward, "end": end})
        step_seconds.append(end - forward)
    backward_alone = []
    for _ in range(args.num_steps):  # the backward pass with no communication at all
        with autograd.record():
            loss = loss_function(model(images), labels)
        loss.wait_to_read()
        start = time.monotonic()
        loss.backward()
        mx.nd.waitall()
        backward_alone.append(time.monotonic() - start)
    hvd.allreduce(mx.nd.zeros(1, ctx=context), name="overlap_done").wait_to_read()  # both ranks are done
    tensor_bytes = [int(np.prod(p.shape)) * 4 for p in params.values() if p.grad_req != "null"]
    if rank == 0:
        print(f"{args.model}: {len(tensor_bytes)} gradient tensors, {sum(tensor_bytes) / 1e6:.2f} MB; step "
              f"{np.median(step_seconds) * 1e3:.1f} ms, backward alone {np.median(backward_alone) * 1e3:.1f} ms",
              flush=True)
    emit_result({"rank": rank, "size": size, "model": args.model, "batch_size": args.batch_size,
                 "parameters": sum(tensor_bytes) // 4, "gradient_bytes": sum(tensor_bytes),
                 "tensor_bytes": tensor_bytes, "marks": marks, "backward_alone_seconds": backward_alone,
                 "step_seconds": step_seconds, "clock": clock, "timeline": os.environ.get("HOROVOD_TIMELINE")})


if __name__ == "__main__":
    main()
