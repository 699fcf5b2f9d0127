"""Accuracy against training-set size and model size, and what each point costs to train (lecture slides 47-49).

- ``cnn(width)``: one family of small CNNs, conv(w) - pool - conv(2w) - pool - fc(4w) - logits.
- ``StoppingRule``: the one rule every point is trained by: Adam at a fixed rate, a validation error measured
  after every round (a round: epochs making at least ``min_round_images`` images), stop after ``patience``
  rounds gaining at most ``min_delta`` points on the best or after ``max_rounds``; keep the best round's weights.
- ``split_validation``: validation images taken once from the training set; ``training_sizes``: log-spaced sizes.
- ``train_point`` / ``sweep``: train a fresh ``cnn(width)`` on the first ``num_train`` images by the rule (via
  ``train.train``, a checkpoint after every round: a restarted kernel resumes), then measure the test error once,
  with the weights of the round the validation error chose. A ``Point`` holds the result and its compute:
  ``training_macs`` = MACs/image (``cost.count``) x 3 (forward + backward) x images seen; ``training_flops`` = 2x.
- ``fit_power_law``: error ~ a * n^-b (optionally + c), fitted in log-log space; ``fit_per_width``; ``findings``:
  the sweep's claims computed; ``grid``, ``table``, ``plot_error_vs_data``, ``plot_error_vs_compute``: results.
Used by notebook 05-accuracy-vs-data-and-model-size.
"""
import contextlib
import ctypes
import dataclasses
import gc
import math
import tempfile

import numpy as np

from . import checkpoint, tables, validation

OPTIMIZER_CHOICES = ("sgd", "momentum", "adam")


