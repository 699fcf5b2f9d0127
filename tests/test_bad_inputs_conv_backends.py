"""Bad arguments at the public boundary of conv, conv_gemm and backends: each gets a ValueError/TypeError
(RuntimeError for a device this machine does not have) whose message names the argument.

Every case is a row (call, exception type, regex); the inputs are tiny and nothing here trains or times.
"""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from hpml_helpers import backends, conv, conv_gemm
from hpml_helpers.threads import THREAD_VARIABLES, thread_environment

IMAGES = np.zeros((2, 8, 8, 3), np.float32)
KERNEL = np.zeros((3, 3, 3, 4), np.float32)
PADS = ((1, 1), (1, 1))
OUT_HW = (8, 8)  # 8x8 images, 3x3 kernel, pads of 1, stride 1


def with_value(array, index, value):
    array = array.copy()
    array[index] = value
    return array


# ---- conv2d_naive, conv2d_im2col and conv2d: the same checks, run through each ------------------------------
CONV_CASES = [
    # images
    (None, KERNEL, {}, TypeError, r"images must be an array of numbers, got None"),
    (np.zeros((0, 8, 8, 3)), KERNEL, {}, ValueError, r"images must not be empty"),
    (with_value(IMAGES, (0, 1, 1, 0), np.nan), KERNEL, {}, ValueError, r"images must hold finite numbers"),
    (with_value(IMAGES, (1, 0, 0, 2), -np.inf), KERNEL, {}, ValueError, r"images must hold finite numbers"),
    (np.full((2, 8, 8, 3), "1"), KERNEL, {}, TypeError, r"images must hold numbers, got dtype <U1"),
    ("images", KERNEL, {}, TypeError, r"images must hold numbers"),
    ([[1.0, 2.0], [3.0]], KERNEL, {}, ValueError, r"images must be a rectangular array"),
    (np.zeros((8, 8, 3)), KERNEL, {}, ValueError, r"images must be 4-D \(batch, height, width, channels\)"),
    (np.zeros((1, 2, 8, 8, 3)), KERNEL, {}, ValueError, r"images must be 4-D .* got shape \(1, 2, 8, 8, 3\)"),
    # kernel
    (IMAGES, None, {}, TypeError, r"kernel must be an array of numbers, got None"),
    (IMAGES, np.zeros((3, 3, 3)), {}, ValueError, r"kernel must be 4-D \(kernel_height, kernel_width"),
    (IMAGES, with_value(KERNEL, (1, 1, 0, 0), np.nan), {}, ValueError, r"kernel must hold finite numbers"),
    (IMAGES, np.full((3, 3, 3, 4), "w"), {}, TypeError, r"kernel must hold numbers"),
    (IMAGES, np.zeros((3, 3, 3, 0)), {}, ValueError, r"kernel must not be empty"),
    (IMAGES, np.zeros((3, 3, 5, 4)), {}, ValueError, r"kernel has 5 input channels but images have 3 channels"),
    (IMAGES, KERNEL, {"data_format": "NCHW"}, ValueError, r"kernel has 3 input channels but images have 8"),
    (IMAGES, np.zeros((9, 3, 3, 4)), {}, ValueError,
     r"kernel of size \(9, 3\) is larger than the padded input \(8, 8\)"),
    (IMAGES, np.zeros((3, 12, 3, 4)), {"padding": 1}, ValueError,
     r"kernel of size \(3, 12\) is larger than the padded input \(10, 10\)"),
    # stride
    (IMAGES, KERNEL, {"stride": 0}, ValueError, r"stride must be an integer >= 1, got 0"),
    (IMAGES, KERNEL, {"stride": -1}, ValueError, r"stride must be an integer >= 1, got -1"),
    (IMAGES, KERNEL, {"stride": True}, TypeError, r"stride must be an int or a pair of ints"),
    (IMAGES, KERNEL, {"stride": 1.0}, TypeError, r"stride must be an int or a pair of ints"),
    (IMAGES, KERNEL, {"stride": "2"}, TypeError, r"stride must be an int or a pair of ints"),
    (IMAGES, KERNEL, {"stride": None}, TypeError, r"stride must be an int or a pair of ints"),
    (IMAGES, KERNEL, {"stride": (1, 2, 3)}, ValueError, r"stride must have 2 entries"),
    (IMAGES, KERNEL, {"stride": (1, True)}, ValueError, r"stride must hold positive integers"),
    (IMAGES, KERNEL, {"stride": (0, 1)}, ValueError, r"stride must hold positive integers"),
    # padding
    (IMAGES, KERNEL, {"padding": "full"}, ValueError, r"padding must be 'valid', 'same' or integers, got 'full'"),
    (IMAGES, KERNEL, {"padding": -1}, ValueError, r"padding must be non-negative"),
    (IMAGES, KERNEL, {"padding": ((1, -1), (0, 0))}, ValueError, r"padding must be non-negative"),
    (IMAGES, KERNEL, {"padding": True}, TypeError, r"padding must be 'valid', 'same', an int"),
    (IMAGES, KERNEL, {"padding": 1.5}, TypeError, r"padding must be 'valid', 'same', an int"),
    (IMAGES, KERNEL, {"padding": None}, TypeError, r"padding must be 'valid', 'same', an int"),
    (IMAGES, KERNEL, {"padding": (1, 2, 3)}, TypeError, r"padding must be .*\(\(top, bottom\), \(left, right\)\)"),
    (IMAGES, KERNEL, {"padding": ((1, 2), (3,))}, TypeError, r"padding must be .*\(pad_h, pad_w\) pair"),
    # data_format
    (IMAGES, KERNEL, {"data_format": "NWHC"}, ValueError, r"data_format must be one of 'nhwc', 'nchw'; got 'NWHC'"),
    (IMAGES, KERNEL, {"data_format": 4}, TypeError, r"data_format must be a string"),
    (IMAGES, KERNEL, {"data_format": None}, TypeError, r"data_format must be a string"),
]


