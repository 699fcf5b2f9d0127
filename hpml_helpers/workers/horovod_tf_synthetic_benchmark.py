"""Training throughput on random data with Horovod and TensorFlow 2.15, in the style of Horovod's
tensorflow2_synthetic_benchmark (images/s per worker and in total).

Runs in the second environment, .venv-tf-horovod (see requirements-tf-horovod.txt). Started by the tests
through ``hpml_helpers.distributed.run_horovod(..., env="tensorflow")``, or by hand from the repository root:
    .venv-tf-horovod/bin/horovodrun -np 2 -H localhost:2 --gloo \\
        .venv-tf-horovod/bin/python hpml_helpers/workers/horovod_tf_synthetic_benchmark.py
and on a GPU cluster (cluster/horovod_tensorflow.sbatch) with ``--model resnet50 --context gpu``, the
configuration of Horovod's published benchmarks.

Random images and labels (the content does not matter for speed), a model (the kit's LeNet-5 on 28x28x1,
or Keras's ResNet-50 on 224x224x3), ``--num-warmup-batches`` untimed steps, then ``--num-iters`` timed
iterations of ``--num-batches-per-iter`` steps each. Every step is a full data-parallel step written out
with ``tf.GradientTape``: forward, backward, gradient allreduce (``hvd.DistributedGradientTape``), update.
Weak scaling: ``--batch-size`` is per worker, so efficiency = total images/s on N workers / (N x images/s
on 1 worker). Lines that make it distributed are marked ``# Horovod:``.

Result (one line per rank): rank, size, model, batch_size, images_per_second (mean over iterations on
this rank), images_per_second_std, total_images_per_second (sum over ranks, by hvd.allreduce), rates (per
iteration), cores_used (CPU seconds of the process per wall second while timed).
"""
import argparse
import time

import hpml_helpers  # noqa: F401  (quiet TensorFlow logging)
import horovod.tensorflow as hvd
import numpy as np
import tensorflow as tf

from hpml_helpers import data, models
from hpml_helpers.workers._common import emit_result
import hpml_helpers.workers._common as common

MODEL_SHAPES = {"lenet5": (28, 28, 1), "resnet50": (224, 224, 3)}


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODEL_SHAPES), default="lenet5")
    parser.add_argument("--batch-size", type=common.positive_int, default=64, help="per worker")
    parser.add_argument("--num-warmup-batches", type=common.nonnegative_int, default=10)
    parser.add_argument("--num-batches-per-iter", type=common.positive_int, default=10)
    parser.add_argument("--num-iters", type=common.positive_int, default=5)
    parser.add_argument("--num-classes", type=common.positive_int, default=10)
    parser.add_argument("--fp16-allreduce", action="store_true",
                        help="send the gradients as float16 (half the bytes; Horovod's Compression.fp16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--context", choices=("cpu", "gpu"), default="cpu",
                        help="gpu: rank r uses GPU number hvd.local_rank() of its node (a CUDA build of TF)")
    return parser.parse_args(argv)


def build_model(name, num_classes):
    """The kit's LeNet-5, or Keras's ResNet-50 without pretrained weights (as Horovod's benchmark uses)."""
    if name == "lenet5":
        return models.lenet5("keras", num_classes=num_classes)
    return tf.keras.applications.ResNet50(weights=None, classes=num_classes)


def main(argv=None):
    args = parse_arguments(argv)
    hvd.init()  # Horovod: join the ranks horovodrun started
    rank, size = hvd.rank(), hvd.size()
    if args.context == "gpu":
        gpus = tf.config.list_physical_devices("GPU")
        if len(gpus) <= hvd.local_rank():
            raise SystemExit(f"--context gpu: rank {rank} needs GPU {hvd.local_rank()}, TensorFlow sees {len(gpus)}")
        tf.config.experimental.set_memory_growth(gpus[hvd.local_rank()], True)
        tf.config.set_visible_devices(gpus[hvd.local_rank()], "GPU")  # Horovod: pin one GPU per rank

    tf.keras.utils.set_random_seed(args.seed)
    model = build_model(args.model, args.num_classes)
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.01 * size)  # Horovod: scale the rate by the workers
    loss_function = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=args.model == "lenet5")
    compression = hvd.Compression.fp16 if args.fp16_allreduce else hvd.Compression.none
    images, labels = data.synthetic(args.batch_size, MODEL_SHAPES[args.model], args.num_classes, "NHWC",
                                    seed=args.seed + rank)
    images, labels = tf.constant(images), tf.constant(labels)

    @tf.function
    def benchmark_step(first_batch):
        with tf.GradientTape() as tape:
            loss = loss_function(labels, model(images, training=True))
        tape = hvd.DistributedGradientTape(tape, compression=compression)  # Horovod: allreduce the gradients
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        # Horovod: after the first step (which creates the optimizer's variables) rank 0's model and
        # optimizer state go to every rank, so all start from the same point.
        if first_batch:
            hvd.broadcast_variables(model.variables, root_rank=0)
            hvd.broadcast_variables(optimizer.variables(), root_rank=0)
        return loss

    benchmark_step(first_batch=True).numpy()
    for _ in range(args.num_warmup_batches):  # warmup: tracing, allocation, Gloo connections
        benchmark_step(first_batch=False)
    rates = []
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    for iteration in range(args.num_iters):
        start = time.perf_counter()
        for _ in range(args.num_batches_per_iter):
            loss = benchmark_step(first_batch=False)
        loss.numpy()  # wait for the last step before reading the clock
        rates.append(args.batch_size * args.num_batches_per_iter / (time.perf_counter() - start))
        if rank == 0:  # HPML: only rank 0 logs
            print(f"Iter #{iteration}: {rates[-1]:.1f} img/sec per worker", flush=True)
    # CPU seconds of all this process's threads per wall second: above 1 means helper threads (Horovod's
    # background loop, Gloo, TensorFlow's inter-op pool) compete with the compute thread for cores.
    cores_used = (time.process_time() - cpu_start) / (time.perf_counter() - wall_start)
    mean, std = float(np.mean(rates)), float(np.std(rates))
    total = float(hvd.allreduce(tf.constant([mean]), op=hvd.Sum, name="total_rate").numpy()[0])  # Horovod: sum
    if rank == 0:
        print(f"Img/sec per worker: {mean:.1f} +-{1.96 * std:.1f}", flush=True)
        print(f"Total img/sec on {size} worker(s): {total:.1f} +-{1.96 * std * np.sqrt(size):.1f}", flush=True)
    emit_result({"rank": rank, "size": size, "model": args.model, "batch_size": args.batch_size,
                 "num_iters": args.num_iters, "num_batches_per_iter": args.num_batches_per_iter,
                 "fp16_allreduce": args.fp16_allreduce, "images_per_second": mean, "images_per_second_std": std,
                 "total_images_per_second": total, "rates": rates, "cores_used": cores_used})


if __name__ == "__main__":
    main()
