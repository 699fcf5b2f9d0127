"""Training LeNet-5 on MNIST with MXNet's parameter server, synchronous or asynchronous SGD.

Started by ``hpml_helpers.distributed.run_parameter_server`` (notebook 07 and the tests), which starts a
scheduler, the servers and the workers on 127.0.0.1 with the DMLC_* variables and sets HPML_KVSTORE to
"dist_sync" or "dist_async". By hand, one shell per process (see cluster/mxnet_parameter_server.sbatch):
    export DMLC_PS_ROOT_URI=127.0.0.1 DMLC_PS_ROOT_PORT=9091 DMLC_NUM_SERVER=1 DMLC_NUM_WORKER=2
    DMLC_ROLE=scheduler python -c "import hpml_helpers, mxnet" &
    DMLC_ROLE=server python -c "import hpml_helpers, mxnet" &
    DMLC_ROLE=worker HPML_KVSTORE=dist_sync python hpml_helpers/workers/ps_training.py &
    DMLC_ROLE=worker HPML_KVSTORE=dist_sync python hpml_helpers/workers/ps_training.py

The servers hold the parameters and run the optimizer (``update_on_kvstore``): each step a worker
pushes its gradients and pulls the new parameters. Worker 0's initial parameters go to the servers
first, so every worker starts from them. Each worker trains on its own shard (``order[rank::N]`` of a
permutation all workers share).
- dist_sync: the servers wait for one push from every worker, sum them and update once; the workers
  move in lock step. ``trainer.step(batch_size * N)`` turns the sum into the mean gradient over the
  N x batch_size images: the same update as Horovod's averaging allreduce.
- dist_async: the servers apply each push when it arrives (``trainer.step(batch_size)``: one worker's
  mean gradient); nobody waits, and a worker's gradient may have been computed on parameters that others
  have updated since (stale gradients).

Result (one line per worker): rank, num_workers, mode, losses and seconds per local update (wall time
since the start), and on the test images: initial_loss/initial_accuracy (untrained), last_pull_loss (the
parameters this worker pulled after its last push: in async mode older than the servers' final ones when
the other worker pushed later) and final_loss/final_accuracy (the servers' final parameters, pulled by
every worker after a barrier: the same on all workers).
"""
import argparse
import os
import time

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim)
import mxnet as mx
from mxnet import autograd, gluon

from hpml_helpers import data, models
from hpml_helpers.workers._common import KVSTORE_MODES, emit_result
import hpml_helpers.workers._common as common


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=KVSTORE_MODES, default=os.environ.get("HPML_KVSTORE", "dist_sync"),
                        help="kvstore type (default: $HPML_KVSTORE, set by the launcher)")
    parser.add_argument("--epochs", type=common.positive_int, default=1)
    parser.add_argument("--batch-size", type=common.positive_int, default=64, help="per worker")
    parser.add_argument("--learning-rate", type=common.positive_float, default=0.1)
    parser.add_argument("--momentum", type=common.nonnegative_float, default=0.0)
    parser.add_argument("--num-train", type=common.positive_int, default=None)
    parser.add_argument("--num-test", type=common.positive_int, default=1000)
    parser.add_argument("--max-steps", type=common.nonnegative_int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=common.positive_int, default=20)
    return parser, parser.parse_args(argv)


def evaluate(model, loss_function, images, labels):
    logits = model(images)
    return (float(loss_function(logits, labels).mean().asscalar()),
            float((logits.argmax(axis=1) == labels).mean().asscalar()))


def main(argv=None):
    parser, args = parse_arguments(argv)
    kvstore = mx.kv.create(args.mode)  # HPML: connect to the scheduler; the rank comes from it
    rank, num_workers = kvstore.rank, kvstore.num_workers
    mnist = data.load("mnist", source="subset", num_train=args.num_train, num_test=args.num_test,
                      verbose=rank == 0)
    images = mx.nd.array(data.to_float(mnist.x_train, "NCHW"))
    labels = mx.nd.array(mnist.y_train, dtype="float32")
    test_images = mx.nd.array(data.to_float(mnist.x_test, "NCHW"))
    test_labels = mx.nd.array(mnist.y_test, dtype="float32")
    steps_per_epoch = common.steps_per_epoch(len(labels), args.batch_size, num_workers, parser)
    total_steps = steps_per_epoch * args.epochs
    if args.max_steps is not None:
        total_steps = min(total_steps, args.max_steps)

    mx.random.seed(args.seed + rank)
    model = models.lenet5("gluon")
    model.hybridize(static_alloc=True, static_shape=True)
    loss_function = gluon.loss.SoftmaxCrossEntropyLoss()
    # HPML: the trainer talks to the servers: worker 0's initial parameters go there first, the others pull
    # them; from then on push gradients / pull parameters, and the servers run the SGD update.
    trainer = gluon.Trainer(model.collect_params(), "sgd",
                            {"learning_rate": args.learning_rate, "momentum": args.momentum}, kvstore=kvstore)
    sync = args.mode == "dist_sync"
    step_scale = args.batch_size * (num_workers if sync else 1)  # HPML: the servers sum the N pushes in sync

    initial_loss, initial_accuracy = evaluate(model, loss_function, test_images, test_labels)  # untrained
    losses, times, step = [], [], 0
    start = time.perf_counter()
    for epoch in range(args.epochs):
        # The shard of this worker: the same permutation everywhere, every N-th element from position rank.
        for indices in common.global_batches(len(labels), args.batch_size, rank, num_workers, args.seed, epoch):
            if step >= total_steps:
                break
            batch = mx.nd.array(indices, dtype="int32")
            with autograd.record():
                loss = loss_function(model(images.take(batch)), labels.take(batch))
            loss.backward()
            trainer.step(step_scale)  # HPML: push gradients, the servers update, pull the parameters
            losses.append(loss.mean())
            step += 1
            # MXNet queues work and returns at once: wait for this update (and its pull) to finish,
            # so the time stamp says when the step was done, not when Python queued it.
            mx.nd.waitall()
            times.append(time.perf_counter() - start)  # wall time of this update, as this worker sees it
            if rank == 0 and step % args.log_every == 0:
                print(f"{args.mode} step {step}/{total_steps} loss {losses[-1].asscalar():.4f}", flush=True)
        if step >= total_steps:
            break
    mx.nd.waitall()
    seconds = time.perf_counter() - start
    own_loss, _ = evaluate(model, loss_function, test_images, test_labels)  # this worker's last pull
    kvstore._barrier()  # HPML: wait until every worker has pushed its last gradient
    params = model.collect_params()
    for key, name in enumerate(sorted(params.keys())):  # the Trainer's keys: parameter index in name order
        kvstore.pull(key, out=params[name].data())  # HPML: fetch the servers' final parameters
    final_loss, final_accuracy = evaluate(model, loss_function, test_images, test_labels)
    if rank == 0:
        print(f"{args.mode}: {step} updates in {seconds:.1f} s, test loss {final_loss:.3f}, "
              f"accuracy {final_accuracy:.3f}", flush=True)
    emit_result({"rank": rank, "num_workers": num_workers, "mode": args.mode, "steps": step,
                 "losses": [float(value.asscalar()) for value in losses], "seconds": times,
                 "total_seconds": seconds, "initial_loss": initial_loss, "initial_accuracy": initial_accuracy,
                 "last_pull_loss": own_loss, "final_loss": final_loss,
                 "final_accuracy": final_accuracy, "learning_rate": args.learning_rate,
                 "batch_size": args.batch_size})


if __name__ == "__main__":
    main()
