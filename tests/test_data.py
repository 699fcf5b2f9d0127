"""hpml_helpers.data: the shipped real MNIST subset and full Fashion-MNIST, the order of the places a dataset
comes from, the integrity checks on the shipped files, and every loader's errors."""
import gzip
import shutil

import numpy as np
import pytest

from hpml_helpers import data


SHIPPED_NAMES = ["mnist_subset.npz"] + [f"fashion_mnist/{name}" for name, _ in data.FASHION_FILES.values()]


@pytest.fixture
def no_full_sets(monkeypatch, tmp_path):
    """Offline, an empty Keras cache and no Debian package: only the shipped files are left."""
    monkeypatch.setenv("HPML_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "no-debian-package")
    return tmp_path


def copy_of_data_dir(tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(data.DATA_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return copy


def flip_a_byte(path, offset=1000):
    blob = bytearray(path.read_bytes())
    blob[offset] ^= 0xFF
    path.write_bytes(bytes(blob))


def fashion_folder_of_links(folder):
    """A folder holding the four shipped Fashion-MNIST files, as symbolic links."""
    folder.mkdir(parents=True)
    for name, _ in data.FASHION_FILES.values():
        (folder / name).symlink_to(data.DATA_DIR / "fashion_mnist" / name)
    return folder


def test_offline_mnist_is_the_shipped_real_subset(no_full_sets, capsys):
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


def test_offline_fashion_mnist_is_the_full_shipped_set(no_full_sets, capsys):
    fashion = data.load("fashion_mnist")
    assert fashion.x_train.shape == (60000, 28, 28) and fashion.x_test.shape == (10000, 28, 28)
    assert fashion.x_train.dtype == fashion.y_train.dtype == fashion.x_test.dtype == np.uint8
    assert fashion.y_train.shape == (60000,) and fashion.y_test.shape == (10000,)
    assert set(np.unique(fashion.y_train)) == set(range(10)) == set(np.unique(fashion.y_test))
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10  # Fashion-MNIST is balanced
    assert "shipped in data/fashion_mnist" in fashion.source
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "60,000 train + 10,000 test" in out and "shipped" in out
    # clothing, not noise: trousers (1) and bags (8) differ on average, pixels use the whole range
    means = np.stack([fashion.x_train[fashion.y_train == c].mean(axis=0) for c in range(10)])
    assert np.abs(means[1] - means[8]).mean() > 20 and fashion.x_train.max() == 255
    assert fashion.x_train.flags.writeable  # a normal array, like Keras's loader gives
    assert len(data.FASHION_MNIST_CLASSES) == 10


def test_shipped_and_full_sources_agree_for_fashion_mnist(no_full_sets):
    shipped = data.load("fashion_mnist", source="shipped", num_train=500, num_test=50, verbose=False)
    full = data.load("fashion_mnist", source="full", num_train=500, num_test=50, verbose=False)
    assert len(shipped.x_train) == 500 and len(shipped.x_test) == 50
    assert np.array_equal(shipped.x_train, full.x_train) and np.array_equal(shipped.y_test, full.y_test)


def test_a_corrupt_shipped_fashion_file_is_named_with_its_restore_command(no_full_sets):
    copy = copy_of_data_dir(no_full_sets)
    flip_a_byte(copy / "fashion_mnist" / "t10k-images-idx3-ubyte.gz")
    pattern = (r"t10k-images-idx3-ubyte\.gz is corrupt.*git checkout -- data/fashion_mnist/"
               r"t10k-images-idx3-ubyte\.gz.*python data/build_fashion_mnist\.py")
    with pytest.raises(data.DataIntegrityError, match=pattern):
        data.load("fashion_mnist", data_dir=copy)
    with pytest.raises(data.DataIntegrityError, match=pattern):
        data.verify_shipped(copy)
    assert data.load("mnist", data_dir=copy, verbose=False).x_train.shape == (8000, 28, 28)  # others unaffected


def test_a_missing_shipped_fashion_file_is_named(no_full_sets):
    copy = copy_of_data_dir(no_full_sets)
    (copy / "fashion_mnist" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DataIntegrityError,
                       match=r"train-labels-idx1-ubyte\.gz is missing.*build_fashion_mnist\.py"):
        data.load("fashion_mnist", data_dir=copy)


def test_keras_cache_is_preferred_over_the_shipped_copy(no_full_sets, capsys):
    cache = fashion_folder_of_links(no_full_sets / "keras-home" / "datasets" / "fashion-mnist")
    assert data.is_cached("fashion_mnist")
    corrupt = copy_of_data_dir(no_full_sets)  # proves the shipped copy is not even read
    flip_a_byte(corrupt / "fashion_mnist" / "train-images-idx3-ubyte.gz")
    fashion = data.load("fashion_mnist", num_train=10, num_test=10, data_dir=corrupt)
    assert "Keras's cache" in fashion.source and str(cache) in fashion.source
    assert "Keras's cache" in capsys.readouterr().out
    with pytest.raises(data.DataIntegrityError, match="corrupt"):  # source="shipped" skips the cache
        data.load("fashion_mnist", source="shipped", data_dir=corrupt)


def test_debian_package_comes_after_the_cache_and_before_the_shipped_copy(no_full_sets, monkeypatch):
    debian = fashion_folder_of_links(no_full_sets / "usr-share-datasets" / "fashion-mnist")
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", debian)
    fashion = data.load("fashion_mnist", num_train=10, num_test=10, verbose=False)
    assert "Debian package dataset-fashion-mnist" in fashion.source
    fashion_folder_of_links(no_full_sets / "keras-home" / "datasets" / "fashion-mnist")
    assert "Keras's cache" in data.load("fashion_mnist", num_train=1, num_test=1, verbose=False).source


def test_an_incomplete_keras_cache_is_skipped(no_full_sets):
    cache = no_full_sets / "keras-home" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    (cache / "train-images-idx3-ubyte.gz").symlink_to(data.DATA_DIR / "fashion_mnist" / "train-images-idx3-ubyte.gz")
    assert not data.is_cached("fashion_mnist")
    assert "shipped" in data.load("fashion_mnist", num_train=1, num_test=1, verbose=False).source


def test_a_corrupt_keras_cache_file_says_how_to_fix_it(no_full_sets):
    cache = fashion_folder_of_links(no_full_sets / "keras-home" / "datasets" / "fashion-mnist")
    (cache / "t10k-labels-idx1-ubyte.gz").unlink()
    with gzip.open(cache / "t10k-labels-idx1-ubyte.gz", "wb") as stream:  # image magic in a label file
        stream.write((2051).to_bytes(4, "big") + (10000).to_bytes(4, "big") + bytes(10000))
    with pytest.raises(data.DataIntegrityError, match=r"t10k-labels-idx1-ubyte\.gz is truncated or the wrong "
                                                      r"file.*delete .*fashion-mnist"):
        data.load("fashion_mnist")
    with gzip.open(cache / "t10k-labels-idx1-ubyte.gz", "wb") as stream:  # a label out of 0-9
        stream.write((2049).to_bytes(4, "big") + (10000).to_bytes(4, "big") + bytes([12]) + bytes(9999))
    with pytest.raises(data.DataIntegrityError, match=r"t10k-labels-idx1-ubyte\.gz holds label 12.*delete"):
        data.load("fashion_mnist")


def test_verify_names_a_corrupt_file_and_the_fix(tmp_path):
    copy = copy_of_data_dir(tmp_path)
    assert data.verify_shipped(copy) == SHIPPED_NAMES
    flip_a_byte(copy / "mnist_subset.npz")
    with pytest.raises(data.DataIntegrityError,
                       match=r"mnist_subset\.npz is corrupt.*git checkout -- data/mnist_subset\.npz.*"
                             r"build_mnist_subset\.py"):
        data.verify_shipped(copy)
    assert data.verify_shipped(copy, names=SHIPPED_NAMES[1:]) == SHIPPED_NAMES[1:]  # only the files asked for


def test_verify_names_a_missing_file(tmp_path):
    copy = copy_of_data_dir(tmp_path)
    (copy / "mnist_subset.npz").unlink()
    with pytest.raises(data.DataIntegrityError, match=r"mnist_subset\.npz is missing"):
        data.verify_shipped(copy)


def test_shipped_files_are_what_sha256sums_lists():
    listed = [name for _, name in data.read_sums()]
    assert listed == SHIPPED_NAMES
    size = sum((data.DATA_DIR / name).stat().st_size for name in listed)
    assert size < 35 * 2**20  # the kit's data stays small enough for a repository


def test_command_line_check_passes_and_fails(tmp_path, monkeypatch, capsys):
    data.main(["--verify"])
    out = capsys.readouterr().out
    assert "data check passed" in out and "fashion_mnist/train-images-idx3-ubyte.gz" in out
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    with pytest.raises(SystemExit, match="SHA256SUMS is missing.*git checkout -- data/SHA256SUMS"):
        data.main(["--verify"])


def test_unknown_names_and_bad_arguments_list_the_choices():
    with pytest.raises(ValueError, match="name must be one of 'mnist'.*'digits'; got 'imagenet'"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="source must be one of 'auto', 'full', 'shipped', 'subset'"):
        data.load("mnist", source="web")
    with pytest.raises(ValueError, match="num_train must be an integer >= 1"):
        data.load("mnist", num_train=0)
    with pytest.raises(ValueError, match="only for 'mnist' and 'fashion_mnist'"):
        data.load("cifar10", source="subset")
    with pytest.raises(ValueError, match="source='subset' exists only for 'mnist'.*source='shipped'"):
        data.load("fashion_mnist", source="subset")
    with pytest.raises(ValueError, match="name must be one of 'astronaut'.*'camera'.*got 'lena'"):
        data.sample_image("lena")


def test_offline_without_cache_explains_what_to_do(no_full_sets):
    with pytest.raises(RuntimeError, match="cifar10.*HPML_OFFLINE=1 forbids downloads.*'digits'"):
        data.load("cifar10")
    with pytest.raises(RuntimeError, match="'mnist' is not in Keras's cache"):
        data.load("mnist", source="full")


def test_keras_cache_location_follows_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert data.keras_cache_dir() == tmp_path / "datasets"
    assert not data.is_cached("mnist") and not data.is_cached("fashion_mnist")
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
    with pytest.raises(ValueError, match="images must have 3 or 4 dimensions"):
        data.to_float(camera[0])
    assert data.to_float(np.full((1, 2, 2), 255, dtype=np.int64)).max() == 1.0  # any integer type is 0..255


def test_synthetic_tensors():
    images, labels = data.synthetic(num_images=4, image_shape=(32, 16, 3), num_classes=5, data_format="NCHW")
    assert images.shape == (4, 3, 32, 16) and images.dtype == np.float32
    assert labels.shape == (4,) and labels.max() < 5
    with pytest.raises(ValueError, match="image_shape"):
        data.synthetic(image_shape=(32, 32))
