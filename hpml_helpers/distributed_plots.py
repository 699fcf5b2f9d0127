"""Pictures of distributed training: allreduce times, Horovod timelines, sync vs async SGD, ring steps.

- ``plot_allreduce(sizes, seconds, fit)``: measured allreduce times on log-log axes, the fitted ring model
  (``allreduce_model.fit_alpha_beta``) and the latency-bound / bandwidth-bound regions (``allreduce_model.crossover_bytes``).
- ``read_timeline(path)`` reads the JSON Horovod writes to ``HOROVOD_TIMELINE`` (an array it may leave
  open); ``timeline_intervals(events, prefix)`` turns its begin/end events into one row per activity of
  each tensor, for the last round of the tensors named ``prefix...``; ``plot_timeline({label: path})``
  draws them as a Gantt chart, one panel per run, on a shared time axis.
- ``plot_sync_async(results)``: loss against worker steps and against wall time for MXNet parameter-server
  runs (``dist_sync`` / ``dist_async`` results of ``workers/ps_training.py``), smoothed by ``moving_average``;
  ``step_wall_times`` says when each step was done (MXNet queues steps asynchronously, see there).
- ``delayed_gradient_descent``: gradient descent on f(w) = curvature * w^2 / 2 with gradients ``delay``
  updates old, a TEACHING MODEL of why stale (asynchronous) gradients can diverge; ``stable_learning_rate``
  is its known stability limit 2 sin(pi / (2 (2 delay + 1))) / curvature.
- ``plot_ring_allreduce(simulation)``: the steps of ``allreduce_model.ring_allreduce_simulation`` (itself a
  TEACHING MODEL, never what trains) as one small grid per step.

Used by notebooks 07-parameter-server and 08-allreduce-and-horovod.
"""
import json
import math
import pathlib

import numpy as np

from .validation import (check_array, check_bool, check_integer, check_number, check_path, check_positive_int,
                         check_positive_number, check_record, check_sequence, check_string)

TIMELINE_COLORS = {"NEGOTIATE_ALLREDUCE": "tab:grey", "MEMCPY_IN_FUSION_BUFFER": "tab:orange",
                   "ALLREDUCE": "tab:blue", "MEMCPY_OUT_FUSION_BUFFER": "tab:green"}
MODE_COLORS = {"dist_sync": "tab:blue", "dist_async": "tab:red"}


def _check_fit(fit):
    """``fit`` must look like an ``allreduce_model.AllreduceFit``: latency >= 0, bandwidth > 0, predict()."""
    if fit is None or not all(hasattr(fit, attribute) for attribute in ("latency", "bandwidth", "predict")):
        raise TypeError(f"fit must be the AllreduceFit of allreduce_model.fit_alpha_beta, got {type(fit).__name__}")
    check_number(fit.latency, "fit.latency", minimum=0)
    if not (isinstance(fit.bandwidth, (int, float)) and fit.bandwidth == math.inf):
        check_positive_number(fit.bandwidth, "fit.bandwidth")
    return fit


# ---------------------------------------------------------------------------------- allreduce curve

def plot_allreduce(sizes, seconds, fit, num_workers=2, ax=None, label="measured (Horovod, Gloo)"):
    """Log-log allreduce time vs buffer size: points, the fitted model, the two regions; returns the figure."""
    import matplotlib.pyplot as plt

    from . import allreduce_model

    from matplotlib.axes import Axes

    sizes = check_array(sizes, "sizes", ndim=1, dtype=float)
    seconds = check_array(seconds, "seconds", ndim=1, dtype=float)
    if sizes.shape != seconds.shape or sizes.size < 2:
        raise ValueError(f"sizes and seconds must be 1-D, the same length and at least 2 long, got "
                         f"{sizes.shape} and {seconds.shape}")
    if (sizes <= 0).any() or (seconds <= 0).any():
        raise ValueError("sizes and seconds must be > 0 (log-log axes)")
    fit = _check_fit(fit)
    num_workers = check_integer(num_workers, "num_workers", minimum=2)
    label = check_string(label, "label")
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    grid = np.logspace(np.log10(sizes.min()), np.log10(sizes.max()), 200)
    ax.loglog(sizes, seconds * 1e6, "o", label=label)
    ax.loglog(grid, fit.predict(grid, num_workers) * 1e6, "-", color="k", linewidth=1,
              label=f"ring model: alpha {fit.latency * 1e6:.0f} us, B {fit.bandwidth / 1e9:.2g} GB/s")
    if math.isfinite(fit.bandwidth) and fit.latency > 0:
        crossover = allreduce_model.crossover_bytes(fit.latency, fit.bandwidth, num_workers)
        ax.axvline(crossover, color="grey", linestyle="--", linewidth=1)
        ax.axvspan(sizes.min(), crossover, color="tab:orange", alpha=0.08)
        ax.axvspan(crossover, sizes.max(), color="tab:green", alpha=0.08)
        ax.annotate("latency-bound", (sizes.min(), seconds.max() * 1e6), fontsize=8, va="top")
        ax.annotate(f"bandwidth-bound\n(from {crossover / 1e6:.2g} MB)", (crossover, seconds.max() * 1e6),
                    xytext=(4, 0), textcoords="offset points", fontsize=8, va="top")
    ax.set(xlabel="buffer size (bytes)", ylabel="allreduce time (us)",
           title=f"Allreduce on {num_workers} workers: T = 2(p-1) alpha + 2(p-1)/p N/B")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    ax.figure.tight_layout()
    return ax.figure


