"""What a CNN has learned, made visible: filters, activations, activation maximization, saliency, occlusion.

- ``filters(model, layer_name=None)``: a convolution's kernels as a grid of small images (the first
  convolution by default: Gabor-like edges and colour blobs in a trained ImageNet network).
- ``activations(model, layer_name, image)``: one layer's feature maps for one image (an array);
  ``plot_activations(...)`` draws them as a grid.
- ``activation_maximization(model, layer_name, filter_index=...)`` or ``(model, class_index=...)``:
  gradient ascent on the input image (tf.GradientTape), with jitter, blur and an L2 penalty that keep
  the picture natural-looking (Yosinski et al. 2015; Olah et al. 2017, "Feature Visualization").
- ``saliency(model, image, class_index=None)``: |d class score / d pixel|, max over channels
  (Simonyan et al. 2014); a 2-D map.
- ``occlusion(model, image, class_index=None, patch_size=..., stride=...)``: Zeiler & Fergus's grey
  square slid over the image; the map holds the class probability with each pixel covered (low =
  important). Both work for Keras models and MXNet Gluon blocks.
- ``show(image, heat_map=None)``: an image, optionally with a map overlaid; returns the figure.

Conventions: ``image`` is ONE image, (H, W) or (H, W, C), uint8 or float. uint8 images are scaled to
[0, 1]; float images are used as they are (preprocess them yourself for models that expect other
ranges). Grey (H, W) images get a channel axis when the model wants one. ``layer_name`` names a layer
of ``model.layers``; a wrong name raises ValueError listing the names. Class scores are the model's
outputs (the kit's models output logits); for occlusion they are turned into probabilities with a
softmax unless they already are probabilities. Every argument is checked before any framework work:
a wrong one gets a ValueError or TypeError naming it. ``saliency`` and ``occlusion`` live in
``attribution``, with the image checks both modules use, and are re-exported here.

Used by notebooks 03-feature-visualization and 04-alexnet-depth-ablation.
"""
import numpy as np

from . import validation
from .attribution import FILL_CHOICES, check_index, image_array, model_batch, occlusion, saliency  # noqa: F401

COLORMAP_EXAMPLES = ("jet", "viridis", "magma", "gray", "RdBu")


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------
def _layer(model, layer_name):
    """The layer called ``layer_name``; a ValueError lists the names there are."""
    validation.check_string(layer_name, "layer_name")
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise ValueError(f"layer_name {layer_name!r} is not a layer of model {model.name!r}; "
                         f"its layers are: {', '.join(names)}")
    return model.get_layer(layer_name)


def _feature_model(model, layer_name):
    """A Keras model from the model's input to the named layer's output."""
    import keras

    validation.check_keras_model(model)
    layer = _layer(model, layer_name)
    # A single input as a tensor, not a one-element list: Keras warns when the structures differ.
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, layer.output)


def check_cmap(cmap, name="cmap"):
    """A matplotlib colormap name (or Colormap) as it is; an unknown name lists a few that exist."""
    import matplotlib

    if isinstance(cmap, matplotlib.colors.Colormap):
        return cmap
    if not isinstance(cmap, str):
        raise TypeError(f"{name} must be a matplotlib colormap name such as 'jet', got {cmap!r}")
    if cmap not in matplotlib.colormaps:
        raise ValueError(f"{name} {cmap!r} is not a matplotlib colormap; try one of "
                         f"{', '.join(map(repr, COLORMAP_EXAMPLES))} (all: matplotlib.colormaps)")
    return cmap


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
    max_filters = validation.check_positive_int(max_filters, "max_filters")
    columns = validation.check_positive_int(columns, "columns")
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
    channel = check_index(channel, "channel", num_inputs)
    count = min(max_filters, kernel.shape[3])
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

    validation.check_keras_model(model)
    batch = model_batch(model, image, framework="keras")
    extractor = _feature_model(model, layer_name)
    output = extractor(batch, training=False)
    return keras.ops.convert_to_numpy(output)[0]


