"""Bad inputs to the learner-facing helpers (visualize, attribution, models, interactive): each gives a clear
ValueError/TypeError naming the argument, before any framework work. Keras and Gluon models both."""
import math

import matplotlib

matplotlib.use("Agg")  # noqa: E402  (no display in CI)

import numpy as np
import pytest

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim before mxnet is imported)
from hpml_helpers import interactive, models, visualize

IMAGE = np.full((28, 28), 0.5, np.float32)
NAN_IMAGE = IMAGE.copy()
NAN_IMAGE[3, 4] = np.nan
INF_IMAGE = IMAGE.copy()
INF_IMAGE[0, 0] = np.inf


@pytest.fixture(scope="module")
def nets():
    return {"keras": models.lenet5("keras"), "gluon": models.lenet5("gluon")}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    matplotlib.pyplot.close("all")


# Calls that take a model: (function of the model, exception, regex naming the argument).
MODEL_CASES = [
    (lambda m: visualize.saliency(m, None), TypeError, "image"),
    (lambda m: visualize.saliency(m, NAN_IMAGE), ValueError, "image.*finite"),
    (lambda m: visualize.saliency(m, INF_IMAGE), ValueError, "image.*finite"),
    (lambda m: visualize.saliency(m, np.zeros((0, 28))), ValueError, "image.*empty"),
    (lambda m: visualize.saliency(m, np.zeros(28)), ValueError, "image.*one image"),
    (lambda m: visualize.saliency(m, np.zeros((1, 28, 28, 1))), ValueError, "image.*one image"),
    (lambda m: visualize.saliency(m, np.zeros((32, 32))), ValueError, r"image.*expects \(28, 28, 1\)"),
    (lambda m: visualize.saliency(m, np.zeros((28, 28, 3))), ValueError, r"image.*expects \(28, 28, 1\)"),
    (lambda m: visualize.saliency(m, np.full((28, 28), "a")), TypeError, "image"),
    (lambda m: visualize.saliency(m, np.zeros((28, 28), bool)), TypeError, "image"),
    (lambda m: visualize.saliency(m, IMAGE, class_index=10), ValueError, "class_index"),
    (lambda m: visualize.saliency(m, IMAGE, class_index=-1), ValueError, "class_index"),
    (lambda m: visualize.saliency(m, IMAGE, class_index=True), TypeError, "class_index"),
    (lambda m: visualize.saliency(m, IMAGE, class_index="3"), TypeError, "class_index"),
    (lambda m: visualize.saliency(m, IMAGE, class_index=2.0), TypeError, "class_index"),
    (lambda m: visualize.occlusion(m, IMAGE, patch_size=0), ValueError, "patch_size"),
    (lambda m: visualize.occlusion(m, IMAGE, patch_size=True), TypeError, "patch_size"),
    (lambda m: visualize.occlusion(m, IMAGE, patch_size=4.0), TypeError, "patch_size"),
    (lambda m: visualize.occlusion(m, IMAGE, patch_size=40), ValueError, "patch_size"),
    (lambda m: visualize.occlusion(m, IMAGE, stride=-2), ValueError, "stride"),
    (lambda m: visualize.occlusion(m, IMAGE, stride="2"), TypeError, "stride"),
    (lambda m: visualize.occlusion(m, IMAGE, batch_size=0), ValueError, "batch_size"),
    (lambda m: visualize.occlusion(m, IMAGE, batch_size=False), TypeError, "batch_size"),
    (lambda m: visualize.occlusion(m, IMAGE, fill=math.nan), ValueError, "fill"),
    (lambda m: visualize.occlusion(m, IMAGE, fill=1.5), ValueError, "fill"),
    (lambda m: visualize.occlusion(m, IMAGE, fill="grey"), ValueError, "fill"),
    (lambda m: visualize.occlusion(m, IMAGE, fill=True), TypeError, "fill"),
    (lambda m: visualize.occlusion(m, IMAGE, class_index=12), ValueError, "class_index"),
    (lambda m: visualize.occlusion(m, NAN_IMAGE), ValueError, "image"),
    (lambda m: visualize.occlusion(m, np.zeros((20, 20))), ValueError, r"image.*expects \(28, 28, 1\)"),
]


