"""Transfer learning: pretrain a CNN on one task, then reuse what it learned for another task with few labels.

The lecture's claim (slide 78): starting from a pretrained network and fine-tuning it converges faster and
ends more accurate than training the same network from scratch. Yosinski et al. 2014 ("How transferable are
features in deep neural networks?", NeurIPS, arXiv:1411.1792) tested it by splitting ImageNet's classes into two
halves A and B, training on A and transferring the first n layers to B; here A is MNIST digits 0-4, B digits 5-9.
- ``class_subset``: the images of some classes, relabelled 0, 1, ...; ``sample_per_class``: exactly k labelled
  examples per class (nested: a seed's 10 are among its 30); ``upscale_digits``: 8x8 digits drawn like MNIST's.
- ``backbone_layers(model)``: the convolutional feature extractor; the layers after it are the head (classifier).
- ``transfer_model(pretrained, num_classes, transfer_layers, freeze, seed)``: copy some layers, give the rest fresh
  weights and a new output layer, optionally freeze the copies (``transfer_layers=()``: training from scratch).
- ``train_run(..., strategy)``: "scratch", "fine-tune" (copied backbone, new head, all layers train) or "frozen"
  (copied backbone frozen, only the new head trains), ``train.train`` for a fixed number of updates.
- ``label_sweep``, ``time_to_accuracy``, ``table`` (a DataFrame), ``plot_curves``, ``plot_accuracy_vs_labels``: results.
A real ImageNet backbone (MobileNetV2, when Keras has its weights cached) is in ``imagenet_backbone``.
Used by notebook 10-transfer-learning.
"""
import dataclasses
import math

import numpy as np

from . import tables, validation

STRATEGIES = ("scratch", "fine-tune", "frozen")
STRATEGY_LABELS = {"scratch": "from scratch", "fine-tune": "fine-tuned (all layers)",
                   "frozen": "frozen backbone (new head only)"}


def _check_seed(seed):
    return validation.check_seed(seed, allow_none=False)


def _check_num_classes(num_classes):
    return validation.check_integer(num_classes, "num_classes", minimum=2)


def _labels(labels, name="labels"):
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or labels.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a non-empty 1-D array of integer class labels, got shape {labels.shape} "
                         f"and dtype {labels.dtype}")
    return labels


# --- Data: tasks, labelled subsets, the second domain -------------------------------------------------------
def class_subset(x, y, classes):
    """The images of ``classes`` and their labels renumbered 0, 1, ... in the order ``classes`` lists them."""
    x, y = validation.check_array(x, "x", ndim=(3, 4)), _labels(y, "y")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} images but y has {len(y)} labels")
    try:
        classes = [int(c) for c in classes]
    except (TypeError, ValueError):
        raise TypeError(f"classes must be a sequence of integer labels, got {classes!r}") from None
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"classes must list at least 2 different labels, got {classes!r}")
    missing = [c for c in classes if not np.any(y == c)]
    if missing:
        raise ValueError(f"classes lists {missing}, which y does not contain")
    mask = np.isin(y, classes)
    renumber = np.zeros(max(int(y.max()), max(classes)) + 1, dtype=np.int32)
    renumber[classes] = np.arange(len(classes))
    return x[mask], renumber[y[mask]]


def sample_per_class(labels, num_per_class, seed=0):
    """Sorted indices of exactly ``num_per_class`` random examples of every class (None: all of them)."""
    labels, seed = _labels(labels), _check_seed(seed)
    if num_per_class is None:
        return np.arange(len(labels))
    num_per_class = validation.check_positive_int(num_per_class, "num_per_class")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if num_per_class > len(members):
            raise ValueError(f"num_per_class ({num_per_class}) is more than class {label} has ({len(members)})")
        # One full permutation per class whatever k is, so a seed's smaller subsets lie inside its larger
        # ones: the accuracy-vs-labels curve then adds labels instead of drawing a new set each time.
        chosen.append(rng.permutation(members)[:num_per_class])
    return np.sort(np.concatenate(chosen))


def upscale_digits(images, digit_size=20, canvas_size=28):
    """Small grey digits (N, h, w), uint8, enlarged to digit_size and centred in canvas_size, like MNIST's."""
    from scipy import ndimage

    images = validation.check_array(images, "images", ndim=3)
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(f"images must have shape (N, height, width), got {images.shape}")
    digit_size, canvas_size = (validation.check_positive_int(value, name) for value, name in ((digit_size, "digit_size"),
                                                                                     (canvas_size, "canvas_size")))
    if digit_size > canvas_size:
        raise ValueError(f"digit_size ({digit_size}) must fit in canvas_size ({canvas_size})")
    zoom = (1, digit_size / images.shape[1], digit_size / images.shape[2])
    # Bilinear: grey, smooth edges like MNIST's anti-aliased strokes (nearest neighbour would draw 2.5-pixel
    # blocks). MNIST's digits were also scaled into a 20x20 box and centred in a 28x28 image.
    digits = np.clip(ndimage.zoom(images.astype(np.float32), zoom, order=1, grid_mode=True, mode="nearest"), 0, 255)
    margin = (canvas_size - digit_size) // 2
    canvas = np.zeros((len(images), canvas_size, canvas_size), dtype=np.uint8)
    canvas[:, margin:margin + digit_size, margin:margin + digit_size] = np.rint(digits)
    return canvas


