"""What a CNN has learned, made visible: filters, activations, activation maximization, saliency, occlusion.

- ``filters(model, layer_name=None)``: a convolution's kernels as a grid of small images (the first
  convolution by default: Gabor-like edges and colour blobs in a trained ImageNet network).
- ``activations(model, layer_name, image)``: one layer's feature maps for one image (an array);
  ``plot_activations(...)`` draws them as a grid.
- ``activation_maximization(model, layer_name, filter_index=...)`` or ``(model, class_index=...)``:
  gradient ascent on the input image (tf.GradientTape), with jitter, blur and an L2 penalty that keep
  the picture natural-looking (Yosinski et al. 2015; Olah et al. 2017, "Feature Visualization").
- ``saliency(model, image, class_index=None)``: |d class score / d pixel|, max over channels
  (Simonyan et al. 2014); a 2-D map. Works for Keras models and MXNet Gluon blocks.
- ``occlusion(model, image, class_index=None, patch_size=..., stride=...)``: Zeiler & Fergus's grey
  square slid over the image; the map holds the class probability with each pixel covered (low =
  important).
- ``show(image, heat_map=None)``: an image, optionally with a map overlaid; returns the figure.

Conventions: ``image`` is ONE image, (H, W) or (H, W, C), uint8 or float. uint8 images are scaled to
[0, 1]; float images are used as they are (preprocess them yourself for models that expect other
ranges). Grey (H, W) images get a channel axis when the model wants one. ``layer_name`` names a layer
of ``model.layers``; a wrong name raises ValueError listing the names. Class scores are the model's
outputs (the kit's models output logits); for occlusion they are turned into probabilities with a
softmax unless they already are probabilities.

Used by notebooks 03-feature-visualization and 04-alexnet-depth-ablation.
"""
import numpy as np

from . import validation

FILL_CHOICES = ("mean",)


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------


def _layer(model, layer_name):
    """The layer called ``layer_name``; a ValueError lists the names there are."""
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise ValueError(f"layer_name {layer_name!r} is not a layer of model {model.name!r}; "
                         f"its layers are: {', '.join(names)}")
    return model.get_layer(layer_name)


def _as_image(image, name="image"):
    """One image as float32 (H, W) or (H, W, C); uint8 scaled to [0, 1]."""
    array = np.asarray(image)
    if array.ndim not in (2, 3) or array.dtype == object:
        raise ValueError(f"{name} must be one image shaped (H, W) or (H, W, C), got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    return array.astype(np.float32)


def _model_batch(model, image):
    """One image as a batch of one, shaped for the Keras model's input (channel axis added if needed)."""
    image = _as_image(image)
    expected = tuple(model.inputs[0].shape[1:])
    if image.ndim == 2 and len(expected) == 3:
        image = image[..., np.newaxis]
    if image.ndim != len(expected) or any(want is not None and want != got
                                           for want, got in zip(expected, image.shape)):
        raise ValueError(f"image has shape {image.shape} but model {model.name!r} expects {expected}")
    return image[np.newaxis]


def _feature_model(model, layer_name):
    """A Keras model from the model's input to the named layer's output."""
    import keras

    validation.check_keras_model(model)
    layer = _layer(model, layer_name)
    # A single input as a tensor, not a one-element list: Keras warns when the structures differ.
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, layer.output)


def _class_index(scores, class_index):
    """The requested class, or the predicted one when class_index is None."""
    if class_index is None:
        return int(np.argmax(scores))
    if isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)) \
            or not 0 <= class_index < scores.shape[-1]:
        raise ValueError(f"class_index must be an integer in [0, {scores.shape[-1]}), got {class_index!r}")
    return int(class_index)


def _grid(count, columns):
    columns = max(1, min(columns, count))
    return (count + columns - 1) // columns, columns


def _normalized(array):
    """Scale to [0, 1] for display (a constant array becomes mid-grey)."""
    low, high = float(np.min(array)), float(np.max(array))
    return np.full_like(array, 0.5) if high - low < 1e-12 else (array - low) / (high - low)


