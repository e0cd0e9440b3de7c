"""Integration tests on the real Fashion-MNIST (Debian's dataset-fashion-mnist); CI installs it."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fashion_lab import open_dataset
from fashion_lab.cli import main
from helpers import REAL_DIR

pytestmark = pytest.mark.real_data


def test_real_dataset_verifies_and_has_the_known_shape():
    ds = open_dataset("fashion_mnist", download=False)
    assert ds.verified and ds.source.startswith("system package")
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10 and np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.classes[int(ds.y_train[0])] == "Ankle boot"


def test_show_first_training_image(capsys, tmp_path):
    assert main(["show", "0", "--out", str(tmp_path / "0.png")]) == 0
    assert capsys.readouterr().out.startswith("Label: 9 (Ankle boot)")


def test_one_epoch_reaches_80_percent(tmp_path):
    run_dir = tmp_path / "run"
    exe = Path(sys.executable).parent / "fashion-lab"
    done = subprocess.run([str(exe), "train", "--epochs", "1", "--run-dir", str(run_dir)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.80 and metrics["epochs_run"] == 1
    assert "epoch 1/1:" in done.stdout


def test_damaged_real_file_is_named(tmp_path, capsys):
    copy = shutil.copytree(REAL_DIR, tmp_path / "copy")
    labels = copy / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(labels.read_bytes()))
    data[100] = (data[100] + 1) % 10
    labels.write_bytes(gzip.compress(bytes(data)))
    assert main(["data", "--data-dir", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "t10k-labels-idx1-ubyte.gz failed its checksum" in err and "Traceback" not in err
