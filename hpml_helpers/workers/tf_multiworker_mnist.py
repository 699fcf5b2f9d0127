"""Data-parallel training of LeNet-5 on MNIST with TensorFlow's MultiWorkerMirroredStrategy (Keras 3 model).

Started by ``hpml_helpers.distributed.run_tf_multiworker`` (notebook 08 and the tests), which gives
each worker a TF_CONFIG naming the cluster (127.0.0.1 and free ports) and its own index. By hand, one
shell per worker (see cluster/tf_multiworker.sbatch for a SLURM cluster):
    export HPML_CLUSTER='{"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]}'
    TF_CONFIG="{\"cluster\": $HPML_CLUSTER, \"task\": {\"type\": \"worker\", \"index\": 0}}" \
        python hpml_helpers/workers/tf_multiworker_mnist.py &
    TF_CONFIG="{\"cluster\": $HPML_CLUSTER, \"task\": {\"type\": \"worker\", \"index\": 1}}" \
        python hpml_helpers/workers/tf_multiworker_mnist.py

A custom loop, because Keras 3's ``model.fit`` fails under MultiWorkerMirroredStrategy;
it is also the lecture's four steps written out:
1. sample: each worker batches its own shard of the images (``distribute_datasets_from_function``;
   ``--input global`` instead batches with the GLOBAL batch and lets the strategy hand each worker its
   part, auto-shard policy DATA: every worker then reads and batches all the data);
2. forward pass to the loss, scaled by the global batch (``tf.nn.compute_average_loss``) so that the
   gradients summed over workers are the gradient of the mean loss over the global batch;
3. backprop (``tf.GradientTape``); the optimizer's ``apply_gradients`` all-reduces them across workers;
4. update, identical on every worker, so the weights stay identical (the result's checksum proves it).

Speed (notebook 08, section 5, measures each): ``--steps-per-call`` steps run in one ``tf.function``
call (a Python round trip and a loss read-out per call, not per step); ``run_tf_multiworker(bind_cores=True)``
gives every worker its own core; the per-worker input pipeline batches only that worker's shard. The
gradients need no option: inside a ``tf.function`` the strategy already concatenates all of them into one
all-reduce (``CommunicationOptions(bytes_per_pack=0)``, its default, means a single pack).
The first step (tracing) is left out of images_per_second.

Result (one line per worker): rank (the task index), num_workers, losses (global mean loss per step,
``strategy.reduce``), images_per_second, param_sum/param_digest, test_accuracy (worker 0).
"""
import argparse
import json
import os
import time

import hpml_helpers  # noqa: F401  (quiet TensorFlow logging)
import numpy as np
import tensorflow as tf

from hpml_helpers import data, models
from hpml_helpers.workers._common import emit_result
import hpml_helpers.workers._common as common


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=common.positive_int, default=1)
    parser.add_argument("--batch-size", type=common.positive_int, default=64, help="per worker")
    parser.add_argument("--learning-rate", type=common.positive_float, default=0.05)
    parser.add_argument("--momentum", type=common.nonnegative_float, default=0.9)
    parser.add_argument("--num-train", type=common.positive_int, default=None)
    parser.add_argument("--num-test", type=common.positive_int, default=None)
    parser.add_argument("--max-steps", type=common.nonnegative_int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=common.positive_int, default=20)
    parser.add_argument("--steps-per-call", type=common.positive_int, default=10,
                        help="training steps per tf.function call (1: one Python round trip per step)")
    parser.add_argument("--input", choices=("per-worker", "global"), default="per-worker",
                        help="per-worker: each worker batches its own shard; global: every worker builds the "
                             "global batch and keeps its part (auto-shard policy DATA)")
    return parser, parser.parse_args(argv)


