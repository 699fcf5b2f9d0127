"""How much of the gradient allreduce a real training step hides behind its backward pass (slide 74).

Horovod starts allreducing a layer's gradient as soon as backprop has written it, while the earlier layers'
gradients are still being computed. ``workers/horovod_overlap.py`` runs training steps under
``HOROVOD_TIMELINE`` and records, on its own clock, when each step's backward pass began; this module
puts the two records on one time axis and measures:
- ``tensor_rows(events, prefix)``: one row per allreduce of a tensor named ``prefix...``: when each rank
  had it ready (the ranks' marks in Horovod's NEGOTIATE span), when its ALLREDUCE began and ended, in
  seconds on the timeline's axis.
- ``clock_offset(events, marks)``: seconds to add to the worker's ``time.monotonic()`` readings to get
  timeline seconds, from the one-number "marker" allreduces the worker enqueues at known times (the
  smallest ready-minus-enqueue difference: Horovod can only note a tensor after it was enqueued).
- ``interval_union``, ``overlap_seconds`` and ``overlap_fraction(allreduces, windows)``: the fraction of
  the time some allreduce was running that lies inside the backward window(s); time is counted once when
  several (fused) tensors are reduced together.
- ``measure_overlap(events, marks, num_tensors)``: per traced step, each rank's backward window (from its
  clock reading when backward began to the moment its last gradient was ready), the allreduce rows and the
  fraction hidden behind the backward of the rank that finished last; steps the timeline did not record
  completely are left out.
- ``plot_overlap_step(step)``: one step as a timeline: the backward window, a bar per tensor's
  allreduce, the part inside the window shaded.

Used by notebook 08-allreduce-and-horovod (section on overlap, with ``allreduce_model.projected_scaling``).
"""
import dataclasses
import math

import numpy as np

from .validation import check_integer, check_number, check_records, check_sequence, check_string

MARKER_PREFIX, GRADIENT_PREFIX = "overlap_marker.", "grad."  # the names workers/horovod_overlap.py uses
MARK_KEYS = ("step", "marker", "forward", "backward", "end")


def _check_events(events):
    """``events`` as the list ``distributed_plots.read_timeline`` returns, begin/end events well formed."""
    if not isinstance(events, list):
        raise TypeError(f"events must be the list distributed_plots.read_timeline returns, got "
                        f"{type(events).__name__}")
    if not events:
        raise ValueError("events must not be empty: the timeline holds no event")
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise TypeError(f"events[{index}] must be a dict (a Horovod timeline event), got {event!r}")
        if event.get("ph") in ("B", "E", "X"):
            for key in ("pid", "ts") + (("name",) if event["ph"] != "E" else ()):
                if key not in event:
                    raise ValueError(f"events[{index}] has no {key!r} key: not a Horovod timeline event")
            check_number(event["ts"], f"events[{index}]['ts']")
    return events


def tensor_rows(events, prefix=GRADIENT_PREFIX):
    """One dict {tensor, ready, start, end} (seconds on the timeline's axis) per allreduce of ``prefix...``.

    ``ready``: {rank: when that rank had the tensor ready} (the ranks' marks inside NEGOTIATE_ALLREDUCE;
    empty when Horovod's response cache skipped the negotiation); ``start``/``end``: the tensor's ALLREDUCE
    span (fusion-buffer copies and the Gloo allreduce inside it). Rows are in the order the allreduces
    began; an allreduce without its end (a timeline cut short) is left out."""
    events = _check_events(events)
    prefix = check_string(prefix, "prefix", allow_empty=True)
    names = {event["pid"]: event["args"]["name"].split(".", 1)[-1] for event in events
             if event.get("ph") == "M" and event.get("name") == "process_name"
             and str(event.get("args", {}).get("name", "")).startswith("horovod_allreduce.")}
    chosen = {pid: name for pid, name in names.items() if name.startswith(prefix)}
    if not chosen:
        raise ValueError(f"no allreduce of a tensor named {prefix!r}... in the timeline; names found: "
                         f"{sorted(names.values())[:8]}")
    stacks, ready, rows = {}, {}, []
    for event in events:
        pid, phase = event.get("pid"), event.get("ph")
        if pid not in chosen:
            continue
        if phase == "X" and stacks.get(pid) and stacks[pid][-1][0].startswith("NEGOTIATE") \
                and str(event["name"]).isdigit():
            ready.setdefault(pid, {})[int(event["name"])] = event["ts"] / 1e6
        elif phase == "B":
            stacks.setdefault(pid, []).append((event["name"], event["ts"] / 1e6))
        elif phase == "E" and stacks.get(pid):
            activity, start = stacks[pid].pop()
            if activity == "ALLREDUCE":
                rows.append({"tensor": chosen[pid], "ready": ready.pop(pid, {}), "start": start,
                             "end": event["ts"] / 1e6})
    return sorted(rows, key=lambda row: row["start"])


