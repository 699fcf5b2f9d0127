"""Stragglers and stale gradients on MXNet's parameter server: summaries and plots of ``ps_training`` runs.

A *run* is the list of worker results ``distributed.run_parameter_server("ps_training", ...)`` returns
(one dict per worker, see ``workers/ps_training.py``); ``runs`` is a dict {label: run}, e.g.
{"sync": ..., "async": ..., "sync + straggler": ..., "async + straggler": ...}.

- ``check_run(results)``: the checks every function below makes (keys, one loss, time and staleness per
  step, the ranks 0..N-1 of one mode).
- ``worker_rates(results)``: images/s of each worker (its images / its own time), flagged as straggler or
  not; ``cluster_rate(results)``: all the images the servers received / the time the last worker finished.
- ``step_seconds(results)``: the median wall time of one step (to size a straggler's delay).
- ``staleness_histogram(results, ranks)``: how many pushes had each staleness (0, 1, 2, ...) and the mean.
- ``loss_curve(results, window)``: every worker's training loss merged in wall-time order (the stream of
  minibatch losses the servers received), smoothed, against wall time and against global steps;
  ``time_to_loss`` and ``loss_at`` read it.
- ``plot_worker_rates(runs)``, ``plot_staleness(runs)``, ``plot_loss_curves(runs)``: the three pictures.

How the staleness is counted (exactly, by the servers, on an extra counter key) is in
``workers/_staleness_counter.py``. Used by notebook 07-parameter-server.
"""
import numpy as np

from .distributed_plots import MODE_COLORS, moving_average
from .validation import (check_array, check_integer, check_number, check_positive_int, check_record,
                         check_sequence, is_integer)

RUN_KEYS = ("rank", "num_workers", "mode", "steps", "losses", "seconds", "total_seconds", "batch_size",
            "staleness", "start_unix")
WHAT = "a ps_training worker result"


def check_run(results, name="results"):
    """``results`` (one run of ``ps_training``) checked and sorted by rank; raises ValueError/TypeError."""
    results = check_sequence(results, name)
    for index, result in enumerate(results):
        item = f"{name}[{index}]"
        check_record(result, item, RUN_KEYS, WHAT)
        steps = check_integer(result["steps"], f"{item}['steps']", minimum=0)
        for key in ("losses", "seconds", "staleness"):
            values = check_array(result[key], f"{item}[{key!r}]", ndim=1, min_size=0)
            if values.size != steps:
                raise ValueError(f"{item} has {values.size} {key} for {steps} steps: one per step")
        staleness = np.asarray(result["staleness"])
        if staleness.size and (staleness.dtype.kind not in "iu" or staleness.min() < 0):
            raise ValueError(f"{item}['staleness'] must hold whole numbers >= 0 (updates), got "
                             f"{result['staleness'][:5]!r}...")
        if np.any(np.diff(result["seconds"]) < 0):
            raise ValueError(f"{item}['seconds'] must not decrease: wall times of consecutive steps")
        check_number(result["total_seconds"], f"{item}['total_seconds']", minimum=0, strict=True)
        check_positive_int(result["batch_size"], f"{item}['batch_size']")
    modes = {result["mode"] for result in results}
    if len(modes) != 1:
        raise ValueError(f"{name} mixes modes {sorted(map(str, modes))}: pass the workers of one run")
    ranks = sorted(result["rank"] for result in results)
    if not all(is_integer(rank) for rank in ranks) or ranks != list(range(len(results))) or any(
            result["num_workers"] != len(results) for result in results):
        raise ValueError(f"{name} must hold every worker of one run once: ranks 0..{len(results) - 1} with "
                         f"num_workers {len(results)}, got ranks {ranks}")
    return sorted(results, key=lambda result: result["rank"])


def check_runs(runs, name="runs"):
    """``runs`` as a dict {label: checked run}, in the given order."""
    if not isinstance(runs, dict) or not runs:
        raise TypeError(f"{name} must be a non-empty dict {{label: ps_training results}}, got {runs!r}")
    return {str(label): check_run(results, f"{name}[{label!r}]") for label, results in runs.items()}


def _is_straggler(result):
    return result.get("straggler_rank") == result["rank"] and result.get("straggler_delay_ms", 0) > 0


