"""Gradient tensors of real networks: how many, how large, which side of the latency/bandwidth crossover, and
what fusing them saves when they are allreduced (lecture slide 73).

- ``gradient_list(network)``: the trainable tensors of "LeNet-5", "AlexNet (small)" (``models``), "VGG-16" or
  "ResNet-50" (``keras.applications``, ``weights=None``), built without allocating their weights
  (``cost.count_architecture``), as a ``GradientList`` (names, shapes, float32 bytes; ``backprop_bytes()``
  in the order backprop produces them, the last layer first); ``gradient_lists()`` does several.
- ``size_histogram(tensor_bytes)``: tensors per power-of-2 size bin (bin k: 2^k <= bytes < 2^(k+1)), the
  histogram of slide 73; ``crossover_shares(tensor_bytes, crossover)``: the share of tensors and of bytes
  below (latency-bound) and above (bandwidth-bound) a crossover (``allreduce_model.crossover_bytes``);
  ``share_rows`` makes them a table and ``plot_size_histograms`` draws one panel per network.
- ``predicted_list_seconds``: the ring model's time to allreduce a list one tensor at a time (threshold 0)
  or in Horovod-style fusion buffers (``allreduce_model.fusion_gain``); ``measure_list_allreduce`` times the
  same list with Horovod on real ranks (``workers/horovod_gradient_allreduce.py``, one run per fusion
  threshold), ``fusion_rows`` sets measured and predicted side by side and ``plot_fusion`` draws them.

Used by notebook 08-allreduce-and-horovod.
"""
import dataclasses
import json
import math
import pathlib
import tempfile

import numpy as np

from . import allreduce_model
from .validation import (check_bool, check_integer, check_number, check_path, check_positive_int, check_positive_number,
                         check_records, check_sequence, check_string, check_whole_array)

FLOAT32_BYTES = 4
DEFAULT_FUSION_THRESHOLD = 64 * 1024 * 1024  # Horovod's HOROVOD_FUSION_THRESHOLD when unset: 64 MB


def _build_lenet5():
    from . import models
    return models.lenet5()


def _build_small_alexnet():
    from . import models
    return models.alexnet(variant="small")


def _build_vgg16():
    import keras
    return keras.applications.VGG16(weights=None)


def _build_resnet50():
    import keras
    return keras.applications.ResNet50(weights=None)


NETWORKS = {"LeNet-5": _build_lenet5, "AlexNet (small)": _build_small_alexnet, "VGG-16": _build_vgg16,
            "ResNet-50": _build_resnet50}


# ------------------------------------------------------------------------------- the tensors of a network

@dataclasses.dataclass(frozen=True)
class GradientList:
    """The trainable tensors of one network in model order: one gradient of the same shape each per step."""

    network: str
    names: tuple
    shapes: tuple
    bytes_per_value: int = FLOAT32_BYTES

    @property
    def elements(self):
        """Values per tensor (an int array)."""
        return np.array([math.prod(shape) for shape in self.shapes], dtype=np.int64)

    @property
    def tensor_bytes(self):
        """Bytes per tensor in model order (an int array)."""
        return self.elements * self.bytes_per_value

    @property
    def num_tensors(self):
        """How many tensors (buffers to allreduce) one step has."""
        return len(self.shapes)

    @property
    def params(self):
        """Trainable parameters in all."""
        return int(self.elements.sum())

    @property
    def total_bytes(self):
        """Gradient bytes per step."""
        return int(self.tensor_bytes.sum())

    def backprop_bytes(self):
        """Bytes per tensor in the order backprop produces the gradients (the last layer first), as ints."""
        return [int(size) for size in self.tensor_bytes[::-1]]


def gradient_list(network, bytes_per_value=FLOAT32_BYTES):
    """The ``GradientList`` of ``network`` (a name in ``NETWORKS``), built without allocating its weights."""
    from . import cost

    if not isinstance(network, str) or network not in NETWORKS:
        raise ValueError(f"network must be one of {', '.join(map(repr, NETWORKS))}, got {network!r}")
    bytes_per_value = check_integer(bytes_per_value, "bytes_per_value", minimum=1, maximum=8)
    model, _ = cost.count_architecture(NETWORKS[network])  # HPML: shapes only, no weights allocated
    variables = model.trainable_weights
    return GradientList(network, tuple(variable.path for variable in variables),
                        tuple(tuple(int(d) for d in variable.shape) for variable in variables), bytes_per_value)


