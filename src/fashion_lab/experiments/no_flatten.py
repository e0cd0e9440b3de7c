"""No Flatten: the seed's model without its Flatten layer, its layer shapes, the real error of one training step,
and why a Dense layer needs one flat vector per image.

Run it: ``fashion-lab experiment no-flatten``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import measure
from .options import ExperimentOptions
from .tables import column, table


NO_FLATTEN_EXPLANATION = (
    "A Dense layer works on the last axis of its input only. Without Flatten, each 28x28 image reaches the first "
    "Dense layer as 28 rows of 28 pixels, so the layer is applied to every row separately and the network ends with "
    "one 10-way prediction per row, {output} per batch, instead of one per image. The labels hold one class per image, "
    "shape {labels}, so the loss cannot pair predictions with labels and training fails. Flatten turns each image into "
    "one vector of 784 pixels, so the network sees the whole image at once and outputs exactly one prediction per "
    "image, shape (None, 10)."
)


def _layer_rows(model, variant: str) -> list[dict[str, Any]]:
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape)
        rows.append({"model": variant, "layer": layer.name, "type": type(layer).__name__,
                     "output_shape": str(shape), "params": int(layer.count_params())})
    return rows


def run(opts: ExperimentOptions, dataset, folder: Path, say, verbose: bool) -> dict[str, Any]:
    from ..model import build_model
    from ..preprocess import prepare_images

    hidden = opts.hidden
    batch = min(opts.batch_size, len(dataset.x_train))
    x = prepare_images(dataset.x_train[:batch])
    y = dataset.y_train[:batch].astype(np.int32)
    measure.clear_keras()
    from .._backend import keras

    keras().utils.set_random_seed(opts.seed)
    broken = build_model(hidden, flatten=False, num_classes=len(dataset.classes), learning_rate=opts.learning_rate)
    rows = _layer_rows(broken, "without Flatten")
    output_shape = str(tuple(broken.layers[-1].output.shape))
    say("  without Flatten: " + " -> ".join(f"{r['layer']} {r['output_shape']}" for r in rows))
    say(f"  labels: shape {y.shape} (one class per image); one training step on {batch} images ...")
    example_output = np.asarray(broken.predict(x[:1], verbose=0))[0]
    try:
        loss = broken.train_on_batch(x, y)
        error = None
        say(f"  this Keras did not raise (loss {loss}); the shapes still do not match.")
    except Exception as e:  # the point of the experiment: show the real error, whatever its type
        message = " ".join(str(e).split())
        error = {"type": type(e).__name__, "message": message[:1200] + ("..." if len(message) > 1200 else "")}
        say(f"  error, as expected: {error['type']}: {error['message'][:300]}")
    measure.clear_keras()
    keras().utils.set_random_seed(opts.seed)
    fixed = build_model(hidden, flatten=True, num_classes=len(dataset.classes), learning_rate=opts.learning_rate)
    rows += _layer_rows(fixed, "with Flatten")
    fixed_loss = fixed.train_on_batch(x, y)
    fixed_loss = float(np.asarray(fixed_loss).ravel()[0])
    say(f"  with Flatten: one training step works, loss {fixed_loss:.4f}, output {tuple(fixed.layers[-1].output.shape)}")
    labels_shape = str((None,) if y.ndim == 1 else (None, *y.shape[1:]))
    explanation = NO_FLATTEN_EXPLANATION.format(output=output_shape, labels=labels_shape)
    findings = [
        f"Without Flatten the model outputs shape {output_shape} for labels of shape {labels_shape}: one prediction "
        f"per row of pixels, not per image.",
        (f"One training step fails with {error['type']} ({error['message'][:120]}), because the loss cannot pair "
         f"{output_shape} predictions with {labels_shape} labels."
         if error else "This Keras version did not raise on one training step, but the predictions still do not match the labels."),
        f"With Flatten the output is {tuple(fixed.layers[-1].output.shape)} and the same step trains (loss {fixed_loss:.4f}).",
        "A Dense layer only mixes the last axis, so the network needs one flat vector of 784 pixels per image to "
        "see the whole image and give one answer per image.",
    ]
    cols = [column("model", "model", "text"), column("layer", "layer", "text"), column("type", "type", "text"),
            column("output_shape", "output shape", "text"), column("params", "parameters", "int")]
    return {
        "tables": [table("results", "Layer output shapes", cols, rows,
                         f"The labels of a batch have shape {labels_shape}: one class number per image.")],
        "analysis": {"output_shape": output_shape, "labels_shape": labels_shape, "error": error,
                     "fixed_step_loss": fixed_loss, "explanation": explanation,
                     "example_image": np.asarray(dataset.x_train[0]).tolist(),
                     "example_label": int(dataset.y_train[0]), "classes": list(dataset.classes),
                     "example_output": np.round(example_output, 5).tolist()},
        "findings": findings,
        "explanation": explanation,
        "splits_note": f"This experiment builds the models and runs one training step on the first {batch} training "
                       f"images; it uses no validation or test numbers.",
    }


def plot(data: dict[str, Any], folder: Path) -> list[dict[str, str]]:
    from ..plots import plot_row_predictions

    a = data["analysis"]
    plot_row_predictions(np.asarray(a["example_image"], dtype=np.uint8), np.asarray(a["example_output"]),
                         a["classes"], folder / "no_flatten.png",
                         title=f"label: {a['classes'][a['example_label']]}")
    return [{"file": "no_flatten.png",
             "caption": "Left: one training image. Right: what the model without Flatten outputs for it (untrained): "
                        "a row of 10 class probabilities for each of the 28 pixel rows, instead of one answer."}]


__all__ = ["NO_FLATTEN_EXPLANATION", "plot", "run"]