@pytest.mark.parametrize("framework", ["keras", "gluon"])
@pytest.mark.parametrize("call, error, argument", MODEL_CASES)
def test_attribution_refuses_for_both_frameworks(nets, framework, call, error, argument):
    with pytest.raises(error, match=argument):
        call(nets[framework])


@pytest.mark.parametrize("call", [
    lambda m: visualize.saliency(m, IMAGE), lambda m: visualize.occlusion(m, IMAGE),
])
@pytest.mark.parametrize("model", [None, object(), "lenet5", np.zeros((2, 2))])
def test_attribution_refuses_what_is_not_a_model(call, model):
    with pytest.raises(TypeError, match="model"):
        call(model)


def test_gluon_model_of_unknown_input_gets_the_kits_message_not_mxnets():
    import mxnet as mx
    from mxnet import gluon

    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3, in_channels=1), gluon.nn.Flatten(), gluon.nn.Dense(3, in_units=4 * 26 * 26))
    net.initialize(mx.init.Xavier())
    assert visualize.saliency(net, IMAGE).shape == (28, 28)
    with pytest.raises(ValueError, match=r"^image: the model cannot take images of shape \(20, 20, 1\)"):
        visualize.saliency(net, np.zeros((20, 20), np.float32))


# Keras-only visualizations (a Gluon block is refused naming the model).
KERAS_CASES = [
    (lambda m: visualize.filters(m, "conv9"), ValueError, "layer_name.*conv1, pool1"),
    (lambda m: visualize.filters(m, 3), TypeError, "layer_name"),
    (lambda m: visualize.filters(m, max_filters=0), ValueError, "max_filters"),
    (lambda m: visualize.filters(m, max_filters=-1), ValueError, "max_filters"),
    (lambda m: visualize.filters(m, max_filters=True), TypeError, "max_filters"),
    (lambda m: visualize.filters(m, max_filters=8.0), TypeError, "max_filters"),
    (lambda m: visualize.filters(m, max_filters="8"), TypeError, "max_filters"),
    (lambda m: visualize.filters(m, columns=0), ValueError, "columns"),
    (lambda m: visualize.filters(m, columns=2.5), TypeError, "columns"),
    (lambda m: visualize.filters(m, channel=1), ValueError, "channel"),
    (lambda m: visualize.filters(m, channel=-1), ValueError, "channel"),
    (lambda m: visualize.filters(m, channel=True), TypeError, "channel"),
    (lambda m: visualize.activations(m, "nope", IMAGE), ValueError, "layer_name 'nope'.*conv1, pool1"),
    (lambda m: visualize.activations(m, None, IMAGE), TypeError, "layer_name"),
    (lambda m: visualize.activations(m, "conv1", NAN_IMAGE), ValueError, "image"),
    (lambda m: visualize.activations(m, "conv1", np.zeros((28, 28, 2))), ValueError, "image.*expects"),
    (lambda m: visualize.activations(m, "conv1", []), ValueError, "image"),
    (lambda m: visualize.plot_activations(m, "conv1", IMAGE, max_maps=0), ValueError, "max_maps"),
    (lambda m: visualize.plot_activations(m, "conv1", IMAGE, max_maps=True), TypeError, "max_maps"),
    (lambda m: visualize.plot_activations(m, "conv1", IMAGE, columns="4"), TypeError, "columns"),
    (lambda m: visualize.plot_activations(m, "fc1", IMAGE), ValueError, "layer_name 'fc1'.*feature maps"),
    (lambda m: visualize.plot_activations(m, "conv1", np.zeros((14, 14))), ValueError, "image"),
    (lambda m: visualize.activation_maximization(m, "conv1", steps=0), ValueError, "steps"),
    (lambda m: visualize.activation_maximization(m, "conv1", steps=2.0), TypeError, "steps"),
    (lambda m: visualize.activation_maximization(m, "conv1", steps=True), TypeError, "steps"),
    (lambda m: visualize.activation_maximization(m, "conv1", filter_index=6), ValueError, "filter_index"),
    (lambda m: visualize.activation_maximization(m, "conv1", filter_index=True), TypeError, "filter_index"),
    (lambda m: visualize.activation_maximization(m, "conv1", filter_index="0"), TypeError, "filter_index"),
    (lambda m: visualize.activation_maximization(m, class_index=10), ValueError, "class_index"),
    (lambda m: visualize.activation_maximization(m, class_index=False), TypeError, "class_index"),
    (lambda m: visualize.activation_maximization(m, "conv7"), ValueError, "layer_name.*conv1"),
    (lambda m: visualize.activation_maximization(m, "conv1", learning_rate=math.nan), ValueError,
     "learning_rate"),
    (lambda m: visualize.activation_maximization(m, "conv1", l2=-1.0), ValueError, "l2"),
    (lambda m: visualize.activation_maximization(m, "conv1", jitter=-1), ValueError, "jitter"),
    (lambda m: visualize.activation_maximization(m, "conv1", seed=1.5), TypeError, "seed"),
    (lambda m: visualize.activation_maximization(m, "conv1", value_range=(1.0, 0.0)), ValueError,
     "value_range"),
    (lambda m: visualize.activation_maximization(m, "conv1", value_range=(0.0, math.inf)), ValueError,
     "value_range"),
    (lambda m: visualize.activation_maximization(m, "conv1", initial_image=NAN_IMAGE), ValueError,
     "initial_image"),
    (lambda m: visualize.activation_maximization(m, "conv1", initial_image=np.zeros((30, 30))), ValueError,
     "initial_image.*expects"),
]


