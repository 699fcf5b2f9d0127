"""The ring-allreduce cost model: what data-parallel communication costs and how it scales.

Alpha-beta model (Thakur, Rabenseifner & Gropp 2005; Patarasuk & Yuan 2009; the model behind Horovod,
Sergeev & Del Balso 2018): T(N, p) = 2(p-1) alpha + 2(p-1)/p N/B. Lecture slides 60-62 and 73-74; used by notebook
08-allreduce-and-horovod, by ``distributed_plots`` and the allreduce benchmark worker.
- ``ring_allreduce_time``, ``fit_alpha_beta`` (least squares on measured times), ``crossover_bytes``
  (latency- vs bandwidth-bound), ``fusion_gain`` (why Horovod fuses small tensors into one buffer),
  ``projected_scaling`` and ``plot_scaling`` (scaling efficiency vs workers); ``bytes_per_second(gbits)``.
- ``ring_allreduce_simulation``: a NumPy TEACHING MODEL of the algorithm's steps; never used to train.
"""
import dataclasses
import math

import numpy as np

from . import validation

# ------------------------------------------------------------------------------ the ring-allreduce model

def bytes_per_second(gigabits_per_second):
    """Convert a link speed in Gbit/s (how networks are sold) to bytes per second (what the model uses)."""
    return validation.scalar_or_array(validation.check_number_array("gigabits_per_second", gigabits_per_second) * 1e9 / 8)


def ring_allreduce_time(num_bytes, num_workers, latency, bandwidth):
    """Seconds to ring-allreduce ``num_bytes`` over ``num_workers``: 2(p-1) alpha + 2(p-1)/p N/B; broadcasts."""
    size = validation.check_number_array("num_bytes", num_bytes)
    workers = validation.check_whole_array("num_workers", num_workers)
    alpha = validation.check_number_array("latency", latency, strict=False)
    beta = 1.0 / validation.check_number_array("bandwidth", bandwidth)
    return validation.scalar_or_array(2 * (workers - 1) * alpha + 2 * (workers - 1) / workers * size * beta)


def crossover_bytes(latency, bandwidth, num_workers):
    """Buffer size where the latency term equals the bandwidth term (p alpha B): smaller is latency-bound."""
    workers = validation.check_whole_array("num_workers", num_workers)
    if (workers < 2).any():
        raise ValueError(f"num_workers must be >= 2 (one worker sends nothing), got {num_workers!r}")
    alpha = validation.check_number_array("latency", latency, strict=False)
    return validation.scalar_or_array(workers * alpha * validation.check_number_array("bandwidth", bandwidth))


@dataclasses.dataclass
class AllreduceFit:
    """Latency (s) and bandwidth (bytes/s) fitted to measured allreduce times, with R^2 on the seconds."""

    latency: float
    bandwidth: float
    r_squared: float
    num_workers: tuple

    def predict(self, num_bytes, num_workers=None):
        """Predicted seconds for ``num_bytes`` (defaults to the worker count measured, if only one)."""
        if num_workers is None:
            if len(self.num_workers) != 1:
                raise ValueError("num_workers is required: the fit used several worker counts")
            num_workers = self.num_workers[0]
        return ring_allreduce_time(num_bytes, num_workers, self.latency, self.bandwidth)

    def __str__(self):
        return (f"latency {self.latency * 1e6:.2f} us, bandwidth {self.bandwidth / 1e9:.3g} GB/s, "
                f"R^2 {self.r_squared:.4f}")


