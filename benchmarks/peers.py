"""The seed recipe in the libraries a user might pick instead; run by bench.py in a subprocess.

Each peer runs in its own interpreter so that backends never share a process (PyTorch, TensorFlow and
JAX each bring their own thread pools). This file imports nothing from fashion_lab: the interpreter that
runs it may be a separate virtual environment that has only the peer installed.

    python benchmarks/peers.py check torch            # exit 0 when the peer can be imported
    python benchmarks/peers.py run torch --data DATA.npz --seed 0 --epochs 5

``run`` prints one JSON object: fit_s, epoch_s (list), test_accuracy, params, version.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

PEERS = {"torch": "torch", "sklearn": "sklearn", "keras-tf": "tensorflow"}
HIDDEN, CLASSES, LR, BATCH = 128, 10, 1e-3, 32


def _data(path):
    import numpy as np

    d = np.load(path)
    # The idiomatic float32 / 255 each library's tutorial uses.
    return (d["x_train"].astype("float32") / 255.0, d["y_train"].astype("int64"),
            d["x_test"].astype("float32") / 255.0, d["y_test"].astype("int64"))


def run_torch(x, y, xt, yt, seed, epochs):
    """PyTorch's idiomatic loop: DataLoader(shuffle=True), nn.Sequential, Adam, CrossEntropyLoss."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=BATCH, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    epoch_s = []
    start = time.perf_counter()
    for _ in range(epochs):
        t = time.perf_counter()
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        epoch_s.append(time.perf_counter() - t)
    fit_s = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        acc = (model(torch.from_numpy(xt)).argmax(1) == torch.from_numpy(yt)).float().mean().item()
    params = sum(p.numel() for p in model.parameters())
    return {"fit_s": fit_s, "epoch_s": epoch_s, "test_accuracy": acc, "params": params,
            "version": f"torch {torch.__version__}, {torch.get_num_threads()} threads"}


def run_sklearn(x, y, xt, yt, seed, epochs):
    """scikit-learn's MLPClassifier with the seed's sizes: one hidden layer of 128, Adam, batch 32."""
    import warnings

    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), solver="adam", learning_rate_init=LR, batch_size=BATCH,
                        max_iter=epochs, alpha=0.0, shuffle=True, random_state=seed, n_iter_no_change=epochs + 1)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=5 is the recipe, not a failure
        clf.fit(x.reshape(len(x), -1), y)
    fit_s = time.perf_counter() - start
    acc = float((clf.predict(xt.reshape(len(xt), -1)) == yt).mean())
    params = sum(w.size for w in clf.coefs_) + sum(b.size for b in clf.intercepts_)
    return {"fit_s": fit_s, "epoch_s": [], "test_accuracy": acc, "params": int(params),
            "version": f"scikit-learn {sklearn.__version__}"}


def run_keras_tf(x, y, xt, yt, seed, epochs):
    """The seed's code on Keras's TensorFlow backend (float32 inputs, default fit settings)."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(HIDDEN, activation="relu"),
                              keras.layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, epochs=epochs, verbose=0)
    fit_s = time.perf_counter() - start
    _, acc = model.evaluate(xt, yt, verbose=0)
    return {"fit_s": fit_s, "epoch_s": [], "test_accuracy": float(acc), "params": int(model.count_params()),
            "version": f"keras {keras.__version__} on tensorflow"}


RUNNERS = {"torch": run_torch, "sklearn": run_sklearn, "keras-tf": run_keras_tf}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="exit 0 when the peer's library imports")
    check.add_argument("peer", choices=sorted(PEERS))
    run = sub.add_parser("run", help="train the seed recipe once and print JSON")
    run.add_argument("peer", choices=sorted(PEERS))
    run.add_argument("--data", required=True, help=".npz with x_train, y_train, x_test, y_test (uint8)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    if args.command == "check":
        try:
            __import__(PEERS[args.peer])
        except Exception as e:  # any import failure means "not available here"
            print(f"{type(e).__name__}: {e}", file=sys.stderr)
            return 1
        return 0
    result = RUNNERS[args.peer](*_data(args.data), args.seed, args.epochs)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
