"""One real Fashion-MNIST run (1 epoch, about 4 s), trained once per test session for the modules that need one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FASHION_LAB = str(Path(sys.executable).parent / "fashion-lab")  # the one installed beside this interpreter
_RUNS: dict[str, tuple[Path, dict[str, str]]] = {}


def one_epoch_run(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A run directory made by ``fashion-lab train --epochs 1`` on the real data, and the environment to run
    commands on it with (its own dataset cache and Keras home, so nothing is written to the user's)."""
    if "run" not in _RUNS:
        base = tmp_path_factory.mktemp("real-run")
        env = dict(os.environ, FASHION_LAB_CACHE=str(base / "cache"), KERAS_HOME=str(base / "keras"))
        env.pop("FASHION_LAB_DATA", None)
        subprocess.run([FASHION_LAB, "train", "--epochs", "1", "--run-dir", str(base / "run"), "--quiet"],
                       env=env, check=True, capture_output=True, text=True, timeout=300)
        _RUNS["run"] = (base / "run", env)
    return _RUNS["run"]
