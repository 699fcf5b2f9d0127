"""How ``conv.conv2d_im2col`` is made fast: the matrix-multiplication engines behind it.

Read ``conv.py`` first: it says what a convolution computes and shows im2col plainly. This module is
for notebook 01's last question (why does the plain im2col reach only a fraction of the GEMM peak, and
what does it take to get close?) and for ``bench/bench_conv.py``.

Plainly, a convolution is ``im2col(images) @ kernel.reshape(-1, O)``, but the patch matrix is kh*kw = 9
times the input (25088 x 576, 58 MB, for a VGG-like layer: batch 8, 56x56, 64 -> 64 channels, 3x3,
"same") and building it costs more than multiplying it. Measured on the kit's 2-core AVX-512 machine
against numpy's float32 GEMM peak (2048^3: 300-370 GFLOP/s when quiet), ``bench/bench_conv.py``:
    full patch matrix, then one GEMM                           0.24-0.27 of the GEMM peak (the copy dominates)
    the same, a few images at a time (stays in cache)          ~0.41
    im2col by kernel row: one (kw*C) x (kh*O) GEMM, then sums  0.56-0.62 (numpy only; the previous version)
    im2col by kernel row, GEMMs accumulated in place (runs)    0.58-0.64, median 0.62 over 8 runs (target 0.60)
What is left is mostly BLAS itself: on one core it runs these (1064 x 192) @ (192 x 64) products at
about 0.8 of its 2048^3 rate (narrow products reuse each loaded number less), and two cores share the
memory system.

Im2col by kernel row. In NHWC a window's kernel row is kw*C neighbouring numbers, and windows kw pixels
apart do not overlap, so the patch matrix of every kw-th window (a "phase") IS the zero-padded image's
memory, reshaped: no copy. Kernel row dy of output row y is window row y + dy, so the patch matrix for
kernel row dy is the same memory a few rows further on. Per phase, kh GEMMs (windows x kw*C) @
(kw*C x O) = 192 x 64 here give that phase's outputs; BLAS adds each product onto the last (GEMM's
``beta = 1``) and writes straight into the phase's columns of the output rows (GEMM's leading
dimension ``ldc`` = kw*O steps over the other phases' columns). numpy's ``matmul`` can do neither, so
the engine calls the BLAS numpy itself loaded (OpenBLAS in numpy's wheels) through ``ctypes``, found
with threadpoolctl (numpy's own library only: MXNet, for one, loads an older OpenBLAS whose threads
hang when two callers use it at once); ctypes lets go of Python's lock during the call, so both cores
multiply at once.
The only copies left are the padded input and the finished rows. Where no such BLAS is found, the same
plan runs on numpy's ``matmul`` with a temporary product per GEMM (slower, same result).

numpy's copies use one core, so each core runs its own images (a thread each, BLAS set to one thread)
rather than BLAS alone using both. Strides above 1 take the plain route, a few images at a time
(``conv2d_patch_chunks``).
Used by ``conv.conv2d_im2col`` (notebook 01-convolution-and-sobel and bench/).
"""
import concurrent.futures
import ctypes
import threading

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import backends
from .validation import check_sequence, check_shape, is_integer

_WORKERS = max(1, min(8, backends.usable_cpus()))  # a container's CPU quota counts, not the host's cores
_BAND_GEMM_ROWS = 1536  # rows per phase GEMM: big enough for BLAS, small enough for the L2 cache
_PATCH_BUFFER_BYTES = 4 * 2**20  # patch matrices of a few images at a time: the GEMM reads them from cache
_ROW_MAJOR, _NO_TRANS = 101, 111  # CBLAS's enum values (cblas.h)
_pool = _blas_controller = _cblas = None  # made on first use
_pool_lock = threading.Lock()
_thread_buffers = threading.local()


# ---- Argument checks: O(1) per call (shapes, dtypes, pads), never a pass over the numbers ----
GEMM_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_gemm_dtype(dtype, name="dtype"):
    """``dtype`` as a numpy dtype, which must be float32 or float64 (the two the GEMM engines compute in)."""
    try:
        normal = None if dtype is None else np.dtype(dtype)
    except (TypeError, ValueError):  # not a dtype at all
        normal = None
    if normal is None or normal not in GEMM_DTYPES:  # (a dtype compares equal to None: float64)
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}")
    return normal


def check_pads(pads, name="pads"):
    """``pads`` as ``((top, bottom), (left, right))`` of non-negative ints."""
    if not (isinstance(pads, (tuple, list)) and len(pads) == 2 and all(
            isinstance(pair, (tuple, list)) and len(pair) == 2 and all(is_integer(p) for p in pair)
            for pair in pads)):
        raise TypeError(f"{name} must be ((top, bottom), (left, right)) of ints, got {pads!r}")
    if any(p < 0 for pair in pads for p in pair):
        raise ValueError(f"{name} must be non-negative, got {pads!r}")
    return tuple((int(before), int(after)) for before, after in pads)


