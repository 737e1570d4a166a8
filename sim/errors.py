"""One exception type for everything a user can get wrong in a config or a call.

The CLI turns a :class:`ConfigError` into one line on stderr and exit code 2, before anything is
written to disk.
"""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(ValueError):
    """Bad user input: names the config key and what is allowed."""


def unknown(key: str, value: object, allowed: Iterable[object]) -> ConfigError:
    """Error for an unknown name: ``key`` got ``value``; list the allowed names."""
    allowed = sorted(str(a) for a in allowed)
    return ConfigError(f"{key}: unknown value {value!r}; allowed: {', '.join(allowed)}")


def check_range(key: str, value: float, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False) -> float:
    """Return ``value`` as float if lo <= value <= hi (lo < value when ``lo_open``), else raise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    bad = v != v or (lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and v > hi)
    if bad:
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        bracket = "(" if lo_open else "["
        raise ConfigError(f"{key}: {v:g} is out of range; allowed: {bracket}{lo_s}, {hi_s}]")
    return v


def check_bool(key: str, value: object) -> bool:
    """Return ``value`` if it is a real boolean; anything else (``'off'``, ``1``, ``'maybe'``) is an error."""
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{key}: {value!r} is not allowed; allowed: true, false")
