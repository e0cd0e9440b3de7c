"""Lazy package exports: a package names what it offers, and each name's module is imported on first use.

``import fashion_lab`` (and ``fashion-lab --help``) stays fast: nothing heavy is imported until a name is used.

Example:
    >>> __getattr__, __dir__, __all__ = lazy_exports("fashion_lab", {"TrainConfig": "config"})
    >>> __getattr__("TrainConfig").__name__, __all__
    ('TrainConfig', ['TrainConfig'])
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable


def lazy_exports(package: str, exports: dict[str, str], also: Iterable[str] = ()) -> tuple[Callable, Callable, list[str]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``, and its ``__all__``.

    ``exports`` maps each public name to the submodule (relative to ``package``) that defines it; ``also``
    lists names the package defines itself. A name is imported on first access and then kept on the package.
    """
    names = sorted(exports) + list(also)

    def __getattr__(name: str):
        if name in exports:
            value = getattr(importlib.import_module(f".{exports[name]}", package), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return names

    return __getattr__, __dir__, names
