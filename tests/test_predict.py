"""Predicting with a trained run: the Python API, `fashion-lab predict`, bad files among good ones, safe model loading."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from fashion_lab import TrainConfig, load_run, train
from fashion_lab.cli import main
from fashion_lab.errors import ModelError
from fashion_lab.predict import predict_arrays, predict_images
from fashion_lab.safe_load import check_model_file, load_model
from helpers import synthetic_arrays


@pytest.fixture
def run_dir(tmp_path, synthetic_fashion):
    """A real run trained for 2 epochs on the synthetic bands (class = which row holds the bright band)."""
    return train(TrainConfig(epochs=2, run_dir=str(tmp_path / "run")), verbose=False).dir


def write_as_photo(image: np.ndarray, path, *, colour=(0.9, 0.5, 0.2)) -> None:
    """A dataset image as a person's photo: 280x280 RGB, white background, dark tinted object."""
    dark = 255 - image.astype(np.float32)
    rgb = np.stack([255 - (255 - dark) * c for c in colour], -1)
    Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB").resize((280, 280), Image.NEAREST).save(path)


def test_predict_images_api_returns_structured_results(run_dir, tmp_path):
    images, labels = synthetic_arrays(20, seed=5)
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        write_as_photo(image, paths[-1])
    run = load_run(run_dir)
    results = predict_images(run, paths + [tmp_path / "missing.png"], top=2)
    assert len(results) == 21 and results[-1].error and not results[-1].ok
    first = results[0]
    assert first.ok and first.image.shape == (28, 28) and len(first.top) == 2
    assert first.class_name == first.top[0][0] and abs(sum(first.probabilities) - 1) < 1e-4
    assert json.loads(json.dumps(first.to_dict()))["class_name"] == first.class_name
    direct = predict_arrays(run, images, labels=labels)
    assert all(p.correct is not None for p in direct) and direct[0].true_class is not None


def test_cli_prints_good_images_and_reports_bad_ones(run_dir, tmp_path, capsys):
    images, _ = synthetic_arrays(2, seed=9)
    write_as_photo(images[0], tmp_path / "good.png")
    Image.fromarray(images[1]).save(tmp_path / "good.webp")
    (tmp_path / "notes.png").write_text("not a picture")
    (tmp_path / "empty.jpg").write_bytes(b"")
    Image.new("L", (8000, 6000)).save(tmp_path / "bomb.png")  # 48 megapixels, 50 kB on disk
    shown = tmp_path / "seen"
    argv = ["predict", str(run_dir), str(tmp_path / "good.png"), str(tmp_path / "notes.png"),
            str(tmp_path / "empty.jpg"), str(tmp_path / "bomb.png"), str(tmp_path / "good.webp"),
            "--top", "2", "--show-input", str(shown)]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "good.png: " in out and "good.webp: " in out and out.count("  1. ") == 2 and "  3. " not in out
    assert "notes.png is not an image" in err and "empty.jpg is empty (0 bytes)" in err
    assert "bomb.png has 8000 x 6000 = 48.0 megapixels, over the limit of 40 megapixels" in err
    assert "Traceback" not in err
    # per readable image: the 28x28 the model saw (as README and --help say), and the picture explained
    assert sorted(p.name for p in shown.iterdir()) == ["good-2-explained.png", "good-2.png", "good-explained.png",
                                                       "good.png"]
    assert Image.open(shown / "good.png").size == (28, 28)
    explained = Image.open(shown / "good-explained.png")
    assert explained.height > 280 and explained.width > 2 * 280  # the 280x280 photo beside the model's input


