"""ablation.fashion_pairs: notebook 04's same-or-different task, built right and refusing bad input."""
import numpy as np
import pytest

from hpml_helpers import ablation


@pytest.fixture(scope="module")
def items():
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 6
    images = np.zeros((60, 28, 28), np.uint8)
    for index, label in enumerate(labels):  # each item carries its class as its grey level: easy to read back
        images[index, 4:24, 4:24] = 40 * (label + 1)
    order = rng.permutation(60)
    return images[order], labels[order]


def test_pairs_are_balanced_seeded_and_labelled_by_their_two_items(items):
    images, labels = items
    pairs = ablation.fashion_pairs(images, labels, 400, canvas_shape=(40, 80), seed=5)
    assert pairs.images.shape == (400, 40, 80) and pairs.images.dtype == np.uint8
    assert 0.4 < pairs.labels.mean() < 0.6  # about half the pairs are "same"
    again = ablation.fashion_pairs(images, labels, 400, canvas_shape=(40, 80), seed=5)
    assert (again.images == pairs.images).all() and (again.labels == pairs.labels).all()
    other = ablation.fashion_pairs(images, labels, 400, canvas_shape=(40, 80), seed=6)
    assert not (other.images == pairs.images).all()
    for canvas, same, (row1, col1, row2, col2) in zip(pairs.images, pairs.labels, pairs.positions):
        assert col1 + 28 <= 40 <= col2  # one item in each half
        left, right = canvas[row1 + 10, col1 + 10], canvas[row2 + 10, col2 + 10]
        assert left > 0 and right > 0
        assert bool(same) == (left == right)  # the label says whether the two classes agree


@pytest.mark.parametrize("change, error, argument", [
    ({"num_pairs": 0}, ValueError, "num_pairs"),
    ({"num_pairs": True}, TypeError, "num_pairs"),
    ({"num_pairs": "10"}, TypeError, "num_pairs"),
    ({"canvas_shape": (40, 50)}, ValueError, "canvas_shape"),
    ({"canvas_shape": (20, 80)}, ValueError, "canvas_shape"),
    ({"canvas_shape": (40,)}, ValueError, "canvas_shape"),
    ({"seed": -1}, ValueError, "seed"),
    ({"labels": np.zeros(60, np.int64)}, ValueError, "labels"),
    ({"labels": np.zeros(59, np.int64)}, ValueError, "labels"),
    ({"images": np.zeros((60, 28, 30), np.uint8)}, ValueError, "canvas_shape"),
    ({"images": None}, TypeError, "images"),
])
def test_bad_input_is_refused(items, change, error, argument):
    images, labels = items
    arguments = {"images": images, "labels": labels, "num_pairs": 10, "canvas_shape": (40, 80), "seed": 0} | change
    with pytest.raises(error, match=argument):
        ablation.fashion_pairs(**arguments)
