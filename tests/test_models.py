"""Tests for hpml_helpers.models: shapes, hand-counted parameters, Keras and Gluon agree."""
import subprocess
import sys

import numpy as np
import pytest

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim before mxnet is imported)
from hpml_helpers import models

LAYER_NAMES = ["conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "fc2", "output"]

# LeNet-5 on 28x28x1, counted by hand: weights + biases of each layer.
LENET5_PARAMETERS = {
    "conv1": 5 * 5 * 1 * 6 + 6,       # 156    28x28x1 -> 28x28x6 (same padding)
    "conv2": 5 * 5 * 6 * 16 + 16,     # 2,416  14x14x6 -> 10x10x16 (valid)
    "fc1": (5 * 5 * 16) * 120 + 120,  # 48,120 5x5x16 = 400 inputs after pool2
    "fc2": 120 * 84 + 84,             # 10,164
    "output": 84 * 10 + 10,           # 850
}


def gluon_parameter_count(block):
    return sum(parameter.data().size for parameter in block.collect_params().values())


def test_lenet5_keras_is_built_with_named_layers_and_output_shape():
    model = models.lenet5("keras")
    assert [layer.name for layer in model.layers] == LAYER_NAMES
    assert model.built and model.input_shape == (None, 28, 28, 1)
    assert model(np.zeros((3, 28, 28, 1), np.float32)).shape == (3, 10)
    assert model.get_layer("pool2").output.shape == (None, 5, 5, 16)


def test_lenet5_gluon_takes_nchw_and_has_named_layers():
    import mxnet as mx

    model = models.lenet5("gluon")
    assert list(model._children) == LAYER_NAMES
    assert model.conv1 is model["conv1"] is model[0]
    assert model(mx.nd.zeros((3, 1, 28, 28))).shape == (3, 10)
    assert model[:4](mx.nd.zeros((3, 1, 28, 28))).shape == (3, 16, 5, 5)  # through pool2


def test_lenet5_parameter_counts_match_the_hand_count_in_both_frameworks():
    keras_model, gluon_model = models.lenet5("keras"), models.lenet5("gluon")
    for name, expected in LENET5_PARAMETERS.items():
        assert keras_model.get_layer(name).count_params() == expected, name
        assert gluon_parameter_count(gluon_model[name]) == expected, name
    total = sum(LENET5_PARAMETERS.values())
    assert total == 61_706
    assert keras_model.count_params() == gluon_parameter_count(gluon_model) == total


def test_lenet5_keras_and_gluon_compute_the_same_function():
    """Copy the Keras weights into the Gluon model: the outputs must agree (a reference check)."""
    import mxnet as mx

    keras_model, gluon_model = models.lenet5("keras"), models.lenet5("gluon")
    for name in ("conv1", "conv2", "fc1", "fc2", "output"):
        kernel, bias = (weight.numpy() for weight in keras_model.get_layer(name).weights)
        if kernel.ndim == 4:    # Keras (kh, kw, in, out) -> Gluon (out, in, kh, kw)
            kernel = kernel.transpose(3, 2, 0, 1)
        elif name == "fc1":     # Keras flattens (h, w, c), Gluon (c, h, w): reorder fc1's inputs
            kernel = kernel.reshape(5, 5, 16, 120).transpose(3, 2, 0, 1).reshape(120, 400)
        else:                   # Keras (in, out) -> Gluon (out, in)
            kernel = kernel.T
        gluon_model[name].weight.set_data(mx.nd.array(kernel))
        gluon_model[name].bias.set_data(mx.nd.array(bias))
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    keras_logits = keras_model(images).numpy()
    gluon_logits = gluon_model(mx.nd.array(images.transpose(0, 3, 1, 2))).asnumpy()
    np.testing.assert_allclose(gluon_logits, keras_logits, rtol=1e-4, atol=1e-5)


def test_lenet5_other_sizes_classes_and_activation():
    import mxnet as mx

    model = models.lenet5("keras", num_classes=5, input_shape=(32, 32, 3), activation="tanh")
    # 32 -> conv1 (same) 32 -> pool 16 -> conv2 12 -> pool 6: 6*6*16 = 576 inputs to fc1
    assert model.get_layer("fc1").count_params() == 576 * 120 + 120
    assert model.get_layer("conv1").count_params() == 5 * 5 * 3 * 6 + 6
    assert model.output_shape == (None, 5)
    gluon_model = models.lenet5("gluon", num_classes=5, input_shape=(32, 32, 3), context=mx.cpu())
    assert gluon_model(mx.nd.zeros((2, 3, 32, 32))).shape == (2, 5)
    assert gluon_parameter_count(gluon_model) == model.count_params()


def test_fully_connected_baseline():
    import mxnet as mx

    expected = (784 * 300 + 300) + (300 * 100 + 100) + (100 * 10 + 10)
    keras_model, gluon_model = models.fully_connected("keras"), models.fully_connected("gluon")
    assert keras_model.count_params() == gluon_parameter_count(gluon_model) == expected == 266_610
    assert [layer.name for layer in keras_model.layers] == ["flatten", "fc1", "fc2", "output"]
    assert gluon_model(mx.nd.zeros((2, 1, 28, 28))).shape == (2, 10)
    small = models.fully_connected("keras", hidden_units=(32,), num_classes=3)
    assert small.count_params() == (784 * 32 + 32) + (32 * 3 + 3)


@pytest.mark.parametrize("kwargs, argument", [
    ({"framework": "torch"}, "framework"),
    ({"framework": None}, "framework"),
    ({"num_classes": 1}, "num_classes"),
    ({"num_classes": 10.0}, "num_classes"),
    ({"input_shape": (28, 28, 0)}, "input_shape"),
    ({"input_shape": (1, 28, 28)}, "input_shape"),  # channels-first
    ({"input_shape": (8, 8, 1)}, "input_shape"),    # too small for two 5x5 convolutions
    ({"activation": "swish"}, "activation"),
    ({"context": "cpu"}, "context"),                # context is for Gluon only
])
def test_lenet5_rejects_bad_arguments_naming_them(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        models.lenet5(**kwargs)


def test_bad_framework_message_lists_the_choices():
    with pytest.raises(ValueError, match="'keras', 'gluon'"):
        models.lenet5("tensorflow")


def test_fully_connected_rejects_bad_hidden_units():
    with pytest.raises(ValueError, match="hidden_units"):
        models.fully_connected(hidden_units=(100, 0))
    with pytest.raises(TypeError, match="hidden_units"):
        models.fully_connected(hidden_units=100)


def test_importing_models_and_train_imports_no_framework():
    code = ("import sys, hpml_helpers.models, hpml_helpers.train; "
            "print([name for name in ('tensorflow', 'keras', 'mxnet') if name in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
