"""Datasets for the notebooks, all usable offline.

- ``load("mnist")``: the full Keras MNIST (60,000 + 10,000) when it is already in Keras's cache or can
  be downloaded (Keras checks its SHA-256), otherwise the real MNIST subset shipped in ``data/``
  (8,000 train + 2,000 test, stratified). It says in one line which one it used. ``HPML_OFFLINE=1``
  forbids any download.
- ``load("fashion_mnist")`` and ``load("cifar10")``: Keras's loaders only (cache or download).
- ``load("digits")``: scikit-learn's bundled 8x8 digits (1,797 images), split 80/20 stratified.
- ``sample_image(name)``: a photograph bundled with scikit-image ("camera", "astronaut", ...).
- ``synthetic(...)``: random tensors of a given shape for throughput measurements.
- ``verify_shipped()``: checks the files in ``data/`` against ``data/SHA256SUMS``.

Images come back as uint8 arrays shaped like Keras's loaders: (N, H, W) for grey, (N, H, W, C) for
colour; ``to_float`` turns them into float32 in [0, 1] with a channel axis where the model wants it.
Used by notebooks 00-10 and the distributed workers.
"""
import collections
import hashlib
import os
import pathlib
import socket

DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / "data"
SHIPPED_MNIST = "mnist_subset.npz"
DATASET_NAMES = ("mnist", "fashion_mnist", "cifar10", "digits")
SOURCE_CHOICES = ("auto", "full", "subset")
SAMPLE_IMAGES = ("astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins",
                 "grass", "gravel", "horse", "moon", "page", "rocket", "text")
# Where Keras keeps its downloads, and the file name of each full dataset in that cache.
_KERAS_FILES = {"mnist": "mnist.npz", "fashion_mnist": "fashion-mnist", "cifar10": "cifar-10-batches-py-target"}
_DOWNLOAD_HOST = ("storage.googleapis.com", 443)

Dataset = collections.namedtuple("Dataset", "x_train y_train x_test y_test name source")
Dataset.__doc__ = "Train and test arrays, the dataset's name and where it came from (one line)."


class DataIntegrityError(RuntimeError):
    """A shipped data file is missing or does not match its recorded SHA-256."""


def offline():
    """True when HPML_OFFLINE=1 forbids downloads."""
    return os.environ.get("HPML_OFFLINE", "") == "1"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_shipped(data_dir=DATA_DIR):
    """Check every file listed in data/SHA256SUMS; raise DataIntegrityError naming a bad file."""
    data_dir = pathlib.Path(data_dir)
    sums_file = data_dir / "SHA256SUMS"
    if not sums_file.exists():
        raise DataIntegrityError(f"{sums_file} is missing: restore it with `git checkout -- data/`")
    checked = []
    for line in sums_file.read_text().splitlines():
        if not line.strip():
            continue
        expected, name = line.split(maxsplit=1)
        path = data_dir / name.lstrip("*")
        fix = (f"restore it with `git checkout -- data/{path.name}` or rebuild it with "
               f"`python data/build_mnist_subset.py` (see data/README.md)")
        if not path.exists():
            raise DataIntegrityError(f"shipped data file {path} is missing: {fix}")
        actual = _sha256(path)
        if actual != expected:
            raise DataIntegrityError(f"shipped data file {path} is corrupt (sha256 {actual[:12]}..., "
                                     f"expected {expected[:12]}... from SHA256SUMS): {fix}")
        checked.append(path.name)
    return checked


def _load_shipped_mnist(data_dir=DATA_DIR):
    import numpy as np

    verify_shipped(data_dir)
    with np.load(pathlib.Path(data_dir) / SHIPPED_MNIST) as arrays:
        return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


