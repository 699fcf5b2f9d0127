"""Keras training speed of a CNN under one setting of oneDNN, threads, precision and XLA.

Workloads: LeNet-5, a block of two 3x3 convolutions (the shape of ResNet-50's first stage), and ResNet-50 or
ResNet-101 (``keras.applications``, no weights, ``--image-size`` pixels square, 1000 classes).

Started by ``hpml_helpers.training_speed.keras_training_speed`` in a fresh Python, because TensorFlow reads
TF_ENABLE_ONEDNN_OPTS once, at import, and fixes its thread pools before the first operation runs.
Runnable by hand from the repository root, e.g.::

    .venv/bin/python hpml_helpers/workers/keras_training_speed.py --workloads lenet5 --batch-sizes 32 \
        --variants float32 mixed_bfloat16:xla --onednn off --threads 1 --seconds 1

Prints one result line per (workload, variant): "HPML_RESULT " followed by a JSON object.
"""
import argparse
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))  # run by hand: find hpml_helpers
import hpml_helpers.workers._common as common  # noqa: E402

WORKLOADS = ("lenet5", "conv_block", "resnet50", "resnet101")
PRECISIONS = ("float32", "mixed_bfloat16")


def variant(text):
    """"float32" or "mixed_bfloat16", with ":xla" for jit_compile=True."""
    precision, _, jit = text.partition(":")
    if precision not in PRECISIONS or jit not in ("", "xla"):
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(PRECISIONS)}, optionally with ':xla'; "
                                         f"got {text!r}")
    return precision, jit == "xla"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--batch-sizes", nargs="+", type=common.positive_int, default=None,
                        help="one per workload (default: 128 for lenet5, 16 for conv_block, 2 for the ResNets)")
    parser.add_argument("--image-size", type=common.positive_int, default=224,
                        help="height and width of the ResNets' input images (default 224, ImageNet's)")
    parser.add_argument("--variants", nargs="+", type=variant, default=[("float32", False)])
    parser.add_argument("--onednn", choices=("on", "off"), default="on")
    parser.add_argument("--threads", type=common.positive_int, default=None, help="intra-op threads (default: all)")
    parser.add_argument("--seconds", type=common.positive_float, default=2.0, help="timed seconds per setting")
    args = parser.parse_args(argv)
    defaults = {"lenet5": 128, "conv_block": 16, "resnet50": 2, "resnet101": 2}  # conv_block: ~1 s a step, oneDNN off
    if args.image_size < 32:
        parser.error(f"--image-size must be at least 32 (the ResNets downsample 32x), got {args.image_size}")
    sizes = args.batch_sizes or [defaults[workload] for workload in args.workloads]
    if len(sizes) != len(args.workloads):
        parser.error(f"--batch-sizes needs one size per workload ({len(args.workloads)}), got {len(sizes)}")
    args.batch_sizes = dict(zip(args.workloads, sizes))
    return args


def peak_rss_mb():
    # VmHWM, not ru_maxrss: ru_maxrss would also count the parent's size, which Linux carries over a fork.
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM"))
    except (OSError, StopIteration):  # not Linux
        return float("nan")


def build(workload, keras, image_size=224):
    from hpml_helpers import models

    if workload == "lenet5":
        return models.lenet5()
    if workload.startswith("resnet"):  # HPML: the real network, random weights: the same work per image
        application = keras.applications.ResNet50 if workload == "resnet50" else keras.applications.ResNet101
        return application(weights=None, input_shape=(image_size, image_size, 3), classifier_activation=None)
    layers = keras.layers  # two 3x3 convolutions on 56x56x64 maps: the shape of ResNet-50's first stage
    return keras.Sequential([keras.Input((56, 56, 64)),
                             layers.Conv2D(64, 3, padding="same", activation="relu"),
                             layers.Conv2D(64, 3, padding="same", activation="relu"),
                             layers.GlobalAveragePooling2D(), layers.Dense(10, dtype="float32")], name="conv_block")


def main(argv=None):
    args = parse_args(argv)
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if args.onednn == "on" else "0"  # HPML: read once, at import
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)  # HPML: before any op runs
    import keras
    import numpy as np
    from tensorflow.python.util import _pywrap_util_port

    from hpml_helpers import backends, cost

    rng = np.random.default_rng(0)
    for workload in args.workloads:
        for precision, jit_compile in args.variants:
            keras.mixed_precision.set_global_policy(precision)  # HPML: bfloat16 compute, float32 weights
            keras.utils.set_random_seed(0)
            model = build(workload, keras, args.image_size)
            batch = args.batch_sizes[workload]
            x = rng.random((batch,) + tuple(model.input_shape[1:]), dtype=np.float32)
            y = rng.integers(0, 10, batch)
            model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=jit_compile,  # HPML: XLA
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            start = time.perf_counter()
            model.train_on_batch(x, y)  # the first step traces (and with XLA compiles) the graph
            first = time.perf_counter() - start
            model.train_on_batch(x, y)
            rate = 0.0
            for _ in range(3):  # the best of 3 timed windows: the one least disturbed by other work
                steps, start = 0, time.perf_counter()
                while steps < 1 or time.perf_counter() - start < args.seconds / 3:
                    model.train_on_batch(x, y)  # returns the loss as numpy: each step is finished when timed
                    steps += 1
                rate = max(rate, steps * batch / (time.perf_counter() - start))
            threads = tf.config.threading.get_intra_op_parallelism_threads() or backends.usable_cpus()
            onednn = bool(_pywrap_util_port.IsMklEnabled())
            setting = f"oneDNN {'on' if onednn else 'off'}, {threads} thread(s), {precision}" + ", XLA" * jit_compile
            result = {"workload": workload, "setting": setting, "precision": precision, "jit_compile": jit_compile,
                      "onednn": onednn, "threads": threads, "batch_size": batch, "images_per_second": rate,
                      "first_step_seconds": first,
                      "image_size": int(model.input_shape[1]),
                      # a training step is ~3 forward passes: forward, backward for activations and weights
                      "train_gflops": 3 * 2 * cost.count(model).macs * rate / 1e9, "peak_rss_mb": peak_rss_mb()}
            common.emit_result(result)
            keras.backend.clear_session()


if __name__ == "__main__":
    main()