def fit_alpha_beta(num_bytes, seconds, num_workers, relative=True):
    """Non-negative least-squares fit of latency and bandwidth to measured allreduce times."""
    relative = validation.check_bool(relative, "relative")
    size, time = np.atleast_1d(validation.check_number_array("num_bytes", num_bytes)), np.atleast_1d(validation.check_number_array("seconds", seconds))
    if size.shape != time.shape or size.ndim != 1:
        raise ValueError(f"num_bytes and seconds must be 1-D and the same length, got {size.shape} and "
                         f"{time.shape}")
    workers = np.atleast_1d(validation.check_whole_array("num_workers", num_workers))
    if workers.size == 1:
        workers = np.full(size.shape, workers[0])
    if workers.shape != size.shape:
        raise ValueError(f"num_workers must be one number or one per measurement, got shape {workers.shape}")
    if (workers < 2).any():
        raise ValueError("num_workers must be >= 2 for every measurement (one worker sends nothing)")
    design = np.column_stack([2 * (workers - 1), 2 * (workers - 1) / workers * size])
    # Timings have roughly constant *relative* noise across sizes that span orders of magnitude, so by
    # default each row is weighted by 1/seconds; plain least squares would ignore the small messages,
    # which are the ones that carry the latency.
    weights = 1.0 / time if relative else np.ones_like(time)
    weighted, target = design * weights[:, None], time * weights
    if np.linalg.matrix_rank(weighted / np.linalg.norm(weighted, axis=0)) < 2:
        raise ValueError("num_bytes must contain at least two different sizes per worker count to separate "
                         "latency from bandwidth")
    coefficients = _nonnegative_least_squares(weighted, target)
    residual = time - design @ coefficients
    total = np.sum((time - time.mean()) ** 2)
    r_squared = 1.0 - np.sum(residual ** 2) / total if total > 0 else float("nan")
    bandwidth = 1.0 / coefficients[1] if coefficients[1] > 0 else float("inf")
    return AllreduceFit(float(coefficients[0]), float(bandwidth), float(r_squared),
                        tuple(int(p) for p in np.unique(workers)))


def _nonnegative_least_squares(design, target):
    """Two-unknown NNLS: the unconstrained solution if non-negative, else the best one-column fit."""
    solution = np.linalg.lstsq(design, target, rcond=None)[0]
    if (solution >= 0).all():
        return solution
    candidates = [np.zeros(2)]
    for column in range(2):
        candidate = np.zeros(2)
        candidate[column] = max(design[:, column] @ target / (design[:, column] @ design[:, column]), 0.0)
        candidates.append(candidate)
    return min(candidates, key=lambda c: np.sum((design @ c - target) ** 2))


@dataclasses.dataclass
class FusionEstimate:
    """Predicted allreduce seconds for tensors sent one by one vs packed into fusion buffers."""

    separate_seconds: float
    fused_seconds: float
    gain: float
    num_tensors: int
    num_buffers: int


def fusion_gain(tensor_bytes_list, num_workers, latency, bandwidth, fusion_buffer_bytes=None):
    """Time for allreducing tensors one by one vs fused (one buffer, or Horovod-style buffers of a size)."""
    sizes = np.atleast_1d(validation.check_number_array("tensor_bytes_list", tensor_bytes_list))
    separate = float(np.sum(ring_allreduce_time(sizes, num_workers, latency, bandwidth)))
    if fusion_buffer_bytes is None:
        buffers = [float(sizes.sum())]
    else:
        # Greedy packing in order, as Horovod fills its fusion buffer (HOROVOD_FUSION_THRESHOLD, 64 MB).
        limit, buffers = float(validation.check_number_array("fusion_buffer_bytes", fusion_buffer_bytes)), []
        for size in sizes:
            if buffers and buffers[-1] + size <= limit:
                buffers[-1] += size
            else:
                buffers.append(float(size))
    fused = float(np.sum(ring_allreduce_time(np.array(buffers), num_workers, latency, bandwidth)))
    gain = separate / fused if fused > 0 else 1.0
    return FusionEstimate(separate, fused, gain, int(sizes.size), len(buffers))


@dataclasses.dataclass
class ScalingProjection:
    """Per worker count: step time with communication, throughput speed-up over 1 worker, efficiency."""

    num_workers: np.ndarray
    step_seconds: np.ndarray
    communication_seconds: np.ndarray
    speedup: np.ndarray
    efficiency: np.ndarray

    def rows(self):
        """One dict per worker count, for printing as a table."""
        columns = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return [{name: values[i].item() for name, values in columns.items()} for i in range(len(self.efficiency))]

    def plot(self, ax=None, label=None):
        """Efficiency vs workers on a log2 axis; returns the figure."""
        return plot_scaling(self if label is None else {label: self}, ax=ax)


