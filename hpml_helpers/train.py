"""Training a CNN the lecture's four-step way, in Keras and in Gluon, with one history for both.

Every training step is the same four steps, whatever the framework:
    1. sample a batch   2. forward pass to the loss   3. backprop the gradients   4. update the parameters
- ``train(model, x_train, y_train, framework="keras" | "gluon", ...)`` writes them out (the lines marked
  ``# HPML:``): ``tf.GradientTape`` inside a ``tf.function`` for Keras; ``autograd.record()``,
  ``loss.backward()`` and ``trainer.step()`` on a hybridized block for Gluon. Returns a ``History``.
- ``fit_keras(model, ...)``: the same job through Keras's ``model.compile`` + ``model.fit``.
- ``evaluate(model, x, y, framework=...)``: (mean loss, accuracy).
- ``History``: per-epoch loss, accuracy, val_loss, val_accuracy, seconds, images_per_second; ``plot()``.

Images: numpy (N, H, W) or (N, H, W, C), uint8 or float, converted once to float32 in [0, 1] in the
framework's layout (NHWC Keras, NCHW Gluon) and moved to the device whole. The loops are as fast as
plain ones (``bench/bench_train.py`` checks): batches are gathered and metrics summed on the device,
and the progress bar reads them a few times a second only, as reading a number waits for the device.

Used by notebooks 02-training-a-cnn, 04-alexnet-depth-ablation, 06-compute-and-hardware,
09-large-batch-training and 10-transfer-learning.
"""
import math
import numbers
import time

import numpy as np

from .models import FRAMEWORK_CHOICES  # one list of frameworks for the whole kit

OPTIMIZER_CHOICES = ("sgd", "adam")
DEFAULT_LEARNING_RATES = {"sgd": 0.1, "adam": 0.001}
_PROGRESS_SECONDS = 0.25  # progress bar refresh interval: each refresh waits for the device


class History:
    """Per-epoch training record, filled the same way by every framework and by ``fit_keras``."""

    KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_second")

    def __init__(self, framework):
        self.framework = framework
        for key in self.KEYS:
            setattr(self, key, [])
        self.images = []  # images trained on in each epoch
        self.first_step_seconds, self.first_step_images = None, 0  # first step: tracing/graph building

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


# ---------------------------------------------------------------------------------------------
# Argument checks and data preparation
# ---------------------------------------------------------------------------------------------
def _check_choice(value, name, choices):
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value.lower()