def test_cli_json_and_dataset_index(run_dir, tmp_path, capsys):
    images, _ = synthetic_arrays(1, seed=2)
    Image.fromarray(images[0]).save(tmp_path / "a.bmp")
    assert main(["predict", str(run_dir), str(tmp_path / "a.bmp"), "--index", "0", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    a, first, fourth = result["predictions"]
    assert a["source"].endswith("a.bmp") and len(a["top"]) == 3 and "true_label" not in a
    assert a["uncertain"] == (a["probability"] < 0.5) and isinstance(first["uncertain"], bool)
    assert first["source"] == "fashion_mnist test[0]" and isinstance(first["correct"], bool)
    assert fourth["true_class"] in ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                    "Sneaker", "Bag", "Ankle boot")
    assert main(["predict", str(run_dir), "--index", "5", "--split", "train"]) == 0
    assert "(true: " in capsys.readouterr().out


def test_cli_needs_images_or_an_index(tmp_path, capsys):
    assert main(["predict", str(tmp_path)]) == 2
    assert "give image files to classify, or --index N" in capsys.readouterr().err


def test_bad_files_alone_are_refused_before_keras_is_imported(run_dir, tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    code = ("import sys; from fashion_lab.cli import main; rc = main(sys.argv[1:]); "
            "print('keras imported' if 'keras' in sys.modules else 'keras not imported'); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, "predict", str(run_dir), str(tmp_path / "notes.png")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "keras not imported" in done.stdout
    assert "notes.png is not an image" in done.stderr and "Traceback" not in done.stderr


def test_evaluate_reports_precision_recall_confusions_and_grid(run_dir, capsys):
    from fashion_lab.report import write_run_report

    write_run_report(run_dir)  # a run's report.html, as train writes it
    assert main(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "accuracy (= recall)" in out and "precision" in out and "misclassified.png" in out
    result = json.loads((run_dir / "evaluation.json").read_text())
    assert set(result["per_class_precision"]) == set(result["classes"])
    assert result["per_class_recall"] == pytest.approx({k: v for k, v in result["per_class_accuracy"].items()}, abs=1e-4)
    assert len(result["misclassified_shown"]) == min(36, result["misclassified_count"])
    assert Image.open(run_dir / "misclassified.png").format == "PNG"
    report = (run_dir / "report.html").read_text()  # evaluate refreshed it with the mistakes
    assert "precision" in report and 'alt="Misclassified test images' in report
    assert "accuracy (= recall)" in report and ">recall<" not in report  # one column, not two equal ones
    assert ("Most confused pairs" in report) == bool(result["most_confused"]), result["misclassified_count"]


# --- safe loading: real crafted files -------------------------------------------------------------------------


def _keras():
    from fashion_lab._backend import keras

    return keras()


def _replace_model(run_dir, make) -> None:
    (run_dir / "model.keras").unlink()
    make(run_dir / "model.keras")


def _lambda_model(path) -> None:
    keras = _keras()
    inputs = keras.Input((28, 28))
    x = keras.layers.Lambda(lambda t: t * 2.0)(keras.layers.Flatten()(inputs))
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x)).save(path)


def _custom_model(path) -> None:
    keras = _keras()

    @keras.saving.register_keras_serializable(package="Mine")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((28, 28))
    x = Doubler()(keras.layers.Flatten()(inputs))
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x)).save(path)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("print('hello')"), "is not a .keras model: a .keras file is a zip archive"),
    (lambda p: zipfile.ZipFile(p, "w").writestr("readme.txt", "hi"), "the archive has no config.json, model.weights.h5"),
    (_lambda_model, "holds a Lambda layer"),
    (_custom_model, "holds a custom object 'Mine>Doubler'"),
], ids=["text-file", "other-zip", "lambda-layer", "custom-layer"])
def test_unsafe_or_foreign_models_are_refused(run_dir, tmp_path, capsys, make, message):
    _replace_model(run_dir, make)
    images, _ = synthetic_arrays(1)
    Image.fromarray(images[0]).save(tmp_path / "a.png")
    assert main(["predict", str(run_dir), str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    with pytest.raises(ModelError, match="refuses|not a .keras|no config"):
        load_run(run_dir).load_model()


def test_keras_safe_mode_is_the_second_guard(tmp_path):
    _lambda_model(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        _keras().saving.load_model(tmp_path / "lambda.keras", safe_mode=True)


def test_the_trained_model_passes_the_check(run_dir):
    config = check_model_file(run_dir / "model.keras")
    assert config["class_name"] == "Sequential"
    assert load_model(run_dir / "model.keras").count_params() > 0


def test_unwritable_show_input_folder_is_a_user_error(run_dir, tmp_path, capsys):
    images, _ = synthetic_arrays(1, seed=4)
    Image.fromarray(images[0]).save(tmp_path / "a.png")
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    assert main(["predict", str(run_dir), str(tmp_path / "a.png"), "--show-input", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "--show-input" in err and "Traceback" not in err


def test_show_input_is_exactly_what_the_model_saw(run_dir, tmp_path):
    images, _ = synthetic_arrays(3, seed=7)
    for i, image in enumerate(images):
        write_as_photo(image, tmp_path / f"{i}.png")
    paths = [tmp_path / f"{i}.png" for i in range(3)]
    assert main(["predict", str(run_dir), *map(str, paths), "--show-input", str(tmp_path / "seen")]) == 0
    results = predict_images(load_run(run_dir), paths)
    for i, p in enumerate(results):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "seen" / f"{i}.png")), p.image)


def test_pictures_without_a_garment_get_cannot_read(run_dir, tmp_path, capsys):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (240, 320), dtype=np.uint8)).save(tmp_path / "noise.png")
    Image.new("RGB", (300, 200), (90, 140, 200)).save(tmp_path / "blue.jpg")
    two = np.full((240, 360), 235, np.uint8)
    two[40:200, 30:150] = 40
    two[50:190, 210:330] = 60
    Image.fromarray(two).save(tmp_path / "two.png")
    images, _ = synthetic_arrays(1, seed=3)
    write_as_photo(images[0], tmp_path / "shirt.png")
    names = ["noise.png", "blue.jpg", "two.png", "shirt.png"]
    argv = ["predict", str(run_dir), *[str(tmp_path / n) for n in names]]
    assert main(argv + ["--show-input", str(tmp_path / "seen")]) == 2
    out, err = capsys.readouterr()
    assert f"{tmp_path / 'noise.png'}: cannot read (low contrast)" in out
    assert f"{tmp_path / 'blue.jpg'}: cannot read (flat)" in out
    assert f"{tmp_path / 'two.png'}: cannot read (several objects)" in out
    assert f"{tmp_path / 'shirt.png'}: " in out and out.count("  1. ") == 1  # the garment is still predicted
    assert "2 objects of similar size" in err and "is one flat colour" in err and "Traceback" not in err
    assert (tmp_path / "seen" / "two-explained.png").exists() and not (tmp_path / "seen" / "two.png").exists()
    assert main(argv + ["--json"]) == 2
    noise, blue, pair, shirt = json.loads(capsys.readouterr().out)["predictions"]
    assert (noise["cannot_read"], blue["cannot_read"], pair["cannot_read"]) == ("low_contrast", "flat", "several_objects")
    assert "class_name" not in pair and len(pair["found"]["objects"]) == 2 and pair["error"].startswith("cannot read")
    assert shirt["class_name"] and "cannot_read" not in shirt and shirt["found"]["background"] == "light"


def test_low_top_probability_is_marked_uncertain(run_dir, capsys):
    from fashion_lab.predict import format_predictions

    images, _ = synthetic_arrays(1, seed=1)
    flat = np.full((1, 28, 28), 30, np.uint8)  # no band anywhere: the model has no reason to prefer a class
    results = predict_arrays(load_run(run_dir), np.concatenate([images, flat]))
    for p in results:
        assert p.uncertain == (p.probability < 0.5) and p.to_dict()["uncertain"] == p.uncertain
    unsure = [p for p in results if p.uncertain]
    assert unsure, [p.probability for p in results]
    assert "uncertain (top probability under 50%)" in format_predictions(unsure)
