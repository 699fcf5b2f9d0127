"""Which pixels a CNN's decision rests on: saliency and occlusion maps, for Keras models and Gluon blocks.

- ``saliency(model, image, class_index=None)``: |d class score / d pixel|, max over channels
  (Simonyan et al. 2014); a 2-D map.
- ``occlusion(model, image, class_index=None, patch_size=..., stride=...)``: Zeiler & Fergus's grey
  square slid over the image; the map holds the class probability with each pixel covered (low =
  important).
- The image and model checks that ``visualize`` shares: ``image_array`` (one image, numbers, finite),
  ``model_batch`` (that image as a batch of one the model takes, checked against the model's input),
  ``check_index`` (a class or filter index in range) and ``model_framework``.

Conventions are those of ``visualize``: ``image`` is ONE image, (H, W) or (H, W, C), uint8 (scaled to
[0, 1]) or float (used as it is). Keras models take NHWC batches; Gluon blocks take NCHW batches (the
copy is made here). The kit's Gluon models record the image shape they were built for
(``model.image_shape``), so a wrong image size is refused before MXNet sees it; for other Gluon blocks
one forward pass tells. ``visualize.saliency`` and ``visualize.occlusion`` are these functions.
Used by ``visualize`` (which re-exports saliency and occlusion) and notebook 03-feature-visualization.
"""
import numpy as np

from . import training_inputs, validation

FILL_CHOICES = ("mean",)


# ---------------------------------------------------------------------------------------------
# Checks shared with visualize
# ---------------------------------------------------------------------------------------------
def image_array(image, name="image"):
    """One image as float32 (H, W) or (H, W, C), finite and not empty; uint8 scaled to [0, 1]."""
    array = validation.check_array(image, name)  # numbers (no bools, strings), not empty, finite
    if array.ndim not in (2, 3):
        raise ValueError(f"{name} must be one image shaped (H, W) or (H, W, C), got shape {array.shape}")
    if min(array.shape) < 1:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    return array.astype(np.float32)


def model_framework(model, name="model"):
    """"keras" or "gluon"; a TypeError naming ``name`` for None and anything that is not a model."""
    validation.check_not_none(model, name, "a Keras model or an MXNet Gluon block")
    import keras

    if isinstance(model, keras.Model):
        return "keras"
    from mxnet import gluon

    if isinstance(model, gluon.Block):
        return "gluon"
    raise TypeError(f"{name} must be a Keras model or an MXNet Gluon block, got {type(model).__name__}")


def _expected_image_shape(model, framework):
    """(H, W, C) the model takes (None for unknown sizes), or None when the model does not say."""
    if framework == "keras":
        try:
            return tuple(model.inputs[0].shape[1:])
        except (AttributeError, IndexError, TypeError, ValueError):  # a subclassed model not built yet
            return None
    shape = getattr(model, "image_shape", None)  # set by models.lenet5 / alexnet / fully_connected
    return tuple(shape) if isinstance(shape, tuple) else None


def model_batch(model, image, name="image", framework=None):
    """``image`` as an NHWC float32 batch of one that ``model`` takes; ValueError naming ``name`` if not."""
    framework = framework or model_framework(model)
    array = image_array(image, name)
    expected = _expected_image_shape(model, framework)
    if expected is None:  # a model that does not say: grey stays grey, and one pass tells
        batch = (array[..., np.newaxis] if array.ndim == 2 else array)[np.newaxis]
        if framework == "keras":
            training_inputs.probe_keras(model, batch, name)
        else:
            import mxnet as mx

            training_inputs.probe_gluon(model, mx.nd.array(batch.transpose(0, 3, 1, 2)), name)
        return batch
    if array.ndim == 2 and len(expected) == 3:
        array = array[..., np.newaxis]
    if array.ndim != len(expected) or any(want is not None and want != got
                                          for want, got in zip(expected, array.shape)):
        raise ValueError(f"{name} has shape {array.shape} but model {model.name!r} expects {expected} "
                         "(height, width, channels)")
    return array[np.newaxis]


