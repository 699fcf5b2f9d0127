"""Bad inputs to the training modules' public functions: each gives a clear ValueError/TypeError naming the
argument, before any training (train, large_batch, ablation, transfer, schedules, checkpoint)."""
import math

import numpy as np
import pytest

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim before mxnet is imported)
from hpml_helpers import ablation, checkpoint, large_batch, models, schedules, train, imagenet_backbone, transfer

X = np.zeros((40, 28, 28), np.uint8)
Y = np.zeros(40, np.int64)
NAN_X = np.zeros((40, 28, 28), np.float32)
NAN_X[3, 4, 5] = np.nan


@pytest.fixture(scope="module")
def small_models():
    return {"keras": models.lenet5("keras"), "gluon": models.lenet5("gluon")}


TRAIN_CASES = [
    ({"learning_rate": math.inf}, ValueError, "learning_rate"),
    ({"learning_rate": math.nan}, ValueError, "learning_rate"),
    ({"learning_rate": "0.1"}, TypeError, "learning_rate"),
    ({"learning_rate": True}, TypeError, "learning_rate"),
    ({"learning_rate": -0.1}, ValueError, "learning_rate"),
    ({"momentum": 1.0}, ValueError, "momentum"),
    ({"momentum": "0.9"}, TypeError, "momentum"),
    ({"momentum": math.nan}, ValueError, "momentum"),
    ({"optimizer": "adam", "momentum": 0.9}, ValueError, "momentum"),
    ({"x_train": NAN_X}, ValueError, "x_train"),
    ({"x_train": np.zeros((0, 28, 28))}, ValueError, "x_train"),
    ({"x_train": np.zeros((40, 32, 32, 3))}, ValueError, "x_train"),
    ({"x_train": np.zeros((40, 28, 28, 3))}, ValueError, "x_train"),
    ({"x_train": np.array([["a"] * 28] * 40)}, TypeError, "x_train"),
    ({"x_train": None}, TypeError, "x_train"),
    ({"y_train": None}, TypeError, "y_train"),
    ({"y_train": np.array([np.nan] * 40)}, TypeError, "y_train"),
    ({"y_train": np.full(40, -1)}, ValueError, "y_train"),
    ({"num_epochs": True}, TypeError, "num_epochs"),
    ({"num_epochs": "3"}, TypeError, "num_epochs"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": 8.0}, TypeError, "batch_size"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": True}, TypeError, "seed"),
    ({"progress": "yes"}, TypeError, "progress"),
    ({"checkpoint": 3}, TypeError, "checkpoint"),
    ({"checkpoint": ""}, TypeError, "checkpoint"),
    ({"validation_data": (NAN_X, Y)}, ValueError, r"validation_data\[0\]"),
    ({"validation_data": (X, Y, Y)}, ValueError, "validation_data"),
    ({"framework": None}, ValueError, "framework"),
    ({"optimizer": None}, ValueError, "optimizer"),
]


@pytest.mark.parametrize("framework", ["keras", "gluon"])
@pytest.mark.parametrize("change, error, argument", TRAIN_CASES)
def test_train_refuses(small_models, framework, change, error, argument):
    arguments = {"x_train": X, "y_train": Y, "framework": framework, "num_epochs": 1, "batch_size": 8,
                 "progress": False, **change}
    with pytest.raises(error, match=argument):
        train.train(small_models[framework], **arguments)


def test_none_model_and_gluon_image_size_are_caught_by_the_kit(small_models):
    with pytest.raises(TypeError, match="model"):
        train.train(None, X, Y, progress=False)
    with pytest.raises(TypeError, match="model"):
        train.evaluate(None, X, Y)
    # A Gluon model does not declare its input: one image is tried first, before MXNet's own error.
    with pytest.raises(ValueError, match="x_train.*32, 32, 1"):
        train.train(small_models["gluon"], np.zeros((40, 32, 32), np.uint8), Y, framework="gluon", batch_size=8,
                    progress=False)
    with pytest.raises(ValueError, match="x.*32, 32, 3"):
        train.evaluate(small_models["gluon"], np.zeros((40, 32, 32, 3), np.uint8), Y, framework="gluon")


@pytest.mark.parametrize("change, error, argument", [
    ({"learning_rate": math.nan}, ValueError, "learning_rate"),
    ({"x_train": NAN_X}, ValueError, "x_train"),
    ({"momentum": -0.5}, ValueError, "momentum"),
    ({"progress": 1}, TypeError, "progress"),
])
def test_fit_keras_refuses(small_models, change, error, argument):
    arguments = {"x_train": X, "y_train": Y, "num_epochs": 1, "batch_size": 8, "progress": False, **change}
    with pytest.raises(error, match=argument):
        train.fit_keras(small_models["keras"], **arguments)


