"""Tests for models.alexnet (full and small, Zeiler & Fergus removals) and the ablation helpers.

The reference: torchvision's AlexNet has 61,100,840 parameters and 0.714 GMAC per 224x224 image
(its model table); Zeiler & Fergus 2014, Table 3, lists which layers they removed.
"""
import math

import numpy as np
import pytest

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim before mxnet is imported)
from hpml_helpers import ablation, cost, models

FULL_CONV = {"conv1": (11, 3, 64), "conv2": (5, 64, 192), "conv3": (3, 192, 384), "conv4": (3, 384, 256),
             "conv5": (3, 256, 256)}  # kernel size, input channels, output channels
FULL_DENSE = {"fc6": (9216, 4096), "fc7": (4096, 4096), "fc8": (4096, 1000)}


def _conv_params(kernel, inputs, outputs):
    return kernel * kernel * inputs * outputs + outputs


def _dense_params(inputs, outputs):
    return inputs * outputs + outputs


@pytest.fixture(scope="module")
def full_cost():
    import keras

    model = models.alexnet("keras", "full")
    counted = cost.count(model)
    names = [layer.name for layer in model.layers]
    del model
    keras.backend.clear_session()
    return counted, names


def test_full_alexnet_matches_torchvision_counts(full_cost):
    counted, names = full_cost
    assert counted.params == 61_100_840  # torchvision's exact number
    assert math.isclose(counted.params / 1e6, 61.1, rel_tol=0.02)
    assert math.isclose(counted.macs / 1e9, 0.714, rel_tol=0.02), counted.macs
    rows = {row["name"]: row for row in counted.table(as_text=False)}
    for name, (kernel, inputs, outputs) in FULL_CONV.items():
        assert rows[name]["params"] == _conv_params(kernel, inputs, outputs), name
    for name, (inputs, outputs) in FULL_DENSE.items():
        assert rows[name]["params"] == _dense_params(inputs, outputs), name
    assert rows["conv1"]["output_shape"] == (55, 55, 64)
    assert rows["conv1"]["macs"] == 55 * 55 * 11 * 11 * 3 * 64
    assert rows["conv2"]["macs"] == 27 * 27 * 5 * 5 * 64 * 192
    assert rows["pool5"]["output_shape"] == (6, 6, 256)
    assert rows["fc6"]["macs"] == 9216 * 4096
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8", "pool1", "pool2", "pool5"):
        assert name in names


def test_full_alexnet_takes_227_as_well():
    """227x227 (the paper's arithmetic) gives the same 6x6x256 pool5, so the same parameters."""
    import keras

    model = models.alexnet("keras", "full", input_shape=(227, 227, 3))
    assert model.get_layer("pool5").output.shape == (None, 6, 6, 256)
    assert model.count_params() == 61_100_840
    del model
    keras.backend.clear_session()


@pytest.mark.parametrize("remove, missing", [
    ((), ()),
    ((3, 4), ("conv3", "conv4")),
    ((7,), ("fc7", "dropout7")),
    ((6, 7), ("fc6", "fc7", "dropout6", "dropout7")),
    ((3, 4, 6, 7), ("conv3", "conv4", "fc6", "fc7", "dropout6", "dropout7")),
])
def test_small_variants_drop_exactly_the_removed_layers_and_stay_connected(remove, missing):
    model = models.alexnet("keras", "small", remove=remove)
    names = [layer.name for layer in model.layers]
    everything = [layer.name for layer in models.alexnet("keras", "small").layers]
    assert [name for name in everything if name not in names] == [name for name in everything if name in missing]
    assert model.input_shape == (None, 64, 64, 1) and model.output_shape == (None, 10)
    images = np.random.default_rng(0).random((2, 64, 64, 1), dtype=np.float32)
    assert model(images).shape == (2, 10)


def test_removing_layers_adapts_the_next_layers_inputs():
    """Without conv3-4, conv5 reads conv2's maps; without fc6-7, fc8 reads the flattened pool5."""
    import keras

    model = models.alexnet("keras", "full", remove=(3, 4, 6, 7))
    counted = {row["name"]: row for row in cost.count(model).table(as_text=False)}
    assert counted["conv5"]["params"] == _conv_params(3, 192, 256)
    assert counted["fc8"]["params"] == _dense_params(9216, 1000)
    assert model.count_params() == 61_100_840 - 51_110_528  # the sum below, checked by hand
    removed = (_conv_params(3, 192, 384) + _conv_params(3, 384, 256) + _conv_params(3, 256, 256)
               - _conv_params(3, 192, 256) + _dense_params(9216, 4096) + _dense_params(4096, 4096)
               + _dense_params(4096, 1000) - _dense_params(9216, 1000))
    assert removed == 51_110_528
    del model
    keras.backend.clear_session()


