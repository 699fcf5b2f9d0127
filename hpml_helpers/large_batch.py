"""Large-batch training experiments: the same model for the same epochs, with different batch sizes and rules.

Goyal et al. 2017, "Accurate, Large Minibatch SGD" (arXiv:1706.02677): k times the batch for the same epochs
is k times fewer updates. Keeping the learning rate ("naive") leaves the model behind; k times the rate
("linear", the linear scaling rule) makes up for it; reaching it gradually over the first epochs
("linear+warmup") survives the first steps, where the big rate can blow up. Past some k even that fails.
- ``learning_rate_for(rule, batch_size, base_batch_size, base_learning_rate, steps_per_epoch, ...)``: the
  learning rate (a number) or schedule (``schedules.WarmupStepSchedule``) of each rule.
- ``train_run(x_train, y_train, x_test, y_test, batch_size, learning_rate, num_epochs, framework=...)``:
  trains a fresh model (the same initial weights every time) with SGD with momentum (Goyal's 0.9) and
  returns a ``Run``: per-epoch training error (mean over the epoch's batches, as Goyal's curves) and test
  error, in percent. A run whose loss turns NaN or infinite stops there and says so (``diverged``).
- ``plot_error_curves``, ``plot_error_vs_batch_size``, ``breakdown_batch_size``, ``format_table``: results.
Used by notebook 09-large-batch-training.
"""
import dataclasses
import math
import numbers
import time

import numpy as np

from . import schedules, validation
from .models import FRAMEWORK_CHOICES
from .train import _check_choice, _check_model, _check_positive_int, _dataset

RULES = ("naive", "linear", "linear+warmup")


def learning_rate_for(rule, batch_size, base_batch_size, base_learning_rate, steps_per_epoch, warmup_epochs=1.0,
                      decay_epochs=(), decay_factor=0.1):
    """The learning rate of ``rule`` for ``batch_size``: a number, or a WarmupStepSchedule in steps."""
    rule = _check_choice(rule, "rule", RULES)
    base_batch_size = _check_positive_int(base_batch_size, "base_batch_size")
    batch_size = _check_positive_int(batch_size, "batch_size")
    steps_per_epoch = _check_positive_int(steps_per_epoch, "steps_per_epoch")
    if not isinstance(warmup_epochs, numbers.Real) or not warmup_epochs >= 0:
        raise ValueError(f"warmup_epochs must be a number >= 0, got {warmup_epochs!r}")
    base = float(validation.check_number_array("base_learning_rate", base_learning_rate))
    # naive: the same rate (k times fewer steps); linear: k times the rate (the linear scaling rule).
    peak = base if rule == "naive" else schedules.scaled_learning_rate(base, batch_size, base_batch_size)
    warmup_steps = round(warmup_epochs * steps_per_epoch) if rule == "linear+warmup" else 0
    try:
        boundaries = tuple(max(round(float(epoch) * steps_per_epoch), warmup_steps) for epoch in decay_epochs)
    except (TypeError, ValueError):
        raise TypeError(f"decay_epochs must be a sequence of epochs, got {decay_epochs!r}") from None
    if not warmup_steps and not boundaries:
        return peak
    # Gradual warmup starts at the small batch's rate and reaches k times it (Goyal et al., section 2.2).
    return schedules.WarmupStepSchedule(peak, warmup_steps=warmup_steps, start_learning_rate=base,
                                      decay_boundaries=boundaries, decay_factor=decay_factor)


@dataclasses.dataclass
class Run:
    """One training run: its settings and per-epoch errors in percent (shorter than asked if it diverged)."""

    label: str
    batch_size: int
    steps_per_epoch: int
    learning_rates: np.ndarray  # one per update step, as scheduled
    train_error: list = dataclasses.field(default_factory=list)
    test_error: list = dataclasses.field(default_factory=list)
    train_loss: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    diverged: bool = False

    @property
    def final_test_error(self):
        """Test error (%) after the last epoch trained."""
        return self.test_error[-1] if self.test_error else math.nan

    def __repr__(self):
        state = "diverged" if self.diverged else f"{len(self.test_error)} epochs"
        return (f"Run({self.label!r}, batch {self.batch_size}, {state}, "
                f"test error {self.final_test_error:.2f}%, {self.seconds:.1f} s)")


