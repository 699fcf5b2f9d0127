"""hpml_helpers.transfer: tasks and labelled subsets, copying and freezing layers, runs, and the ImageNet check."""
import math

import numpy as np
import pytest

from hpml_helpers import data, models, train, imagenet_backbone, transfer


@pytest.fixture(scope="module")
def mnist():
    return data.load("mnist", source="subset", num_train=2000, num_test=500, verbose=False)


@pytest.fixture(scope="module")
def tasks(mnist):
    """(task A train, task B train, task B test): digits 0-4 and 5-9, each relabelled 0-4."""
    return (transfer.class_subset(mnist.x_train, mnist.y_train, (0, 1, 2, 3, 4)),
            transfer.class_subset(mnist.x_train, mnist.y_train, (5, 6, 7, 8, 9)),
            transfer.class_subset(mnist.x_test, mnist.y_test, (5, 6, 7, 8, 9)))


@pytest.fixture(scope="module")
def pretrained(tasks):
    """LeNet-5 trained for one epoch on digits 0-4."""
    import keras

    keras.utils.set_random_seed(0)
    model = models.lenet5(num_classes=5)
    train.train(model, *tasks[0], num_epochs=1, batch_size=32, optimizer="adam", learning_rate=1e-3, progress=False)
    return model


def weights_of(model, name):
    return [array.copy() for array in model.get_layer(name).get_weights()]


def same(first, second):
    return all(np.array_equal(a, b) for a, b in zip(first, second))


# ------------------------------------------------------------------------------------- tasks and subsets

def test_class_subset_keeps_the_classes_and_renumbers_them_in_the_given_order(mnist):
    x, y = transfer.class_subset(mnist.x_train, mnist.y_train, (7, 5))
    assert len(x) == len(y) == np.sum(np.isin(mnist.y_train, (5, 7)))
    assert set(np.unique(y)) == {0, 1}
    assert np.array_equal(x[y == 0], mnist.x_train[mnist.y_train == 7])  # 7 listed first: label 0


@pytest.mark.parametrize("classes, message", [((5,), "at least 2 different"), ((5, 5), "at least 2 different"),
                                              ((5, 42), "does not contain")])
def test_class_subset_rejects_bad_classes(mnist, classes, message):
    with pytest.raises(ValueError, match=message):
        transfer.class_subset(mnist.x_train, mnist.y_train, classes)


def test_sample_per_class_gives_exactly_k_of_every_class_deterministically(tasks):
    labels = tasks[1][1]
    chosen = transfer.sample_per_class(labels, 10, seed=3)
    assert len(chosen) == 50 and np.all(np.bincount(labels[chosen]) == 10)
    assert len(np.unique(chosen)) == 50 and np.all(np.diff(chosen) > 0)  # no repeats, sorted
    assert np.array_equal(chosen, transfer.sample_per_class(labels, 10, seed=3))
    assert not np.array_equal(chosen, transfer.sample_per_class(labels, 10, seed=4))
    # Nested: a seed's 10 per class are among its 30, so more labels add to the same set.
    assert set(chosen) <= set(transfer.sample_per_class(labels, 30, seed=3))
    assert np.array_equal(transfer.sample_per_class(labels, None), np.arange(len(labels)))


@pytest.mark.parametrize("count, kind, error", [(0, ValueError, "num_per_class must be an integer >= 1"),
                                                (2.5, TypeError, "num_per_class must be an integer"),
                                                (10_000, ValueError, r"num_per_class \(10000\) is more than class 0")])
def test_sample_per_class_rejects_bad_counts(tasks, count, kind, error):
    with pytest.raises(kind, match=error):
        transfer.sample_per_class(tasks[1][1], count)


def test_sample_per_class_rejects_bad_labels_and_seeds():
    with pytest.raises(ValueError, match="labels must be a non-empty 1-D array of integer"):
        transfer.sample_per_class(np.zeros((4, 2), dtype=int), 1)
    with pytest.raises(TypeError, match="seed must be an integer"):
        transfer.sample_per_class(np.arange(4), 1, seed="0")


def test_upscale_digits_draws_8x8_digits_like_mnist():
    digits = data.load("digits", verbose=False)
    large = transfer.upscale_digits(digits.x_train[:20])
    assert large.shape == (20, 28, 28) and large.dtype == np.uint8
    assert large[:, :4].max() == 0 and large[:, 24:].max() == 0  # a 20x20 digit centred in a 28x28 frame
    # Enlarging keeps the average brightness of the digit (within rounding).
    assert large[:, 4:24, 4:24].mean() == pytest.approx(digits.x_train[:20].mean(), rel=0.02)
    with pytest.raises(ValueError, match="images must have (shape|3 dimensions)"):
        transfer.upscale_digits(digits.x_train[0])
    with pytest.raises(ValueError, match="digit_size .* must fit in canvas_size"):
        transfer.upscale_digits(digits.x_train[:2], digit_size=30)


