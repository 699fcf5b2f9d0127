"""Zeiler & Fergus's depth ablation, at workshop scale: a harder task, the paper's numbers, the training loop.

Zeiler and Fergus removed layers from their AlexNet-style network and retrained it on ImageNet
(M. D. Zeiler and R. Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014, Table 3).
Removing the middle convolutions (3, 4) or the fully-connected layers (6, 7) cost a few points of
top-1 error; removing both left a 4-layer network that was dramatically worse. This module repeats
the experiment with ``models.alexnet(variant="small", remove=...)`` in minutes on two cores:

- ``cluttered_mnist(images, labels, canvas_size=64, ...)``: each digit (or any grey item, e.g. Fashion-MNIST
  enlarged) at a random place on a larger canvas, among fragments of other items (seeded, deterministic). Plain MNIST is too easy for the
  experiment (measured: every variant lands within about 2 points of the others at 2,000 images).
  Cluttered MNIST follows Mnih et al. 2014 ("Recurrent Models of Visual Attention": 60x60 canvas,
  four 8x8 fragments); the default here is harder, 64x64 with eight 8x8 fragments.
- ``fashion_pairs(images, labels, num_pairs, canvas_shape=(40, 80))``: same or different? Two items side by
  side on one canvas, label 1 when they are of the same class: a task that needs features composed over
  positions far apart, which is what conv3-conv4 (a wider receptive field) and fc6-fc7 (a nonlinear
  combination of places) each provide; notebook 04's task.
- ``ZEILER_FERGUS_TABLE3``: the paper's ImageNet validation top-1 errors for the five removals.
- ``run(x_train, y_train, x_test, y_test, removals=..., seeds=(0, 1, 2), validation_data=...)``: builds,
  counts (``cost.count``), trains (``train.train``; Adam or SGD with momentum, optional warmup + cosine
  schedule and batch normalization, one recipe for all variants) and tests each variant once per seed;
  returns one dict per variant with parameters, MACs, training time, the per-seed test errors and their
  ``test_error_mean`` / ``test_error_std`` (%), and the mean learning curve (on the validation split
  when given). ``checkpoint_dir`` keeps one checkpoint per (variant, seed).
- ``table(rows)`` (a DataFrame, test errors as ``mean ± std %``) and ``plot(rows)``: ours next to the paper's.

Used by notebook 04-alexnet-depth-ablation.
"""
import collections
import time

import numpy as np

from . import tables, validation

# M. D. Zeiler and R. Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
# Table 3: ImageNet 2012 validation top-1 error (%) with layers removed (numbers as in the lecture).
ZEILER_FERGUS_TABLE3 = {(): 40.5, (3, 4): 45.4, (7,): 40.0, (6, 7): 44.8, (3, 4, 6, 7): 71.3}
ZEILER_FERGUS_CITATION = ('M. D. Zeiler and R. Fergus, "Visualizing and Understanding Convolutional Networks", '
                          "ECCV 2014, Table 3")

ClutteredSet = collections.namedtuple("ClutteredSet", "images labels positions")
ClutteredSet.__doc__ = "Canvas images (N, S, S) uint8, their labels, and each digit's (row, column) corner."


