"""Scaling data-parallel training: large-batch learning-rate schedules and the ring-allreduce cost model.

Lecture slides 58-74; used by notebooks 07-distributed-sgd and 09-large-batch-training.

Large-batch learning rates (Goyal et al. 2017, "Accurate, Large Minibatch SGD", arXiv:1706.02677):
- ``scaled_learning_rate(0.1, 8192)`` -> 3.2: the linear scaling rule; ``scaled_for_workers`` per worker count.
- ``WarmupStepSchedule``: linear warmup from ``start_learning_rate`` to ``peak_learning_rate``, then step
  decay (divide by 10 at the boundaries) or cosine decay. Call it with a step (or an array of steps) for
  numpy; ``.to_keras()`` and ``.to_gluon()`` give the same numbers as framework schedules; ``.plot()``.
- ``goyal_schedule(batch_size, steps_per_epoch)``: the paper's ResNet-50 schedule in steps.

Ring allreduce, alpha-beta model (Thakur, Rabenseifner & Gropp 2005; Patarasuk & Yuan 2009; the model behind
Horovod, Sergeev & Del Balso 2018): T(N, p) = 2(p-1) alpha + 2(p-1)/p N/B.
- ``ring_allreduce_time``, ``fit_alpha_beta`` (least squares on measured times), ``crossover_bytes``
  (latency- vs bandwidth-bound), ``fusion_gain`` (why Horovod fuses small tensors into one buffer),
  ``projected_scaling`` and ``plot_scaling`` (scaling efficiency vs workers); ``bytes_per_second(gbits)``.
- ``ring_allreduce_simulation``: a NumPy TEACHING MODEL of the algorithm's steps; never used to train.

Steps are 0-based update counts: step k is the k-th parameter update in every form of a schedule.
"""
import dataclasses
import functools
import math

import numpy as np


