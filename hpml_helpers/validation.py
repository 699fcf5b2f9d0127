"""Argument checks shared by every public helper of the kit.

Each check raises ValueError or TypeError with a message that names the argument and says what was
expected, and returns the value in a normal form (``int``, ``float``, a lower-case choice, a numpy array).
The public functions of every module call these before any expensive work, so that a learner's mistake
gets a clear message instead of an error from deep inside numpy, Keras or MXNet.
Used by all modules of ``hpml_helpers``; the exercise checks in ``exercises.py`` use ``is_real_number``.
"""
import math
import numbers
import pathlib

import numpy as np


def is_real_number(value):
    """True for an int/float/numpy real number that is not a bool (numpy scalars included)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_integer(value):
    """True for an int or numpy integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_integer(value, name, minimum=None, maximum=None):
    """``value`` as an int, between ``minimum`` and ``maximum`` (inclusive) when given."""
    if not is_integer(value):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {value}")
    return value


def check_positive_int(value, name):
    """``value`` as an int >= 1."""
    return check_integer(value, name, minimum=1)


def check_number(value, name, minimum=None, maximum=None, strict=False, allow_none=False):
    """``value`` as a finite float; ``minimum``/``maximum`` bound it (exclusive bounds when ``strict``)."""
    if value is None and allow_none:
        return None
    if not is_real_number(value):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum:g}, got {value:g}")
    if maximum is not None and (value >= maximum if strict else value > maximum):
        raise ValueError(f"{name} must be {'<' if strict else '<='} {maximum:g}, got {value:g}")
    return value


def check_positive_number(value, name, allow_none=False):
    """``value`` as a finite float > 0."""
    return check_number(value, name, minimum=0, strict=True, allow_none=allow_none)


def check_fraction(value, name, inclusive=True):
    """``value`` as a float in [0, 1] ([0, 1) when not ``inclusive``)."""
    value = check_number(value, name, minimum=0)
    if value > 1 or (not inclusive and value == 1):
        raise ValueError(f"{name} must be in [0, 1{']' if inclusive else ')'}, got {value:g}")
    return value


def check_choice(value, name, choices):
    """``value`` lower-cased, which must be one of ``choices`` (strings)."""
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value.lower()


DATA_FORMATS = ("NHWC", "NCHW")  # image layouts: Keras/TensorFlow's default, and Gluon's


def check_data_format(value, name="data_format"):
    """``value`` upper-cased, which must name an image layout of ``DATA_FORMATS`` (any case: "nhwc" is "NHWC")."""
    check_string(value, name)
    return check_choice(value, name, tuple(layout.lower() for layout in DATA_FORMATS)).upper()


def check_seed(value, name="seed", allow_none=True):
    """An integer seed >= 0 (or None when allowed)."""
    if value is None and allow_none:
        return None
    return check_integer(value, name, minimum=0)


def check_bool(value, name):
    """``value`` as a bool; only True/False (numpy bools too) are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_string(value, name, allow_empty=False):
    """``value`` as a non-empty string."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r} ({type(value).__name__})")
    if not value and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return value


def check_path(value, name):
    """``value`` as a pathlib.Path (from str or os.PathLike)."""
    if isinstance(value, pathlib.PurePath):
        return pathlib.Path(value)
    if isinstance(value, str) and value:
        return pathlib.Path(value)
    raise TypeError(f"{name} must be a file path (str or pathlib.Path), got {value!r}")


