"""One exception type for every problem a user can fix.

Each message is a single line that names what is wrong and what to change; the command
line prints it as ``error: <message>`` and exits with status 2, never with a traceback.
"""


class AtlasError(Exception):
    """A problem with the user's input or parameters, explained in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def check_choice(name: str, value: object, allowed: tuple) -> None:
    """Raise an AtlasError unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise AtlasError(f"Unsupported value {value!r} for {name}; the supported values are {options}.")


def check_range(name: str, value: float, low: float | None = None, high: float | None = None) -> None:
    """Raise an AtlasError unless ``low <= value <= high`` (either bound may be None)."""
    if low is not None and value < low or high is not None and value > high:
        if high is None:
            bound = f"at least {low}"
        elif low is None:
            bound = f"at most {high}"
        else:
            bound = f"between {low} and {high}"
        raise AtlasError(f"{name} must be {bound}, got {value!r}.")


#: Seeds every random generator atlas drives accepts (numpy, torch, UMAP's RandomState).
MAX_SEED = 2**32 - 1


def check_seed(seed: object) -> int:
    """``seed`` as an int, or an AtlasError unless it is a whole number from 0 to 2**32 − 1."""
    if isinstance(seed, bool) or not isinstance(seed, (int,)) and not (hasattr(seed, "__index__")):
        raise AtlasError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}.")
    value = int(seed)
    if not 0 <= value <= MAX_SEED:
        raise AtlasError(f"seed must be a whole number from 0 to {MAX_SEED}, got {value}.")
    return value
