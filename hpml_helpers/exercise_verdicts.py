"""The verdict machinery behind every exercise check: answers in, one printed sentence and True/False out.

A check never raises. A right answer prints "Correct: ..." and returns True; a wrong one, or one of the
wrong kind (a string, None, a list, a function that raises or takes the wrong arguments), prints one
sentence saying what is wrong and returns False; the ``...`` placeholder the notebooks ship with prints
"Not answered yet" and returns False, so a notebook runs top to bottom before anyone fills it in.
Used by ``exercise_checks_basics`` and ``exercise_checks_compute``, whose checks ``exercises`` gathers.
"""
import functools
import inspect
import math

import numpy as np

from . import validation

NOT_ANSWERED = "Not answered yet: replace the `...` with your answer and run the cell again."


class NotAnswered(Exception):
    """The learner left the ``...`` placeholder in place."""


class WrongAnswer(Exception):
    """The answer cannot be right; the message says why in one sentence."""


def checked(check):
    """Decorator of every ``check_*``: turns the placeholder, an unusable answer and any failure into a
    printed sentence and False, so that a learner sees a hint instead of a traceback."""

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        if any(value is Ellipsis for value in list(args) + list(kwargs.values())):
            print(NOT_ANSWERED)
            return False
        try:
            return bool(check(*args, **kwargs))
        except NotAnswered:
            print(NOT_ANSWERED)
        except (WrongAnswer, TypeError, ValueError) as error:  # validation names the argument
            print(f"Not yet: {error}")
        except Exception as error:  # noqa: BLE001  (a check must never fail in front of a learner)
            print(f"Not yet: the answer could not be checked ({type(error).__name__}: {error}).")
        return False

    return wrapper


def verdict(ok, right, hint):
    """Print "Correct: right" or "Not yet: hint" and return ``ok`` as a bool."""
    ok = bool(ok)
    print(("Correct: " + right) if ok else ("Not yet: " + hint))
    return ok


def number(value, name):
    """``value`` as a finite float; any real number is accepted (numpy scalars and 0-d arrays too)."""
    if value is Ellipsis:
        raise NotAnswered
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if not validation.is_real_number(value):
        raise WrongAnswer(f"{name} must be a number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    if not math.isfinite(value):
        raise WrongAnswer(f"{name} must be a finite number, got {value!r}.")
    return value


def positive(value, name):
    """A finite number > 0 (a rate, a bandwidth, a latency given by the notebook)."""
    value = number(value, name)
    if value <= 0:
        raise WrongAnswer(f"{name} must be > 0, got {value:g}.")
    return value


def whole(value, name, minimum=1):
    """A whole number >= ``minimum`` as an int (a count such as num_workers or batch_size)."""
    value = number(value, name)
    if value != round(value) or value < minimum:
        raise WrongAnswer(f"{name} must be a whole number >= {minimum}, got {value:g}.")
    return int(value)


def same_count(answer, want, name="answer"):
    """True when ``answer`` is the integer ``want``, up to the resolution of the answer's own float type
    (np.float32 cannot hold every large count exactly)."""
    value = number(answer, name)
    resolution = 0.0
    if isinstance(answer, (np.floating, np.ndarray)):
        resolution = float(np.spacing(np.asarray(want, dtype=np.asarray(answer).dtype)))
    return abs(value - want) <= resolution


def function(value, name, parameters):
    """``value`` if it is a function that can be called with ``parameters`` (their names, for the hint)."""
    if value is Ellipsis:
        raise NotAnswered
    if not callable(value):
        raise WrongAnswer(f"{name} must be a function that takes ({', '.join(parameters)}), "
                          f"got {type(value).__name__}.")
    try:
        inspect.signature(value).bind(*parameters)
    except TypeError:
        raise WrongAnswer(f"{name} must take {len(parameters)} argument(s), ({', '.join(parameters)}).") from None
    except ValueError:  # builtins without a signature: let the call decide
        pass
    return value


def call(learner_function, name, *args):
    """Call the learner's function; an exception inside it or a ``...`` result becomes a verdict."""
    try:
        result = learner_function(*args)
    except Exception as error:  # noqa: BLE001  (the learner's code, whatever it raises)
        raise WrongAnswer(f"{name} raised {type(error).__name__}: {error}.") from None
    if result is Ellipsis:
        raise NotAnswered
    return result


def array(value, name, shape):
    """``value`` as a finite float array of ``shape`` (any shape when None)."""
    try:
        result = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise WrongAnswer(f"{name} must be an array of numbers {'' if shape is None else f' of shape {shape}'}, got {type(value).__name__}.") from None
    if shape is not None and result.shape != tuple(shape):
        raise WrongAnswer(f"{name} must have shape {tuple(shape)}, got {result.shape}.")
    if not np.all(np.isfinite(result)):
        raise WrongAnswer(f"{name} must hold finite numbers (no NaN or infinity).")
    return result