@pytest.mark.parametrize("call, error, argument", KERAS_CASES)
def test_keras_visualizations_refuse(nets, call, error, argument):
    with pytest.raises(error, match=argument):
        call(nets["keras"])


@pytest.mark.parametrize("call", [
    lambda m: visualize.filters(m), lambda m: visualize.activations(m, "conv1", IMAGE),
    lambda m: visualize.plot_activations(m, "conv1", IMAGE),
    lambda m: visualize.activation_maximization(m, "conv1", steps=1),
])
@pytest.mark.parametrize("which", ["none", "gluon", "layer"])
def test_keras_visualizations_refuse_what_is_not_a_keras_model(nets, call, which):
    model = {"none": None, "gluon": nets["gluon"], "layer": nets["keras"].layers[0]}[which]
    with pytest.raises(TypeError, match="model must be a Keras Model"):
        call(model)


SMALL_MAP = np.zeros((14, 14))
SHOW_CASES = [
    (lambda: visualize.show(None), TypeError, "image"),
    (lambda: visualize.show(NAN_IMAGE), ValueError, "image"),
    (lambda: visualize.show(np.zeros((28, 28, 2))), ValueError, "image.*channels"),
    (lambda: visualize.show(np.zeros((2, 28, 28, 1))), ValueError, "image.*one image"),
    (lambda: visualize.show(IMAGE, SMALL_MAP, alpha=1.5), ValueError, "alpha"),
    (lambda: visualize.show(IMAGE, SMALL_MAP, alpha=math.nan), ValueError, "alpha"),
    (lambda: visualize.show(IMAGE, SMALL_MAP, alpha="0.5"), TypeError, "alpha"),
    (lambda: visualize.show(IMAGE, np.zeros((5, 9))), ValueError, "heat_map.*28x28"),
    (lambda: visualize.show(IMAGE, np.zeros((56, 56))), ValueError, "heat_map"),
    (lambda: visualize.show(IMAGE, np.zeros(28)), ValueError, "heat_map"),
    (lambda: visualize.show(IMAGE, np.full((28, 28), np.nan)), ValueError, "heat_map"),
    (lambda: visualize.show(IMAGE, SMALL_MAP, cmap="jett"), ValueError, "cmap 'jett'.*'viridis'"),
    (lambda: visualize.show(IMAGE, SMALL_MAP, cmap=3), TypeError, "cmap"),
    (lambda: visualize.show(IMAGE, title=5), TypeError, "title"),
    (lambda: visualize.show(IMAGE, ax="left"), TypeError, "ax"),
    (lambda: visualize.show_maps(IMAGE, None), TypeError, "maps"),
    (lambda: visualize.show_maps(IMAGE, {}), TypeError, "maps"),
    (lambda: visualize.show_maps(IMAGE, {"a": np.zeros((3, 9))}), ValueError, r"maps\['a'\]"),
    (lambda: visualize.show_maps(IMAGE, {"a": SMALL_MAP}, alpha=-0.1), ValueError, "alpha"),
    (lambda: visualize.show_maps(IMAGE, {"a": SMALL_MAP}, cmap="nope"), ValueError, "cmap"),
    (lambda: visualize.show_maps(NAN_IMAGE, {"a": SMALL_MAP}), ValueError, "image"),
]