# ---------------------------------------------------------------------------------------------
# Filters and activations
# ---------------------------------------------------------------------------------------------
def filters(model, layer_name=None, max_filters=64, columns=8, channel=None):
    """Plot a convolution's kernels (the first Conv2D by default) as a grid; returns the figure."""
    import keras
    import matplotlib.pyplot as plt

    validation.check_keras_model(model)
    if layer_name is None:
        convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        if not convolutions:
            raise ValueError(f"model {model.name!r} has no Conv2D layer; pass layer_name "
                             f"(layers: {', '.join(layer.name for layer in model.layers)})")
        layer = convolutions[0]
    else:
        layer = _layer(model, layer_name)
    kernel = getattr(layer, "kernel", None)
    if kernel is None or len(kernel.shape) != 4:
        raise ValueError(f"layer_name {layer.name!r} is a {type(layer).__name__}, not a 2-D convolution")
    kernel = keras.ops.convert_to_numpy(kernel)  # (k_h, k_w, C_in, C_out)
    num_inputs = kernel.shape[2]
    if channel is not None and not 0 <= channel < num_inputs:
        raise ValueError(f"channel must be in [0, {num_inputs}), got {channel!r}")
    count = min(int(max_filters), kernel.shape[3])
    rows, columns = _grid(count, columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.2 * rows + 0.4), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= count:
            continue
        weights = kernel[..., index]
        if channel is not None:
            axis.imshow(_normalized(weights[..., channel]), cmap="gray", interpolation="nearest")
        elif num_inputs == 3:
            # Colour first layers: each kernel is a small RGB picture (one scale per filter).
            axis.imshow(_normalized(weights), interpolation="nearest")
        else:
            # Otherwise the mean over input channels: one grey picture per filter.
            axis.imshow(_normalized(weights.mean(axis=-1)), cmap="gray", interpolation="nearest")
    figure.suptitle(f"{layer.name}: {count} of {kernel.shape[3]} filters, {kernel.shape[0]}x{kernel.shape[1]}")
    return figure


def activations(model, layer_name, image):
    """The named layer's output for one image, without the batch axis (e.g. (H', W', C) maps)."""
    import keras

    extractor = _feature_model(model, layer_name)
    output = extractor(_model_batch(model, image), training=False)
    return keras.ops.convert_to_numpy(output)[0]


def plot_activations(model, layer_name, image, max_maps=32, columns=8):
    """Plot the named layer's feature maps for one image as a grid; returns the figure."""
    import matplotlib.pyplot as plt

    maps = activations(model, layer_name, image)
    if maps.ndim != 3:
        raise ValueError(f"layer_name {layer_name!r} outputs shape {maps.shape}, not (H, W, C) feature maps")
    count = min(int(max_maps), maps.shape[-1])
    rows, columns = _grid(count, columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.5 * columns, 1.5 * rows + 0.4), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < count:
            axis.imshow(maps[..., index], cmap="viridis")
            axis.set_title(str(index), fontsize=7)
    figure.suptitle(f"{layer_name}: {count} of {maps.shape[-1]} activation maps, {maps.shape[0]}x{maps.shape[1]}")
    return figure


# ---------------------------------------------------------------------------------------------
# Activation maximization
# ---------------------------------------------------------------------------------------------
def _gaussian_kernel(sigma, channels):
    """A normalized Gaussian, about 4 sigma wide, as a depthwise kernel (k, k, channels, 1)."""
    radius = max(1, int(round(2 * sigma)))
    offsets = np.arange(-radius, radius + 1, dtype=np.float32)
    line = np.exp(-0.5 * (offsets / sigma) ** 2)
    square = np.outer(line, line) / np.outer(line, line).sum()
    return np.repeat(square[:, :, None, None], channels, axis=2).astype(np.float32)