# ------------------------------------------------------------------------------------ copying and freezing

def test_backbone_is_the_convolutions_and_the_head_the_rest(pretrained):
    assert transfer.backbone_layers(pretrained) == ["conv1", "conv2"]
    assert transfer.weighted_layers(pretrained) == ["conv1", "conv2", "fc1", "fc2", "output"]


def test_transfer_model_copies_the_backbone_and_replaces_the_head(pretrained):
    model = transfer.transfer_model(pretrained, 3, ("conv1", "conv2"))
    assert model.output_shape == (None, 3) and model.input_shape == (None, 28, 28, 1)
    for name in ("conv1", "conv2"):
        assert same(weights_of(model, name), weights_of(pretrained, name))
    assert not same(weights_of(model, "fc1"), weights_of(pretrained, "fc1"))  # the head is new
    assert all(layer.trainable for layer in model.layers)
    # The copy is a copy: the pretrained network keeps its own variables.
    assert model.get_layer("conv1").kernel is not pretrained.get_layer("conv1").kernel


def test_the_same_seed_gives_every_strategy_the_same_new_weights(pretrained):
    scratch = transfer.transfer_model(pretrained, 5, (), seed=7)
    fine = transfer.transfer_model(pretrained, 5, ("conv1", "conv2"), seed=7)
    assert same(weights_of(scratch, "fc1"), weights_of(fine, "fc1"))
    assert same(weights_of(scratch, "output"), weights_of(fine, "output"))
    assert not same(weights_of(scratch, "output"), weights_of(transfer.transfer_model(pretrained, 5, (), seed=8),
                                                              "output"))


def test_frozen_backbone_does_not_change_when_trained_and_the_head_does(pretrained, tasks):
    model = transfer.transfer_model(pretrained, 5, ("conv1", "conv2"), freeze=True)
    assert transfer.trainable_parameters(model) == (58_709, 2_572)  # fc1 + fc2 + output; conv1 + conv2
    before = {name: weights_of(model, name) for name in ("conv1", "conv2", "fc1", "output")}
    x, y = tasks[1]
    train.train(model, x[:256], y[:256], num_epochs=1, batch_size=32, optimizer="adam", progress=False)
    assert same(weights_of(model, "conv1"), before["conv1"]) and same(weights_of(model, "conv2"), before["conv2"])
    assert not same(weights_of(model, "fc1"), before["fc1"]) and not same(weights_of(model, "output"),
                                                                          before["output"])
    # Fine-tuning, by contrast, moves the copied layers too.
    fine = transfer.transfer_model(pretrained, 5, ("conv1", "conv2"), freeze=False)
    train.train(fine, x[:256], y[:256], num_epochs=1, batch_size=32, optimizer="adam", progress=False)
    assert not same(weights_of(fine, "conv1"), before["conv1"])


@pytest.mark.parametrize("arguments, error, message", [
    ((5, ("output",)), ValueError, "transfer_layers holds \\['output'\\]"),
    ((5, ("conv9",)), ValueError, "transfer_layers holds \\['conv9'\\]"),
    ((1, ()), ValueError, "num_classes must be an integer >= 2"),
    ((5, (), "yes"), TypeError, "freeze must be True or False"),
])
def test_transfer_model_rejects_bad_arguments(pretrained, arguments, error, message):
    with pytest.raises(error, match=message):
        transfer.transfer_model(pretrained, *arguments)


def test_transfer_model_needs_a_keras_chain():
    with pytest.raises(TypeError, match="pretrained must be a keras.Sequential"):
        transfer.transfer_model(object(), 5)


# -------------------------------------------------------------------------------------------- runs

def test_epochs_for_steps_rounds_up_to_whole_epochs():
    assert transfer.epochs_for_steps(500, 32, 300) == 20  # 15 full batches per epoch
    assert transfer.epochs_for_steps(3894, 32, 300) == 3
    with pytest.raises(ValueError, match="batch_size \\(64\\) is larger than num_images \\(50\\)"):
        transfer.epochs_for_steps(50, 64, 10)
    with pytest.raises(ValueError, match="num_steps must be an integer >= 1"):
        transfer.epochs_for_steps(50, 32, 0)


def test_train_run_records_a_curve_and_the_weights_it_trained(pretrained, tasks):
    (x, y), (x_test, y_test) = tasks[1], tasks[2]
    chosen = transfer.sample_per_class(y, 20)
    run = transfer.train_run(pretrained, x[chosen], y[chosen], x_test, y_test, "frozen", num_steps=12, curves=True)
    assert run.label == "frozen backbone (new head only)" and run.num_images == 100
    assert len(run.history) == 4  # 3 full batches of 32 per epoch, 12 updates
    assert run.test_accuracy == run.history.val_accuracy[-1] and 0.2 < run.test_accuracy <= 1  # 5 classes: 0.2
    assert (run.trainable, run.frozen) == (58_709, 2_572)
    with pytest.raises(ValueError, match="strategy must be one of"):
        transfer.train_run(pretrained, x[chosen], y[chosen], x_test, y_test, "thaw")
    with pytest.raises(ValueError, match="transfer_layers must be empty for strategy='scratch'"):
        transfer.train_run(pretrained, x[chosen], y[chosen], x_test, y_test, "scratch", transfer_layers=["conv1"])