# ---------------------------------------------------------------------------------------------
# The task: cluttered MNIST
# ---------------------------------------------------------------------------------------------
def cluttered_mnist(images, labels, canvas_size=64, num_fragments=8, fragment_size=8, seed=0):
    """Digits at random places on a canvas with fragments of other digits as clutter; a ClutteredSet."""
    images = validation.check_array(images, "images", ndim=3)
    labels = validation.check_array(labels, "labels", ndim=1, kinds="ui")
    if images.ndim != 3 or images.shape[0] < 2 or images.dtype != np.uint8:
        raise ValueError(f"images must be grey uint8 digits shaped (N, H, W) with N >= 2, "
                         f"got shape {images.shape} and dtype {images.dtype}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got {labels.shape}")
    count, height, width = images.shape
    canvas_size = validation.check_integer(canvas_size, "canvas_size", minimum=max(height, width))
    num_fragments = validation.check_integer(num_fragments, "num_fragments", minimum=0)
    fragment_size = validation.check_integer(fragment_size, "fragment_size", minimum=1)
    seed = validation.check_seed(seed, allow_none=False)
    # Fragments are cut from the middle of the other digits, where MNIST's ink is (the digits sit in a
    # 20x20 box centred in 28x28), so that a fragment is rarely empty.
    margin_rows, margin_columns = (height - 20) // 2 if height >= 24 else 0, (width - 20) // 2 if width >= 24 else 0
    last_row, last_column = height - margin_rows - fragment_size, width - margin_columns - fragment_size
    if last_row < margin_rows or last_column < margin_columns:
        raise ValueError(f"fragment_size {fragment_size} is larger than the digits' ink box "
                         f"({height - 2 * margin_rows}x{width - 2 * margin_columns})")
    rng = np.random.default_rng(seed)
    canvases = np.zeros((count, canvas_size, canvas_size), dtype=np.uint8)
    positions = np.stack([rng.integers(0, canvas_size - height + 1, size=count),
                          rng.integers(0, canvas_size - width + 1, size=count)], axis=1)
    # All random numbers are drawn up front, in a fixed order: the result depends on the seed only.
    sources = (np.arange(count)[:, None] + rng.integers(1, count, size=(count, num_fragments))) % count
    cut_rows = rng.integers(margin_rows, last_row + 1, size=(count, num_fragments))
    cut_columns = rng.integers(margin_columns, last_column + 1, size=(count, num_fragments))
    paste_rows = rng.integers(0, canvas_size - fragment_size + 1, size=(count, num_fragments))
    paste_columns = rng.integers(0, canvas_size - fragment_size + 1, size=(count, num_fragments))
    for index in range(count):
        canvas = canvases[index]
        for piece in range(num_fragments):  # never the digit itself: sources are other images
            row, column = cut_rows[index, piece], cut_columns[index, piece]
            fragment = images[sources[index, piece], row:row + fragment_size, column:column + fragment_size]
            row, column = paste_rows[index, piece], paste_columns[index, piece]
            target = canvas[row:row + fragment_size, column:column + fragment_size]
            np.maximum(target, fragment, out=target)
        row, column = positions[index]
        target = canvas[row:row + height, column:column + width]
        # Maximum, not overwrite: clutter may touch the digit but never erases its strokes.
        np.maximum(target, images[index], out=target)
    return ClutteredSet(canvases, labels.copy(), positions)