def cnn(width, num_classes=10, input_shape=(28, 28, 1)):
    """A Keras CNN of the family: conv 3x3 (width) - max pool - conv 3x3 (2 width) - max pool - dense (4 width)."""
    import keras

    width = validation.check_positive_int(width, "width")
    num_classes = validation.check_integer(num_classes, "num_classes", minimum=2)
    shape = validation.check_shape(input_shape, "input_shape", length=3)
    if shape[0] < 4 or shape[1] < 4:
        raise ValueError(f"input_shape must be at least 4x4 pixels (two 2x2 poolings), got {input_shape!r}")
    return keras.Sequential([
        keras.Input(shape=shape, name="images"),
        keras.layers.Conv2D(width, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(2, name="pool1"),
        keras.layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(2, name="pool2"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(4 * width, activation="relu", name="fc1"),
        keras.layers.Dense(num_classes, name="output"),  # logits
    ], name=f"cnn_width{width}")


@dataclasses.dataclass(frozen=True)
class StoppingRule:
    """How every point is trained: early stopping on the validation error, the same for all points."""

    patience: int = 3              # rounds without a new best validation error before stopping
    max_rounds: int = 12           # the budget: at most this many rounds
    min_round_images: int = 10000  # a round is ceil(min_round_images / n) epochs: at least this many images
    batch_size: int = 128
    learning_rate: float = 0.005   # Adam: converges in fewer images than 0.001-0.002 here (measured)
    optimizer: str = "adam"
    min_delta: float = 0.2         # points of validation error a new best must gain to count as progress

    def __post_init__(self):
        for name in ("patience", "max_rounds", "min_round_images", "batch_size"):
            validation.check_positive_int(getattr(self, name), name)
        validation.check_positive_number(self.learning_rate, "learning_rate")
        validation.check_choice(self.optimizer, "optimizer", OPTIMIZER_CHOICES)
        validation.check_number(self.min_delta, "min_delta", minimum=0)
        if self.batch_size > self.min_round_images:
            raise ValueError(f"batch_size ({self.batch_size}) must be <= min_round_images ({self.min_round_images})")

    def epochs_per_round(self, num_train):
        """Epochs in one round for ``num_train`` images: one epoch once a set has min_round_images images."""
        return math.ceil(self.min_round_images / validation.check_positive_int(num_train, "num_train"))

    def converged(self, errors):
        """True when the last ``patience`` rounds of ``errors`` (%) gained at most ``min_delta`` on the best before."""
        recent, before = list(errors)[-self.patience:], list(errors)[:-self.patience]
        return bool(before) and min(recent) > min(before) - self.min_delta


@dataclasses.dataclass
class Point:
    """One trained point of the sweep: width, training-set size, errors (%) and the compute it took."""

    width: int
    num_train: int
    params: int
    macs: int                  # per image, forward pass (cost.count)
    epochs_per_round: int
    val_error: list            # % after every round
    best_round: int            # 1-based: the round whose weights are kept
    stopped_by: str            # "patience" or "budget"
    test_error: float          # %, measured once, with the best round's weights
    images_seen: int           # training images processed, every round included
    seconds: float             # training time (all rounds, including those of earlier kernels)

    rounds = property(lambda self: len(self.val_error), doc="Rounds trained (best_round + patience, or the budget).")
    training_macs = property(lambda self: training_macs(self.macs, self.images_seen), doc="MACs x 3 x images seen.")
    training_flops = property(lambda self: training_flops(self.macs, self.images_seen), doc="2 x training_macs.")


def training_macs(macs_per_image, images_seen):
    """MACs to train: forward-pass MACs per image x 3 (forward + backward, the usual estimate) x images seen."""
    macs = validation.check_number_array("macs_per_image", macs_per_image)
    images = validation.check_whole_array("images_seen", images_seen, minimum=0)
    return validation.scalar_or_array(3.0 * macs * images)


def training_flops(macs_per_image, images_seen):
    """FLOPs to train: 2 x ``training_macs`` (a multiply-accumulate is two floating-point operations)."""
    return validation.scalar_or_array(2.0 * np.asarray(training_macs(macs_per_image, images_seen)))


def split_validation(x, y, num_validation, seed=0):
    """(x_train, y_train, x_val, y_val): ``num_validation`` random images held out once; the rest shuffled
    once too, so that the first n of them are a random subset and smaller sets lie inside larger ones."""
    x, y = _check_images(x, y, "x", "y")
    num_validation = validation.check_positive_int(num_validation, "num_validation")
    seed = validation.check_seed(seed, allow_none=False)
    if num_validation >= len(x):
        raise ValueError(f"num_validation ({num_validation}) must be smaller than the {len(x)} images")
    order = np.random.default_rng(seed).permutation(len(x))  # held out: order[:num_validation]
    return x[order[num_validation:]], y[order[num_validation:]], x[order[:num_validation]], y[order[:num_validation]]


def training_sizes(smallest, largest, num_sizes=5):
    """``num_sizes`` whole numbers from ``smallest`` to ``largest``, evenly spaced on a log axis."""
    smallest, largest = (validation.check_positive_int(v, n) for v, n in ((smallest, "smallest"), (largest, "largest")))
    num_sizes = validation.check_integer(num_sizes, "num_sizes", minimum=2)
    if largest <= smallest:
        raise ValueError(f"largest ({largest}) must be larger than smallest ({smallest})")
    sizes = sorted({int(round(size)) for size in np.geomspace(smallest, largest, num_sizes)})
    if len(sizes) != num_sizes:
        raise ValueError(f"num_sizes ({num_sizes}) distinct sizes do not fit between {smallest} and {largest}")
    return sizes


def _check_images(x, y, x_name, y_name):  # images (N, H, W) or (N, H, W, C), N integer labels
    images = validation.check_array(x, x_name, ndim=(3, 4))
    labels = validation.check_array(y, y_name, ndim=1, kinds="iu")
    if len(images) != len(labels):
        raise ValueError(f"{x_name} has {len(images)} images but {y_name} has {len(labels)} labels")
    return images, labels


def _check_sets(x_train, y_train, x_val, y_val, x_test, y_test):
    sets = [_check_images(x_train, y_train, "x_train", "y_train"), _check_images(x_val, y_val, "x_val", "y_val"),
            _check_images(x_test, y_test, "x_test", "y_test")]
    for (images, _), name in zip(sets[1:], ("x_val", "x_test")):
        if images.shape[1:] != sets[0][0].shape[1:]:  # the same image shape as the training set
            raise ValueError(f"{name} has images of shape {images.shape[1:]}, x_train {sets[0][0].shape[1:]}")
    return sets


def _check_rule(rule):
    if rule is None or isinstance(rule, StoppingRule):
        return rule or StoppingRule()
    raise TypeError(f"rule must be a StoppingRule or None, got {type(rule).__name__}")


def _release_memory():
    """Hand a round's freed data copies back to the system (glibc keeps them: a sweep would grow by 100s of MB)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, Windows): nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _save_best(path, weights, round_number):
    temporary = path.with_name(f".{path.name}.tmp.npz")
    np.savez(temporary, round=np.array(round_number), **{f"w{i}": value for i, value in enumerate(weights)})
    temporary.replace(path)  # atomic: the old best or the new one, never half a file


def _load_best(path):
    if not path.exists():
        return 0, None
    with np.load(path) as stored:
        return int(stored["round"]), [stored[f"w{i}"] for i in range(len(stored.files) - 1)]


def train_point(x_train, y_train, x_val, y_val, x_test, y_test, num_train, width, rule=None, seed=0,
                checkpoint_dir=None):
    """Train ``cnn(width)`` on the first ``num_train`` training images by ``rule``; returns a Point."""
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = _check_sets(x_train, y_train, x_val, y_val, x_test, y_test)
    num_train = validation.check_positive_int(num_train, "num_train")
    width = validation.check_positive_int(width, "width")
    rule, seed = _check_rule(rule), validation.check_seed(seed, allow_none=False)
    if num_train > len(x_train):
        raise ValueError(f"num_train ({num_train}) is more than the {len(x_train)} training images")
    arguments = (x_train, y_train, x_val, y_val, x_test, y_test, num_train, width, rule, seed)
    if checkpoint_dir is None:
        with tempfile.TemporaryDirectory() as folder:
            return _train_point(*arguments, folder)
    return _train_point(*arguments, validation.check_path(checkpoint_dir, "checkpoint_dir"))


def _train_point(x_train, y_train, x_val, y_val, x_test, y_test, num_train, width, rule, seed, folder):
    import keras

    from . import cost, train
    repeats = rule.epochs_per_round(num_train)
    # One round = `repeats` epochs: the subset repeated and shuffled as one set (enough steps to see progress).
    x_round, y_round = (np.concatenate([array[:num_train]] * repeats) if repeats > 1 else array[:num_train]
                        for array in (x_train, y_train))
    keras.utils.set_random_seed(seed)  # the same initial weights for a width, whatever the data
    model = cnn(width, num_classes=int(max(y_train.max(), y_val.max(), y_test.max())) + 1,
                input_shape=x_train.shape[1:3] + ((x_train.shape[3],) if x_train.ndim == 4 else (1,)))
    counted = cost.count(model)
    path = checkpoint.run_path(folder, f"width{width}-n{num_train}", width=width, num_train=num_train, seed=seed,
                               rule=dataclasses.asdict(rule), data=checkpoint.data_fingerprint(x_round, y_round),
                               validation=checkpoint.data_fingerprint(x_val, y_val))
    best_path = path.with_name(path.stem + "-best.npz")
    stored = checkpoint.info(path)
    rounds = stored["epochs"] if stored else 1  # resume: first restore the rounds done (0 epochs trained)
    while True:
        history = train.train(model, x_round, y_round, num_epochs=rounds, batch_size=rule.batch_size,
                              learning_rate=rule.learning_rate, optimizer=rule.optimizer,
                              validation_data=(x_val, y_val), progress=False, seed=seed, checkpoint=path)
        _release_memory()
        errors = [100.0 * (1.0 - accuracy) for accuracy in history.val_accuracy]
        best = int(np.argmin(errors)) + 1  # the first round with the lowest validation error
        if best == len(errors) and _load_best(best_path)[0] != best:
            _save_best(best_path, model.get_weights(), best)
        if rule.converged(errors) or len(errors) >= rule.max_rounds:
            break
        rounds += 1
    model.set_weights(_load_best(best_path)[1])  # HPML: the round the validation error chose ...
    _, accuracy = train.evaluate(model, x_test, y_test)  # HPML: ... and only then the test set, once
    return Point(width, num_train, counted.params, counted.macs, repeats, errors, best,
                 "patience" if rule.converged(errors) else "budget", 100.0 * (1.0 - accuracy),
                 int(sum(history.images)), float(sum(history.seconds)))


def sweep(x_train, y_train, x_val, y_val, x_test, y_test, sizes, widths, rule=None, seed=0, checkpoint_dir=None,
          verbose=True):
    """Every (width, size) pair trained by ``train_point``: a list of Points, widths outer, sizes inner."""
    sets = _check_sets(x_train, y_train, x_val, y_val, x_test, y_test)
    sizes, widths = _check_grid(sizes, "sizes"), _check_grid(widths, "widths")
    if sizes[-1] > len(sets[0][0]):
        raise ValueError(f"sizes go up to {sizes[-1]}, more than the {len(sets[0][0])} training images")
    rule, seed = _check_rule(rule), validation.check_seed(seed, allow_none=False)
    validation.check_bool(verbose, "verbose")
    checkpoint_dir is None or validation.check_path(checkpoint_dir, "checkpoint_dir")
    points = []
    for width in widths:
        for size in sizes:
            point = train_point(*sets[0], *sets[1], *sets[2], size, width, rule, seed, checkpoint_dir)
            points.append(point)
            if verbose:
                print(f"width {width:>3}, n = {size:>6,}: test error {point.test_error:5.2f}% (round "
                      f"{point.best_round} of {point.rounds}, {point.stopped_by}), {point.training_flops:.2e} FLOPs, "
                      f"trained {point.seconds:.1f} s", flush=True)
    return points


def _check_grid(values, name):
    """Distinct positive integers, sorted."""
    items = [validation.check_positive_int(item, name) for item in validation.check_sequence(values, name)]
    if len(set(items)) != len(items):
        raise ValueError(f"{name} must be distinct, got {values!r}")
    return sorted(int(item) for item in items)


@dataclasses.dataclass(frozen=True)
class PowerLaw:
    """error(n) = a * n ** -b + c (c = 0 without an offset)."""

    a: float
    b: float
    c: float = 0.0

    def __call__(self, n):
        return self.a * np.asarray(n, dtype=float) ** -self.b + self.c

    def __str__(self):
        return f"{self.a:.3g} * n^-{self.b:.3f}" + (f" + {self.c:.3g}" if self.c else "")


def fit_power_law(sizes, errors, offset=False):
    """The least-squares power law through (size, error) in log-log space: a * n^-b, or a * n^-b + c with
    ``offset`` (c, the error no amount of data removes, is then searched between 0 and the smallest error)."""
    sizes, errors = validation.check_number_array("sizes", sizes), validation.check_number_array("errors", errors)
    validation.check_bool(offset, "offset")
    if sizes.ndim != 1 or sizes.shape != errors.shape:
        raise ValueError(f"sizes and errors must be 1-D and of the same length, got shapes {sizes.shape} "
                         f"and {errors.shape}")
    if len(np.unique(sizes)) < (3 if offset else 2):
        raise ValueError(f"sizes must hold at least {3 if offset else 2} different sizes to fit "
                         f"{'a, b and c' if offset else 'a and b'}, got {sizes.tolist()}")
    log_n = np.log(sizes)

    def fit(c):
        slope, intercept = np.polyfit(log_n, np.log(errors - c), 1)
        residual = np.sum((np.log(errors) - np.log(np.exp(intercept) * sizes ** slope + c)) ** 2)
        return residual, PowerLaw(float(np.exp(intercept)), float(-slope), float(c))

    candidates = np.linspace(0.0, 0.99 * errors.min(), 199) if offset else [0.0]  # the offsets c tried
    return min((fit(c) for c in candidates), key=lambda item: item[0])[1]


def _check_points(points):
    points = validation.check_sequence(points, "points")
    if not all(isinstance(point, Point) for point in points):
        raise TypeError("points must be a list of Points (what sweep returns)")
    return points


def grid(points, key="test_error"):
    """(sizes, widths, values): values[i, j] is ``key`` (test error %, FLOPs...) of widths[i] on sizes[j], or NaN."""
    points = _check_points(points)
    validation.check_choice(key, "key", ("test_error", "training_flops", "training_macs", "images_seen", "seconds"))
    sizes, widths = sorted({point.num_train for point in points}), sorted({point.width for point in points})
    errors = np.full((len(widths), len(sizes)), np.nan)
    for point in points:
        errors[widths.index(point.width), sizes.index(point.num_train)] = getattr(point, key)
    return sizes, widths, errors


def fit_per_width(points, offset=False):
    """{width: PowerLaw} fitted to each width's test error against the training-set size."""
    sizes, widths, errors = grid(points)
    return {width: fit_power_law(np.array(sizes)[np.isfinite(row)], row[np.isfinite(row)], offset)
            for width, row in zip(widths, errors)}


def findings(points):
    """The sweep's claims, computed: a dict of numbers and booleans (see the keys) for the notebook's text."""
    points = _check_points(points)
    sizes, widths, errors = grid(points)
    if len(sizes) < 2 or len(widths) < 2 or np.isnan(errors).any():
        raise ValueError("points must cover every (width, size) pair of at least 2 widths and 2 sizes")
    flops = grid(points, "training_flops")[2]
    best_width = [widths[int(np.argmin(column))] for column in errors.T]
    return {
        "sizes": sizes, "widths": widths, "best_width_per_size": best_width,
        "data_helps_every_width": bool((errors[:, -1] < errors[:, 0]).all()),
        "falls_at_every_step": [bool(row.all()) for row in np.diff(errors, axis=1) < 0],
        "largest_best_at_most_data": best_width[-1] == widths[-1],
        "largest_best_at_least_data": best_width[0] == widths[-1],
        "largest_worse_than_smallest_at_least_data": bool(errors[-1, 0] > errors[0, 0]),
        "sizes_where_largest_best": [size for size, best in zip(sizes, best_width) if best == widths[-1]],
        "compute_grows_with_data": bool((np.diff(flops, axis=1) > 0).all()),
        "compute_grows_with_width": bool((np.diff(flops, axis=0) > 0).all()),
        "flops_range": (float(flops.min()), float(flops.max())),
    }


def table(points):
    """A DataFrame, one row per point: width, size, parameters, rounds, errors, images seen and FLOPs."""
    rows = [{"width": p.width, "n": p.num_train, "params": p.params, "epochs_per_round": p.epochs_per_round,
             "rounds": p.rounds, "best_round": p.best_round, "stopped_by": p.stopped_by, "val_error": min(p.val_error),
             "test_error": p.test_error, "images_seen": p.images_seen, "flops": p.training_flops,
             "seconds": p.seconds} for p in _check_points(points)]
    return tables.table(rows, rename={
        "n": "training images", "params": "parameters", "epochs_per_round": "epochs/round", "best_round": "best round",
        "stopped_by": "stopped by", "val_error": "best val error (%)", "test_error": "test error (%)",
        "images_seen": "images seen", "flops": "training FLOPs", "seconds": "train s"})


def _axes(ax):
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=(6.5, 4.2))[1] if ax is None else ax


def _finish(ax, xlabel, title):
    from matplotlib.ticker import FuncFormatter
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="test error (%)", title=title)
    for set_formatter in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):  # 8, 9, 10, 20: plain
        set_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax.figure


