"""Is the kit's readable training loop as fast as the plain ones? LeNet-5, batch 128, MNIST-sized images.

Measures, in one run and side by side, the steady-state training throughput (images/s of single epochs
after the first, so tracing and graph building are left out) of:
- Keras: ``hpml_helpers.train.train(framework="keras")`` vs a plain ``model.fit`` (same model, same
  optimizer, verbose=0);
- Gluon: ``train(framework="gluon")`` vs the fastest plain hand-written loop (data on the device,
  batches gathered by index, hybridized with static_alloc/static_shape, no metrics at all);
and the ratio kit / plain (target: >= 0.95). A last pair of rows shows that large-batch training runs
through the same loop: ``large_batch.train_run`` (momentum SGD, test set scored every epoch) timed against
``train.train`` called with the same settings (their ratio should be about 1). The cases run alternately for a few rounds and the best
epoch of each is kept: other processes on the machine only ever slow an epoch down, so the best one is
the closest to the true speed.

``run(quick=False)`` returns rows {"benchmark", "case", "value", "unit", "note"}; ``bench/run.py``
collects them. ``python bench/bench_train.py [--quick]`` prints them.
"""
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a script: make the kit importable without installing it
    sys.path.insert(0, ROOT)

BENCHMARK = "train_lenet5_batch128"
BATCH_SIZE = 128
LEARNING_RATE = 0.1
TARGET_RATIO = 0.95


def _data(num_images):
    """The shipped MNIST subset (synthetic digits-sized noise if it is missing), uint8 (N, 28, 28)."""
    path = os.path.join(ROOT, "data", "mnist_subset.npz")
    if os.path.exists(path):
        with np.load(path) as data:
            return data["x_train"][:num_images], data["y_train"][:num_images].astype(np.int64), "MNIST subset"
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (num_images, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, num_images), "synthetic")


def _steady(seconds, images):
    """Images/s of each epoch after the first."""
    return [count / duration for count, duration in zip(images[1:], seconds[1:])]


def _kit(framework, x, y, num_epochs):
    from hpml_helpers import models, train

    model = models.lenet5(framework)
    history = train.train(model, x, y, framework=framework, num_epochs=num_epochs, batch_size=BATCH_SIZE,
                          learning_rate=LEARNING_RATE, optimizer="sgd", progress=False)
    return _steady(history.seconds, history.images)


def _keras_fit_case(x, y):
    """A compiled plain Keras model; each call runs model.fit and returns the steady images/s."""
    import keras

    from hpml_helpers import models

    model = models.lenet5("keras")
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    images = (x[..., np.newaxis] / np.float32(255)).astype(np.float32)

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    def run(num_epochs):
        timer = EpochTimes()
        timer.seconds = []
        model.fit(images, y, batch_size=BATCH_SIZE, epochs=num_epochs, shuffle=True, verbose=0, callbacks=[timer])
        return _steady(timer.seconds, [len(images)] * num_epochs)

    return run


def _gluon_plain_case(x, y):
    """The plain hand-written Gluon loop; each call trains num_epochs and returns the steady images/s."""
    import mxnet as mx
    from mxnet import autograd, gluon

    from hpml_helpers import models

    model = models.lenet5("gluon")
    model.hybridize(static_alloc=True, static_shape=True)
    loss_function = gluon.loss.SoftmaxCrossEntropyLoss()
    loss_function.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(model.collect_params(), "sgd", {"learning_rate": LEARNING_RATE})
    images = mx.nd.array(x[:, np.newaxis] / np.float32(255))
    labels = mx.nd.array(y, dtype="float32")
    rng = np.random.default_rng(0)
    num_steps = len(x) // BATCH_SIZE

    def run(num_epochs):
        seconds = []
        for _ in range(num_epochs):
            order = mx.nd.array(rng.permutation(len(x))[:num_steps * BATCH_SIZE].reshape(num_steps, BATCH_SIZE),
                                dtype="int32")
            start = time.perf_counter()
            for step in range(num_steps):
                indices = order[step]
                data, label = images.take(indices), labels.take(indices)
                with autograd.record():
                    loss = loss_function(model(data), label)
                loss.backward()
                trainer.step(BATCH_SIZE)
            mx.nd.waitall()
            seconds.append(time.perf_counter() - start)
        return _steady(seconds, [num_steps * BATCH_SIZE] * num_epochs)

    return run