def _array(name, value, minimum=0.0, strict=True):
    """Return ``value`` as a float array, raising ValueError/TypeError naming ``name`` when out of range."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}") from None
    bad = ~np.isfinite(array) | ((array <= minimum) if strict else (array < minimum))
    if array.size == 0 or bad.any():
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be finite and {relation} {minimum:g}, got {value!r}")
    return array


def _whole(name, value, minimum=1):
    """Return whole numbers >= ``minimum`` as an int array, raising ValueError/TypeError naming ``name``."""
    array = _array(name, value, minimum=minimum, strict=False)
    if (array != np.round(array)).any():
        raise ValueError(f"{name} must be whole numbers >= {minimum}, got {value!r}")
    return array.astype(int)


def _scalar_or_array(array):
    """Give back a Python float for 0-d results, so scalar in means scalar out."""
    return float(array) if np.ndim(array) == 0 else array


# ----------------------------------------------------------------------------------------- learning rates

def scaled_learning_rate(base_learning_rate, batch_size, base_batch_size=256):
    """Linear scaling rule: multiply the learning rate by the batch size over the base batch size."""
    base = float(_array("base_learning_rate", base_learning_rate))
    return base * float(_array("batch_size", batch_size)) / float(_array("base_batch_size", base_batch_size))


def scaled_for_workers(base_learning_rate, num_workers):
    """Linear scaling rule for ``num_workers`` workers that each keep the single-worker batch size."""
    return float(_array("base_learning_rate", base_learning_rate)) * float(_whole("num_workers", num_workers))


class WarmupStepSchedule:
    """Linear warmup to a peak learning rate, then step decay (or cosine decay); one schedule, three forms."""

    def __init__(self, peak_learning_rate, warmup_steps=0, start_learning_rate=0.0, decay_boundaries=(),
                 decay_factor=0.1, cosine_decay_steps=None, final_learning_rate=0.0):
        """Validate and keep the settings; boundaries and steps count updates from 0."""
        self.peak_learning_rate = float(_array("peak_learning_rate", peak_learning_rate))
        self.warmup_steps = int(_whole("warmup_steps", warmup_steps, minimum=0))
        self.start_learning_rate = float(_array("start_learning_rate", start_learning_rate, strict=False))
        try:
            boundaries = np.atleast_1d(np.asarray(decay_boundaries, dtype=float))
        except (TypeError, ValueError):
            raise TypeError(f"decay_boundaries must be a sequence of steps, got {decay_boundaries!r}") from None
        if boundaries.size and (boundaries.ndim != 1 or (np.diff(boundaries) <= 0).any()
                                or boundaries[0] < self.warmup_steps or (boundaries != np.round(boundaries)).any()):
            raise ValueError("decay_boundaries must be whole steps, strictly increasing and >= warmup_steps, "
                             f"got {decay_boundaries!r}")
        self.decay_boundaries = tuple(int(b) for b in boundaries)
        self.decay_factor = float(_array("decay_factor", decay_factor))
        if cosine_decay_steps is not None:
            cosine_decay_steps = int(_whole("cosine_decay_steps", cosine_decay_steps))
            if self.decay_boundaries:
                raise ValueError("give either decay_boundaries (step decay) or cosine_decay_steps, not both")
        self.cosine_decay_steps = cosine_decay_steps
        self.final_learning_rate = float(_array("final_learning_rate", final_learning_rate, strict=False))

    def get_config(self):
        """The constructor's arguments, as a dict (also the Keras schedule's config)."""
        return {name: getattr(self, name) for name in (
            "peak_learning_rate", "warmup_steps", "start_learning_rate", "decay_boundaries", "decay_factor",
            "cosine_decay_steps", "final_learning_rate")}

    def __call__(self, step):
        """Learning rate at ``step`` (an int or an array of ints >= 0; steps may be epochs if you like)."""
        step = _array("step", step, strict=False)
        return _scalar_or_array(self._compute(np, step))

    def _compute(self, ops, step):
        """The formula once, for numpy or keras.ops (``ops`` needs where, minimum, cos, power, add)."""
        warmup = max(self.warmup_steps, 1)  # 0 warmup steps: the peak from step 0
        ramp = self.start_learning_rate + (self.peak_learning_rate - self.start_learning_rate) * step / warmup
        if self.cosine_decay_steps is not None:
            progress = ops.minimum((step - self.warmup_steps) / self.cosine_decay_steps, 1.0)
            spread = self.peak_learning_rate - self.final_learning_rate
            after = self.final_learning_rate + spread * 0.5 * (1.0 + ops.cos(math.pi * progress))
        else:
            # Decayed from the boundary step on: at step == boundary the rate is already divided.
            passed = 0.0 * step
            for boundary in self.decay_boundaries:
                passed = passed + ops.where(step >= boundary, 1.0, 0.0)
            after = self.peak_learning_rate * ops.power(self.decay_factor, passed)
        return ops.where(step < self.warmup_steps, ramp, after)

    def to_keras(self):
        """This schedule as a ``keras.optimizers.schedules.LearningRateSchedule`` (pass it as learning_rate)."""
        return _keras_schedule_class()(**self.get_config())

    def to_gluon(self):
        """This schedule as an ``mx.lr_scheduler.LRScheduler`` (pass it as optimizer_params' lr_scheduler)."""
        return _gluon_scheduler_class()(self)

    def plot(self, num_steps, steps_per_epoch=None, ax=None):
        """Plot the learning rate over ``num_steps`` steps (x-axis in epochs if given); returns the figure."""
        import matplotlib.pyplot as plt

        num_steps = int(_whole("num_steps", num_steps))
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        steps = np.arange(num_steps)
        per_epoch = float(_array("steps_per_epoch", steps_per_epoch)) if steps_per_epoch else None
        ax.plot(steps / per_epoch if per_epoch else steps, self(steps))
        ax.set_xlabel("epoch" if per_epoch else "step")
        ax.set_ylabel("learning rate")
        ax.set_title("warmup, then " + ("cosine decay" if self.cosine_decay_steps else "step decay"))
        ax.grid(alpha=0.3)
        return ax.figure


def goyal_schedule(batch_size, steps_per_epoch, per_worker_batch_size=32, base_learning_rate=0.1,
                   base_batch_size=256, warmup_epochs=5, decay_epochs=(30, 60, 80), decay_factor=0.1):
    """Goyal et al.'s ResNet-50 schedule in steps: warm up from the per-worker rate to the scaled one."""
    steps_per_epoch = int(_whole("steps_per_epoch", steps_per_epoch))
    if warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs!r}")
    # Section 2.2: start at eta, the rate for one worker's minibatch n, and reach k * eta after 5 epochs.
    return WarmupStepSchedule(
        peak_learning_rate=scaled_learning_rate(base_learning_rate, batch_size, base_batch_size),
        warmup_steps=round(warmup_epochs * steps_per_epoch),
        start_learning_rate=scaled_learning_rate(base_learning_rate, per_worker_batch_size, base_batch_size),
        decay_boundaries=tuple(round(epoch * steps_per_epoch) for epoch in decay_epochs),
        decay_factor=decay_factor)


@functools.lru_cache(maxsize=None)
def _keras_schedule_class():
    """Define the Keras schedule class on first use, so importing this module does not import Keras."""
    import keras

    @keras.saving.register_keras_serializable(package="hpml_helpers")
    class KerasWarmupStepSchedule(keras.optimizers.schedules.LearningRateSchedule):
        """Keras form of ``WarmupStepSchedule``; the optimizer calls it with ``iterations`` (0 first)."""

        def __init__(self, **config):
            super().__init__()
            self.schedule = WarmupStepSchedule(**config)

        def __call__(self, step):
            step = keras.ops.cast(keras.ops.convert_to_tensor(step), "float32")
            return self.schedule._compute(keras.ops, step)

        def get_config(self):
            return self.schedule.get_config()

    return KerasWarmupStepSchedule