def check_sequence(value, name, allow_empty=False):
    """``value`` as a list; strings, dicts and non-iterables are refused."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a list or tuple, got {value!r} ({type(value).__name__})")
    items = list(value)
    if not items and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return items


def check_shape(value, name, length=None):
    """``value`` as a tuple of positive ints (of ``length`` entries when given)."""
    items = check_sequence(value, name)
    if length is not None and len(items) != length:
        raise ValueError(f"{name} must have {length} entries, got {value!r}")
    for item in items:
        if not is_integer(item) or item < 1:
            raise ValueError(f"{name} must hold positive integers, got {value!r}")
    return tuple(int(item) for item in items)


def check_array(value, name, ndim=None, min_size=1, finite=True, kinds="uif", dtype=None):
    """``value`` as a numpy array of numbers: ``ndim`` dimensions (an int or a tuple of allowed ones),
    at least ``min_size`` elements, no NaN or infinity when ``finite``; ``dtype`` converts it."""
    if value is None:
        raise TypeError(f"{name} must be an array of numbers, got None")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:  # ragged lists
        raise ValueError(f"{name} must be a rectangular array of numbers ({error})") from None
    if array.dtype.kind not in kinds:
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if array.ndim not in allowed:
            expected = " or ".join(map(str, allowed))
            raise ValueError(f"{name} must have {expected} dimensions, got shape {array.shape}")
    if array.size < min_size:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    if finite and array.dtype.kind == "f" and not all_finite(array):
        raise ValueError(f"{name} must hold finite numbers (no NaN or infinity)")
    return array.astype(dtype) if dtype is not None else array


def all_finite(array):
    """True when a float array holds no NaN or infinity. Large float32/float64 arrays take a fast path: the
    dot product of the array with itself (one BLAS pass, no temporary) is finite whenever every element is;
    only when it is not (a NaN, an infinity, or an overflow of huge values) are the elements checked one by one."""
    if array.dtype in (np.float32, np.float64) and array.size > 65536 and array.flags.c_contiguous:
        flat = array.reshape(-1)
        if math.isfinite(float(np.dot(flat, flat))):
            return True
    return bool(np.isfinite(array).all())


def check_keras_model(model, name="model"):
    """``model`` if it is a Keras Model; None, Gluon blocks and layers get a TypeError naming ``name``.
    Keras is imported only here, when a check needs it."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"{name} must be a Keras Model (Functional or Sequential), got {type(model).__name__}")
    return model


def check_record(row, name, keys, what="a dict"):
    """``row`` as a dict holding every one of ``keys``; the message names ``row``'s name and the first key
    missing, and ``what`` says where such dicts come from (e.g. "a gemm_gflops row")."""
    if not isinstance(row, dict):
        raise TypeError(f"{name} must be {what} (a dict with keys {', '.join(keys)}), got {row!r}")
    missing = [key for key in keys if key not in row]
    if missing:
        raise ValueError(f"{name} has no {missing[0]!r} key: pass {what} (it has {', '.join(keys)})")
    return row


def check_records(rows, name, keys, what="a dict", allow_empty=False):
    """``rows`` as a list of dicts, each holding ``keys`` (see ``check_record``); items named ``name[i]``."""
    rows = check_sequence(rows, name, allow_empty=allow_empty)
    for index, row in enumerate(rows):
        check_record(row, f"{name}[{index}]", keys, what)
    return rows


def check_not_none(value, name, expected="a model"):
    """``value`` unless it is None."""
    if value is None:
        raise TypeError(f"{name} must be {expected}, got None")
    return value


# Vectorised checks: a number or an array of numbers (the schedules and the allreduce model take both).
def check_number_array(name, value, minimum=0.0, strict=True):
    """Return ``value`` as a float array, raising ValueError/TypeError naming ``name`` when out of range."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):  # ragged lists
        raw = np.asarray([], dtype=object)
    if raw.dtype.kind not in "iuf":  # bools, strings ("8192") and objects are not numbers here
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}")
    array = raw.astype(float)
    bad = ~np.isfinite(array) | ((array <= minimum) if strict else (array < minimum))
    if array.size == 0 or bad.any():
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be finite and {relation} {minimum:g}, got {value!r}")
    return array


def check_whole_array(name, value, minimum=1):
    """Return whole numbers >= ``minimum`` as an int array, raising ValueError/TypeError naming ``name``."""
    array = check_number_array(name, value, minimum=minimum, strict=False)
    if (array != np.round(array)).any():
        raise ValueError(f"{name} must be whole numbers >= {minimum}, got {value!r}")
    return array.astype(int)


def scalar_or_array(array):
    """Give back a Python float for 0-d results, so scalar in means scalar out."""
    return float(array) if np.ndim(array) == 0 else array


