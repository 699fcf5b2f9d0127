"""The lecture's networks, built the same way in Keras and in MXNet Gluon.

- ``lenet5(framework="keras" | "gluon")``: LeCun et al. 1998, adapted to 28x28 MNIST images.
- ``fully_connected(framework=...)``: the fully-connected baseline LeNet-5 is compared with.
- ``alexnet(framework=..., variant="full" | "small", remove=())``: AlexNet (Krizhevsky et al. 2012) as
  torchvision defines it (single tower, 61.1 M parameters, 0.714 GMAC at 224x224), or a small version
  with the same 5 conv + 3 FC structure that trains in seconds; ``remove`` drops layers as Zeiler &
  Fergus (2014) did in their depth ablation (layers numbered 1-8: conv1-conv5, fc6-fc8).

Every architecture is written once, as a framework-neutral list of layers (``_conv``, ``_pool``,
``_flatten``, ``_dense``, ``_dropout``), and turned into a model by ``_build``. The layer names are
the same in both frameworks (conv1, pool1, conv2, pool2, fc1, fc2, output), so the notebooks can
point at "conv1" whichever framework runs. To add a network, write its layer list and a public
function that calls ``_build``.

Conventions:
- ``input_shape`` is the shape of one image, (height, width, channels), in both frameworks.
- Keras models take NHWC batches and are built (their input shape is known, so ``summary()`` and
  ``count_params()`` work at once).
- Gluon models are ``HybridBlock``s that take **NCHW** batches (MXNet's convolutions are
  channels-first), initialised with Xavier on ``context`` (default ``mx.cpu()``); ``train``
  hybridizes them. They record the image shape they were built for as ``model.image_shape``
  (height, width, channels), so ``visualize`` can refuse a wrong image before MXNet sees it.
- The output layer returns logits (class scores, no softmax): the losses apply the softmax
  themselves, which is numerically more stable.

Used by notebooks 02-training-a-cnn, 03-feature-visualization, 04-alexnet-depth-ablation,
06-compute-and-hardware, 07-parameter-server, 08-allreduce-and-horovod, 09-large-batch-training and
10-transfer-learning.
"""
import functools

from . import validation

FRAMEWORK_CHOICES = ("keras", "gluon")
ACTIVATION_CHOICES = ("relu", "tanh", "sigmoid")


# ---------------------------------------------------------------------------------------------
# Framework-neutral layer descriptions
# ---------------------------------------------------------------------------------------------
def _conv(name, filters, kernel_size, strides=1, padding="valid", activation="relu"):
    """A 2-D convolution; padding is "valid", "same" (stride 1 only) or a number of pixels."""
    return {"kind": "conv", "name": name, "filters": filters, "kernel_size": kernel_size,
            "strides": strides, "padding": padding, "activation": activation}


def _pool(name, kind, pool_size, strides=None):
    """A pooling layer, kind "avg" or "max", without padding."""
    return {"kind": kind + "_pool", "name": name, "pool_size": pool_size, "strides": strides or pool_size}


def _flatten(name="flatten"):
    """Flatten the feature maps into one vector per image."""
    return {"kind": "flatten", "name": name}


def _dense(name, units, activation=None):
    """A fully-connected layer (activation None: a linear layer, as the logits are)."""
    return {"kind": "dense", "name": name, "units": units, "activation": activation}


def _dropout(name, rate):
    """Dropout with the given rate (AlexNet uses 0.5 in its fully-connected layers)."""
    return {"kind": "dropout", "name": name, "rate": rate}


def _conv_padding_pixels(layer):
    """Pixels of zero padding on each side; "same" keeps the size and needs stride 1."""
    padding, kernel_size = layer["padding"], layer["kernel_size"]
    if padding == "valid":
        return 0
    if padding == "same":
        if layer["strides"] != 1 or kernel_size % 2 == 0:
            raise ValueError(f"layer {layer['name']}: 'same' padding needs stride 1 and an odd kernel; "
                             "give the padding in pixels instead")
        return (kernel_size - 1) // 2
    return int(padding)