@pytest.mark.parametrize("function", [conv.conv2d_naive, conv.conv2d_im2col, conv.conv2d],
                         ids=["naive", "im2col", "conv2d"])
@pytest.mark.parametrize("images, kernel, kwargs, error, match", CONV_CASES)
def test_conv_functions_refuse_bad_arguments(function, images, kernel, kwargs, error, match):
    with pytest.raises(error, match=match):
        function(images, kernel, **kwargs)


# ---- the other conv functions ---------------------------------------------------------------------------------
OTHER_CONV_CASES = [
    (lambda: conv.conv2d(IMAGES, KERNEL, method="fft"), ValueError, r"method must be one of 'im2col', 'naive'"),
    (lambda: conv.conv2d(IMAGES, KERNEL, method=None), ValueError, r"method must be one of"),
    (lambda: conv.im2col(IMAGES, 0), ValueError, r"kernel_size must be an integer >= 1"),
    (lambda: conv.im2col(IMAGES, True), TypeError, r"kernel_size must be an int or a pair"),
    (lambda: conv.im2col(IMAGES, 2.5), TypeError, r"kernel_size must be an int or a pair"),
    (lambda: conv.im2col(IMAGES, "3"), TypeError, r"kernel_size must be an int or a pair"),
    (lambda: conv.im2col(IMAGES, (3,)), ValueError, r"kernel_size must have 2 entries"),
    (lambda: conv.im2col(IMAGES, (3, 9)), ValueError, r"kernel of size \(3, 9\) is larger than the padded input"),
    (lambda: conv.im2col(None, 3), TypeError, r"images must be an array of numbers"),
    (lambda: conv.im2col(IMAGES[0], 3), ValueError, r"images must be 4-D"),
    (lambda: conv.im2col(IMAGES, 3, stride=(1, 0)), ValueError, r"stride must hold positive integers"),
    (lambda: conv.im2col(IMAGES, 3, padding="half"), ValueError, r"padding must be 'valid', 'same'"),
    (lambda: conv.im2col(IMAGES, 3, data_format="CHWN"), ValueError, r"data_format must be one of"),
    (lambda: conv.output_size(0, 3), ValueError, r"input_size must be an integer >= 1, got 0"),
    (lambda: conv.output_size(10.0, 3), TypeError, r"input_size must be an integer, got 10.0"),
    (lambda: conv.output_size(True, 3), TypeError, r"input_size must be an integer, got True"),
    (lambda: conv.output_size("10", 3), TypeError, r"input_size must be an integer, got '10'"),
    (lambda: conv.output_size(math.nan, 3), TypeError, r"input_size must be an integer"),
    (lambda: conv.output_size(10, -3), ValueError, r"kernel_size must be an integer >= 1"),
    (lambda: conv.output_size(10, 3, stride=0), ValueError, r"stride must be an integer >= 1"),
    (lambda: conv.output_size(10, 3, stride=1.5), TypeError, r"stride must be an integer"),
    (lambda: conv.output_size(10, 3, padding=-1), ValueError, r"padding must be non-negative"),
    (lambda: conv.output_size(10, 3, padding=(1, -1)), ValueError, r"padding must be non-negative"),
    (lambda: conv.output_size(10, 3, padding="full"), ValueError, r"padding must be 'valid', 'same'"),
    (lambda: conv.output_size(10, 3, padding=True), TypeError, r"padding must be 'valid', 'same', an int"),
    (lambda: conv.output_size(10, 3, padding=(1,)), TypeError, r"padding must be .* \(before, after\) pair"),
    (lambda: conv.output_size(10, 12), ValueError, r"kernel_size 12 is larger than the padded input 10"),
    (lambda: conv.sobel(None), TypeError, r"image must be an array of numbers, got None"),
    (lambda: conv.sobel(np.zeros((4, 4, 3))), ValueError, r"image must be a grey 2-D array"),
    (lambda: conv.sobel(np.zeros((0, 4))), ValueError, r"image must not be empty"),
    (lambda: conv.sobel(with_value(np.zeros((4, 4)), (2, 2), np.inf)), ValueError, r"image must hold finite"),
    (lambda: conv.sobel(np.full((4, 4), "x")), TypeError, r"image must hold numbers"),
    (lambda: conv.sobel(np.zeros((4, 4)), padding=1), ValueError, r"padding must be one of 'valid', 'same'"),
    (lambda: conv.sobel(np.zeros((4, 4)), padding="full"), ValueError, r"padding must be one of"),
    (lambda: conv.sobel(np.zeros((2, 2)), padding="valid"), ValueError, r"kernel of size \(3, 3\) is larger"),
]