def _marks_by_rank(marks):
    """``marks`` as {rank: list of marks}: a list is rank 0's, a dict maps ranks to their lists."""
    if not isinstance(marks, dict):
        marks = {0: marks}
    if not marks:
        raise ValueError("marks must not be empty: pass result['marks'] of workers/horovod_overlap.py")
    return {check_integer(rank, "marks rank", minimum=0):
            check_records(items, f"marks[{rank}]", MARK_KEYS, "a mark of workers/horovod_overlap.py")
            for rank, items in marks.items()}


def clock_offset(events, marks, prefix=MARKER_PREFIX):
    """Seconds to add to the workers' clock readings to put them on the timeline's axis (see module doc).

    ``marks``: one rank's list of marks, or {rank: marks} (ranks on one machine share the clock)."""
    marks = _marks_by_rank(marks)
    ready = {row["tensor"]: row["ready"] for row in tensor_rows(events, prefix)}
    differences = [ready[f"{prefix}{mark['step']}"][rank] - check_number(mark["marker"], "marks[...]['marker']")
                   for rank, items in marks.items() for mark in items
                   if rank in ready.get(f"{prefix}{mark['step']}", {})]
    if not differences:
        raise ValueError(f"no marker allreduce ({prefix!r}<step>) of the marks has a ready mark of its rank in "
                         "the timeline: pass the timeline of the same run")
    return min(differences)


def interval_union(intervals):
    """The union of (start, end) intervals as a sorted list of disjoint (start, end) pairs."""
    intervals = check_sequence(intervals, "intervals", allow_empty=True)
    pairs = []
    for index, pair in enumerate(intervals):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"intervals[{index}] must be a (start, end) pair, got {pair!r}")
        start, end = (check_number(value, f"intervals[{index}]") for value in pair)
        if end < start:
            raise ValueError(f"intervals[{index}] ends before it starts: {pair!r}")
        pairs.append((start, end))
    merged = []
    for start, end in sorted(pairs):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def overlap_seconds(intervals, windows):
    """Seconds of the union of ``intervals`` that lie inside the union of ``windows``."""
    windows = interval_union(windows)
    return sum(max(0.0, min(end, window_end) - max(start, window_start))
               for start, end in interval_union(intervals) for window_start, window_end in windows)


def overlap_fraction(intervals, windows):
    """Fraction of the allreduce time (the union of ``intervals``) spent inside ``windows``: 0 none, 1 all."""
    total = sum(end - start for start, end in interval_union(intervals))
    if total <= 0:
        raise ValueError("intervals must hold some allreduce time (at least one interval longer than 0)")
    return overlap_seconds(intervals, windows) / total


@dataclasses.dataclass
class OverlapStep:
    """One traced step (seconds on the timeline's axis) and how much of its allreduce hid behind backward.

    ``forwards``: {rank: when its forward pass began}; ``windows``: {rank: (backward start, last gradient ready)}; the step's window is the one of the rank
    whose backward ended last (``critical_rank``): once it is done, every allreduce still running delays
    the step."""

    step: int
    forward_start: float
    end: float
    forwards: dict
    windows: dict
    critical_rank: int
    rows: list
    allreduce_seconds: float
    hidden_seconds: float
    fraction: float

    @property
    def backward_start(self):
        """When the critical rank's backward pass began."""
        return self.windows[self.critical_rank][0]

    @property
    def backward_end(self):
        """When the critical rank had its last gradient ready."""
        return self.windows[self.critical_rank][1]


@dataclasses.dataclass
class OverlapMeasurement:
    """The steps of ``measure_overlap``, the median fraction over them and the pooled one (sum / sum)."""

    steps: list
    fraction: float
    pooled_fraction: float
    offset: float

    def __str__(self):
        return (f"{len(self.steps)} steps: {self.fraction:.0%} of the allreduce time inside the backward pass "
                f"(median; per step " + ", ".join(f"{step.fraction:.0%}" for step in self.steps) + ")")