def projected_scaling(model_bytes, step_seconds, latency, bandwidth,
                      num_workers=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), overlap=0.0):
    """Project weak-scaling efficiency when every step allreduces the gradients (``model_bytes``).

    ``overlap`` is the fraction of the allreduce hidden behind backprop (0: none, as in a naive loop; one
    number in [0, 1], e.g. the fraction ``overlap.measure_overlap`` measures on a Horovod timeline).
    ResNet-50 (25.6 M float32 parameters, about 102 MB), 0.2 s per step on one worker, 25 us latency:

    >>> for gbits in (10, 25, 100):
    ...     projection = projected_scaling(102.4e6, 0.2, latency=25e-6, bandwidth=bytes_per_second(gbits),
    ...                                    num_workers=(1, 8, 512))
    ...     print(gbits, "Gbit/s:", [round(float(e), 2) for e in projection.efficiency])
    10 Gbit/s: [1.0, 0.58, 0.51]
    25 Gbit/s: [1.0, 0.78, 0.69]
    100 Gbit/s: [1.0, 0.93, 0.83]
    """
    model_bytes = float(validation.check_number_array("model_bytes", model_bytes))
    compute = float(validation.check_number_array("step_seconds", step_seconds))
    overlap = validation.check_fraction(overlap, "overlap")  # e.g. measured: overlap.measure_overlap(...).fraction
    workers = np.atleast_1d(validation.check_whole_array("num_workers", num_workers))
    communication = np.atleast_1d(ring_allreduce_time(model_bytes, workers, latency, bandwidth))
    step = compute + (1.0 - overlap) * communication
    # Each worker keeps its batch size, so p workers process p batches per step.
    speedup = workers * compute / step
    return ScalingProjection(workers, step, communication, speedup, speedup / workers)


def plot_scaling(projections, ax=None):
    """Plot efficiency vs workers (log2 x-axis) for one projection or a dict {label: projection}."""
    import matplotlib.pyplot as plt

    if isinstance(projections, ScalingProjection):
        projections = {None: projections}
    if not isinstance(projections, dict) or not all(isinstance(p, ScalingProjection)
                                                    for p in projections.values()):
        raise TypeError("projections must be a ScalingProjection or a dict {label: ScalingProjection}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for label, projection in projections.items():
        ax.plot(projection.num_workers, projection.efficiency, marker="o", label=label)
    ax.axhline(1.0, color="gray", linestyle=":", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("workers")
    ax.set_ylabel("scaling efficiency")
    if any(label is not None for label in projections):
        ax.legend()
    ax.grid(alpha=0.3)
    return ax.figure


# -------------------------------------------------------------------------------------- teaching model

@dataclasses.dataclass
class RingSimulation:
    """What ``ring_allreduce_simulation`` returns: each worker's result and every step's transfers."""

    results: list
    steps: list
    elements_sent_per_worker: np.ndarray


def ring_allreduce_simulation(arrays):
    """TEACHING MODEL ONLY: simulate ring allreduce (reduce-scatter, then all-gather), one array per worker.

    Each array is cut into p chunks. In each of 2(p-1) steps every worker sends one chunk to its right
    neighbour: p-1 reduce-scatter steps (the receiver adds) and p-1 all-gather steps (the receiver copies).
    Each worker sends 2(p-1)/p of the data, whatever p is. The kit never trains with this: training uses
    Horovod, MXNet's kvstore or tf.distribute.
    """
    if not isinstance(arrays, (list, tuple)) or not arrays:
        raise TypeError("arrays must be a non-empty list with one array per worker")
    arrays = [np.asarray(a) for a in arrays]
    if any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError(f"arrays must all have the same shape, got {[a.shape for a in arrays]}")
    num_workers, dtype = len(arrays), np.result_type(*arrays)
    chunks = [np.array_split(a.astype(dtype).ravel(), num_workers) for a in arrays]
    steps, sent = [], np.zeros(num_workers, dtype=int)
    for phase in ("reduce-scatter", "all-gather"):
        for step in range(num_workers - 1):
            # Worker i sends chunk (i - step) in reduce-scatter and chunk (i + 1 - step) in all-gather.
            # All sends of a step happen at once, so every payload is taken before anyone receives.
            offset = 0 if phase == "reduce-scatter" else 1
            transfers = [(sender, (sender + 1) % num_workers, (sender + offset - step) % num_workers)
                         for sender in range(num_workers)]
            transfers = [(s, r, c, chunks[s][c].copy()) for s, r, c in transfers]
            for sender, receiver, chunk, payload in transfers:
                if phase == "reduce-scatter":
                    chunks[receiver][chunk] = chunks[receiver][chunk] + payload
                else:
                    chunks[receiver][chunk] = payload
                sent[sender] += payload.size
            steps.append({"phase": phase, "step": step,
                          "transfers": [(s, r, c, p.size) for s, r, c, p in transfers]})
    results = [np.concatenate(worker).reshape(arrays[0].shape) for worker in chunks]
    return RingSimulation(results, steps, sent)
