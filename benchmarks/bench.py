"""Benchmark: the seed recipe trained the ways people train it, as ratios measured in one run.

The recipe: Flatten -> Dense(128, relu) -> Dense(10, softmax), Adam 0.001, batch 32, 5 epochs,
60,000 Fashion-MNIST training images, same seed. The ways:

  A  fashion_lab.train(TrainConfig()), as a user runs it (fit_seconds from the run's metrics.json), each
     repeat compiling its epoch as a fresh `fashion-lab train` process does
  B  the seed's code as written: plain Keras on the same backend, model.fit defaults, float64 / 255.0
  C  a hand-fused pure-JAX loop: one jitted lax.scan per epoch, optax Adam, data on device: the floor
  D  peers, when their libraries import (each in its own subprocess): PyTorch's idiomatic loop,
     scikit-learn's MLPClassifier, Keras on TensorFlow

and, as its own section (`--only together`), K = 1, 4 and 8 seeds of the recipe trained together
(`fashion_lab.train_together`: one compiled program over the stacked models) against the same K trained one
after another with `fashion_lab.train`, as models per minute.

Methods run interleaved, in an order rotated every repeat (A B C, B C A, ...), so that a noisy
neighbour and the process's one-time warm-ups hurt them alike; each figure is the median of the repeats. Run it:

    make bench                                              # full run, writes benchmarks/results/
    .venv/bin/python benchmarks/bench.py --quick --only A,C # while developing
    .venv/bin/python benchmarks/bench.py --only together    # just the models-trained-together section
    .venv/bin/python benchmarks/bench.py --peer-python /tmp/venv-bench/bin/python   # with PyTorch
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fashion_lab import _atomic
from fashion_lab.experiments import dense_params

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
EPOCHS, BATCH, HIDDEN, LR = 5, 32, 128, 1e-3
METHODS = {
    "A": "fashion_lab.train (as a user runs it)",
    "B": "seed code, plain Keras model.fit, float64",
    "C": "pure JAX, scanned epoch, optax (floor)",
    "torch": "PyTorch idiomatic loop (DataLoader)",
    "sklearn": "scikit-learn MLPClassifier",
    "keras-tf": "Keras on TensorFlow, model.fit",
}
PEERS = ("torch", "sklearn", "keras-tf")
SECTIONS = {"together": "K seeds trained together vs one after another, models per minute"}
TOGETHER_K = (1, 4, 8)
TARGETS = {"a_over_c": 1.10, "b_over_a": 1.8, "accuracy_gap": 0.01, "rss_mb": 1024, "help_s": 0.5, "reload_s": 0.2,
           "predict_s": 1.0,
           # issue 15: whole commands, as a person waits for them
           "train_first_over_fit": 2.0, "train_repeat_over_fit": 1.5, "train_rss_mb": 700, "predict_one_s": 1.0,
           "evaluate_s": 2.0, "layer_size_s": 25.0, "layer_size_rss_mb": 900}
REPEAT_RUNS = 3  # repeat runs of the whole `fashion-lab train` command (issue 15's repeat ratio is their median)


# ---------------------------------------------------------------- small helpers (tested in tests/)

def train_flops(params: int, samples: int, epochs: int) -> float:
    """Floating-point operations of training a dense network: 6 per parameter per sample.

    2 for the forward multiply-add, 4 for the backward pass (gradients for inputs and weights).

    Example:
        >>> train_flops(101_770, 60_000, 5) / 1e9
        183.186
    """
    return 6.0 * params * samples * epochs


def split_compile(epoch_seconds) -> tuple[float, float]:
    """``(compile_s, steady_epoch_s)`` from per-epoch times: compile is epoch 1 minus a steady epoch.

    Example:
        >>> split_compile([1.5, 0.5, 0.4, 0.6])
        (1.0, 0.5)
    """
    epoch_seconds = list(epoch_seconds)
    if len(epoch_seconds) < 2:
        return float("nan"), float("nan")
    steady = statistics.median(epoch_seconds[1:])
    return max(0.0, epoch_seconds[0] - steady), steady


def parse_only(text: str | None) -> list[str]:
    """The methods and sections named in ``--only`` (comma separated, any case for A/B/C), in table order.

    Example:
        >>> parse_only("together,c,A")
        ['A', 'C', 'together']
    """
    known = [*METHODS, *SECTIONS]
    if not text:
        return known
    wanted = {t.strip() for t in text.split(",") if t.strip()}
    wanted = {t.upper() if t.upper() in ("A", "B", "C") else t for t in wanted}
    unknown = sorted(wanted - set(known))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from: {', '.join(known)}")
    return [m for m in known if m in wanted]


def machine_slug(cpu: str, cores: int) -> str:
    """A file name for this machine: ``amd-epyc-7b13-2c``.

    Example:
        >>> machine_slug("Intel(R) Xeon(R) CPU @ 2.20GHz", 2)
        'intel-xeon-cpu-2.20ghz-2c'
    """
    text = re.sub(r"\((r|tm)\)|@", " ", cpu.lower())
    return re.sub(r"[^a-z0-9.]+", "-", text).strip("-") + f"-{cores}c"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------- the data, prepared once

def load_data():
    """uint8 arrays, from fashion_lab's verified cache (the same data for every method)."""
    from fashion_lab import load_dataset

    return load_dataset("fashion_mnist")


