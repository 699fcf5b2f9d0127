"""Tests for hpml_helpers.conv: checked against tf.nn.conv2d, MXNet's Convolution and scikit-image.

Like micrograd checks itself against PyTorch, the kit's convolution is compared with two frameworks on
a few hundred random layers (batch, channels, non-square images and kernels, strides, every padding
form), then the naive loops against im2col, the patch matrix, the output-size formula, Sobel against
scikit-image, and every argument check.
"""
import numpy as np
import pytest

from hpml_helpers import conv

NUM_RANDOM_CASES = 240
TOLERANCE = 1e-5  # float32 results, error relative to the largest reference value


def relative_error(result, reference):
    """max|result - reference| / max|reference|: a norm-based error that tiny outputs cannot inflate."""
    reference = np.asarray(reference, np.float64)
    scale = max(np.abs(reference).max(), np.finfo(np.float32).tiny)
    return np.abs(np.asarray(result, np.float64) - reference).max() / scale


def random_case(rng):
    """One random layer: small enough that 240 of them run in seconds in TF and MXNet."""
    batch = int(rng.integers(1, 9))
    in_channels, out_channels = (int(c) for c in rng.choice([1, 2, 3, 5, 8, 16, 32, 64], size=2))
    height, width = (int(n) for n in rng.integers(4, 20, size=2))
    if batch * in_channels * out_channels > 2048:  # keep the big-channel cases to a few images
        batch = 1
    kernel_height = int(rng.integers(1, min(5, height) + 1))
    kernel_width = int(rng.integers(1, min(5, width) + 1))
    # stride 1 takes conv2d_im2col's fast path (kernel rows), any other stride the patch chunks
    stride = (1, 1) if rng.random() < 0.4 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    choice = rng.integers(0, 5)
    if choice == 0:
        padding = "valid"
    elif choice == 1:
        padding = "same"
    elif choice == 2:
        padding = int(rng.integers(0, 3))
    elif choice == 3:
        padding = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    else:
        padding = tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(2))
    images = rng.standard_normal((batch, height, width, in_channels)).astype(np.float32)
    kernel = rng.standard_normal((kernel_height, kernel_width, in_channels, out_channels)).astype(np.float32)
    return images, kernel, stride, padding


def explicit_pads(images, kernel, stride, padding):
    """((top, bottom), (left, right)) for any padding form, via the module's own "same" rule."""
    return conv._padding_pairs(padding, kernel.shape[:2], images.shape[1:3], stride)


def tf_reference(tf, images, kernel, stride, padding):
    """tf.nn.conv2d in float64 (NHWC): the reference the float32 results are measured against."""
    if isinstance(padding, str):
        tf_padding = padding.upper()
    else:
        (top, bottom), (left, right) = explicit_pads(images, kernel, stride, padding)
        tf_padding = [[0, 0], [top, bottom], [left, right], [0, 0]]
    return tf.nn.conv2d(images.astype(np.float64), kernel.astype(np.float64), strides=stride,
                        padding=tf_padding).numpy()


def mxnet_convolution(mx, images_nchw, kernel, stride, pads):
    """mx.nd.Convolution (NCHW, OIHW, no bias); asymmetric padding is applied with np.pad first."""
    (top, bottom), (left, right) = pads
    if top == bottom and left == right:
        mx_pad = (top, left)
    else:  # MXNet pads symmetrically only
        images_nchw = np.pad(images_nchw, ((0, 0), (0, 0), (top, bottom), (left, right)))
        mx_pad = (0, 0)
    output = mx.nd.Convolution(data=mx.nd.array(images_nchw), weight=mx.nd.array(kernel.transpose(3, 2, 0, 1)),
                               kernel=kernel.shape[:2], stride=stride, pad=mx_pad,
                               num_filter=kernel.shape[3], no_bias=True)
    return output.asnumpy()


@pytest.fixture(scope="module")
def tf():
    tensorflow = pytest.importorskip("tensorflow")
    return tensorflow


@pytest.fixture(scope="module")
def mx():
    return pytest.importorskip("mxnet")


@pytest.fixture(scope="module")
def random_cases():
    rng = np.random.default_rng(20240611)
    return [random_case(rng) for _ in range(NUM_RANDOM_CASES)]


