"""What training takes as input, checked and prepared: the model, the learning rate, images and labels.

``check_model`` (the model belongs to the framework; its image shape and classes when known),
``check_learning_rate`` (a finite positive number or a ``schedules.WarmupStepSchedule``),
``prepare_dataset`` (float32 NHWC images in [0, 1] and int32 labels, checked against the model) and
``probe_keras``/``probe_gluon`` (one image through the model, so a wrong size is the kit's ValueError, not
MXNet's "Shape inconsistent"). Used by ``train``, ``large_batch``, ``ablation`` and ``transfer``.
"""
import numpy as np

from . import schedules, validation

def check_model(model, framework):
    """TypeError unless ``model`` belongs to ``framework``; returns (image shape, classes) if known."""
    validation.check_not_none(model, "model", "a Keras model or a Gluon block")
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
    except (AttributeError, IndexError, TypeError, ValueError, RuntimeError):
        return None, None


def check_learning_rate(learning_rate, name="learning_rate"):
    """A positive finite float, or a ``schedules.WarmupStepSchedule`` as it is."""
    if isinstance(learning_rate, schedules.WarmupStepSchedule):
        return learning_rate
    if not validation.is_real_number(learning_rate):
        raise TypeError(f"{name} must be a positive number or a schedules.WarmupStepSchedule, "
                        f"got {learning_rate!r} ({type(learning_rate).__name__})")
    return validation.check_positive_number(learning_rate, name)


def _images(x, name, image_shape=None):
    """Images as float32 NHWC in [0, 1], from (N, H, W) or (N, H, W, C), uint8 or float."""
    array = validation.check_array(x, name, ndim=(3, 4))  # numbers, not empty, no NaN or infinity
    if array.ndim == 3:
        array = array[..., np.newaxis]
    if array.shape[1] in (1, 3) and array.shape[-1] not in (1, 3):
        raise ValueError(f"{name} has shape {array.shape}, which looks channels-first; pass (N, H, W, C) "
                         "(the NCHW copy Gluon needs is made here)")
    if image_shape and None not in image_shape and array.shape[1:] != tuple(image_shape):
        raise ValueError(f"{name} holds images of shape {array.shape[1:]}, the model expects {tuple(image_shape)}")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 255:
        raise ValueError(f"{name} must hold pixel values in [0, 1] or [0, 255], got [{low:g}, {high:g}]")
    scale = 1 / 255 if array.dtype.kind in "ui" or high > 1 else 1.0  # integers, or floats > 1: 0..255
    return np.multiply(array, scale, dtype=np.float32)


def prepare_dataset(x, y, x_name, y_name, model_io=(None, None)):
    """(images, labels): float32 NHWC images and int32 class indices of shape (N,), checked."""
    image_shape, num_classes = model_io
    images = _images(x, x_name, image_shape)
    labels = validation.check_array(y, y_name, ndim=(1, 2), finite=False, kinds="uifb")
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



def probe_keras(model, images, name):
    """One forward pass on one image: a model without a declared input shape says here what it cannot take."""
    try:
        model(images[:1], training=False)
    except Exception as error:  # Keras raises ValueError, TensorFlow InvalidArgumentError and others
        raise ValueError(f"{name}: the model cannot take images of shape {images.shape[1:]} (H, W, C): "
                         f"{str(error).strip().splitlines()[0]}") from None


def probe_gluon(model, images, name):
    """A Gluon model does not say which image size it takes: one image through it, before MXNet complains."""
    import mxnet as mx

    try:
        model(images[:1]).wait_to_read()
    except mx.base.MXNetError as error:
        shape = images.shape[1:]
        raise ValueError(f"{name}: the model cannot take images of shape {(shape[1], shape[2], shape[0])} "
                         f"(H, W, C): {str(error).strip().splitlines()[0]}") from None