# --- Models: which layers to copy, the new head, freezing ---------------------------------------------------


def _check_history(history, name="history"):
    if not all(hasattr(history, key) for key in ("val_accuracy", "seconds", "first_step_seconds")):
        raise TypeError(f"{name} must be a train.History, got {type(history).__name__}")
    return history


def weighted_layers(model):
    """Names of the layers that have weights, input to output."""
    validation.check_keras_model(model)
    return [layer.name for layer in model.layers if layer.weights]


def backbone_layers(model):
    """The weighted layers before the first Flatten/global pooling: the convolutional feature extractor."""
    import keras

    validation.check_keras_model(model)
    names = []
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Flatten, keras.layers.GlobalAveragePooling2D,
                              keras.layers.GlobalMaxPooling2D)):
            return names
        if layer.weights:
            names.append(layer.name)
    raise ValueError(f"model {model.name!r} has no Flatten or global pooling layer: where does its backbone end?")


def trainable_parameters(model):
    """(trainable, frozen) numbers of weights: what the optimizer updates, and what it never sees."""
    validation.check_keras_model(model)
    trainable = sum(int(np.prod(variable.shape)) for variable in model.trainable_variables)
    frozen = sum(int(np.prod(variable.shape)) for variable in model.non_trainable_variables)
    return trainable, frozen


def transfer_model(pretrained, num_classes, transfer_layers=(), freeze=False, seed=0):
    """The pretrained architecture with ``transfer_layers`` copied (frozen if asked), the rest new, a new output."""
    import keras

    if not isinstance(pretrained, keras.Sequential):
        raise TypeError(f"pretrained must be a keras.Sequential model (a chain of layers, like models.lenet5), "
                        f"got {type(pretrained).__name__}")
    num_classes, seed = _check_num_classes(num_classes), _check_seed(seed)
    if not isinstance(freeze, bool):
        raise TypeError(f"freeze must be True or False, got {freeze!r}")
    if isinstance(transfer_layers, str):
        transfer_layers = (transfer_layers,)
    transfer_layers = tuple(validation.check_sequence(transfer_layers, "transfer_layers", allow_empty=True))
    output = pretrained.layers[-1]
    copyable = weighted_layers(pretrained)[:-1]
    if not isinstance(output, keras.layers.Dense):
        raise ValueError(f"the last layer of pretrained must be Dense (the output layer), got {type(output).__name__}")
    bad = [name for name in transfer_layers if name not in copyable]
    if bad:
        raise ValueError(f"transfer_layers holds {bad}; choose from {copyable} (the output layer is always new: "
                         "the new task has its own classes)")
    keras.utils.set_random_seed(seed)  # fresh weights: the same for every strategy with this seed
    clone = keras.models.clone_model(pretrained)  # same architecture, newly initialised weights
    config = output.get_config() | {"units": num_classes}
    head = keras.layers.Dense.from_config(config)  # HPML: replace the output layer: one unit per new class
    model = keras.Sequential([keras.Input(pretrained.input_shape[1:], name="images"), *clone.layers[:-1], head],
                             name=f"{pretrained.name}_transfer")
    for name in transfer_layers:
        layer = model.get_layer(name)
        layer.set_weights(pretrained.get_layer(name).get_weights())  # HPML: reuse what task A taught this layer
        layer.trainable = not freeze  # HPML: frozen: left out of trainable_variables, the optimizer never moves it
    return model


# --- Training runs ------------------------------------------------------------------------------------------
@dataclasses.dataclass
class TransferRun:
    """One training run on the target task: how it was made and how it did."""

    strategy: str
    num_images: int
    seed: int
    history: object           # train.History
    test_accuracy: float
    trainable: int            # weights the optimizer updated
    frozen: int               # weights copied and kept fixed
    model: object = dataclasses.field(repr=False, default=None)

    @property
    def label(self):
        """How the network was trained, in words."""
        return STRATEGY_LABELS.get(self.strategy, self.strategy)


