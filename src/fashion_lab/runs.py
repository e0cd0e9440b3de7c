"""A run on disk: its directory, files, and how to read one back.

A run directory holds ``config.json``, ``history.csv``, ``metrics.json``, ``model.keras`` and
``curves.png`` (and ``evaluation.json``/``confusion.png``/``misclassified.png`` after ``fashion-lab evaluate``).

Example:
    >>> run = load_run("runs/20261127-101500-fashion_mnist-h128")  # doctest: +SKIP
    >>> run.metrics["test_accuracy"]  # doctest: +SKIP
    0.8653
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .errors import RunError

CONFIG = "config.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL = "model.keras"
CURVES = "curves.png"
EVALUATION = "evaluation.json"
CONFUSION = "confusion.png"
MISCLASSIFIED = "misclassified.png"
CHECKPOINT = "checkpoint.json"  # last finished epoch, its time and the shuffling RNG state, for --resume
# Files a run writes; --overwrite clears them so nothing stale survives.
REPORT = "report.html"
# Files computed from model.keras after training: removed whenever the model changes (a resume), and each
# records the model it describes (model_fingerprint), so a reader can tell when it is stale.
DERIVED = (EVALUATION, CONFUSION, MISCLASSIFIED)
ARTIFACTS = (CONFIG, HISTORY, METRICS, MODEL, CURVES, CHECKPOINT, REPORT, *DERIVED)


@dataclass
class Run:
    """A training run: where it lives, what it was, what it measured."""

    dir: Path
    config: TrainConfig
    history: dict[str, list[float]]
    metrics: dict[str, Any]
    model: Any = None  # the Keras model, when the run was just trained or loaded with load_model()
    info: dict[str, Any] = field(default_factory=dict)  # the rest of config.json (versions, dataset source)
    epoch_seconds: list[float] = field(default_factory=list)  # wall time of each epoch (the first compiles)

    @property
    def paths(self) -> dict[str, Path]:
        """The run's files by kind: config, history, metrics, model, curves."""
        return {
            "config": self.dir / CONFIG,
            "history": self.dir / HISTORY,
            "metrics": self.dir / METRICS,
            "model": self.dir / MODEL,
            "curves": self.dir / CURVES,
        }

    def load_model(self):
        """Load ``model.keras`` safely: Lambda layers and custom objects are refused, then Keras's safe mode."""
        from .safe_load import load_model

        path = self.dir / MODEL
        if not path.is_file():
            raise RunError(f"run {self.dir} has no {MODEL}; the run did not finish. Train again with fashion-lab train.")
        self.model = load_model(path)
        return self.model