@pytest.mark.parametrize("change, error, argument", [
    ({"x": NAN_X}, ValueError, "x"),
    ({"y": Y[:5]}, ValueError, "y"),
    ({"batch_size": True}, TypeError, "batch_size"),
    ({"framework": "torch"}, ValueError, "framework"),
])
def test_evaluate_refuses(small_models, change, error, argument):
    arguments = {"x": X, "y": Y, **change}
    with pytest.raises(error, match=argument):
        train.evaluate(small_models["keras"], **arguments)


@pytest.mark.parametrize("call, error, argument", [
    (lambda: schedules.scaled_learning_rate(0.1, batch_size=True), TypeError, "batch_size"),
    (lambda: schedules.scaled_learning_rate(0.1, "8192"), TypeError, "batch_size"),
    (lambda: schedules.scaled_learning_rate(math.nan, 256), ValueError, "base_learning_rate"),
    (lambda: schedules.scaled_learning_rate(0.1, 256, base_batch_size=0), ValueError, "base_batch_size"),
    (lambda: schedules.scaled_for_workers(0.1, 2.5), ValueError, "num_workers"),
    (lambda: schedules.WarmupStepSchedule(math.inf), ValueError, "peak_learning_rate"),
    (lambda: schedules.WarmupStepSchedule(0.1, warmup_steps=-1), ValueError, "warmup_steps"),
    (lambda: schedules.WarmupStepSchedule(0.1, decay_boundaries=(5, 3)), ValueError, "decay_boundaries"),
    (lambda: schedules.WarmupStepSchedule(0.1)(-1), ValueError, "step"),
    (lambda: schedules.goyal_schedule(8192, 0), ValueError, "steps_per_epoch"),
    (lambda: large_batch.learning_rate_for("linear", True, 32, 0.1, 10), TypeError, "batch_size"),
    (lambda: large_batch.learning_rate_for("linear", 64, 32, "0.1", 10), TypeError, "base_learning_rate"),
    (lambda: large_batch.learning_rate_for("linear+warmup", 64, 32, 0.1, 10, warmup_epochs=math.nan),
     ValueError, "warmup_epochs"),
    (lambda: large_batch.learning_rate_for("linear", 64, 32, 0.1, 10, decay_epochs=5), TypeError, "decay_epochs"),
    (lambda: large_batch.learning_rate_for(None, 64, 32, 0.1, 10), ValueError, "rule"),
    (lambda: large_batch.breakdown_batch_size([32, 64], [1.0, 2.0], math.nan), ValueError, "reference_error"),
    (lambda: large_batch.breakdown_batch_size([32, "64"], [1.0, 2.0], 1.0), TypeError, "batch_sizes"),
    (lambda: large_batch.breakdown_batch_size([], [], 1.0), ValueError, "batch_sizes"),
    (lambda: large_batch.table([]), TypeError, "runs"),
    (lambda: large_batch.table(None), TypeError, "runs"),
    (lambda: large_batch.plot_error_curves([1, 2]), TypeError, "runs"),
])
def test_schedules_and_large_batch_helpers_refuse(call, error, argument):
    with pytest.raises(error, match=argument):
        call()


@pytest.mark.parametrize("change, error, argument", [
    ({"learning_rate": math.inf}, ValueError, "learning_rate"),
    ({"learning_rate": True}, TypeError, "learning_rate"),
    ({"batch_size": "64"}, TypeError, "batch_size"),
    ({"num_epochs": 0}, ValueError, "num_epochs"),
    ({"momentum": True}, TypeError, "momentum"),
    ({"x_train": NAN_X}, ValueError, "x_train"),
    ({"x_test": np.zeros((10, 28, 28, 3))}, ValueError, "x_test"),
    ({"model_builder": "lenet5"}, TypeError, "model_builder"),
    ({"label": 5}, TypeError, "label"),
    ({"checkpoint_dir": 5}, TypeError, "checkpoint_dir"),
])
def test_large_batch_train_run_refuses(change, error, argument):
    arguments = {"x_train": X, "y_train": Y, "x_test": X[:10], "y_test": Y[:10], "batch_size": 8,
                 "learning_rate": 0.01, "num_epochs": 1, **change}
    with pytest.raises(error, match=argument):
        large_batch.train_run(**arguments)


DIGITS = np.zeros((20, 28, 28), np.uint8)


