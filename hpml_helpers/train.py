"""Training a CNN the lecture's four-step way, in Keras and in Gluon, with one history for both.

Every training step is the same four steps, whatever the framework:
    1. sample a batch   2. forward pass to the loss   3. backprop the gradients   4. update the parameters
- ``train(model, x_train, y_train, framework="keras" | "gluon", ...)`` writes them out (the lines marked
  ``# HPML:``): ``tf.GradientTape`` inside a ``tf.function`` for Keras; ``autograd.record()``,
  ``loss.backward()`` and ``trainer.step()`` on a hybridized block for Gluon. Plain SGD, SGD with momentum
  (``momentum=0.9`` or ``optimizer="momentum"``) or Adam, at a fixed ``learning_rate`` or a
  ``schedules.WarmupStepSchedule``. Stops with ``TrainingDiverged`` when the loss turns NaN or infinite.
  ``checkpoint=path`` saves everything after each epoch and resumes from it (``checkpoint.py``).
- ``fit_keras(model, ...)``: the same job through Keras's ``model.compile`` + ``model.fit``.
- ``evaluate(model, x, y, framework=...)``: (mean loss, accuracy).
- ``History``: per-epoch loss, accuracy, val_loss, val_accuracy, seconds, images_per_second; ``plot()``.

Images: numpy (N, H, W) or (N, H, W, C), uint8 or float, converted once to float32 in [0, 1] in the
framework's layout (NHWC Keras, NCHW Gluon) and moved whole to the device ``backends.current()`` names.
The loops are as fast as plain ones (``bench/bench_train.py`` checks): batches are gathered and metrics
summed on the device, and the progress bar reads them a few times a second only, as reading a number
waits for the device.

Used by notebooks 02-training-a-cnn, 04-alexnet-depth-ablation, 06-compute-and-hardware,
09-large-batch-training and 10-transfer-learning.
"""
import math
import time

import numpy as np

from . import backends, checkpoint as checkpoints, schedules, validation
from .history import History  # noqa: F401  (what train() returns)
from .training_inputs import check_learning_rate, check_model, prepare_dataset, probe_gluon, probe_keras  # noqa: F401  (public here too)
from .models import FRAMEWORK_CHOICES  # one list of frameworks for the whole kit

OPTIMIZER_CHOICES = ("sgd", "momentum", "adam")
DEFAULT_LEARNING_RATES = {"sgd": 0.1, "momentum": 0.01, "adam": 0.001}
DEFAULT_MOMENTUM = 0.9  # optimizer="momentum" without a momentum: Goyal et al.'s (and most papers') value
_PROGRESS_SECONDS = 0.25  # progress bar refresh interval: each refresh waits for the device


class TrainingDiverged(ValueError):
    """The training loss became NaN or infinite; ``history`` holds the epochs up to that one."""

    def __init__(self, message, history, epoch):
        super().__init__(message)
        self.history, self.epoch = history, epoch


def _check_common(model, framework, x_train, y_train, num_epochs, batch_size, learning_rate, optimizer,
                  momentum, validation_data, seed):
    """Validate train()/fit_keras() arguments; return the prepared arrays and the settings."""
    framework = validation.check_choice(framework, "framework", FRAMEWORK_CHOICES)
    optimizer = validation.check_choice(optimizer, "optimizer", OPTIMIZER_CHOICES)
    num_epochs = validation.check_positive_int(num_epochs, "num_epochs")
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    learning_rate = DEFAULT_LEARNING_RATES[optimizer] if learning_rate is None else check_learning_rate(learning_rate)
    if momentum is None:
        momentum = DEFAULT_MOMENTUM if optimizer == "momentum" else 0.0
    momentum = validation.check_fraction(momentum, "momentum", inclusive=False)
    if optimizer == "adam" and momentum:
        raise ValueError("momentum is for optimizer='sgd' or 'momentum'; Adam keeps its own moments")
    seed = validation.check_seed(seed)
    model_io = check_model(model, framework)
    x, y = prepare_dataset(x_train, y_train, "x_train", "y_train", model_io)
    if batch_size > len(x):
        raise ValueError(f"batch_size ({batch_size}) is larger than the number of training images ({len(x)})")
    held_out = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (x_val, y_val)")
        held_out = prepare_dataset(*validation_data, "validation_data[0]", "validation_data[1]", model_io)
    optimizer = "sgd" if optimizer == "momentum" else optimizer  # SGD with momentum is SGD
    return framework, x, y, num_epochs, batch_size, learning_rate, optimizer, momentum, held_out


