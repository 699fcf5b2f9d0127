"""2-D convolution written out three ways, plus the arithmetic and the Sobel filter around it.

For lecture part 2 (the convolution operator, padding, stride, output size, Sobel as the classic
hand-made kernel) and part 3 (convolution as matrix multiplication, im2col). Notebook
``01-convolution-and-sobel`` uses every public function; ``05-compute-and-hardware`` and
``bench/bench_conv.py`` time ``conv2d_im2col`` against the GEMM peak, TensorFlow and MXNet.

Conventions as in ``tf.nn.conv2d``: cross-correlation (the kernel is not flipped), NHWC images by
default (``data_format="NCHW"`` accepted), HWIO kernels ``(kernel_height, kernel_width, in_channels,
out_channels)``, and ``padding="same"`` pads like TF, the odd pixel going to the bottom/right.

- ``output_size``: the slide formula ``floor((n + p_total - k) / s) + 1``.
- ``conv2d_naive``: loops over (image, out_y, out_x, out_channel), exactly as on the slide.
- ``im2col``: the patch matrix (one row per output pixel, one column per kernel weight).
- ``conv2d_im2col``: the same result computed by matrix multiplication; ``conv2d`` picks either.
- ``sobel_kernels`` / ``sobel``: edges of a grey image, built on ``conv2d``.

How ``conv2d_im2col`` is made fast. Plainly it is ``im2col(images) @ kernel.reshape(-1, O)``, but the
patch matrix is kh*kw = 9 times the input (25088 x 576, 58 MB, for a VGG-like layer: batch 8, 56x56,
64 -> 64 channels, 3x3, "same") and building it costs more than multiplying it. Measured on the kit's
2-core AVX-512 machine against numpy's float32 GEMM peak (2048^3: 310-340 GFLOP/s when quiet):
    full patch matrix, then one GEMM                    ~0.25 of the GEMM peak (the copy dominates)
    the same, a few images at a time (stays in cache)   ~0.41
    im2col by kernel row, one (kw*C) x (kh*O) GEMM, sums  0.55-0.63 when quiet (the previous version)
    im2col by kernel row, accumulating GEMMs (what runs)   MEASURED_LATER (target 0.60)
``_kernel_rows_band`` keeps the idea, patches times weights, one kernel row at a time. In NHWC a
window's kernel row is kw*C neighbouring numbers, and windows kw pixels apart do not overlap, so the
patch matrix of every kw-th window (a "phase") IS the zero-padded image's memory, reshaped: no copy.
Kernel row dy of output row y is window row y + dy, so the patch matrix for kernel row dy is the same
memory a few rows further on. Per phase, kh GEMMs (windows x kw*C) @ (kw*C x O) = 192 x 64 here, each
added by BLAS onto the last (GEMM's beta = 1, through scipy's BLAS wrappers: numpy's matmul cannot
add in place), give that phase's outputs; one copy interleaves the kw phases into the output. The
only copies are the padded input and that output, and BLAS runs at ~95 % of its single-core peak on
these shapes (measured). numpy's copies use one core, so each core runs its own images (a thread
each, BLAS set to one thread) rather than BLAS alone using both. Strides above 1
take the plain route, a few images at a time (``_conv2d_patch_chunks``).
"""
import concurrent.futures
import dataclasses
import threading

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import backends

DATA_FORMATS = ("NHWC", "NCHW")
PADDING_NAMES = ("valid", "same")
METHODS = ("im2col", "naive")


# ---- Argument checking (the public boundary: learners pass shapes by hand, so say what was expected) ----
def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _pair(value, name):
    """Return ``(a, b)`` from an int or a pair of ints, checking they are positive."""
    if _is_int(value):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(_is_int(v) for v in value):
        raise TypeError(f"{name} must be an int or a pair of ints (height, width), got {value!r}")
    if value[0] < 1 or value[1] < 1:
        raise ValueError(f"{name} must be positive, got {tuple(value)!r}")
    return int(value[0]), int(value[1])


