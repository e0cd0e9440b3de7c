"""Load a ``.keras`` model without running code from the file.

Two guards, in this order:

1. :func:`check_model_file` reads the archive's ``config.json`` *before Keras sees it* and refuses a
   file that is not a ``.keras`` archive, a ``Lambda`` layer (it holds Python code), and any object
   whose module is not Keras's own (custom layers, functions, or anything registered by a script).
   The seed's networks are plain Flatten and Dense layers, so nothing legitimate is refused.
2. Keras loads it with ``safe_mode=True`` (keras >= 3.11, which fixed a safe-mode bypass).

Example:
    >>> model = load_model("runs/20261127-101500-fashion_mnist-h128/model.keras")  # doctest: +SKIP
    >>> check_model_file("notes.txt")  # doctest: +SKIP
    Traceback (most recent call last):
    fashion_lab.errors.ModelError: notes.txt is not a .keras model: ...
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any, Iterator

from .errors import ModelError

REQUIRED = ("config.json", "model.weights.h5")
# Markers Keras's serializer writes for plain data (tensors, arrays, slices), not classes or code.
DATA_MARKERS = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__slice__", "__ellipsis__"}
_HOW = "Use a model.keras written by fashion-lab train (or keras.Model.save) from layers Keras ships."


def _objects(node: Any, where: str = "model") -> Iterator[tuple[str, dict]]:
    """Every serialized Keras object (a dict with ``class_name``) in a config, with a readable location."""
    if isinstance(node, dict):
        if "class_name" in node:
            name = node.get("config", {}).get("name") if isinstance(node.get("config"), dict) else None
            where = f"{where} > {name or node['class_name']}"
            yield where, node
        for key, value in node.items():
            yield from _objects(value, where)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value, where)


def check_model_file(path: str | os.PathLike[str]) -> dict:
    """Check that ``path`` is a ``.keras`` archive holding only Keras's own objects; return its config.

    Raises:
        ModelError: the file is missing, not a ``.keras`` archive, or holds a Lambda layer or an object
            from outside Keras (a custom layer, function or registered class).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist. {_HOW}")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a .keras model: a .keras file is a zip archive holding "
                         f"{' and '.join(REQUIRED)}, and this file is not a zip archive. {_HOW}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [n for n in REQUIRED if n not in names]
            if missing:
                raise ModelError(f"{path} is not a .keras model: the archive has no {', '.join(missing)}. {_HOW}")
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError, ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"{path} is not a readable .keras model ({e}). {_HOW}") from None
    for where, obj in _objects(config):
        module, class_name = obj.get("module"), obj.get("class_name")
        if class_name in DATA_MARKERS:
            continue
        if class_name in ("Lambda", "__lambda__"):
            raise ModelError(f"{path} holds a Lambda layer ({where}), which runs Python code stored in the file; "
                             f"fashion-lab refuses to load it. {_HOW}")
        if not (isinstance(module, str) and (module == "keras" or module.startswith("keras."))):
            raise ModelError(f"{path} holds a custom object {obj.get('registered_name') or obj.get('class_name')!r} "
                             f"({where}, module {module!r}) that is not part of Keras; fashion-lab refuses to load "
                             f"code it does not know. {_HOW}")
    return config


def load_model(path: str | os.PathLike[str]):
    """:func:`check_model_file`, then Keras's ``load_model`` in safe mode. Returns the Keras model.

    Raises:
        ModelError: the file is refused by the check or Keras cannot load it.
    """
    check_model_file(path)
    from ._backend import keras

    try:
        return keras().saving.load_model(path, safe_mode=True)
    except Exception as e:  # Keras raises many types for a bad file
        raise ModelError(f"cannot load {path} as a Keras model ({type(e).__name__}: {str(e)[:300]}). {_HOW}") from None