def read_history(path: str | os.PathLike[str]) -> dict[str, list[float]]:
    """Read ``history.csv`` into ``{column: [value per epoch]}`` (empty cells are skipped)."""
    history: dict[str, list[float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key == "epoch" or value in ("", None):
                    continue
                history.setdefault(key, []).append(float(value))
    return history


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Read a run directory written by :func:`fashion_lab.train`."""
    folder = Path(run_dir)
    if folder.exists() and not folder.is_dir():
        raise RunError(f"{folder} is a file, not a run directory; give the folder made by fashion-lab train "
                       f"(runs/<time>-<name>), not a file inside it.")
    if not folder.is_dir():
        raise RunError(f"run directory {folder} does not exist; give a folder made by fashion-lab train (under runs/).")
    config_path = folder / CONFIG
    if not config_path.is_file():
        raise RunError(f"{folder} is not a run directory: it has no {CONFIG}. Give a folder made by fashion-lab train.")
    info = read_json(config_path)
    try:
        config = TrainConfig.from_dict(info.pop("config"))
    except (ValueError, KeyError, TypeError) as e:
        raise RunError(f"{config_path} is damaged ({e}); train the run again.") from None
    metrics_path = folder / METRICS
    metrics = read_json(metrics_path) if metrics_path.is_file() else {}
    history_path = folder / HISTORY
    try:
        history = read_history(history_path) if history_path.is_file() else {}
    except (ValueError, csv.Error, UnicodeDecodeError) as e:
        raise RunError(f"{history_path} is damaged ({e}); train the run again.") from None
    return Run(dir=folder, config=config, history=history, metrics=metrics, info=info,
               epoch_seconds=list(history.get("epoch_seconds", [])))


def model_fingerprint(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What identifies the run's current ``model.keras``: the epoch it finished (from ``checkpoint.json``) and
    the SHA-256 of its bytes; None when there is no model. Files derived from a model record it.

    Example:
        >>> model_fingerprint("/nonexistent") is None
        True
    """
    import hashlib

    folder = Path(run_dir)
    try:
        digest = hashlib.sha256((folder / MODEL).read_bytes()).hexdigest()
    except OSError:
        return None
    try:
        epoch = json.loads((folder / CHECKPOINT).read_text()).get("epoch")
    except (OSError, ValueError, AttributeError):
        epoch = None
    return {"epoch": epoch, "sha256": digest}


def partial_note(run: Run) -> str | None:
    """A plain sentence when ``run`` did not finish (interrupted, killed or failed); None for a finished run.

    Example:
        >>> partial_note(Run(dir=Path("r"), config=TrainConfig(), history={"loss": [0.5]}, metrics={}))
        'this run is partial: it stopped after epoch 1 of 5 without finishing (no metrics.json: killed?); its model is that of its last finished epoch. Continue it with: fashion-lab train --resume r'
    """
    done = len(run.history.get("loss", []))
    resume = f"Continue it with: fashion-lab train --resume {run.dir}"
    if run.metrics.get("failed"):
        return f"this run failed ({run.metrics.get('reason')}); its model is that of the last finite epoch."
    if run.metrics.get("interrupted"):
        return (f"this run is partial: it was interrupted after epoch {run.metrics.get('epochs_run', done)} of "
                f"{run.config.epochs}; its model is that of its last finished epoch. {resume}")
    if not run.metrics:
        return (f"this run is partial: it stopped after epoch {done} of {run.config.epochs} without finishing "
                f"(no metrics.json: killed?); its model is that of its last finished epoch. {resume}")
    return None


def remove_derived(run_dir: str | os.PathLike[str]) -> None:
    """Delete the files computed from the model (:data:`DERIVED`): done whenever the model changes."""
    for name in DERIVED:
        (Path(run_dir) / name).unlink(missing_ok=True)


def versions() -> dict[str, str]:
    """Versions of Python and the packages a run depends on, for the run's ``config.json``.

    Example:
        >>> sorted(versions())[:2]  # doctest: +SKIP
        ['fashion-lab', 'jax']
    """
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("fashion-lab", "keras", "jax", "jaxlib", "numpy", "matplotlib", "pillow"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def command_line() -> list[str] | None:
    """The ``fashion-lab ...`` command being run, for the records (config.json, results.json); None from Python.

    Example:
        >>> command_line() is None  # called from Python; under `fashion-lab train --epochs 2` it is that list
        True
    """
    return ["fashion-lab", *sys.argv[1:]] if sys.argv and sys.argv[0].endswith("fashion-lab") else None


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read one of a run's JSON files; a damaged or unreadable one is a :class:`RunError` naming it."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunError(f"{path} is missing; the run did not finish. Train it again with fashion-lab train.") from None
    except (OSError, ValueError) as e:
        raise RunError(f"{path} is damaged or unreadable ({e}); train the run again.") from None
    if not isinstance(data, dict):
        raise RunError(f"{path} is damaged (it holds {type(data).__name__}, not an object); train the run again.")
    return data


def save_model(model, run_dir: str | os.PathLike[str]) -> None:
    """Write ``model`` (with its optimizer state) to the run's ``model.keras`` through a temporary file and a rename."""
    from . import _atomic

    with _atomic.atomic_path(Path(run_dir) / MODEL) as tmp:  # tmp ends in .keras, as model.save requires
        model.save(tmp)


def remove_artifacts(run_dir: str | os.PathLike[str]) -> None:
    """Delete the files a run writes (and only those) from ``run_dir``."""
    for name in ARTIFACTS:
        (Path(run_dir) / name).unlink(missing_ok=True)


def new_run_dir(config: TrainConfig, *, overwrite: bool = False) -> Path:
    """Create the run's directory and return it.

    ``config.run_dir`` is used as given (refused if it already holds files, unless ``overwrite``);
    otherwise ``<runs_root>/<YYYYmmdd-HHMMSS>-<name>``, with a numeric suffix when two runs start
    in the same second, so concurrent runs never share a directory.
    """
    if config.run_dir:
        folder = Path(config.run_dir)
        if folder.exists() and not folder.is_dir():
            raise RunError(f"--run-dir {folder} is a file, not a folder; choose another path.")
        if folder.is_dir() and any(folder.iterdir()) and not overwrite:
            raise RunError(
                f"run directory {folder} already exists and is not empty; choose another --run-dir, "
                f"or pass --overwrite to replace its files."
            )
        _mkdir(folder, exist_ok=True)
        return folder
    root = Path(config.runs_root)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{config.run_name}"
    for n in range(1, 1000):
        folder = root / (base if n == 1 else f"{base}-{n}")
        try:
            _mkdir(folder, exist_ok=False)
            return folder
        except FileExistsError:
            continue
    raise RunError(f"could not create a new run directory under {root}; too many runs named {base}.")


def _mkdir(folder: Path, *, exist_ok: bool) -> None:
    """Create ``folder``; FileExistsError only when ``exist_ok`` is False and another run took the name."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"cannot create run directory {folder}: {e.strerror or e} ({folder.parent}). "
                       f"Choose a writable place with --run-dir.") from None
    try:
        folder.mkdir(exist_ok=exist_ok)
    except FileExistsError:
        if not exist_ok and folder.is_dir():
            raise
        raise RunError(f"cannot create run directory {folder}: a file with that name exists. Choose another --run-dir.") from None
    except OSError as e:
        raise RunError(f"cannot create run directory {folder}: {e.strerror or e}. Choose a writable place with --run-dir.") from None
    if not os.access(folder, os.W_OK):
        raise RunError(f"run directory {folder} is not writable; choose a writable place with --run-dir.")