def plot_activations(model, layer_name, image, max_maps=32, columns=8):
    """Plot the named layer's feature maps for one image as a grid; returns the figure."""
    import matplotlib.pyplot as plt

    validation.check_keras_model(model)
    max_maps = validation.check_positive_int(max_maps, "max_maps")
    columns = validation.check_positive_int(columns, "columns")
    output_shape = tuple(_layer(model, layer_name).output.shape)
    if len(output_shape) != 4:
        raise ValueError(f"layer_name {layer_name!r} outputs shape {output_shape}, not (H, W, C) feature maps")
    maps = activations(model, layer_name, image)
    count = min(max_maps, maps.shape[-1])
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
def _value_range(value_range):
    """(low, high): two finite numbers, low < high."""
    items = validation.check_sequence(value_range, "value_range")
    if len(items) != 2:
        raise ValueError(f"value_range must be (low, high), got {value_range!r}")
    low, high = (validation.check_number(value, "value_range") for value in items)
    if not low < high:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range!r}")
    return low, high


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
    steps = validation.check_positive_int(steps, "steps")
    jitter = validation.check_integer(jitter, "jitter", minimum=0)
    blur_every = validation.check_integer(blur_every, "blur_every", minimum=0)
    learning_rate = validation.check_positive_number(learning_rate, "learning_rate")
    blur_sigma = validation.check_positive_number(blur_sigma, "blur_sigma")
    l2 = validation.check_number(l2, "l2", minimum=0)
    seed = validation.check_seed(seed)
    low, high = _value_range(value_range)
    if class_index is not None:
        if layer_name is not None or filter_index is not None:
            raise ValueError("give class_index alone, or layer_name (with an optional filter_index)")
        target_model, name, index = model, "class_index", class_index
    elif layer_name is not None:
        target_model, name, index = _feature_model(model, layer_name), "filter_index", filter_index
    else:
        raise ValueError("give layer_name (and optionally filter_index) or class_index")
    index = check_index(index, name, target_model.outputs[0].shape[-1])
    if initial_image is not None:
        image = model_batch(model, initial_image, "initial_image", framework="keras")[0]
    else:
        shape = tuple(model.inputs[0].shape[1:])
        if any(size is None for size in shape):
            raise ValueError(f"model input shape {shape} has unknown sizes: pass initial_image")

    rng = np.random.default_rng(seed)
    if initial_image is None:
        # Small noise around mid-grey: a neutral start that the gradient can push either way.
        middle, spread = (low + high) / 2, (high - low) / 20
        image = (middle + spread * rng.standard_normal(shape)).astype(np.float32)
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
# Display
# ---------------------------------------------------------------------------------------------
def _resized(heat_map, height, width):
    """Nearest-neighbour resize of a 2-D map to (height, width), so any map can overlay the image."""
    rows = (np.arange(height) * heat_map.shape[0] / height).astype(int)
    columns = (np.arange(width) * heat_map.shape[1] / width).astype(int)
    return heat_map[rows][:, columns]


def _picture(image):
    """The image as something imshow draws: (H, W) grey or (H, W, 3|4) colour."""
    picture = image_array(image)
    if picture.ndim == 3 and picture.shape[-1] == 1:
        picture = picture[..., 0]
    if picture.ndim == 3 and picture.shape[-1] not in (3, 4):
        raise ValueError(f"image must have 1, 3 or 4 channels to be shown, got shape {picture.shape}")
    return picture


def _heat_map(heat_map, picture, name="heat_map"):
    """A finite 2-D map the image's size, or a scaled-down copy of it (same aspect ratio)."""
    heat_map = validation.check_array(heat_map, name).astype(np.float32)
    height, width = picture.shape[:2]
    if heat_map.ndim != 2:
        raise ValueError(f"{name} must be a 2-D map, got shape {heat_map.shape}")
    rows, columns = heat_map.shape
    # Within one map pixel of the image's aspect ratio, and not larger than the image.
    if rows > height or columns > width or abs(rows * width - columns * height) > max(height, width):
        raise ValueError(f"{name} has shape {heat_map.shape}, which does not match the {height}x{width} image: "
                         "give a map of the image's size or a scaled-down copy of it")
    return heat_map


def _check_display(alpha, cmap, title, ax):
    """alpha in [0, 1], a known colormap, a string title (or None), a matplotlib Axes (or None)."""
    import matplotlib

    alpha = validation.check_fraction(alpha, "alpha")
    check_cmap(cmap)
    if title is not None:
        validation.check_string(title, "title", allow_empty=True)
    if ax is not None and not isinstance(ax, matplotlib.axes.Axes):
        raise TypeError(f"ax must be a matplotlib Axes (or None), got {type(ax).__name__}")
    return alpha


def show(image, heat_map=None, alpha=0.5, cmap="jet", title=None, ax=None):
    """Show one image, with a 2-D map (saliency, occlusion) overlaid if given; returns the figure."""
    import matplotlib.pyplot as plt

    picture = _picture(image)
    alpha = _check_display(alpha, cmap, title, ax)
    if heat_map is not None:
        heat_map = _heat_map(heat_map, picture)
    if ax is None:
        figure, ax = plt.subplots(figsize=(4, 4))
    else:
        figure = ax.figure
    ax.imshow(_normalized(picture), cmap="gray" if picture.ndim == 2 else None)
    if heat_map is not None:
        overlay = ax.imshow(_resized(heat_map, *picture.shape[:2]), cmap=cmap, alpha=alpha)
        figure.colorbar(overlay, ax=ax, fraction=0.046, pad=0.04)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return figure


def show_maps(image, maps, alpha=0.5, cmap="jet"):
    """The image next to several overlaid maps, from a dict {title: 2-D map}; returns the figure."""
    import matplotlib.pyplot as plt

    picture = _picture(image)
    if not isinstance(maps, dict) or not maps:
        raise TypeError(f"maps must be a non-empty dict {{title: 2-D map}}, got {type(maps).__name__}")
    alpha = _check_display(alpha, cmap, None, None)
    for title, heat_map in maps.items():
        validation.check_string(title, "maps (its keys, the titles)", allow_empty=True)
        _heat_map(heat_map, picture, f"maps[{title!r}]")
    figure, axes = plt.subplots(1, len(maps) + 1, figsize=(4 * (len(maps) + 1), 4))
    show(image, ax=axes[0], title="image")
    for axis, (title, heat_map) in zip(axes[1:], maps.items()):
        show(image, heat_map, alpha=alpha, cmap=cmap, title=title, ax=axis)
    figure.tight_layout()
    return figure
