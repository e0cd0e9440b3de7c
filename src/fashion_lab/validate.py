"""Checks for the numbers a user gives: one rule each, one wording each, shared by the config, the callbacks,
the experiments and the command line's argument types.

Each check returns the value (as ``int`` or ``float``) or raises :class:`~fashion_lab.errors.InvalidValue`,
a :class:`~fashion_lab.errors.ConfigError` that names the value, says what is valid and gives an example.

Example:
    >>> positive_int("epochs", 5)
    5
    >>> fraction("validation split", 0.1, low_open=True, high_open=True, example="for 10% pass 0.1")
    0.1
    >>> positive_int("epochs", 0)
    Traceback (most recent call last):
    ...
    fashion_lab.errors.InvalidValue: epochs must be a positive integer, got 0.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import InvalidValue


def is_number(value: Any) -> bool:
    """True for a finite ``int`` or ``float`` (not a bool).

    Example:
        >>> is_number(0.5), is_number(float("nan")), is_number(True), is_number("1")
        (True, False, False, False)
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(name: str, value: Any) -> int:
    """``value`` when it is an integer > 0."""
    if not (_is_int(value) and value > 0):
        raise InvalidValue(name, "must be a positive integer", value)
    return value


def whole_number(name: str, value: Any, *, below: int | None = None) -> int:
    """``value`` when it is an integer >= 0 (and < ``below``, when given).

    Example:
        >>> whole_number("seed", 2**31, below=2**31)
        Traceback (most recent call last):
        ...
        fashion_lab.errors.InvalidValue: seed must be a whole number from 0 to 2147483647, got 2147483648.
    """
    if not (_is_int(value) and value >= 0 and (below is None or value < below)):
        rule = "must be a whole number >= 0" if below is None else f"must be a whole number from 0 to {below - 1}"
        raise InvalidValue(name, rule, value)
    return value


def positive_number(name: str, value: Any, *, example: str = "") -> float:
    """``value`` as a float when it is a finite number > 0."""
    if not (is_number(value) and value > 0):
        raise InvalidValue(name, "must be a number > 0", value, example)
    return float(value)


def non_negative_number(name: str, value: Any, *, example: str = "") -> float:
    """``value`` as a float when it is a finite number >= 0.

    Example:
        >>> non_negative_number("weight decay", 0), non_negative_number("weight decay", 0.01)
        (0.0, 0.01)
    """
    if not (is_number(value) and value >= 0):
        raise InvalidValue(name, "must be a number >= 0", value, example)
    return float(value)


def choice(name: str, value: Any, choices: tuple[str, ...], *, example: str = "") -> str:
    """``value`` when it is one of ``choices``.

    Example:
        >>> choice("model", "rnn", ("mlp", "cnn"), example="--model cnn")
        Traceback (most recent call last):
        ...
        fashion_lab.errors.InvalidValue: model must be one of: mlp, cnn, got 'rnn'; --model cnn.
    """
    if value not in choices:
        raise InvalidValue(name, f"must be one of: {', '.join(choices)}", value, example)
    return value


def fraction(name: str, value: Any, *, low_open: bool, high_open: bool, example: str = "") -> float:
    """``value`` as a float when it lies between 0 and 1; ``low_open``/``high_open`` leave 0/1 out.

    Example:
        >>> fraction("target", 1.0, low_open=True, high_open=False)
        1.0
        >>> fraction("target", "high", low_open=True, high_open=False, example="for 60% pass 0.6")
        Traceback (most recent call last):
        ...
        fashion_lab.errors.InvalidValue: target must be a number in (0, 1], got 'high'; for 60% pass 0.6.
    """
    interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
    if not is_number(value):
        raise InvalidValue(name, f"must be a number in {interval}", value, example)
    if not ((value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)):
        raise InvalidValue(name, f"must be in {interval}", value, example)
    return float(value)




_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_NAME = 100


def safe_name(name: str, value: Any) -> str:
    """``value`` when it is one safe path component: letters, digits, ``.``, ``_`` and ``-``, at most 100
    characters, not starting with ``.`` or ``-`` (so never ``..``, a hidden file, an option or a path).

    Example:
        >>> safe_name("run name", "wide-net_2")
        'wide-net_2'
        >>> safe_name("run name", "../../evil")
        Traceback (most recent call last):
        ...
        fashion_lab.errors.InvalidValue: run name must be one folder name (letters, digits, '.', '_' and '-', up to 100 characters, not starting with '.' or '-'), got '../../evil'.
    """
    if not (isinstance(value, str) and 0 < len(value) <= MAX_NAME and set(value) <= _NAME_CHARS
            and value[0] not in ".-"):
        raise InvalidValue(name, f"must be one folder name (letters, digits, '.', '_' and '-', up to {MAX_NAME} "
                                 f"characters, not starting with '.' or '-')", value)
    return value


__all__ = ["choice", "fraction", "is_number", "non_negative_number", "positive_int", "positive_number", "safe_name",
           "whole_number"]
