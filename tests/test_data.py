"""hpml_helpers.data: the shipped real MNIST subset, the checks on it, and every loader's errors."""
import shutil

import numpy as np
import pytest

from hpml_helpers import data


def test_offline_mnist_is_the_shipped_real_subset(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty Keras cache
    mnist = data.load("mnist")
    assert mnist.x_train.shape == (8000, 28, 28) and mnist.x_test.shape == (2000, 28, 28)
    assert mnist.x_train.dtype == np.uint8 and mnist.y_train.dtype == np.uint8
    assert set(np.unique(mnist.y_train)) == set(range(10)) == set(np.unique(mnist.y_test))
    assert "shipped" in mnist.source and "HPML_OFFLINE=1" in mnist.source
    assert "shipped" in capsys.readouterr().out  # it says which one it used, in one line
    # stratified: each class has 20% of its images in the test set (within rounding)
    for digit in range(10):
        share = (mnist.y_test == digit).sum() / ((mnist.y_test == digit).sum() + (mnist.y_train == digit).sum())
        assert abs(share - 0.2) < 0.005
    # real handwriting, not noise: mostly black background, bright strokes, digits differ on average
    assert (mnist.x_train == 0).mean() > 0.7 and mnist.x_train.max() == 255
    means = np.stack([mnist.x_train[mnist.y_train == d].mean(axis=0) for d in range(10)])
    assert np.abs(means[0] - means[1]).mean() > 20


def test_train_and_test_share_no_image():
    mnist = data.load("mnist", source="subset", verbose=False)
    train = {image.tobytes() for image in mnist.x_train}
    assert sum(image.tobytes() in train for image in mnist.x_test) < 5  # MNIST has a few exact duplicates


def test_limits_shrink_the_sets():
    mnist = data.load("mnist", source="subset", num_train=100, num_test=10, verbose=False)
    assert len(mnist.x_train) == len(mnist.y_train) == 100 and len(mnist.x_test) == 10


def test_verify_names_a_corrupt_file_and_the_fix(tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(data.DATA_DIR, copy)
    assert data.verify_shipped(copy) == ["mnist_subset.npz"]
    blob = bytearray((copy / "mnist_subset.npz").read_bytes())
    blob[1000] ^= 0xFF
    (copy / "mnist_subset.npz").write_bytes(bytes(blob))
    with pytest.raises(data.DataIntegrityError, match=r"mnist_subset\.npz is corrupt.*git checkout"):
        data.verify_shipped(copy)


def test_verify_names_a_missing_file(tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(data.DATA_DIR, copy)
    (copy / "mnist_subset.npz").unlink()
    with pytest.raises(data.DataIntegrityError, match=r"mnist_subset\.npz is missing"):
        data.verify_shipped(copy)


def test_command_line_check_passes_and_fails(tmp_path, monkeypatch, capsys):
    data.main(["--verify"])
    assert "data check passed" in capsys.readouterr().out
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    monkeypatch.setattr(data.verify_shipped, "__defaults__", (tmp_path,))
    with pytest.raises(SystemExit, match="SHA256SUMS is missing"):
        data.main(["--verify"])


def test_unknown_names_and_bad_arguments_list_the_choices():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*mnist.*digits"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="source must be one of auto, full, subset"):
        data.load("mnist", source="web")
    with pytest.raises(ValueError, match="num_train must be a positive integer"):
        data.load("mnist", num_train=0)
    with pytest.raises(ValueError, match="only for 'mnist'"):
        data.load("cifar10", source="subset")
    with pytest.raises(ValueError, match="unknown sample image 'lena'.*camera"):
        data.sample_image("lena")


def test_offline_without_cache_explains_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(RuntimeError, match="fashion_mnist.*HPML_OFFLINE=1 forbids downloads.*'digits'"):
        data.load("fashion_mnist")
    with pytest.raises(RuntimeError, match="'mnist' is not in Keras's cache"):
        data.load("mnist", source="full")


def test_keras_cache_location_follows_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert data.keras_cache_dir() == tmp_path / "datasets"
    assert not data.is_cached("mnist")
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "mnist.npz").write_bytes(b"")
    assert data.is_cached("mnist")


def test_digits_from_scikit_learn():
    digits = data.load("digits", verbose=False)
    assert digits.x_train.shape[1:] == (8, 8) and len(digits.x_train) + len(digits.x_test) == 1797
    assert digits.x_train.dtype == np.uint8 and digits.x_train.max() == 255


def test_sample_images_and_float_conversion():
    camera = data.sample_image("camera")
    assert camera.shape == (512, 512) and camera.dtype == np.uint8
    grey = data.sample_image("astronaut", grey=True)
    assert grey.shape == (512, 512) and grey.dtype == np.uint8
    images = data.to_float(np.stack([camera, camera]), data_format="NCHW")
    assert images.shape == (2, 1, 512, 512) and images.dtype == np.float32 and images.max() <= 1.0
    with pytest.raises(ValueError, match="data_format"):
        data.to_float(camera[None], data_format="CHWN")
    with pytest.raises(ValueError, match="images must have shape"):
        data.to_float(camera[0])


def test_synthetic_tensors():
    images, labels = data.synthetic(num_images=4, image_shape=(32, 16, 3), num_classes=5, data_format="NCHW")
    assert images.shape == (4, 3, 32, 16) and images.dtype == np.float32
    assert labels.shape == (4,) and labels.max() < 5
    with pytest.raises(ValueError, match="image_shape"):
        data.synthetic(image_shape=(32, 32))