def run(quick=False):
    """Measure kit vs plain training loops (Keras and Gluon) and return the result rows."""
    import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim, quiets TensorFlow's start-up)

    num_images, num_epochs, num_rounds = (4096, 3, 2) if quick else (8000, 3, 4)
    x, y, source = _data(num_images)
    cases = {
        "keras: kit train()": lambda: _kit("keras", x, y, num_epochs),
        "keras: model.fit": _keras_fit_case(x, y),
        "gluon: kit train()": lambda: _kit("gluon", x, y, num_epochs),
        "gluon: plain loop": _gluon_plain_case(x, y),
    }
    samples = {case: [] for case in cases}
    for _ in range(num_rounds):  # alternate the cases so a slow moment hits them all alike
        for case, measure in cases.items():
            samples[case] += measure() if case.endswith("train()") else measure(num_epochs)
    best = {case: max(values) for case, values in samples.items()}
    setting = (f"LeNet-5, SGD, batch {BATCH_SIZE}, {len(x)} {source} images; best epoch of "
               f"{num_rounds} rounds x epochs 2-{num_epochs}")
    rows = []
    for framework, plain in (("keras", "keras: model.fit"), ("gluon", "gluon: plain loop")):
        kit = f"{framework}: kit train()"
        for case in (kit, plain):
            rows.append({"benchmark": BENCHMARK, "case": case, "value": round(best[case], 1), "unit": "images/s",
                         "note": f"{setting}; all: {', '.join(f'{value:.0f}' for value in samples[case])}"})
        ratio = best[kit] / best[plain]
        # Also the median of the ratios of epochs run next to each other: a second view of the noise.
        paired = float(np.median(np.divide(samples[kit], samples[plain])))
        rows.append({"benchmark": BENCHMARK, "case": f"{framework}: kit / plain", "value": round(ratio, 3),
                     "unit": "ratio", "note": f"target >= {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'NOT met'}"
                                              f" (median of paired epochs: {paired:.3f})"})
    rows += _large_batch_rows(x, y, source)
    return rows


def _large_batch_rows(x, y, source):
    """large_batch.train_run against train.train with its settings: the same loop, so the same speed."""
    from hpml_helpers import large_batch, models, train

    x_test, y_test = x[:500], y[:500]
    settings = dict(batch_size=4 * BATCH_SIZE, num_epochs=3)
    seconds = {}
    for case in ("train.train", "large_batch.train_run"):
        start = time.perf_counter()
        if case == "train.train":
            train.train(models.lenet5("keras"), x, y, learning_rate=LEARNING_RATE, optimizer="sgd", momentum=0.9,
                        validation_data=(x_test, y_test), progress=False, seed=0, **settings)
        else:
            large_batch.train_run(x, y, x_test, y_test, learning_rate=LEARNING_RATE, momentum=0.9, seed=0,
                                  **settings)
        seconds[case] = time.perf_counter() - start
    note = (f"LeNet-5 (keras), momentum SGD, batch {settings['batch_size']}, {settings['num_epochs']} epochs, "
            f"{len(x)} {source} images, test set scored each epoch; train_run's path: train.train")
    return [{"benchmark": BENCHMARK, "case": f"keras: {case}", "value": round(value, 2), "unit": "s", "note": note}
            for case, value in seconds.items()] + [
        {"benchmark": BENCHMARK, "case": "keras: large_batch / train", "unit": "ratio",
         "value": round(seconds["large_batch.train_run"] / seconds["train.train"], 3),
         "note": "the same loop: about 1 (train_run also builds the model and its schedule)"}]


if __name__ == "__main__":
    started = time.perf_counter()
    for row in run(quick="--quick" in sys.argv[1:]):
        print(f"{row['case']:<22} {row['value']:>10,.3f} {row['unit']:<9} {row['note']}")
    print(f"({time.perf_counter() - started:.0f} s)")