def test_label_sweep_fills_one_accuracy_per_count_and_draw(pretrained, tasks):
    (x, y), (x_test, y_test) = tasks[1], tasks[2]
    results = transfer.label_sweep(pretrained, x, y, x_test, y_test, [5, 10], strategies=["scratch"], num_draws=2,
                                   num_steps=2, progress=False)
    assert list(results) == ["scratch"] and results["scratch"].shape == (2, 2)
    assert np.all((results["scratch"] >= 0) & (results["scratch"] <= 1))
    figure = transfer.plot_accuracy_vs_labels([5, 10], results)
    assert figure.axes[0].get_xscale() == "log"


def history_with(accuracies, seconds=0.5, first_step_seconds=0.2):
    history = train.History("keras")
    for accuracy in accuracies:
        history.add_epoch(1.0, accuracy, seconds, 100, val_loss=1.0, val_accuracy=accuracy)
    history.first_step_seconds = first_step_seconds
    return history


def test_time_to_accuracy_finds_the_first_epoch_at_the_target():
    history = history_with([0.5, 0.8, 0.93, 0.91, 0.95])
    assert transfer.time_to_accuracy(history, 0.9) == (3, pytest.approx(3 * 0.5 - 0.2))  # compile time left out
    assert transfer.time_to_accuracy(history, 0.99) == (None, None)
    rows = transfer.convergence_rows("digits", {"a": history, "b": history_with([0.95])}, 0.94)
    table = transfer.table(rows)
    assert list(table["dataset (target task)"]) == ["digits", "digits"] and list(table["model"]) == ["a", "b"]
    assert table["test accuracy"].iloc[1] == pytest.approx(0.95) and table["epochs to target"].iloc[1] == 1
    figure = transfer.plot_curves({"a": history}, target=0.9)
    assert len(figure.axes) == 2


def test_time_to_accuracy_needs_a_curve_and_a_sensible_target():
    with pytest.raises(ValueError, match="no test accuracy per epoch"):
        transfer.time_to_accuracy(history_with([math.nan]), 0.9)
    with pytest.raises(ValueError, match="target must be an accuracy"):
        transfer.time_to_accuracy(history_with([0.5]), 90)


# ------------------------------------------------------------------------------ ImageNet backbone

def test_no_cached_weights_is_said_clearly(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert imagenet_backbone.keras_models_dir() == tmp_path / "models"
    assert imagenet_backbone.imagenet_weights_file() is None
    said = capsys.readouterr().out
    assert imagenet_backbone.IMAGENET_WEIGHTS_FILES[0] in said and str(tmp_path / "models") in said
    assert 'keras.applications.MobileNetV2(weights="imagenet")' in said


@pytest.mark.parametrize("name", imagenet_backbone.IMAGENET_WEIGHTS_FILES)
def test_a_cached_weights_file_is_found(tmp_path, monkeypatch, capsys, name):
    # An empty stand-in: only the search is tested here, nothing is loaded from it.
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / name).write_bytes(b"")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert imagenet_backbone.imagenet_weights_file() == tmp_path / "models" / name
    assert "found" in capsys.readouterr().out


def test_imagenet_model_trains_only_its_new_output_layer(tasks):
    # Random backbone weights (weights_path=None): this checks the wiring and the freezing, not accuracy.
    model = imagenet_backbone.imagenet_model(None, 5, image_size=32)
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 5)
    assert transfer.trainable_parameters(model)[0] == 1280 * 5 + 5
    backbone = next(layer for layer in model.layers if layer.name.startswith("mobilenetv2"))
    before = [array.copy() for array in backbone.get_weights()]  # includes BatchNorm's moving statistics
    x, y = tasks[1]
    train.train(model, x[:64], y[:64], num_epochs=1, batch_size=32, optimizer="adam", progress=False)
    assert same(backbone.get_weights(), before)
    with pytest.raises(ValueError, match="weights_path .* is not a file"):
        imagenet_backbone.imagenet_model("/nonexistent/weights.h5", 5)
    with pytest.raises(ValueError, match="image_size must be at least 32"):
        imagenet_backbone.imagenet_model(None, 5, image_size=16)


def test_copy_weights_by_name_copies_every_layer_of_the_target(pretrained):
    target = transfer.transfer_model(pretrained, 5, (), seed=1)
    assert imagenet_backbone.copy_weights_by_name(pretrained, target) == transfer.weighted_layers(pretrained)
    assert all(same(weights_of(target, name), weights_of(pretrained, name)) for name in ("conv1", "output"))
