"""The record of a training run: per-epoch loss, accuracy, validation metrics, seconds and images/s.

``History`` is filled the same way by ``train.train`` (Keras and Gluon) and ``train.fit_keras``; it is saved
into and restored from checkpoints (``state()``/``restore()``) and draws its own curves (``plot()``).
Used by ``train`` (which returns it), ``checkpoint``, ``large_batch`` and ``transfer``; notebooks 02-10 plot it.
"""
import math

class History:
    """Per-epoch training record, filled the same way by every framework and by ``fit_keras``."""

    KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_second")

    def __init__(self, framework):
        self.framework = framework
        for key in self.KEYS:
            setattr(self, key, [])
        self.images = []  # images trained on in each epoch
        self.first_step_seconds, self.first_step_images = None, 0  # first step: tracing/graph building
        self.resumed_epochs = 0  # epochs read back from a checkpoint instead of trained in this call

    def add_epoch(self, loss, accuracy, seconds, images, val_loss=math.nan, val_accuracy=math.nan):
        """Record one epoch (``val_*`` stay NaN without validation data)."""
        values = (loss, accuracy, val_loss, val_accuracy, seconds, images / seconds if seconds > 0 else math.nan)
        for key, value in zip(self.KEYS, values):
            getattr(self, key).append(float(value))
        self.images.append(int(images))

    @property
    def steady_images_per_second(self):
        """Images/s over all epochs without the first step (compilation), or first epoch if untimed."""
        images, seconds = sum(self.images), sum(self.seconds)
        if self.first_step_seconds is not None:
            images, seconds = images - self.first_step_images, seconds - self.first_step_seconds
        elif len(self.seconds) > 1:
            images, seconds = images - self.images[0], seconds - self.seconds[0]
        return images / seconds if seconds > 0 and images > 0 else math.nan

    def as_dict(self):
        """The per-epoch lists as a plain dict (the keys in ``History.KEYS``)."""
        return {key: list(getattr(self, key)) for key in self.KEYS}

    def state(self):
        """Everything recorded, JSON-able (what a checkpoint keeps; NaN is written as null)."""
        clean = {key: [None if math.isnan(v) else v for v in values] for key, values in self.as_dict().items()}
        return {**clean, "images": list(self.images), "first_step": [self.first_step_seconds, self.first_step_images]}

    def restore(self, state):
        """Refill from ``state()``'s dict (a checkpoint's history)."""
        for key in self.KEYS:
            setattr(self, key, [math.nan if v is None else float(v) for v in state[key]])
        self.images = [int(count) for count in state["images"]]
        self.first_step_seconds, self.first_step_images = state["first_step"]

    def plot(self, title=None):
        """Loss and accuracy curves (training and, if recorded, validation); returns the figure."""
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        epochs = range(1, len(self.loss) + 1)
        for axis, key in zip(axes, ("loss", "accuracy")):
            axis.plot(epochs, getattr(self, key), "o-", label="training")
            if not all(math.isnan(value) for value in getattr(self, "val_" + key)):
                axis.plot(epochs, getattr(self, "val_" + key), "s--", label="validation")
            axis.set(xlabel="epoch", ylabel=key)
            axis.grid(alpha=0.3)
            axis.legend()
        figure.suptitle(title or f"{self.framework}: {self.steady_images_per_second:,.0f} images/s")
        figure.tight_layout()
        return figure

    def __len__(self):
        return len(self.loss)

    def __repr__(self):
        last = f", last loss {self.loss[-1]:.4f}, accuracy {self.accuracy[-1]:.4f}" if self.loss else ""
        return f"History({self.framework}, {len(self)} epochs{last})"
