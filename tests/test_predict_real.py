"""Prediction on the real Fashion-MNIST: people-style photos of test images, throughput, and the mistakes report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fashion_lab import TrainConfig, load_run, open_dataset, train
from fashion_lab.cli import main
from fashion_lab.evaluation import predict_probabilities
from fashion_lab.predict import predict_arrays, predict_images

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """The seed's network trained for 2 epochs on the real data (about 5 s), with its own cache."""
    base = tmp_path_factory.mktemp("real-predict")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASHION_LAB_CACHE", str(base / "cache"))
        mp.delenv("FASHION_LAB_DATA", raising=False)
        run = train(TrainConfig(epochs=2, run_dir=str(base / "run")), verbose=False)
        return run, open_dataset("fashion_mnist", download=False)


def as_photo(image: np.ndarray, colour: np.ndarray) -> Image.Image:
    """What a person sends: 280x280 RGB, white background, the object dark and tinted."""
    dark = 255.0 - image.astype(np.float32)  # inverted: white background, dark object
    rgb = np.stack([255.0 - (255.0 - dark) * c for c in colour], axis=-1)  # tinted
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB").resize((280, 280), Image.BICUBIC)


def test_photos_of_test_images_keep_85_percent_of_the_accuracy(real_run, tmp_path):
    run, ds = real_run
    rng = np.random.default_rng(0)
    picked = rng.choice(len(ds.x_test), 150, replace=False)  # benchmarks/photos.py measures more conditions
    paths = []
    for i in picked:
        paths.append(tmp_path / f"test-{i}.png")
        as_photo(ds.x_test[i], rng.uniform(0.2, 1.0, 3)).save(paths[-1])
    originals = np.mean([p.correct for p in predict_arrays(run, ds.x_test[picked], labels=ds.y_test[picked])])
    results = predict_images(run, paths)
    photos = np.mean([p.label == y for p, y in zip(results, ds.y_test[picked])])
    print(f"\naccuracy on 150 originals {originals:.3f}, on their 280x280 photos {photos:.3f} "
          f"({photos / originals:.1%} of it)")
    assert originals > 0.75
    assert photos >= 0.85 * originals


def test_whole_test_set_predicted_in_one_batch(real_run):
    # Throughput is measured in benchmarks/ (timings are noisy: no timed assertions in tests).
    run, ds = real_run
    probs = predict_probabilities(run.model, ds.x_test)
    assert probs.shape == (10000, 10)
    assert abs(float((probs.argmax(1) == ds.y_test).mean()) - run.metrics["test_accuracy"]) < 1e-3


def test_evaluate_writes_the_mistakes_for_a_real_run(real_run, capsys):
    from fashion_lab.report import write_run_report

    run, _ = real_run
    write_run_report(run.dir)
    assert main(["evaluate", str(run.dir)]) == 0
    out = capsys.readouterr().out
    assert "Shirt" in out and "most confused (true -> predicted):" in out
    result = json.loads((run.dir / "evaluation.json").read_text())
    assert result["misclassified_count"] > 0 and len(result["most_confused"]) == 5
    assert Image.open(run.dir / "misclassified.png").size[0] > 500
    report = (run.dir / "report.html").read_text()
    assert "Most confused pairs" in report and 'alt="Misclassified test images' in report
    assert load_run(run.dir).metrics["test_accuracy"] == pytest.approx(result["test_accuracy"], abs=1e-3)


def test_dataset_images_saved_as_png_get_the_same_answer_as_index(real_run, tmp_path):
    from fashion_lab.predict import predict_run

    run, ds = real_run
    indices = list(range(100))
    paths = []
    for i in indices:
        paths.append(tmp_path / f"test-{i}.png")
        Image.fromarray(ds.x_test[i]).save(paths[-1])
    results = predict_run(run.dir, paths, indices=indices)
    from_files, from_index = results[:100], results[100:]
    assert [p.label for p in from_files] == [p.label for p in from_index]
    assert all(np.array_equal(f.image, ds.x_test[i]) for f, i in zip(from_files, indices))  # not re-cropped


def test_two_real_garments_side_by_side_cannot_be_read(real_run, tmp_path):
    run, ds = real_run
    pair = np.concatenate([ds.x_test[0], np.zeros((28, 10), np.uint8), ds.x_test[1]], axis=1)
    Image.fromarray(255 - pair).resize((660, 280), Image.BICUBIC).save(tmp_path / "pair.png")
    [p] = predict_images(run, [tmp_path / "pair.png"])
    assert p.cannot_read == "several_objects" and p.label is None