def _check_positive_int(value, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_model(model, framework):
    """TypeError unless ``model`` belongs to ``framework``; returns (image shape, classes) if known."""
    modules = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    if framework == "keras":
        import keras

        if not isinstance(model, keras.Model):
            hint = " (it is a Gluon block: pass framework='gluon')" if "mxnet" in modules else ""
            raise TypeError(f"model must be a keras.Model for framework='keras', got {type(model).__name__}{hint}")
    else:
        import mxnet as mx

        if not isinstance(model, mx.gluon.Block):
            hint = " (it is a Keras model: pass framework='keras')" if "keras" in modules else ""
            raise TypeError(f"model must be a Gluon Block for framework='gluon', got {type(model).__name__}{hint}")
    try:  # what the model expects, for clear messages; a custom model may not tell
        if framework == "keras":
            return tuple(model.input_shape[1:]), int(model.output_shape[-1])
        return None, int(list(model.collect_params().values())[-1].shape[0])  # the output layer's bias
    except (AttributeError, IndexError, TypeError, ValueError):
        return None, None


def _images(x, name, image_shape=None):
    """Images as float32 NHWC in [0, 1], from (N, H, W) or (N, H, W, C), uint8 or float."""
    array = np.asarray(x)
    if array.ndim == 3:
        array = array[..., np.newaxis]
    if array.ndim != 4 or array.shape[0] == 0:
        raise ValueError(f"{name} must be images of shape (N, H, W) or (N, H, W, C), got shape {array.shape}")
    if array.shape[1] in (1, 3) and array.shape[-1] not in (1, 3):
        raise ValueError(f"{name} has shape {array.shape}, which looks channels-first; pass (N, H, W, C) "
                         "(the NCHW copy Gluon needs is made here)")
    if image_shape and None not in image_shape and array.shape[1:] != tuple(image_shape):
        raise ValueError(f"{name} holds images of shape {array.shape[1:]}, the model expects {tuple(image_shape)}")
    if array.dtype.kind not in "uif":
        raise TypeError(f"{name} must hold numbers (uint8 or float), got dtype {array.dtype}")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 255:
        raise ValueError(f"{name} must hold pixel values in [0, 1] or [0, 255], got [{low:g}, {high:g}]")
    scale = 1 / 255 if array.dtype.kind in "ui" or high > 1 else 1.0  # integers, or floats > 1: 0..255
    return np.multiply(array, scale, dtype=np.float32)


def _dataset(x, y, x_name, y_name, model_io=(None, None)):
    """(images, labels): float32 NHWC images and int32 class indices of shape (N,), checked."""
    image_shape, num_classes = model_io
    images, labels = _images(x, x_name, image_shape), np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        hint = "; for one-hot labels pass y.argmax(axis=1)" if labels.ndim == 2 else ""
        raise ValueError(f"{y_name} must be class indices of shape (N,), got shape {labels.shape}{hint}")
    if len(labels) != len(images):
        raise ValueError(f"{y_name} has {len(labels)} labels but {x_name} has {len(images)} images")
    if labels.dtype.kind not in "uif" or (labels.dtype.kind == "f" and not np.all(labels == np.round(labels))):
        raise TypeError(f"{y_name} must hold integer class indices, got dtype {labels.dtype}")
    # Checked here because MXNet would silently clip an out-of-range label.
    if labels.min() < 0 or (num_classes and labels.max() >= num_classes):
        raise ValueError(f"{y_name} must hold class indices in [0, {num_classes or 'classes'}), "
                         f"got [{labels.min()}, {labels.max()}]")
    return images, labels.astype(np.int32)


def _check_common(model, framework, x_train, y_train, num_epochs, batch_size, learning_rate, optimizer,
                  validation_data, seed):
    """Validate train()/fit_keras() arguments; return the prepared arrays and the settings."""
    framework = _check_choice(framework, "framework", FRAMEWORK_CHOICES)
    optimizer = _check_choice(optimizer, "optimizer", OPTIMIZER_CHOICES)
    num_epochs = _check_positive_int(num_epochs, "num_epochs")
    batch_size = _check_positive_int(batch_size, "batch_size")
    if learning_rate is None:
        learning_rate = DEFAULT_LEARNING_RATES[optimizer]
    elif not isinstance(learning_rate, numbers.Real) or isinstance(learning_rate, bool) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool)):
        raise TypeError(f"seed must be an integer or None, got {seed!r}")
    model_io = _check_model(model, framework)
    x, y = _dataset(x_train, y_train, "x_train", "y_train", model_io)
    if batch_size > len(x):
        raise ValueError(f"batch_size ({batch_size}) is larger than the number of training images ({len(x)})")
    validation = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (x_val, y_val)")
        validation = _dataset(*validation_data, "validation_data[0]", "validation_data[1]", model_io)
    return framework, x, y, num_epochs, batch_size, float(learning_rate), optimizer, validation


