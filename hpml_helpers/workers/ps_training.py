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

Stragglers: ``--straggler-rank R --straggler-delay-ms D`` makes worker R sleep D ms in every step,
after its gradient is computed (``mx.nd.waitall`` first, so the sleep adds to the work instead of
overlapping MXNet's queued computation) and before it pushes: a worker with slower hardware. The worker
prints the delay it applies. ``--image-budget M`` ends the run once the servers have applied gradients
of M images in total, whichever workers computed them (the workers cycle through their shards as often as
needed; it replaces ``--epochs``): the way to compare modes by what the whole cluster got done in a wall
time, since in dist_async a fast worker does not stop when the straggler is behind.

Staleness (see ``workers/_staleness_counter.py`` for the method): besides the parameters, every step
pushes and pulls one counter key, and the servers run ``CountingSGD``, which computes, when it applies a
push, how many server updates happened since the pull the gradient was computed on. Exact for the
counter key (the server applies the pushes to a key one at a time); each parameter array is a key of
its own, so their staleness can differ by one where another worker's push lands between two keys of
this worker's pull. dist_sync gives 0 by construction. ``staleness_bound`` is what the worker could
observe alone (versions of consecutive pulls): an upper bound.

Timing: every step ends with ``mx.nd.waitall()`` (its forward, backward, push, the servers' update and
the pull of the new parameters and the counter are done), then the time stamp is taken; ``seconds[t]``
is the wall time since the start of the loop (all workers start it after a barrier, at ``start_unix``
on the machine's clock, so the workers' times line up).

Result (one line per worker): rank, num_workers, mode, losses and seconds per local update (wall time
since the start), and on the test images: initial_loss/initial_accuracy (untrained), last_pull_loss (the
parameters this worker pulled after its last push: in async mode older than the servers' final ones when
the other worker pushed later) and final_loss/final_accuracy (the servers' final parameters, pulled by
every worker after a barrier: the same on all workers). For the staleness: staleness and
staleness_bound (one per step), versions (the servers' update count in each step's pull), total_updates
(the servers' count after the final barrier: in dist_async every push of every worker, in dist_sync one
per step), images_per_update, start_unix, straggler_rank and straggler_delay_ms (this worker's delay).
"""
import argparse
import itertools
import os
import time

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim)
import mxnet as mx
from mxnet import autograd, gluon

from hpml_helpers import data, models
from hpml_helpers.workers._common import KVSTORE_MODES, emit_result
from hpml_helpers.workers._staleness_counter import (COUNTER_KEY, CountingSGD, counter_size, decode_pull,
                                                     encode_push, staleness_bound)
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
    parser.add_argument("--straggler-rank", type=common.nonnegative_int, default=None,
                        help="this worker sleeps --straggler-delay-ms per step (a slower machine)")
    parser.add_argument("--straggler-delay-ms", type=common.nonnegative_float, default=0.0)
    parser.add_argument("--image-budget", type=common.positive_int, default=None,
                        help="stop once the servers applied gradients of this many images in total "
                             "(all workers; replaces --epochs)")
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
    if args.image_budget is not None:
        total_steps = None  # the servers' image count ends the run
    if args.max_steps is not None:
        total_steps = args.max_steps if total_steps is None else min(total_steps, args.max_steps)
    if args.straggler_rank is not None and args.straggler_rank >= num_workers:
        parser.error(f"--straggler-rank {args.straggler_rank} is not a rank of the {num_workers} workers")
    delay = args.straggler_delay_ms / 1000 if rank == args.straggler_rank else 0.0
    if delay:
        print(f"worker {rank}: straggler, sleeps {args.straggler_delay_ms:.1f} ms per step after computing "
              "its gradient", flush=True)

    # The same seed on every worker: each starts from the initial parameters worker 0 sends to the servers
    # (the Trainer sends them during the first step, after that step's gradient is computed), so even the
    # first gradients are computed on the servers' version 0.
    mx.random.seed(args.seed)
    model = models.lenet5("gluon")  # initialized here (the layers know their input sizes), from the shared seed
    model.hybridize(static_alloc=True, static_shape=True)
    mx.random.seed(args.seed + rank)
    loss_function = gluon.loss.SoftmaxCrossEntropyLoss()
    # HPML: the trainer talks to the servers: worker 0's initial parameters go there first, the others pull
    # them; from then on push gradients / pull parameters, and the servers run the SGD update.
    # CountingSGD is SGD, plus the servers' rule for the staleness counter key (_staleness_counter.py).
    trainer = gluon.Trainer(model.collect_params(),
                            CountingSGD(learning_rate=args.learning_rate, momentum=args.momentum), kvstore=kvstore)
    sync = args.mode == "dist_sync"
    step_scale = args.batch_size * (num_workers if sync else 1)  # HPML: the servers sum the N pushes in sync
    counter = mx.nd.zeros(counter_size(num_workers))
    kvstore.init(COUNTER_KEY, counter)  # collective: rank 0's zeros go to the servers
    kvstore.pull(COUNTER_KEY, out=counter)
    version, _ = decode_pull(counter.asnumpy(), rank)  # the servers' update count when we pulled
    images_per_update = step_scale  # one server update: N x batch_size images in sync, batch_size in async
    budget_updates = None if args.image_budget is None else -(-args.image_budget // images_per_update)

    initial_loss, initial_accuracy = evaluate(model, loss_function, test_images, test_labels)  # untrained
    losses, times, staleness, versions, step = [], [], [], [], 0
    first_version = version
    done = False
    kvstore._barrier()  # every worker starts its clock together, so their time axes line up
    start_unix, start = time.time(), time.perf_counter()
    epochs = itertools.count() if args.image_budget is not None else range(args.epochs)
    for epoch in epochs:
        # The shard of this worker: the same permutation everywhere, every N-th element from position rank.
        for indices in common.global_batches(len(labels), args.batch_size, rank, num_workers, args.seed, epoch):
            done = total_steps is not None and step >= total_steps
            if done:
                break
            batch = mx.nd.array(indices, dtype="int32")
            with autograd.record():
                loss = loss_function(model(images.take(batch)), labels.take(batch))
            loss.backward()
            if delay:
                mx.nd.waitall()  # the gradient is done: the sleep adds to the work, not hides behind it
                time.sleep(delay)  # HPML: the straggler: a slower machine
            trainer.step(step_scale)  # HPML: push gradients, the servers update, pull the parameters
            # HPML: tell the servers which version these gradients were computed on; they count the staleness
            kvstore.push(COUNTER_KEY, mx.nd.array(encode_push(rank, version, num_workers)), priority=-10_000)
            kvstore.pull(COUNTER_KEY, out=counter, priority=-10_000)
            losses.append(loss.mean())
            step += 1
            # MXNet queues work and returns at once: wait for this update (and its pull) to finish,
            # so the time stamp says when the step was done, not when Python queued it.
            mx.nd.waitall()
            times.append(time.perf_counter() - start)  # wall time of this update, as this worker sees it
            version, own_staleness = decode_pull(counter.asnumpy(), rank)
            staleness.append(own_staleness)  # exact for the counter key, computed by the server
            versions.append(version)
            if rank == 0 and step % args.log_every == 0:
                print(f"{args.mode} step {step}/{total_steps or '?'} loss {losses[-1].asscalar():.4f} "
                      f"server updates {version}", flush=True)
            done = budget_updates is not None and version >= budget_updates  # HPML: the cluster's budget
            if done:
                break
        if done or (total_steps is not None and step >= total_steps):
            break
    mx.nd.waitall()
    seconds = time.perf_counter() - start
    own_loss, _ = evaluate(model, loss_function, test_images, test_labels)  # this worker's last pull
    kvstore._barrier()  # HPML: wait until every worker has pushed its last gradient
    params = model.collect_params()
    for key, name in enumerate(sorted(params.keys())):  # the Trainer's keys: parameter index in name order
        kvstore.pull(key, out=params[name].data())  # HPML: fetch the servers' final parameters
    kvstore.pull(COUNTER_KEY, out=counter)
    total_updates, _ = decode_pull(counter.asnumpy(), rank)  # every update the servers applied
    final_loss, final_accuracy = evaluate(model, loss_function, test_images, test_labels)
    if rank == 0:
        print(f"{args.mode}: {step} updates in {seconds:.1f} s, test loss {final_loss:.3f}, "
              f"accuracy {final_accuracy:.3f}", flush=True)
    emit_result({"rank": rank, "num_workers": num_workers, "mode": args.mode, "steps": step,
                 "losses": [float(value.asscalar()) for value in losses], "seconds": times,
                 "total_seconds": seconds, "initial_loss": initial_loss, "initial_accuracy": initial_accuracy,
                 "last_pull_loss": own_loss, "final_loss": final_loss,
                 "final_accuracy": final_accuracy, "learning_rate": args.learning_rate,
                 "batch_size": args.batch_size, "staleness": staleness,
                 "staleness_bound": staleness_bound(versions, first_version).tolist(), "versions": versions,
                 "total_updates": total_updates, "images_per_update": images_per_update,
                 "start_unix": start_unix, "straggler_rank": args.straggler_rank,
                 "straggler_delay_ms": delay * 1000})


if __name__ == "__main__":
    main()