def worker_rates(results):
    """One row per worker: rank, steps, images, seconds, images_per_second, straggler (bool), delay_ms."""
    rows = []
    for result in check_run(results):
        images = result["steps"] * result["batch_size"]
        rows.append({"rank": result["rank"], "steps": result["steps"], "images": images,
                     "seconds": result["total_seconds"], "images_per_second": images / result["total_seconds"],
                     "straggler": _is_straggler(result), "delay_ms": float(result.get("straggler_delay_ms", 0))})
    return rows


def cluster_rate(results):
    """Images/s of the whole run: the images of every worker's pushes / the time the last worker finished.

    All workers start their clocks together (after a barrier), so the slowest one's time is the run's."""
    results = check_run(results)
    images = sum(result["steps"] * result["batch_size"] for result in results)
    return images / max(result["total_seconds"] for result in results)


def step_seconds(results, ranks=None):
    """Median wall time of one step over the workers ``ranks`` (all when None), from their time stamps."""
    results = _select(check_run(results), ranks)
    gaps = np.concatenate([np.diff(np.concatenate([[0.0], result["seconds"]])) for result in results])
    if gaps.size == 0:
        raise ValueError("the chosen workers took no steps: no step time to measure")
    return float(np.median(gaps))


def _select(results, ranks):
    """The results of ``ranks`` (a list of ints; None: all)."""
    if ranks is None:
        return results
    ranks = [check_integer(rank, "ranks[...]", minimum=0, maximum=len(results) - 1)
             for rank in check_sequence(ranks, "ranks")]
    return [result for result in results if result["rank"] in ranks]


def staleness_histogram(results, ranks=None):
    """Counts of each staleness value over the pushes of workers ``ranks`` (all when None).

    Returns {"values": 0..max, "counts": pushes with that staleness, "pushes": their total, "mean", "max"};
    an empty selection (no steps) gives counts [] and a NaN mean."""
    results = _select(check_run(results), ranks)
    staleness = np.concatenate([np.asarray(result["staleness"], dtype=np.int64) for result in results]
                               + [np.zeros(0, dtype=np.int64)])
    counts = np.bincount(staleness)
    return {"values": np.arange(counts.size), "counts": counts, "pushes": int(staleness.size),
            "mean": float(staleness.mean()) if staleness.size else float("nan"),
            "max": int(staleness.max()) if staleness.size else 0}


def loss_curve(results, window=20):
    """Every worker's minibatch losses in wall-time order, smoothed over ``window`` pushes.

    Returns {"seconds": when each push's step was done, on the run's shared clock (0 = the barrier before
    the first step), "images": images pushed so far by all workers, "global_steps": images / (N x batch),
    "loss": moving average of the last ``window`` losses}."""
    results = check_run(results)
    window = check_positive_int(window, "window")
    origin = min(result["start_unix"] for result in results)
    seconds = np.concatenate([np.asarray(result["seconds"], float) + result["start_unix"] - origin
                              for result in results])
    losses = np.concatenate([np.asarray(result["losses"], float) for result in results])
    sizes = np.concatenate([np.full(result["steps"], result["batch_size"]) for result in results])
    if seconds.size == 0:
        raise ValueError("the run has no steps: no loss curve")
    order = np.argsort(seconds, kind="stable")
    images = np.cumsum(sizes[order])
    global_batch = len(results) * results[0]["batch_size"]
    return {"seconds": seconds[order], "images": images, "global_steps": images / global_batch,
            "loss": moving_average(losses[order], window)}


def _check_curve(curve):
    check_record(curve, "curve", ("seconds", "loss"), "a loss_curve result")
    return np.asarray(curve["seconds"], float), np.asarray(curve["loss"], float)


def time_to_loss(curve, target):
    """First wall time at which ``curve`` (a ``loss_curve``) is at or below ``target``; NaN if never."""
    seconds, loss = _check_curve(curve)
    target = check_number(target, "target")
    below = np.flatnonzero(loss <= target)
    return float(seconds[below[0]]) if below.size else float("nan")


def loss_at(curve, seconds):
    """The smoothed loss of ``curve`` at wall time ``seconds`` (its last point at or before it; NaN before)."""
    times, loss = _check_curve(curve)
    seconds = check_number(seconds, "seconds", minimum=0)
    index = np.searchsorted(times, seconds, side="right") - 1
    return float(loss[index]) if index >= 0 else float("nan")


