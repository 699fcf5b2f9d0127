"""Data-parallel training of LeNet-5 on MNIST with Horovod and MXNet Gluon (synchronous SGD by allreduce).

Run by notebook 08 and the tests through ``hpml_helpers.distributed.run_horovod``, or by hand:
    horovodrun -np 2 -H localhost:2 --gloo python hpml_helpers/workers/horovod_gluon_mnist.py --epochs 1
(on a cluster: ``horovodrun -np 8 -H node1:4,node2:4 python ...``; see cluster/horovod_mpi.sbatch).

What makes it distributed is marked ``# HPML:``. The recipe is Horovod's:
1. ``hvd.init()``; each rank trains on its own shard of the data.
2. Rank 0's initial parameters are broadcast, so every rank starts from the same model (each rank
   seeds its initialiser differently on purpose: without the broadcast the models would differ).
3. ``hvd.DistributedTrainer`` allreduces (averages) the gradients before every update.
4. The learning rate is scaled by the number of ranks (linear scaling rule) and reached by a gradual
   warmup from the single-worker rate (Goyal et al. 2017); ``--lr-scaling none`` turns that off.
5. Only rank 0 logs, evaluates and writes the checkpoint.

Sharding rule (global batch; see ``_common.global_batches``): all ranks draw the same permutation per
epoch; step s's global batch is ``order[s*B:(s+1)*B]`` with B = batch_size * size, and rank r takes
``global_batch[r::size]``. The union of the ranks' batches at each step is the batch one process with
``--batch-size B`` takes, so N ranks x batch b with the averaged gradient and ``trainer.step(b)`` (which
divides by b) make exactly the update of 1 process x batch N*b with ``trainer.step(N*b)``: the mean
gradient over the same N*b images. With ``--lr-scaling linear`` the N-rank run uses N x
``--learning-rate``, so it matches one process given that larger rate (the linear scaling rule).
Tests check this equivalence to float tolerance.

Result (one line per rank): rank, size, losses (global mean loss per step, identical on all ranks),
local_losses, learning_rates, test_accuracy/test_loss (rank 0), images_per_second (this rank, first step left out: it builds the graph) and
total_images_per_second, param_sum/param_digest (equal on all ranks), update_norm, checkpoint.
"""
import argparse
import time

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim)
import horovod.mxnet as hvd
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from hpml_helpers import data, models, schedules
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
                        help="epochs of linear warmup from the single-worker rate to the scaled one")
    parser.add_argument("--momentum", type=common.nonnegative_float, default=0.9)
    parser.add_argument("--num-train", type=common.positive_int, default=None,
                        help="use the first N training images (default: all)")
    parser.add_argument("--num-test", type=common.positive_int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=common.nonnegative_int, default=None,
                        help="stop after this many steps in total (default: run all epochs)")
    parser.add_argument("--checkpoint", default=None, help="rank 0 saves the parameters here after each epoch")
    parser.add_argument("--log-every", type=common.positive_int, default=20)
    parser.add_argument("--context", choices=("cpu", "gpu"), default="cpu",
                        help="gpu: rank r uses GPU number hvd.local_rank() of its node (a CUDA build of MXNet)")
    return parser, parser.parse_args(argv)


