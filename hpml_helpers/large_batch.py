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
  error, in percent, trained by ``train.train``. A run whose loss turns NaN or infinite stops there and says
  so (``diverged``). ``checkpoint_dir=`` keeps each run's checkpoint there (a restarted kernel resumes it).
- ``plot_error_curves``, ``plot_error_vs_batch_size``, ``breakdown_batch_size``, ``table`` (a DataFrame): results.
Used by notebook 09-large-batch-training.
"""
import dataclasses
import functools
import math
import time

import numpy as np

from . import checkpoint, schedules, tables, validation
from .models import FRAMEWORK_CHOICES

RULES = ("naive", "linear", "linear+warmup")


def learning_rate_for(rule, batch_size, base_batch_size, base_learning_rate, steps_per_epoch, warmup_epochs=1.0,
                      decay_epochs=(), decay_factor=0.1):
    """The learning rate of ``rule`` for ``batch_size``: a number, or a WarmupStepSchedule in steps."""
    rule = validation.check_choice(rule, "rule", RULES)
    base_batch_size = validation.check_positive_int(base_batch_size, "base_batch_size")
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    steps_per_epoch = validation.check_positive_int(steps_per_epoch, "steps_per_epoch")
    warmup_epochs = validation.check_number(warmup_epochs, "warmup_epochs", minimum=0)
    decay_epochs = validation.check_sequence(decay_epochs, "decay_epochs", allow_empty=True)
    for index, epoch in enumerate(decay_epochs):
        validation.check_number(epoch, f"decay_epochs[{index}]", minimum=0)
    decay_factor = validation.check_number(decay_factor, "decay_factor", minimum=0, strict=True)
    if decay_factor > 1:
        raise ValueError(f"decay_factor must be in (0, 1] (the rate is multiplied by it), got {decay_factor}")
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


def _builder_name(builder):
    """A name for a model builder that stays the same across kernels (a repr would hold a memory address)."""
    if builder is None:
        return "lenet5"
    if isinstance(builder, functools.partial):
        return f"{_builder_name(builder.func)}{sorted(builder.keywords.items())}"
    return getattr(builder, "__qualname__", type(builder).__name__)


def train_run(x_train, y_train, x_test, y_test, batch_size, learning_rate, num_epochs, framework="keras",
              momentum=0.9, model_builder=None, seed=0, label=None, checkpoint_dir=None):
    """Train a fresh model (same initial weights for a given seed) with SGD + momentum; returns a Run.

    ``train.train`` does the training (the test set is its validation data, scored after every epoch);
    ``checkpoint_dir``: a folder where this run keeps its own checkpoint (named after its settings), so
    that a restarted notebook 09 continues the run instead of starting it again (None: no checkpoint)."""
    from . import models, train

    framework = validation.check_choice(framework, "framework", FRAMEWORK_CHOICES)
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    num_epochs = validation.check_positive_int(num_epochs, "num_epochs")
    learning_rate = train.check_learning_rate(learning_rate)
    momentum = validation.check_fraction(momentum, "momentum", inclusive=False)
    seed = validation.check_seed(seed, allow_none=False)
    if model_builder is not None and not callable(model_builder):
        raise TypeError(f"model_builder must be a function like models.lenet5, got {model_builder!r}")
    if label is not None:
        validation.check_string(label, "label")
    if checkpoint_dir is not None:
        validation.check_path(checkpoint_dir, "checkpoint_dir")
    if framework == "keras":
        import keras

        keras.utils.set_random_seed(seed)  # the same initial weights in every run
    else:
        import mxnet as mx

        mx.random.seed(seed)
    model = (model_builder or models.lenet5)(framework=framework)
    model_io = train.check_model(model, framework)
    images, labels = train.prepare_dataset(x_train, y_train, "x_train", "y_train", model_io)
    train.prepare_dataset(x_test, y_test, "x_test", "y_test", model_io)  # checked now, not after the training
    steps_per_epoch = len(images) // batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size ({batch_size}) is larger than the number of training images ({len(images)})")
    path = None if checkpoint_dir is None else checkpoint.run_path(
        checkpoint_dir, label or f"batch{batch_size}", framework=framework, batch_size=batch_size,
        num_epochs=num_epochs, momentum=momentum, seed=seed, data=checkpoint.data_fingerprint(images, labels),
        learning_rate=learning_rate.get_config() if callable(learning_rate) else learning_rate,
        model=_builder_name(model_builder))
    schedule = learning_rate if callable(learning_rate) else (lambda steps: np.full(len(steps), learning_rate))
    run = Run(label or f"batch {batch_size}", batch_size, steps_per_epoch,
              np.asarray(schedule(np.arange(steps_per_epoch * num_epochs)), dtype=float))
    start = time.perf_counter()
    try:  # HPML: SGD with momentum (Goyal's 0.9) through the kit's one training loop
        history = train.train(model, x_train, y_train, framework=framework, num_epochs=num_epochs,
                              batch_size=batch_size, learning_rate=learning_rate, optimizer="sgd", momentum=momentum,
                              validation_data=(x_test, y_test), progress=False, seed=seed, checkpoint=path)
    except train.TrainingDiverged as error:
        history, run.diverged = error.history, True  # stopped at the epoch whose loss became NaN/inf
    run.train_loss = list(history.loss)
    run.train_error = [100.0 * (1.0 - accuracy) for accuracy in history.accuracy]
    run.test_error = [100.0 * (1.0 - accuracy) for accuracy in history.val_accuracy]
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
    sizes = validation.check_whole_array("batch_sizes", batch_sizes).astype(float)
    values = validation.check_array(errors, "errors", ndim=1, finite=False, dtype=float)  # NaN: diverged
    if sizes.ndim != 1 or sizes.shape != values.shape:
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


def table(runs, reference=None):
    """A DataFrame, one row per run: batch size, updates, peak rate, final training and test error (%), and the
    test error's change against ``reference`` (the first run by default). Shown by notebook 09."""
    runs = _check_runs(runs)
    if reference is not None and not isinstance(reference, Run):
        raise TypeError(f"reference must be a Run or None, got {type(reference).__name__}")
    reference = reference if reference is not None else runs[0]
    rows = [{"run": run.label, "batch": run.batch_size, "steps": len(run.train_error) * run.steps_per_epoch,
             "peak_lr": float(np.max(run.learning_rates)) if len(run.learning_rates) else math.nan,
             "train_error": run.train_error[-1] if run.train_error else math.nan,
             "test_error": run.final_test_error, "change": run.final_test_error - reference.final_test_error,
             "diverged": run.diverged} for run in runs]
    return tables.table(rows, index="run", rename={
        "batch": "batch size", "steps": "updates", "peak_lr": "peak learning rate", "train_error": "train error (%)",
        "test_error": "test error (%)", "change": "vs reference (points)"})