def _keras_step(model, images, labels, batch_size, learning_rate, momentum):
    """A compiled SGD-with-momentum step on device-resident data; returns (step, to_device, read_and_reset)."""
    import keras
    import tensorflow as tf

    rate = learning_rate.to_keras() if isinstance(learning_rate, schedules.WarmupStepSchedule) else learning_rate
    optimizer = keras.optimizers.SGD(rate, momentum=momentum)  # HPML: SGD with momentum, as Goyal et al.
    optimizer.build(model.trainable_variables)
    loss_function = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    sums = tf.Variable([0.0, 0.0])  # loss sum, correct predictions

    # The data are arguments, not captured constants: a captured copy would live as long as TensorFlow's
    # function cache, about 25 MB per run for 8,000 MNIST images, and a sweep makes dozens of runs.
    with tf.device("/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"):
        images, labels = tf.constant(images), tf.constant(labels)  # on the device once

    @tf.function(input_signature=[tf.TensorSpec([batch_size], tf.int32), tf.TensorSpec(images.shape, tf.float32),
                                  tf.TensorSpec(labels.shape, tf.int32)])
    def compiled_step(batch_indices, images, labels):
        x_batch, y_batch = tf.gather(images, batch_indices), tf.gather(labels, batch_indices)
        with tf.GradientTape() as tape:
            logits = model(x_batch, training=True)
            loss = loss_function(y_batch, logits)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y_batch), tf.float32))
        sums.assign_add(tf.stack([loss * batch_size, correct]))

    def step(batch_indices):
        compiled_step(batch_indices, images, labels)

    def read_and_reset():
        values = sums.numpy()  # waits for the last step
        sums.assign([0.0, 0.0])
        return tuple(map(float, values))

    return step, lambda order: order, read_and_reset


def _gluon_step(model, images, labels, batch_size, learning_rate, momentum):
    """The same step in Gluon: autograd, a Trainer with momentum and the schedule as an lr_scheduler."""
    import mxnet as mx
    from mxnet import autograd, gluon

    context = list(model.collect_params().values())[0].list_ctx()[0]
    images = mx.nd.array(images.transpose(0, 3, 1, 2), ctx=context)  # NHWC -> NCHW once
    labels = mx.nd.array(labels, ctx=context, dtype="float32")
    model.hybridize(static_alloc=True, static_shape=True)
    settings = {"momentum": momentum, **({"lr_scheduler": learning_rate.to_gluon()}
                                          if isinstance(learning_rate, schedules.WarmupStepSchedule)
                                          else {"learning_rate": learning_rate})}
    trainer = gluon.Trainer(model.collect_params(), "sgd", settings)  # HPML: SGD with momentum
    loss_function = gluon.loss.SoftmaxCrossEntropyLoss()
    sums = mx.nd.zeros(2, ctx=context)

    def step(batch_indices):
        x_batch, y_batch = images.take(batch_indices), labels.take(batch_indices)
        with autograd.record():
            logits = model(x_batch)
            loss = loss_function(logits, y_batch)
        loss.backward()
        trainer.step(batch_size)
        sums[:] += mx.nd.concat(loss.sum(), (logits.argmax(axis=1) == y_batch).sum(), dim=0)

    def read_and_reset():
        values = sums.asnumpy()  # waits for the last step
        sums[:] = 0
        return tuple(map(float, values))

    return step, lambda order: mx.nd.array(order, ctx=context, dtype="int32"), read_and_reset


def train_run(x_train, y_train, x_test, y_test, batch_size, learning_rate, num_epochs, framework="keras",
              momentum=0.9, model_builder=None, seed=0, label=None):
    """Train a fresh model (same initial weights for a given seed) with SGD + momentum; returns a Run."""
    from . import models, train

    framework = _check_choice(framework, "framework", FRAMEWORK_CHOICES)
    batch_size = _check_positive_int(batch_size, "batch_size")
    num_epochs = _check_positive_int(num_epochs, "num_epochs")
    if not isinstance(learning_rate, schedules.WarmupStepSchedule) and (
            isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) or not learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number or a schedules.WarmupStepSchedule, "
                         f"got {learning_rate!r}")
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0 <= momentum < 1:
        raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if framework == "keras":
        import keras

        keras.utils.set_random_seed(seed)  # the same initial weights in every run
    else:
        import mxnet as mx

        mx.random.seed(seed)
    model = (model_builder or models.lenet5)(framework=framework)
    model_io = _check_model(model, framework)
    images, labels = _dataset(x_train, y_train, "x_train", "y_train", model_io)
    _dataset(x_test, y_test, "x_test", "y_test", model_io)  # checked now, not after the training
    steps_per_epoch = len(images) // batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size ({batch_size}) is larger than the number of training images ({len(images)})")
    make_step = _keras_step if framework == "keras" else _gluon_step
    step, to_device, read_and_reset = make_step(model, images, labels, batch_size, learning_rate, momentum)
    schedule = learning_rate if callable(learning_rate) else (lambda steps: np.full(len(steps), learning_rate))
    run = Run(label or f"batch {batch_size}", batch_size, steps_per_epoch,
              np.asarray(schedule(np.arange(steps_per_epoch * num_epochs)), dtype=float))
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(num_epochs):
        # Full batches only (one compiled shape); a fresh shuffle each epoch changes which images are left out.
        order = rng.permutation(len(images))[:steps_per_epoch * batch_size].astype(np.int32)
        batches = to_device(order.reshape(steps_per_epoch, batch_size))
        for index in range(steps_per_epoch):
            step(batches[index])
        loss_sum, correct = read_and_reset()
        seen = steps_per_epoch * batch_size
        run.train_loss.append(loss_sum / seen)
        run.train_error.append(100.0 * (1.0 - correct / seen))
        run.test_error.append(100.0 * (1.0 - train.evaluate(model, x_test, y_test, framework=framework)[1]))
        if not math.isfinite(run.train_loss[-1]):
            run.diverged = True  # NaN weights stay NaN: nothing left to learn
            break
    run.seconds = time.perf_counter() - start
    return run


