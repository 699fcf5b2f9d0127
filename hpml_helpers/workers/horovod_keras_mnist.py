"""Data-parallel training of LeNet-5 on MNIST with Horovod and Keras 2 (tf.keras of TensorFlow 2.15).

Runs in the second environment, .venv-tf-horovod (Horovod 0.28.1 builds against TensorFlow <= 2.15 only
and has no Keras 3 support; see requirements-tf-horovod.txt). Started by notebook 08 and the tests through
``hpml_helpers.distributed.run_horovod(..., env="tensorflow")``, or by hand from the repository root:
    .venv-tf-horovod/bin/horovodrun -np 2 -H localhost:2 --gloo \\
        .venv-tf-horovod/bin/python hpml_helpers/workers/horovod_keras_mnist.py --epochs 1
(on a cluster: cluster/horovod_tensorflow.sbatch, where an NVIDIA TensorFlow container supplies Horovod).

The Gluon worker (horovod_gluon_mnist.py) written with Horovod's Keras API; what makes it distributed is
marked ``# Horovod:`` (Horovod's Keras recipe, see its docs "Horovod with Keras") and ``# HPML:``:
1. ``hvd.init()``; each rank trains on its own shard of the data (the global-batch sharding rule of
   ``_common.global_batches``: the union of the ranks' batches at step s is one process's batch of
   ``--batch-size x size`` images).
2. ``hvd.callbacks.BroadcastGlobalVariablesCallback(0)`` sends rank 0's weights and optimizer state to
   every rank (each rank seeds its initialiser differently on purpose: without the broadcast the models
   would differ). Under TensorFlow 2 it does so at the end of the FIRST batch, once the optimizer has
   created its variables, so that first step averages gradients taken on different models; harmless
   for training, but ``--same-initial-weights`` (every rank seeds alike) makes N ranks reproduce one
   process exactly, which the tests check.
3. ``hvd.DistributedOptimizer`` averages the gradients over all ranks (allreduce) before every update.
4. The learning rate is scaled by ``hvd.size()`` (linear scaling rule) and reached by Horovod's
   ``LearningRateWarmupCallback``, which ramps from rate/size to rate over ``--warmup-epochs`` (Goyal et
   al. 2017); ``--lr-scaling none`` turns both off.
5. ``hvd.callbacks.MetricAverageCallback()`` averages the epoch's metrics over the ranks, so the
   history every rank reports is the global one.
6. Only rank 0 logs, evaluates and writes the checkpoint (``--checkpoint lenet5.h5``).

Result (one line per rank): rank, size, steps, losses (global mean loss per step, identical on all
ranks), local_losses, epoch_losses/epoch_accuracies (averaged over ranks by MetricAverageCallback),
learning_rates (per step), images_per_second (this rank, first step left out: it traces the graph) and
total_images_per_second, param_sum/param_digest (all weights; equal digests mean identical weights),
update_norm, test_accuracy/test_loss (rank 0), checkpoint (rank 0).
"""
import argparse
import time

import hpml_helpers  # noqa: F401  (quiet TensorFlow logging)
import horovod.tensorflow.keras as hvd
import keras  # Keras 2.15 in this environment: the same package as tf.keras
import numpy as np
import tensorflow as tf

from hpml_helpers import data, models
from hpml_helpers.workers._common import emit_result
import hpml_helpers.workers._common as common


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=common.positive_int, default=1)
    parser.add_argument("--batch-size", type=common.positive_int, default=64, help="per worker")
    parser.add_argument("--learning-rate", type=common.positive_float, default=0.05,
                        help="rate for one worker's batch; scaled by the number of workers (--lr-scaling)")
    parser.add_argument("--lr-scaling", choices=("linear", "none"), default="linear")
    parser.add_argument("--warmup-epochs", type=common.nonnegative_float, default=1.0,
                        help="epochs of Horovod's warmup from rate/size to the scaled rate (0: none)")
    parser.add_argument("--momentum", type=common.nonnegative_float, default=0.9)
    parser.add_argument("--num-train", type=common.positive_int, default=None,
                        help="use the first N training images (default: all)")
    parser.add_argument("--num-test", type=common.positive_int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--same-initial-weights", action="store_true",
                        help="seed every rank's initialiser alike (default: seed + rank, so the broadcast matters)")
    parser.add_argument("--checkpoint", default=None,
                        help="rank 0 saves the weights here after each epoch (.h5: one HDF5 file)")
    parser.add_argument("--log-every", type=common.positive_int, default=20)
    parser.add_argument("--context", choices=("cpu", "gpu"), default="cpu",
                        help="gpu: rank r uses GPU number hvd.local_rank() of its node (a CUDA build of TF)")
    return parser, parser.parse_args(argv)