def _keras_optimizer(optimizer, learning_rate, momentum):
    import keras

    rate = learning_rate.to_keras() if isinstance(learning_rate, schedules.WarmupStepSchedule) else learning_rate
    if optimizer == "adam":
        return keras.optimizers.Adam(rate)
    return keras.optimizers.SGD(rate, momentum=momentum)  # HPML: momentum 0: plain SGD


# ---------------------------------------------------------------------------------------------
# The epoch loop both frameworks share; the steps come from _KerasLoop and _GluonLoop
# ---------------------------------------------------------------------------------------------
def _run_epochs(loop, history, num_images, num_epochs, batch_size, progress, rng, first_epoch, save):
    """Shuffle, run the steps, time them, fill ``history``; ``save(epoch)`` after each epoch."""
    from tqdm.auto import tqdm

    num_steps = num_images // batch_size
    for epoch in range(first_epoch, num_epochs):
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
        bar.update(num_steps - bar.n)
        bar.set_postfix(loss=f"{history.loss[-1]:.4f}", acc=f"{history.accuracy[-1]:.4f}", refresh=False)
        bar.set_description(f"epoch {epoch + 1}/{num_epochs} ({history.images_per_second[-1]:,.0f} img/s)")
        bar.close()
        if not math.isfinite(history.loss[-1]):  # NaN weights stay NaN: nothing left to learn
            raise TrainingDiverged(
                f"the training loss became {history.loss[-1]} in epoch {epoch + 1} of {num_epochs} (within its "
                f"{num_steps} steps): the learning rate is too high for this model; try a lower learning_rate "
                "(e.g. 10 times lower) or a warmup schedule", history, epoch + 1)
        save(epoch + 1)
    return history