# ------------------------------------------------------------------------------------ Horovod timeline

def read_timeline(path):
    """The events of a Horovod timeline file (a JSON array that Horovod may not have closed)."""
    path = check_path(path, "path")
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} is not a file: was HOROVOD_TIMELINE set to it for the run?")
    text = path.read_text().strip().rstrip(",")
    if not text:
        raise ValueError(f"timeline {path} is empty: was HOROVOD_TIMELINE set for the run?")
    try:
        events = json.loads(text if text.endswith("]") else text + "]")
    except json.JSONDecodeError as error:
        raise ValueError(f"path {str(path)!r} is not a Horovod timeline (JSON array): {error}") from None
    if not isinstance(events, list):
        raise ValueError(f"path {str(path)!r} is not a Horovod timeline: it holds no JSON array of events")
    return events


def timeline_intervals(events, prefix="fusion.", last_round=True):
    """Rows {tensor, activity, start_ms, end_ms} of the last complete round of the tensors named ``prefix...``.

    Horovod's timeline has one "process" per tensor (named ``horovod_allreduce.<name>``) and nested begin
    ("B") / end ("E") events in it. A round starts where the first tensor (the shortest name, then the
    smallest) begins negotiating; the last round in which every tensor finished its ALLREDUCE is kept
    (Horovod may not flush the end of the file before the workers exit). Times in ms from its start.
    ``last_round=False``: the rows of every round, in ms from the first one's start."""
    if not isinstance(events, list):
        raise TypeError(f"events must be the list read_timeline returns, got {type(events).__name__}")
    if not events:
        raise ValueError("events must not be empty: the timeline holds no event")
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise TypeError(f"events[{index}] must be a dict (a Horovod timeline event), got {event!r}")
        if event.get("ph") in ("B", "E"):
            check_record(event, f"events[{index}]", ("pid", "ts") + (("name",) if event["ph"] == "B" else ()))
    prefix = check_string(prefix, "prefix", allow_empty=True)
    last_round = check_bool(last_round, "last_round")
    names = {event["pid"]: event["args"]["name"].split(".", 1)[-1] for event in events
             if event.get("ph") == "M" and event.get("name") == "process_name" and "name" in event.get("args", {})}
    chosen = {pid: name for pid, name in names.items() if name.startswith(prefix)}
    if not chosen:
        raise ValueError(f"no tensor named {prefix!r}... in the timeline; names found: {sorted(names.values())[:8]}")
    stacks, rows = {}, []
    for event in events:
        pid = event.get("pid")
        if pid not in chosen or event.get("ph") not in ("B", "E"):
            continue
        if event["ph"] == "B":
            stacks.setdefault(pid, []).append((event["name"], event["ts"]))
        elif stacks.get(pid):
            activity, start = stacks[pid].pop()
            rows.append({"tensor": chosen[pid], "activity": activity, "start": start, "end": event["ts"]})
    first = min(chosen.values(), key=lambda name: (len(name), name))
    starts = sorted(row["start"] for row in rows if row["tensor"] == first and row["activity"].startswith("NEGOTIATE"))
    windows = list(zip(starts, starts[1:] + [math.inf])) or [(min(row["start"] for row in rows), math.inf)]
    if not last_round:
        return [dict(row, start_ms=(row["start"] - windows[0][0]) / 1e3, end_ms=(row["end"] - windows[0][0]) / 1e3)
                for row in rows]
    for begin, end in reversed(windows):
        kept = [row for row in rows if begin <= row["start"] < end]
        if len({row["tensor"] for row in kept if row["activity"] == "ALLREDUCE"}) == len(chosen):
            break
    else:
        raise ValueError(f"no round of the {len(chosen)} {prefix!r} tensors is complete in the timeline")
    return [dict(row, start_ms=(row["start"] - begin) / 1e3, end_ms=(row["end"] - begin) / 1e3) for row in kept]