def matmul_peak_gflops(size: int = 1024, repeats: int = 30) -> dict:
    """The machine's float32 matrix-multiply rate (best of ``repeats``), via XLA (JAX) and NumPy."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    flops = 2.0 * size**3
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    out = {}
    mm = jax.jit(jnp.matmul)
    ja = jax.device_put(a)
    mm(ja, ja).block_until_ready()
    best = min(_timed(lambda: mm(ja, ja).block_until_ready()) for _ in range(repeats))
    out["jax"] = flops / best / 1e9
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    out["numpy"] = flops / best / 1e9
    out["peak"] = max(out["jax"], out["numpy"])
    return out


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------- A, B, C

def method_a(data, seed: int, workdir: Path) -> dict:
    """fashion_lab.train as a user runs it; fit_s is the run's own fit_seconds."""
    from fashion_lab import TrainConfig, _fastfit, train

    # A user's `fashion-lab train` is a fresh process: it compiles its epoch. In this process the previous
    # repeat's compiled epoch would be reused (same architecture), so drop it; C compiles every repeat too.
    _fastfit.forget_compiled()
    run_dir = workdir / f"a-{seed}-{time.monotonic_ns()}"
    start = time.perf_counter()
    run = train(TrainConfig(seed=seed, run_dir=str(run_dir)), verbose=False)
    total = time.perf_counter() - start
    epoch_s = run.epoch_seconds
    shutil.rmtree(run_dir, ignore_errors=True)
    return {"fit_s": run.metrics["fit_seconds"], "epoch_s": epoch_s, "call_s": total,
            "test_accuracy": run.metrics["test_accuracy"], "params": run.metrics["params"]}