def _output_shapes(layers, input_shape):
    """(height, width, channels) or (units,) after each layer: the output-size arithmetic."""
    height, width, channels = input_shape
    shapes = []
    for layer in layers:
        kind = layer["kind"]
        if kind == "conv":
            pad, kernel, stride = _conv_padding_pixels(layer), layer["kernel_size"], layer["strides"]
            height = (height + 2 * pad - kernel) // stride + 1
            width = (width + 2 * pad - kernel) // stride + 1
            channels = layer["filters"]
        elif kind.endswith("_pool"):
            height = (height - layer["pool_size"]) // layer["strides"] + 1
            width = (width - layer["pool_size"]) // layer["strides"] + 1
        elif kind == "flatten":
            channels, height, width = height * width * channels, None, None
        elif kind == "dense":
            channels = layer["units"]
        if height is not None and (height < 1 or width < 1):
            raise ValueError(f"input_shape {tuple(input_shape)} is too small: the feature maps would "
                             f"vanish at layer {layer['name']}")
        shapes.append((height, width, channels) if height is not None else (channels,))
    return shapes


# ---------------------------------------------------------------------------------------------
# Builders: the same layer list in Keras or in Gluon
# ---------------------------------------------------------------------------------------------
def _build_keras(layers, name, input_shape):
    import keras

    keras_layers = [keras.Input(shape=input_shape, name="images")]
    for layer in layers:
        kind, layer_name = layer["kind"], layer["name"]
        if kind == "conv":
            padding = layer["padding"]
            if padding not in ("valid", "same"):
                keras_layers.append(keras.layers.ZeroPadding2D(int(padding), name=layer_name + "_pad"))
                padding = "valid"
            keras_layers.append(keras.layers.Conv2D(layer["filters"], layer["kernel_size"], layer["strides"],
                                                    padding=padding, activation=layer["activation"],
                                                    name=layer_name))
        elif kind in ("avg_pool", "max_pool"):
            pool_class = keras.layers.AveragePooling2D if kind == "avg_pool" else keras.layers.MaxPooling2D
            keras_layers.append(pool_class(layer["pool_size"], layer["strides"], name=layer_name))
        elif kind == "flatten":
            keras_layers.append(keras.layers.Flatten(name=layer_name))
        elif kind == "dense":
            keras_layers.append(keras.layers.Dense(layer["units"], activation=layer["activation"],
                                                   name=layer_name))
        elif kind == "dropout":
            keras_layers.append(keras.layers.Dropout(layer["rate"], name=layer_name))
        elif kind == "batch_norm":
            keras_layers.append(keras.layers.BatchNormalization(name=layer_name))
    # Keras's default initialiser, glorot_uniform, is Xavier's: the same as the Gluon models get.
    return keras.Sequential(keras_layers, name=name)


_named_sequential_class = None


def _named_sequential(prefix):
    """A Gluon ``HybridSequential`` whose layers are named: ``model.conv1``, ``model["conv1"]``."""
    global _named_sequential_class
    if _named_sequential_class is None:
        from mxnet.gluon import nn

        class NamedHybridSequential(nn.HybridSequential):
            """HybridSequential with named layers, like a Keras Sequential (``model["conv1"]``)."""

            def add_named(self, name, block):
                """Append ``block`` under ``name``."""
                self.register_child(block, name)
                # Bypass Block.__setattr__, which would register the block a second time.
                self.__dict__[name] = block

            def __getitem__(self, key):
                return self._children[key] if isinstance(key, str) else super().__getitem__(key)

        _named_sequential_class = NamedHybridSequential
    return _named_sequential_class(prefix=prefix)


def _build_gluon(layers, name, input_shape, context):
    import mxnet as mx
    from mxnet.gluon import nn

    shapes = _output_shapes(layers, input_shape)
    model = _named_sequential(name + "_")
    # Giving in_channels/in_units from the shape arithmetic lets Gluon create the weights now
    # instead of at the first batch, so parameter counts are available right after building.
    previous = tuple(input_shape)
    with model.name_scope():
        for layer, shape in zip(layers, shapes):
            kind, prefix = layer["kind"], layer["name"] + "_"
            add = functools.partial(model.add_named, layer["name"])
            if kind == "conv":
                add(nn.Conv2D(layer["filters"], layer["kernel_size"], layer["strides"],
                                    padding=_conv_padding_pixels(layer), activation=layer["activation"],
                                    in_channels=previous[-1], prefix=prefix))
            elif kind in ("avg_pool", "max_pool"):
                pool_class = nn.AvgPool2D if kind == "avg_pool" else nn.MaxPool2D
                add(pool_class(layer["pool_size"], layer["strides"], prefix=prefix))
            elif kind == "flatten":
                add(nn.Flatten(prefix=prefix))
            elif kind == "dense":
                add(nn.Dense(layer["units"], activation=layer["activation"], in_units=previous[-1],
                                   prefix=prefix))
            elif kind == "dropout":
                add(nn.Dropout(layer["rate"], prefix=prefix))
            elif kind == "batch_norm":
                add(nn.BatchNorm(in_channels=previous[-1], prefix=prefix))
            previous = shape
    model.initialize(mx.init.Xavier(), ctx=context or mx.cpu())
    model.image_shape = tuple(input_shape)  # a Gluon block does not declare its input: the kit records it
    return model