@pytest.mark.parametrize("call, error, argument", SHOW_CASES)
def test_show_refuses_before_drawing(call, error, argument):
    figures = len(matplotlib.pyplot.get_fignums())
    with pytest.raises(error, match=argument):
        call()
    assert len(matplotlib.pyplot.get_fignums()) == figures  # no half-drawn figure left behind


MODELS_CASES = [
    (lambda: models.lenet5("torch"), ValueError, "framework"),
    (lambda: models.lenet5(3), ValueError, "framework"),
    (lambda: models.lenet5(num_classes=0), ValueError, "num_classes"),
    (lambda: models.lenet5(num_classes=True), ValueError, "num_classes"),
    (lambda: models.lenet5(num_classes="10"), ValueError, "num_classes"),
    (lambda: models.lenet5(num_classes=10.5), ValueError, "num_classes"),
    (lambda: models.lenet5(input_shape=(28, 28, 1, 1)), ValueError, "input_shape"),
    (lambda: models.lenet5(input_shape=(28,)), ValueError, "input_shape"),
    (lambda: models.lenet5(input_shape=(0, 28, 1)), ValueError, "input_shape"),
    (lambda: models.lenet5(input_shape=("28", "28", "1")), ValueError, "input_shape"),
    (lambda: models.lenet5(input_shape=(True, 28, 1)), ValueError, "input_shape"),
    (lambda: models.lenet5(input_shape="28x28"), TypeError, "input_shape"),
    (lambda: models.lenet5(input_shape=28), TypeError, "input_shape"),
    (lambda: models.lenet5(input_shape=(8, 8, 1)), ValueError, "input_shape.*at least 12x12"),
    (lambda: models.lenet5("gluon", input_shape=(10, 10)), ValueError, "input_shape.*at least 12x12"),
    (lambda: models.alexnet(variant="small", input_shape=(28, 28, 1)), ValueError, "input_shape.*at least"),
    (lambda: models.lenet5(activation="gelu"), ValueError, "activation"),
    (lambda: models.lenet5(activation=None), ValueError, "activation"),
    (lambda: models.lenet5("gluon", context="cpu"), TypeError, "context"),
    (lambda: models.lenet5("gluon", context=0), TypeError, "context"),
    (lambda: models.alexnet("gluon", "small", context="gpu"), TypeError, "context"),
    (lambda: models.alexnet(variant="small", dropout=math.nan), ValueError, "dropout"),
    (lambda: models.alexnet(variant="small", dropout=-0.1), ValueError, "dropout"),
    (lambda: models.alexnet(variant="small", dropout=1.0), ValueError, "dropout"),
    (lambda: models.alexnet(variant="small", dropout="0.5"), TypeError, "dropout"),
    (lambda: models.alexnet(variant="small", dropout=True), TypeError, "dropout"),
    (lambda: models.alexnet(variant="huge"), ValueError, "variant"),
    (lambda: models.alexnet(variant=None), ValueError, "variant"),
    (lambda: models.alexnet(variant="small", remove=[(3, 4)]), ValueError, "remove.*ONE tuple"),
    (lambda: models.alexnet(variant="small", remove=[(3, 4), (7,)]), ValueError, "remove"),
    (lambda: models.alexnet(variant="small", remove=(9,)), ValueError, r"remove.*2 \(conv2\)"),
    (lambda: models.alexnet(variant="small", remove="conv3"), ValueError, "remove"),
    (lambda: models.alexnet(variant="small", remove={3: 1}), TypeError, "remove"),
    (lambda: models.alexnet(variant="small", num_classes=0), ValueError, "num_classes"),
    (lambda: models.fully_connected(hidden_units=()), ValueError, "hidden_units"),
    (lambda: models.fully_connected(hidden_units=(100, 0)), ValueError, "hidden_units"),
    (lambda: models.fully_connected(hidden_units=(True,)), ValueError, "hidden_units"),
    (lambda: models.fully_connected(hidden_units=(10.0,)), ValueError, "hidden_units"),
    (lambda: models.fully_connected(hidden_units="100"), TypeError, "hidden_units"),
    (lambda: models.fully_connected(activation="softmax"), ValueError, "activation"),
    (lambda: models.fully_connected(num_classes=1), ValueError, "num_classes"),
]


