"""hpml_helpers.data refuses bad arguments and bad data files with an error that names the argument or
the file (and, for a file, the command that restores it), before any loading work."""
import gzip
import hashlib
import io

import numpy as np
import pytest

from hpml_helpers import data

GOOD_DIGEST = "0" * 64
IMAGES = np.zeros((2, 4, 4), dtype=np.uint8)

BAD_CALLS = [
    # load: name, source, counts, verbose, data_dir
    (lambda: data.load("imagenet"), ValueError, r"name must be one of 'mnist'.*got 'imagenet'"),
    (lambda: data.load(None), ValueError, r"name must be one of .*got None"),
    (lambda: data.load(3), ValueError, r"name must be one of .*got 3"),
    (lambda: data.load("mnist", source="web"), ValueError, r"source must be one of 'auto'.*got 'web'"),
    (lambda: data.load("mnist", source=None), ValueError, r"source must be one of .*got None"),
    (lambda: data.load("cifar10", source="shipped"), ValueError, r"source='shipped' exists only for 'mnist'"),
    (lambda: data.load("digits", source="subset"), ValueError, r"source='subset' exists only for 'mnist'"),
    (lambda: data.load("fashion_mnist", source="subset"), ValueError, r"only for 'mnist'.*source='shipped'"),
    (lambda: data.load("mnist", num_train=True), TypeError, r"num_train must be an integer, got True"),
    (lambda: data.load("mnist", num_train="100"), TypeError, r"num_train must be an integer, got '100'"),
    (lambda: data.load("mnist", num_train=0), ValueError, r"num_train must be an integer >= 1, got 0"),
    (lambda: data.load("mnist", num_train=-5), ValueError, r"num_train must be an integer >= 1, got -5"),
    (lambda: data.load("mnist", num_train=10.0), TypeError, r"num_train must be an integer, got 10\.0"),
    (lambda: data.load("mnist", num_test=False), TypeError, r"num_test must be an integer, got False"),
    (lambda: data.load("mnist", num_test="all"), TypeError, r"num_test must be an integer, got 'all'"),
    (lambda: data.load("mnist", num_test=0), ValueError, r"num_test must be an integer >= 1"),
    (lambda: data.load("mnist", num_test=-1), ValueError, r"num_test must be an integer >= 1"),
    (lambda: data.load("mnist", num_test=2.5), TypeError, r"num_test must be an integer, got 2\.5"),
    (lambda: data.load("mnist", verbose="yes"), TypeError, r"verbose must be True or False, got 'yes'"),
    (lambda: data.load("mnist", data_dir=3), TypeError, r"data_dir must be a file path"),
    (lambda: data.verify_shipped(names="mnist_subset.npz"), TypeError, r"names must be a list or tuple"),
    (lambda: data.verify_shipped(names=["x.npz"]), data.DataIntegrityError, r"SHA256SUMS does not list x\.npz"),
    (lambda: data.verify_shipped(data_dir=5), TypeError, r"data_dir must be a file path"),
    (lambda: data.read_idx(None), TypeError, r"path must be a file path"),
    (lambda: data.read_idx("x.gz", shape=(0, 28)), ValueError, r"shape must hold positive integers"),
    (lambda: data.is_cached("digits"), ValueError, r"name must be one of 'mnist', 'fashion_mnist', 'cifar10'"),
    # to_float: images and data_format
    (lambda: data.to_float(None), TypeError, r"images must be an array of numbers, got None"),
    (lambda: data.to_float(np.full((1, 2, 2), np.nan)), ValueError, r"images must hold finite numbers"),
    (lambda: data.to_float(np.zeros((0, 28, 28), np.uint8)), ValueError, r"images must not be empty"),
    (lambda: data.to_float(np.zeros((28, 28), np.uint8)), ValueError, r"images must have 3 or 4 dimensions"),
    (lambda: data.to_float(np.zeros((1, 1, 2, 2, 1))), ValueError, r"images must have 3 or 4 dimensions"),
    (lambda: data.to_float([["a", "b"]]), TypeError, r"images must hold numbers"),
    (lambda: data.to_float(np.ones((1, 2, 2), bool)), TypeError, r"images must hold numbers"),
    (lambda: data.to_float(np.full((1, 2, 2), 300)), ValueError, r"images of integers must be grey levels 0\.\.255"),
    (lambda: data.to_float(IMAGES, data_format="CHWN"), ValueError, r"data_format must be one of 'nhwc', 'nchw'"),
    (lambda: data.to_float(IMAGES, data_format=None), TypeError, r"data_format must be a string"),
    # synthetic: every argument
    (lambda: data.synthetic(num_images=0), ValueError, r"num_images must be an integer >= 1"),
    (lambda: data.synthetic(num_images=True), TypeError, r"num_images must be an integer, got True"),
    (lambda: data.synthetic(num_images="8"), TypeError, r"num_images must be an integer, got '8'"),
    (lambda: data.synthetic(num_images=8.0), TypeError, r"num_images must be an integer, got 8\.0"),
    (lambda: data.synthetic(num_classes=0), ValueError, r"num_classes must be an integer >= 1"),
    (lambda: data.synthetic(num_classes=None), TypeError, r"num_classes must be an integer, got None"),
    (lambda: data.synthetic(image_shape=(32, 32)), ValueError, r"image_shape must have 3 entries"),
    (lambda: data.synthetic(image_shape=(32, 0, 3)), ValueError, r"image_shape must hold positive integers"),
    (lambda: data.synthetic(image_shape=(32, 32.0, 3)), ValueError, r"image_shape must hold positive integers"),
    (lambda: data.synthetic(image_shape="32x32x3"), TypeError, r"image_shape must be a list or tuple"),
    (lambda: data.synthetic(image_shape=None), TypeError, r"image_shape must be a list or tuple"),
    (lambda: data.synthetic(seed=-1), ValueError, r"seed must be an integer >= 0"),
    (lambda: data.synthetic(seed=1.5), TypeError, r"seed must be an integer, got 1\.5"),
    (lambda: data.synthetic(seed="0"), TypeError, r"seed must be an integer, got '0'"),
    (lambda: data.synthetic(data_format="NWHC"), ValueError, r"data_format must be one of 'nhwc', 'nchw'"),
    (lambda: data.synthetic(num_images=10**6), ValueError, r"num_images=1000000 .* would take 561 GiB"),
    # sample_image
    (lambda: data.sample_image("lena"), ValueError, r"name must be one of 'astronaut'.*got 'lena'"),
    (lambda: data.sample_image(None), ValueError, r"name must be one of .*got None"),
    (lambda: data.sample_image("camera", grey="yes"), TypeError, r"grey must be True or False, got 'yes'"),
    (lambda: data.sample_image("camera", grey=1), TypeError, r"grey must be True or False, got 1"),
]