def main(argv=None):
    parser, args = parse_arguments(argv)
    if "TF_CONFIG" not in os.environ:
        parser.error("TF_CONFIG is not set: start this script with hpml_helpers.distributed.run_tf_multiworker "
                     "or give each worker a TF_CONFIG (see the docstring)")
    import keras

    task = json.loads(os.environ["TF_CONFIG"])["task"]
    rank = int(task["index"])
    # HPML: reads TF_CONFIG, connects to the other workers; gradients are all-reduced across them
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    num_workers = strategy.num_replicas_in_sync
    global_batch = args.batch_size * num_workers

    mnist = data.load("mnist", source="subset", num_train=args.num_train, num_test=args.num_test,
                      verbose=rank == 0)
    images, labels = data.to_float(mnist.x_train, "NHWC"), mnist.y_train.astype(np.int64)
    steps_per_epoch = common.steps_per_epoch(len(labels), args.batch_size, num_workers, parser)
    total_steps = steps_per_epoch * args.epochs
    if args.max_steps is not None:
        total_steps = min(total_steps, args.max_steps)

    if args.input == "global":
        dataset = (tf.data.Dataset.from_tensor_slices((images, labels))
                   .shuffle(len(labels), seed=args.seed, reshuffle_each_iteration=True)
                   .batch(global_batch, drop_remainder=True)  # batch with the global batch size
                   .repeat(args.epochs))
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        distributed_dataset = strategy.experimental_distribute_dataset(dataset.with_options(options))
    else:
        def worker_dataset(context):  # HPML: each worker reads and batches only its own shard of the images
            shard = context.input_pipeline_id
            return (tf.data.Dataset.from_tensor_slices((images[shard::num_workers], labels[shard::num_workers]))
                    .shuffle(len(labels) // num_workers, seed=args.seed + shard, reshuffle_each_iteration=True)
                    .batch(context.get_per_replica_batch_size(global_batch), drop_remainder=True)
                    .repeat(args.epochs).prefetch(2))
        distributed_dataset = strategy.distribute_datasets_from_function(worker_dataset)

    keras.utils.set_random_seed(args.seed)  # the same initial weights everywhere (the strategy also syncs)
    with strategy.scope():  # HPML: variables created here are mirrored on every worker
        model = models.lenet5("keras")
        optimizer = keras.optimizers.SGD(learning_rate=args.learning_rate, momentum=args.momentum)
    loss_object = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")

    def replica_step(batch_images, batch_labels):
        with tf.GradientTape() as tape:
            per_example = loss_object(batch_labels, model(batch_images, training=True))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)  # HPML: / global
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))  # HPML: all-reduce, then update
        return loss

    @tf.function
    def train_steps(iterator, count):
        """``count`` steps in one call; the global mean losses of all of them in one collective at the end."""
        step_losses = tf.TensorArray(tf.float32, size=count)
        for index in tf.range(count):
            per_replica = strategy.run(replica_step, args=next(iterator))  # HPML: the step on every worker's batch
            step_losses = step_losses.write(index, strategy.experimental_local_results(per_replica)[0])
        # HPML: one all-reduce for the losses of the whole call, not one per step
        return strategy.reduce(tf.distribute.ReduceOp.SUM, step_losses.stack(), axis=None)

    call_losses, step = [], 0  # one tensor of losses per call; read once at the end
    start = None
    iterator = iter(distributed_dataset)
    while step < total_steps:
        count = 1 if step == 0 else min(args.steps_per_call, total_steps - step)
        losses = train_steps(iterator, tf.constant(count))
        if step == 0:
            losses = losses.numpy()  # the first call traces the function: wait for it, then start the clock
            start = time.perf_counter()
        call_losses.append(losses)
        step += count
        if rank == 0 and step // args.log_every > (step - count) // args.log_every:
            print(f"step {step}/{total_steps} loss {float(np.ravel(losses)[-1]):.4f}", flush=True)
    losses = [float(value) for call in call_losses for value in np.ravel(call)]  # waits for the last step
    seconds = time.perf_counter() - start if start else 0.0
    images_per_second = (step - 1) * args.batch_size / seconds if seconds > 0 else 0.0
    param_sum, param_digest = common.checksum([variable.numpy() for variable in model.trainable_variables])

    result = {"rank": rank, "num_workers": num_workers, "steps": step, "global_batch_size": global_batch,
              "losses": losses, "seconds": seconds, "images_per_second": images_per_second,
              "param_sum": param_sum, "param_digest": param_digest, "test_accuracy": None}
    if rank == 0:
        # A plain call, not model.predict: under the strategy, predict would wait for the other workers.
        test_images = data.to_float(mnist.x_test, "NHWC")
        predictions = np.concatenate([np.argmax(model(test_images[i:i + 500], training=False), axis=1)
                                      for i in range(0, len(test_images), 500)])
        result["test_accuracy"] = float(np.mean(predictions == mnist.y_test))
        print(f"trained {step} steps on {num_workers} workers, test accuracy {result['test_accuracy']:.3f}",
              flush=True)
    emit_result(result)


if __name__ == "__main__":
    main()
