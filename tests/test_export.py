"""fashion-lab export --format onnx on a model trained on the real data: the file passes its own check (same
classes as Keras on all 10,000 test images) and works from plain onnxruntime, as the README shows."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from fashion_lab import ModelError, load_run, predict_arrays
from fashion_lab.cli import main
from fashion_lab.idx import parse_idx, read_file_bytes
from helpers import REAL_DIR
from trained import one_epoch_run

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return one_epoch_run(tmp_path_factory)[0]


def test_export_onnx_passes_its_check_and_runs_in_plain_onnxruntime(run_dir, tmp_path, capsys):
    out = tmp_path / "exported" / "fashion.onnx"
    assert main(["export", str(run_dir), "--format", "onnx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed
    assert "identical predicted classes:    10,000 of 10,000" in printed
    difference = float(re.search(r"largest probability difference: (\S+)", printed).group(1))
    assert difference < 1e-4
    assert [p.name for p in out.parent.iterdir()] == ["fashion.onnx"]  # no temporary file left beside it

    import onnxruntime

    session = onnxruntime.InferenceSession(str(out))  # the README's recipe
    meta = session.get_modelmeta().custom_metadata_map
    classes = json.loads(meta["classes"])
    assert classes[9] == "Ankle boot" and json.loads(meta["normalized"]) is True
    images = parse_idx(read_file_bytes(REAL_DIR / "t10k-images-idx3-ubyte.gz"))[:64]
    probabilities = session.run(None, {"image": images.astype("float32") / 255})[0]
    assert probabilities.shape == (64, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    keras_answers = predict_arrays(load_run(run_dir), images)
    assert [classes[i] for i in probabilities.argmax(axis=1)] == [p.class_name for p in keras_answers]


def test_export_writes_nothing_when_the_check_fails(run_dir, tmp_path, monkeypatch):
    from fashion_lab import export

    monkeypatch.setattr(export, "compare", lambda reference, candidate: (0.5, len(reference) - 3, 3))
    with pytest.raises(ModelError, match="disagrees with Keras on the 10,000 test images"):
        export.export_onnx(run_dir, tmp_path / "bad.onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_a_folder_as_out(run_dir, tmp_path, capsys):
    assert main(["export", str(run_dir), "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err


def test_a_cnn_exports_through_the_fast_pooling(tmp_path, capsys):
    """The CNN's max pooling runs as fashion_lab._fastpool's reshape-and-max (with its own gradient rule); the
    ONNX file traced through it still gives Keras's classes on all 10,000 test images."""
    import dataclasses

    from fashion_lab import TrainConfig, open_dataset, train

    data = open_dataset("fashion_mnist", REAL_DIR)
    small = dataclasses.replace(data, x_train=data.x_train[:1500], y_train=data.y_train[:1500])
    run = train(TrainConfig(model="cnn", hidden=(16,), epochs=1, run_dir=str(tmp_path / "cnn"), tensorboard=False),
                dataset=small, verbose=False)
    assert main(["export", str(run.dir), "--format", "onnx", "--out", str(tmp_path / "cnn.onnx")]) == 0
    assert "identical predicted classes:    10,000 of 10,000" in capsys.readouterr().out
