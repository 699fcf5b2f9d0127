"""Datasets for the notebooks, all usable offline.

- ``load("mnist")``: the full Keras MNIST (60,000 + 10,000) when it is already in Keras's cache or can
  be downloaded (Keras checks its SHA-256), otherwise the real MNIST subset shipped in ``data/``
  (8,000 train + 2,000 test, stratified).
- ``load("fashion_mnist")``: the full Fashion-MNIST (60,000 + 10,000 clothing images, 10 classes, see
  ``FASHION_MNIST_CLASSES``), read from the first place that has all four IDX files: Keras's cache
  (``keras_cache_dir() / "fashion-mnist"``), the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``), else the copy shipped in ``data/fashion_mnist/``. It never
  downloads: the shipped copy is the full set.
- ``load("cifar10")``: Keras's loader only (cache or download).
- ``load("digits")``: scikit-learn's bundled 8x8 digits (1,797 images), split 80/20 stratified.
- ``sample_image(name)``: a photograph bundled with scikit-image ("camera", "astronaut", ...).
- ``synthetic(...)``: random tensors of a given shape for throughput measurements.
- ``verify_shipped()``: checks the files in ``data/`` against ``data/SHA256SUMS``.

``source`` picks where a dataset comes from: "auto" (the default, the order above), "full" (the full set
only: Keras's cache or a download for mnist/cifar10, any of the three places for fashion_mnist), "shipped"
(only the files in ``data/``: the MNIST subset, the full Fashion-MNIST) and "subset" (mnist only, the same
as "shipped"). ``load`` says in one line which source it used; ``HPML_OFFLINE=1`` forbids any download.
Shipped files are checked against SHA256SUMS, and every IDX file is checked (magic number, sizes) as it is
parsed; a bad file raises DataIntegrityError naming it and the command that restores it.

Images come back as uint8 arrays shaped like Keras's loaders: (N, H, W) for grey, (N, H, W, C) for
colour; ``to_float`` turns them into float32 in [0, 1] with a channel axis where the model wants it.
numpy and the argument checks are imported inside the functions, so importing this module stays cheap.
Used by notebooks 00-10 and the distributed workers.
"""
import collections
import hashlib
import os
import pathlib
import socket

DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / "data"
SHIPPED_MNIST = "mnist_subset.npz"
SHIPPED_FASHION_DIR = "fashion_mnist"  # under data/
DEBIAN_FASHION_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")  # package dataset-fashion-mnist
DATASET_NAMES = ("mnist", "fashion_mnist", "cifar10", "digits")
SOURCE_CHOICES = ("auto", "full", "shipped", "subset")
SAMPLE_IMAGES = ("astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins",
                 "grass", "gravel", "horse", "moon", "page", "rocket", "text")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")
# The four IDX files (Keras's names) and the sizes their headers must give.
FASHION_FILES = {"x_train": ("train-images-idx3-ubyte.gz", (60000, 28, 28)),
                 "y_train": ("train-labels-idx1-ubyte.gz", (60000,)),
                 "x_test": ("t10k-images-idx3-ubyte.gz", (10000, 28, 28)),
                 "y_test": ("t10k-labels-idx1-ubyte.gz", (10000,))}
IDX_MAGIC = {2051: 3, 2049: 1}  # images: (count, rows, columns); labels: (count,)
# Where Keras keeps each full dataset in its cache, and which script rebuilds each shipped file.
_KERAS_FILES = {"mnist": "mnist.npz", "fashion_mnist": "fashion-mnist", "cifar10": "cifar-10-batches-py-target"}
_BUILDERS = {SHIPPED_MNIST: "build_mnist_subset.py", SHIPPED_FASHION_DIR: "build_fashion_mnist.py"}
_DOWNLOAD_HOST = ("storage.googleapis.com", 443)
_MAX_SYNTHETIC_BYTES = 16 * 2**30

Dataset = collections.namedtuple("Dataset", "x_train y_train x_test y_test name source")
Dataset.__doc__ = "Train and test arrays, the dataset's name and where it came from (one line)."


class DataIntegrityError(RuntimeError):
    """A data file is missing, corrupt or malformed (a shipped one, or one in a cache)."""


def offline():
    """True when HPML_OFFLINE=1 forbids downloads."""
    return os.environ.get("HPML_OFFLINE", "") == "1"