def _check_context(context):
    """None, or an MXNet context that exists on this machine (mx.gpu(0) needs a GPU)."""
    if context is None:
        return None
    import mxnet as mx

    if not isinstance(context, mx.Context):
        raise TypeError(f"context must be an MXNet context such as mx.cpu() or mx.gpu(0), got {context!r}")
    if context.device_type == "gpu" and context.device_id >= mx.context.num_gpus():
        raise ValueError(f"context {context} does not exist: MXNet sees {mx.context.num_gpus()} GPU(s) on this "
                         "machine; use mx.cpu() (or leave context=None)")
    return context


def _check_arguments(framework, num_classes, input_shape, context, activation="relu"):
    """Validate the arguments every model function shares; return input_shape as (H, W, C)."""
    framework = validation.check_choice(framework, "framework", FRAMEWORK_CHOICES)
    if not validation.is_integer(num_classes) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    validation.check_choice(activation, "activation", ACTIVATION_CHOICES)
    shape = validation.check_shape(input_shape, "input_shape")  # positive integers (no bools, no strings)
    if len(shape) == 2:
        shape = shape + (1,)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (height, width) or (height, width, channels), got {input_shape!r}")
    if shape[0] in (1, 3) and shape[2] not in (1, 3):
        raise ValueError(f"input_shape {shape} looks channels-first; give (height, width, channels) for "
                         "both frameworks (the Gluon model itself takes NCHW batches)")
    if framework == "keras" and context is not None:
        raise ValueError("context is for framework='gluon' only (Keras places models itself; "
                         "see backends.use())")
    _check_context(context)
    return shape


def _smallest_side(layers, channels):
    """The smallest height (= width) the layers take without their feature maps vanishing."""
    for side in range(1, 4097):
        try:
            _output_shapes(layers, (side, side, channels))
            return side
        except ValueError:
            continue
    return None


def _build(layers, name, framework, input_shape, context):
    """Turn a layer list into a Keras or Gluon model (input_shape already checked)."""
    try:  # fails early, with a clear message, if the image is too small
        _output_shapes(layers, input_shape)
    except ValueError as error:
        side = _smallest_side(layers, input_shape[2])
        raise ValueError(f"{error}; {name} needs images of at least {side}x{side} (height x width)") from None
    if framework.lower() == "keras":
        return _build_keras(layers, name, input_shape)
    return _build_gluon(layers, name, input_shape, context)


# ---------------------------------------------------------------------------------------------
# The networks
# ---------------------------------------------------------------------------------------------
def _lenet5_layers(num_classes, activation):
    # Differences from the 1998 paper, each chosen to keep the network simple to build and read:
    # - ReLU by default instead of the paper's scaled tanh (1.7159 tanh(2x/3)): it trains in one or
    #   two epochs with plain SGD, and it is what AlexNet and everything after use. activation="tanh"
    #   gives the paper's shape of nonlinearity.
    # - Average pooling for the paper's "subsampling" layers S2 and S4; the paper also multiplied by
    #   a trainable coefficient, added a bias and applied a sigmoid. Max pooling (AlexNet's choice) is
    #   the modern default; average pooling is kept here because it is what LeNet-5 did.
    # - conv1 pads by 2 ("same"): the paper fed 32x32 images (MNIST digits padded by 2 pixels each
    #   side), so 28x28 input with same padding gives the paper's 28x28x6 C1 maps.
    # - conv2 connects to all 6 maps (the paper used a sparse connection table) and the output is a
    #   plain dense layer instead of the paper's Gaussian RBF units.
    # Hence 61,706 parameters instead of the paper's ~60,000.
    return [
        _conv("conv1", 6, 5, padding="same", activation=activation),   # 28x28x1 -> 28x28x6
        _pool("pool1", "avg", 2),                                       # -> 14x14x6
        _conv("conv2", 16, 5, padding="valid", activation=activation),  # -> 10x10x16
        _pool("pool2", "avg", 2),                                       # -> 5x5x16
        _flatten("flatten"),                                            # -> 400
        _dense("fc1", 120, activation),
        _dense("fc2", 84, activation),
        _dense("output", num_classes),                                  # logits
    ]


