"""Recipes: how good a dense network gets in two minutes, and what the course's CNN costs, measured.

Two stages, kept apart so the test set decides nothing:

  explore   candidate dense recipes (variations of the best-mlp preset) on a seeded 10% validation split of
            the training images; only validation accuracy and fit seconds are looked at. The preset's recipe was
            chosen from this table.
  measure   the chosen recipes, each seed in a fresh `fashion-lab train` process on the full training set, the
            test set reported once: the seed's recipe, --preset best-mlp (seeds 0, 1, 2) and --model cnn
            (the library's training beside plain Keras model.fit on the same network, and the fused one-call-
            per-epoch loop on a slice of an epoch, which shows why convolutions do not take it).

Both write a table to benchmarks/results/recipes-<stage>.md and .json, with the load average before and after
each run (the machine is shared; a loaded machine stretches fit seconds, not accuracy). Run:

    flock /work/wt/measure.lock .venv/bin/python benchmarks/recipes.py explore
    flock /work/wt/measure.lock .venv/bin/python benchmarks/recipes.py measure
    .venv/bin/python benchmarks/recipes.py measure --only best-mlp --seeds 0   # one run while developing
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# Candidates, as overrides of the best-mlp preset (the anchor first: 2 x 1024, 40 epochs).
CANDIDATES = {
    "anchor 1024x1024, 40 ep": dict(hidden=(1024, 1024), epochs=40),
    "1024x1024, 20 ep": dict(hidden=(1024, 1024), epochs=20),
    "1024x512, 24 ep": dict(hidden=(1024, 512), epochs=24),
    "1024x512, 24 ep, per-pixel": dict(hidden=(1024, 512), epochs=24, standardize="per-pixel"),
    "1024x512, 30 ep, batch 256, lr 0.002": dict(hidden=(1024, 512), epochs=30, batch_size=256, learning_rate=0.002),
    "1024x256, 30 ep": dict(hidden=(1024, 256), epochs=30),
}
# Candidates for the course's CNN, as overrides of the cnn preset: its network unchanged, the training around it.
CNN_CANDIDATES = {
    "cnn: the course's recipe, 10 ep": dict(epochs=10),
    "cnn: dropout 0.3, cosine, 8 ep": dict(epochs=8, dropout=0.3, lr_schedule="cosine"),
    "cnn: dropout 0.3, cosine, label smoothing 0.1, global standardization, 8 ep":
        dict(epochs=8, dropout=0.3, lr_schedule="cosine", label_smoothing=0.1, standardize="global"),
}


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def write_table(stage: str, rows: list[dict], columns: list[str], notes: list[str]) -> Path:
    """Write ``rows`` as benchmarks/results/recipes-<stage>.json and a Markdown table beside it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"stage": stage, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(["benchmarks/recipes.py", *sys.argv[1:]])}
    (RESULTS / f"recipes-{stage}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [f"# recipes: {stage}", "", f"`{meta['command']}`, {meta['cpus']} CPUs, finished {meta['finished']}", "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    lines += ["", *notes]
    path = RESULTS / f"recipes-{stage}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if value < 1 else f"{value:.1f}"
    return "" if value is None else str(value)


def explore(args) -> None:
    from fashion_lab import presets, train

    rows = []
    candidates = CNN_CANDIDATES if args.cnn else CANDIDATES
    names = [n for i, n in enumerate(candidates) if not args.only or i in args.only]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            config = presets.resolve("cnn" if args.cnn else "best-mlp", **candidates[name], validation_split=0.1,
                                     seed=0, runs_root=tmp)
            if args.epochs:
                config = config.replace(epochs=args.epochs)
            before = loadavg()
            run = train(config, verbose=False, test=False)  # the test set is held out: it chooses nothing here
            row = {"recipe": name, "epochs": config.epochs, "params": run.metrics["params"],
                   "validation_accuracy": run.metrics["validation_accuracy"],
                   "best_validation_accuracy": max(run.history["val_accuracy"]),
                   "best_epoch": 1 + run.history["val_accuracy"].index(max(run.history["val_accuracy"])),
                   "validation_accuracy_per_epoch": [round(a, 4) for a in run.history["val_accuracy"]],
                   "fit_seconds": run.metrics["fit_seconds"], "load_before": before, "load_after": loadavg()}
            print(json.dumps(row), flush=True)
            rows.append(row)
            write_table("explore-cnn" if args.cnn else "explore", rows,
                        ["recipe", "epochs", "params", "validation_accuracy", "best_validation_accuracy", "best_epoch",
                         "fit_seconds", "load_before", "load_after"],
                        ["Validation split 0.1 of the training images (seed 0); the test set is not touched here."])


# The measured recipes: what `fashion-lab train` is given (each seed a fresh process).
RECIPES = {
    "seed": [],
    "best-mlp": ["--preset", "best-mlp"],
    "cnn": ["--preset", "cnn"],
}


def _fashion_lab() -> str:
    return str(Path(sys.executable).with_name("fashion-lab"))


def measure_train(recipe: str, seed: int, out: Path) -> dict:
    """One `fashion-lab train` process; accuracy and fit seconds from the run's metrics.json."""
    run_dir = out / f"{recipe}-seed{seed}"
    before, cpu_before = loadavg(), _children_cpu()
    start = time.perf_counter()
    subprocess.run([_fashion_lab(), "train", *RECIPES[recipe], "--seed", str(seed), "--run-dir", str(run_dir), "--quiet"],
                   check=True)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())["config"]
    return {"recipe": recipe, "way": "fashion-lab train", "seed": seed, "epochs": metrics["epochs_run"],
            "batch": config["batch_size"], "params": metrics["params"], "test_accuracy": metrics["test_accuracy"],
            "fit_seconds": metrics["fit_seconds"], "seconds_per_epoch": metrics["fit_seconds"] / metrics["epochs_run"],
            "whole_command_seconds": wall, "whole_command_cpu_seconds": cpu, "load_before": before,
            "load_after": loadavg()}


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes: what a run cost, however loaded the machine."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


