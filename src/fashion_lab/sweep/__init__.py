"""Hyperparameter sweeps on Optuna: one laptop's cores or many machines sharing one study.

``fashion-lab sweep --space space.toml --trials 20 --workers 2`` searches the options in ``space.toml``
(:mod:`~fashion_lab.sweep.space`), trains each trial as a normal run directory under
``sweeps/<study>/runs/``, prunes hopeless trials after an epoch, compares trials on the validation
split, tests only the best one, and writes ``results.csv``, Optuna's plots and ``report.html``
(:mod:`~fashion_lab.sweep.results`). Modules:

- :mod:`~fashion_lab.sweep.space`: the search space file and how a trial picks its options;
- :mod:`~fashion_lab.sweep.study`: storage, sampler, pruner, claiming trials, heartbeats and retries;
- :mod:`~fashion_lab.sweep.worker`: the worker process (pinned to its cores before JAX starts);
- :mod:`~fashion_lab.sweep.runner`: starts the workers, waits, writes the results;
- :mod:`~fashion_lab.sweep.results` and :mod:`~fashion_lab.sweep.report`: what a finished sweep writes.

Names are imported lazily: importing this package does not import JAX (the workers pin their cores first).

Example:
    >>> from fashion_lab.sweep import SearchSpace, SweepSettings
    >>> space = SearchSpace.from_dict({"params": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}})
    >>> SweepSettings(trials=20).sampler
    'tpe'
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "SearchSpace": "space",
    "load_space": "space",
    "SweepSettings": "study",
    "run_sweep": "runner",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
