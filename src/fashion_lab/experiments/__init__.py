"""The seed's experiments, each one command: layer size, epochs, normalization, the missing Flatten, the callback.

An experiment is data: a list of training configurations in, rows out. The same rows feed
``results.csv``, the PNG plots and ``report.html``, all written into one folder
(``experiments/<time>-<name>`` unless ``out`` is given), next to ``results.json`` from which
everything else can be drawn again (``fashion-lab report DIR``).

Models are compared on a validation split taken from the training images (seeded, 10% by
default); the test set is only reported, never used to choose.

The package, one module per concern: ``registry`` (every experiment declared: name, defaults, options),
``options`` (:class:`ExperimentOptions`), ``runner`` (:func:`run_experiment`, :func:`render`), ``measure``
(training one model and measuring it), ``stats``, ``tables``, ``results`` (the folder and ``results.json``),
and one module per experiment: ``layer_size``, ``epochs``, ``normalization``, ``no_flatten``, ``callback``.

Run from the shell::

    fashion-lab experiment layer-size --hidden 32 128 512 --epochs 2
    fashion-lab experiment epochs --epochs 30 --restore-best
    fashion-lab experiment normalization
    fashion-lab experiment no-flatten
    fashion-lab experiment callback --target 0.85

or from Python:
    >>> from fashion_lab.experiments import ExperimentOptions, run_experiment
    >>> result = run_experiment("layer-size", ExperimentOptions(hidden=(32, 128), epochs=2))  # doctest: +SKIP
    >>> [row["params"] for row in result.rows]  # doctest: +SKIP
    [25450, 101770]

Names are imported lazily, so reading the registry (as ``fashion-lab --help`` does) imports neither NumPy nor Keras.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "EXPERIMENTS": "registry",
    "Experiment": "registry",
    "LAYER_SIZES": "registry",
    "get_experiment": "registry",
    "ExperimentOptions": "options",
    "run_experiment": "runner",
    "render": "runner",
    "RESULTS": "results",
    "ExperimentResult": "results",
    "load_results": "results",
    "new_experiment_dir": "results",
    "column": "tables",
    "table": "tables",
    "write_csv": "tables",
    "IMAGE_PIXELS": "stats",
    "MIN_FIT_SIZES": "stats",
    "OVERFIT_EPOCHS": "stats",
    "OVERFIT_RULE": "stats",
    "OVERFIT_TOLERANCE": "stats",
    "RETURNS_TOLERANCE": "stats",
    "dense_params": "stats",
    "fit_accuracy_trend": "stats",
    "fit_cost_model": "stats",
    "fit_line": "stats",
    "first_overfit_epoch": "stats",
    "gains_per_doubling": "stats",
    "mean_std": "stats",
    "predict_accuracy": "stats",
    "predict_seconds": "stats",
    "summarize_by": "stats",
    "layer_size_analysis": "layer_size",
    "layer_size_findings": "layer_size",
    "epochs_findings": "epochs",
    "normalization_findings": "normalization",
    "NO_FLATTEN_EXPLANATION": "no_flatten",
    "callback_findings": "callback",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