_PLAIN_CNN = r'''
import json, os, sys, time
os.environ["KERAS_BACKEND"] = "jax"
import keras, numpy as np
from fashion_lab.datasets import open_dataset
epochs, seed, way, fraction = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
data = open_dataset("fashion_mnist")
n = int(len(data.x_train) * fraction)
x, y = data.x_train[:n] / 255.0, data.y_train[:n]   # the course's code as written
keras.utils.set_random_seed(seed)
model = keras.Sequential([keras.Input((28, 28, 1)),
    keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
    keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
    keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
x = x.reshape(-1, 28, 28, 1)
if way == "model.fit":
    start = time.perf_counter()
    model.fit(x, y, epochs=epochs, verbose=0)
    fit = time.perf_counter() - start
else:  # the fused loop: one jitted lax.scan of Keras's train_step per epoch (what MLPs take)
    import jax
    from fashion_lab import _fastfit
    x, y = x.astype(np.float32), y.astype(np.int32)
    model._symbolic_build(data_batch=(x[:32], y[:32]))
    run_epoch = _fastfit._epoch_function(model, len(x), 32)
    state, xd, yd = _fastfit._state(model), jax.device_put(x), jax.device_put(y)
    start = time.perf_counter()
    for epoch in range(epochs):
        state, logs = run_epoch(state, xd, yd, np.uint32(seed), np.int32(epoch))
        jax.block_until_ready(state)
    fit = time.perf_counter() - start
    _fastfit._assign(model, state)
xt = data.x_test.reshape(-1, 28, 28, 1) / 255.0
accuracy = model.evaluate(xt, data.y_test, verbose=0, return_dict=True)["accuracy"] if fraction == 1 else None
print(json.dumps({"fit_seconds": fit, "test_accuracy": accuracy, "images": n}))
'''