@pytest.mark.parametrize("call, error, argument", MODELS_CASES)
def test_models_refuse(call, error, argument):
    with pytest.raises(error, match=argument):
        call()


def test_a_gpu_context_that_does_not_exist_is_refused():
    import mxnet as mx

    missing = mx.gpu(mx.context.num_gpus())  # one past the last GPU: mx.gpu(0) on a machine without one
    with pytest.raises(ValueError, match=r"context gpu\(\d+\) does not exist"):
        models.lenet5("gluon", context=missing)


def test_gluon_models_record_their_image_shape():
    assert models.lenet5("gluon", input_shape=(32, 32)).image_shape == (32, 32, 1)


INTERACTIVE_CASES = [
    (lambda: interactive.to_png(None), TypeError, "array"),
    (lambda: interactive.to_png(np.zeros((0, 4))), ValueError, "array"),
    (lambda: interactive.to_png(np.full((2, 2), np.nan)), ValueError, "array"),
    (lambda: interactive.to_png(np.zeros((2, 2, 2))), ValueError, "array"),
    (lambda: interactive.apply_kernel(None, np.eye(3)), TypeError, "image"),
    (lambda: interactive.apply_kernel(np.zeros((0, 0)), np.eye(3)), ValueError, "image"),
    (lambda: interactive.apply_kernel(NAN_IMAGE, np.eye(3)), ValueError, "image"),
    (lambda: interactive.apply_kernel(np.zeros((8, 8, 3)), np.eye(3)), ValueError, "image"),
    (lambda: interactive.apply_kernel(IMAGE, np.ones(9)), ValueError, "kernel"),
    (lambda: interactive.apply_kernel(IMAGE, np.ones((2, 2))), ValueError, "kernel"),
    (lambda: interactive.apply_kernel(IMAGE, np.ones((3, 5))), ValueError, "kernel"),
    (lambda: interactive.apply_kernel(IMAGE, np.full((3, 3), np.nan)), ValueError, "kernel"),
    (lambda: interactive.apply_kernel(IMAGE, None), TypeError, "kernel"),
    (lambda: interactive.kernel_editor(None), TypeError, "image"),
    (lambda: interactive.kernel_editor(NAN_IMAGE), ValueError, "image"),
    (lambda: interactive.kernel_editor(np.zeros(8)), ValueError, "image"),
    (lambda: interactive.kernel_editor(IMAGE, preset="emboss"), ValueError, "preset"),
    (lambda: interactive.kernel_editor(IMAGE, preset=None), ValueError, "preset"),
    (lambda: interactive.kernel_editor(IMAGE, size=0), ValueError, "size"),
    (lambda: interactive.kernel_editor(IMAGE, size=True), TypeError, "size"),
    (lambda: interactive.kernel_editor(IMAGE, size="256"), TypeError, "size"),
    (lambda: interactive.KernelEditor(IMAGE, size=128.0), TypeError, "size"),
    (lambda: interactive.KernelEditor(IMAGE).load("emboss"), ValueError, "preset"),
]


@pytest.mark.parametrize("call, error, argument", INTERACTIVE_CASES)
def test_interactive_refuses(call, error, argument):
    with pytest.raises(error, match=argument):
        call()