def test_small_variant_sizes_and_cost():
    model = models.alexnet("keras", "small")
    counted = cost.count(model)
    assert counted.params == model.count_params() == 229_482
    assert 5e6 < counted.macs < 1e7  # a few MMAC per 64x64 image: seconds per epoch on two cores
    rows = {row["name"]: row for row in counted.table(as_text=False)}
    assert rows["conv1"]["output_shape"] == (32, 32, 16)
    assert rows["pool5"]["output_shape"] == (3, 3, 32)
    colour = models.alexnet("keras", "small", input_shape=(56, 56, 3), num_classes=5)
    assert colour.output_shape == (None, 5) and colour.get_layer("conv1").kernel.shape == (5, 5, 3, 16)


def test_dropout_zero_leaves_out_the_dropout_layers():
    names = [layer.name for layer in models.alexnet("keras", "small", dropout=0).layers]
    assert not any(name.startswith("dropout") for name in names)


def test_gluon_small_alexnet_matches_keras_parameter_count():
    import mxnet as mx

    for remove in models.ZEILER_FERGUS_REMOVALS:
        keras_model = models.alexnet("keras", "small", remove=remove)
        gluon_model = models.alexnet("gluon", "small", remove=remove)
        gluon_params = sum(parameter.data().size for parameter in gluon_model.collect_params().values())
        assert gluon_params == keras_model.count_params(), remove
        assert gluon_model(mx.nd.zeros((2, 1, 64, 64))).shape == (2, 10)


@pytest.mark.parametrize("remove", [(8,), (1,), (0,), (9,), (3, 3), ("3",), (3.0,), (True,)])
def test_bad_removals_raise_value_error_naming_remove_and_the_allowed_layers(remove):
    with pytest.raises(ValueError, match=r"remove .*2 \(conv2\).*7 \(fc7\)|remove lists a layer twice"):
        models.alexnet("keras", "small", remove=remove)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        models.alexnet(variant="tiny")
    with pytest.raises(ValueError, match="dropout"):
        models.alexnet(variant="small", dropout=1.0)
    with pytest.raises(ValueError, match="num_classes"):
        models.alexnet(variant="small", num_classes=1)
    with pytest.raises(ValueError, match="input_shape"):
        models.alexnet(variant="small", input_shape=(28, 28, 1))  # too small: pool5 would vanish
    with pytest.raises(TypeError, match="remove"):
        models.alexnet(variant="small", remove=None)


def test_single_layer_number_is_accepted():
    assert [layer.name for layer in models.alexnet("keras", "small", remove=7).layers][-1] == "fc8"