# ---------------------------------------------------------------------------------------------
# The epoch loop both frameworks share; the steps come from _KerasLoop and _GluonLoop
# ---------------------------------------------------------------------------------------------
def _run_epochs(loop, history, num_images, num_epochs, batch_size, progress, seed):
    """Shuffle, run the steps, time them, and fill ``history``."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    num_steps = num_images // batch_size
    for epoch in range(num_epochs):
        # Full batches only, so the compiled step keeps one shape; reshuffling changes which few
        # images are left over each epoch.
        order = rng.permutation(num_images)[:num_steps * batch_size].astype(np.int32)
        batches = loop.batches(order.reshape(num_steps, batch_size))
        bar = tqdm(total=num_steps, desc=f"epoch {epoch + 1}/{num_epochs}", unit="batch", disable=not progress)
        loop.reset_metrics()
        start = time.perf_counter()
        next_refresh = start + _PROGRESS_SECONDS
        for step in range(num_steps):
            loop.step(batches[step])
            if epoch == 0 and step == 0:
                loop.metrics()  # wait for the first step: it includes tracing / graph building
                history.first_step_seconds, history.first_step_images = time.perf_counter() - start, batch_size
            if progress and time.perf_counter() >= next_refresh:
                loss_sum, correct = loop.metrics()
                bar.update(step + 1 - bar.n)
                bar.set_postfix(loss=f"{loss_sum / ((step + 1) * batch_size):.4f}",
                                acc=f"{correct / ((step + 1) * batch_size):.4f}", refresh=False)
                next_refresh = time.perf_counter() + _PROGRESS_SECONDS
        loss_sum, correct = loop.metrics()  # waits for the last step
        seconds, images = time.perf_counter() - start, num_steps * batch_size
        val_loss, val_accuracy = loop.validate() if loop.validation else (math.nan, math.nan)
        history.add_epoch(loss_sum / images, correct / images, seconds, images, val_loss, val_accuracy)
        postfix = {"loss": f"{history.loss[-1]:.4f}", "acc": f"{history.accuracy[-1]:.4f}"}
        if loop.validation:
            postfix.update(val_loss=f"{val_loss:.4f}", val_acc=f"{val_accuracy:.4f}")
        bar.update(num_steps - bar.n)
        bar.set_postfix(postfix, refresh=False)
        bar.set_description(f"epoch {epoch + 1}/{num_epochs} ({history.images_per_second[-1]:,.0f} img/s)")
        bar.close()
    return history


class _KerasLoop:
    """The Keras side: data on the device, the compiled four-step training step, validation."""

    def __init__(self, model, x, y, batch_size, learning_rate, optimizer, validation):
        import keras
        import tensorflow as tf

        with tf.device("/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"):
            images, labels = tf.constant(x), tf.constant(y)  # the whole data set goes to the device once
            self.loss_sum, self.correct = loss_sum, correct = tf.Variable(0.0), tf.Variable(0.0)
            self.validation = validation and (tf.constant(validation[0]), tf.constant(validation[1]))
        self.model = model
        optimizer = (keras.optimizers.SGD(learning_rate) if optimizer == "sgd"
                     else keras.optimizers.Adam(learning_rate))
        optimizer.build(model.trainable_variables)  # creates Adam's slots before tf.function traces
        loss_function = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        # input_signature fixes the batch shape: one trace, no retracing, graph-speed steps. The data
        # are arguments, not captured: a captured tensor would live as long as the traced graph.
        @tf.function(input_signature=[tf.TensorSpec(images.shape, images.dtype),
                                      tf.TensorSpec(labels.shape, labels.dtype),
                                      tf.TensorSpec([batch_size], tf.int32)])
        def train_step(images, labels, batch_indices):
            x_batch = tf.gather(images, batch_indices)                      # HPML: 1. sample a batch
            y_batch = tf.gather(labels, batch_indices)
            with tf.GradientTape() as tape:                                 # HPML: record for backprop
                logits = model(x_batch, training=True)                      # HPML: 2. forward pass ...
                loss = loss_function(y_batch, logits)                       # HPML:    ... to the loss
            gradients = tape.gradient(loss, model.trainable_variables)     # HPML: 3. backprop
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))  # HPML: 4. update
            # Sums stay on the device; reading them (metrics()) is what waits for the device.
            loss_sum.assign_add(loss * batch_size)
            predictions = tf.argmax(logits, axis=1, output_type=tf.int32)
            correct.assign_add(tf.reduce_sum(tf.cast(tf.equal(predictions, y_batch), tf.float32)))

        self.step = lambda batch_indices: train_step(images, labels, batch_indices)

    def batches(self, order):
        return order  # numpy rows: converting 128 indices per call is cheaper than slicing a tensor

    def reset_metrics(self):
        self.loss_sum.assign(0.0), self.correct.assign(0.0)

    def metrics(self):
        return float(self.loss_sum.numpy()), float(self.correct.numpy())

    def validate(self):
        return _keras_evaluate(self.model, *self.validation)


def _keras_evaluate(model, images, labels, batch_size=500):
    """(mean loss, accuracy) of a Keras model on prepared images and labels."""
    # Eager on purpose: with large batches a tf.function gains little, and a new one per model
    # would retrace each time (TensorFlow warns about that in learning-rate sweeps).
    import keras
    import tensorflow as tf

    loss_sum, correct = 0.0, 0.0
    for start in range(0, len(labels), batch_size):
        batch_labels = labels[start:start + batch_size]
        logits = model(images[start:start + batch_size], training=False)
        loss_sum += tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(batch_labels, logits,
                                                                                from_logits=True))
        predictions = tf.argmax(logits, axis=1, output_type=tf.int32)
        correct += tf.reduce_sum(tf.cast(tf.equal(predictions, batch_labels), tf.float32))
    return float(loss_sum) / len(labels), float(correct) / len(labels)


class _GluonLoop:
    """The Gluon side: data on the model's context, the four steps on a hybridized block, validation."""

    def __init__(self, model, x, y, batch_size, learning_rate, optimizer, validation):
        import mxnet as mx
        from mxnet import autograd, gluon

        self.mx, self.model, self.context = mx, model, _gluon_context(model)
        images, labels = _gluon_arrays(x, y, self.context)  # the whole data set goes to the device once
        self.validation = validation and _gluon_arrays(*validation, self.context)
        try:  # a Gluon model does not say which image size it takes: try one image
            model(images[:1]).wait_to_read()
        except mx.base.MXNetError as error:
            raise ValueError(f"x_train: the model cannot take images of shape {x.shape[1:]} (H, W, C): "
                             f"{str(error).strip().splitlines()[0]}") from None
        if isinstance(model, gluon.HybridBlock):
            # One static graph with fixed memory: the closest Gluon gets to a compiled step.
            model.hybridize(static_alloc=True, static_shape=True)
        loss_function = self.loss_function = gluon.loss.SoftmaxCrossEntropyLoss()
        loss_function.hybridize(static_alloc=True, static_shape=True)
        trainer = gluon.Trainer(model.collect_params(), optimizer, {"learning_rate": learning_rate})
        self.loss_sum, self.correct = mx.nd.zeros(1, ctx=self.context), mx.nd.zeros(1, ctx=self.context)

        def train_step(batch_indices):
            x_batch = images.take(batch_indices)         # HPML: 1. sample a batch
            y_batch = labels.take(batch_indices)
            with autograd.record():                      # HPML: record the forward pass for backprop
                logits = model(x_batch)                  # HPML: 2. forward pass ...
                loss = loss_function(logits, y_batch)    # HPML:    ... to the loss (one per image)
            loss.backward()                              # HPML: 3. backprop
            trainer.step(batch_size)                     # HPML: 4. update (gradients / batch_size)
            # Sums stay on the device (+= works in place); reading them is what waits for it.
            self.loss_sum += loss.sum()
            self.correct += (logits.argmax(axis=1) == y_batch).sum()

        self.step = train_step

    def batches(self, order):
        return self.mx.nd.array(order, ctx=self.context, dtype="int32")  # rows are views: no copy per step

    def reset_metrics(self):
        self.loss_sum[:], self.correct[:] = 0, 0

    def metrics(self):
        return float(self.loss_sum.asscalar()), float(self.correct.asscalar())

    def validate(self):
        return _gluon_evaluate(self.model, self.loss_function, *self.validation)


