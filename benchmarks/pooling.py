"""Max pooling on the CPU: Keras's JAX ``reduce_window`` against fashion-lab's reshape-and-max (``_fastpool``).

Two measurements, each in a fresh process so only one of them has the fast pooling installed:

  step   one jitted training step (forward, gradient, SGD update) of the course's CNN on 32 images, pure JAX,
         with the pooling written as ``lax.reduce_window`` (what Keras runs) or as ``_fastpool.max_pool``;
  fit    Keras's ``model.fit`` of the course's CNN (Adam, batch 32) on 6,400 real Fashion-MNIST images after a
         warm-up fit, with plain Keras and after ``fashion_lab._backend.keras()`` (which routes the pooling),
         scaled to seconds per 54,000-image epoch.

Run: ``.venv/bin/python benchmarks/pooling.py`` (about a minute on 2 cores). Prints one JSON line per row.
"""

from __future__ import annotations

import json
import subprocess
import sys

_STEP = r'''
import json, sys, time, jax, jax.numpy as jnp
from fashion_lab._fastpool import max_pool
way = sys.argv[1]
key = jax.random.PRNGKey(0)
x, y = jax.random.normal(key, (32, 28, 28, 1)), jax.random.randint(key, (32,), 0, 10)
ks = jax.random.split(key, 4)
p = {"k1": jax.random.normal(ks[0], (3, 3, 1, 64)) * 0.3, "k2": jax.random.normal(ks[1], (3, 3, 64, 64)) * 0.05,
     "w3": jax.random.normal(ks[2], (1600, 128)) * 0.03, "w4": jax.random.normal(ks[3], (128, 10)) * 0.1}
conv = lambda v, k: jax.lax.conv_general_dilated(v, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
if way == "reduce_window":
    pool = lambda v: jax.lax.reduce_window(v, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
else:
    pool = lambda v: max_pool(None, v, 2)
def loss(p, x, y):
    h = pool(jax.nn.relu(conv(x, p["k1"])))
    h = pool(jax.nn.relu(conv(h, p["k2"]))).reshape(32, -1)
    logits = jax.nn.relu(h @ p["w3"]) @ p["w4"]
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(32), y])
step = jax.jit(lambda p, x, y: jax.tree.map(lambda a, g: a - 1e-3 * g, p, jax.grad(loss)(p, x, y)))
p = step(p, x, y); jax.block_until_ready(p)
t = time.perf_counter()
for _ in range(100):
    p = step(p, x, y)
jax.block_until_ready(p)
print(json.dumps({"row": "step", "pooling": way, "ms_per_step": round((time.perf_counter() - t) * 10, 2)}))
'''

_FIT = r'''
import json, os, sys, time
os.environ["KERAS_BACKEND"] = "jax"
way = sys.argv[1]
if way == "fashion-lab":
    from fashion_lab._backend import keras as _k
    keras = _k()
else:
    import keras
from fashion_lab.datasets import open_dataset  # NumPy only: imports no Keras
d = open_dataset("fashion_mnist")
x, y = d.x_train[:6528, :, :, None].astype("float32") / 255.0, d.y_train[:6528].astype("int32")
import sys as _sys
assert way == "fashion-lab" or not any(m.startswith("fashion_lab._backend") for m in _sys.modules), "plain Keras was patched"
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((28, 28, 1)),  # the course's network (fashion_lab.model.build_cnn's layers)
    keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
    keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
    keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x[6400:], y[6400:], batch_size=32, epochs=1, verbose=0)  # compiles
t = time.perf_counter()
model.fit(x[:6400], y[:6400], batch_size=32, epochs=1, verbose=0)
s = time.perf_counter() - t
print(json.dumps({"row": "fit", "pooling": way, "seconds_per_6400": round(s, 2), "seconds_per_54000": round(s * 54000 / 6400, 1)}))
'''


def main() -> int:
    for script, ways in ((_STEP, ("reduce_window", "fastpool")), (_FIT, ("plain Keras", "fashion-lab"))):
        for way in ways:
            out = subprocess.run([sys.executable, "-c", script, way], capture_output=True, text=True, check=True)
            print(out.stdout.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
