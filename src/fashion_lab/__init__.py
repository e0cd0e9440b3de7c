"""fashion-lab: train and understand multilayer networks on Fashion-MNIST and MNIST digits.

The seed's code, almost word for word::

    from fashion_lab import load_dataset, build_model, StopAtAccuracy, normalize
    (x, y), (xt, yt) = load_dataset("fashion_mnist")
    model = build_model(hidden=[512])
    model.fit(normalize(x), y, epochs=5, callbacks=[StopAtAccuracy(0.6)])

or the whole recorded run: ``run = train(TrainConfig(hidden=(512,)), callbacks=[...])``.

Names are imported lazily, so ``import fashion_lab`` (and ``fashion-lab --help``) stays fast.

Importing the package chooses Keras's JAX backend for the rest of the process (unless ``KERAS_BACKEND``
is already set), so a ``import keras`` after it (to write the seed's ``myCallback``) works on JAX even
when ``~/.keras/keras.json`` says "tensorflow", which Keras writes there on its first import.
"""

from __future__ import annotations

import os

from .lazy import lazy_exports

os.environ.setdefault("KERAS_BACKEND", "jax")

__version__ = "0.1.0"

_EXPORTS = {
    "load_dataset": "datasets",
    "open_dataset": "datasets",
    "Dataset": "datasets",
    "DATASETS": "dataset_specs",
    "normalize": "preprocess",
    "prepare_images": "preprocess",
    "build_model": "model",
    "StopAtAccuracy": "callbacks",
    "StopAtLoss": "callbacks",
    "MetricsLog": "callbacks",
    "EpochPrinter": "callbacks",
    "TrainConfig": "config",
    "train": "training",
    "train_together": "training",
    "Run": "runs",
    "load_run": "runs",
    "evaluate_run": "evaluation",
    "run_experiment": "experiments",
    "ExperimentOptions": "experiments",
    "write_report": "rebuild",
    "predict_images": "predict",
    "predict_arrays": "predict",
    "Prediction": "predict",
    "load_image": "images",
    "FashionLabError": "errors",
    "ConfigError": "errors",
    "DataError": "errors",
    "RunError": "errors",
    "ImageError": "errors",
    "ModelError": "errors",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, also=["__version__"])

