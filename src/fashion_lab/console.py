"""Progress lines for people: what the library prints while it trains and experiments.

Example:
    >>> say = sayer(verbose=True)
    >>> say("epoch 1/5: loss 0.4970")
    epoch 1/5: loss 0.4970
    >>> sayer(verbose=False)("nothing is printed")
"""

from __future__ import annotations

from collections.abc import Callable


def sayer(verbose: bool) -> Callable[..., None]:
    """``print`` (flushed, so progress shows through pipes) when verbose, else a function that does nothing."""
    return (lambda *a, **k: print(*a, **k, flush=True)) if verbose else (lambda *a, **k: None)


__all__ = ["sayer"]