def restore_hint(name):
    """How to get back the shipped file ``name`` (a path relative to data/, as in SHA256SUMS)."""
    builder = _BUILDERS.get(pathlib.PurePosixPath(name).parts[0]) if name else None
    hint = f"restore it with `git checkout -- data/{name}`"
    return hint + (f" or rebuild it with `python data/{builder}`" if builder else "") + " (see data/README.md)"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sums(data_dir=None):
    """The (sha256, name) entries of data/SHA256SUMS; a malformed line raises DataIntegrityError."""
    from .validation import check_path

    sums_file = (DATA_DIR if data_dir is None else check_path(data_dir, "data_dir")) / "SHA256SUMS"
    if not sums_file.is_file():
        raise DataIntegrityError(f"{sums_file} is missing: {restore_hint('SHA256SUMS')}")
    entries = []
    for number, line in enumerate(sums_file.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(maxsplit=1)
        where = f"{sums_file} line {number} ({line.strip()[:80]!r})"
        if len(fields) != 2:
            raise DataIntegrityError(f"{where} must be '<sha256>  <file name>': {restore_hint('SHA256SUMS')}")
        digest, name = fields[0].lower(), fields[1].strip().lstrip("*")
        if len(digest) != 64 or not all(char in "0123456789abcdef" for char in digest):
            raise DataIntegrityError(f"{where} must start with a SHA-256 of 64 hexadecimal digits, got "
                                     f"{len(digest)} characters: {restore_hint('SHA256SUMS')}")
        parts = pathlib.PurePosixPath(name).parts
        if not parts or name.startswith("/") or ".." in parts:
            raise DataIntegrityError(f"{where} must name a file inside data/: {restore_hint('SHA256SUMS')}")
        entries.append((digest, name))
    if not entries:
        raise DataIntegrityError(f"{sums_file} lists no file: {restore_hint('SHA256SUMS')}")
    return entries


def verify_shipped(data_dir=None, names=None):
    """Check the files listed in data/SHA256SUMS (only ``names`` when given, paths relative to data/);
    raise DataIntegrityError naming a missing or corrupt file and the command that restores it."""
    from .validation import check_path, check_sequence

    data_dir = DATA_DIR if data_dir is None else check_path(data_dir, "data_dir")
    entries = read_sums(data_dir)
    if names is not None:
        names = check_sequence(names, "names")
        listed = {name for _, name in entries}
        unlisted = [name for name in names if name not in listed]
        if unlisted:
            raise DataIntegrityError(f"{data_dir / 'SHA256SUMS'} does not list {', '.join(unlisted)}: "
                                     f"{restore_hint('SHA256SUMS')}")
        entries = [entry for entry in entries if entry[1] in names]
    checked = []
    for expected, name in entries:
        path = data_dir / name
        if not path.is_file():
            raise DataIntegrityError(f"shipped data file {path} is missing: {restore_hint(name)}")
        actual = _sha256(path)
        if actual != expected:
            raise DataIntegrityError(f"shipped data file {path} is corrupt (sha256 {actual[:12]}..., expected "
                                     f"{expected[:12]}... from SHA256SUMS): {restore_hint(name)}")
        checked.append(name)
    return checked


def read_idx(path, shape=None, fix="see data/README.md"):
    """A gzip-compressed IDX file as a uint8 array, checking its magic number (2051 images, 2049 labels)
    and its big-endian sizes (``shape`` when given); a bad file raises DataIntegrityError naming it."""
    import gzip
    import math
    import zlib

    import numpy as np

    from .validation import check_path, check_shape

    path = check_path(path, "path")
    shape = None if shape is None else check_shape(shape, "shape")
    try:
        with gzip.open(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise DataIntegrityError(f"{path} is not a readable gzip file ({error}): {fix}") from None
    magic = int.from_bytes(raw[:4], "big")
    if len(raw) < 4 or magic not in IDX_MAGIC:
        raise DataIntegrityError(f"{path} is not an IDX file of uint8 (magic number {magic}, expected "
                                 f"2051 for images or 2049 for labels): {fix}")
    header = 4 + 4 * IDX_MAGIC[magic]
    dims = tuple(int.from_bytes(raw[start:start + 4], "big") for start in range(4, header, 4))
    payload = len(raw) - header
    if payload < 0 or payload != math.prod(dims) or (shape is not None and dims != shape):
        raise DataIntegrityError(f"{path} is truncated or the wrong file: its header gives sizes {dims} and it "
                                 f"holds {max(payload, 0):,} data bytes"
                                 + (f", expected sizes {shape}" if shape is not None else "") + f": {fix}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _fashion_places(source, data_dir):
    """(description, folder, fix) for each place Fashion-MNIST may be, in the order load() tries them;
    the shipped copy (fix None) comes last and is always used when reached."""
    cache = keras_cache_dir() / _KERAS_FILES["fashion_mnist"]
    present = [(f"full Fashion-MNIST in Keras's cache {cache}", cache,
                f"delete {cache} (Keras downloads it again; the kit then uses its shipped copy)"),
               (f"full Fashion-MNIST of the Debian package dataset-fashion-mnist ({DEBIAN_FASHION_DIR})",
                DEBIAN_FASHION_DIR, "reinstall it with `apt-get install --reinstall dataset-fashion-mnist`")]
    shipped = (f"full Fashion-MNIST shipped in data/{SHIPPED_FASHION_DIR}/ (checked against SHA256SUMS)",
               data_dir / SHIPPED_FASHION_DIR, None)
    return (present if source in ("auto", "full") else []) + [shipped]


def _load_fashion(source, data_dir):
    names = [file_name for file_name, _ in FASHION_FILES.values()]
    for where, folder, fix in _fashion_places(source, data_dir):
        if fix is None:  # the shipped copy: its hashes first, so a bad file is named with its restore command
            verify_shipped(data_dir, [f"{SHIPPED_FASHION_DIR}/{name}" for name in names])
        elif not all((folder / name).is_file() for name in names):
            continue
        arrays = []
        for key, (file_name, shape) in FASHION_FILES.items():
            hint = fix or restore_hint(f"{SHIPPED_FASHION_DIR}/{file_name}")
            arrays.append(read_idx(folder / file_name, shape, hint))
            if key.startswith("y") and arrays[-1].max() >= len(FASHION_MNIST_CLASSES):
                raise DataIntegrityError(f"{folder / file_name} holds label {arrays[-1].max()}, Fashion-MNIST "
                                         f"has classes 0-9: {hint}")
        return tuple(arrays), where


def _load_shipped_mnist(data_dir):
    import numpy as np

    verify_shipped(data_dir, [SHIPPED_MNIST])
    path = data_dir / SHIPPED_MNIST
    with np.load(path) as arrays:
        missing = [key for key in ("x_train", "y_train", "x_test", "y_test") if key not in arrays.files]
        if missing:
            raise DataIntegrityError(f"{path} has no array {', '.join(map(repr, missing))} (it holds "
                                     f"{', '.join(arrays.files) or 'nothing'}): {restore_hint(SHIPPED_MNIST)}")
        return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


def keras_cache_dir():
    """Keras's dataset cache: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    return pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras")) / "datasets"


def is_cached(name):
    """True when Keras already has the full dataset on disk (no download needed)."""
    from .validation import check_choice

    name = check_choice(name, "name", tuple(_KERAS_FILES))
    path = keras_cache_dir() / _KERAS_FILES[name]
    if name == "fashion_mnist":
        return all((path / file_name).is_file() for file_name, _ in FASHION_FILES.values())
    return path.exists()


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


def _check_load_arguments(name, source, num_train, num_test, verbose, data_dir):
    from .validation import check_bool, check_choice, check_path, check_positive_int

    name = check_choice(name, "name", DATASET_NAMES)
    source = check_choice(source, "source", SOURCE_CHOICES)
    shipped = ("mnist", "fashion_mnist")  # the datasets with files in data/
    if source in ("shipped", "subset") and name not in shipped:
        raise ValueError(f"source={source!r} exists only for {' and '.join(map(repr, shipped))} (the files in "
                         f"data/), not {name!r}; use source='auto'")
    if source == "subset" and name != "mnist":
        raise ValueError("source='subset' exists only for 'mnist': the shipped Fashion-MNIST is the full set "
                         "(source='shipped'); num_train and num_test take fewer images")
    num_train = None if num_train is None else check_positive_int(num_train, "num_train")
    num_test = None if num_test is None else check_positive_int(num_test, "num_test")
    data_dir = DATA_DIR if data_dir is None else check_path(data_dir, "data_dir")
    if not data_dir.is_dir():
        raise ValueError(f"data_dir {str(data_dir)!r} is not a folder (leave it out to use the kit's data/)")
    return name, source, num_train, num_test, check_bool(verbose, "verbose"), data_dir


def load(name, source="auto", num_train=None, num_test=None, verbose=True, data_dir=None):
    """Load a dataset by name as uint8 arrays; ``source`` is "auto", "full", "shipped" or "subset" (see
    the module docstring), ``num_train``/``num_test`` keep the first images, ``data_dir`` replaces data/."""
    name, source, num_train, num_test, verbose, data_dir = _check_load_arguments(
        name, source, num_train, num_test, verbose, data_dir)
    if name == "digits":
        arrays, where = _load_digits(), "scikit-learn's bundled 8x8 digits (1,797 images, 80/20 split)"
    elif name == "fashion_mnist":
        arrays, where = _load_fashion(source, data_dir)
    elif source in ("auto", "full") and (is_cached(name) or _can_download()):
        arrays = _load_keras(name)
        where = f"full Keras {name} ({'cache' if is_cached(name) else 'downloaded'}, hash-checked by Keras)"
    elif name == "mnist" and source == "auto":
        arrays = _load_shipped_mnist(data_dir)
        reason = "HPML_OFFLINE=1" if offline() else "the full set is not cached and cannot be downloaded"
        where = f"shipped real MNIST subset data/{SHIPPED_MNIST} ({reason})"
    elif name == "mnist" and source in ("shipped", "subset"):
        arrays, where = _load_shipped_mnist(data_dir), f"shipped real MNIST subset data/{SHIPPED_MNIST}"
    else:
        why = "HPML_OFFLINE=1 forbids downloads" if offline() else "no connection to the download server"
        raise RuntimeError(f"dataset {name!r} is not in Keras's cache ({keras_cache_dir()}) and {why}. "
                           f"Run once with internet access (`keras.datasets.{name}.load_data()`), "
                           f"or use 'mnist' or 'fashion_mnist' (shipped) or 'digits' (bundled with scikit-learn).")
    x_train, y_train, x_test, y_test = arrays
    dataset = Dataset(x_train[:num_train], y_train[:num_train], x_test[:num_test], y_test[:num_test], name, where)
    if verbose:
        print(f"{name}: {len(dataset.x_train):,} train + {len(dataset.x_test):,} test images "
              f"{tuple(x_train.shape[1:])} from {where}")
    return dataset


def to_float(images, data_format="NHWC"):
    """uint8 images -> float32 in [0, 1] with a channel axis (NHWC for Keras, NCHW for Gluon).
    Integer images are divided by 255 (they must be 0..255); float images are taken as already scaled."""
    import numpy as np

    from .validation import check_array, check_data_format

    data_format = check_data_format(data_format)
    images = check_array(images, "images", ndim=(3, 4), kinds="uif")
    if images.dtype.kind in "ui" and (images.min() < 0 or images.max() > 255):
        raise ValueError(f"images of integers must be grey levels 0..255, got {images.min()}..{images.max()}")
    if images.ndim == 3:
        images = images[..., np.newaxis]
    scale = 255.0 if images.dtype.kind in "ui" else 1.0
    images = images.astype(np.float32) / np.float32(scale)
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)) if data_format == "NCHW" else images


def sample_image(name="camera", grey=False):
    """A photograph bundled with scikit-image, as uint8; ``grey=True`` converts colour to grey."""
    from .validation import check_bool, check_choice

    name = check_choice(name, "name", SAMPLE_IMAGES)
    grey = check_bool(grey, "grey")
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

    from .validation import check_data_format, check_positive_int, check_seed, check_shape

    num_images = check_positive_int(num_images, "num_images")
    height, width, channels = check_shape(image_shape, "image_shape", length=3)
    num_classes = check_positive_int(num_classes, "num_classes")
    data_format = check_data_format(data_format)
    seed = check_seed(seed, "seed")
    size = num_images * height * width * channels * 4
    if size > _MAX_SYNTHETIC_BYTES:
        raise ValueError(f"num_images={num_images} of image_shape={tuple(image_shape)} would take "
                         f"{size / 2**30:.0f} GiB; synthetic() makes at most {_MAX_SYNTHETIC_BYTES // 2**30} GiB")
    rng = np.random.default_rng(seed)
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