def lenet5(framework="keras", num_classes=10, input_shape=(28, 28, 1), activation="relu", context=None):
    """LeNet-5 (LeCun et al. 1998) for 28x28 images; Gluon models take NCHW batches."""
    input_shape = _check_arguments(framework, num_classes, input_shape, context, activation)
    return _build(_lenet5_layers(num_classes, activation), "lenet5", framework, input_shape, context)


def fully_connected(framework="keras", num_classes=10, input_shape=(28, 28, 1), hidden_units=(300, 100),
                    activation="relu", context=None):
    """A fully-connected network (default 300-100 hidden units, the paper's baseline)."""
    input_shape = _check_arguments(framework, num_classes, input_shape, context, activation)
    hidden_units = validation.check_shape(hidden_units, "hidden_units")  # widths: positive integers
    # Every pixel connects to every hidden unit: with the default sizes that is 266,610 parameters,
    # four times LeNet-5's, for a network that is less accurate on MNIST (the lecture's point).
    layers = [_flatten("flatten")]
    layers += [_dense(f"fc{index}", units, activation) for index, units in enumerate(hidden_units, start=1)]
    layers.append(_dense("output", num_classes))
    return _build(layers, "fully_connected", framework, input_shape, context)


# ---------------------------------------------------------------------------------------------
# AlexNet and Zeiler & Fergus's layer removals
# ---------------------------------------------------------------------------------------------
ALEXNET_VARIANTS = ("full", "small")
# Layer numbers as Zeiler & Fergus (2014, Table 3) count them: conv1-conv5 are 1-5, fc6-fc8 are 6-8.
ALEXNET_LAYER_NUMBERS = {1: "conv1", 2: "conv2", 3: "conv3", 4: "conv4", 5: "conv5", 6: "fc6", 7: "fc7", 8: "fc8"}
# conv1 (the only layer that sees the pixels, and the one with stride 4) and fc8 (the classifier) stay.
ALEXNET_REMOVABLE = (2, 3, 4, 5, 6, 7)
# The removals of Zeiler & Fergus's Table 3, in the paper's order.
ZEILER_FERGUS_REMOVALS = ((), (3, 4), (7,), (6, 7), (3, 4, 6, 7))
# Channels of conv1-conv5 and units of fc6-fc7. "full" is torchvision's AlexNet (the single-tower form
# of Krizhevsky et al. 2012, whose two GPU towers had 48+48, 128+128, 192+192, 192+192, 128+128 maps).
# "small" keeps AlexNet's shape (widest in the middle convolutions, two wide FC layers) with 1/4 to 1/8
# of the channels and 1/16 of the FC units, and a 5x5 stride-2 conv1 for 64x64 images (where AlexNet's
# 11x11 stride 4 suits 224x224): 229,482 parameters and 7.0 M MACs, seconds per epoch on two CPU cores.
_ALEXNET_SIZES = {
    "full": {"channels": (64, 192, 384, 256, 256), "units": 4096, "input_shape": (224, 224, 3),
             "num_classes": 1000, "conv1": (11, 4, 2), "conv2": 5},
    "small": {"channels": (16, 32, 64, 64, 32), "units": 256, "input_shape": (64, 64, 1),
              "num_classes": 10, "conv1": (5, 2, 2), "conv2": 5},
}