def method_b(data, seed: int, workdir: Path) -> dict:
    """The seed's code, as the lesson writes it, on the same Keras backend."""
    from fashion_lab._backend import keras as _keras

    keras = _keras()
    (train_images, train_labels), (test_images, test_labels) = data
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    train_images = train_images / 255.0  # float64, as the seed does it
    test_images = test_images / 255.0
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(HIDDEN, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    from fashion_lab.callbacks import EpochClock

    class Clock(EpochClock):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(self.timing()[0])

    clock = Clock()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # default verbose: the progress bar, not shown here
        model.fit(train_images, train_labels, epochs=EPOCHS, callbacks=[clock])
    fit_s = time.perf_counter() - start
    _, acc = model.evaluate(test_images, test_labels, verbose=0)
    return {"fit_s": fit_s, "epoch_s": clock.seconds, "test_accuracy": float(acc), "params": model.count_params()}


def method_c(data, seed: int, workdir: Path) -> dict:
    """The floor: the same network, init, optimizer, batch size and per-epoch shuffling in pure JAX.

    Data is on the device once; each epoch is one jitted ``lax.scan`` over its batches. Weights start as
    Keras's do (Glorot-uniform kernels, zero biases) and Adam uses Keras's epsilon (1e-7).
    """
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from fashion_lab.preprocess import normalize

    (x, y), (xt, yt) = data
    start = time.perf_counter()
    x, xt = normalize(x).reshape(len(x), -1), normalize(xt).reshape(len(xt), -1)
    y, yt = y.astype(np.int32), yt.astype(np.int32)
    k1, k2 = jax.random.split(jax.random.key(seed))

    def glorot(key, fan_in, fan_out):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return jax.random.uniform(key, (fan_in, fan_out), jnp.float32, -limit, limit)

    params = {"w1": glorot(k1, 784, HIDDEN), "b1": jnp.zeros(HIDDEN), "w2": glorot(k2, HIDDEN, 10), "b2": jnp.zeros(10)}
    fit_start = time.perf_counter()  # like A's fit_seconds: optimizer state, data to device, epochs, logs
    opt = optax.adam(LR, eps=1e-7)
    opt_state = opt.init(params)
    n = len(x)
    steps = n // BATCH  # 60,000 / 32 = 1,875: no partial batch for this recipe

    def forward(p, xb):
        return jax.nn.relu(xb @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    def loss_fn(p, xb, yb):
        logits = forward(p, xb)
        return -jnp.mean(jnp.sum(jax.nn.one_hot(yb, 10) * jax.nn.log_softmax(logits), -1)), logits

    @jax.jit
    def epoch(p, s, xd, yd, seed, e):
        key = jax.random.fold_in(jax.random.key(seed), e)  # a fresh shuffle every epoch, made on the device
        order = jax.random.permutation(key, n)[: steps * BATCH].reshape(steps, BATCH)

        def step(carry, idx):
            p, s = carry
            xb, yb = xd[idx], yd[idx]
            (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, xb, yb)
            updates, s = opt.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), (loss, jnp.mean(jnp.argmax(logits, -1) == yb))

        (p, s), (losses, accs) = jax.lax.scan(step, (p, s), order)
        return p, s, losses.mean(), accs.mean()

    xd, yd = jax.device_put(x), jax.device_put(y)
    epoch_s = []
    for e in range(EPOCHS):
        t = time.perf_counter()
        params, opt_state, loss, acc = epoch(params, opt_state, xd, yd, np.int32(seed), np.int32(e))
        float(loss)  # the epoch's logs reach the host, as a per-epoch callback needs them
        epoch_s.append(time.perf_counter() - t)
    fit_s = time.perf_counter() - fit_start
    test_acc = float(jnp.mean(jnp.argmax(jax.jit(forward)(params, xt), -1) == yt))
    return {"fit_s": fit_s, "epoch_s": epoch_s, "call_s": time.perf_counter() - start, "test_accuracy": test_acc,
            "params": dense_params([HIDDEN])}


IN_PROCESS = {"A": method_a, "B": method_b, "C": method_c}


# ---------------------------------------------------------------- K models: together vs one after another

def k_runs(dataset, k: int, seed: int, workdir: Path, *, together: bool) -> dict:
    """Train ``k`` seeds of the recipe (``seed``, ``seed + 1``, ...) as a user would, with whole run directories:
    ``train_together(..., stack=True)`` (one stacked program, whatever :func:`fashion_lab.training.stacking_pays`
    decides for this machine: this section is what that default rests on) or ``train`` in a loop. Both start
    without a compiled epoch, so each pays one compilation."""
    from fashion_lab import TrainConfig, _fastfit, train, train_together

    _fastfit.forget_compiled()
    tag = f"{'together' if together else 'alone'}-k{k}-{time.monotonic_ns()}"
    configs = [TrainConfig(seed=seed + i, run_dir=str(workdir / f"{tag}-{i}")) for i in range(k)]
    start = time.perf_counter()
    runs = train_together(configs, dataset=dataset, verbose=False, stack=True) if together else \
        [train(config, dataset=dataset, verbose=False) for config in configs]
    wall = time.perf_counter() - start
    for config in configs:
        shutil.rmtree(config.run_dir, ignore_errors=True)
    # A stack's runs all report the one joint fit; runs trained alone each their own.
    stacked = together and runs[0].metrics.get("trained_together", 1) > 1
    fit = runs[0].metrics["fit_seconds"] if stacked else sum(r.metrics["fit_seconds"] for r in runs)
    return {"wall_s": wall, "fit_s": fit, "final_loss": [r.history["loss"][-1] for r in runs],
            "test_accuracy": [r.metrics["test_accuracy"] for r in runs]}


def together_section(repeats: int, seed: int, workdir: Path) -> dict:
    """Models per minute at each K of :data:`TOGETHER_K`, together and one after another (medians of ``repeats``),
    and how far apart the two ways' final losses and test accuracies are (the same models either way)."""
    from fashion_lab import open_dataset

    dataset = open_dataset("fashion_mnist")
    rows = []
    for k in TOGETHER_K:
        timings: dict[bool, list[dict]] = {False: [], True: []}
        for i in range(repeats):
            for together in ((False, True) if i % 2 == 0 else (True, False)):  # neither always goes first
                r = k_runs(dataset, k, seed, workdir, together=together)
                timings[together].append(r)
                print(f"K={k} {'together' if together else 'one after another'} {i + 1}/{repeats}: "
                      f"{r['wall_s']:.1f}s ({r['fit_s']:.1f}s fitting)", flush=True)
        alone, together = timings[False], timings[True]
        rows.append({
            "k": k,
            "alone_s": median([r["wall_s"] for r in alone]), "together_s": median([r["wall_s"] for r in together]),
            "alone_fit_s": median([r["fit_s"] for r in alone]), "together_fit_s": median([r["fit_s"] for r in together]),
            "max_loss_gap": max(abs(a - b) for a, b in zip(alone[0]["final_loss"], together[0]["final_loss"])),
            "max_accuracy_gap": max(abs(a - b) for a, b in zip(alone[0]["test_accuracy"], together[0]["test_accuracy"])),
        })
    for row in rows:
        row["alone_per_min"] = 60 * row["k"] / row["alone_s"]
        row["together_per_min"] = 60 * row["k"] / row["together_s"]
        row["gain"] = row["together_per_min"] / row["alone_per_min"]
    return {"rows": rows, "repeats": repeats}


def together_markdown(section: dict) -> list[str]:
    """The section's table: models per minute both ways, whole runs (directories written) and fitting alone."""
    lines = ["", f"K seeds of the recipe (full Fashion-MNIST, 5 epochs, whole runs with their directories), "
             f"trained together (`train_together`) vs one after another (`train`), median of {section['repeats']}:", "",
             "| K | one after another s | models/min | together s | models/min | together / one after another | "
             "fitting s, one after another | fitting s, together | max Δ final loss | max Δ test acc |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in section["rows"]:
        lines.append(f"| {r['k']} | {r['alone_s']:.1f} | {r['alone_per_min']:.1f} | {r['together_s']:.1f} | "
                     f"{r['together_per_min']:.1f} | {r['gain']:.2f}x | {r['alone_fit_s']:.1f} | {r['together_fit_s']:.1f} | "
                     f"{r['max_loss_gap']:.1e} | {r['max_accuracy_gap']:.4f} |")
    lines += ["", "fitting s: the epochs alone (summed over the runs one after another; the joint fit together); "
              "Δ: the same seeds trained both ways (0 means bit-identical)."]
    return lines


# ---------------------------------------------------------------- peers, in subprocesses

def find_peer_pythons(peers, candidates) -> tuple[dict, dict]:
    """For each peer, the first interpreter in ``candidates`` that imports it; and notes for the rest."""
    found, notes = {}, {}
    for peer in peers:
        for python in candidates:
            rc = subprocess.run([python, str(HERE / "peers.py"), "check", peer], capture_output=True, text=True)
            if rc.returncode == 0:
                found[peer] = python
                break
        else:
            notes[peer] = (f"skipped: {peer} does not import in {', '.join(candidates)} "
                           "(install it in a separate venv and pass --peer-python)")
    return found, notes


def run_peer(peer: str, python: str, data_file: Path, seed: int) -> dict:
    proc = subprocess.run([python, str(HERE / "peers.py"), "run", peer, "--data", str(data_file), "--seed", str(seed),
                           "--epochs", str(EPOCHS)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{peer} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- whole-command measurements

_RSS_WRAPPER = """
import json, os, resource, subprocess, sys, time
os.environ.update(json.loads(sys.argv.pop(1)))
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t
print(rc, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def command_rss_and_time(argv, env: dict | None = None) -> dict:
    """Wall time and peak RSS (MB) of one command, in a fresh wrapper so no other child is counted."""
    out = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, json.dumps(env or {}), *argv], capture_output=True,
                         text=True, check=True)
    rc, wall, kb = out.stdout.split()
    return {"rc": int(rc), "wall_s": float(wall), "rss_mb": int(kb) / 1024}


def cli_path() -> str:
    here = Path(sys.executable).with_name("fashion-lab")
    return str(here) if here.exists() else (shutil.which("fashion-lab") or "fashion-lab")


def help_time(cli: str, repeats: int = 5) -> float:
    return statistics.median(_timed(lambda: subprocess.run([cli, "--help"], stdout=subprocess.DEVNULL, check=True))
                             for _ in range(repeats))


_RELOAD = """
import time
from fashion_lab.datasets import load_dataset
t = time.perf_counter(); load_dataset("fashion_mnist"); print(time.perf_counter() - t)
"""


def reload_time(repeats: int = 3) -> float:
    """Time of load_dataset in a fresh process once the cache is warm (imports not counted)."""
    subprocess.run([sys.executable, "-c", _RELOAD], capture_output=True, check=True)  # warms the cache
    times = [float(subprocess.run([sys.executable, "-c", _RELOAD], capture_output=True, text=True,
                                  check=True).stdout) for _ in range(repeats)]
    return statistics.median(times)


def predict_time(run_dir: Path, x_test, repeats: int = 5) -> float:
    """Median time to predict the 10,000 test images in one batch with a run's saved model (compiled first)."""
    from fashion_lab import load_run
    from fashion_lab.evaluation import predict_probabilities

    model = load_run(run_dir).load_model()
    predict_probabilities(model, x_test)  # compiles for this batch shape
    return statistics.median(_timed(lambda: predict_probabilities(model, x_test)) for _ in range(repeats))


def whole_commands(cli: str, workdir: Path, x_test) -> dict:
    """Issue 15's rows: each command as a fresh process (wall seconds, peak RSS), as a person waits for it.

    The first ``train`` runs with an empty fashion-lab cache (``FASHION_LAB_CACHE`` pointed at a new folder:
    no compiled programs, no decompressed dataset), as on a fresh install; the repeat finds what it left.
    """
    from PIL import Image

    out: dict = {}
    env_cache = workdir / "fresh-cache"
    train_runs = []
    # The first run once (only one run finds the cache empty); the repeat three times, each figure the median
    # (the ratio is the median of the runs' own ratios: a noisy neighbour stretches a run's fit and its whole alike).
    for label, times in (("first", 1), ("repeat", REPEAT_RUNS)):
        measured = []
        for i in range(times):
            run_dir = workdir / f"whole-{label}-{i}"
            r = command_rss_and_time([cli, "train", "--quiet", "--run-dir", str(run_dir)],
                                     env={"FASHION_LAB_CACHE": str(env_cache)})
            if r["rc"]:
                out.setdefault("notes", {})[f"train ({label})"] = f"failed (exit {r['rc']})"
                return out
            fit = json.loads((run_dir / "metrics.json").read_text())["fit_seconds"]
            measured.append((r["wall_s"], fit, r["rss_mb"]))
            train_runs.append(run_dir)
        out[f"train_{label}_s"] = median([m[0] for m in measured])
        out[f"train_{label}_fit_s"] = median([m[1] for m in measured])
        out[f"train_{label}_over_fit"] = median([m[0] / m[1] for m in measured])
        out[f"train_{label}_rss_mb"] = max(m[2] for m in measured)
        out[f"train_{label}_runs"] = len(measured)
    run_dir = train_runs[-1]
    image = workdir / "test-0.png"
    Image.fromarray(x_test[0]).resize((280, 280), Image.NEAREST).save(image)
    for key, argv in (("predict_one", [cli, "predict", str(run_dir), str(image)]),
                      ("evaluate", [cli, "evaluate", str(run_dir)])):
        runs = [command_rss_and_time(argv, env={"FASHION_LAB_CACHE": str(env_cache)}) for _ in range(3)]
        out[f"{key}_s"] = median([r["wall_s"] for r in runs])
        out[f"{key}_rss_mb"] = max(r["rss_mb"] for r in runs)
    return out


def layer_size_time(cli: str, workdir: Path) -> dict:
    """The default layer-size experiment twice: first with an empty fashion-lab cache (every size compiles, the
    dataset is decompressed), then again with the cache that run filled (as a person's second run)."""
    env = {"FASHION_LAB_CACHE": str(workdir / "layer-size-cache")}
    out = {}
    for label in ("first", "repeat"):
        r = command_rss_and_time([cli, "experiment", "layer-size", "--quiet", "--out", str(workdir / f"layer-size-{label}")],
                                 env=env)
        if r["rc"] != 0:
            return {"note": f"failed (exit {r['rc']})"}
        out[f"{label}_s"], out[f"{label}_rss_mb"] = r["wall_s"], r["rss_mb"]
    return out


# ---------------------------------------------------------------- report

def summarize(method: str, runs: list[dict], peak: float) -> dict:
    fit = median([r["fit_s"] for r in runs])
    compiles, steadies = zip(*(split_compile(r.get("epoch_s") or []) for r in runs))
    params = runs[0]["params"]
    samples = 60_000 * EPOCHS
    row = {"method": method, "label": METHODS[method], "repeats": len(runs), "fit_s": fit,
           "fit_s_all": [round(r["fit_s"], 3) for r in runs],
           "compile_s": median([c for c in compiles if c == c]), "steady_epoch_s": median([s for s in steadies if s == s]),
           "samples_per_s": samples / fit, "test_accuracy": median([r["test_accuracy"] for r in runs]),
           "params": params, "gflops": train_flops(params, 60_000, EPOCHS) / fit / 1e9}
    row["peak_fraction"] = row["gflops"] / peak if peak else None
    if "call_s" in runs[0]:
        row["call_s"] = median([r["call_s"] for r in runs])
    if "version" in runs[0]:
        row["version"] = runs[0]["version"]
    return row


def _fmt(v, spec):
    return "n/a" if v is None or v != v else format(v, spec)


def markdown(result: dict) -> str:
    m, rows, extra = result["machine"], result["rows"], result["extras"]
    a = next((r for r in rows if r["method"] == "A"), None)
    lines = [
        f"# Benchmark: seed recipe on {m['cpu']} ({m['cores']} cores)",
        "",
        f"{m['date']}, load average before/after {m['load_before']} / {m['load_after']}, "
        f"Python {m['python']}, {m['versions']}, medians of the runs shown, "
        f"float32 matmul peak {m['peak_gflops']:.1f} GFLOP/s (JAX {m['peak']['jax']:.1f}, NumPy {m['peak']['numpy']:.1f}).",
    ]
    if rows:
        lines += ["", "| | method | runs | fit s | compile / warm-up s | steady s/epoch | samples/s | test acc | x A | GFLOP/s | % of peak |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r["fit_s"] / a["fit_s"] if a else None
        lines.append(
            f"| {r['method']} | {r['label']} | {r['repeats']} | {r['fit_s']:.2f} | {_fmt(r['compile_s'], '.2f')} | "
            f"{_fmt(r['steady_epoch_s'], '.3f')} | {r['samples_per_s']:,.0f} | {r['test_accuracy']:.4f} | "
            f"{_fmt(ratio, '.2f')} | {r['gflops']:.1f} | {_fmt(r['peak_fraction'] and 100 * r['peak_fraction'], '.1f')} |")
    if rows:
        lines += ["", "fit s: training only (compile included), median; compile / warm-up s: first epoch minus a steady epoch; "
                  "x A: fit time relative to A (above 1 is slower); GFLOP/s: 6 x params x 60,000 x 5 / fit s."]
    for peer, note in result["notes"].items():
        lines.append(f"- {peer}: {note}")
    for r in rows:
        if r.get("version"):
            lines.append(f"- {r['method']}: {r['version']}")
    if any(key in extra for key in ("help_s", "train_command_s")):
        lines += ["", "| other measurement | value |", "|---|---:|"]
    for key, label, spec in [("train_command_s", "whole `fashion-lab train` (seed recipe), s", ".2f"),
                             ("train_command_rss_mb", "its peak RSS, MB", ".0f"),
                             ("a_call_s", "`fashion_lab.train(...)` call in-process, s", ".2f"),
                             ("help_s", "`fashion-lab --help`, s", ".3f"),
                             ("reload_s", "second dataset load (fresh process, cache warm), s", ".3f"),
                             ("predict_s", "predict the 10,000 test images in one batch (seed model), s", ".3f"),
                             ("layer_size_first_s", "default `fashion-lab experiment layer-size`, first run (empty cache), s", ".1f"),
                             ("layer_size_first_rss_mb", "its peak RSS, MB", ".0f"),
                             ("layer_size_repeat_s", "default `fashion-lab experiment layer-size`, repeat run, s", ".1f"),
                             ("layer_size_repeat_rss_mb", "its peak RSS, MB", ".0f"),
                             ("train_first_s", "`fashion-lab train`, first run (empty cache), whole process s", ".2f"),
                             ("train_first_fit_s", "its fit s", ".2f"),
                             ("train_first_rss_mb", "its peak RSS, MB", ".0f"),
                             ("train_repeat_s", f"`fashion-lab train`, repeat run, whole process s (median of {REPEAT_RUNS})", ".2f"),
                             ("train_repeat_fit_s", "its fit s (median)", ".2f"),
                             ("train_repeat_rss_mb", "its peak RSS, MB", ".0f"),
                             ("predict_one_s", "`fashion-lab predict RUN image.png` (one 280x280 PNG), s", ".2f"),
                             ("predict_one_rss_mb", "its peak RSS, MB", ".0f"),
                             ("evaluate_s", "`fashion-lab evaluate RUN`, s", ".2f"),
                             ("evaluate_rss_mb", "its peak RSS, MB", ".0f")]:
        if key in extra:
            lines.append(f"| {label} | {_fmt(extra[key], spec)} |")
    for key, note in extra.get("notes", {}).items():
        lines.append(f"| {key} | {note} |")
    if extra.get("together"):
        lines += together_markdown(extra["together"])
    if result.get("targets"):
        lines += ["", "| target | value | met |", "|---|---:|:---:|"]
        for t in result["targets"]:
            lines.append(f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def check_targets(rows: dict, extra: dict) -> list[dict]:
    out = []

    def add(target, value, met):
        out.append({"target": target, "value": value, "met": bool(met)})

    a, b, c = rows.get("A"), rows.get("B"), rows.get("C")
    if a and c:
        ratio = a["fit_s"] / c["fit_s"]
        add(f"A within {TARGETS['a_over_c']:.2f}x of C (fit s)", f"{ratio:.3f}x", ratio <= TARGETS["a_over_c"])
    if a and b:
        gap = abs(a["test_accuracy"] - b["test_accuracy"])
        add(f"A test accuracy within {TARGETS['accuracy_gap']} of B", f"{gap:.4f}", gap <= TARGETS["accuracy_gap"])
        ratio = b["fit_s"] / a["fit_s"]
        add(f"A at least {TARGETS['b_over_a']}x faster than B", f"{ratio:.3f}x", ratio >= TARGETS["b_over_a"])
    if "train_command_rss_mb" in extra:
        v = extra["train_command_rss_mb"]
        add("`fashion-lab train` peak RSS < 1 GB", f"{v:.0f} MB", v < TARGETS["rss_mb"])
    if "help_s" in extra:
        add("`fashion-lab --help` < 0.5 s", f"{extra['help_s']:.3f} s", extra["help_s"] < TARGETS["help_s"])
    if "reload_s" in extra:
        add("second dataset load < 0.2 s", f"{extra['reload_s']:.3f} s", extra["reload_s"] < TARGETS["reload_s"])
    if "predict_s" in extra:
        add("predict 10,000 test images < 1 s (issue 4)", f"{extra['predict_s']:.3f} s", extra["predict_s"] < TARGETS["predict_s"])
    for label, key in (("first", "train_first_over_fit"), ("repeat", "train_repeat_over_fit")):
        if f"train_{label}_s" in extra:
            ratio = extra.get(f"train_{label}_over_fit", extra[f"train_{label}_s"] / extra[f"train_{label}_fit_s"])
            add(f"`fashion-lab train` {label} run at most {TARGETS[key]}x its fit seconds (issue 15)", f"{ratio:.2f}x",
                ratio <= TARGETS[key])
    for key, target, what, unit in (
            ("train_repeat_rss_mb", "train_rss_mb", "`fashion-lab train` peak RSS", "MB"),
            ("predict_one_s", "predict_one_s", "`fashion-lab predict RUN IMAGE`, one image", "s"),
            ("evaluate_s", "evaluate_s", "`fashion-lab evaluate RUN`", "s"),
            ("layer_size_first_s", "layer_size_s", "default `experiment layer-size`, first run", "s"),
            ("layer_size_repeat_s", "layer_size_s", "default `experiment layer-size`, repeat run", "s"),
            ("layer_size_first_rss_mb", "layer_size_rss_mb", "`experiment layer-size` peak RSS, first run", "MB"),
            ("layer_size_repeat_rss_mb", "layer_size_rss_mb", "`experiment layer-size` peak RSS, repeat run", "MB")):
        if key in extra:
            add(f"{what} at most {TARGETS[target]:g} {unit} (issue 15)",
                f"{extra[key]:.2f} {unit}" if unit == "s" else f"{extra[key]:.0f} {unit}", extra[key] <= TARGETS[target])
    return out


# ---------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Benchmark the seed recipe: fashion_lab vs plain Keras vs a fused JAX "
                                "floor vs peers. Prints a Markdown table and writes benchmarks/results/.")
    p.add_argument("--quick", action="store_true", help="one repeat of each; one whole-command run; no layer-size experiment")
    p.add_argument("--repeats", type=int, default=None, help="repeats per method (median). Default 3, 1 with --quick")
    p.add_argument("--peer-repeats", type=int, default=1,
                   help="repeats for the peers, which take minutes each at batch 32. Default 1")
    p.add_argument("--only", help=f"comma-separated methods and sections to run, from: {', '.join([*METHODS, *SECTIONS])}. "
                   f"Default: all")
    p.add_argument("--peer-python", action="append", default=[], metavar="PATH",
                   help="an interpreter to look for peers in (repeatable); this interpreter is tried too")
    p.add_argument("--max-load", type=float, default=None, metavar="LOAD",
                   help="first wait (up to 10 minutes) until the 1-minute load average is below LOAD")
    p.add_argument("--name", help="results file name. Default: from the CPU model and core count")
    p.add_argument("--no-save", action="store_true", help="print only; write nothing under benchmarks/results/")
    p.add_argument("--seed", type=int, default=0, help="seed of the first repeat (repeat i uses seed + i)")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        chosen = parse_only(args.only)
    except ValueError as e:
        parser.error(str(e))
    methods = [m for m in chosen if m in METHODS]
    repeats = args.repeats or (1 if args.quick else 3)
    if repeats < 1:
        parser.error("--repeats must be at least 1")

    if args.max_load is not None:
        wait_for_quiet(args.max_load)
    from importlib import metadata

    versions = ", ".join(f"{d} {metadata.version(d)}" for d in ("keras", "jax", "numpy", "optax")
                         if _has_dist(metadata, d))
    machine = {"cpu": cpu_model(), "cores": cores(), "python": platform.python_version(), "versions": versions,
               "date": time.strftime("%Y-%m-%d %H:%M"), "load_before": _load()}
    print(f"# {machine['cpu']}, {machine['cores']} cores, load {machine['load_before']}", flush=True)

    notes = {}
    if "C" in methods and not _has_dist(metadata, "optax"):
        notes["C"] = "skipped: optax is not installed (pip install -e '.[bench]')"
        methods.remove("C")
    peers = [m for m in methods if m in PEERS]
    candidates = [sys.executable] + [p for p in args.peer_python if p != sys.executable]
    peer_python, peer_notes = find_peer_pythons(peers, candidates) if peers else ({}, {})
    notes.update(peer_notes)
    methods = [m for m in methods if m not in PEERS or m in peer_python]

    peak = matmul_peak_gflops()
    machine["peak"], machine["peak_gflops"] = peak, peak["peak"]
    data = load_data()
    results = {m: [] for m in methods}
    extra: dict = {"notes": {}}
    with tempfile.TemporaryDirectory(prefix="fashion-lab-bench-") as tmp:
        workdir = Path(tmp)
        if peer_python:
            import numpy as np

            (x, y), (xt, yt) = data
            data_file = workdir / "data.npz"
            np.savez(data_file, x_train=x, y_train=y, x_test=xt, y_test=yt)
        for i in range(repeats if methods else 0):
            # Rotate the order, so that no method always pays the process's one-time warm-ups (the first
            # trace, the first model save) or always follows a particular other method.
            for m in methods[i % len(methods):] + methods[:i % len(methods)]:
                if m in PEERS and i >= args.peer_repeats:
                    continue
                seed = args.seed + i
                t = time.perf_counter()
                try:
                    r = IN_PROCESS[m](data, seed, workdir) if m in IN_PROCESS else run_peer(m, peer_python[m], data_file, seed)
                except Exception as e:  # one broken peer must not lose the whole table
                    notes[m] = f"failed: {e}"
                    continue
                results[m].append(r)
                print(f"repeat {i + 1}/{args.peer_repeats if m in PEERS else repeats} {m}: fit {r['fit_s']:.2f}s, test accuracy {r['test_accuracy']:.4f} "
                      f"({time.perf_counter() - t:.1f}s in all)", flush=True)
        if "together" in chosen:
            extra["together"] = together_section(repeats, args.seed, workdir)
        cli = cli_path()
        if methods:
            extra["help_s"] = help_time(cli)
            extra["reload_s"] = reload_time()
        if methods and (not args.quick or "A" in methods):
            cmd_runs = [command_rss_and_time([cli, "train", "--quiet", "--run-dir", str(workdir / f"cmd-{i}")])
                        for i in range(1 if args.quick else min(repeats, 2))]
            if any(r["rc"] for r in cmd_runs):
                extra["notes"]["fashion-lab train"] = f"failed (exit {max(r['rc'] for r in cmd_runs)}); not timed"
            else:
                extra["train_command_s"] = median([r["wall_s"] for r in cmd_runs])
                extra["train_command_rss_mb"] = max(r["rss_mb"] for r in cmd_runs)
                extra["predict_s"] = predict_time(workdir / "cmd-0", data[1][0])
            whole = whole_commands(cli, workdir, data[1][0])
            extra["notes"].update(whole.pop("notes", {}))
            extra.update(whole)
        if methods and not args.quick:
            ls = layer_size_time(cli, workdir)
            if "note" not in ls:
                extra.update({f"layer_size_{key}": value for key, value in ls.items()})
            else:
                extra["notes"]["layer-size experiment"] = ls["note"]
        elif methods:
            extra["notes"]["layer-size experiment"] = "not run with --quick"
    if results.get("A"):
        extra["a_call_s"] = median([r["call_s"] for r in results["A"]])
    rows = [summarize(m, results[m], peak["peak"]) for m in methods if results[m]]
    machine["load_after"] = _load()
    result = {"machine": machine, "repeats": repeats, "rows": rows, "extras": extra, "notes": notes,
              "raw": {m: results[m] for m in methods}}
    result["targets"] = check_targets({r["method"]: r for r in rows}, extra)
    text = markdown(result)
    print()
    print(text)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        # A run of the together section alone has its own file, beside the full benchmark's.
        name = args.name or machine_slug(machine["cpu"], machine["cores"]) + ("" if methods else "-together")
        _atomic.write_text(RESULTS / f"{name}.md", text)
        _atomic.write_text(RESULTS / f"{name}.json", json.dumps(result, indent=2, default=float) + "\n")
        print(f"wrote {RESULTS / name}.md and .json")
    return 0


def _has_dist(metadata, name) -> bool:
    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def wait_for_quiet(max_load: float, timeout_s: float = 600.0) -> bool:
    """Wait until the 1-minute load average drops below ``max_load``; False when it did not in time."""
    deadline = time.monotonic() + timeout_s
    while os.getloadavg()[0] >= max_load:
        if time.monotonic() > deadline:
            print(f"# load still {os.getloadavg()[0]:.2f} after {timeout_s:.0f}s; running anyway", flush=True)
            return False
        time.sleep(5)
    return True


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


if __name__ == "__main__":
    sys.exit(main())