@pytest.mark.parametrize("call, error, match", OTHER_CONV_CASES)
def test_other_conv_functions_refuse_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_accepted_forms_still_work():
    # what the checks must keep accepting: numpy ints, lists, lower case, bool masks, long doubles
    reference = conv.conv2d(IMAGES + 1, KERNEL + 1, stride=1, padding="same")
    np.testing.assert_array_equal(conv.conv2d(IMAGES + 1, KERNEL + 1, stride=[np.int64(1), 1],
                                              padding=[1, np.int32(1)], method="NAIVE"), reference)
    nchw = conv.conv2d(np.ones((1, 3, 8, 8), bool), KERNEL + 1, padding="SAME", data_format="nchw")
    assert nchw.shape == (1, 4, 8, 8) and nchw.dtype == np.float32 and nchw.max() == 27
    assert conv.conv2d(np.ones((1, 4, 4, 3), np.longdouble), KERNEL).dtype == np.float64
    assert conv.output_size(np.int64(10), 3, stride=2, padding=(1, 0)) == 5
    assert conv.sobel(np.zeros((4, 4), np.uint8)).magnitude.shape == (4, 4)
    assert len(conv.sobel_kernels()) == 2


# ---- conv_gemm: O(1) checks of shapes, pads and dtypes --------------------------------------------------------
GEMM_CASES = [
    (lambda: conv_gemm.pad(IMAGES, PADS, np.int32), TypeError, r"dtype must be float32 or float64"),
    (lambda: conv_gemm.pad(IMAGES, PADS, "float16"), TypeError, r"dtype must be float32 or float64"),
    (lambda: conv_gemm.pad(IMAGES, PADS, None), TypeError, r"dtype must be float32 or float64, got None"),
    (lambda: conv_gemm.pad(IMAGES, PADS, "bogus"), TypeError, r"dtype must be float32 or float64"),
    (lambda: conv_gemm.pad(IMAGES, (1, 1), np.float32), TypeError,
     r"pads must be \(\(top, bottom\), \(left, right\)\)"),
    (lambda: conv_gemm.pad(IMAGES, ((1,), (1, 1)), np.float32), TypeError, r"pads must be \(\(top, bottom\)"),
    (lambda: conv_gemm.pad(IMAGES, ((1.5, 0), (0, 0)), np.float32), TypeError, r"pads must be .* of ints"),
    (lambda: conv_gemm.pad(IMAGES, ((True, 0), (0, 0)), np.float32), TypeError, r"pads must be .* of ints"),
    (lambda: conv_gemm.pad(IMAGES, ((-1, 0), (0, 0)), np.float32), ValueError, r"pads must be non-negative"),
    (lambda: conv_gemm.pad(IMAGES.tolist(), PADS, np.float32), TypeError, r"images must be a numpy array"),
    (lambda: conv_gemm.pad(IMAGES[0], PADS, np.float32), ValueError, r"images must be a non-empty 4-D array"),
    (lambda: conv_gemm.pad(np.full((1, 2, 2, 1), "a"), PADS, np.float32), TypeError, r"images must hold numbers"),
    (lambda: conv_gemm.conv2d_kernel_rows(IMAGES, KERNEL, PADS, (9, 9), np.float32), ValueError,
     r"out_hw must be the output size \(8, 8\) .* got \(9, 9\)"),
    (lambda: conv_gemm.conv2d_kernel_rows(IMAGES, KERNEL, PADS, 8, np.float32), TypeError,
     r"out_hw must be a list or tuple"),
    (lambda: conv_gemm.conv2d_kernel_rows(IMAGES, KERNEL, ((0, 0), (0, -1)), OUT_HW, np.float32), ValueError,
     r"pads must be non-negative"),
    (lambda: conv_gemm.conv2d_kernel_rows(IMAGES, KERNEL, PADS, OUT_HW, np.complex64), TypeError,
     r"dtype must be float32 or float64"),
    (lambda: conv_gemm.conv2d_kernel_rows(IMAGES, KERNEL[:, :, :2], PADS, OUT_HW, np.float32), ValueError,
     r"kernel has 2 input channels but images have 3"),
    (lambda: conv_gemm.conv2d_kernel_rows(IMAGES, KERNEL[0], PADS, OUT_HW, np.float32), ValueError,
     r"kernel must be a non-empty 4-D array \(kernel_height"),
    (lambda: conv_gemm.conv2d_kernel_rows(IMAGES, np.zeros((11, 3, 3, 4)), PADS, OUT_HW, np.float32), ValueError,
     r"kernel of size \(11, 3\) is larger than the padded input \(10, 10\)"),
    (lambda: conv_gemm.conv2d_patch_chunks(IMAGES, KERNEL, (2, 2), PADS, OUT_HW, np.float32), ValueError,
     r"out_hw must be the output size \(4, 4\)"),
    (lambda: conv_gemm.conv2d_patch_chunks(IMAGES, KERNEL, (0, 2), PADS, (4, 4), np.float32), ValueError,
     r"stride_hw must hold positive integers"),
    (lambda: conv_gemm.conv2d_patch_chunks(IMAGES, KERNEL, 2, PADS, (4, 4), np.float32), TypeError,
     r"stride_hw must be a list or tuple"),
    (lambda: conv_gemm.conv2d_patch_chunks(IMAGES, KERNEL.tolist(), (2, 2), PADS, (4, 4), np.float32), TypeError,
     r"kernel must be a numpy array"),
    (lambda: conv_gemm.conv2d_patch_chunks(IMAGES, KERNEL, (2, 2), PADS, (4, 4), np.int64), TypeError,
     r"dtype must be float32 or float64"),
    (lambda: conv_gemm.cblas_gemm(np.int64), TypeError, r"dtype must be float32 or float64"),
    (lambda: conv_gemm.cblas_gemm("float16"), TypeError, r"dtype must be float32 or float64"),
    (lambda: conv_gemm.cblas_gemm(None), TypeError, r"dtype must be float32 or float64"),
    (lambda: conv_gemm.run_tasks(None, [1, 2]), TypeError, r"function must be callable"),
    (lambda: conv_gemm.run_tasks(3, [1, 2]), TypeError, r"function must be callable"),
    (lambda: conv_gemm.run_tasks(print, "ab"), TypeError, r"tasks must be a list or tuple"),
    (lambda: conv_gemm.run_tasks(print, 5), TypeError, r"tasks must be a list or tuple"),
    (lambda: conv_gemm.run_tasks(print, {"a": 1}), TypeError, r"tasks must be a list or tuple"),
]