def check_4d_array(array, name, layout="(batch, height, width, channels)"):
    """``array`` as it is, which must be a non-empty 4-D numpy array of numbers laid out as ``layout``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array {layout}, got {type(array).__name__}")
    if array.dtype.kind not in "buif":
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    if array.ndim != 4 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 4-D array {layout}, got shape {array.shape}")
    return array


def check_geometry(images, kernel, stride_hw, pads, out_hw):
    """Check kernel (HWIO, images' channels), stride_hw, pads and out_hw against each other;
    return the normal ``(stride_hw, pads, out_hw)``. A wrong out_hw would make the GEMMs write
    outside their buffers, so it must be the output size these arguments give."""
    check_4d_array(images, "images")
    check_4d_array(kernel, "kernel", "(kernel_height, kernel_width, in_channels, out_channels)")
    if kernel.shape[2] != images.shape[3]:
        raise ValueError(f"kernel has {kernel.shape[2]} input channels but images have {images.shape[3]}")
    stride_hw, pads = check_shape(stride_hw, "stride_hw", length=2), check_pads(pads)
    padded = [n + sum(pair) for n, pair in zip(images.shape[1:3], pads)]
    if kernel.shape[0] > padded[0] or kernel.shape[1] > padded[1]:
        raise ValueError(f"kernel of size {kernel.shape[:2]} is larger than the padded input {tuple(padded)}")
    expected = tuple((n - k) // s + 1 for n, k, s in zip(padded, kernel.shape[:2], stride_hw))
    if check_shape(out_hw, "out_hw", length=2) != expected:
        raise ValueError(f"out_hw must be the output size {expected} of these images, kernel, stride_hw "
                         f"and pads, got {tuple(out_hw)}")
    return stride_hw, pads, expected


def pad(images, pads, dtype):
    """Zero-pad NHWC images by ``pads = ((top, bottom), (left, right))``, as ``dtype``."""
    check_4d_array(images, "images")
    pads, dtype = check_pads(pads), check_gemm_dtype(dtype)
    return np.pad(images.astype(dtype, copy=False), ((0, 0), pads[0], pads[1], (0, 0)))


# ---- Any stride: im2col of a few images at a time ----
def conv2d_patch_chunks(images, kernel, stride_hw, pads, out_hw, dtype):
    """Any stride: im2col of a few images into a reused buffer, then one GEMM per chunk."""
    stride_hw, pads, out_hw = check_geometry(images, kernel, stride_hw, pads, out_hw)
    dtype = check_gemm_dtype(dtype)
    kernel_height, kernel_width, in_channels, out_channels = kernel.shape
    batch, out_pixels = images.shape[0], out_hw[0] * out_hw[1]
    columns = kernel_height * kernel_width * in_channels
    weights = kernel.reshape(columns, out_channels)
    output = np.empty((batch, out_hw[0], out_hw[1], out_channels), dtype)
    chunk = max(1, min(batch, _PATCH_BUFFER_BYTES // (out_pixels * columns * np.dtype(dtype).itemsize)))
    buffer = np.empty((chunk, out_hw[0], out_hw[1], kernel_height, kernel_width, in_channels), dtype)
    for start in range(0, batch, chunk):
        stop = min(batch, start + chunk)
        padded = pad(images[start:stop], pads, dtype)
        windows = sliding_window_view(padded, (kernel_height, kernel_width), axis=(1, 2))
        windows = windows[:, ::stride_hw[0], ::stride_hw[1]][:, :out_hw[0], :out_hw[1]]
        patches = buffer[:stop - start]
        patches[...] = windows.transpose(0, 1, 2, 4, 5, 3)
        np.matmul(patches.reshape(-1, columns), weights,
                  out=output[start:stop].reshape(-1, out_channels))
    return output


# ---- Stride 1: im2col by kernel row ----
def conv2d_kernel_rows(images, kernel, pads, out_hw, dtype):
    """Stride 1: im2col by kernel row, whose patch matrices are free reshapes of the padded image."""
    _, pads, out_hw = check_geometry(images, kernel, (1, 1), pads, out_hw)
    dtype = check_gemm_dtype(dtype)
    kernel_height, kernel_width, in_channels, out_channels = kernel.shape
    batch, width = images.shape[0], images.shape[2]
    # Row pitch: the image width plus one zero gap that is the right padding of a row and the left
    # padding of the next (at least one window start per output column), rounded up to a multiple
    # of kw so that the phases line up row after row.
    pitch = -(-max(width + max(pads[1]), out_hw[1]) // kernel_width) * kernel_width
    # weights[dy] = kernel[dy].reshape(kw*C, O): kernel row dy, in the column order (dx, c) of a patch row.
    weights = [np.ascontiguousarray(kernel[dy], dtype).reshape(kernel_width * in_channels, out_channels)
               for dy in range(kernel_height)]
    gemm = cblas_gemm(dtype)
    output = np.empty((batch, *out_hw, out_channels), dtype)
    # One task per image, or per band of output rows when the products would not stay in cache or
    # there are fewer images than tasks the cores can share. Each band recomputes kh - 1 input rows,
    # so bands are kept at least 16 times that tall.
    band = max(1, _BAND_GEMM_ROWS * kernel_width // pitch - kernel_height + 1, 16 * (kernel_height - 1))
    if batch < 2 * _WORKERS:
        band = min(band, -(-out_hw[0] * batch // (2 * _WORKERS)))
    tasks = [(n, y, min(out_hw[0], y + band)) for n in range(batch) for y in range(0, out_hw[0], band)]
    run_tasks(lambda task: _kernel_rows_band(images, weights, gemm, kernel.shape, pads, pitch, output, *task), tasks)
    return output


def _kernel_rows_band(images, weights, gemm, kernel_shape, pads, pitch, output, n, first_row, stop_row):
    """Output rows [first_row, stop_row) of image n: kh GEMMs per phase, accumulated in place."""
    kernel_height, kernel_width, in_channels, out_channels = kernel_shape
    height, width = images.shape[1:3]
    top, left = pads[0][0], pads[1][0]
    rows_out, out_width, groups = stop_row - first_row, output.shape[2], pitch // kernel_width
    rows_in = rows_out + kernel_height - 1
    flat, rows = _buffers((rows_in, pitch, left, kernel_shape, output.dtype.str))
    # padded rows first_row.. of the image, pitch apart; the gap columns [width, pitch) stay zero
    padded = flat[left * in_channels:(left + rows_in * pitch) * in_channels].reshape(rows_in, pitch, in_channels)
    begin = min(rows_in, max(0, top - first_row))  # a band may lie wholly in the padding
    end = max(begin, min(rows_in, height + top - first_row))
    padded[:begin, :width] = 0
    padded[end:, :width] = 0
    padded[begin:end, :width] = images[n, first_row + begin - top:first_row + end - top]
    # Window w = y*groups + g of a phase starts at element w*kw*C + phase*C: its kernel row is the
    # row_length numbers there, and the patch matrix of kernel row dy starts dy*groups rows further on.
    # Its output pixel (y, phase + kw*g) is row w*kw + phase of `rows` seen as (rows_out*pitch, O).
    row_length, windows = kernel_width * in_channels, rows_out * groups
    for phase in range(min(kernel_width, out_width)):
        for dy in range(kernel_height):
            start = phase * in_channels + dy * groups * row_length
            gemm(flat, start, row_length, weights[dy], rows, phase, kernel_width, windows, accumulate=dy > 0)
    output[n, first_row:stop_row] = rows[:, :out_width]


# ---- The GEMM with beta and ldc: CBLAS through ctypes, or numpy ----
def _numpy_gemm(flat, start, row_length, weights, rows, phase, kernel_width, windows, accumulate):
    """rows[phase::kw] (+)= patches @ weights with numpy: a temporary product, then a strided add."""
    patches = flat[start:start + windows * row_length].reshape(windows, row_length)
    target = rows.reshape(windows, kernel_width, -1)[:, phase]
    if accumulate:
        target += patches @ weights
    else:
        np.matmul(patches, weights, out=target)


def cblas_gemm(dtype):
    """The in-place GEMM for ``dtype`` (float32/float64): numpy's own BLAS via ctypes, else numpy."""
    global _cblas
    dtype = check_gemm_dtype(dtype)
    with _pool_lock:
        if _cblas is None:
            _cblas = {}
            for dtype_char, scalar, numpy_type in (("s", ctypes.c_float, np.float32), ("d", ctypes.c_double, np.float64)):
                found = _find_cblas(dtype_char, scalar, numpy_type)
                if found is not None:
                    _cblas[np.dtype(numpy_type)] = found
    return _cblas.get(dtype, _numpy_gemm)


def numpy_blas_files():
    """Paths of the BLAS libraries that numpy's own wheel brought (empty for other numpy builds)."""
    import os

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    package = os.path.dirname(os.path.realpath(np.__file__))
    # Wheels keep their libraries beside the package (site-packages/numpy.libs) or inside it (numpy/.dylibs).
    folders = {package + ".libs", os.path.join(package, ".dylibs")}
    return [library["filepath"] for library in threadpool_info() if library.get("user_api") == "blas"
            and os.path.dirname(os.path.realpath(library["filepath"])) in folders]


def _find_cblas(dtype_char, scalar, numpy_type):
    """A checked ctypes wrapper of ``cblas_?gemm`` from numpy's own BLAS, or None.

    Only numpy's: other libraries in the process may bring a BLAS of their own (MXNet does: an older
    OpenBLAS with its own threads), and calling one of those from two threads at once can hang it.
    """
    # numpy's wheels carry a 64-bit-integer OpenBLAS whose symbols end in 64_ (scipy-openblas prefixes them).
    names = [(f"{prefix}cblas_{dtype_char}gemm{suffix}", ctypes.c_int64 if suffix else ctypes.c_int)
             for prefix in ("", "scipy_") for suffix in ("64_", "")]
    for path in numpy_blas_files():
        try:
            handle = ctypes.CDLL(path)
        except OSError:
            continue
        for name, integer in names:
            function = getattr(handle, name, None)
            if function is None:
                continue
            function.restype = None
            function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, scalar,
                                 ctypes.c_void_p, integer, ctypes.c_void_p, integer, scalar, ctypes.c_void_p, integer]
            gemm = _cblas_wrapper(function)
            if _agrees_with_numpy(gemm, numpy_type):
                return gemm
    return None