# ---- against the frameworks ------------------------------------------------------------------


def test_im2col_conv_matches_tensorflow(tf, random_cases):
    worst = 0.0
    for index, (images, kernel, stride, padding) in enumerate(random_cases):
        reference = tf_reference(tf, images, kernel, stride, padding)
        result = conv.conv2d_im2col(images, kernel, stride, padding)
        assert result.dtype == np.float32
        assert result.shape == reference.shape, (index, stride, padding)
        error = relative_error(result, reference)
        worst = max(worst, error)
        assert error < TOLERANCE, (index, images.shape, kernel.shape, stride, padding, error)
    # float32 rounding, not an algorithmic difference, should be all that is left
    assert worst > 0


def test_fast_path_uses_numpys_blas_and_its_numpy_fallback_agrees(tf, random_cases, monkeypatch):
    from hpml_helpers import conv_gemm

    # The kit's environment has numpy's OpenBLAS: the in-place CBLAS GEMM must be the one in use.
    assert conv_gemm.cblas_gemm(np.float32) is not conv_gemm._numpy_gemm
    assert conv_gemm.cblas_gemm(np.float64) is not conv_gemm._numpy_gemm
    monkeypatch.setattr(conv_gemm, "_cblas", {})  # as on a machine where no CBLAS is found
    assert conv_gemm.cblas_gemm(np.float32) is conv_gemm._numpy_gemm
    for images, kernel, stride, padding in random_cases[:60]:
        reference = tf_reference(tf, images, kernel, stride, padding)
        assert relative_error(conv.conv2d_im2col(images, kernel, stride, padding), reference) < TOLERANCE