def plot_timeline(timelines, prefix="fusion.", activities=tuple(TIMELINE_COLORS)):
    """Gantt chart of one round of ``prefix`` tensors per run: ``timelines`` is {label: path or events}."""
    import matplotlib.pyplot as plt

    if not isinstance(timelines, dict) or not timelines:
        raise TypeError("timelines must be a non-empty dict {label: timeline path or event list}")
    for label, timeline in timelines.items():
        if not isinstance(timeline, (list, str, pathlib.PurePath)):
            raise TypeError(f"timelines[{label!r}] must be a timeline path or an event list, got "
                            f"{type(timeline).__name__}")
    prefix = check_string(prefix, "prefix", allow_empty=True)
    activities = [check_string(activity, "activities") for activity in check_sequence(activities, "activities")]
    figure, axes = plt.subplots(len(timelines), 1, figsize=(9, 2.2 + 1.6 * len(timelines)), sharex=True,
                                squeeze=False)
    for ax, (label, timeline) in zip(axes[:, 0], timelines.items()):
        events = timeline if isinstance(timeline, list) else read_timeline(timeline)
        rows = [row for row in timeline_intervals(events, prefix) if row["activity"] in activities]
        tensors = sorted({row["tensor"] for row in rows}, key=lambda name: (len(name), name))
        position = {name: index for index, name in enumerate(tensors)}
        for activity in activities:
            chosen = [row for row in rows if row["activity"] == activity]
            if chosen:
                ax.barh([position[row["tensor"]] for row in chosen],
                        [row["end_ms"] - row["start_ms"] for row in chosen], left=[row["start_ms"] for row in chosen],
                        height=0.8, color=TIMELINE_COLORS.get(activity), label=activity)
        end = max(row["end_ms"] for row in rows)
        ax.set(ylabel="tensor", title=f"{label}: {len(tensors)} tensors done after {end:.1f} ms")
        ax.set_ylim(len(tensors) - 0.5, -0.5)
        ax.legend(fontsize=7, loc="lower right")
    axes[-1, 0].set_xlabel("time since the round started (ms)")
    figure.tight_layout()
    return figure


# ------------------------------------------------------------------------------- sync vs async SGD

def moving_average(values, window=10):
    """Mean of each ``window`` consecutive values (shorter at the start), same length as ``values``."""
    values = check_array(values, "values", ndim=1, dtype=float)
    window = check_positive_int(window, "window")
    sums = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, values.size + 1), window)
    return (sums[1:] - sums[np.arange(values.size) + 1 - counts]) / counts


def step_wall_times(result):
    """(seconds at which each step was done, measured?) for one ``ps_training`` result.

    MXNet runs the steps asynchronously: a timestamp taken when ``trainer.step`` returns says when Python
    queued the step, not when the engine finished it. When the worker's timestamps end well before its
    measured total (taken after ``mx.nd.waitall()``), the steps are spread evenly over that total instead."""
    check_record(result, "result", ("seconds",))
    seconds = check_array(result["seconds"], "result['seconds']", ndim=1, min_size=0, dtype=float)
    total = check_number(result.get("total_seconds"), "result['total_seconds']", minimum=0, allow_none=True)
    if total and seconds.size and seconds[-1] < 0.9 * total:
        return np.arange(1, seconds.size + 1) * total / seconds.size, False
    return seconds, True


def plot_sync_async(results, window=10):
    """Loss vs worker steps and vs wall time, per mode and worker; ``results`` is {mode: worker results}."""
    import matplotlib.pyplot as plt

    if not isinstance(results, dict) or not results:
        raise TypeError("results must be a dict {mode: list of ps_training results}")
    for mode, workers in results.items():
        for index, result in enumerate(check_sequence(workers, f"results[{mode!r}]")):
            check_record(result, f"results[{mode!r}][{index}]", ("rank", "losses", "seconds"))
            losses = check_array(result["losses"], f"results[{mode!r}][{index}]['losses']", ndim=1)
            if len(losses) != len(result["seconds"]):
                raise ValueError(f"results[{mode!r}][{index}] has {len(losses)} losses but "
                                 f"{len(result['seconds'])} seconds: one of each per step")
    window = check_positive_int(window, "window")
    figure, (by_step, by_time) = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    all_measured = True
    for mode, workers in results.items():
        for result, style in zip(sorted(workers, key=lambda r: r["rank"]), ("-", "--", ":", "-.")):
            smooth = moving_average(result["losses"], window)
            label = f"{mode}, worker {result['rank']}"
            times, measured = step_wall_times(result)
            all_measured &= measured
            by_step.plot(np.arange(1, len(smooth) + 1), smooth, style, color=MODE_COLORS.get(mode), label=label)
            by_time.plot(times, smooth, style, color=MODE_COLORS.get(mode), label=label)
    by_step.set(xlabel="steps of each worker (one gradient pushed per step)",
                ylabel=f"training loss (mean of {window} steps)", title="Loss per step")
    by_time.set(xlabel="wall time of the worker (s)" + ("" if all_measured else
                ": its measured total, spread evenly over its steps"), title="Loss over time")
    for ax in (by_step, by_time):
        ax.grid(alpha=0.3)
    by_time.legend(fontsize=8)
    figure.tight_layout()
    return figure