def _cblas_wrapper(function):
    def gemm(flat, start, row_length, weights, rows, phase, kernel_width, windows, accumulate):
        """rows[phase::kw] (+)= patches @ weights in one CBLAS call (beta = 1 adds; ldc skips phases)."""
        item = flat.itemsize
        out_channels = weights.shape[1]
        function(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, windows, out_channels, row_length, 1.0,
                 flat.ctypes.data + start * item, row_length, weights.ctypes.data, out_channels,
                 1.0 if accumulate else 0.0, rows.ctypes.data + phase * out_channels * item,
                 kernel_width * out_channels)
    return gemm


def _agrees_with_numpy(gemm, dtype):
    """Run the wrapper on a small case with every argument in play and compare with numpy."""
    rng = np.random.default_rng(0)
    windows, row_length, out_channels, kernel_width = 5, 6, 3, 2
    flat = rng.standard_normal(windows * row_length + 4).astype(dtype)
    weights = [rng.standard_normal((row_length, out_channels)).astype(dtype) for _ in range(2)]
    rows, expected = np.full((windows * kernel_width, out_channels), 7, dtype), np.full((windows * kernel_width,
                                                                                        out_channels), 7, dtype)
    for accumulate, start, weight in ((False, 1, weights[0]), (True, 3, weights[1])):
        gemm(flat, start, row_length, weight, rows, 1, kernel_width, windows, accumulate)
        _numpy_gemm(flat, start, row_length, weight, expected, 1, kernel_width, windows, accumulate)
    return bool(np.allclose(rows, expected, rtol=1e-4, atol=1e-4))