def check_index(index, name, size):
    """``index`` as an int in [0, size), or None; bools, floats and strings are refused."""
    if index is None:
        return None
    if not validation.is_integer(index):
        raise TypeError(f"{name} must be an integer in [0, {size}), got {index!r} ({type(index).__name__})")
    if not 0 <= index < size:
        raise ValueError(f"{name} must be an integer in [0, {size}), got {index!r}")
    return int(index)


def _num_classes(model, framework):
    """The number of class scores the model outputs, or None when it does not say."""
    if framework == "keras":
        try:
            size = model.outputs[0].shape[-1]
        except (AttributeError, IndexError, TypeError, ValueError):  # a subclassed model not built yet
            return None
        return int(size) if size is not None else None
    return training_inputs.check_model(model, "gluon")[1]


def _checked_class(model, framework, class_index):
    classes = _num_classes(model, framework)
    return check_index(class_index, "class_index", classes) if classes else class_index


def _predicted(scores, class_index):
    """The requested class (checked against the scores), or the predicted one when class_index is None."""
    if class_index is None:
        return int(np.argmax(scores))
    return check_index(class_index, "class_index", scores.shape[-1])


# ---------------------------------------------------------------------------------------------
# Saliency
# ---------------------------------------------------------------------------------------------
def saliency(model, image, class_index=None):
    """|d class score / d input| for one image, max over channels: a 2-D (H, W) map."""
    framework = model_framework(model)
    batch = model_batch(model, image, framework=framework)
    class_index = _checked_class(model, framework, class_index)
    if framework == "gluon":
        return _gluon_saliency(model, batch, class_index)
    import tensorflow as tf

    batch = tf.constant(batch)
    with tf.GradientTape() as tape:
        tape.watch(batch)
        scores = model(batch, training=False)
        index = _predicted(scores.numpy()[0], class_index)
        score = scores[0, index]
    gradient = tape.gradient(score, batch).numpy()[0]
    return np.abs(gradient).max(axis=-1)


def _gluon_saliency(model, batch, class_index):
    """Saliency for an MXNet Gluon block taking NCHW batches, with mx.autograd."""
    import mxnet as mx

    batch = mx.nd.array(batch.transpose(0, 3, 1, 2))
    batch.attach_grad()
    with mx.autograd.record():
        scores = model(batch)
        index = _predicted(scores.asnumpy()[0], class_index)
        score = scores[0, index]
    score.backward()
    return np.abs(batch.grad.asnumpy()[0]).max(axis=0)


# ---------------------------------------------------------------------------------------------
# Occlusion
# ---------------------------------------------------------------------------------------------
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


def _check_fill(fill):
    """"mean" or a pixel value in [0, 1]."""
    if isinstance(fill, str):
        if fill.lower() not in FILL_CHOICES:
            raise ValueError(f"fill must be a pixel value in [0, 1] or one of {FILL_CHOICES}, got {fill!r}")
        return fill.lower()
    return validation.check_fraction(fill, "fill")


def _predictor(model, framework):
    """images (N, H, W, C) -> class probabilities (N, classes) as numpy."""
    if framework == "keras":
        import keras

        return lambda images: _probabilities(keras.ops.convert_to_numpy(model(images, training=False)))
    import mxnet as mx

    return lambda images: _probabilities(model(mx.nd.array(images.transpose(0, 3, 1, 2))).asnumpy())


def occlusion(model, image, class_index=None, patch_size=8, stride=4, fill=0.5, batch_size=64):
    """Class probability with a square occluded at each place, per pixel (H, W); low = important."""
    framework = model_framework(model)
    patch_size = validation.check_positive_int(patch_size, "patch_size")
    stride = validation.check_positive_int(stride, "stride")
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    fill = _check_fill(fill)
    batch = model_batch(model, image, framework=framework)
    height, width = batch.shape[1:3]
    if patch_size > min(height, width):
        raise ValueError(f"patch_size {patch_size} is larger than the image ({height}x{width})")
    class_index = _checked_class(model, framework, class_index)
    fill_value = batch[0].mean(axis=(0, 1)) if fill == "mean" else fill

    predict = _predictor(model, framework)
    index = _predicted(predict(batch)[0], class_index)
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
