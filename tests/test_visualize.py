"""Tests for hpml_helpers.visualize on a tiny CNN trained in seconds to find a bright square.

The toy task: 32x32 grey images of dim noise, half of them with a bright 6x6 square at a random place;
the label says whether the square is there. Since we know where the evidence is, we can check that
saliency is larger on the square, that occluding the square lowers the "present" probability most,
and that activation maximization raises the activation it maximizes.
"""
import matplotlib

matplotlib.use("Agg")  # noqa: E402  (no display in CI)

import numpy as np
import pytest

from hpml_helpers import visualize

SIZE, SQUARE = 32, 6


def _toy_images(count, seed):
    """Dim noise, half with a bright square; returns images (N, 32, 32, 1), labels and square corners."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 0.2, size=(count, SIZE, SIZE, 1)).astype(np.float32)
    labels = (np.arange(count) % 2).astype(np.int64)
    corners = rng.integers(0, SIZE - SQUARE + 1, size=(count, 2))
    for image, label, (row, column) in zip(images, labels, corners):
        if label:
            image[row:row + SQUARE, column:column + SQUARE] = rng.uniform(0.8, 1.0)
    return images, labels, corners


@pytest.fixture(scope="module")
def trained():
    """The tiny CNN, trained for a few seconds, and one test image with its square's corner."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 1)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.GlobalMaxPooling2D(name="global_max"),
        keras.layers.Dense(2, name="logits"),
    ], name="square_finder")
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    images, labels, _ = _toy_images(2000, seed=1)
    model.fit(images, labels, batch_size=64, epochs=3, verbose=0)
    test_images, test_labels, test_corners = _toy_images(200, seed=2)
    accuracy = model.evaluate(test_images, test_labels, verbose=0)[1]
    assert accuracy > 0.95, f"the toy model did not learn its task (accuracy {accuracy:.2f})"
    index = int(np.flatnonzero(test_labels)[0])
    return model, test_images[index], tuple(test_corners[index])


def _square_mask(corner, margin=0):
    row, column = corner
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[max(0, row - margin):row + SQUARE + margin, max(0, column - margin):column + SQUARE + margin] = True
    return mask