def _gluon_context(model):
    """The context the model's parameters live on."""
    try:
        return next(iter(model.collect_params().values())).list_ctx()[0]
    except (StopIteration, RuntimeError) as error:
        raise ValueError("model has no initialised parameters: call model.initialize(ctx=...) first") from error


def _gluon_arrays(images, labels, context):
    """NDArrays on ``context``: images NHWC -> NCHW (MXNet's convolutions are channels-first)."""
    import mxnet as mx

    return (mx.nd.array(images.transpose(0, 3, 1, 2), ctx=context),
            mx.nd.array(labels, ctx=context, dtype="float32"))


def _gluon_evaluate(model, loss_function, images, labels, batch_size=500):
    loss_sum, correct = 0.0, 0.0
    for start in range(0, labels.shape[0], batch_size):
        logits = model(images[start:start + batch_size])  # outside autograd.record(): inference mode
        batch_labels = labels[start:start + batch_size]
        loss_sum = loss_sum + loss_function(logits, batch_labels).sum()
        correct = correct + (logits.argmax(axis=1) == batch_labels).sum()
    return float(loss_sum.asscalar()) / labels.shape[0], float(correct.asscalar()) / labels.shape[0]


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------
def train(model, x_train, y_train, framework="keras", num_epochs=5, batch_size=64, learning_rate=None,
          optimizer="sgd", validation_data=None, progress=True, seed=0):
    """Train with the four steps written out (learning_rate None: 0.1 for sgd, 0.001 for adam)."""
    framework, x, y, num_epochs, batch_size, learning_rate, optimizer, validation = _check_common(
        model, framework, x_train, y_train, num_epochs, batch_size, learning_rate, optimizer,
        validation_data, seed)
    loop_class = _KerasLoop if framework == "keras" else _GluonLoop
    loop = loop_class(model, x, y, batch_size, learning_rate, optimizer, validation)
    return _run_epochs(loop, History(framework), len(x), num_epochs, batch_size, progress, seed)


