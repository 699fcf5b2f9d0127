"""Tests for hpml_helpers.cost: hand-counted small models and published numbers for famous networks.

Published references (each within 2%):
- VGG-16: 15.47 GMAC, 138.4 M parameters (torchvision's model table).
- ResNet-50: 3.8 GMAC (He et al. 2016, Table 1: "3.8 x 10^9 FLOPs", i.e. multiply-adds), 25.6 M parameters.
- AlexNet, torchvision's single-tower layout: 0.714 GMAC, 61.1 M parameters.
- MobileNet v1 at 224: 569 M mult-adds, 4.2 M parameters (Howard et al. 2017, Table 8).
"""
import gc
import math

import matplotlib

matplotlib.use("Agg")  # noqa: E402  (no display in CI)

import pytest

from hpml_helpers import cost

PUBLISHED = {  # name: (builder, GMAC, million parameters)
    "VGG-16": ("VGG16", 15.47, 138.4),
    "ResNet-50": ("ResNet50", 3.8, 25.6),
    "MobileNet": ("MobileNet", 0.569, 4.2),
}


def torchvision_alexnet():
    """torchvision's AlexNet, written as a Keras Sequential (its adaptive 6x6 average pool is the
    identity at 224x224, so it is left out)."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((224, 224, 3)),
        layers.ZeroPadding2D(2), layers.Conv2D(64, 11, strides=4, activation="relu", name="conv1"),
        layers.MaxPooling2D(3, 2),
        layers.ZeroPadding2D(2), layers.Conv2D(192, 5, activation="relu", name="conv2"),
        layers.MaxPooling2D(3, 2),
        layers.ZeroPadding2D(1), layers.Conv2D(384, 3, activation="relu", name="conv3"),
        layers.ZeroPadding2D(1), layers.Conv2D(256, 3, activation="relu", name="conv4"),
        layers.ZeroPadding2D(1), layers.Conv2D(256, 3, activation="relu", name="conv5"),
        layers.MaxPooling2D(3, 2),
        layers.Flatten(), layers.Dropout(0.5), layers.Dense(4096, activation="relu", name="fc6"),
        layers.Dropout(0.5), layers.Dense(4096, activation="relu", name="fc7"),
        layers.Dense(1000, name="fc8"),
    ], name="alexnet_torchvision")


def _check_totals(model, counted):
    assert counted.params == model.count_params()
    assert counted.macs == sum(row["macs"] for row in counted.table(as_text=False))
    assert counted.flops == 2 * counted.macs


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_keras_applications_match_published_numbers(name):
    import keras

    builder, gmacs, mparams = PUBLISHED[name]
    model = getattr(keras.applications, builder)(weights=None)
    counted = cost.count(model)
    _check_totals(model, counted)
    assert math.isclose(counted.macs / 1e9, gmacs, rel_tol=0.02), counted.macs
    assert math.isclose(counted.params / 1e6, mparams, rel_tol=0.02), counted.params
    del model
    keras.backend.clear_session()
    gc.collect()


def test_torchvision_alexnet_layout_matches_published_numbers():
    model = torchvision_alexnet()
    counted = cost.count(model)
    _check_totals(model, counted)
    assert counted.params == 61_100_840  # torchvision's exact count
    assert math.isclose(counted.macs / 1e9, 0.714, rel_tol=0.02), counted.macs
    rows = {row["name"]: row for row in counted.table(as_text=False)}
    assert rows["conv1"]["output_shape"] == (55, 55, 64)
    assert rows["conv1"]["macs"] == 55 * 55 * 11 * 11 * 3 * 64
    assert rows["fc6"]["macs"] == 6 * 6 * 256 * 4096


def _mixed_model():
    """Depthwise, separable, grouped and 1x1 convolutions, batch norm, a concatenation and a dense."""
    import keras
    from keras import layers

    inputs = keras.Input((16, 16, 8))
    x = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False, name="dw")(inputs)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.SeparableConv2D(12, 3, strides=2, padding="same", name="sep")(x)
    grouped = layers.Conv2D(12, 3, padding="same", groups=4, name="grouped")(x)
    pointwise = layers.Conv2D(4, 1, name="pointwise")(x)
    x = layers.Concatenate(name="concat")([grouped, pointwise])
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.Dense(10, name="dense")(x), name="mixed")


def test_mixed_layers_against_hand_counts():
    model = _mixed_model()
    counted = cost.count(model)
    _check_totals(model, counted)
    rows = {row["name"]: row for row in counted.table(as_text=False)}
    want = {  # name: (output shape, parameters, MACs), counted by hand
        "dw": ((16, 16, 16), 3 * 3 * 8 * 2, 16 * 16 * 16 * 3 * 3),
        "bn": ((16, 16, 16), 4 * 16, 0),  # folded into the convolution at inference
        "sep": ((8, 8, 12), 3 * 3 * 16 + 16 * 12 + 12, 8 * 8 * (3 * 3 * 16 + 16 * 12)),
        "grouped": ((8, 8, 12), 3 * 3 * 3 * 12 + 12, 8 * 8 * 12 * 3 * 3 * 3),
        "pointwise": ((8, 8, 4), 12 * 4 + 4, 8 * 8 * 12 * 4),
        "concat": ((8, 8, 16), 0, 0),
        "pool": ((16,), 0, 0),
        "dense": ((10,), 16 * 10 + 10, 16 * 10),
    }
    for name, (shape, params, macs) in want.items():
        assert (rows[name]["output_shape"], rows[name]["params"], rows[name]["macs"]) == (shape, params, macs), name
    assert counted.macs == 82_336 and counted.params == 1_114


def test_other_convolutions_time_distributed_and_shared_layers():
    import keras
    from keras import layers

    sequence = keras.Input((10, 6))
    x = layers.Conv1D(4, 3, name="conv1d")(sequence)                      # (8, 4)
    x = layers.TimeDistributed(layers.Dense(5), name="per_step")(x)        # (8, 5)
    shared = layers.Dense(5, name="shared")
    x = shared(shared(x))                                                  # two calls, one set of weights
    volume = keras.Input((4, 6, 6, 2))
    y = layers.Conv3D(3, 3, name="conv3d")(volume)                         # (2, 4, 4, 3)
    small = keras.Input((5, 5, 4))
    z = layers.Conv2DTranspose(2, 3, strides=2, name="up")(small)
    model = keras.Model([sequence, volume], [x, y], name="assorted")
    counted = cost.count(model)
    _check_totals(model, counted)
    rows = {row["name"]: row for row in counted.table(as_text=False)}
    assert rows["conv1d"]["macs"] == 8 * 4 * 3 * 6
    assert rows["per_step"]["macs"] == 8 * 4 * 5
    assert rows["shared"]["macs"] == rows["shared (shared)"]["macs"] == 8 * 5 * 5
    assert rows["shared (shared)"]["params"] == 0 and rows["shared"]["params"] == 30
    assert rows["conv3d"]["macs"] == 2 * 4 * 4 * 3 * 27 * 2
    assert cost.count(keras.Model(small, z)).macs == 5 * 5 * 4 * 3 * 3 * 2  # per input element: k x k x C_out


def test_nested_models_and_input_shape():
    import keras
    from keras import layers

    backbone = keras.Sequential([keras.Input((None, None, 3)), layers.Conv2D(4, 3, padding="same", name="c")],
                                name="backbone")
    with pytest.raises(ValueError, match="input_shape"):
        cost.count(backbone)
    assert cost.count(backbone, input_shape=(10, 10, 3)).macs == 10 * 10 * 4 * 27
    inputs = keras.Input((8, 8, 3))
    outputs = layers.Dense(2, name="head")(layers.Flatten()(backbone(inputs)))
    model = keras.Model(inputs, outputs)
    counted = cost.count(model)
    _check_totals(model, counted)
    names = [row["name"] for row in counted.table(as_text=False)]
    assert "backbone/c" in names
    assert counted.macs == 8 * 8 * 4 * 27 + 8 * 8 * 4 * 2
    # An unbuilt Sequential is built at the given input shape.
    unbuilt = keras.Sequential([layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(3)])
    with pytest.raises(ValueError, match="not built"):
        cost.count(unbuilt)
    assert cost.count(unbuilt, (5, 5, 1)).macs == 3 * 3 * 2 * 9 + 18 * 3


def test_unknown_layers_and_bad_input():
    import keras
    from keras import layers

    class Scale(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.scale

    class Double(layers.Layer):
        def call(self, x):
            return 2 * x

    inputs = keras.Input((4,))
    quiet = keras.Model(inputs, layers.Dense(2)(Double(name="double")(inputs)))
    assert cost.count(quiet).macs == 8  # a weightless unknown layer counts 0 MACs, silently
    loud = keras.Model(inputs, Scale(name="my_scale")(inputs))
    with pytest.raises(ValueError, match="my_scale.*Scale"):
        cost.count(loud)
    with pytest.raises(TypeError, match="Keras Model"):
        cost.count("vgg16")
    with pytest.raises(TypeError, match="Sequential"):
        cost.count(layers.Dense(3))
    with pytest.raises(ValueError, match="input_shape"):
        cost.count(quiet, input_shape=(0, 3))
    with pytest.raises(TypeError, match="models"):
        cost.compare([quiet])


def test_table_plot_and_compare():
    model = _mixed_model()
    counted = cost.count(model)
    frame = counted.table()
    assert "sep" in frame["name"].tolist() and frame.iloc[-1]["name"] == "total"
    assert frame.iloc[-1]["macs"] == 82_336 and frame.iloc[-1]["params"] == 1_114
    assert all(row["macs"] or row["params"] for row in counted.table(as_text=False, nonzero_only=True))
    figure = counted.plot()
    assert len(figure.axes) == 2 and len(figure.axes[0].patches) == 6
    matplotlib.pyplot.close(figure)
    alexnet = torchvision_alexnet()
    rows = cost.compare({"mixed": model, "AlexNet": alexnet, "again": counted})
    assert [row["model"] for row in rows] == ["mixed", "AlexNet", "again"]
    assert rows[0]["macs"] == rows[2]["macs"] == 82_336 and rows[1]["params"] == 61_100_840
    assert "AlexNet" in cost.table(rows)["model"].tolist()
    assert "Cost('mixed'" in repr(counted)