def _same_padding(input_size, kernel_size, stride):
    """TensorFlow's "same": output ceil(n / s); the odd padding pixel goes after (bottom/right)."""
    out = -(-input_size // stride)
    total = max((out - 1) * stride + kernel_size - input_size, 0)
    return total // 2, total - total // 2


def _padding_pairs(padding, kernel_hw, input_hw, stride_hw):
    """Turn any accepted ``padding`` into ``((top, bottom), (left, right))`` of non-negative ints."""
    if isinstance(padding, str):
        name = padding.lower()
        if name == "valid":
            return (0, 0), (0, 0)
        if name == "same":
            return tuple(_same_padding(n, k, s) for n, k, s in zip(input_hw, kernel_hw, stride_hw))
        raise ValueError(f"padding must be 'valid', 'same' or integers, got {padding!r}")
    if _is_int(padding):
        pairs = ((padding, padding), (padding, padding))
    elif isinstance(padding, (tuple, list)) and len(padding) == 2 and all(_is_int(p) for p in padding):
        pairs = ((padding[0], padding[0]), (padding[1], padding[1]))
    elif (isinstance(padding, (tuple, list)) and len(padding) == 2
          and all(isinstance(p, (tuple, list)) and len(p) == 2 and all(_is_int(q) for q in p)
                  for p in padding)):
        pairs = tuple(tuple(p) for p in padding)
    else:
        raise TypeError("padding must be 'valid', 'same', an int, a (pad_h, pad_w) pair or "
                        f"((top, bottom), (left, right)), got {padding!r}")
    if any(p < 0 for pair in pairs for p in pair):
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return tuple((int(a), int(b)) for a, b in pairs)


def _as_array(value, name):
    """Return ``value`` as a numeric numpy array (TypeError for anything else)."""
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged lists and the like
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}") from error
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    return array


def _prepare(images, kernel_hw, stride, padding, data_format, in_channels=None):
    """Check the arguments shared by every conv function; return NHWC images and the geometry."""
    if not isinstance(data_format, str):
        raise TypeError(f"data_format must be a string, 'NHWC' or 'NCHW', got {data_format!r}")
    if data_format.upper() not in DATA_FORMATS:
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    data_format = data_format.upper()
    images = _as_array(images, "images")
    layout = "(batch, height, width, channels)" if data_format == "NHWC" else \
        "(batch, channels, height, width)"
    if images.ndim != 4:
        raise ValueError(f"images must be 4-D {layout} for data_format={data_format!r}, "
                         f"got shape {images.shape}")
    if data_format == "NCHW":
        images = images.transpose(0, 2, 3, 1)
    if in_channels is not None and images.shape[3] != in_channels:
        raise ValueError(f"kernel has {in_channels} input channels but images have {images.shape[3]} "
                         f"channels; kernel must be (kernel_height, kernel_width, {images.shape[3]}, "
                         "out_channels)")
    stride_hw = _pair(stride, "stride")
    pads = _padding_pairs(padding, kernel_hw, images.shape[1:3], stride_hw)
    padded_hw = [n + sum(p) for n, p in zip(images.shape[1:3], pads)]
    if kernel_hw[0] > padded_hw[0] or kernel_hw[1] > padded_hw[1]:
        raise ValueError(f"kernel of size {tuple(kernel_hw)} is larger than the padded input "
                         f"{tuple(padded_hw)}; use a smaller kernel or more padding")
    out_hw = tuple((n - k) // s + 1 for n, k, s in zip(padded_hw, kernel_hw, stride_hw))
    return images, stride_hw, pads, out_hw, data_format


def _check_kernel(kernel):
    kernel = _as_array(kernel, "kernel")
    if kernel.ndim != 4:
        raise ValueError("kernel must be 4-D (kernel_height, kernel_width, in_channels, out_channels) "
                         f"as in tf.nn.conv2d, got shape {kernel.shape}")
    return kernel


def _result_dtype(images, kernel):  # uint8 photos are computed in float; float64 stays float64
    return np.result_type(images.dtype, kernel.dtype, np.float32)


def _pad(images, pads, dtype):
    return np.pad(images.astype(dtype, copy=False), ((0, 0), pads[0], pads[1], (0, 0)))


# ---- Public API ----
def output_size(input_size, kernel_size, stride=1, padding=0):
    """Output length along one axis: ``floor((n + p_total - k) / s) + 1`` (the lecture's formula)."""
    for name, value in (("input_size", input_size), ("kernel_size", kernel_size), ("stride", stride)):
        if not _is_int(value):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value!r}")
    if isinstance(padding, str):
        (before, after), _ = _padding_pairs(padding, (kernel_size, 1), (input_size, 1), (stride, 1))
    elif _is_int(padding):
        before = after = padding  # an int is added on each side, as in conv2d(padding=p)
    elif isinstance(padding, (tuple, list)) and len(padding) == 2 and all(_is_int(p) for p in padding):
        before, after = padding
    else:
        raise TypeError("padding must be 'valid', 'same', an int (each side) or a (before, after) "
                        f"pair, got {padding!r}")
    if before < 0 or after < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    if kernel_size > input_size + before + after:
        raise ValueError(f"kernel_size {kernel_size} is larger than the padded input "
                         f"{input_size + before + after}")
    return (input_size + before + after - kernel_size) // stride + 1