def test_activations_shapes_and_plot(trained):
    model, image, _ = trained
    maps = visualize.activations(model, "conv1", image)
    assert maps.shape == (SIZE, SIZE, 8) and np.all(np.isfinite(maps))
    assert visualize.activations(model, "conv2", image[..., 0]).shape == (SIZE // 2, SIZE // 2, 16)
    uint8_image = (image * 255).astype(np.uint8)
    assert np.allclose(visualize.activations(model, "conv1", uint8_image), maps, atol=0.05)
    figure = visualize.plot_activations(model, "conv1", image)
    assert len(figure.axes) == 8
    matplotlib.pyplot.close("all")


def test_filters_figure(trained):
    model, _, _ = trained
    figure = visualize.filters(model)
    assert "conv1" in figure.texts[0].get_text() and len(figure.axes) == 8
    assert len(visualize.filters(model, "conv2", max_filters=10, columns=5).axes) == 10
    with pytest.raises(ValueError, match="not a 2-D convolution"):
        visualize.filters(model, "logits")
    matplotlib.pyplot.close("all")


def test_saliency_is_larger_on_the_square(trained):
    model, image, corner = trained
    saliency = visualize.saliency(model, image, class_index=1)
    assert saliency.shape == (SIZE, SIZE) and np.all(np.isfinite(saliency))
    on_square = saliency[_square_mask(corner)].mean()
    background = saliency[~_square_mask(corner, margin=2)].mean()
    assert on_square > 3 * background, (on_square, background)
    # class_index=None explains the predicted class, which is "present" here.
    assert np.allclose(visualize.saliency(model, image), saliency)


def test_occlusion_is_lowest_on_the_square(trained):
    model, image, corner = trained
    heat_map = visualize.occlusion(model, image, class_index=1, patch_size=8, stride=2, fill="mean")
    assert heat_map.shape == (SIZE, SIZE) and np.all(np.isfinite(heat_map))
    assert np.all((heat_map >= 0) & (heat_map <= 1))
    # The lowest probability is reached on the square (ties with its close surroundings allowed) ...
    assert heat_map[_square_mask(corner)].min() <= heat_map.min() + 1e-3, (heat_map.min(), corner)
    # ... and far from the square, occluding changes little.
    assert heat_map[_square_mask(corner)].mean() < heat_map[~_square_mask(corner, margin=8)].mean() - 0.2
    # Batching must not change the result.
    small_batches = visualize.occlusion(model, image, class_index=1, patch_size=8, stride=2, fill="mean",
                                        batch_size=7)
    assert np.allclose(small_batches, heat_map, atol=1e-5)


def test_activation_maximization_increases_the_target(trained):
    model, image, _ = trained
    start = np.full((SIZE, SIZE, 1), 0.1, dtype=np.float32) + np.random.default_rng(0).normal(
        0, 0.02, size=(SIZE, SIZE, 1)).astype(np.float32)
    first_maps = visualize.activations(model, "conv2", start)
    filter_index = int(np.argmax(visualize.activations(model, "conv2", image).max(axis=(0, 1))))
    result = visualize.activation_maximization(model, "conv2", filter_index=filter_index, steps=30,
                                               initial_image=start, seed=0)
    assert result.shape == (SIZE, SIZE, 1) and np.all(np.isfinite(result))
    assert result.min() >= 0.0 and result.max() <= 1.0
    after = visualize.activations(model, "conv2", result)[..., filter_index].mean()
    assert after > first_maps[..., filter_index].mean() + 0.1
    logits_before = model(start[None], training=False).numpy()[0, 1]
    dreamt = visualize.activation_maximization(model, class_index=1, steps=30, seed=1)
    assert model(dreamt[None], training=False).numpy()[0, 1] > logits_before


def test_show_overlays_a_map(trained):
    model, image, _ = trained
    figure = visualize.show(image, visualize.saliency(model, image)[::2, ::2], title="saliency")
    assert figure.axes[0].get_title() == "saliency" and len(figure.axes[0].images) == 2
    figure = visualize.show_maps(image, {"saliency": visualize.saliency(model, image)})
    assert len(figure.axes) >= 2
    matplotlib.pyplot.close("all")


def test_bad_arguments_raise_clear_errors(trained):
    model, image, _ = trained
    with pytest.raises(ValueError, match="conv1, pool1, conv2"):
        visualize.activations(model, "conv9", image)
    with pytest.raises(ValueError, match="layers are: conv1"):
        visualize.activation_maximization(model, "nope", filter_index=0, steps=1)
    with pytest.raises(ValueError, match="filter_index"):
        visualize.activation_maximization(model, "conv2", filter_index=99, steps=1)
    with pytest.raises(ValueError, match="class_index alone"):
        visualize.activation_maximization(model, "conv2", class_index=1)
    with pytest.raises(ValueError, match="one image"):
        visualize.saliency(model, image[None])
    with pytest.raises(ValueError, match="expects"):
        visualize.saliency(model, np.zeros((16, 16, 1), np.float32))
    with pytest.raises(ValueError, match="class_index"):
        visualize.saliency(model, image, class_index=5)
    with pytest.raises(ValueError, match="fill"):
        visualize.occlusion(model, image, fill="grey")
    with pytest.raises(ValueError, match="patch_size"):
        visualize.occlusion(model, image, patch_size=64)
    with pytest.raises(TypeError, match="Keras Model"):
        visualize.activations(object(), "conv1", image)
    with pytest.raises(ValueError, match="heat_map"):
        visualize.show(image, np.zeros(5))


def test_gluon_saliency_of_a_linear_model_is_its_weights():
    """For a linear model the gradient of a class score is that class's weight row."""
    import mxnet as mx
    from mxnet import gluon

    net = gluon.nn.Dense(3, in_units=2 * 4 * 5)
    net.initialize(mx.init.Normal(1.0))
    image = np.random.default_rng(0).uniform(size=(4, 5, 2)).astype(np.float32)
    weights = net.weight.data().asnumpy()[2].reshape(2, 4, 5)  # NCHW order, as the block sees it
    assert np.allclose(visualize.saliency(net, image, class_index=2), np.abs(weights).max(axis=0), atol=1e-6)
