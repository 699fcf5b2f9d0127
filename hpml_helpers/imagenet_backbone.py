"""A real ImageNet backbone for transfer learning: MobileNetV2's features, when Keras has its weights cached.

Nothing is downloaded: ``imagenet_weights_file()`` says where it looked and what to run once with internet
access; ``imagenet_model(weights_path, num_classes)`` puts the frozen features under a new output layer for
28x28 grey images; ``copy_weights_by_name`` moves weights between two Keras models by layer name.
Used by notebook 10-transfer-learning (its optional ImageNet section).
"""
import os
import pathlib

from . import validation

# What keras.applications.MobileNetV2 saves in Keras's cache (keras_home()/models): with the classifier at 224x224
# (``MobileNetV2(weights="imagenet")``) or without it at 96x96 (include_top=False, input_shape=(96, 96, 3)).
IMAGENET_WEIGHTS_FILES = ("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
                          "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5")


def keras_models_dir():
    """Where Keras keeps downloaded weights: $KERAS_HOME/models, else ~/.keras/models (/tmp/.keras if read-only)."""
    # The same rule as Keras's own (keras.src.backend.config and utils.file_utils.get_file), without importing it.
    if "KERAS_HOME" in os.environ:
        base = pathlib.Path(os.environ["KERAS_HOME"]).expanduser()
    else:
        home = pathlib.Path.home()
        base = (home if os.access(home, os.W_OK) else pathlib.Path("/tmp")) / ".keras"
    if base.exists() and not os.access(base, os.W_OK):
        base = pathlib.Path("/tmp") / ".keras"
    return base / "models"


def imagenet_weights_file(verbose=True):
    """The cached MobileNetV2 ImageNet weights file, or None; ``verbose`` says what was looked for."""
    folder = keras_models_dir()
    for name in IMAGENET_WEIGHTS_FILES:
        if (folder / name).is_file():
            if verbose:
                print(f"ImageNet weights found: {folder / name}")
            return folder / name
    if verbose:
        print(f"No ImageNet weights: looked for {' or '.join(IMAGENET_WEIGHTS_FILES)} in {folder} (there is no "
              "download here). To get them, run once with internet access:\n"
              '    import keras; keras.applications.MobileNetV2(weights="imagenet")\n'
              "(or set KERAS_HOME to a folder whose models/ holds the file), then rerun this notebook.")
    return None


def copy_weights_by_name(source, target):
    """Copy the weights of every layer of ``target`` that ``source`` has under the same name; returns their names."""
    validation.check_keras_model(source, "source"), validation.check_keras_model(target, "target")
    copied = []
    for layer in target.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
            copied.append(layer.name)
    return copied


def imagenet_model(weights_path, num_classes, image_size=96, seed=0):
    """MobileNetV2's ImageNet features, frozen, and a new output layer for 28x28 grey images (None: random weights)."""
    import keras

    num_classes = validation.check_integer(num_classes, "num_classes", minimum=2)
    seed = validation.check_seed(seed, allow_none=False)
    if validation.check_positive_int(image_size, "image_size") < 32:
        raise ValueError(f"image_size must be at least 32 (MobileNetV2 halves the image 5 times), got {image_size}")
    keras.utils.set_random_seed(seed)
    backbone = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(image_size,) * 2 + (3,),
                                              pooling="avg")
    if weights_path is not None:
        weights_path = validation.check_path(weights_path, "weights_path")
        if not weights_path.is_file():
            raise ValueError(f"weights_path {weights_path} is not a file")
        # Build the network the file was saved from, then take its convolutional layers: their weights do not
        # depend on the image size, so the 224x224 classifier's features work on smaller images too.
        with_top = "no_top" not in weights_path.name
        source = keras.applications.MobileNetV2(include_top=with_top, weights=str(weights_path),
                                                input_shape=None if with_top else (96, 96, 3))
        copy_weights_by_name(source, backbone)
    backbone.trainable = False  # HPML: freeze the ImageNet features; only the new output layer trains
    images = keras.Input((28, 28, 1), name="images")
    x = keras.layers.Resizing(image_size, image_size, name="resize")(images)
    x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_minus1_1")(x)  # MobileNetV2 expects pixels in [-1, 1]
    features = backbone(x, training=False)  # BatchNorm keeps ImageNet's statistics
    outputs = keras.layers.Dense(num_classes, name="output")(features)  # HPML: the new head
    return keras.Model(images, outputs, name="mobilenet_v2_transfer")