@pytest.mark.parametrize("call, error, match", GEMM_CASES)
def test_conv_gemm_refuses_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_conv_gemm_accepts_what_conv_passes():
    ones = np.ones((1, 4, 4, 2), np.float32)
    assert conv_gemm.pad(ones, [[1, 0], [0, np.int64(2)]], "float64").shape == (1, 5, 6, 2)
    kernel = np.ones((3, 3, 2, 1), np.float32)
    rows = conv_gemm.conv2d_kernel_rows(ones, kernel, PADS, (4, 4), np.float32)
    chunks = conv_gemm.conv2d_patch_chunks(ones, kernel, (1, 1), PADS, [4, 4], np.dtype(np.float32))
    np.testing.assert_allclose(rows, chunks)
    assert rows[0, 1, 1, 0] == 18 and rows[0, 0, 0, 0] == 8
    done = []
    conv_gemm.run_tasks(done.append, (1, 2, 3))
    conv_gemm.run_tasks(done.append, [])
    assert sorted(done) == [1, 2, 3] and callable(conv_gemm.cblas_gemm("float32"))


# ---- backends: the device and the thread count -----------------------------------------------------------------
USE_CASES = [
    ({"threads": True}, TypeError, r"threads must be an integer, got True"),
    ({"threads": "2"}, TypeError, r"threads must be an integer, got '2'"),
    ({"threads": 0}, ValueError, r"threads must be an integer >= 1, got 0"),
    ({"threads": -1}, ValueError, r"threads must be an integer >= 1, got -1"),
    ({"threads": 2.5}, TypeError, r"threads must be an integer, got 2.5"),
    ({"threads": math.nan}, TypeError, r"threads must be an integer, got nan"),
    ({"threads": [2]}, TypeError, r"threads must be an integer"),
    ({"device": "amd"}, ValueError, r"device must be one of 'auto', 'intel', 'nvidia'; got 'amd'"),
    ({"device": "gpu"}, ValueError, r"device must be one of 'auto', 'intel', 'nvidia'; got 'gpu'"),
    ({"device": "mxnet"}, ValueError, r"device must be one of .*; got 'mxnet'"),
    ({"device": None}, ValueError, r"device must be one of .*; got None"),
    ({"device": 0}, ValueError, r"device must be one of .*; got 0"),
    ({"device": "intel", "verbose": "yes"}, TypeError, r"verbose must be True or False"),
    ({"device": "intel", "verbose": None}, TypeError, r"verbose must be True or False"),
]