def main(argv=None):
    parser, args = parse_arguments(argv)
    hvd.init()  # HPML: join the ranks horovodrun started
    rank, size = hvd.rank(), hvd.size()
    context = mx.gpu(hvd.local_rank()) if args.context == "gpu" else mx.cpu()  # HPML: one GPU per rank

    mnist = data.load("mnist", source="subset", num_train=args.num_train, num_test=args.num_test,
                      verbose=rank == 0)
    images = mx.nd.array(data.to_float(mnist.x_train, "NCHW"), ctx=context)
    labels = mx.nd.array(mnist.y_train, ctx=context, dtype="float32")
    steps_per_epoch = common.steps_per_epoch(len(labels), args.batch_size, size, parser)
    total_steps = steps_per_epoch * args.epochs
    if args.max_steps is not None:
        total_steps = min(total_steps, args.max_steps)

    mx.random.seed(args.seed + rank)  # different initial weights per rank, on purpose (see step 2 above)
    model = models.lenet5("gluon", context=context)
    params = model.collect_params()
    hvd.broadcast_parameters(params, root_rank=0)  # HPML: every rank starts from rank 0's weights
    initial = common.gluon_arrays(model)
    model.hybridize(static_alloc=True, static_shape=True)
    loss_function = gluon.loss.SoftmaxCrossEntropyLoss()

    peak = args.learning_rate * (size if args.lr_scaling == "linear" else 1)  # HPML: linear scaling rule
    schedule = schedules.WarmupStepSchedule(  # HPML: gradual warmup from the 1-worker rate to the scaled one
        peak_learning_rate=peak, warmup_steps=round(args.warmup_epochs * steps_per_epoch),
        start_learning_rate=args.learning_rate)
    trainer = hvd.DistributedTrainer(  # HPML: averages the gradients over all ranks before each update
        params, "sgd", {"lr_scheduler": schedule.to_gluon(), "momentum": args.momentum})

    step_losses = []  # NDArrays; read once at the end, so the loop never waits for the device
    step = 0
    start = None  # set after the first step, which builds the hybridized graph: left out of the rate
    for epoch in range(args.epochs):
        for indices in common.global_batches(len(labels), args.batch_size, rank, size, args.seed, epoch):
            if step >= total_steps:
                break
            batch = mx.nd.array(indices, ctx=context, dtype="int32")
            x_batch, y_batch = images.take(batch), labels.take(batch)  # HPML: this rank's part of the batch
            with autograd.record():
                loss = loss_function(model(x_batch), y_batch)
            loss.backward()
            trainer.step(args.batch_size)  # HPML: allreduce, then update with (averaged sum) / batch_size
            step_losses.append(loss.mean())
            step += 1
            if step == 1:
                mx.nd.waitall()
                start = time.perf_counter()
            if rank == 0 and step % args.log_every == 0:  # HPML: only rank 0 logs
                print(f"epoch {epoch} step {step}/{total_steps} loss {step_losses[-1].asscalar():.4f} "
                      f"lr {schedule(step - 1):.4f}", flush=True)
        if rank == 0 and args.checkpoint:  # HPML: only rank 0 writes checkpoints
            model.save_parameters(args.checkpoint)
        if step >= total_steps:
            break
    mx.nd.waitall()
    seconds = time.perf_counter() - start if start is not None else 0.0

    local_losses = np.array([value.asscalar() for value in step_losses], dtype=np.float32)
    # One allreduce at the end gives the global mean loss per step (the mean over ranks of rank means).
    global_losses = hvd.allreduce(mx.nd.array(local_losses), average=True, name="losses").asnumpy()
    images_per_second = (step - 1) * args.batch_size / seconds if seconds > 0 else 0.0  # first step left out
    total_rate = hvd.allreduce(mx.nd.array([images_per_second]), average=False, name="rate").asscalar()
    final = common.gluon_arrays(model)
    param_sum, param_digest = common.checksum(final)
    update_norm = float(np.sqrt(sum(np.sum((a.astype(np.float64) - b) ** 2) for a, b in zip(final, initial))))

    result = {"rank": rank, "size": size, "steps": step, "batch_size": args.batch_size,
              "global_batch_size": args.batch_size * size, "losses": global_losses.tolist(),
              "local_losses": local_losses.tolist(), "learning_rates": [schedule(k) for k in range(step)],
              "seconds": seconds, "images_per_second": images_per_second,
              "total_images_per_second": float(total_rate), "param_sum": param_sum,
              "param_digest": param_digest, "update_norm": update_norm,
              "checkpoint": args.checkpoint if rank == 0 else None, "test_accuracy": None, "test_loss": None}
    if rank == 0:
        test_images = mx.nd.array(data.to_float(mnist.x_test, "NCHW"), ctx=context)
        test_labels = mx.nd.array(mnist.y_test, ctx=context, dtype="float32")
        logits = model(test_images)
        result["test_loss"] = float(loss_function(logits, test_labels).mean().asscalar())
        result["test_accuracy"] = float((logits.argmax(axis=1) == test_labels).mean().asscalar())
        print(f"trained {step} steps on {size} rank(s) in {seconds:.1f} s, "
              f"{result['total_images_per_second']:.0f} images/s in total, "
              f"test accuracy {result['test_accuracy']:.3f}", flush=True)
    emit_result(result)


if __name__ == "__main__":
    main()