# ---- Threads: numpy's copies use one core, so give every core its own pipeline ----
def _buffers(key):
    """Per-thread scratch arrays for one band shape, reused from call to call."""
    rows_in, pitch, left, (kernel_height, kernel_width, in_channels, out_channels), dtype = key
    if getattr(_thread_buffers, "key", None) != key:
        rows_out = rows_in - kernel_height + 1
        _thread_buffers.arrays = (
            # kw spare pixels at the end let the last phase's last window row end inside the buffer
            np.zeros((left + rows_in * pitch + kernel_width) * in_channels, dtype),
            np.empty((rows_out, pitch, out_channels), dtype))
        _thread_buffers.key = key
    return _thread_buffers.arrays


def run_tasks(function, tasks):
    """Run ``function(task)`` for every task (a list or tuple), one thread per core with single-threaded BLAS."""
    global _pool, _blas_controller
    if not callable(function):
        raise TypeError(f"function must be callable (it is called once per task), got {type(function).__name__}")
    tasks = check_sequence(tasks, "tasks", allow_empty=True)
    with _pool_lock:
        if _blas_controller is None and _WORKERS > 1:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:  # without it BLAS's threads would fight ours: stay sequential
                _blas_controller = False
            else:
                # Made once: inspecting the loaded libraries takes milliseconds, a limit 20 us.
                _blas_controller = ThreadpoolController()
                _pool = concurrent.futures.ThreadPoolExecutor(_WORKERS, thread_name_prefix="hpml-conv")
        if _WORKERS == 1 or not _blas_controller or len(tasks) == 1:
            for task in tasks:
                function(task)
            return
        with _blas_controller.limit(limits=1, user_api="blas"):
            list(_pool.map(function, tasks))