def delayed_gradient_descent(learning_rate, delay=0, curvature=1.0, steps=60, start=1.0):
    """TEACHING MODEL: w_{t+1} = w_t - lr * curvature * w_{t-delay} on f(w) = curvature w^2 / 2; returns w."""
    learning_rate = check_positive_number(learning_rate, "learning_rate")
    curvature = check_positive_number(curvature, "curvature")
    delay = check_integer(delay, "delay", minimum=0)
    steps = check_positive_int(steps, "steps")
    w = [check_number(start, "start")]
    for t in range(steps):
        stale = w[max(t - delay, 0)]  # the parameters this gradient was computed on
        w.append(w[t] - learning_rate * curvature * stale)
    return np.array(w)


def stable_learning_rate(delay=0, curvature=1.0):
    """Largest learning rate for which ``delayed_gradient_descent`` converges: 2 sin(pi/(2(2d+1))) / h."""
    curvature = check_positive_number(curvature, "curvature")
    delay = check_integer(delay, "delay", minimum=0)
    return 2 * math.sin(math.pi / (2 * (2 * delay + 1))) / curvature


# ----------------------------------------------------------------------------------- ring allreduce

def ring_contributions(simulation):
    """Replay a ``ring_allreduce_simulation``'s transfers: per step, how many workers' values each chunk holds."""
    if not hasattr(simulation, "results") or not hasattr(simulation, "steps"):
        raise TypeError("simulation must be what allreduce_model.ring_allreduce_simulation returns, got "
                        f"{type(simulation).__name__}")
    num_workers = len(simulation.results)
    counts = np.ones((num_workers, num_workers), dtype=int)  # [worker, chunk]: its own value only
    states = [counts.copy()]
    for step in simulation.steps:
        before = counts.copy()  # all sends of a step happen at once
        for sender, receiver, chunk, _ in step["transfers"]:
            if step["phase"] == "reduce-scatter":
                counts[receiver, chunk] = before[receiver, chunk] + before[sender, chunk]
            else:
                counts[receiver, chunk] = before[sender, chunk]
        states.append(counts.copy())
    return states


def plot_ring_allreduce(simulation):
    """TEACHING MODEL: one grid per step (rows workers, columns chunks, number = workers summed in)."""
    import matplotlib.pyplot as plt

    states = ring_contributions(simulation)
    num_workers = states[0].shape[0]
    titles = ["start"] + [f"{step['phase']} {step['step'] + 1}" for step in simulation.steps]
    figure, axes = plt.subplots(1, len(states), figsize=(2.1 * len(states), 2.6), squeeze=False)
    for index, (ax, state, title) in enumerate(zip(axes[0], states, titles)):
        ax.imshow(state, cmap="Blues", vmin=0, vmax=num_workers)
        for worker in range(num_workers):
            for chunk in range(num_workers):
                ax.text(chunk, worker, state[worker, chunk], ha="center", va="center", fontsize=8,
                        color="white" if state[worker, chunk] == num_workers else "black")
        if index:  # arrows of this step: sender's chunk -> receiver
            for sender, receiver, chunk, _ in simulation.steps[index - 1]["transfers"]:
                ax.annotate("", (chunk + 0.3, receiver), (chunk + 0.3, sender), fontsize=6,
                            arrowprops={"arrowstyle": "->", "color": "tab:red", "linewidth": 0.8,
                                        "connectionstyle": "arc3,rad=0.3"})
        ax.set_title(title, fontsize=8)
        ax.set_xticks(range(num_workers), [f"c{c}" for c in range(num_workers)], fontsize=7)
        ax.set_yticks(range(num_workers), [f"w{w}" for w in range(num_workers)], fontsize=7)
    figure.suptitle("TEACHING MODEL of ring allreduce (allreduce_model.ring_allreduce_simulation): "
                    "number = workers whose values a chunk holds", fontsize=9)
    figure.tight_layout()
    return figure