def _check_removals(remove):
    """``remove`` as a sorted tuple of layer numbers; ValueError naming the allowed ones."""
    allowed = ", ".join(f"{number} ({ALEXNET_LAYER_NUMBERS[number]})" for number in ALEXNET_REMOVABLE)
    if isinstance(remove, (int, str)) and not isinstance(remove, bool):
        remove = (remove,)
    if isinstance(remove, dict) or not hasattr(remove, "__iter__"):
        raise TypeError(f"remove must be a tuple of layer numbers, e.g. (3, 4); got {remove!r}")
    numbers = tuple(remove)
    if any(isinstance(number, (tuple, list)) for number in numbers):
        raise ValueError(f"remove must be ONE tuple of layer numbers such as (3, 4), got {remove!r} (a list of "
                         f"removals is for ablation.run); the layers that can be removed are {allowed}")
    bad = [number for number in numbers
           if isinstance(number, bool) or not isinstance(number, int) or number not in ALEXNET_REMOVABLE]
    if bad:
        raise ValueError(f"remove holds {bad!r}; the layers that can be removed are {allowed}. "
                         "conv1 (1) turns pixels into features and fc8 (8) is the classifier: they stay.")
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"remove lists a layer twice: {remove!r}")
    return tuple(sorted(numbers))


def _alexnet_layers(variant, remove, num_classes, dropout, batch_norm=False):
    # Removing a layer takes it (and its dropout) out of the chain; its neighbours connect directly:
    # - conv2-conv5 keep the spatial size (stride 1, "same" padding: 5x5 pads 2, 3x3 pads 1), so only
    #   the number of channels changes. The next convolution's kernel simply gets as many input
    #   channels as the layer before the removed one produces (without conv3 and conv4, conv5 reads
    #   conv2's 192 maps: its kernel is 3x3x192 instead of 3x3x256).
    # - The pooling layers stay where they are (after conv1, conv2 and conv5; after the last remaining
    #   convolution if conv5 is removed), so the feature maps reaching the FC layers keep their size.
    # - Without fc7, fc8 reads fc6's units; without fc6 and fc7, fc8 reads the flattened pool5 maps:
    #   each dense layer's input size is whatever arrives.
    sizes = _ALEXNET_SIZES[variant]
    channels, units = sizes["channels"], sizes["units"]
    kernel, stride, pad = sizes["conv1"]
    def conv(name, *args, **kwargs):  # batch_norm: each convolution's ReLU output is normalized
        return [_conv(name, *args, **kwargs)] + ([{"kind": "batch_norm", "name": name + "_bn"}] if batch_norm else [])
    layers = conv("conv1", channels[0], kernel, strides=stride, padding=pad) + [  # full: 224 -> 55x55x64
        _pool("pool1", "max", 3, 2)]                                              # full: -> 27x27x64
    if 2 not in remove:
        layers += conv("conv2", channels[1], sizes["conv2"], padding="same")   # full: -> 27x27x192
    layers.append(_pool("pool2", "max", 3, 2))                                  # full: -> 13x13
    for number in (3, 4, 5):                                                    # full: 13x13x384, 256, 256
        if number not in remove:
            layers += conv(f"conv{number}", channels[number - 1], 3, padding="same")
    layers += [_pool("pool5", "max", 3, 2), _flatten("flatten")]               # full: 6x6x256 = 9,216
    for number in (6, 7):
        if number not in remove:
            if dropout:
                layers.append(_dropout(f"dropout{number}", dropout))
            layers.append(_dense(f"fc{number}", units, "relu"))               # full: 4,096 units each
    layers.append(_dense("fc8", num_classes))                                  # logits
    return layers


def alexnet(framework="keras", variant="full", remove=(), num_classes=None, input_shape=None, dropout=0.5,
            context=None, batch_norm=False):
    """AlexNet, "full" (torchvision's, 61.1 M parameters) or "small"; ``remove`` drops layers 2-7;
    ``batch_norm=True`` adds batch normalization after every convolution (not in the 2012 network)."""
    variant = validation.check_choice(variant, "variant", ALEXNET_VARIANTS)
    remove = _check_removals(remove)
    sizes = _ALEXNET_SIZES[variant]
    num_classes = sizes["num_classes"] if num_classes is None else num_classes
    input_shape = sizes["input_shape"] if input_shape is None else input_shape
    input_shape = _check_arguments(framework, num_classes, input_shape, context)
    dropout = validation.check_fraction(dropout, "dropout", inclusive=False)  # a rate in [0, 1)
    validation.check_bool(batch_norm, "batch_norm")
    name = f"alexnet_{variant}" + ("" if not remove else "_without_" + "_".join(map(str, remove)))
    return _build(_alexnet_layers(variant, remove, num_classes, dropout, batch_norm), name, framework, input_shape,
                  context)