def _check_runs(runs):
    """A list of Runs from a Run, a dict of Runs (its values) or any other iterable of Runs."""
    runs = [runs] if isinstance(runs, Run) else list(runs.values()) if isinstance(runs, dict) else runs
    runs = list(runs) if isinstance(runs, (list, tuple, type({}.values()))) else None
    if not runs or not all(isinstance(run, Run) for run in runs):
        raise TypeError("runs must be a Run, or a non-empty list or dict of Runs")
    return runs


def _plain_log_ticks(axis):
    """Log-scale tick labels as plain numbers (2, 5, 10) instead of 2x10^0."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    # Label the minor ticks at 2, 3 and 5 of each decade only, or they run into each other.
    axis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "235" else ""))


def plot_error_curves(runs, key="train_error", ax=None, title=None):
    """Error (%) vs epoch for each run, like Goyal et al.'s Figure 2; a diverged run ends with an x."""
    import matplotlib.pyplot as plt

    runs = _check_runs(runs)
    if key not in ("train_error", "test_error"):
        raise ValueError(f"key must be 'train_error' or 'test_error', got {key!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    for run in runs:
        values = getattr(run, key)
        epochs = np.arange(1, len(values) + 1)
        (line,) = ax.plot(epochs, values, "o-", markersize=3, label=f"{run.label}: {values[-1]:.2f}%")
        if run.diverged:
            ax.plot(epochs[-1], values[-1], "x", color=line.get_color(), markersize=10, mew=2)
    ax.set(xlabel="epoch", ylabel=("training" if key == "train_error" else "test") + " error (%)", yscale="log",
           title=title or ("Training error (mean over each epoch's batches)" if key == "train_error"
                           else "Test error after each epoch"))
    _plain_log_ticks(ax.yaxis)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax.figure


def breakdown_batch_size(batch_sizes, errors, reference_error, tolerance=1.0):
    """The smallest batch size whose error exceeds reference + tolerance (points), or None if none does."""
    sizes, values = np.asarray(batch_sizes, dtype=float), np.asarray(errors, dtype=float)
    if sizes.ndim != 1 or sizes.shape != values.shape or sizes.size == 0:
        raise ValueError("batch_sizes and errors must be 1-D sequences of the same, non-zero length")
    reference_error = float(validation.check_number_array("reference_error", reference_error, strict=False))
    tolerance = float(validation.check_number_array("tolerance", tolerance, strict=False))
    order = np.argsort(sizes)
    for size, error in zip(sizes[order], values[order]):
        if not error <= reference_error + tolerance:  # NaN (diverged) counts as broken
            return int(size)
    return None


def plot_error_vs_batch_size(batch_sizes, errors, reference_error, tolerance=1.0, ax=None, label=None):
    """Final error vs batch size (log2 axis) with a reference +- tolerance band, like Goyal et al.'s Figure 1."""
    import matplotlib.pyplot as plt

    breakdown = breakdown_batch_size(batch_sizes, errors, reference_error, tolerance)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(batch_sizes, errors, "o-", label=label or "linear scaling + warmup")
    ax.axhspan(reference_error - tolerance, reference_error + tolerance, color="tab:green", alpha=0.15,
               label=f"small batch {reference_error:.2f}% ± {tolerance:g} point")
    if breakdown is not None:
        ax.axvline(breakdown, color="tab:red", linestyle=":", label=f"breaks down at batch {breakdown}")
    ax.set_xscale("log", base=2)
    ax.set(yscale="log", xlabel="batch size", ylabel="final test error (%)")
    ax.set_xticks(batch_sizes, [str(size) for size in batch_sizes])
    _plain_log_ticks(ax.yaxis)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax.figure


def format_table(runs, reference=None):
    """A text table: batch size, steps, peak rate, final training and test error, and the gap to ``reference``."""
    runs = _check_runs(runs)
    reference = reference if reference is not None else runs[0]
    lines = [f"{'run':<34} {'batch':>6} {'steps':>6} {'peak lr':>8} {'train err':>9} {'test err':>9} "
             f"{'vs small':>9}"]
    for run in runs:
        gap = run.final_test_error - reference.final_test_error
        steps = len(run.train_error) * run.steps_per_epoch
        lines.append(f"{run.label:<34} {run.batch_size:>6} {steps:>6} {np.max(run.learning_rates):>8.3g} "
                     f"{run.train_error[-1]:>8.2f}% {run.final_test_error:>8.2f}% {gap:>+8.2f}"
                     + (" (diverged)" if run.diverged else ""))
    return "\n".join(lines)
