"""Where the default ``fashion-lab experiment layer-size`` spends its time, and how far its fits are from the floor.

1. Runs the default experiment in this process with the library's steps timed (the fits, the final
   evaluations, the plots, TensorBoard's images, the model builds, Keras's ``clear_session``...).
2. Times the pure-JAX floor (``bench.py``'s method C: one jitted ``lax.scan`` per epoch, optax Adam) for the
   two largest sizes, 60,000 images per epoch.

Run: ``.venv/bin/python benchmarks/layer_size_profile.py`` (about a minute on 2 cores with a warm compile cache).
Writes ``benchmarks/results/layer-size-profile.json`` and prints it.
"""

from __future__ import annotations

import collections
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _timed(totals, counts, module, name) -> None:
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - start
            counts[name] += 1

    setattr(module, name, wrapper)


def profile_experiment() -> dict:
    start = time.perf_counter()
    from fashion_lab._backend import keras

    keras()
    imported = time.perf_counter() - start
    from fashion_lab import model, plots, training
    from fashion_lab.experiments import measure, runner

    totals, counts = collections.defaultdict(float), collections.Counter()
    for module, name in ((training, "_fit"), (training, "_final_metrics"), (training, "_log_images"),
                         (plots, "plot_curves"), (model, "build_network"), (measure, "clear_keras"),
                         (runner, "render")):
        _timed(totals, counts, module, name)
    with tempfile.TemporaryDirectory() as tmp:
        result = runner.run_experiment("layer-size", out=Path(tmp) / "ls", verbose=False)
    rows = result.data["tables"][0]["rows"]
    return {"whole_s": round(time.perf_counter() - start, 2), "import_keras_s": round(imported, 2),
            "steps_s": {k: round(v, 2) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])},
            "calls": dict(counts),
            "per_size": [{"hidden": r["hidden"], "fit_s": round(r["fit_seconds"], 2),
                          "s_per_later_epoch": round(r["seconds_per_epoch"], 3)} for r in rows]}


def floor(sizes=(512, 1024)) -> list[dict]:
    sys.path.insert(0, str(HERE))
    import bench
    from fashion_lab.datasets import load_dataset

    data = load_dataset("fashion_mnist")
    out = []
    for hidden in sizes:
        bench.HIDDEN = hidden
        r = bench.method_c(data, 0, None)
        out.append({"hidden": hidden, "epoch_s_60000": [round(e, 3) for e in r["epoch_s"]]})
    return out


def main() -> int:
    result = {"finished": time.strftime("%Y-%m-%d %H:%M:%S"), "experiment": profile_experiment(), "floor_c": floor()}
    text = json.dumps(result, indent=2)
    (HERE / "results" / "layer-size-profile.json").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