def measure_overlap(events, marks, num_tensors, prefix=GRADIENT_PREFIX, offset=None):
    """Per traced step: backward windows, allreduce rows, fraction hidden (see module doc and OverlapStep).

    ``marks``: the worker's ``marks`` (one dict per step, monotonic seconds) of one rank, or {rank: marks}
    for several; ``num_tensors``: gradient tensors per step (``len(result["tensor_bytes"])``): a step with
    fewer completed allreduces (each with a ready mark of every rank given) is left out. ``offset``: the
    clock offset, by default ``clock_offset(events, marks)``."""
    marks = _marks_by_rank(marks)
    num_tensors = check_integer(num_tensors, "num_tensors", minimum=1)
    offset = clock_offset(events, marks) if offset is None else check_number(offset, "offset")
    rows = tensor_rows(events, prefix)
    by_step = {}
    for rank, items in marks.items():
        for mark in items:
            times = {key: check_number(mark[key], f"marks[{rank}][...][{key!r}]") + offset for key in MARK_KEYS[2:]}
            if not times["forward"] <= times["backward"] <= times["end"]:
                raise ValueError(f"marks of rank {rank}, step {mark['step']} are not in order forward <= backward "
                                 f"<= end: {mark!r}")
            by_step.setdefault(int(mark["step"]), {})[rank] = times
    steps = []
    for step, times in sorted(by_step.items()):
        if set(times) != set(marks):
            continue
        first, last = min(t["forward"] for t in times.values()), max(t["end"] for t in times.values())
        chosen = [row for row in rows if first <= row["start"] <= last and set(marks) <= set(row["ready"])]
        if len(chosen) < num_tensors:
            continue  # the timeline holds only part of this step
        windows = {rank: (t["backward"], max(t["backward"], max(row["ready"][rank] for row in chosen)))
                   for rank, t in times.items()}
        critical = max(windows, key=lambda rank: windows[rank][1])
        intervals = [(row["start"], row["end"]) for row in chosen]
        total = sum(end - start for start, end in interval_union(intervals))
        hidden = overlap_seconds(intervals, [windows[critical]])
        forwards = {rank: t["forward"] for rank, t in times.items()}
        steps.append(OverlapStep(step, first, last, forwards, windows, critical, chosen, total, hidden,
                                 hidden / total if total > 0 else 0.0))
    if not steps:
        raise ValueError(f"no step of the marks has all {num_tensors} {prefix!r} allreduces in the timeline: "
                         "pass the timeline of the same run (and num_tensors = gradient tensors per step)")
    pooled = sum(s.hidden_seconds for s in steps) / max(sum(s.allreduce_seconds for s in steps), 1e-12)
    return OverlapMeasurement(steps, float(np.median([s.fraction for s in steps])), float(pooled), offset)


def plot_overlap_step(step, ax=None, title=None):
    """One ``OverlapStep`` as a timeline in ms from its forward pass: backward windows, per-tensor allreduces."""
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if not isinstance(step, OverlapStep):
        raise TypeError(f"step must be an OverlapStep (measure_overlap(...).steps[i]), got {type(step).__name__}")
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    ranks = sorted(step.windows)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 1.6 + 0.22 * (len(step.rows) + len(ranks))))
    ms = lambda seconds: (seconds - step.forward_start) * 1e3  # noqa: E731
    for position, rank in enumerate(ranks):
        start, end = step.windows[rank]
        ax.barh(position, ms(start) - ms(step.forwards[rank]), left=ms(step.forwards[rank]), height=0.8,
                color="tab:grey", label="forward" if position == 0 else None)
        ax.barh(position, ms(end) - ms(start), left=ms(start), height=0.8, color="tab:purple",
                alpha=1.0 if rank == step.critical_rank else 0.45,
                label="backward (until the rank's last gradient is ready)" if position == 0 else None)
    ax.axvspan(ms(step.backward_start), ms(step.backward_end), color="tab:purple", alpha=0.08)
    order = sorted(step.rows, key=lambda row: (max(row["ready"].values()), row["start"]))
    for position, row in enumerate(order, start=len(ranks)):
        inside = (max(row["start"], step.backward_start), min(row["end"], step.backward_end))
        first = position == len(ranks)
        ax.barh(position, ms(row["end"]) - ms(row["start"]), left=ms(row["start"]), color="tab:blue", height=0.7,
                label="allreduce" if first else None)
        if inside[1] > inside[0]:
            ax.barh(position, ms(inside[1]) - ms(inside[0]), left=ms(inside[0]), color="tab:orange", height=0.7,
                    label=f"hidden behind rank {step.critical_rank}'s backward" if first else None)
        ax.plot([ms(t) for t in row["ready"].values()], [position] * len(row["ready"]), "k|", markersize=8,
                label="gradient ready (each rank)" if first else None)
    ax.set_yticks(range(len(ranks) + len(order)),
                  [f"rank {rank} compute" for rank in ranks] + [row["tensor"] for row in order], fontsize=7)
    ax.set_ylim(len(ranks) + len(order) - 0.4, -0.6)
    ax.set_xlabel("ms since the step's first forward pass began")
    ax.set_title(title or f"step {step.step}: {step.fraction:.0%} of {step.allreduce_seconds * 1e3:.1f} ms of "
                          "allreduce inside the backward pass")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3, axis="x")
    ax.figure.tight_layout()
    return ax.figure
