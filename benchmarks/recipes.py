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
    names = [n for i, n in enumerate(CANDIDATES) if not args.only or i in args.only]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            config = presets.resolve("best-mlp", **CANDIDATES[name], validation_split=0.1, seed=0, runs_root=tmp)
            if args.epochs:
                config = config.replace(epochs=args.epochs)
            before = loadavg()
            run = train(config, verbose=False)
            row = {"recipe": name, "epochs": config.epochs, "params": run.metrics["params"],
                   "validation_accuracy": run.metrics["validation_accuracy"],
                   "best_validation_accuracy": max(run.history["val_accuracy"]),
                   "fit_seconds": run.metrics["fit_seconds"], "load_before": before, "load_after": loadavg()}
            print(json.dumps(row), flush=True)
            rows.append(row)
            write_table("explore", rows, ["recipe", "epochs", "params", "validation_accuracy", "best_validation_accuracy",
                                          "fit_seconds", "load_before", "load_after"],
                        ["Validation split 0.1 of the training images (seed 0); the test set is not touched here."])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="stage", required=True)
    p = sub.add_parser("explore", help="candidate dense recipes on the validation split")
    p.add_argument("--only", type=int, nargs="+", help="run only these candidates (0 = the first)")
    p.add_argument("--epochs", type=int, help="override every candidate's epochs (a quick look)")
    args = parser.parse_args(argv)
    {"explore": explore}[args.stage](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