def fit_keras(model, x_train, y_train, num_epochs=5, batch_size=64, learning_rate=None, optimizer="sgd",
              validation_data=None, progress=True, seed=0):
    """The same training through Keras's ``model.compile`` and ``model.fit``; returns a History."""
    import keras

    _, x, y, num_epochs, batch_size, learning_rate, optimizer, validation = _check_common(
        model, "keras", x_train, y_train, num_epochs, batch_size, learning_rate, optimizer,
        validation_data, seed)
    if seed is not None:
        keras.utils.set_random_seed(seed)  # model.fit shuffles with the global TensorFlow seed
    model.compile(optimizer=(keras.optimizers.SGD(learning_rate) if optimizer == "sgd"
                             else keras.optimizers.Adam(learning_rate)),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = History("keras (model.fit)")

    class EpochTimer(keras.callbacks.Callback):
        # Only *_begin and epoch hooks: overriding on_train_batch_end would turn off Keras's
        # asynchronous dispatch of batch callbacks and slow model.fit down.
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.start, self.stop = epoch, time.perf_counter(), None

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 0 and batch == 1:  # the first step (tracing included) has just returned
                history.first_step_seconds, history.first_step_images = time.perf_counter() - self.start, batch_size

        def on_test_begin(self, logs=None):
            self.stop = time.perf_counter()  # validation starts: training time ends

        def on_epoch_end(self, epoch, logs=None):
            history.add_epoch(logs["loss"], logs["accuracy"], (self.stop or time.perf_counter()) - self.start,
                              len(x), logs.get("val_loss", math.nan), logs.get("val_accuracy", math.nan))

    # verbose=2 prints one line per epoch: Keras's per-step bar would cost time in every step.
    model.fit(x, y, batch_size=batch_size, epochs=num_epochs, validation_data=validation, shuffle=True,
              verbose=2 if progress else 0, callbacks=[EpochTimer()])
    return history


def evaluate(model, x, y, framework="keras", batch_size=500):
    """Mean loss (cross-entropy) and accuracy of ``model`` on images ``x`` and labels ``y``."""
    framework = _check_choice(framework, "framework", FRAMEWORK_CHOICES)
    batch_size = _check_positive_int(batch_size, "batch_size")
    images, labels = _dataset(x, y, "x", "y", _check_model(model, framework))
    if framework == "keras":
        return _keras_evaluate(model, images, labels, batch_size)
    from mxnet import gluon

    return _gluon_evaluate(model, gluon.loss.SoftmaxCrossEntropyLoss(),
                           *_gluon_arrays(images, labels, _gluon_context(model)), batch_size)
