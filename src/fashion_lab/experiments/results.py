"""An experiment's folder: creating it, and ``results.json``, from which everything else in it is drawn.

Example:
    >>> folder = new_experiment_dir("no-flatten")  # doctest: +SKIP
    >>> folder  # doctest: +SKIP
    PosixPath('experiments/20261127-101500-no-flatten')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import runs
from ..config import TrainConfig
from ..errors import RunError

RESULTS = "results.json"


@dataclass
class ExperimentResult:
    """An experiment's outcome: its folder and the content of ``results.json``."""

    dir: Path
    data: dict[str, Any]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The main table's rows (the ones in ``results.csv``)."""
        return self.data["tables"][0]["rows"]

    @property
    def findings(self) -> list[str]:
        return self.data["findings"]


def new_experiment_dir(name: str, out: str | os.PathLike[str] | None = None, *, root: str = "experiments",
                       overwrite: bool = False) -> Path:
    """Create ``out`` (refused when it holds files, unless ``overwrite``) or ``<root>/<time>-<name>``."""
    config = TrainConfig(run_dir=None if out is None else str(out), runs_root=root, name=name)
    try:
        return runs.new_run_dir(config, overwrite=overwrite)
    except RunError as e:
        raise RunError(str(e).replace("--run-dir", "--out").replace("run directory", "experiment folder")) from None


def load_results(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``results.json`` from an experiment folder."""
    path = Path(folder) / RESULTS
    if not path.is_file():
        raise RunError(f"{folder} has no {RESULTS}; give a folder made by fashion-lab experiment.")
    return runs.read_json(path)


__all__ = ["RESULTS", "ExperimentResult", "load_results", "new_experiment_dir"]
