"""Run an experiment into its folder, and draw its files again from ``results.json``.

Example:
    >>> result = run_experiment("no-flatten", out="experiments/nf")  # doctest: +SKIP
    >>> render("experiments/nf")  # doctest: +SKIP
    PosixPath('experiments/nf/report.html')
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path
from typing import Any

from .. import _atomic, runs
from ..console import sayer
from ..errors import TrainingInterrupted
from ..report import write_experiment_report
from ..training import validation_count
from .options import ExperimentOptions
from .registry import get_experiment
from .results import RESULTS, ExperimentResult, load_results, new_experiment_dir
from .tables import write_csv


def render(folder: str | os.PathLike[str], data: dict[str, Any] | None = None) -> Path:
    """Draw everything from ``results.json``: the CSV tables, the plots and ``report.html``. Returns the report.

    Running it again on a folder gives the same files, so ``fashion-lab report DIR`` can rebuild them.
    """
    folder = Path(folder)
    data = data if data is not None else load_results(folder)
    for tab in data["tables"]:
        write_csv(folder / f"{tab['name']}.csv", tab)
    return write_experiment_report(folder, data, get_experiment(data["experiment"]).plot(data, folder))


def run_experiment(
    name: str,
    options: ExperimentOptions | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    root: str = "experiments",
    overwrite: bool = False,
    dataset=None,
    verbose: bool = True,
) -> ExperimentResult:
    """Run experiment ``name`` and write its folder: ``results.json``, CSV tables, PNG plots, ``report.html``.

    Args:
        name: one of ``layer-size``, ``epochs``, ``normalization``, ``no-flatten``, ``callback``.
        options: what to run. Defaults to ``ExperimentOptions()`` (the experiment's own defaults).
        out: the folder to write. Defaults to ``<root>/<YYYYmmdd-HHMMSS>-<name>``.
        root: where new experiment folders go. Defaults to ``"experiments"``.
        overwrite: allow ``out`` to be a folder that already holds files. Defaults to False.
        dataset: an already loaded :class:`~fashion_lab.datasets.Dataset`. Defaults to loading ``options.dataset``.
        verbose: print progress and the findings. Defaults to True.

    Returns:
        The :class:`ExperimentResult` (``.dir``, ``.rows``, ``.findings``, ``.data``).
    """
    spec = get_experiment(name)
    options = (options or ExperimentOptions()).resolved(spec.name)
    say = sayer(verbose)
    if dataset is None:
        from ..datasets import open_dataset

        dataset = open_dataset(options.dataset, options.data_dir, verify=options.verify)
    if options.train_images is not None and options.train_images < len(dataset.x_train):
        dataset = dataclasses.replace(
            dataset, x_train=dataset.x_train[:options.train_images], y_train=dataset.y_train[:options.train_images],
            notes=[*dataset.notes, f"--train-images {options.train_images}: the first {options.train_images:,} of "
                                   f"{len(dataset.x_train):,} training images only"])
    # Every model it will train, checked before the first one trains (and before its folder exists): a size too
    # big for the memory is refused now, not after the smaller ones have trained.
    spec.check(options, dataset, say)
    existed = out is not None and Path(out).exists()
    folder = new_experiment_dir(spec.name, out, root=root, overwrite=overwrite)
    if overwrite:  # nothing from an earlier experiment in this folder may survive into the new report
        shutil.rmtree(folder / "runs", ignore_errors=True)
        for old in [*folder.glob("*.csv"), *folder.glob("*.png"), folder / RESULTS, folder / runs.REPORT]:
            old.unlink(missing_ok=True)
    say(f"experiment {spec.name}: {spec.summary}")
    about, *notes = dataset.describe()
    say(f"{about}; writing {folder}")
    for note in notes:
        say(note)
    start = time.perf_counter()
    try:
        body = spec.run(options, dataset, folder, say, verbose)
    except BaseException as e:
        if not existed:  # a failed or interrupted experiment leaves no half-written folder behind
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(e, TrainingInterrupted):  # its own hint (train --resume) points into the removed folder
            raise TrainingInterrupted(f"experiment {spec.name} interrupted; its unfinished results were removed. "
                                      f"Run it again to get a complete report.") from None
        raise
    n_train = len(dataset.x_train)
    n_val = validation_count(n_train, options.validation_split)
    data = {
        "kind": "experiment",
        "experiment": spec.name,
        "title": spec.title,
        "summary": spec.summary,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": runs.command_line(),
        "options": options.to_dict(),
        "dataset": {"name": dataset.name, "source": dataset.source, "verified": dataset.verified,
                    "train": n_train - n_val, "validation": n_val, "test": len(dataset.x_test)},
        "elapsed_seconds": round(time.perf_counter() - start, 2),
        "splits_note": (
            f"Validation numbers come from {n_val:,} images held out of the {n_train:,} training images "
            f"(seeded with {options.seed}); they are the ones used to compare and choose. Test numbers come from "
            f"the {len(dataset.x_test):,} test images and are only reported, never used to choose. "
            f"Training numbers are measured on the {n_train - n_val:,} images the model was fitted on."
        ),
        **body,
    }
    _atomic.write_json(folder / RESULTS, data)  # first: a failure while drawing leaves the results to rebuild from
    report = render(folder, data)
    for finding in data["findings"]:
        say(f"finding: {finding}")
    say(f"report: {report}  ({data['elapsed_seconds']:.1f}s)")
    return ExperimentResult(dir=folder, data=data)


__all__ = ["render", "run_experiment"]