def conv2d_naive(images, kernel, stride=1, padding="valid", data_format="NHWC"):
    """Convolution as four nested loops, one multiply-add window per output value (small inputs)."""
    kernel = _check_kernel(kernel)
    kernel_height, kernel_width, in_channels, out_channels = kernel.shape
    images, (stride_y, stride_x), pads, (out_height, out_width), data_format = _prepare(
        images, (kernel_height, kernel_width), stride, padding, data_format, in_channels)
    dtype = _result_dtype(images, kernel)
    padded = _pad(images, pads, dtype)
    kernel = kernel.astype(dtype, copy=False)
    output = np.zeros((images.shape[0], out_height, out_width, out_channels), dtype)
    for n in range(images.shape[0]):
        for out_y in range(out_height):
            for out_x in range(out_width):
                top, left = out_y * stride_y, out_x * stride_x
                window = padded[n, top:top + kernel_height, left:left + kernel_width, :]
                for out_channel in range(out_channels):
                    # kh*kw*in_channels multiply-adds: the dot product the slide draws as one arrow
                    output[n, out_y, out_x, out_channel] = np.sum(window * kernel[:, :, :, out_channel])
    return output if data_format == "NHWC" else output.transpose(0, 3, 1, 2)


def im2col(images, kernel_size, stride=1, padding="valid", data_format="NHWC"):
    """The patch matrix: one row per output pixel (image by image), columns ordered (dy, dx, channel)."""
    kernel_hw = _pair(kernel_size, "kernel_size")
    images, stride_hw, pads, out_hw, _ = _prepare(images, kernel_hw, stride, padding, data_format)
    padded = _pad(images, pads, np.result_type(images.dtype, np.float32))
    # A view, no copy yet: windows[n, y, x, c, dy, dx]; the strides pick every s-th window.
    windows = sliding_window_view(padded, kernel_hw, axis=(1, 2))
    windows = windows[:, ::stride_hw[0], ::stride_hw[1]][:, :out_hw[0], :out_hw[1]]
    # Column order (dy, dx, c) is the order of kernel.reshape(-1, out_channels) for HWIO kernels.
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, kernel_hw[0] * kernel_hw[1] * images.shape[3])


def conv2d_im2col(images, kernel, stride=1, padding="valid", data_format="NHWC"):
    """Convolution as matrix multiplication: ``im2col(images) @ kernel.reshape(-1, out_channels)``."""
    # That one product is the result; it is computed in pieces that never hold the whole patch
    # matrix (kh*kw times the images), which is what makes it fast: see the module docstring.
    kernel = _check_kernel(kernel)
    kernel_height, kernel_width, in_channels, out_channels = kernel.shape
    images, stride_hw, pads, out_hw, data_format = _prepare(
        images, (kernel_height, kernel_width), stride, padding, data_format, in_channels)
    dtype = _result_dtype(images, kernel)
    kernel = kernel.astype(dtype, copy=False)
    if stride_hw == (1, 1):
        output = _conv2d_kernel_rows(images, kernel, pads, out_hw, dtype)
    else:
        output = _conv2d_patch_chunks(images, kernel, stride_hw, pads, out_hw, dtype)
    return output if data_format == "NHWC" else output.transpose(0, 3, 1, 2)


def conv2d(images, kernel, stride=1, padding="valid", data_format="NHWC", method="im2col"):
    """2-D convolution (cross-correlation, as tf.nn.conv2d); ``method`` is "im2col" or "naive"."""
    if method == "im2col":
        return conv2d_im2col(images, kernel, stride, padding, data_format)
    if method == "naive":
        return conv2d_naive(images, kernel, stride, padding, data_format)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


# ---- The matrix-multiplication engines behind conv2d_im2col ----

# Patch matrices of a few images at a time, in one reused buffer: the GEMM reads them from cache.
_PATCH_BUFFER_BYTES = 4 * 2**20