def use_one_gpu_per_rank():
    """Let this rank see only GPU number hvd.local_rank(), the usual one-GPU-per-process layout."""
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) <= hvd.local_rank():
        raise SystemExit(f"--context gpu: rank {hvd.rank()} needs GPU {hvd.local_rank()}, but TensorFlow sees "
                         f"{len(gpus)} GPU(s) on this node (a CUDA build of TensorFlow and one GPU per rank)")
    tf.config.experimental.set_memory_growth(gpus[hvd.local_rank()], True)
    tf.config.set_visible_devices(gpus[hvd.local_rank()], "GPU")  # Horovod: pin one GPU per rank


def shard(images, labels, args, rank, size):
    """This rank's batches for all epochs (a tf.data dataset) and their number, by the global-batch rule."""
    indices = np.concatenate([batch for epoch in range(args.epochs) for batch in
                              common.global_batches(len(labels), args.batch_size, rank, size, args.seed, epoch)])
    images, labels = tf.constant(images), tf.constant(labels)
    # Batches of indices gathered from the arrays: no copy of the data set per epoch.
    return (tf.data.Dataset.from_tensor_slices(indices).batch(args.batch_size, drop_remainder=True)
            .map(lambda batch: (tf.gather(images, batch), tf.gather(labels, batch)))
            .prefetch(2)), len(indices) // args.batch_size


class StepRecorder(tf.keras.callbacks.Callback):
    """Records each step's loss and learning rate, and the time from the end of the first step (which
    traces the graph) to the end of training; rank 0 prints progress.

    Keras 2 reports, after each batch, the running mean of the loss since the epoch began; the loss of
    batch k is then k x mean_k - (k-1) x mean_(k-1) (exact up to float rounding: all batches are the same size).
    """

    def __init__(self, total_steps, log_every, verbose):
        super().__init__()
        self.total_steps, self.log_every, self.verbose = total_steps, log_every, verbose
        self.losses, self.learning_rates = [], []
        self.previous_mean, self.step_in_epoch = 0.0, 0
        self.first_step_end = self.end = None

    def on_epoch_begin(self, epoch, logs=None):
        self.previous_mean, self.step_in_epoch = 0.0, 0

    def on_train_batch_begin(self, batch, logs=None):
        # Runs after Horovod's warmup callback (later in the list), so it sees this step's rate.
        self.learning_rates.append(float(tf.keras.backend.get_value(self.model.optimizer.learning_rate)))

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        self.step_in_epoch += 1
        self.losses.append(self.step_in_epoch * mean - (self.step_in_epoch - 1) * self.previous_mean)
        self.previous_mean = mean
        if len(self.losses) == 1:
            self.first_step_end = time.perf_counter()
        step = len(self.losses)
        if self.verbose and step % self.log_every == 0:
            print(f"step {step}/{self.total_steps} loss {self.losses[-1]:.4f} "
                  f"lr {self.learning_rates[-1]:.4f}", flush=True)

    def on_train_end(self, logs=None):
        self.end = time.perf_counter()