def keras_cache_dir():
    """Keras's dataset cache: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    return pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras")) / "datasets"


def is_cached(name):
    """True when Keras already has the full dataset on disk (no download needed)."""
    return (keras_cache_dir() / _KERAS_FILES[name]).exists()


def _can_download(timeout=3.0):
    """A quick reachability probe, so an offline machine fails fast instead of hanging in Keras."""
    if offline():
        return False
    try:
        with socket.create_connection(_DOWNLOAD_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _load_keras(name):
    from keras import datasets

    loader = getattr(datasets, name)
    (x_train, y_train), (x_test, y_test) = loader.load_data()
    return x_train, y_train.reshape(-1), x_test, y_test.reshape(-1)


def _load_digits(seed=0):
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # 0..16 grey levels -> 0..255 so every dataset here has the same uint8 range
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target.astype(np.uint8), test_size=0.2, stratify=digits.target, random_state=seed)
    return x_train, y_train, x_test, y_test


def _limit(arrays, num_train, num_test):
    x_train, y_train, x_test, y_test = arrays
    return x_train[:num_train], y_train[:num_train], x_test[:num_test], y_test[:num_test]


def _check_count(value, name):
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")


def load(name, source="auto", num_train=None, num_test=None, verbose=True):
    """Load a dataset by name as uint8 arrays; ``source`` is "auto", "full" (Keras) or "subset" (shipped)."""
    if not isinstance(name, str) or name not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASET_NAMES)}")
    if source not in SOURCE_CHOICES:
        raise ValueError(f"source must be one of {', '.join(SOURCE_CHOICES)}; got {source!r}")
    if source == "subset" and name != "mnist":
        raise ValueError(f"source='subset' exists only for 'mnist' (the kit ships an MNIST subset), not {name!r}")
    _check_count(num_train, "num_train")
    _check_count(num_test, "num_test")

    if name == "digits":
        arrays, where = _load_digits(), "scikit-learn's bundled 8x8 digits (1,797 images, 80/20 split)"
    elif source != "subset" and (is_cached(name) or _can_download()):
        arrays = _load_keras(name)
        where = f"full Keras {name} ({'cache' if is_cached(name) else 'downloaded'}, hash-checked by Keras)"
    elif name == "mnist" and source == "auto":
        arrays = _load_shipped_mnist()
        reason = "HPML_OFFLINE=1" if offline() else "the full set is not cached and cannot be downloaded"
        where = f"shipped real MNIST subset data/{SHIPPED_MNIST} ({reason})"
    elif name == "mnist" and source == "subset":
        arrays, where = _load_shipped_mnist(), f"shipped real MNIST subset data/{SHIPPED_MNIST}"
    else:
        why = "HPML_OFFLINE=1 forbids downloads" if offline() else "no connection to the download server"
        raise RuntimeError(f"dataset {name!r} is not in Keras's cache ({keras_cache_dir()}) and {why}. "
                           f"Run once with internet access (`keras.datasets.{name}.load_data()`), "
                           f"or use 'mnist' (shipped subset) or 'digits' (bundled with scikit-learn).")
    x_train, y_train, x_test, y_test = _limit(arrays, num_train, num_test)
    dataset = Dataset(x_train, y_train, x_test, y_test, name, where)
    if verbose:
        print(f"{name}: {len(x_train):,} train + {len(x_test):,} test images "
              f"{tuple(x_train.shape[1:])} from {where}")
    return dataset


def to_float(images, data_format="NHWC"):
    """uint8 images -> float32 in [0, 1] with a channel axis (NHWC for Keras, NCHW for Gluon)."""
    import numpy as np

    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C), got {images.shape}")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    images = images.astype(np.float32) / scale
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)) if data_format == "NCHW" else images


def sample_image(name="camera", grey=False):
    """A photograph bundled with scikit-image, as uint8; ``grey=True`` converts colour to grey."""
    if not isinstance(name, str) or name not in SAMPLE_IMAGES:
        raise ValueError(f"unknown sample image {name!r}; choose one of: {', '.join(SAMPLE_IMAGES)}")
    import numpy as np
    import skimage.data

    image = getattr(skimage.data, name)()
    if grey and image.ndim == 3:
        from skimage.color import rgb2gray

        image = np.rint(rgb2gray(image[..., :3]) * 255).astype(np.uint8)
    return image


def synthetic(num_images=256, image_shape=(224, 224, 3), num_classes=1000, data_format="NHWC", seed=0):
    """Random float32 images and int labels, for throughput work where content does not matter."""
    import numpy as np

    _check_count(num_images, "num_images")
    _check_count(num_classes, "num_classes")
    if (not isinstance(image_shape, (tuple, list)) or len(image_shape) != 3
            or not all(isinstance(size, int) and size > 0 for size in image_shape)):
        raise ValueError(f"image_shape must be (height, width, channels) of positive ints, got {image_shape!r}")
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    rng = np.random.default_rng(seed)
    height, width, channels = image_shape
    shape = (num_images, height, width, channels) if data_format == "NHWC" else (num_images, channels, height, width)
    images = rng.random(shape, dtype=np.float32)
    labels = rng.integers(0, num_classes, size=num_images).astype(np.int64)
    return images, labels


def main(argv=None):
    """Command line: ``python -m hpml_helpers.data --verify`` checks the shipped files."""
    import argparse

    parser = argparse.ArgumentParser(description="HPML-CNN data checks")
    parser.add_argument("--verify", action="store_true", help="check data/ against data/SHA256SUMS")
    args = parser.parse_args(argv)
    if args.verify:
        try:
            names = verify_shipped()
        except DataIntegrityError as error:
            raise SystemExit(f"data check failed: {error}")
        print(f"data check passed: {', '.join(names)} match data/SHA256SUMS")
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
