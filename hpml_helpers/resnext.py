"""ResNeXt (Xie et al. 2017, arXiv:1611.05431) as a Keras functional model, for counting its cost.

``keras.applications`` has no ResNeXt, and slide 59 plots ResNeXt-101 next to ResNet-50 and ResNet-101, so
``resnext(depth, cardinality, width)`` builds one: the ResNet bottleneck whose 3x3 convolution is split into
``cardinality`` groups of ``width`` channels (a ``Conv2D(groups=cardinality)``), the layout of the authors'
code and of torchvision/timm ("ResNeXt-B": projection shortcuts, the stride in the 3x3 convolution, no
biases before batch normalization). Build it inside ``cost.count_architecture`` to count it without
allocating its weights; ``trainable_params`` leaves out batch normalization's moving statistics, which the
published parameter counts do not include.

Checked against the published counts (tests/test_resnext.py): ResNeXt-101 32x4d has 44.18 M parameters and
8.03 G multiply-adds per 224x224 image (mmpretrain's ResNeXt table; timm's model card for resnext101_32x4d
gives 44.2 M and 8.0 GMACs). ``DEPTHS`` gives the blocks per stage of ResNeXt-50, -101 and -152.
Used by notebook 07-parameter-server (slide 59's models, counted).
"""
from .validation import check_positive_int

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}  # bottleneck blocks per stage


def _block(layers, x, filters, group_width, cardinality, stride, name):
    """One ResNeXt bottleneck: 1x1 -> grouped 3x3 (stride here) -> 1x1, plus the shortcut."""
    def conv_bn(y, channels, kernel, strides, suffix, groups=1, relu=True):
        y = layers.Conv2D(channels, kernel, strides=strides, padding="same", groups=groups, use_bias=False,
                          name=f"{name}_{suffix}_conv")(y)
        y = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_{suffix}_bn")(y)
        return layers.Activation("relu", name=f"{name}_{suffix}_relu")(y) if relu else y

    shortcut = x
    if stride != 1 or x.shape[-1] != filters:  # projection shortcut where the shape changes
        shortcut = conv_bn(x, filters, 1, stride, "shortcut", relu=False)
    y = conv_bn(x, group_width, 1, 1, "1")
    y = conv_bn(y, group_width, 3, stride, "2", groups=cardinality)  # HPML: grouped convolution, groups=32
    y = conv_bn(y, filters, 1, 1, "3", relu=False)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def resnext(depth=101, cardinality=32, width=4, num_classes=1000, image_size=224):
    """ResNeXt-``depth`` (``cardinality`` x ``width``d), e.g. ResNeXt-101 32x4d, as an uncompiled Keras model.

    ``width`` is the channels of one group in the first stage; every stage doubles it, as it doubles the
    block's output channels (256, 512, 1024, 2048)."""
    import keras

    depth = check_positive_int(depth, "depth")
    if depth not in DEPTHS:
        raise ValueError(f"depth must be one of {', '.join(map(str, DEPTHS))}, got {depth}")
    cardinality = check_positive_int(cardinality, "cardinality")
    width = check_positive_int(width, "width")
    num_classes = check_positive_int(num_classes, "num_classes")
    image_size = check_positive_int(image_size, "image_size")
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32 (the network downsamples 32x), got {image_size}")
    layers = keras.layers
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Conv2D(64, 7, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(epsilon=1e-5, name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, blocks in enumerate(DEPTHS[depth]):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _block(layers, x, 256 * 2 ** stage, cardinality * width * 2 ** stage, cardinality, stride,
                       f"stage{stage + 1}_block{block + 1}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"resnext{depth}_{cardinality}x{width}d")


def trainable_params(model):
    """Parameters of ``model`` without the non-trainable ones (batch normalization's moving mean and variance)."""
    import math

    return sum(math.prod(weight.shape) for weight in model.trainable_weights)