# ---------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------
def fashion_pairs(images, labels, num_pairs, canvas_shape=(40, 80), seed=0):
    """Same or different? Two items on one canvas, one in each half, at random places; label 1 when both
    are of the same class, 0 otherwise (balanced). The answer needs the two items compared, i.e. features
    composed over positions half a canvas apart: what the middle convolutions (a wide receptive field) or
    the fully-connected layers give (the same-different task of Fleuret et al. 2011, "Comparing machines
    and humans on a visual categorization test", PNAS; Kim, Ricci & Serre 2018, "Not-So-CLEVR")."""
    images = validation.check_array(images, "images", ndim=3, dtype=None)
    labels = validation.check_array(labels, "labels", ndim=1, kinds="iu")
    if len(images) != len(labels):
        raise ValueError(f"images and labels must have the same length, got {len(images)} and {len(labels)}")
    num_pairs = validation.check_positive_int(num_pairs, "num_pairs")
    canvas_shape = validation.check_shape(canvas_shape, "canvas_shape", length=2)
    seed = validation.check_seed(seed)
    size = images.shape[1]
    height, width = canvas_shape
    if images.shape[1] != images.shape[2] or height < size or width < 2 * size:
        raise ValueError(f"canvas_shape {canvas_shape} must hold two {size}x{size} items side by side "
                         f"(height >= {size}, width >= {2 * size})")
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError("labels must hold at least two classes (a different pair needs two)")
    rng = np.random.default_rng(seed)
    by_class = {label: np.flatnonzero(labels == label) for label in classes}
    canvases = np.zeros((num_pairs, height, width), np.uint8)
    same = rng.random(num_pairs) < 0.5
    first = rng.choice(classes, num_pairs)
    other = np.array([rng.choice(classes[classes != label]) for label in first])
    second = np.where(same, first, other)
    positions = np.empty((num_pairs, 4), np.int64)
    for index in range(num_pairs):
        for half, label in enumerate((first[index], second[index])):
            item = images[rng.choice(by_class[label])]
            row = rng.integers(0, height - size + 1)
            column = half * (width // 2) + rng.integers(0, width // 2 - size + 1)
            canvases[index, row:row + size, column:column + size] = item
            positions[index, 2 * half:2 * half + 2] = row, column
    return ClutteredSet(canvases, same.astype(np.int64), positions)


def variant_name(remove):
    """"full" or "without 3, 4": how the tables name a removal."""
    return "full" if not remove else "without " + ", ".join(map(str, remove))


def _check_removals(removals):
    """A list of tuples of layer numbers: ``[(), (3, 4)]``; ``(3, 4)`` alone is refused (say ``[(3, 4)]``)."""
    items = validation.check_sequence(removals, "removals")
    checked = []
    for remove in items:
        if validation.is_integer(remove):
            raise TypeError(f"removals must be a list of tuples of layer numbers, like [(), (3, 4)]; got "
                            f"{removals!r} (for one variant write [{tuple(items)!r}])")
        layers = validation.check_sequence(remove, "removals", allow_empty=True)
        if not all(validation.is_integer(layer) and 1 <= layer <= 8 for layer in layers):
            raise ValueError(f"removals must hold tuples of layer numbers 1-8, got {remove!r}")
        checked.append(tuple(int(layer) for layer in layers))
    return checked


def check_seeds(seeds):
    """``seeds`` as a tuple of distinct seeds (integers >= 0), at least one; a clear error otherwise."""
    if validation.is_integer(seeds):
        raise TypeError(f"seeds must be a sequence of integer seeds such as (0, 1, 2), got {seeds!r} "
                        f"(for one seed write ({seeds!r},))")
    items = validation.check_sequence(seeds, "seeds")
    checked = tuple(validation.check_seed(seed, allow_none=False, name="seeds") for seed in items)
    if len(set(checked)) != len(checked):
        raise ValueError(f"seeds must be distinct (a repeated seed repeats the same run), got {tuple(items)!r}")
    return checked


def _mean_std(values):
    """Mean and sample standard deviation (ddof 1; NaN for a single value) of a list of errors."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def run(x_train, y_train, x_test, y_test, removals=None, num_epochs=15, batch_size=64, learning_rate=0.001,
        optimizer="adam", seed=0, dropout=0.5, progress=False, verbose=True, checkpoint_dir=None, seeds=None,
        validation_data=None, warmup_epochs=0, cosine=False, batch_norm=False):
    """Train and test ``models.alexnet(variant="small", remove=r)`` for each r and each seed; one dict per variant.

    ``seeds``: the seeds to repeat every variant with (None: ``(seed,)``); the row's ``test_error`` is the mean
    over them, ``test_error_std`` their sample standard deviation, ``test_errors`` the per-seed errors (%).
    ``validation_data=(x_val, y_val)``: the learning curves are measured on it (choose the recipe there) and the
    test set is evaluated once, after the last epoch; without it the curves are on the test set (nothing is
    chosen from them). ``warmup_epochs`` / ``cosine``: linear warmup, then cosine decay to 0 at the last step.
    ``checkpoint_dir``: a folder where each (variant, seed) keeps its own checkpoint (named after its
    settings), so that a restarted notebook 04 resumes instead of starting again (None: no checkpoints)."""
    import keras

    from . import checkpoint, cost, models, schedules, train

    removals = _check_removals(models.ZEILER_FERGUS_REMOVALS if removals is None else removals)
    num_epochs = validation.check_positive_int(num_epochs, "num_epochs")
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    learning_rate = validation.check_positive_number(learning_rate, "learning_rate")
    optimizer = validation.check_choice(optimizer, "optimizer", train.OPTIMIZER_CHOICES)
    seeds = check_seeds((validation.check_seed(seed, allow_none=False),) if seeds is None else seeds)
    dropout = validation.check_fraction(dropout, "dropout", inclusive=False)
    warmup_epochs = validation.check_number(warmup_epochs, "warmup_epochs", minimum=0)
    for flag, name in ((progress, "progress"), (verbose, "verbose"), (cosine, "cosine"), (batch_norm, "batch_norm")):
        validation.check_bool(flag, name)
    if checkpoint_dir is not None:
        validation.check_path(checkpoint_dir, "checkpoint_dir")
    # Checked (and converted) here once; train.train gets the arrays as given and converts them itself, so
    # that no second float copy of the training set stays in memory during training.
    prepared, labels = train.prepare_dataset(x_train, y_train, "x_train", "y_train")
    input_shape, fingerprint = tuple(prepared.shape[1:]), checkpoint.data_fingerprint(prepared, labels)
    del prepared
    shapes = {"x_test": tuple(train.prepare_dataset(x_test, y_test, "x_test", "y_test")[0].shape[1:])}
    curve_data = (x_test, y_test)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (x_val, y_val)")
        shapes["validation_data"] = tuple(train.prepare_dataset(
            *validation_data, "validation_data[0]", "validation_data[1]")[0].shape[1:])
        curve_data = tuple(validation_data)
    for name, shape in shapes.items():
        if shape != input_shape:
            raise ValueError(f"{name} holds images of shape {shape}, x_train of {input_shape}")
    num_classes = int(max(np.max(y_train), np.max(y_test))) + 1
    if num_classes < 2:
        raise ValueError("y_train and y_test must hold at least 2 classes")
    if batch_size > len(labels):
        raise ValueError(f"batch_size ({batch_size}) is larger than the number of training images ({len(labels)})")
    steps_per_epoch = len(labels) // batch_size
    rate = learning_rate
    if warmup_epochs or cosine:
        warmup = int(round(warmup_epochs * steps_per_epoch))
        rate = schedules.WarmupStepSchedule(learning_rate, warmup_steps=warmup,
                                            cosine_decay_steps=num_epochs * steps_per_epoch if cosine else None)
    recipe = {"num_epochs": num_epochs, "batch_size": batch_size, "learning_rate": learning_rate,
              "optimizer": optimizer, "dropout": dropout}
    if cosine or warmup_epochs or batch_norm or validation_data is not None:  # older runs keep their file names
        recipe.update(warmup_epochs=warmup_epochs, cosine=cosine, batch_norm=batch_norm,
                      validation=validation_data is not None)
    rows = []
    for remove in removals:
        key = tuple(sorted(remove))
        row = {"variant": variant_name(key), "remove": key, "layers": 8 - len(key), "seeds": list(seeds),
               "test_errors": [], "train_errors": [], "curves": [], "seconds": []}
        for run_seed in seeds:
            keras.utils.set_random_seed(run_seed)  # every variant starts from the same seeds
            model = models.alexnet("keras", "small", remove=remove, num_classes=num_classes,
                                   input_shape=input_shape, dropout=dropout, batch_norm=batch_norm)
            counted = cost.count(model)
            path = None if checkpoint_dir is None else checkpoint.run_path(
                checkpoint_dir, variant_name(remove), remove=remove, seed=run_seed, data=fingerprint, **recipe)
            start = time.perf_counter()
            history = train.train(model, x_train, y_train, num_epochs=num_epochs, batch_size=batch_size,
                                  learning_rate=rate, optimizer=optimizer, validation_data=curve_data,
                                  progress=progress, seed=run_seed, checkpoint=path)
            # The table reports the last epoch: nothing is selected on the test set.
            accuracy = history.val_accuracy[-1] if validation_data is None else \
                train.evaluate(model, x_test, y_test)[1]
            row["seconds"].append(time.perf_counter() - start)
            row["test_errors"].append(round(100 * (1 - accuracy), 2))
            row["train_errors"].append(round(100 * (1 - history.accuracy[-1]), 2))
            row["curves"].append([round(100 * (1 - value), 2) for value in history.val_accuracy])
            row.update(params=counted.params, macs=counted.macs,
                       images_per_second=round(history.steady_images_per_second))
            if verbose:
                print(f"{row['variant']:<18} seed {run_seed}: {counted.params:>9,} params "
                      f"{counted.macs / 1e6:6.2f} M MACs  trained in {row['seconds'][-1]:5.1f} s  "
                      f"test error {row['test_errors'][-1]:5.1f} %", flush=True)
            del model
            keras.backend.clear_session()
        mean, std = _mean_std(row["test_errors"])
        row.update(test_error_mean=round(mean, 2), test_error_std=round(std, 2), test_error=round(mean, 2),
                   train_error=round(_mean_std(row["train_errors"])[0], 2),
                   train_seconds=round(float(np.mean(row["seconds"])), 1),
                   test_error_curve=[round(float(value), 2) for value in np.mean(row["curves"], axis=0)],
                   curve_set="test" if validation_data is None else "validation",
                   paper_error=ZEILER_FERGUS_TABLE3.get(key, float("nan")))
        rows.append(row)
    full = next((row for row in rows if not row["remove"]), None)
    for row in rows:  # the change against the full network, ours and the paper's
        row["change"] = round(row["test_error"] - full["test_error"], 2) if full else float("nan")
        row["paper_change"] = round(row["paper_error"] - ZEILER_FERGUS_TABLE3[()], 1)
    return rows


TABLE_COLUMNS = ("variant", "layers", "params", "macs", "train_seconds", "train_error", "test_error", "change",
                 "paper_error", "paper_change")


def _check_rows(rows, needed=("variant", "test_error", "paper_error", "test_error_curve", "train_seconds", "macs")):
    rows = validation.check_sequence(rows, "rows")
    needed = set(needed)
    if not all(isinstance(row, dict) and needed <= set(row) for row in rows):
        raise TypeError("rows must be the list of dicts that ablation.run returns")
    return rows


def mean_std_text(row):
    """``"23.4 ± 1.2 %"``: a row's test error over its seeds (just ``"23.4 %"`` for a single seed)."""
    mean, std = row.get("test_error_mean", row.get("test_error")), row.get("test_error_std", float("nan"))
    return f"{mean:.1f} %" if std != std else f"{mean:.1f} ± {std:.1f} %"


def table(rows, columns=None):
    """A DataFrame of ``run``'s rows, one per variant (the columns in ``TABLE_COLUMNS`` by default; the test
    error as ``mean ± std %`` over the seeds); notebook 04 shows it next to the paper's errors."""
    rows = _check_rows(rows, needed=("variant",))  # also the counted-only rows of notebook 04's section 2
    columns = TABLE_COLUMNS if columns is None else validation.check_sequence(columns, "columns")
    columns = [column for column in columns if any(column in row for row in rows)]
    shown = [dict(row, test_error=mean_std_text(row)) if "test_error" in row else row for row in rows]
    seeds = next((len(row["seeds"]) for row in rows if "seeds" in row), 1)
    return tables.table(shown, columns=columns, index="variant", rename={
        "train_seconds": "train seconds (per run)", "train_error": "train error (%)",
        "test_error": "test error" + (f" (mean ± std over {seeds} seeds)" if seeds > 1 else ""),
        "change": "change (points)", "paper_error": "paper error (%)", "paper_change": "paper change (points)"})


def plot(rows, title="Small AlexNet on a cluttered task vs AlexNet-style on ImageNet (Zeiler & Fergus 2014)"):
    """Error per variant (ours, the paper's), our learning curves, and our training time; returns the figure."""
    import matplotlib.pyplot as plt

    rows = _check_rows(rows)
    validation.check_string(title, "title", allow_empty=True)
    names = [row["variant"] for row in rows]
    positions = np.arange(len(rows))
    figure, (bars, curves, times) = plt.subplots(1, 3, figsize=(16, 4.2))
    bars.bar(positions - 0.2, [row["test_error"] for row in rows], 0.4, label="ours: test (mean ± std over seeds)",
             yerr=[row.get("test_error_std", 0) if row.get("test_error_std", 0) == row.get("test_error_std", 0)
                   else 0 for row in rows], capsize=3)
    bars.bar(positions + 0.2, [row["paper_error"] for row in rows], 0.4, label="paper: ImageNet val top-1")
    bars.set_xticks(positions)
    bars.set_xticklabels(names, rotation=20, fontsize=8)
    bars.set(ylabel="error (%)", title="error after training")
    bars.legend(fontsize=8)
    bars.grid(axis="y", alpha=0.3)
    for row in rows:
        epochs = range(1, len(row["test_error_curve"]) + 1)
        curves.plot(epochs, row["test_error_curve"], "o-", markersize=3, label=row["variant"])
    curve_set = rows[0].get("curve_set", "test") if rows else "test"
    curves.set(xlabel="epoch", ylabel=f"{curve_set} error (%)", title=f"ours, epoch by epoch ({curve_set}, mean)")
    curves.legend(fontsize=8)
    curves.grid(alpha=0.3)
    times.bar(positions, [row["train_seconds"] for row in rows], color="tab:gray")
    for position, row in zip(positions, rows):
        times.annotate(f"{row['macs'] / 1e6:.1f} M MACs", (position, row["train_seconds"]), ha="center",
                       va="bottom", fontsize=8)
    times.set_xticks(positions)
    times.set_xticklabels(names, rotation=20, fontsize=8)
    times.set(ylabel="seconds per run", title="our training time (MACs per image on top)")
    times.grid(axis="y", alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    return figure
