"""Optional parts of fashion-lab (``pip install 'fashion-lab[serve]'``, ``[onnx]``) and the check that names them.

Example:
    >>> require_extra("serve", "fashion-lab serve")  # doctest: +SKIP
    Traceback (most recent call last):
    fashion_lab.errors.DependencyError: fashion-lab serve needs starlette, uvicorn, which are not installed; ...
"""

from __future__ import annotations

import importlib.util

from .errors import DependencyError

EXTRAS = {
    "serve": ("starlette", "uvicorn", "python_multipart"),  # the web app, its server, multipart uploads
    "onnx": ("onnx", "onnxruntime", "jax2onnx"),  # Keras's ONNX exporter on JAX, and the runtime that checks it
}


def require_extra(extra: str, command: str) -> None:
    """Raise :class:`DependencyError` naming the extra to install when one of its modules is missing."""
    missing = [m.replace("_", "-") for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise DependencyError(f"{command} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                              f"not installed; install the {extra} extra: pip install 'fashion-lab[{extra}]'")