@pytest.fixture
def clean_thread_variables(monkeypatch):
    # setenv first, so that monkeypatch records each variable's original state (absent or not) and undoes
    # whatever backends.use sets during the test: otherwise the thread counts would leak into later tests'
    # worker processes (which would then sum in another order than the test process).
    for name in THREAD_VARIABLES:
        monkeypatch.setenv(name, "1")
        monkeypatch.delenv(name)


@pytest.mark.parametrize("kwargs, error, match", USE_CASES)
def test_use_refuses_bad_arguments_before_changing_anything(clean_thread_variables, kwargs, error, match):
    before = backends._current
    with pytest.raises(error, match=match):
        backends.use(**{"device": "intel", "threads": 2, **kwargs})
    assert backends._current is before
    assert not any(name in os.environ for name in THREAD_VARIABLES)  # nothing was set on the way


def test_report_refuses_a_bad_verbose():
    with pytest.raises(TypeError, match="verbose must be True or False"):
        backends.report(verbose="quiet")


def test_nvidia_without_a_gpu_names_the_argument_and_what_exists(monkeypatch, clean_thread_variables):
    # A machine without an NVIDIA GPU (whatever this one has): nvidia-smi, TF and MXNet all see none.
    monkeypatch.setattr(backends, "nvidia_gpus", lambda: [])
    monkeypatch.setattr(backends, "tensorflow_info", lambda: {"installed": True, "gpus": []})
    monkeypatch.setattr(backends, "mxnet_info", lambda: {"installed": True, "cuda": False})
    with pytest.raises(RuntimeError, match=r"device='nvidia'.*no usable NVIDIA GPU.*nvidia-smi.*TensorFlow sees no "
                                           r"GPU.*MXNet was built without CUDA.*available here: 'intel'"):
        backends.use("nvidia", threads=2)
    assert "OMP_NUM_THREADS" not in os.environ


def test_use_sets_threads_by_the_one_rule(clean_thread_variables):
    backends.use("intel", threads=2, verbose=False)
    assert {name: os.environ[name] for name in THREAD_VARIABLES} == {
        name: str(value) for name, value in thread_environment(2).items()}


def test_importing_backends_does_not_import_numpy():
    out = subprocess.run([sys.executable, "-c", "import sys, hpml_helpers.backends; print('numpy' in sys.modules)"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]