def main(argv=None):
    parser, args = parse_arguments(argv)
    hvd.init()  # Horovod: join the ranks horovodrun started
    rank, size = hvd.rank(), hvd.size()
    if args.context == "gpu":
        use_one_gpu_per_rank()

    mnist = data.load("mnist", source="subset", num_train=args.num_train, num_test=args.num_test,
                      verbose=rank == 0)
    images, labels = data.to_float(mnist.x_train, "NHWC"), mnist.y_train.astype(np.int64)
    steps_per_epoch = common.steps_per_epoch(len(labels), args.batch_size, size, parser)
    dataset, total_steps = shard(images, labels, args, rank, size)  # HPML: this rank's shard

    # Different initial weights per rank, on purpose (see step 2), unless --same-initial-weights.
    tf.keras.utils.set_random_seed(args.seed + (0 if args.same_initial_weights else rank))
    model = models.lenet5("keras")  # Keras 2 here: `import keras` is tf.keras in TensorFlow 2.15
    initial = [weight.copy() for weight in model.get_weights()]
    scaled_rate = args.learning_rate * (size if args.lr_scaling == "linear" else 1)  # Horovod: scale lr by size
    # The legacy (Keras < 2.11) SGD: its momentum is a variable that Horovod's warmup callback adjusts with
    # the rate (momentum correction, Goyal et al. 2017); the newer optimizer keeps it as a plain float.
    optimizer = tf.keras.optimizers.legacy.SGD(learning_rate=scaled_rate, momentum=args.momentum)
    optimizer = hvd.DistributedOptimizer(optimizer)  # Horovod: allreduce (average) the gradients every step
    model.compile(optimizer=optimizer, metrics=["accuracy"],
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    recorder = StepRecorder(total_steps, args.log_every, verbose=rank == 0)
    callbacks = [
        hvd.callbacks.BroadcastGlobalVariablesCallback(0),  # Horovod: every rank starts from rank 0's weights
        hvd.callbacks.MetricAverageCallback(),  # Horovod: epoch metrics averaged over the ranks
    ]
    if args.lr_scaling == "linear" and args.warmup_epochs > 0:
        callbacks.append(hvd.callbacks.LearningRateWarmupCallback(  # Horovod: ramp rate/size -> rate
            initial_lr=scaled_rate, warmup_epochs=args.warmup_epochs, steps_per_epoch=steps_per_epoch))
    callbacks.append(recorder)
    if rank == 0 and args.checkpoint:  # HPML: only rank 0 writes checkpoints (the others hold the same weights)
        callbacks.append(tf.keras.callbacks.ModelCheckpoint(args.checkpoint, save_weights_only=True))

    history = model.fit(dataset, epochs=args.epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                        verbose=0)

    steps = len(recorder.losses)
    seconds = recorder.end - recorder.first_step_end if steps > 1 else 0.0
    images_per_second = (steps - 1) * args.batch_size / seconds if seconds > 0 else 0.0
    local_losses = np.array(recorder.losses, dtype=np.float32)
    # One allreduce at the end gives the global mean loss per step (the mean over ranks of rank means).
    # (The Keras API's allreduce takes and returns numpy values.)
    global_losses = np.asarray(hvd.allreduce(local_losses, op=hvd.Average, name="losses"))  # HPML: global loss
    total_rate = float(np.asarray(hvd.allreduce(np.array([images_per_second]), op=hvd.Sum, name="rate"))[0])
    final = model.get_weights()
    param_sum, param_digest = common.checksum(final)
    update_norm = float(np.sqrt(sum(np.sum((a.astype(np.float64) - b) ** 2) for a, b in zip(final, initial))))

    result = {"rank": rank, "size": size, "steps": steps, "batch_size": args.batch_size,
              "global_batch_size": args.batch_size * size, "losses": global_losses.tolist(),
              "local_losses": local_losses.tolist(), "epoch_losses": [float(value) for value in history.history["loss"]],
              "epoch_accuracies": [float(value) for value in history.history["accuracy"]], "learning_rates": recorder.learning_rates,
              "seconds": seconds, "images_per_second": images_per_second, "total_images_per_second": total_rate,
              "param_sum": param_sum, "param_digest": param_digest, "update_norm": update_norm,
              "checkpoint": args.checkpoint if rank == 0 else None, "test_accuracy": None, "test_loss": None,
              "tensorflow": tf.__version__, "keras": keras.__version__}
    if rank == 0:  # HPML: only rank 0 evaluates
        test_images = data.to_float(mnist.x_test, "NHWC")
        logits = np.concatenate([model(test_images[i:i + 500], training=False).numpy()
                                 for i in range(0, len(test_images), 500)])
        loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(mnist.y_test, logits)
        result["test_loss"] = float(loss)
        result["test_accuracy"] = float(np.mean(np.argmax(logits, axis=1) == mnist.y_test))
        print(f"trained {steps} steps on {size} rank(s) in {seconds:.1f} s, {total_rate:.0f} images/s in total, "
              f"test accuracy {result['test_accuracy']:.3f}", flush=True)
    emit_result(result)


if __name__ == "__main__":
    main()