@functools.lru_cache(maxsize=None)
def _gluon_scheduler_class():
    """Define the MXNet scheduler class on first use, so importing this module does not import MXNet."""
    from . import backends

    backends.install_mxnet_numpy_shim()
    import mxnet as mx

    class GluonWarmupStepSchedule(mx.lr_scheduler.LRScheduler):
        """MXNet form of ``WarmupStepSchedule``; give the Trainer no learning_rate (it would be ignored)."""

        def __init__(self, schedule):
            super().__init__(base_lr=schedule.peak_learning_rate)
            self.schedule = schedule

        def __call__(self, num_update):
            # MXNet counts the update being made (1 for the first), Keras the updates done (0 for the
            # first): shift by one so that update k uses schedule(k) in both frameworks.
            return float(self.schedule(max(int(num_update) - 1, 0)))

    return GluonWarmupStepSchedule


# ------------------------------------------------------------------------------ the ring-allreduce model

def bytes_per_second(gigabits_per_second):
    """Convert a link speed in Gbit/s (how networks are sold) to bytes per second (what the model uses)."""
    return _scalar_or_array(_array("gigabits_per_second", gigabits_per_second) * 1e9 / 8)


def ring_allreduce_time(num_bytes, num_workers, latency, bandwidth):
    """Seconds to ring-allreduce ``num_bytes`` over ``num_workers``: 2(p-1) alpha + 2(p-1)/p N/B; broadcasts."""
    size = _array("num_bytes", num_bytes)
    workers = _whole("num_workers", num_workers)
    alpha = _array("latency", latency, strict=False)
    beta = 1.0 / _array("bandwidth", bandwidth)
    return _scalar_or_array(2 * (workers - 1) * alpha + 2 * (workers - 1) / workers * size * beta)


def crossover_bytes(latency, bandwidth, num_workers):
    """Buffer size where the latency term equals the bandwidth term (p alpha B): smaller is latency-bound."""
    workers = _whole("num_workers", num_workers)
    if (workers < 2).any():
        raise ValueError(f"num_workers must be >= 2 (one worker sends nothing), got {num_workers!r}")
    alpha = _array("latency", latency, strict=False)
    return _scalar_or_array(workers * alpha * _array("bandwidth", bandwidth))


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
    size, time = np.atleast_1d(_array("num_bytes", num_bytes)), np.atleast_1d(_array("seconds", seconds))
    if size.shape != time.shape or size.ndim != 1:
        raise ValueError(f"num_bytes and seconds must be 1-D and the same length, got {size.shape} and "
                         f"{time.shape}")
    workers = np.atleast_1d(_whole("num_workers", num_workers))
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
    sizes = np.atleast_1d(_array("tensor_bytes_list", tensor_bytes_list))
    separate = float(np.sum(ring_allreduce_time(sizes, num_workers, latency, bandwidth)))
    if fusion_buffer_bytes is None:
        buffers = [float(sizes.sum())]
    else:
        # Greedy packing in order, as Horovod fills its fusion buffer (HOROVOD_FUSION_THRESHOLD, 64 MB).
        limit, buffers = float(_array("fusion_buffer_bytes", fusion_buffer_bytes)), []
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

    ``overlap`` is the fraction of the allreduce hidden behind backprop (0: none, as in a naive loop).
    ResNet-50 (25.6 M float32 parameters, about 102 MB), 0.2 s per step on one worker, 25 us latency:

    >>> for gbits in (10, 25, 100):
    ...     projection = projected_scaling(102.4e6, 0.2, latency=25e-6, bandwidth=bytes_per_second(gbits),
    ...                                    num_workers=(1, 8, 512))
    ...     print(gbits, "Gbit/s:", [round(float(e), 2) for e in projection.efficiency])
    10 Gbit/s: [1.0, 0.58, 0.51]
    25 Gbit/s: [1.0, 0.78, 0.69]
    100 Gbit/s: [1.0, 0.93, 0.83]
    """
    model_bytes = float(_array("model_bytes", model_bytes))
    compute = float(_array("step_seconds", step_seconds))
    overlap = float(_array("overlap", overlap, strict=False))
    if overlap > 1:
        raise ValueError(f"overlap must be between 0 and 1, got {overlap!r}")
    workers = np.atleast_1d(_whole("num_workers", num_workers))
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