@pytest.mark.parametrize("call, error, pattern", BAD_CALLS, ids=[f"call{i}" for i in range(len(BAD_CALLS))])
def test_bad_argument_is_named(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


BAD_SUMS = [
    ("mnist_subset.npz\n", r"SHA256SUMS line 1 .* must be '<sha256>  <file name>'"),
    (f"{GOOD_DIGEST}  mnist_subset.npz\n{GOOD_DIGEST}\n", r"SHA256SUMS line 2 .* must be '<sha256>  <file name>'"),
    ("z" * 64 + "  mnist_subset.npz\n", r"SHA256SUMS line 1 .* 64 hexadecimal digits"),
    ("abc123  mnist_subset.npz\n", r"SHA256SUMS line 1 .* 64 hexadecimal digits, got 6 characters"),
    (f"\n\n{GOOD_DIGEST}0  mnist_subset.npz\n", r"SHA256SUMS line 3 .* got 65 characters"),
    (f"{GOOD_DIGEST}  ../secrets.txt\n", r"SHA256SUMS line 1 .* must name a file inside data/"),
    (f"{GOOD_DIGEST}  /etc/passwd\n", r"SHA256SUMS line 1 .* must name a file inside data/"),
    ("\n# only a comment\n", r"SHA256SUMS lists no file"),
    (f"{GOOD_DIGEST}  absent.npz\n", r"absent\.npz is missing: restore it with `git checkout -- data/absent\.npz`"),
]


@pytest.mark.parametrize("text, pattern", BAD_SUMS, ids=[f"sums{i}" for i in range(len(BAD_SUMS))])
def test_malformed_sha256sums_names_the_line(tmp_path, text, pattern):
    (tmp_path / "SHA256SUMS").write_text(text)
    with pytest.raises(data.DataIntegrityError, match=pattern) as raised:
        data.verify_shipped(tmp_path)
    assert "git checkout -- data/" in str(raised.value)  # and says how to restore it


def test_an_npz_without_a_key_is_named_with_the_key(tmp_path):
    buffer = io.BytesIO()
    np.savez(buffer, x_train=IMAGES, y_train=np.zeros(2, np.uint8), x_test=IMAGES)
    (tmp_path / "mnist_subset.npz").write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  mnist_subset.npz\n")
    with pytest.raises(data.DataIntegrityError, match=r"mnist_subset\.npz has no array 'y_test'.*"
                                                      r"build_mnist_subset\.py"):
        data.load("mnist", source="shipped", data_dir=tmp_path, verbose=False)


def idx_bytes(magic, dims, payload):
    header = magic.to_bytes(4, "big") + b"".join(size.to_bytes(4, "big") for size in dims)
    return header + bytes(payload)


BAD_IDX = [
    (gzip.compress(idx_bytes(2052, (2, 4, 4), 32)), None, r"magic number 2052, expected 2051 for images"),
    (gzip.compress(idx_bytes(2051, (2, 4, 4), 31)), None, r"truncated or the wrong file.*sizes \(2, 4, 4\).*31"),
    (gzip.compress(idx_bytes(2051, (2, 4, 4), 33)), None, r"truncated or the wrong file"),
    (gzip.compress(idx_bytes(2049, (5,), 5)), (6,), r"sizes \(5,\).*expected sizes \(6,\)"),
    (gzip.compress(b"\x00\x00"), None, r"magic number 0"),
    (gzip.compress(idx_bytes(2051, (), 0))[:-6], None, r"not a readable gzip file"),
    (b"not gzip at all", None, r"not a readable gzip file"),
]


@pytest.mark.parametrize("blob, shape, pattern", BAD_IDX, ids=[f"idx{i}" for i in range(len(BAD_IDX))])
def test_a_bad_idx_file_is_named_with_the_fix(tmp_path, blob, shape, pattern):
    path = tmp_path / "some-idx1-ubyte.gz"
    path.write_bytes(blob)
    with pytest.raises(data.DataIntegrityError, match=r"some-idx1-ubyte\.gz .*" + pattern + r".*the fix"):
        data.read_idx(path, shape, fix="the fix")


def test_a_good_idx_file_is_read(tmp_path):
    path = tmp_path / "good-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(2051, (2, 3, 4), 0) + bytes(range(24))))
    array = data.read_idx(path, (2, 3, 4))
    assert array.dtype == np.uint8 and array.shape == (2, 3, 4) and array[1, 2, 3] == 23
