"""Tests for hpml_helpers.train: the four-step loops learn real MNIST, History, fit_keras, input checks."""
import math
import os

import numpy as np
import pytest

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim before mxnet is imported)
from hpml_helpers import models, train

MNIST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "mnist_subset.npz")


@pytest.fixture(scope="module")
def mnist():
    """2,000 real training digits (uint8, (N, 28, 28)) and 500 test digits."""
    with np.load(MNIST) as data:
        return data["x_train"][:2000], data["y_train"][:2000], data["x_test"][:500], data["y_test"][:500]


@pytest.fixture(scope="module")
def trained(mnist):
    """LeNet-5 trained for 2 epochs by each path, with validation: {name: (model, history)}."""
    import keras
    import mxnet as mx

    x_train, y_train, x_test, y_test = mnist
    results = {}
    for framework in ("keras", "gluon"):
        keras.utils.set_random_seed(0), mx.random.seed(0)
        model = models.lenet5(framework)
        results[framework] = model, train.train(
            model, x_train, y_train, framework=framework, num_epochs=2, batch_size=32, learning_rate=0.1,
            validation_data=(x_test, y_test), progress=framework == "gluon", seed=0)
    keras.utils.set_random_seed(0)
    model = models.lenet5("keras")
    results["fit_keras"] = model, train.fit_keras(model, x_train, y_train, num_epochs=2, batch_size=32,
                                                  validation_data=(x_test, y_test), progress=False)
    return results


@pytest.mark.parametrize("name", ["keras", "gluon", "fit_keras"])
def test_training_lowers_the_loss_and_beats_chance(trained, mnist, name):
    model, history = trained[name]
    assert len(history) == 2
    assert history.loss[1] < history.loss[0] < math.log(10) + 0.2  # starts near chance, then drops
    assert history.accuracy[1] > 0.5
    assert history.val_accuracy[-1] > 0.6  # ten classes: chance is 0.1
    framework = "gluon" if name == "gluon" else "keras"
    loss, accuracy = train.evaluate(model, mnist[2], mnist[3], framework=framework)
    # evaluate() agrees with the validation figures recorded after the last epoch.
    assert loss == pytest.approx(history.val_loss[-1], rel=1e-4)
    assert accuracy == pytest.approx(history.val_accuracy[-1], abs=1e-6)


def test_history_is_filled_the_same_way_by_every_path(trained):
    dicts = {name: history.as_dict() for name, (_, history) in trained.items()}
    for as_dict in dicts.values():
        assert tuple(as_dict) == train.History.KEYS
        assert all(len(values) == 2 for values in as_dict.values())
    for _, history in trained.values():
        assert all(seconds > 0 for seconds in history.seconds)
        assert history.images_per_second[1] == pytest.approx(history.images[1] / history.seconds[1])
        assert 0 < history.first_step_seconds < history.seconds[0]
        assert history.steady_images_per_second > 0
    # The kit's loops train on full batches only: 2000 // 32 * 32 images per epoch; model.fit on all.
    assert trained["keras"][1].images == trained["gluon"][1].images == [1984, 1984]
    assert trained["fit_keras"][1].images == [2000, 2000]


def test_history_plot_returns_a_figure(trained):
    import matplotlib

    matplotlib.use("Agg")
    figure = trained["gluon"][1].plot()
    assert len(figure.axes) == 2
    assert [axis.get_ylabel() for axis in figure.axes] == ["loss", "accuracy"]
    assert len(figure.axes[0].lines) == 2  # training and validation
    history = train.History("keras")
    history.add_epoch(1.0, 0.5, seconds=2.0, images=100)
    assert math.isnan(history.val_loss[0]) and history.images_per_second == [50.0]
    assert len(history.plot(title="no validation").axes[0].lines) == 1
    assert "1 epochs" in repr(history)


@pytest.mark.parametrize("framework", ["keras", "gluon"])
def test_adam_and_other_image_layouts(mnist, framework):
    x_train, y_train = mnist[0][:512], mnist[1][:512]
    images = (x_train[..., np.newaxis] / 255).astype(np.float64)  # (N, H, W, C) floats in [0, 1]
    model = models.lenet5(framework)
    history = train.train(model, images, y_train.reshape(-1, 1), framework=framework, num_epochs=2,
                          batch_size=64, optimizer="adam", progress=False)
    assert history.loss[1] < history.loss[0]
    # uint8 (N, H, W), float 0..255 and float 0..1 (N, H, W, C) are the same images to evaluate().
    results = [train.evaluate(model, data, y_train, framework=framework, batch_size=100)
               for data in (x_train, x_train.astype(np.float32), images)]
    for loss, accuracy in results[1:]:
        assert loss == pytest.approx(results[0][0], rel=1e-5) and accuracy == results[0][1]


@pytest.fixture(scope="module")
def small_models():
    return {"keras": models.lenet5("keras"), "gluon": models.lenet5("gluon")}


@pytest.mark.parametrize("change, argument, error", [
    ({"y_train": np.zeros(99, np.int64)}, "y_train", ValueError),              # lengths differ
    ({"x_train": np.zeros((100, 784))}, "x_train", ValueError),                # flat vectors
    ({"x_train": np.zeros((100, 1, 28, 28))}, "x_train", ValueError),          # channels-first
    ({"x_train": np.zeros((100, 32, 32))}, "x_train", ValueError),             # not the model's size
    ({"x_train": np.full((100, 28, 28), -1.0)}, "x_train", ValueError),        # not pixel values
    ({"y_train": np.eye(10)[np.zeros(100, int)]}, "y_train", ValueError),      # one-hot
    ({"y_train": np.full(100, 10)}, "y_train", ValueError),                    # no class 10
    ({"y_train": np.full(100, 0.5)}, "y_train", TypeError),
    ({"num_epochs": 0}, "num_epochs", ValueError),
    ({"num_epochs": 1.5}, "num_epochs", TypeError),
    ({"batch_size": -1}, "batch_size", ValueError),
    ({"batch_size": True}, "batch_size", TypeError),
    ({"batch_size": 101}, "batch_size", ValueError),                           # more than the images
    ({"learning_rate": 0}, "learning_rate", ValueError),
    ({"optimizer": "rmsprop"}, "optimizer", ValueError),
    ({"framework": "pytorch"}, "framework", ValueError),
    ({"validation_data": np.zeros((10, 28, 28))}, "validation_data", ValueError),
    ({"validation_data": (np.zeros((10, 28, 28)), np.zeros(9, int))}, r"validation_data\[1\]", ValueError),
    ({"seed": "zero"}, "seed", TypeError),
])
@pytest.mark.parametrize("framework", ["keras", "gluon"])
def test_train_rejects_bad_inputs_naming_the_argument(small_models, framework, change, argument, error):
    arguments = {"x_train": np.zeros((100, 28, 28), np.uint8), "y_train": np.zeros(100, np.int64),
                 "framework": framework, "num_epochs": 1, "batch_size": 10, "progress": False}
    arguments.update(change)
    with pytest.raises(error, match=argument):
        train.train(small_models[framework], **arguments)


def test_model_and_framework_must_match(small_models):
    x, y = np.zeros((10, 28, 28), np.uint8), np.zeros(10, int)
    with pytest.raises(TypeError, match="framework='gluon'"):
        train.train(small_models["gluon"], x, y, framework="keras", progress=False)
    with pytest.raises(TypeError, match="framework='keras'"):
        train.evaluate(small_models["keras"], x, y, framework="gluon")
    with pytest.raises(TypeError, match="model"):
        train.fit_keras(small_models["gluon"], x, y, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        train.evaluate(small_models["keras"], x, y, batch_size=0)