def gradient_lists(networks=tuple(NETWORKS)):
    """{name: GradientList} for each network in ``networks`` (names in ``NETWORKS``)."""
    import keras

    networks = check_sequence(networks, "networks")
    lists = {name: gradient_list(name) for name in networks}
    keras.backend.clear_session()
    return lists


def check_sizes(tensor_bytes, name="tensor_bytes"):
    """``tensor_bytes`` (a list or array of positive whole bytes, or a GradientList) as a 1-D int array."""
    if isinstance(tensor_bytes, GradientList):
        return tensor_bytes.tensor_bytes
    try:
        flat = not isinstance(tensor_bytes, (str, bytes, dict)) and np.ndim(tensor_bytes) == 1
    except ValueError:  # a ragged list of lists
        flat = False
    if not flat:
        raise TypeError(f"{name} must be a list of tensor sizes in bytes (or a GradientList), got {tensor_bytes!r}")
    return check_whole_array(name, tensor_bytes, minimum=1)


# ------------------------------------------------------------------- the histogram and the crossover

@dataclasses.dataclass
class SizeHistogram:
    """Tensors per power-of-2 bin: bin ``exponents[i]`` holds tensors of 2^k to 2^(k+1) - 1 bytes."""

    exponents: np.ndarray
    counts: np.ndarray
    bytes: np.ndarray


def size_histogram(tensor_bytes):
    """Count tensors (and their bytes) per power-of-2 size bin, every bin from the smallest to the largest."""
    sizes = check_sizes(tensor_bytes)
    exponents = np.array([int(size).bit_length() - 1 for size in sizes])  # floor(log2) without rounding error
    bins = np.arange(exponents.min(), exponents.max() + 1)
    counts = np.array([(exponents == k).sum() for k in bins])
    totals = np.array([sizes[exponents == k].sum() for k in bins])
    return SizeHistogram(bins, counts, totals)


@dataclasses.dataclass
class CrossoverShares:
    """How many tensors, and how many of the bytes, lie below (latency-bound) and above a crossover."""

    crossover_bytes: float
    tensors_below: int
    tensors_above: int
    bytes_below: int
    bytes_above: int

    @property
    def share_tensors_below(self):
        """Fraction of the tensors smaller than the crossover."""
        return self.tensors_below / (self.tensors_below + self.tensors_above)

    @property
    def share_bytes_below(self):
        """Fraction of the bytes in tensors smaller than the crossover."""
        return self.bytes_below / (self.bytes_below + self.bytes_above)


def crossover_shares(tensor_bytes, crossover_bytes):
    """Tensors and bytes below (strictly smaller: latency-bound) and at or above ``crossover_bytes``."""
    sizes = check_sizes(tensor_bytes)
    crossover = check_positive_number(crossover_bytes, "crossover_bytes")
    below = sizes < crossover
    return CrossoverShares(crossover, int(below.sum()), int((~below).sum()), int(sizes[below].sum()),
                           int(sizes[~below].sum()))


def _check_lists(gradient_lists):
    """``gradient_lists`` as a non-empty dict {name: GradientList}."""
    if not isinstance(gradient_lists, dict) or not gradient_lists or not all(
            isinstance(item, GradientList) for item in gradient_lists.values()):
        raise TypeError("gradient_lists must be a non-empty dict {name: GradientList} (see gradient_lists())")
    return gradient_lists


def share_rows(gradient_lists, crossover_bytes):
    """One table row per network: tensors, MB, and the shares of tensors and bytes on each side."""
    rows = []
    for name, gradients in _check_lists(gradient_lists).items():
        shares = crossover_shares(gradients, crossover_bytes)
        rows.append({"network": name, "tensors": gradients.num_tensors, "M parameters": gradients.params / 1e6,
                     "gradient MB": gradients.total_bytes / 1e6, "largest tensor MB": gradients.tensor_bytes.max() / 1e6,
                     "tensors below": shares.tensors_below,
                     "share of tensors below": shares.share_tensors_below,
                     "share of bytes below": shares.share_bytes_below,
                     "share of tensors above": 1 - shares.share_tensors_below,
                     "share of bytes above": 1 - shares.share_bytes_below})
    return rows