def test_only_numpys_own_blas_is_called_even_with_mxnet_loaded():
    # MXNet brings an older OpenBLAS of its own; called from two threads at once it hangs. The engine must
    # pick numpy's library whatever was imported first, and a threaded convolution must finish.
    import subprocess
    import sys

    code = """
import mxnet, numpy as np
from hpml_helpers import conv, conv_gemm
files = conv_gemm.numpy_blas_files()
assert files and not any("mxnet" in path for path in files), files
assert conv_gemm.cblas_gemm(np.float32) is not conv_gemm._numpy_gemm
rng = np.random.default_rng(0)
images, kernel = rng.standard_normal((8, 30, 30, 16)), rng.standard_normal((3, 3, 16, 8))
for _ in range(200):
    result = conv.conv2d_im2col(images.astype(np.float32), kernel.astype(np.float32), padding="same")
np.testing.assert_allclose(result, conv.conv2d_naive(images, kernel, padding="same"), rtol=1e-3, atol=1e-3)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-2000:]


def test_a_wrong_blas_wrapper_is_refused():
    from hpml_helpers import conv_gemm

    def ignores_accumulate(flat, start, row_length, weights, rows, phase, kernel_width, windows, accumulate):
        conv_gemm._numpy_gemm(flat, start, row_length, weights, rows, phase, kernel_width, windows, False)

    def ignores_phase(flat, start, row_length, weights, rows, phase, kernel_width, windows, accumulate):
        conv_gemm._numpy_gemm(flat, start, row_length, weights, rows, 0, kernel_width, windows, accumulate)

    assert conv_gemm._agrees_with_numpy(conv_gemm.cblas_gemm(np.float32), np.float32)
    assert not conv_gemm._agrees_with_numpy(ignores_accumulate, np.float32)
    assert not conv_gemm._agrees_with_numpy(ignores_phase, np.float32)


def test_im2col_conv_matches_mxnet_in_nchw(mx, random_cases):
    for index, (images, kernel, stride, padding) in enumerate(random_cases):
        images_nchw = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        pads = explicit_pads(images, kernel, stride, padding)
        reference = mxnet_convolution(mx, images_nchw, kernel, stride, pads)
        result = conv.conv2d_im2col(images_nchw, kernel, stride, padding, data_format="NCHW")
        assert result.shape == reference.shape, (index, stride, padding)
        error = relative_error(result, reference)
        assert error < TOLERANCE, (index, images.shape, kernel.shape, stride, padding, error)


def test_vgg_like_layer_matches_tensorflow(tf):
    # The shape the benchmark times (fewer images): 64 -> 64 channels, 3x3, "same", stride 1.
    rng = np.random.default_rng(7)
    images = rng.standard_normal((2, 56, 56, 64)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 64, 64)).astype(np.float32)
    reference = tf_reference(tf, images, kernel, (1, 1), "same")
    assert relative_error(conv.conv2d_im2col(images, kernel, padding="same"), reference) < TOLERANCE


@pytest.mark.parametrize("batch", [1, 3, 9])
def test_batches_that_do_not_fill_the_last_chunk(tf, batch):
    rng = np.random.default_rng(batch)
    images = rng.standard_normal((batch, 40, 33, 32)).astype(np.float32)
    kernel = rng.standard_normal((3, 5, 32, 16)).astype(np.float32)
    for stride in (1, 2):
        reference = tf_reference(tf, images, kernel, (stride, stride), "same")
        result = conv.conv2d_im2col(images, kernel, stride, "same")
        assert relative_error(result, reference) < TOLERANCE


# ---- the three formulations agree ------------------------------------------------------------


def test_naive_matches_im2col_on_small_cases():
    rng = np.random.default_rng(3)
    for index in range(20):
        images = rng.standard_normal((int(rng.integers(1, 3)), int(rng.integers(3, 9)),
                                      int(rng.integers(3, 9)), int(rng.integers(1, 4))))
        kernel = rng.standard_normal((int(rng.integers(1, 4)), int(rng.integers(1, 4)),
                                      images.shape[3], int(rng.integers(1, 4))))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = ["valid", "same", 1, (0, 2), ((2, 0), (1, 1))][index % 5]
        naive = conv.conv2d_naive(images, kernel, stride, padding)
        fast = conv.conv2d_im2col(images, kernel, stride, padding)
        assert naive.dtype == fast.dtype == np.float64
        np.testing.assert_allclose(naive, fast, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(conv.conv2d(images, kernel, stride, padding, method="naive"), naive)
        nchw = conv.conv2d_naive(images.transpose(0, 3, 1, 2), kernel, stride, padding, data_format="NCHW")
        np.testing.assert_allclose(nchw, naive.transpose(0, 3, 1, 2))


def test_bands_of_rows_and_large_padding_match_naive():
    # One image is split into bands of rows (one per core); with this much padding some bands hold
    # no image row at all, and the left/right padding is wider than the image.
    rng = np.random.default_rng(5)
    for shape, kernel_shape, padding in [((1, 3, 4, 2), (2, 2, 2, 3), ((5, 4), (3, 6))),
                                         ((1, 30, 7, 3), (3, 5, 3, 2), "same"),
                                         ((3, 9, 5, 1), (4, 1, 1, 2), ((0, 3), (2, 0)))]:
        images, kernel = rng.standard_normal(shape), rng.standard_normal(kernel_shape)
        np.testing.assert_allclose(conv.conv2d_im2col(images, kernel, 1, padding),
                                   conv.conv2d_naive(images, kernel, 1, padding), rtol=1e-12, atol=1e-12)


def test_blas_threads_are_restored():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [info["num_threads"] for info in threadpoolctl.threadpool_info()]
    conv.conv2d_im2col(np.ones((4, 10, 10, 3), np.float32), np.ones((3, 3, 3, 2), np.float32), padding="same")
    assert [info["num_threads"] for info in threadpoolctl.threadpool_info()] == before


def test_integer_images_are_computed_in_float():
    images = np.arange(2 * 5 * 6 * 1, dtype=np.uint8).reshape(2, 5, 6, 1)
    kernel = np.ones((2, 2, 1, 1), np.float32)
    result = conv.conv2d(images, kernel)
    assert result.dtype == np.float32
    assert result[0, 0, 0, 0] == 0 + 1 + 6 + 7


# ---- the patch matrix --------------------------------------------------------------------------


def test_im2col_by_hand():
    image = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)  # 1 2 3 / 4 5 6 / 7 8 9
    patches = conv.im2col(image, 2)
    np.testing.assert_array_equal(patches, [[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8], [5, 6, 8, 9]])
    padded = conv.im2col(image, 3, padding=1, stride=2)
    assert padded.shape == (4, 9)
    np.testing.assert_array_equal(padded[0], [0, 0, 0, 0, 1, 2, 0, 4, 5])


def test_im2col_rows_are_windows_and_times_kernel_is_conv():
    rng = np.random.default_rng(11)
    images = rng.standard_normal((2, 7, 9, 3))
    kernel = rng.standard_normal((3, 2, 3, 4))
    patches = conv.im2col(images, (3, 2), stride=(2, 1), padding="same")
    out_height = conv.output_size(7, 3, 2, "same")
    out_width = conv.output_size(9, 2, 1, "same")
    assert patches.shape == (2 * out_height * out_width, 3 * 2 * 3)
    (top, _), (left, _) = conv._padding_pairs("same", (3, 2), (7, 9), (2, 1))
    padded = np.pad(images, ((0, 0), (top, 2), (left, 2), (0, 0)))
    n, y, x = 1, 2, 5
    row = patches[(n * out_height + y) * out_width + x]
    np.testing.assert_array_equal(row, padded[n, 2 * y:2 * y + 3, x:x + 2, :].ravel())
    product = (patches @ kernel.reshape(-1, 4)).reshape(2, out_height, out_width, 4)
    np.testing.assert_allclose(product, conv.conv2d_im2col(images, kernel, (2, 1), "same"), rtol=1e-12)
    nchw = conv.im2col(images.transpose(0, 3, 1, 2), (3, 2), (2, 1), "same", data_format="NCHW")
    np.testing.assert_array_equal(nchw, patches)


# ---- output size --------------------------------------------------------------------------------


def test_output_size_slide_examples():
    assert conv.output_size(32, 5) == 28  # LeNet-5's first layer
    assert conv.output_size(227, 11, stride=4) == 55  # AlexNet's first layer
    assert conv.output_size(7, 3, stride=2, padding=1) == 4
    assert conv.output_size(56, 3, padding="same") == 56
    assert conv.output_size(10, 4, stride=3, padding="same") == 4
    assert conv.output_size(10, 3, stride=1, padding=(0, 2)) == 10
    assert conv.output_size(5, 3, padding="valid") == 3


def test_output_size_matches_actual_shapes(random_cases):
    for images, kernel, stride, padding in random_cases[:60]:
        result = conv.conv2d_im2col(images, kernel, stride, padding)
        pads = explicit_pads(images, kernel, stride, padding)
        for axis in range(2):
            axis_padding = padding if isinstance(padding, str) else pads[axis]
            expected = conv.output_size(images.shape[1 + axis], kernel.shape[axis], stride[axis], axis_padding)
            assert result.shape[1 + axis] == expected


# ---- Sobel against scikit-image ------------------------------------------------------------------


@pytest.fixture(scope="module")
def camera():
    data = pytest.importorskip("skimage.data")
    return data.camera()


def test_sobel_kernels():
    gx, gy = conv.sobel_kernels()
    np.testing.assert_array_equal(gx, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(gy, gx.T)
    ramp = np.tile(np.arange(6.0), (5, 1))  # brighter to the right
    result = conv.sobel(ramp, padding="valid")
    assert result.x.shape == (3, 4)
    np.testing.assert_allclose(result.x, 8.0)  # (1 + 2 + 1) * (step of 2 across the kernel)
    np.testing.assert_allclose(result.y, 0.0)
    np.testing.assert_allclose(result.direction, 0.0)


def test_sobel_matches_scikit_image(camera):
    filters = pytest.importorskip("skimage.filters")
    result = conv.sobel(camera)  # uint8 in, values kept in 0..255 units
    assert result.magnitude.shape == camera.shape
    image = camera / 255.0  # skimage converts uint8 to [0, 1]
    # skimage divides its kernels by 4, reflects the image at the borders (we pad with zeros), and its
    # sobel() returns sqrt((h**2 + v**2) / 2). So compare the interior only, scaled by 255 * 4 (and sqrt 2).
    interior = (slice(1, -1), slice(1, -1))
    scale = 255.0 * 4.0
    # sobel_h finds horizontal edges: its kernel [[1,2,1],[0,0,0],[-1,-2,-1]] is applied by true
    # convolution (flipped), which is our cross-correlation with gy: same sign, y grows downwards.
    np.testing.assert_allclose(result.y[interior] / scale, filters.sobel_h(image)[interior], atol=1e-12)
    np.testing.assert_allclose(result.x[interior] / scale, filters.sobel_v(image)[interior], atol=1e-12)
    expected = filters.sobel(image)[interior] * np.sqrt(2.0)
    np.testing.assert_allclose(result.magnitude[interior] / scale, expected, atol=1e-12)
    np.testing.assert_allclose(result.direction, np.arctan2(result.y, result.x))
    float_result = conv.sobel(image)
    np.testing.assert_allclose(float_result.magnitude * 255.0, result.magnitude, rtol=1e-12, atol=1e-9)


# ---- argument checks -------------------------------------------------------------------------------

IMAGES = np.zeros((2, 8, 8, 3), np.float32)
KERNEL = np.zeros((3, 3, 3, 4), np.float32)


@pytest.mark.parametrize("function", [conv.conv2d_naive, conv.conv2d_im2col, conv.conv2d])
@pytest.mark.parametrize("images, kernel, kwargs, error, match", [
    (np.zeros((8, 8, 3)), KERNEL, {}, ValueError, "images must be 4-D"),
    (IMAGES, np.zeros((3, 3, 3)), {}, ValueError, "kernel must be 4-D"),
    (IMAGES, np.zeros((9, 3, 3, 4)), {}, ValueError, "kernel of size .* larger than the padded input"),
    (IMAGES, np.zeros((3, 3, 5, 4)), {}, ValueError, "kernel has 5 input channels but images have 3"),
    (IMAGES, KERNEL, {"padding": "full"}, ValueError, "padding must be 'valid', 'same'"),
    (IMAGES, KERNEL, {"padding": -1}, ValueError, "padding must be non-negative"),
    (IMAGES, KERNEL, {"padding": 1.5}, TypeError, "padding must be"),
    (IMAGES, KERNEL, {"stride": 0}, ValueError, "stride must be an integer >= 1"),
    (IMAGES, KERNEL, {"stride": (1, -2)}, ValueError, "stride must hold positive integers"),
    (IMAGES, KERNEL, {"stride": 1.0}, TypeError, "stride must be an int or a pair"),
    (IMAGES, KERNEL, {"data_format": "NWHC"}, ValueError, "data_format must be one of 'nhwc', 'nchw'"),
    (IMAGES, KERNEL, {"data_format": 4}, TypeError, "data_format must be a string"),
    (np.array([["a"]] * 4), KERNEL, {}, TypeError, "images must hold numbers"),
])
def test_bad_arguments_raise_naming_the_argument(function, images, kernel, kwargs, error, match):
    with pytest.raises(error, match=match):
        function(images, kernel, **kwargs)


def test_bad_arguments_elsewhere():
    with pytest.raises(ValueError, match="method must be one of"):
        conv.conv2d(IMAGES, KERNEL, method="fft")
    with pytest.raises(ValueError, match="kernel_size must be an integer >= 1"):
        conv.im2col(IMAGES, 0)
    with pytest.raises(ValueError, match="images must be 4-D"):
        conv.im2col(IMAGES[0], 3)
    with pytest.raises(ValueError, match="kernel of size"):
        conv.im2col(IMAGES, (3, 9))
    with pytest.raises(ValueError, match="data_format must be"):
        conv.im2col(IMAGES, 3, data_format="CHWN")
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        conv.output_size(10, 3, stride=0)
    with pytest.raises(ValueError, match="kernel_size 12 is larger than the padded input 10"):
        conv.output_size(10, 12)
    with pytest.raises(ValueError, match="padding must be 'valid', 'same'"):
        conv.output_size(10, 3, padding="full")
    with pytest.raises(TypeError, match="input_size must be an int"):
        conv.output_size(10.0, 3)
    with pytest.raises(ValueError, match="image must be a grey 2-D array"):
        conv.sobel(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="padding must be one of 'valid', 'same'"):
        conv.sobel(np.zeros((4, 4)), padding=1)
