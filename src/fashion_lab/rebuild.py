"""Rebuild a folder's report from what it holds: an experiment folder (``results.json``) or a run directory
(``config.json``). The choice between the two is made here, above both, so :mod:`fashion_lab.report` only renders.

Example:
    >>> from fashion_lab import write_report
    >>> write_report("runs/20261127-101500-fashion_mnist-h128")  # doctest: +SKIP
    PosixPath('runs/20261127-101500-fashion_mnist-h128/report.html')
"""

from __future__ import annotations

import os
from pathlib import Path

from . import runs
from .errors import RunError
from .experiments.results import RESULTS


def write_report(folder: str | os.PathLike[str]) -> Path:
    """Rebuild ``report.html`` in an experiment folder (with its CSV tables and plots) or a run directory.

    Raises :class:`~fashion_lab.errors.RunError` when the folder holds neither ``results.json`` nor ``config.json``.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunError(f"{folder} is a file, not a run directory or an experiment folder; give the folder made by "
                       f"fashion-lab train or fashion-lab experiment, not a file inside it.")
    if not folder.is_dir():
        raise RunError(f"{folder} does not exist; give a folder made by fashion-lab experiment or fashion-lab train.")
    if (folder / RESULTS).is_file():
        from .experiments.runner import render

        return render(folder)
    if (folder / runs.CONFIG).is_file():
        from .report import write_run_report

        if not (folder / runs.CURVES).is_file() and (folder / runs.HISTORY).is_file():
            from .plots import plot_curves

            plot_curves(runs.read_history(folder / runs.HISTORY), folder / runs.CURVES)
        return write_run_report(folder)
    raise RunError(f"{folder} holds neither {RESULTS} (an experiment) nor {runs.CONFIG} (a run); "
                   f"give a folder made by fashion-lab experiment or fashion-lab train.")


__all__ = ["write_report"]