# ---------------------------------------------------------------------------------------------
# ablation: the cluttered-MNIST task, the paper's numbers and the training loop
# ---------------------------------------------------------------------------------------------
def _digits(count=20, seed=0):
    """Fake 28x28 'digits': a bright 20x20 block of ink in the middle, as MNIST's digits sit."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28), np.uint8)
    images[:, 4:24, 4:24] = rng.integers(100, 256, size=(count, 20, 20))
    return images, np.arange(count) % 10


def test_cluttered_mnist_places_each_digit_whole_and_is_deterministic():
    images, labels = _digits()
    first = ablation.cluttered_mnist(images, labels, canvas_size=64, num_fragments=8, fragment_size=8, seed=3)
    again = ablation.cluttered_mnist(images, labels, canvas_size=64, num_fragments=8, fragment_size=8, seed=3)
    other = ablation.cluttered_mnist(images, labels, canvas_size=64, num_fragments=8, fragment_size=8, seed=4)
    assert first.images.shape == (20, 64, 64) and first.images.dtype == np.uint8
    np.testing.assert_array_equal(first.images, again.images)
    assert not np.array_equal(first.images, other.images)
    np.testing.assert_array_equal(first.labels, labels)
    for canvas, image, (row, column) in zip(first.images, images, first.positions):
        assert 0 <= row <= 36 and 0 <= column <= 36
        window = canvas[row:row + 28, column:column + 28]
        assert np.all(window >= image)  # clutter may add ink but never erases the digit


def test_cluttered_mnist_adds_clutter_outside_the_digit():
    images, labels = _digits()
    clean = ablation.cluttered_mnist(images, labels, num_fragments=0, seed=0)
    cluttered = ablation.cluttered_mnist(images, labels, num_fragments=8, seed=0)
    assert (cluttered.images > 0).sum() > (clean.images > 0).sum()
    ink_outside = []
    for canvas, (row, column) in zip(clean.images, clean.positions):
        outside = canvas.copy()
        outside[row:row + 28, column:column + 28] = 0
        ink_outside.append(outside.sum())
    assert sum(ink_outside) == 0  # without fragments the canvas holds the digit only


def test_cluttered_mnist_on_real_digits():
    from hpml_helpers import data

    mnist = data.load("mnist", source="subset", num_train=200, num_test=10, verbose=False)
    result = ablation.cluttered_mnist(mnist.x_train, mnist.y_train, canvas_size=60, num_fragments=4, seed=0)
    assert result.images.shape == (200, 60, 60)
    # Fragments come from the middle of real digits: most of them carry ink.
    assert (result.images > 0).mean() > (mnist.x_train > 0).mean() * (28 * 28) / (60 * 60)


@pytest.mark.parametrize("kwargs, match", [
    ({"canvas_size": 20}, "canvas_size"),
    ({"num_fragments": -1}, "num_fragments"),
    ({"fragment_size": 0}, "fragment_size"),
    ({"fragment_size": 21}, "fragment_size"),
])
def test_cluttered_mnist_rejects_bad_arguments(kwargs, match):
    images, labels = _digits()
    with pytest.raises(ValueError, match=match):
        ablation.cluttered_mnist(images, labels, **kwargs)


def test_cluttered_mnist_rejects_bad_images():
    images, labels = _digits()
    with pytest.raises(ValueError, match="images"):
        ablation.cluttered_mnist(images.astype(np.float32), labels)
    with pytest.raises(ValueError, match="labels"):
        ablation.cluttered_mnist(images, labels[:-1])


def test_paper_table_covers_the_removals():
    assert set(ablation.ZEILER_FERGUS_TABLE3) == set(models.ZEILER_FERGUS_REMOVALS)
    worst = max(ablation.ZEILER_FERGUS_TABLE3, key=ablation.ZEILER_FERGUS_TABLE3.get)
    assert worst == (3, 4, 6, 7)
    assert ablation.variant_name(()) == "full" and ablation.variant_name((3, 4)) == "without 3, 4"


def test_run_table_and_plot_on_a_tiny_task():
    import matplotlib

    matplotlib.use("Agg")
    images, labels = _digits(64)
    task = ablation.cluttered_mnist(images, labels, seed=0)
    rows = ablation.run(task.images[:48], task.labels[:48], task.images[48:], task.labels[48:],
                        removals=[(), (3, 4, 6, 7)], num_epochs=1, batch_size=16, verbose=False)
    assert [row["variant"] for row in rows] == ["full", "without 3, 4, 6, 7"]
    assert rows[0]["params"] == 229_482 and rows[1]["params"] < rows[0]["params"]
    assert rows[0]["change"] == 0 and rows[1]["paper_change"] == 30.8
    assert all(0 <= row["test_error"] <= 100 and len(row["test_error_curve"]) == 1 for row in rows)
    frame = ablation.table(rows)
    assert list(frame.index) == ["full", "without 3, 4, 6, 7"]
    assert frame.loc["without 3, 4, 6, 7", "paper error (%)"] == 71.3 and frame.loc["full", "params"] == 229_482
    figure = ablation.plot(rows)
    assert len(figure.axes) == 3


@pytest.mark.parametrize("remove", [(), (3, 4, 6, 7)])
def test_batch_norm_adds_one_normalization_per_convolution_in_both_frameworks(remove):
    import keras

    plain = models.alexnet("keras", "small", remove=remove)
    normed = models.alexnet("keras", "small", remove=remove, batch_norm=True)
    convs = [layer.name for layer in plain.layers if isinstance(layer, keras.layers.Conv2D)]
    names = [layer.name for layer in normed.layers]
    assert [name for name in names if name.endswith("_bn")] == [name + "_bn" for name in convs]
    assert all(names.index(name + "_bn") == names.index(name) + 1 for name in convs)  # right after its conv
    channels = sum(layer.filters for layer in plain.layers if layer.name in convs)
    assert normed.count_params() == plain.count_params() + 4 * channels  # gamma, beta, mean, variance
    assert cost.count(normed).macs == cost.count(plain).macs  # folded into the convolutions at inference
    import mxnet as mx

    gluon = models.alexnet("gluon", "small", remove=remove, batch_norm=True)
    assert sum(p.data().size for p in gluon.collect_params().values()) == normed.count_params()
    assert gluon(mx.nd.zeros((2, 1, 64, 64))).shape == (2, 10)
    del plain, normed
    keras.backend.clear_session()


@pytest.mark.parametrize("value", [1, "yes", None])
def test_batch_norm_must_be_a_bool(value):
    with pytest.raises(TypeError, match="batch_norm must be True or False"):
        models.alexnet("keras", "small", batch_norm=value)