def format_bytes(num_bytes):
    """A size for a label: 64 B, 4 KB, 2.5 MB (powers of 1024)."""
    num_bytes = check_number(num_bytes, "num_bytes", minimum=0)
    for unit in ("B", "KB", "MB"):
        if num_bytes < 1024:
            return f"{num_bytes:.3g} {unit}"
        num_bytes /= 1024
    return f"{num_bytes:.3g} GB"


def plot_size_histograms(gradient_lists, crossover_bytes, columns=2):
    """One panel per network: tensors per power-of-2 size bin and the crossover as a vertical line."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    gradient_lists = _check_lists(gradient_lists)
    crossover = check_positive_number(crossover_bytes, "crossover_bytes")
    columns = min(check_positive_int(columns, "columns"), len(gradient_lists))
    rows = math.ceil(len(gradient_lists) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.2 * rows), squeeze=False)
    line = math.log2(crossover)
    for ax, (name, gradients) in zip(axes.flat, gradient_lists.items()):
        histogram, shares = size_histogram(gradients), crossover_shares(gradients, crossover)
        low, high = min(histogram.exponents[0], math.floor(line)), max(histogram.exponents[-1], math.ceil(line)) + 1
        ax.axvspan(low, line, color="tab:orange", alpha=0.1)
        ax.axvspan(line, high, color="tab:green", alpha=0.1)
        bars = ax.bar(histogram.exponents, histogram.counts, width=0.85, align="edge", color="tab:blue")
        ax.bar_label(bars, labels=[str(c) if c else "" for c in histogram.counts], fontsize=7)
        ax.axvline(line, color="k", linestyle="--", linewidth=1)  # HPML: the crossover p alpha B
        ax.text(line, 0.98, f" crossover {format_bytes(crossover)} ", transform=ax.get_xaxis_transform(), fontsize=7,
                va="top", ha="right", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
        ticks = range(low, high, max(1, (high - low) // 6))
        ax.set_xticks(list(ticks), [format_bytes(2 ** k) for k in ticks], fontsize=7)
        ax.set_xlim(low, high)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{name}: {gradients.num_tensors} tensors, {gradients.total_bytes / 1e6:.3g} MB; latency-bound "
                     f"(left):\n{shares.share_tensors_below:.0%} of the tensors, {shares.share_bytes_below:.1%} of the "
                     "bytes", fontsize=9)
        ax.set(xlabel="tensor size (bins of powers of 2; 1 KB = 1024 B)", ylabel="tensors")
    for ax in list(axes.flat)[len(gradient_lists):]:
        ax.set_visible(False)
    figure.tight_layout()
    return figure


# --------------------------------------------------------------------- fusion on a real gradient list

def threshold_label(threshold):
    """How a fusion threshold reads in a table: None is Horovod's default."""
    if threshold is None:
        return f"fusion on (default, {format_bytes(DEFAULT_FUSION_THRESHOLD)})"
    return "fusion off (threshold 0)" if threshold == 0 else f"fusion on (threshold {format_bytes(threshold)})"


def _check_threshold(threshold, name="threshold"):
    """A fusion threshold: None (Horovod's default, 64 MB) or whole bytes >= 0."""
    return None if threshold is None else check_integer(threshold, name, minimum=0)


def predicted_list_seconds(tensor_bytes, num_workers, latency, bandwidth, threshold=None):
    """(seconds, buffers) the ring model predicts for allreducing the list with this fusion threshold.

    Threshold 0: every tensor alone, one latency each. Otherwise the tensors are packed in order into buffers of
    at most ``threshold`` bytes (None: Horovod's 64 MB default), as if all were ready in the same cycle."""
    sizes = check_sizes(tensor_bytes)
    num_workers = check_integer(num_workers, "num_workers", minimum=2)  # one worker sends nothing
    threshold = _check_threshold(threshold)
    buffer = None if threshold == 0 else (DEFAULT_FUSION_THRESHOLD if threshold is None else threshold)
    estimate = allreduce_model.fusion_gain(sizes, num_workers, latency, bandwidth, fusion_buffer_bytes=buffer)
    if buffer is None:
        return estimate.separate_seconds, estimate.num_tensors
    return estimate.fused_seconds, estimate.num_buffers