def epochs_for_steps(num_images, batch_size, num_steps):
    """Whole epochs that give at least ``num_steps`` updates of full batches."""
    num_images, batch_size, num_steps = (validation.check_positive_int(value, name) for value, name in (
        (num_images, "num_images"), (batch_size, "batch_size"), (num_steps, "num_steps")))
    if batch_size > num_images:
        raise ValueError(f"batch_size ({batch_size}) is larger than num_images ({num_images})")
    return math.ceil(num_steps / (num_images // batch_size))


def train_run(pretrained, x_train, y_train, x_test, y_test, strategy="fine-tune", transfer_layers=None,
              num_steps=300, batch_size=32, learning_rate=1e-3, curves=False, seed=0, progress=False,
              checkpoint_dir=None):
    """Train one network on the target task for ``num_steps`` updates (Adam); returns a TransferRun.
    ``checkpoint_dir``: a folder where this run keeps its own checkpoint (named after its settings and its
    labelled images), so that a restarted notebook 10 resumes it (None: no checkpoint)."""
    from . import checkpoint, train

    validation.check_not_none(pretrained, "pretrained", "a keras.Sequential model")
    strategy = validation.check_choice(strategy, "strategy", STRATEGIES)
    labels = _labels(y_train, "y_train")
    images, _ = train.prepare_dataset(x_train, labels, "x_train", "y_train")
    train.prepare_dataset(x_test, y_test, "x_test", "y_test")  # checked before the training, not after it
    num_steps = validation.check_positive_int(num_steps, "num_steps")
    learning_rate = validation.check_positive_number(learning_rate, "learning_rate")
    validation.check_bool(curves, "curves"), validation.check_bool(progress, "progress")
    if transfer_layers is not None:
        transfer_layers = validation.check_sequence([transfer_layers] if isinstance(transfer_layers, str)
                                                    else transfer_layers, "transfer_layers", allow_empty=True)
    if transfer_layers is None:  # the backbone, or nothing when training from scratch
        transfer_layers = () if strategy == "scratch" else backbone_layers(pretrained)
    elif strategy == "scratch" and len(transfer_layers):
        raise ValueError("transfer_layers must be empty for strategy='scratch' (nothing is transferred)")
    model = transfer_model(pretrained, int(labels.max()) + 1, transfer_layers, freeze=strategy == "frozen",
                           seed=seed)
    batch_size = min(validation.check_positive_int(batch_size, "batch_size"), len(labels))
    num_epochs = epochs_for_steps(len(labels), batch_size, num_steps)
    # The same optimizer and rate for all three: a lower rate for fine-tuning would also slow its new head.
    path = None if checkpoint_dir is None else checkpoint.run_path(
        checkpoint_dir, f"{strategy}-{len(labels)}", model=pretrained.name, layers=list(transfer_layers),
        num_epochs=num_epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed, curves=curves,
        data=checkpoint.data_fingerprint(images, labels))
    history = train.train(model, images, labels, framework="keras", num_epochs=num_epochs, batch_size=batch_size,
                          learning_rate=learning_rate, optimizer="adam", progress=progress, seed=seed,
                          validation_data=(x_test, y_test) if curves else None, checkpoint=path)
    accuracy = history.val_accuracy[-1] if curves else train.evaluate(model, x_test, y_test)[1]
    return TransferRun(strategy, len(labels), seed, history, accuracy, *trainable_parameters(model), model=model)


def label_sweep(pretrained, x_train, y_train, x_test, y_test, labels_per_class, strategies=STRATEGIES, num_draws=3,
                num_steps=300, progress=True, **kwargs):
    """Test accuracy of each strategy for each labels-per-class count: {strategy: array (counts, draws)}.
    ``kwargs`` go to ``train_run`` (``checkpoint_dir=`` too: every run then keeps its own checkpoint)."""
    unknown = set(kwargs) - {"transfer_layers", "batch_size", "learning_rate", "curves", "checkpoint_dir"}
    if unknown:
        raise TypeError(f"label_sweep got unexpected arguments {sorted(unknown)}")
    from tqdm.auto import tqdm

    num_draws = validation.check_positive_int(num_draws, "num_draws")
    strategies = [validation.check_choice(name, "strategies", STRATEGIES)
                  for name in validation.check_sequence(strategies, "strategies")]
    labels_per_class = [None if count is None else validation.check_positive_int(count, "labels_per_class")
                        for count in validation.check_sequence(labels_per_class, "labels_per_class")]  # None: all
    validation.check_bool(progress, "progress")
    _labels(y_train, "y_train")
    results = {name: np.full((len(labels_per_class), num_draws), np.nan) for name in strategies}
    bar = tqdm(total=len(labels_per_class) * num_draws * len(strategies), desc="runs", disable=not progress)
    for row, count in enumerate(labels_per_class):
        for draw in range(num_draws):  # a different labelled subset and different fresh weights each draw
            chosen = sample_per_class(y_train, count, seed=draw)
            for name in strategies:
                run = train_run(pretrained, x_train[chosen], y_train[chosen], x_test, y_test, name,
                                num_steps=num_steps, seed=draw, **kwargs)
                results[name][row, draw] = run.test_accuracy
                bar.update()
    bar.close()
    return results


def training_seconds(history):
    """Seconds of training after each epoch, leaving out the one-off compilation of the first step."""
    return np.cumsum(history.seconds) - (history.first_step_seconds or 0.0)


def time_to_accuracy(history, target):
    """(epochs, seconds) until the test accuracy first reached ``target``; (None, None) if it never did."""
    accuracies = np.asarray(_check_history(history).val_accuracy, dtype=float)
    if accuracies.size == 0 or np.all(np.isnan(accuracies)):
        raise ValueError("history has no test accuracy per epoch: train with curves=True (validation data)")
    if not 0 < validation.check_number(target, "target") <= 1:
        raise ValueError(f"target must be an accuracy in (0, 1], got {target!r}")
    reached = np.flatnonzero(accuracies >= target)
    if reached.size == 0:
        return None, None
    return int(reached[0]) + 1, float(training_seconds(history)[reached[0]])


def convergence_rows(dataset, histories, target):
    """Rows for ``table``: one per {model name: History}, with the epochs and seconds to ``target``."""
    validation.check_string(dataset, "dataset")
    if not isinstance(histories, dict) or not histories:
        raise TypeError("histories must be a non-empty dict {name: History}")
    rows = []
    for name, history in histories.items():
        epochs, seconds = time_to_accuracy(history, target)
        rows.append({"dataset": dataset, "model": name, "accuracy": history.val_accuracy[-1], "target": target,
                     "epochs": epochs, "seconds": seconds})
    return rows


def table(rows):
    """The lecture's table as a DataFrame: dataset, model, test accuracy, and epochs and seconds to reach the
    target accuracy (empty when never reached); rows from ``convergence_rows``. Shown by notebook 10."""
    rows = validation.check_sequence(rows, "rows")
    needed = {"dataset", "model", "accuracy", "target", "epochs", "seconds"}
    if not all(isinstance(row, dict) and needed <= set(row) for row in rows):
        raise TypeError("rows must be dicts from transfer.convergence_rows")
    return tables.table(rows, columns=["dataset", "model", "accuracy", "target", "epochs", "seconds"],
                        rename={"dataset": "dataset (target task)", "accuracy": "test accuracy",
                                "target": "target accuracy", "epochs": "epochs to target",
                                "seconds": "seconds to target"})


# --- Plots --------------------------------------------------------------------------------------------------
def plot_curves(histories, target=None, axes=None, title=None):
    """Test accuracy vs epoch and vs training seconds for a {name: History} dict; returns the figure."""
    import matplotlib.pyplot as plt

    if not isinstance(histories, dict) or not histories:
        raise TypeError("histories must be a non-empty dict {name: History}")
    for history in histories.values():
        _check_history(history, "histories")
    if target is not None:
        validation.check_fraction(target, "target")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for name, history in histories.items():
        accuracies = history.val_accuracy
        axes[0].plot(range(1, len(accuracies) + 1), accuracies, "o-", markersize=3, label=name)
        axes[1].plot(training_seconds(history), accuracies, "o-", markersize=3, label=name)
    for axis, xlabel in zip(axes, ("epoch", "training time (s, without compiling the step)")):
        if target is not None:
            axis.axhline(target, color="grey", linestyle=":", label=f"target {target:.1%}")
        axis.set(xlabel=xlabel, ylabel="test accuracy")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        axes[0].figure.suptitle(title)
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_accuracy_vs_labels(labels_per_class, results, ax=None, title=None):
    """Mean test accuracy (bars: lowest to highest draw) vs labelled examples per class, log x axis."""
    import matplotlib.pyplot as plt

    counts = validation.check_number_array("labels_per_class", labels_per_class)
    if counts.ndim != 1 or not isinstance(results, dict) or not results:
        raise TypeError("labels_per_class must be a list of counts and results label_sweep's dict")
    for accuracies in results.values():
        if np.ndim(accuracies) != 2 or len(accuracies) != len(counts):
            raise ValueError(f"results must hold one row of accuracies per labels_per_class entry ({len(counts)})")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    for name, accuracies in results.items():
        accuracies = validation.check_array(accuracies, "results", ndim=2, dtype=float)
        mean = accuracies.mean(axis=1)
        errors = [mean - accuracies.min(axis=1), accuracies.max(axis=1) - mean]
        ax.errorbar(counts, mean, yerr=errors, fmt="o-", capsize=3, label=STRATEGY_LABELS.get(name, name))
    ax.set_xscale("log")
    ax.set_xticks(counts, [f"{count:g}" for count in counts])
    ax.minorticks_off()
    ax.set(xlabel="labelled examples per class (target task)", ylabel="test accuracy", title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax.figure