def _conv2d_patch_chunks(images, kernel, stride_hw, pads, out_hw, dtype):
    """Any stride: im2col of a few images into a reused buffer, then one GEMM per chunk."""
    kernel_height, kernel_width, in_channels, out_channels = kernel.shape
    batch, out_pixels = images.shape[0], out_hw[0] * out_hw[1]
    columns = kernel_height * kernel_width * in_channels
    weights = kernel.reshape(columns, out_channels)
    output = np.empty((batch, out_hw[0], out_hw[1], out_channels), dtype)
    chunk = max(1, min(batch, _PATCH_BUFFER_BYTES // (out_pixels * columns * np.dtype(dtype).itemsize)))
    buffer = np.empty((chunk, out_hw[0], out_hw[1], kernel_height, kernel_width, in_channels), dtype)
    for start in range(0, batch, chunk):
        stop = min(batch, start + chunk)
        padded = _pad(images[start:stop], pads, dtype)
        windows = sliding_window_view(padded, (kernel_height, kernel_width), axis=(1, 2))
        windows = windows[:, ::stride_hw[0], ::stride_hw[1]][:, :out_hw[0], :out_hw[1]]
        patches = buffer[:stop - start]
        patches[...] = windows.transpose(0, 1, 2, 4, 5, 3)
        np.matmul(patches.reshape(-1, columns), weights,
                  out=output[start:stop].reshape(-1, out_channels))
    return output


def _conv2d_kernel_rows(images, kernel, pads, out_hw, dtype):
    """Stride 1: im2col by kernel row, whose patch matrices are free reshapes of the padded image."""
    from scipy.linalg import get_blas_funcs  # BLAS's own GEMM: C = A B + beta C, added in place

    kernel_height, kernel_width, in_channels, out_channels = kernel.shape
    batch, width = images.shape[0], images.shape[2]
    # Row pitch: the image width plus one zero gap that is the right padding of a row and the left
    # padding of the next (at least one window start per output column), rounded up to a multiple
    # of kw so that the phases below line up row after row.
    pitch = -(-max(width + max(pads[1]), out_hw[1]) // kernel_width) * kernel_width
    # weights[dy] = kernel[dy].reshape(kw*C, O): kernel row dy, in the column order (dx, c) of a patch row.
    weights = [np.ascontiguousarray(kernel[dy]).reshape(kernel_width * in_channels, out_channels)
               for dy in range(kernel_height)]
    gemm = get_blas_funcs("gemm", dtype=dtype)
    output = np.empty((batch, *out_hw, out_channels), dtype)
    # One task per image, or per band of output rows when the products would not stay in cache or
    # there are fewer images than tasks the cores can share. Each band recomputes kh - 1 rows, so
    # bands are kept at least 16 times that tall.
    band = max(1, _BAND_GEMM_ROWS * kernel_width // pitch - kernel_height + 1, 16 * (kernel_height - 1))
    if batch < 2 * _WORKERS:
        band = min(band, -(-out_hw[0] * batch // (2 * _WORKERS)))
    tasks = [(n, y, min(out_hw[0], y + band)) for n in range(batch) for y in range(0, out_hw[0], band)]
    _run_tasks(lambda task: _kernel_rows_band(images, weights, gemm, kernel.shape, pads, pitch, output, *task),
               tasks)
    return output


def _kernel_rows_band(images, weights, gemm, kernel_shape, pads, pitch, output, n, first_row, stop_row):
    """Output rows [first_row, stop_row) of image n: kh accumulating GEMMs per phase, then one copy."""
    kernel_height, kernel_width, in_channels, out_channels = kernel_shape
    height, width = images.shape[1:3]
    top, left = pads[0][0], pads[1][0]
    rows_out, out_width, groups = stop_row - first_row, output.shape[2], pitch // kernel_width
    rows_in = rows_out + kernel_height - 1
    flat, sums = _buffers((rows_in, pitch, left, kernel_shape, output.dtype.str))
    # padded rows first_row.. of the image, pitch apart; the gap columns [width, pitch) stay zero
    padded = flat[left * in_channels:(left + rows_in * pitch) * in_channels].reshape(rows_in, pitch, in_channels)
    begin = min(rows_in, max(0, top - first_row))  # a band may lie wholly in the padding
    end = max(begin, min(rows_in, height + top - first_row))
    padded[:begin, :width] = 0
    padded[end:, :width] = 0
    padded[begin:end, :width] = images[n, first_row + begin - top:first_row + end - top]
    # Windows kw pixels apart do not overlap, and one kernel row of a window is kw*C neighbouring
    # numbers in NHWC. So the patch matrix of the windows starting at x = phase, phase + kw, ...
    # (one row per window, kw*C columns) is the buffer itself, reshaped: no copy, and BLAS reads it.
    # Window row w = y*groups + g starts at w*kw*C + phase*C; kernel row dy of output row y is window
    # row y + dy, i.e. the same matrix dy*groups rows further down.
    row_length, windows = kernel_width * in_channels, rows_out * groups
    for phase in range(min(kernel_width, out_width)):
        # sums[phase] (windows x O) = sum over dy of patches_dy @ weights[dy]: BLAS adds each product
        # to the last (beta = 1), so nothing but the result is written. BLAS is column-major: the
        # transposes below are the same memory seen that way (C^T = W^T P^T), no copies.
        target = sums[phase].T
        for dy in range(kernel_height):
            start = phase * in_channels + dy * groups * row_length
            patches = flat[start:start + windows * row_length].reshape(windows, row_length)
            result = gemm(1.0, weights[dy].T, patches.T, beta=1.0 if dy else 0.0, c=target, overwrite_c=True)
            if not np.shares_memory(result, target):  # never seen; only if BLAS had to copy
                target[...] = result
    # sums[phase, y, g] is output pixel (y, phase + kw*g): interleave the phases, drop the gap columns.
    interleaved = sums.reshape(kernel_width, rows_out, groups, out_channels).transpose(1, 2, 0, 3)
    output[n, first_row:stop_row] = interleaved.reshape(rows_out, pitch, out_channels)[:, :out_width]


# ---- Threads: numpy's copies and adds use one core, so give every core its own pipeline ----
_WORKERS = max(1, min(8, backends.usable_cpus()))  # a container's CPU quota counts, not the host's cores
_BAND_GEMM_ROWS = 1536  # rows per phase GEMM: big enough for BLAS, small enough for the L2 cache
_pool = _blas_controller = None  # made on first use
_pool_lock = threading.Lock()
_thread_buffers = threading.local()


def _buffers(key):
    """Per-thread scratch arrays for one band shape, reused from call to call."""
    rows_in, pitch, left, (kernel_height, kernel_width, in_channels, out_channels), dtype = key
    if getattr(_thread_buffers, "key", None) != key:
        groups = pitch // kernel_width
        rows_out = rows_in - kernel_height + 1
        _thread_buffers.arrays = (
            # kw spare pixels at the end let the last phase's last window row end inside the buffer
            np.zeros((left + rows_in * pitch + kernel_width) * in_channels, dtype),
            np.empty((kernel_width, rows_out * groups, out_channels), dtype))
        _thread_buffers.key = key
    return _thread_buffers.arrays


def _run_tasks(function, tasks):
    """Run ``function(task)`` for every task, one thread per core with single-threaded BLAS."""
    global _pool, _blas_controller
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


# ---- Sobel: the classic hand-made kernel, run through the same conv2d a CNN layer uses ----
@dataclasses.dataclass
class SobelResult:
    """The Sobel responses of one grey image, each an array of the image's shape (for "same")."""

    x: np.ndarray  # d/dx: positive where the image gets brighter to the right
    y: np.ndarray  # d/dy: positive where the image gets brighter downwards (row index grows)
    magnitude: np.ndarray  # sqrt(x**2 + y**2)
    direction: np.ndarray  # arctan2(y, x) in radians, in (-pi, pi]; the gradient points to brighter


def sobel_kernels():
    """The 3x3 Sobel kernels ``(gx, gy)`` for cross-correlation: x to the right, y downwards."""
    gx = np.array([[-1.0, 0.0, 1.0],
                   [-2.0, 0.0, 2.0],
                   [-1.0, 0.0, 1.0]])
    return gx, gx.T.copy()


def sobel(image, padding="same"):
    """Sobel edges of a grey 2-D image (uint8 or float), computed with this module's ``conv2d``.

    Values keep the image's scale (uint8 is not divided by 255). Borders: ``padding="same"`` pads
    with zeros, so the results keep the image's shape and the one-pixel frame responds to the jump
    from the image to the zero padding (scikit-image reflects the image there instead);
    ``padding="valid"`` drops that frame and returns (height - 2, width - 2).
    """
    image = _as_array(image, "image")
    if image.ndim != 2:
        raise ValueError(f"image must be a grey 2-D array (height, width), got shape {image.shape}")
    if padding not in PADDING_NAMES:
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    gx, gy = sobel_kernels()
    # Both kernels as the two output channels of one conv2d: (3, 3, in=1, out=2), one pass.
    kernel = np.stack([gx, gy], axis=-1)[:, :, None, :]
    images = image.astype(np.float64)[None, :, :, None]
    responses = conv2d(images, kernel, padding=padding)[0]
    x, y = responses[..., 0], responses[..., 1]
    return SobelResult(x=x, y=y, magnitude=np.hypot(x, y), direction=np.arctan2(y, x))
