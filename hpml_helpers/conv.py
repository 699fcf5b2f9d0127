"""2-D convolution written out three ways, plus the arithmetic and the Sobel filter around it.

For lecture part 2 (the convolution operator, padding, stride, output size, Sobel as the classic
hand-made kernel) and part 3 (convolution as matrix multiplication, im2col). Notebook
``01-convolution-and-sobel`` uses every public function; ``06-compute-and-hardware`` and
``bench/bench_conv.py`` time ``conv2d_im2col`` against the GEMM peak, TensorFlow and MXNet.

Conventions as in ``tf.nn.conv2d``: cross-correlation (the kernel is not flipped), NHWC images by
default (``data_format="NCHW"`` accepted), HWIO kernels ``(kernel_height, kernel_width, in_channels,
out_channels)``, and ``padding="same"`` pads like TF, the odd pixel going to the bottom/right.

- ``output_size``: the slide formula ``floor((n + p_total - k) / s) + 1``.
- ``conv2d_naive``: loops over (image, out_y, out_x, out_channel), exactly as on the slide.
- ``im2col``: the patch matrix (one row per output pixel, one column per kernel weight).
- ``conv2d_im2col``: the same result computed by matrix multiplication; ``conv2d`` picks either.
- ``sobel_kernels`` / ``sobel``: edges of a grey image, built on ``conv2d``.

How ``conv2d_im2col`` is made fast, close to the machine's GEMM peak without ever building the whole
patch matrix, is the subject of ``conv_gemm`` (its docstring has the measurements).
Used by notebooks 01-convolution-and-sobel and 06-compute-and-hardware, by ``interactive`` and by bench/.
"""
import dataclasses

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import conv_gemm
from .validation import check_array, check_choice, check_data_format, check_positive_int, check_shape, is_integer

PADDING_NAMES = ("valid", "same")
METHODS = ("im2col", "naive")
IMAGE_KINDS = "buif"  # numpy dtype kinds accepted for images and kernels: bool masks, ints, uint8 photos, floats


# ---- Argument checking (the public boundary: learners pass shapes by hand, so say what was expected) ----
def _pair(value, name):
    """Return ``(a, b)`` from a positive int or a pair of positive ints (height, width)."""
    if is_integer(value):
        value = check_positive_int(value, name)
        return value, value
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be an int or a pair of ints (height, width), got {value!r} "
                        f"({type(value).__name__})")
    return check_shape(value, name, length=2)


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
    if is_integer(padding):
        pairs = ((padding, padding), (padding, padding))
    elif isinstance(padding, (tuple, list)) and len(padding) == 2 and all(is_integer(p) for p in padding):
        pairs = ((padding[0], padding[0]), (padding[1], padding[1]))
    elif (isinstance(padding, (tuple, list)) and len(padding) == 2
          and all(isinstance(p, (tuple, list)) and len(p) == 2 and all(is_integer(q) for q in p)
                  for p in padding)):
        pairs = tuple(tuple(p) for p in padding)
    else:
        raise TypeError("padding must be 'valid', 'same', an int, a (pad_h, pad_w) pair or "
                        f"((top, bottom), (left, right)), got {padding!r}")
    if any(p < 0 for pair in pairs for p in pair):
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return tuple((int(a), int(b)) for a, b in pairs)


def _prepare(images, kernel_hw, stride, padding, data_format, in_channels=None):
    """Check the arguments shared by every conv function; return NHWC images and the geometry."""
    data_format = check_data_format(data_format)
    images = check_array(images, "images", kinds=IMAGE_KINDS)
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
                         f"{tuple(padded_hw)} (images {images.shape[1:3]} plus padding {pads}); "
                         "use a smaller kernel or more padding")
    out_hw = tuple((n - k) // s + 1 for n, k, s in zip(padded_hw, kernel_hw, stride_hw))
    return images, stride_hw, pads, out_hw, data_format


def _check_kernel(kernel):
    kernel = check_array(kernel, "kernel", kinds=IMAGE_KINDS)
    if kernel.ndim != 4:
        raise ValueError("kernel must be 4-D (kernel_height, kernel_width, in_channels, out_channels) "
                         f"as in tf.nn.conv2d, got shape {kernel.shape}")
    return kernel


def _result_dtype(*arrays):
    """float32 unless an input needs float64 (uint8 photos are computed in float; float64 stays float64)."""
    dtype = np.result_type(*(array.dtype for array in arrays), np.float32)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)  # the GEMM engines' two


