"""Large-batch learning-rate schedules (Goyal et al. 2017, "Accurate, Large Minibatch SGD", arXiv:1706.02677).

Lecture slides 70-72 and 77; used by notebook 09-large-batch-training and by ``train.train`` (a schedule object
can be its ``learning_rate``).
- ``scaled_learning_rate(0.1, 8192)`` -> 3.2: the linear scaling rule; ``scaled_for_workers`` per worker count.
- ``WarmupStepSchedule``: linear warmup from ``start_learning_rate`` to ``peak_learning_rate``, then step
  decay (divide by 10 at the boundaries) or cosine decay. Call it with a step (or an array of steps) for
  numpy; ``.to_keras()`` and ``.to_gluon()`` give the same numbers as framework schedules; ``.plot()``.
- ``goyal_schedule(batch_size, steps_per_epoch)``: the paper's ResNet-50 schedule in steps.

Steps are 0-based update counts: step k is the k-th parameter update in every form of a schedule.
"""
import dataclasses
import functools
import math

import numpy as np

from . import validation

# ----------------------------------------------------------------------------------------- learning rates

def scaled_learning_rate(base_learning_rate, batch_size, base_batch_size=256):
    """Linear scaling rule: multiply the learning rate by the batch size over the base batch size."""
    base = float(validation.check_number_array("base_learning_rate", base_learning_rate))
    return base * float(validation.check_number_array("batch_size", batch_size)) / float(validation.check_number_array("base_batch_size", base_batch_size))


def scaled_for_workers(base_learning_rate, num_workers):
    """Linear scaling rule for ``num_workers`` workers that each keep the single-worker batch size."""
    return float(validation.check_number_array("base_learning_rate", base_learning_rate)) * float(validation.check_whole_array("num_workers", num_workers))


class WarmupStepSchedule:
    """Linear warmup to a peak learning rate, then step decay (or cosine decay); one schedule, three forms."""

    def __init__(self, peak_learning_rate, warmup_steps=0, start_learning_rate=0.0, decay_boundaries=(),
                 decay_factor=0.1, cosine_decay_steps=None, final_learning_rate=0.0):
        """Validate and keep the settings; boundaries and steps count updates from 0."""
        self.peak_learning_rate = float(validation.check_number_array("peak_learning_rate", peak_learning_rate))
        self.warmup_steps = int(validation.check_whole_array("warmup_steps", warmup_steps, minimum=0))
        self.start_learning_rate = float(validation.check_number_array("start_learning_rate", start_learning_rate, strict=False))
        try:
            boundaries = np.atleast_1d(np.asarray(decay_boundaries, dtype=float))
        except (TypeError, ValueError):
            raise TypeError(f"decay_boundaries must be a sequence of steps, got {decay_boundaries!r}") from None
        if boundaries.size and (boundaries.ndim != 1 or (np.diff(boundaries) <= 0).any()
                                or boundaries[0] < self.warmup_steps or (boundaries != np.round(boundaries)).any()):
            raise ValueError("decay_boundaries must be whole steps, strictly increasing and >= warmup_steps, "
                             f"got {decay_boundaries!r}")
        self.decay_boundaries = tuple(int(b) for b in boundaries)
        self.decay_factor = float(validation.check_number_array("decay_factor", decay_factor))
        if cosine_decay_steps is not None:
            cosine_decay_steps = int(validation.check_whole_array("cosine_decay_steps", cosine_decay_steps))
            if self.decay_boundaries:
                raise ValueError("give either decay_boundaries (step decay) or cosine_decay_steps, not both")
        self.cosine_decay_steps = cosine_decay_steps
        self.final_learning_rate = float(validation.check_number_array("final_learning_rate", final_learning_rate, strict=False))

    def get_config(self):
        """The constructor's arguments, as a dict (also the Keras schedule's config)."""
        return {name: getattr(self, name) for name in (
            "peak_learning_rate", "warmup_steps", "start_learning_rate", "decay_boundaries", "decay_factor",
            "cosine_decay_steps", "final_learning_rate")}

    def __call__(self, step):
        """Learning rate at ``step`` (an int or an array of ints >= 0; steps may be epochs if you like)."""
        step = validation.check_number_array("step", step, strict=False)
        return validation.scalar_or_array(self._compute(np, step))

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

        num_steps = int(validation.check_whole_array("num_steps", num_steps))
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        steps = np.arange(num_steps)
        per_epoch = float(validation.check_number_array("steps_per_epoch", steps_per_epoch)) if steps_per_epoch else None
        ax.plot(steps / per_epoch if per_epoch else steps, self(steps))
        ax.set_xlabel("epoch" if per_epoch else "step")
        ax.set_ylabel("learning rate")
        ax.set_title("warmup, then " + ("cosine decay" if self.cosine_decay_steps else "step decay"))
        ax.grid(alpha=0.3)
        return ax.figure


def goyal_schedule(batch_size, steps_per_epoch, per_worker_batch_size=32, base_learning_rate=0.1,
                   base_batch_size=256, warmup_epochs=5, decay_epochs=(30, 60, 80), decay_factor=0.1):
    """Goyal et al.'s ResNet-50 schedule in steps: warm up from the per-worker rate to the scaled one."""
    steps_per_epoch = int(validation.check_whole_array("steps_per_epoch", steps_per_epoch))
    per_worker_batch_size = validation.check_positive_int(per_worker_batch_size, "per_worker_batch_size")
    warmup_epochs = validation.check_number(warmup_epochs, "warmup_epochs", minimum=0)
    decay_epochs = validation.check_sequence(decay_epochs, "decay_epochs", allow_empty=True)
    decay_epochs = [validation.check_number(epoch, f"decay_epochs[{index}]", minimum=0)
                    for index, epoch in enumerate(decay_epochs)]
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

        def __reduce__(self):
            # A class defined in a function cannot be pickled by name; the Trainer's save_states (a
            # training checkpoint) pickles its scheduler, so it is rebuilt from the settings instead.
            return _gluon_from_config, (self.schedule.get_config(),)

    return GluonWarmupStepSchedule


def _gluon_from_config(config):
    """Rebuild the MXNet scheduler from ``WarmupStepSchedule.get_config()`` (what unpickling calls)."""
    return WarmupStepSchedule(**config).to_gluon()
