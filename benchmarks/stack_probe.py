"""Steady epochs of K=4 models stacked (fit_many) vs one after another (fit), by hidden size and batch size.

Run: .venv/bin/python benchmarks/stack_probe.py 6000   (the number of training images; README quotes 6,000)
"""
import os, sys, time
os.environ["KERAS_BACKEND"] = "jax"
import numpy as np
from fashion_lab import build_model, _fastfit, load_dataset
from fashion_lab._backend import keras
(x, y), _ = load_dataset("fashion_mnist")
n = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
x = (x[:n] / 255).astype(np.float32); y = y[:n].astype(np.int32)
K = 4
print("load", open("/proc/loadavg").read().strip(), flush=True)
for hidden, batch in [(128, 32), (512, 32), (1024, 32), (128, 256), (1024, 256)]:
    def models():
        out = []
        for s in range(K):
            keras().utils.set_random_seed(s); out.append(build_model((hidden,)))
        return out
    ms = models()
    # warm up: compile both programs (2 epochs so that epoch 2 is steady)
    _fastfit.fit(ms[0], x, y, epochs=1, batch_size=batch, seed=0)
    _fastfit.fit_many(ms, x, y, epochs=1, batch_size=batch, seeds=list(range(K)))
    t = time.perf_counter()
    for i, m in enumerate(ms):
        _fastfit.fit(m, x, y, epochs=2, initial_epoch=1, batch_size=batch, seed=i)
    alone = time.perf_counter() - t
    t = time.perf_counter()
    _fastfit.fit_many(ms, x, y, epochs=2, initial_epoch=1, batch_size=batch, seeds=list(range(K)))
    together = time.perf_counter() - t
    print(f"hidden {hidden:5} batch {batch:4}: {K} one after another {alone:.2f}s, together {together:.2f}s, "
          f"ratio together/alone {together / alone:.2f}", flush=True)
print("load", open("/proc/loadavg").read().strip(), flush=True)