# ---- Public API ----
def output_size(input_size, kernel_size, stride=1, padding=0):
    """Output length along one axis: ``floor((n + p_total - k) / s) + 1`` (the lecture's formula)."""
    input_size = check_positive_int(input_size, "input_size")
    kernel_size = check_positive_int(kernel_size, "kernel_size")
    stride = check_positive_int(stride, "stride")
    if isinstance(padding, str):
        (before, after), _ = _padding_pairs(padding, (kernel_size, 1), (input_size, 1), (stride, 1))
    elif is_integer(padding):
        before = after = padding  # an int is added on each side, as in conv2d(padding=p)
    elif isinstance(padding, (tuple, list)) and len(padding) == 2 and all(is_integer(p) for p in padding):
        before, after = padding
    else:
        raise TypeError("padding must be 'valid', 'same', an int (each side) or a (before, after) "
                        f"pair, got {padding!r}")
    if before < 0 or after < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    if kernel_size > input_size + before + after:
        raise ValueError(f"kernel_size {kernel_size} is larger than the padded input "
                         f"{input_size + before + after}")
    return int((input_size + before + after - kernel_size) // stride + 1)


def conv2d_naive(images, kernel, stride=1, padding="valid", data_format="NHWC"):
    """Convolution as four nested loops, one multiply-add window per output value (small inputs)."""
    kernel = _check_kernel(kernel)
    kernel_height, kernel_width, in_channels, out_channels = kernel.shape
    images, (stride_y, stride_x), pads, (out_height, out_width), data_format = _prepare(
        images, (kernel_height, kernel_width), stride, padding, data_format, in_channels)
    dtype = _result_dtype(images, kernel)
    padded = conv_gemm.pad(images, pads, dtype)
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
    padded = conv_gemm.pad(images, pads, _result_dtype(images))
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
        output = conv_gemm.conv2d_kernel_rows(images, kernel, pads, out_hw, dtype)
    else:
        output = conv_gemm.conv2d_patch_chunks(images, kernel, stride_hw, pads, out_hw, dtype)
    return output if data_format == "NHWC" else output.transpose(0, 3, 1, 2)


def conv2d(images, kernel, stride=1, padding="valid", data_format="NHWC", method="im2col"):
    """2-D convolution (cross-correlation, as tf.nn.conv2d); ``method`` is "im2col" or "naive"."""
    if check_choice(method, "method", METHODS) == "naive":
        return conv2d_naive(images, kernel, stride, padding, data_format)
    return conv2d_im2col(images, kernel, stride, padding, data_format)


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
    image = check_array(image, "image", kinds=IMAGE_KINDS)
    if image.ndim != 2:
        raise ValueError(f"image must be a grey 2-D array (height, width), got shape {image.shape}")
    padding = check_choice(padding, "padding", PADDING_NAMES)
    gx, gy = sobel_kernels()
    # Both kernels as the two output channels of one conv2d: (3, 3, in=1, out=2), one pass.
    kernel = np.stack([gx, gy], axis=-1)[:, :, None, :]
    images = image.astype(np.float64)[None, :, :, None]
    responses = conv2d(images, kernel, padding=padding)[0]
    x, y = responses[..., 0], responses[..., 1]
    return SobelResult(x=x, y=y, magnitude=np.hypot(x, y), direction=np.arctan2(y, x))
