"""One exception type for every problem a user can fix.

Each message is a single line that names what is wrong and what to change; the command
line prints it as ``error: <message>`` and exits with status 2, never with a traceback.
"""

import math
import numbers

# numpy's legacy RandomState (which UMAP uses) takes seeds below 2**32; so do the others.
SEED_LIMIT = 2**32


class AtlasError(Exception):
    """A problem with the user's input or parameters, explained in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def check_choice(name: str, value: object, allowed: tuple) -> None:
    """Raise an AtlasError unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise AtlasError(f"Unsupported value {value!r} for {name}; the supported values are {options}.")


def check_range(
    name: str, value: float, low: float | None = None, high: float | None = None, *, allow_infinite: bool = False
) -> None:
    """Raise an AtlasError unless ``value`` is a number with ``low <= value <= high``.

    Either bound may be None. NaN is never accepted (it compares false with every bound), and
    neither is ±inf unless ``allow_infinite``.
    """
    if low is None and high is None:
        bound = "a finite number"
    elif high is None:
        bound = f"at least {low}"
    elif low is None:
        bound = f"at most {high}"
    else:
        bound = f"between {low} and {high}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise AtlasError(f"{name} must be a number ({bound}), got {value!r}.")
    if math.isnan(value) or (math.isinf(value) and not allow_infinite):
        raise AtlasError(f"{name} must be a finite number{'' if bound == 'a finite number' else f' ({bound})'}, got {value!r}.")
    if low is not None and value < low or high is not None and value > high:
        raise AtlasError(f"{name} must be {bound}, got {value!r}.")


#: Seeds every random generator atlas drives accepts (numpy, torch, UMAP's RandomState).
MAX_SEED = SEED_LIMIT - 1


def check_seed(value: object, name: str = "seed") -> int:
    """``value`` as an int; an AtlasError unless it is a whole number that numpy, torch and UMAP accept."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < SEED_LIMIT:
        raise AtlasError(f"{name} must be a whole number from 0 to {SEED_LIMIT - 1}, got {value!r}; choose a seed in that range.")
    return int(value)