def write_sizes(path, tensor_bytes):
    """Write the list as JSON (what ``--sizes-file`` of the worker reads); returns the path."""
    path = check_path(path, "path")
    path.write_text(json.dumps([int(size) for size in check_sizes(tensor_bytes)]))
    return path


def measure_list_allreduce(tensor_bytes, thresholds=(0, None), num_workers=2, repeats=10, rounds=1,
                           work_dir=None, timeout=300, oversubscribe=False, stream=False):
    """Time one full allreduce of the list with Horovod, once per fusion threshold (None: the default).

    The thresholds alternate for ``rounds`` rounds; each keeps its best round (other programs only ever slow a
    run down). A round's time is the median of ``repeats`` on the slower rank. Returns one row per threshold:
    {threshold, label, median_seconds, rounds (every round's median)}."""
    from . import distributed

    sizes = check_sizes(tensor_bytes)
    thresholds = [_check_threshold(t, "thresholds") for t in check_sequence(thresholds, "thresholds")]
    repeats, rounds = check_positive_int(repeats, "repeats"), check_positive_int(rounds, "rounds")
    check_bool(oversubscribe, "oversubscribe")
    if work_dir is None:
        folder = pathlib.Path(tempfile.mkdtemp(prefix="hpml-gradients-"))
    else:
        folder = check_path(work_dir, "work_dir")
        folder.mkdir(parents=True, exist_ok=True)
    sizes_file = write_sizes(folder / "gradient_sizes.json", sizes)
    medians = {index: [] for index in range(len(thresholds))}
    for round_index in range(rounds):
        for index, threshold in enumerate(thresholds):
            env = {} if threshold is None else {"HOROVOD_FUSION_THRESHOLD": threshold}  # HPML: 0 turns fusion off
            results = distributed.run_horovod(
                "horovod_gradient_allreduce", num_proc=num_workers, threads_per_worker=1, oversubscribe=oversubscribe,
                stream=stream, timeout=timeout, env_vars=env,
                args=["--sizes-file", sizes_file, "--repeats", repeats])
            medians[index].append(max(result["median_seconds"] for result in results))  # HPML: the slower rank
            print(f"round {round_index + 1}/{rounds}, {threshold_label(threshold)}: {len(sizes)} tensors, "
                  f"{medians[index][-1] * 1e3:.1f} ms per full allreduce", flush=True)
    return [{"threshold": threshold, "label": threshold_label(threshold), "median_seconds": min(medians[index]),
             "rounds": medians[index]} for index, threshold in enumerate(thresholds)]


def fusion_rows(measured, tensor_bytes, num_workers, latency, bandwidth):
    """Measured (``measure_list_allreduce`` rows) next to the ring model, one row per threshold."""
    measured = check_records(measured, "measured", ("threshold", "label", "median_seconds"),
                             "a row of measure_list_allreduce")
    rows = []
    for row in measured:
        seconds, buffers = predicted_list_seconds(tensor_bytes, num_workers, latency, bandwidth, row["threshold"])
        rows.append({"case": row["label"], "buffers (model)": buffers, "measured (ms)": row["median_seconds"] * 1e3,
                     "ring model (ms)": seconds * 1e3, "measured / model": row["median_seconds"] / seconds})
    return rows


def plot_fusion(rows, title=None, ax=None):
    """Bars of measured and predicted ms per threshold, from ``fusion_rows``; returns the figure."""
    import matplotlib.pyplot as plt

    rows = check_records(rows, "rows", ("case", "measured (ms)", "ring model (ms)"), "a row of fusion_rows")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    positions = np.arange(len(rows))
    for offset, key, color in ((-0.2, "measured (ms)", "tab:blue"), (0.2, "ring model (ms)", "tab:grey")):
        bars = ax.barh(positions + offset, [row[key] for row in rows], height=0.4, color=color, label=key[:-5])
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_yticks(positions, [row["case"] for row in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="ms per full allreduce of the gradient list",
           title=check_string(title, "title") if title is not None else "Fusion on a real gradient list")
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax.figure