class _KerasLoop:
    """The Keras side: data on the device, the compiled four-step training step, validation."""

    def __init__(self, model, x, y, batch_size, learning_rate, optimizer, momentum, validation_set):
        import keras
        import tensorflow as tf

        with tf.device(backends.current().tensorflow_device):
            images, labels = tf.constant(x), tf.constant(y)  # the whole data set goes to the device once
            self.loss_sum, self.correct = loss_sum, correct = tf.Variable(0.0), tf.Variable(0.0)
            self.validation = validation_set and (tf.constant(validation_set[0]), tf.constant(validation_set[1]))
        self.model = model
        if None in tuple(getattr(model, "input_shape", (None, None))[1:]):
            probe_keras(model, x, "x_train")
        self.optimizer = optimizer = _keras_optimizer(optimizer, learning_rate, momentum)
        optimizer.build(model.trainable_variables)  # creates the slots before tf.function traces
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
    """The Gluon side: data on the device's context, the four steps on a hybridized block, validation."""

    def __init__(self, model, x, y, batch_size, learning_rate, optimizer, momentum, validation_set):
        import mxnet as mx
        from mxnet import autograd, gluon

        self.mx, self.model, self.context = mx, model, backends.current().mxnet_context()
        if _gluon_context(model) != self.context:
            model.collect_params().reset_ctx(self.context)  # the model goes where backends.use() said
        images, labels = _gluon_arrays(x, y, self.context)  # the whole data set goes to the device once
        self.validation = validation_set and _gluon_arrays(*validation_set, self.context)
        probe_gluon(model, images, "x_train")
        if isinstance(model, gluon.HybridBlock):
            # One static graph with fixed memory: the closest Gluon gets to a compiled step.
            model.hybridize(static_alloc=True, static_shape=True)
        loss_function = self.loss_function = gluon.loss.SoftmaxCrossEntropyLoss()
        loss_function.hybridize(static_alloc=True, static_shape=True)
        settings = ({"lr_scheduler": learning_rate.to_gluon()} if isinstance(learning_rate, schedules.WarmupStepSchedule)
                    else {"learning_rate": learning_rate})
        if optimizer == "sgd":
            settings["momentum"] = momentum
        self.trainer = trainer = gluon.Trainer(model.collect_params(), optimizer, settings)
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
          optimizer="sgd", validation_data=None, progress=True, seed=0, momentum=None, checkpoint=None):
    """Train with the four steps written out; returns a History (learning_rate None: 0.1 for sgd, 0.01 for
    momentum, 0.001 for adam). ``checkpoint``: a file path to save to after every epoch and resume from."""
    framework, x, y, num_epochs, batch_size, learning_rate, optimizer, momentum, held_out = _check_common(
        model, framework, x_train, y_train, num_epochs, batch_size, learning_rate, optimizer, momentum,
        validation_data, seed)
    validation.check_bool(progress, "progress")
    path = None if checkpoint is None else validation.check_path(checkpoint, "checkpoint")
    loop_class = _KerasLoop if framework == "keras" else _GluonLoop
    loop = loop_class(model, x, y, batch_size, learning_rate, optimizer, momentum, held_out)
    history, rng = History(framework), np.random.default_rng(seed)
    if path is None:
        return _run_epochs(loop, history, len(x), num_epochs, batch_size, progress, rng, 0, lambda epoch: None)
    rate = learning_rate.get_config() if isinstance(learning_rate, schedules.WarmupStepSchedule) else learning_rate
    settings = {"framework": framework, "model": type(model).__name__, "batch_size": batch_size,
                "learning_rate": rate, "optimizer": optimizer, "momentum": momentum, "seed": seed,
                "data": checkpoints.data_fingerprint(x, y),
                "validation": held_out and checkpoints.data_fingerprint(*held_out)}
    first_epoch = checkpoints.resume(path, settings, loop, history, rng, num_epochs)
    history.resumed_epochs = first_epoch
    save = checkpoints.saver(path, settings, loop, history, rng)
    return _run_epochs(loop, history, len(x), num_epochs, batch_size, progress, rng, first_epoch, save)


def fit_keras(model, x_train, y_train, num_epochs=5, batch_size=64, learning_rate=None, optimizer="sgd",
              validation_data=None, progress=True, seed=0, momentum=None):
    """The same training through Keras's ``model.compile`` and ``model.fit``; returns a History."""
    import keras

    _, x, y, num_epochs, batch_size, learning_rate, optimizer, momentum, held_out = _check_common(
        model, "keras", x_train, y_train, num_epochs, batch_size, learning_rate, optimizer, momentum,
        validation_data, seed)
    validation.check_bool(progress, "progress")
    if seed is not None:
        keras.utils.set_random_seed(seed)  # model.fit shuffles with the global TensorFlow seed
    model.compile(optimizer=_keras_optimizer(optimizer, learning_rate, momentum),
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
    model.fit(x, y, batch_size=batch_size, epochs=num_epochs, validation_data=held_out, shuffle=True,
              verbose=2 if progress else 0, callbacks=[EpochTimer()])
    return history


def evaluate(model, x, y, framework="keras", batch_size=500):
    """Mean loss (cross-entropy) and accuracy of ``model`` on images ``x`` and labels ``y``."""
    framework = validation.check_choice(framework, "framework", FRAMEWORK_CHOICES)
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    images, labels = prepare_dataset(x, y, "x", "y", check_model(model, framework))
    if framework == "keras":
        if None in tuple(getattr(model, "input_shape", (None, None))[1:]):
            probe_keras(model, images, "x")
        return _keras_evaluate(model, images, labels, batch_size)
    from mxnet import gluon

    arrays = _gluon_arrays(images, labels, _gluon_context(model))
    probe_gluon(model, arrays[0], "x")
    return _gluon_evaluate(model, gluon.loss.SoftmaxCrossEntropyLoss(), *arrays, batch_size)