@pytest.mark.parametrize("call, error, argument", [
    (lambda: ablation.cluttered_mnist(DIGITS.astype(float) * np.nan, np.zeros(20, int)), ValueError, "images"),
    (lambda: ablation.cluttered_mnist(DIGITS, np.zeros(20, int), canvas_size=True), TypeError, "canvas_size"),
    (lambda: ablation.cluttered_mnist(DIGITS, np.zeros(20, int), num_fragments=-1), ValueError, "num_fragments"),
    (lambda: ablation.cluttered_mnist(DIGITS, np.zeros(20, int), seed="0"), TypeError, "seed"),
    (lambda: ablation.cluttered_mnist(DIGITS, None), TypeError, "labels"),
    (lambda: ablation.run(X, Y, X, Y, removals=(3, 4)), TypeError, "removals"),
    (lambda: ablation.run(X, Y, X, Y, removals=[(3, 9)]), ValueError, "removals"),
    (lambda: ablation.run(X, Y, X, Y, removals=[]), ValueError, "removals"),
    (lambda: ablation.run(X, Y, X, Y, learning_rate=math.nan), ValueError, "learning_rate"),
    (lambda: ablation.run(X, Y, X, Y, num_epochs=0), ValueError, "num_epochs"),
    (lambda: ablation.run(X, Y, X, Y, dropout=1.5), ValueError, "dropout"),
    (lambda: ablation.run(NAN_X, Y, X, Y), ValueError, "x_train"),
    (lambda: ablation.run(X, Y, X, Y[:3]), ValueError, "y_test"),
    (lambda: ablation.table([1, 2]), TypeError, "rows"),
    (lambda: ablation.table([]), ValueError, "rows"),
    (lambda: ablation.plot(None), TypeError, "rows"),
])
def test_ablation_refuses(call, error, argument):
    with pytest.raises(error, match=argument):
        call()


@pytest.mark.parametrize("call, error, argument", [
    (lambda: transfer.class_subset(NAN_X, Y, [0, 1]), ValueError, "x"),
    (lambda: transfer.sample_per_class(Y, True), TypeError, "num_per_class"),
    (lambda: transfer.sample_per_class(Y, 1, seed=1.5), TypeError, "seed"),
    (lambda: transfer.upscale_digits(np.zeros((0, 8, 8))), ValueError, "images"),
    (lambda: transfer.epochs_for_steps(100, 32, "300"), TypeError, "num_steps"),
    (lambda: transfer.weighted_layers(None), TypeError, "model"),
    (lambda: transfer.backbone_layers(None), TypeError, "model"),
    (lambda: transfer.transfer_model(None, 5), TypeError, "pretrained"),
    (lambda: transfer.train_run(None, X, Y, X, Y), TypeError, "pretrained"),
    (lambda: transfer.time_to_accuracy(None, 0.9), TypeError, "history"),
    (lambda: transfer.table([{"dataset": "a"}]), TypeError, "rows"),
    (lambda: transfer.plot_curves({}), TypeError, "histories"),
    (lambda: transfer.plot_accuracy_vs_labels([1, 2], {"scratch": np.zeros((3, 2))}), ValueError, "results"),
    (lambda: imagenet_backbone.imagenet_model(None, 1), ValueError, "num_classes"),
    (lambda: transfer.label_sweep(None, X, Y, X, Y, [0]), ValueError, "labels_per_class"),
    (lambda: transfer.label_sweep(None, X, Y, X, Y, [1], strategies="scratch"), TypeError, "strategies"),
    (lambda: transfer.label_sweep(None, X, Y, X, Y, [1], num_draws=0), ValueError, "num_draws"),
    (lambda: transfer.label_sweep(None, X, Y, X, Y, [1], epochs=3), TypeError, "epochs"),
])
def test_transfer_refuses(call, error, argument):
    with pytest.raises(error, match=argument):
        call()


@pytest.fixture(scope="module")
def pretrained():
    return models.lenet5("keras")


@pytest.mark.parametrize("change, error, argument", [
    ({"x_train": NAN_X}, ValueError, "x_train"),
    ({"x_test": np.zeros((5, 28, 28)), "y_test": Y}, ValueError, "y_test"),
    ({"learning_rate": "1e-3"}, TypeError, "learning_rate"),
    ({"num_steps": 0}, ValueError, "num_steps"),
    ({"strategy": "freeze"}, ValueError, "strategy"),
    ({"curves": "yes"}, TypeError, "curves"),
    ({"transfer_layers": 5}, TypeError, "transfer_layers"),
])
def test_transfer_train_run_refuses(pretrained, change, error, argument):
    arguments = {"x_train": X, "y_train": np.arange(40) % 2, "x_test": X, "y_test": np.arange(40) % 2, **change}
    with pytest.raises(error, match=argument):
        transfer.train_run(pretrained, **arguments)


@pytest.mark.parametrize("call, error, argument", [
    (lambda: checkpoint.run_path(None, "run"), TypeError, "checkpoint_dir"),
    (lambda: checkpoint.run_path("build/x", 3), TypeError, "name"),
    (lambda: checkpoint.info(42), TypeError, "checkpoint"),
])
def test_checkpoint_helpers_refuse(call, error, argument):
    with pytest.raises(error, match=argument):
        call()
