"""Training throughput on random data with Horovod and Gluon, in the style of Horovod's synthetic benchmarks.

Run by ``bench/bench_distributed.py``, notebook 08 and the tests through
``hpml_helpers.distributed.run_horovod``, or by hand:
    horovodrun -np 2 -H localhost:2 --gloo python hpml_helpers/workers/horovod_synthetic_benchmark.py

Random images and labels (the content does not matter for speed), a model (LeNet-5 on 28x28x1, or a
small ResNet on 32x32x3), ``--num-warmup-batches`` untimed steps, then ``--num-iters`` timed iterations
of ``--num-batches-per-iter`` steps each. Every step is a full data-parallel step: forward, backward,
gradient allreduce, update. Weak scaling: ``--batch-size`` is per worker, so N workers process N times
the images per step; efficiency = total images/s on N workers / (N x images/s on 1 worker).

Result (one line per rank): rank, size, model, batch_size, images_per_second (mean over iterations on
this rank), images_per_second_std, total_images_per_second (sum over ranks, by hvd.allreduce), rates (per
iteration), cores_used (CPU seconds of the process per wall second while timed).
"""
import argparse
import time

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim)
import horovod.mxnet as hvd
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn

from hpml_helpers import data, models
from hpml_helpers.workers._common import emit_result
import hpml_helpers.workers._common as common

MODEL_SHAPES = {"lenet5": (28, 28, 1), "resnet-small": (32, 32, 3)}


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODEL_SHAPES), default="lenet5")
    parser.add_argument("--batch-size", type=common.positive_int, default=64, help="per worker")
    parser.add_argument("--num-warmup-batches", type=common.nonnegative_int, default=10)
    parser.add_argument("--num-batches-per-iter", type=common.positive_int, default=10)
    parser.add_argument("--num-iters", type=common.positive_int, default=5)
    parser.add_argument("--num-classes", type=common.positive_int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--context", choices=("cpu", "gpu"), default="cpu",
                        help="gpu: rank r uses GPU number hvd.local_rank() of its node (a CUDA build of MXNet)")
    return parser.parse_args(argv)


class _ResidualBlock(nn.HybridBlock):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 strided) shortcut, as in ResNet."""

    def __init__(self, channels, strides, in_channels):
        super().__init__()
        with self.name_scope():
            self.body = nn.HybridSequential()
            self.body.add(nn.Conv2D(channels, 3, strides, 1, use_bias=False, in_channels=in_channels),
                          nn.BatchNorm(in_channels=channels), nn.Activation("relu"),
                          nn.Conv2D(channels, 3, 1, 1, use_bias=False, in_channels=channels),
                          nn.BatchNorm(in_channels=channels))
            self.shortcut = None
            if strides != 1 or in_channels != channels:
                self.shortcut = nn.Conv2D(channels, 1, strides, use_bias=False, in_channels=in_channels)

    def hybrid_forward(self, F, x):
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return F.relu(self.body(x) + shortcut)


def resnet_small(num_classes, context):
    """A ResNet-8-like network for 32x32x3 images: stem, three residual stages (16, 32, 64), pooling."""
    model = nn.HybridSequential()
    model.add(nn.Conv2D(16, 3, 1, 1, use_bias=False, in_channels=3), nn.BatchNorm(in_channels=16),
              nn.Activation("relu"))
    for channels, strides, in_channels in ((16, 1, 16), (32, 2, 16), (64, 2, 32)):
        model.add(_ResidualBlock(channels, strides, in_channels))
    model.add(nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(num_classes, in_units=64))
    model.initialize(mx.init.Xavier(), ctx=context)
    return model


def main(argv=None):
    args = parse_arguments(argv)
    hvd.init()  # HPML: join the ranks horovodrun started
    rank, size = hvd.rank(), hvd.size()
    context = mx.gpu(hvd.local_rank()) if args.context == "gpu" else mx.cpu()  # HPML: one GPU per rank
    mx.random.seed(args.seed)
    if args.model == "lenet5":
        model = models.lenet5("gluon", num_classes=args.num_classes, context=context)
    else:
        model = resnet_small(args.num_classes, context)
    params = model.collect_params()
    hvd.broadcast_parameters(params, root_rank=0)  # HPML: same start on every rank
    model.hybridize(static_alloc=True, static_shape=True)
    trainer = hvd.DistributedTrainer(params, "sgd", {"learning_rate": 0.01 * size})  # HPML: allreduce grads
    loss_function = gluon.loss.SoftmaxCrossEntropyLoss()
    images, labels = data.synthetic(args.batch_size, MODEL_SHAPES[args.model], args.num_classes, "NCHW",
                                    seed=args.seed + rank)
    images, labels = mx.nd.array(images, ctx=context), mx.nd.array(labels, ctx=context, dtype="float32")

    def benchmark_step():
        with autograd.record():
            loss = loss_function(model(images), labels)
        loss.backward()
        trainer.step(args.batch_size)  # HPML: gradients allreduced across ranks here

    for _ in range(args.num_warmup_batches):  # warmup: graph building, allocation, Gloo connections
        benchmark_step()
    mx.nd.waitall()
    rates = []
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    for iteration in range(args.num_iters):
        start = time.perf_counter()
        for _ in range(args.num_batches_per_iter):
            benchmark_step()
        mx.nd.waitall()  # MXNet runs asynchronously: wait for the work before reading the clock
        rates.append(args.batch_size * args.num_batches_per_iter / (time.perf_counter() - start))
        if rank == 0:  # HPML: only rank 0 logs
            print(f"iter #{iteration}: {rates[-1]:.1f} img/sec per worker", flush=True)
    # CPU seconds of all this process's threads per wall second: above 1 means helper threads (Horovod's
    # background loop, Gloo, MXNet's engine) compete with the compute thread for cores.
    cores_used = (time.process_time() - cpu_start) / (time.perf_counter() - wall_start)
    mean, std = float(np.mean(rates)), float(np.std(rates))
    total = hvd.allreduce(mx.nd.array([mean]), average=False, name="total_rate").asscalar()  # HPML: sum
    if rank == 0:
        print(f"Img/sec per worker: {mean:.1f} +-{1.96 * std:.1f}", flush=True)
        print(f"Total img/sec on {size} worker(s): {total:.1f} +-{1.96 * std * np.sqrt(size):.1f}", flush=True)
    emit_result({"rank": rank, "size": size, "model": args.model, "batch_size": args.batch_size,
                 "num_iters": args.num_iters, "num_batches_per_iter": args.num_batches_per_iter,
                 "images_per_second": mean, "images_per_second_std": std,
                 "total_images_per_second": float(total), "rates": rates, "cores_used": cores_used})


if __name__ == "__main__":
    main()