def measure_plain_cnn(way: str, epochs: int, seed: int, fraction: float) -> dict:
    """The same CNN in plain Keras (the course's code), trained by model.fit or by the fused scan, in a subprocess."""
    before = loadavg()
    done = subprocess.run([sys.executable, "-c", _PLAIN_CNN, str(epochs), str(seed), way, str(fraction)],
                          check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    per_epoch = result["fit_seconds"] / epochs / fraction  # seconds per full epoch of 60,000 images
    return {"recipe": "cnn", "way": f"plain Keras, {way}" + (f" on {result['images']:,} images" if fraction < 1 else ""),
            "seed": seed, "epochs": epochs, "batch": 32, "params": 243786, "test_accuracy": result["test_accuracy"],
            "fit_seconds": result["fit_seconds"], "seconds_per_epoch": per_epoch, "load_before": before,
            "load_after": loadavg()}


MEASURE_COLUMNS = ["recipe", "way", "seed", "epochs", "batch", "params", "test_accuracy", "fit_seconds",
                   "seconds_per_epoch", "whole_command_seconds", "whole_command_cpu_seconds", "load_before", "load_after"]


def measure(args) -> None:
    rows = []
    path = RESULTS / "recipes-measure.json"
    if args.append and path.is_file():
        rows = json.loads(path.read_text())["rows"]
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(recipe, seed) for recipe in args.only for seed in args.seeds]
        for recipe, seed in jobs:
            if recipe.startswith("plain-cnn"):
                way = "fused scan" if recipe == "plain-cnn-scan" else "model.fit"
                row = measure_plain_cnn(way, args.cnn_epochs, seed, args.cnn_fraction)
            else:
                row = measure_train(recipe, seed, Path(tmp))
            print(json.dumps(row), flush=True)
            rows.append(row)
            write_table("measure", rows, MEASURE_COLUMNS, _measure_notes(rows))


def _measure_notes(rows: list[dict]) -> list[str]:
    notes = ["Each `fashion-lab train` row is a fresh process on the full 60,000 training images; the test set is "
             "evaluated once at its end. Load average = `/proc/loadavg` (1 minute) before and after, on 2 cores."]
    for recipe in dict.fromkeys(r["recipe"] for r in rows if r["way"] == "fashion-lab train"):
        mine = [r for r in rows if r["recipe"] == recipe and r["way"] == "fashion-lab train"]
        acc = [r["test_accuracy"] for r in mine]
        fit = [r["fit_seconds"] for r in mine]
        spread = f" ± {statistics.stdev(acc):.4f}" if len(acc) > 1 else " (one seed)"
        notes.append(f"- {recipe}: test accuracy {statistics.mean(acc):.4f}{spread} over seeds "
                     f"{', '.join(str(r['seed']) for r in mine)}; fit {statistics.mean(fit):.1f} s mean "
                     f"(min {min(fit):.1f}, max {max(fit):.1f}).")
    if any(r["way"].startswith("plain Keras") for r in rows):
        notes.append("- plain Keras rows: the course's code (float64 `/ 255.0`, `model.fit` defaults, batch 32) on the "
                     "share of the images its way names, for one epoch; seconds per epoch are scaled up from that share "
                     "and so also scale up the compilation inside it (an overestimate, larger for the fused scan, "
                     "whose compilation is longer).")
    return notes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="stage", required=True)
    p = sub.add_parser("explore", help="candidate dense recipes on the validation split")
    p.add_argument("--only", type=int, nargs="+", help="run only these candidates (0 = the first)")
    p.add_argument("--epochs", type=int, help="override every candidate's epochs (a quick look)")
    p.add_argument("--cnn", action="store_true", help="the CNN candidates (results in recipes-explore-cnn.*)")
    p = sub.add_parser("measure", help="the chosen recipes on the test set, each seed a fresh process")
    p.add_argument("--only", nargs="+", default=["seed", "best-mlp", "cnn", "plain-cnn-fit", "plain-cnn-scan"],
                   choices=[*RECIPES, "plain-cnn-fit", "plain-cnn-scan"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--cnn-epochs", type=int, default=1, help="epochs of the plain-Keras CNN rows (default: 1)")
    p.add_argument("--cnn-fraction", type=float, default=1.0,
                   help="share of the training images for the plain-Keras CNN rows (timing only below 1)")
    p.add_argument("--append", action="store_true", help="add the rows to the existing results table")
    args = parser.parse_args(argv)
    {"explore": explore, "measure": measure}[args.stage](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