def activation_maximization(model, layer_name=None, filter_index=None, class_index=None, steps=100,
                            learning_rate=0.05, jitter=2, blur_every=4, blur_sigma=0.5, l2=1e-3,
                            seed=0, initial_image=None, value_range=(0.0, 1.0)):
    """Gradient ascent on the input so a filter (or a class score) responds strongly; returns the image."""
    import keras
    import tensorflow as tf

    validation.check_keras_model(model)
    if class_index is not None:
        if layer_name is not None or filter_index is not None:
            raise ValueError("give class_index alone, or layer_name (with an optional filter_index)")
        target_model = model
        index = class_index
    elif layer_name is not None:
        target_model = _feature_model(model, layer_name)
        index = filter_index
    else:
        raise ValueError("give layer_name (and optionally filter_index) or class_index")
    for name, value, minimum in (("steps", steps, 1), ("jitter", jitter, 0), ("blur_every", blur_every, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if not learning_rate > 0 or l2 < 0 or not blur_sigma > 0:
        raise ValueError("learning_rate and blur_sigma must be positive and l2 non-negative, got "
                         f"learning_rate={learning_rate!r}, blur_sigma={blur_sigma!r}, l2={l2!r}")
    low, high = (float(value) for value in value_range)
    output_size = target_model.outputs[0].shape[-1]
    if index is not None and (isinstance(index, bool) or not isinstance(index, (int, np.integer))
                              or not 0 <= index < output_size):
        name = "class_index" if class_index is not None else "filter_index"
        raise ValueError(f"{name} must be an integer in [0, {output_size}), got {index!r}")

    rng = np.random.default_rng(seed)
    if initial_image is None:
        shape = tuple(model.inputs[0].shape[1:])
        if any(size is None for size in shape):
            raise ValueError(f"model input shape {shape} has unknown sizes: pass initial_image")
        # Small noise around mid-grey: a neutral start that the gradient can push either way.
        middle, spread = (low + high) / 2, (high - low) / 20
        image = (middle + spread * rng.standard_normal(shape)).astype(np.float32)
    else:
        image = _model_batch(model, initial_image)[0]
    image = tf.Variable(image[np.newaxis])
    blur = tf.constant(_gaussian_kernel(blur_sigma, image.shape[-1]))

    @tf.function
    def ascent_step(shift_rows, shift_columns):
        # Jitter: shift the image a few pixels, so the result does not depend on exact pixel positions.
        shifted = tf.roll(image, shift=[shift_rows, shift_columns], axis=[1, 2])
        with tf.GradientTape() as tape:
            tape.watch(shifted)
            output = target_model(shifted, training=False)
            chosen = output if index is None else output[..., index]
            # L2 penalty on the distance from mid-grey: extreme pixel values are not rewarded for free.
            objective = tf.reduce_mean(chosen) - l2 * tf.reduce_mean(tf.square(shifted - (low + high) / 2))
        gradient = tape.gradient(objective, shifted)
        # Normalized steps: the step size does not depend on the gradient's (arbitrary) scale.
        gradient /= tf.math.reduce_std(gradient) + 1e-8
        gradient = tf.roll(gradient, shift=[-shift_rows, -shift_columns], axis=[1, 2])
        image.assign(tf.clip_by_value(image + learning_rate * gradient, low, high))

    for step in range(steps):
        shift_rows, shift_columns = (int(value) for value in rng.integers(-jitter, jitter + 1, size=2))
        ascent_step(tf.constant(shift_rows), tf.constant(shift_columns))
        if blur_every and (step + 1) % blur_every == 0 and step + 1 < steps:
            # Blur: high frequencies make adversarial-looking noise rather than recognizable patterns.
            image.assign(tf.nn.depthwise_conv2d(image, blur, strides=[1, 1, 1, 1], padding="SAME"))
    return keras.ops.convert_to_numpy(image)[0]


# ---------------------------------------------------------------------------------------------
# Saliency and occlusion
# ---------------------------------------------------------------------------------------------
def saliency(model, image, class_index=None):
    """|d class score / d input| for one image, max over channels: a 2-D (H, W) map."""
    try:
        import keras

        is_keras = isinstance(model, keras.Model)
    except ImportError:
        is_keras = False
    if not is_keras:
        return _gluon_saliency(model, image, class_index)
    import tensorflow as tf

    batch = tf.constant(_model_batch(model, image))
    with tf.GradientTape() as tape:
        tape.watch(batch)
        scores = model(batch, training=False)
        index = _class_index(scores.numpy()[0], class_index)
        score = scores[0, index]
    gradient = tape.gradient(score, batch).numpy()[0]
    return np.abs(gradient).max(axis=-1) if gradient.ndim == 3 else np.abs(gradient)


def _gluon_saliency(model, image, class_index):
    """Saliency for an MXNet Gluon block taking NCHW batches, with mx.autograd."""
    try:
        import mxnet as mx
        from mxnet import gluon
    except ImportError:
        mx = None
    if mx is None or not isinstance(model, gluon.Block):
        raise TypeError(f"model must be a Keras model or an MXNet Gluon block, got {type(model).__name__}")
    array = _as_image(image)
    array = array[np.newaxis] if array.ndim == 2 else np.transpose(array, (2, 0, 1))
    batch = mx.nd.array(array[np.newaxis])
    batch.attach_grad()
    with mx.autograd.record():
        scores = model(batch)
        index = _class_index(scores.asnumpy()[0], class_index)
        score = scores[0, index]
    score.backward()
    return np.abs(batch.grad.asnumpy()[0]).max(axis=0)


def _probabilities(scores):
    """Softmax of the scores, unless every row already is a probability distribution."""
    if np.all(scores >= 0) and np.allclose(scores.sum(axis=-1), 1.0, atol=1e-3):
        return scores
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _positions(size, patch_size, stride):
    """Patch corners along one axis, the last one flush with the edge so every pixel gets covered."""
    positions = list(range(0, size - patch_size + 1, stride))
    if positions[-1] != size - patch_size:
        positions.append(size - patch_size)
    return positions


def occlusion(model, image, class_index=None, patch_size=8, stride=4, fill=0.5, batch_size=64):
    """Class probability with a square occluded at each place, per pixel (H, W); low = important."""
    import keras

    validation.check_keras_model(model)
    batch = _model_batch(model, image)
    height, width = batch.shape[1:3]
    for name, value in (("patch_size", patch_size), ("stride", stride), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if patch_size > min(height, width):
        raise ValueError(f"patch_size {patch_size} is larger than the image ({height}x{width})")
    if isinstance(fill, str):
        if fill not in FILL_CHOICES:
            raise ValueError(f"fill must be a number or one of {FILL_CHOICES}, got {fill!r}")
        fill_value = batch[0].mean(axis=(0, 1)) if batch.ndim == 4 else batch[0].mean()
    elif isinstance(fill, (int, float)) and not isinstance(fill, bool):
        fill_value = float(fill)
    else:
        raise ValueError(f"fill must be a number or one of {FILL_CHOICES}, got {fill!r}")

    predict = lambda images: _probabilities(keras.ops.convert_to_numpy(model(images, training=False)))
    index = _class_index(predict(batch)[0], class_index)
    corners = [(row, column) for row in _positions(height, patch_size, stride)
               for column in _positions(width, patch_size, stride)]
    probability_sum = np.zeros((height, width))
    covered = np.zeros((height, width))
    # The occluded copies go through the model in batches: one call per batch, not per position.
    for start in range(0, len(corners), batch_size):
        chunk = corners[start:start + batch_size]
        occluded = np.repeat(batch, len(chunk), axis=0)
        for copy, (row, column) in enumerate(chunk):
            occluded[copy, row:row + patch_size, column:column + patch_size] = fill_value
        probabilities = predict(occluded)[:, index]
        for probability, (row, column) in zip(probabilities, chunk):
            probability_sum[row:row + patch_size, column:column + patch_size] += probability
            covered[row:row + patch_size, column:column + patch_size] += 1
    return (probability_sum / covered).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Display
# ---------------------------------------------------------------------------------------------
def _resized(heat_map, height, width):
    """Nearest-neighbour resize of a 2-D map to (height, width), so any map can overlay the image."""
    rows = (np.arange(height) * heat_map.shape[0] / height).astype(int)
    columns = (np.arange(width) * heat_map.shape[1] / width).astype(int)
    return heat_map[rows][:, columns]


def show(image, heat_map=None, alpha=0.5, cmap="jet", title=None, ax=None):
    """Show one image, with a 2-D map (saliency, occlusion) overlaid if given; returns the figure."""
    import matplotlib.pyplot as plt

    picture = _as_image(image)
    if picture.ndim == 3 and picture.shape[-1] == 1:
        picture = picture[..., 0]
    if ax is None:
        figure, ax = plt.subplots(figsize=(4, 4))
    else:
        figure = ax.figure
    ax.imshow(_normalized(picture), cmap="gray" if picture.ndim == 2 else None)
    if heat_map is not None:
        heat_map = np.asarray(heat_map, dtype=np.float32)
        if heat_map.ndim != 2:
            raise ValueError(f"heat_map must be a 2-D map, got shape {heat_map.shape}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        overlay = ax.imshow(_resized(heat_map, *picture.shape[:2]), cmap=cmap, alpha=alpha)
        figure.colorbar(overlay, ax=ax, fraction=0.046, pad=0.04)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return figure


def show_maps(image, maps, alpha=0.5, cmap="jet"):
    """The image next to several overlaid maps, from a dict {title: 2-D map}; returns the figure."""
    import matplotlib.pyplot as plt

    if not isinstance(maps, dict) or not maps:
        raise TypeError("maps must be a non-empty dict {title: 2-D map}")
    figure, axes = plt.subplots(1, len(maps) + 1, figsize=(4 * (len(maps) + 1), 4))
    show(image, ax=axes[0], title="image")
    for axis, (title, heat_map) in zip(axes[1:], maps.items()):
        show(image, heat_map, alpha=alpha, cmap=cmap, title=title, ax=axis)
    figure.tight_layout()
    return figure