def plot_error_vs_data(points, fits=None, ax=None):
    """Test error (%) against training-set size, log-log, one line per width, with its fitted power law."""
    sizes, widths, errors = grid(points)
    if fits is not None and (not isinstance(fits, dict) or not all(isinstance(f, PowerLaw) for f in fits.values())):
        raise TypeError("fits must be a dict {width: PowerLaw} (what fit_per_width returns) or None")
    ax, curve = _axes(ax), np.geomspace(sizes[0], sizes[-1], 100)
    for width, row in zip(widths, errors):
        fit = (fits or {}).get(width)
        (line,) = ax.plot(sizes, row, "o", label=f"width {width}" + (f": error ~ n^-{fit.b:.2f}" if fit else ""))
        if fit:
            ax.plot(curve, fit(curve), "--", color=line.get_color(), alpha=0.7)
    return _finish(ax, "training images n", "Test error against data, per model width (dashed: power-law fits)")


def plot_error_vs_compute(points, ax=None):
    """Test error (%) against training FLOPs (3 x forward MACs x 2 x images seen), log-log, one line per width."""
    points, ax = _check_points(points), _axes(ax)
    for width in sorted({point.width for point in points}):
        mine = sorted((point for point in points if point.width == width), key=lambda point: point.num_train)
        ax.plot([p.training_flops for p in mine], [p.test_error for p in mine], "o-", label=f"width {width}")
        for p in mine:
            ax.annotate(f"{p.num_train:,}", (p.training_flops, p.test_error), fontsize=6, alpha=0.7,
                        textcoords="offset points", xytext=(3, 3))
    return _finish(ax, "training compute (FLOPs: 2 x 3 x forward MACs x images seen)",
                   "Test error against training compute (labels: training images)")