# ------------------------------------------------------------------------------------------- plots

def _style(results):
    """Colour by mode, dashed when one worker was slowed down."""
    straggling = any(_is_straggler(result) for result in results)
    return MODE_COLORS.get(results[0]["mode"], "tab:grey"), "--" if straggling else "-"


def _axes(ax, figsize):
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_worker_rates(runs, ax=None):
    """Bars of each worker's images/s per run (the straggler hatched), the run's total above; returns the axes."""
    runs = check_runs(runs)
    ax = _axes(ax, (8, 3.6))
    most = max(len(results) for results in runs.values())
    width = 0.8 / most
    for position, (label, results) in enumerate(runs.items()):
        color, _ = _style(results)
        rows = worker_rates(results)
        for row in rows:
            bar = ax.bar(position - 0.4 + width * (row["rank"] + 0.5), row["images_per_second"], width * 0.9,
                         color=color, alpha=0.45 if row["straggler"] else 0.9,
                         hatch="//" if row["straggler"] else None, edgecolor="k", linewidth=0.5)
            ax.bar_label(bar, labels=[f"w{row['rank']}" + (" (slow)" if row["straggler"] else "")], fontsize=7)
    ax.set_xticks(range(len(runs)), [f"{label}\nall workers: {cluster_rate(results):,.0f}/s"
                                     for label, results in runs.items()], fontsize=8)
    ax.set(ylabel="images/s of each worker", title="Throughput per worker (hatched: the straggler)")
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_staleness(runs, ax=None, split_straggler=True):
    """Share of pushes per staleness value, one group of bars per run (a run with a straggler split into the
    straggler and the other workers when ``split_straggler``), the means as dashed lines; returns the axes."""
    runs = check_runs(runs)
    if not isinstance(split_straggler, bool):
        raise TypeError(f"split_straggler must be True or False, got {split_straggler!r}")
    ax = _axes(ax, (8, 3.4))
    groups = []
    for label, results in runs.items():
        slow = [result["rank"] for result in results if _is_straggler(result)]
        if split_straggler and slow and len(slow) < len(results):
            fast = [result["rank"] for result in results if result["rank"] not in slow]
            groups += [(f"{label}: straggler", results, slow), (f"{label}: other workers", results, fast)]
        else:
            groups.append((label, results, None))
    colors = ["tab:purple", "tab:orange", "tab:green", "tab:brown", "tab:cyan", "tab:olive", "tab:pink"]
    width = 0.8 / len(groups)
    for index, (label, results, ranks) in enumerate(groups):
        histogram = staleness_histogram(results, ranks)
        if not histogram["pushes"]:
            continue
        color = colors[index % len(colors)]
        share = histogram["counts"] / histogram["pushes"]
        ax.bar(histogram["values"] - 0.4 + width * (index + 0.5), share, width, color=color,
               label=f"{label}: mean {histogram['mean']:.2f} ({histogram['pushes']} pushes)")
        ax.axvline(histogram["mean"], color=color, linestyle="--", linewidth=1)
    ax.set(xlabel="staleness: server updates between the pull and the application of a gradient",
           ylabel="share of the pushes", title="Staleness histogram (dashed: the means)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_loss_curves(runs, window=20):
    """Training loss against global steps (the cost of stale gradients) and against wall time (the gain of
    not waiting), one curve per run; returns the figure."""
    import matplotlib.pyplot as plt

    runs = check_runs(runs)
    window = check_positive_int(window, "window")
    figure, (by_step, by_time) = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for label, results in runs.items():
        curve = loss_curve(results, window)
        color, style = _style(results)
        by_step.plot(curve["global_steps"], curve["loss"], style, color=color, label=label)
        by_time.plot(curve["seconds"], curve["loss"], style, color=color, label=label)
    first = next(iter(runs.values()))
    by_step.set(xlabel=f"global steps (images of all workers / ({len(first)} x {first[0]['batch_size']}))",
                ylabel=f"training loss (mean of the last {window} pushes)", title="Loss per step: the cost")
    by_time.set(xlabel="wall time since the first step (s)", title="Loss over time: the gain")
    for ax in (by_step, by_time):
        ax.grid(alpha=0.3)
    by_time.legend(fontsize=8)
    figure.tight_layout()
    return figure
