"""Finding, verifying, caching and downloading datasets, on synthetic IDX files made here."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import http.server
import shutil
import threading

import numpy as np
import pytest

from fashion_lab import datasets, load_dataset, open_dataset
from fashion_lab.errors import ConfigError, DataError
from fashion_lab.idx import encode_idx
from helpers import spec_for, synthetic_arrays, write_idx_dataset


def test_loads_like_keras_load_data(synthetic_fashion, synthetic_dir):
    (x, y), (xt, yt) = load_dataset("fashion_mnist")
    assert x.shape == (600, 28, 28) and x.dtype == np.uint8 and y.shape == (600,) and y.dtype == np.uint8
    assert xt.shape == (200, 28, 28) and yt.shape == (200,)
    np.testing.assert_array_equal(x, synthetic_arrays(600, 0)[0])


def test_source_order_cache_after_first_load(synthetic_fashion, synthetic_dir, isolated_cache):
    first = open_dataset("fashion_mnist")
    assert first.source.startswith("system package") and first.verified
    assert sorted(p.name for p in (isolated_cache / "fashion_mnist").iterdir()) == sorted(
        f.filename for f in synthetic_fashion.files.values())
    second = open_dataset("fashion_mnist")
    assert second.source.startswith("cache ")
    np.testing.assert_array_equal(first.x_train, second.x_train)


def test_data_dir_wins_over_everything(synthetic_fashion, synthetic_dir, tmp_path, monkeypatch):
    own = shutil.copytree(synthetic_dir, tmp_path / "own")
    open_dataset("fashion_mnist")  # fills the cache
    assert open_dataset("fashion_mnist", own).source == f"--data-dir {own}"
    monkeypatch.setenv("FASHION_LAB_DATA", str(own))
    assert open_dataset("fashion_mnist").source == f"FASHION_LAB_DATA {own}"


def test_keras_cache_comes_before_system_dir(synthetic_fashion, synthetic_dir, tmp_path, monkeypatch):
    keras_home = tmp_path / "kh"
    shutil.copytree(synthetic_dir, keras_home / "datasets" / "fashion-mnist")
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    assert open_dataset("fashion_mnist").source.startswith("Keras cache")


def test_uncompressed_files_verify_like_gz(tmp_path, monkeypatch):
    plain = write_idx_dataset(tmp_path / "plain", gz=False)
    packed = write_idx_dataset(tmp_path / "packed", gz=True)
    monkeypatch.setitem(datasets.DATASETS, "fashion_mnist", spec_for(packed, datasets.FASHION_MNIST, mirrors=()))
    a = open_dataset("fashion_mnist", plain)
    b = open_dataset("fashion_mnist", packed)
    assert a.verified and b.verified
    np.testing.assert_array_equal(a.x_test, b.x_test)


def test_checksum_mismatch_names_the_file(synthetic_fashion, synthetic_dir, tmp_path):
    bad = shutil.copytree(synthetic_dir, tmp_path / "bad")
    images, labels = synthetic_arrays(200, 99)
    (bad / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(encode_idx(images)))
    with pytest.raises(DataError) as e:
        open_dataset("fashion_mnist", bad)
    msg = str(e.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "failed its checksum" in msg and "fresh copy" in msg


def test_missing_file_says_which_and_how_to_fix(synthetic_fashion, synthetic_dir, tmp_path):
    partial = shutil.copytree(synthetic_dir, tmp_path / "partial")
    (partial / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\(\.gz\) is missing from"):
        open_dataset("fashion_mnist", partial)


def test_truncated_file(synthetic_fashion, synthetic_dir, tmp_path):
    cut = shutil.copytree(synthetic_dir, tmp_path / "cut")
    path = cut / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz is a damaged gzip"):
        open_dataset("fashion_mnist", cut)


def test_damaged_cache_is_rebuilt_not_trusted(synthetic_fashion, isolated_cache):
    good = open_dataset("fashion_mnist")
    cached = isolated_cache / "fashion_mnist" / "train-images-idx3-ubyte"
    data = bytearray(cached.read_bytes())
    data[5000] ^= 0xFF  # one flipped byte: still a valid IDX file, but not the original
    cached.write_bytes(bytes(data))
    again = open_dataset("fashion_mnist")
    assert again.source.startswith("system package")
    assert any("damaged" in n for n in again.notes)
    np.testing.assert_array_equal(good.x_train, again.x_train)
    assert open_dataset("fashion_mnist").source.startswith("cache ")


def test_count_mismatch_and_bad_label(tmp_path):
    folder = write_idx_dataset(tmp_path / "d")
    x, y = synthetic_arrays(600, 0)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(y[:599])))
    with pytest.raises(DataError, match="600 images but .* 599 labels"):
        open_dataset("fashion_mnist", folder, verify=False)
    y = y.copy()
    y[3] = 12
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(y)))
    with pytest.raises(DataError, match="has label 12; valid labels are 0-9"):
        open_dataset("fashion_mnist", folder, verify=False)


def test_mnist_uses_same_machinery_with_its_own_checksums(synthetic_dir):
    with pytest.raises(DataError, match="MNIST digits file .*failed its checksum.*--no-verify"):
        open_dataset("mnist", synthetic_dir)
    ds = open_dataset("mnist", synthetic_dir, verify=False)
    assert ds.name == "mnist" and ds.classes[7] == "7" and not ds.verified


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ConfigError, match="unknown dataset 'fmnist'; choose one of: fashion_mnist, mnist"):
        open_dataset("fmnist")


def test_nothing_found_and_no_download(synthetic_fashion, monkeypatch, tmp_path):
    spec = dataclasses.replace(synthetic_fashion, system_dirs=(str(tmp_path / "none"),))
    monkeypatch.setitem(datasets.DATASETS, "fashion_mnist", spec)
    with pytest.raises(DataError, match="not found in any of.*--data-dir"):
        open_dataset("fashion_mnist", download=False)


@pytest.fixture
def mirror(synthetic_dir):
    """A real HTTP server on localhost serving the synthetic .gz files."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(synthetic_dir))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def test_download_from_mirror_into_cache(synthetic_fashion, monkeypatch, tmp_path, mirror, isolated_cache):
    spec = dataclasses.replace(synthetic_fashion, system_dirs=(), mirrors=("http://127.0.0.1:9/nothing/", mirror))
    monkeypatch.setitem(datasets.DATASETS, "fashion_mnist", spec)
    ds = open_dataset("fashion_mnist")
    assert ds.source.startswith("download into") and ds.verified
    assert any(mirror in n for n in ds.notes)
    assert not list((isolated_cache / "fashion_mnist").glob(".*tmp*"))  # no temporary files left
    assert open_dataset("fashion_mnist").source.startswith("cache ")


def test_download_failure_explains_how_to_get_files(synthetic_fashion, monkeypatch):
    spec = dataclasses.replace(synthetic_fashion, system_dirs=(), mirrors=("http://127.0.0.1:9/",))
    monkeypatch.setitem(datasets.DATASETS, "fashion_mnist", spec)
    with pytest.raises(DataError, match="could not be downloaded.*apt-get install dataset-fashion-mnist"):
        open_dataset("fashion_mnist")


def test_incomplete_keras_copy_is_skipped_with_a_note(synthetic_fashion, synthetic_dir, tmp_path, monkeypatch):
    keras_copy = tmp_path / "kh" / "datasets" / "fashion-mnist"
    keras_copy.mkdir(parents=True)
    shutil.copy(synthetic_dir / "train-images-idx3-ubyte.gz", keras_copy)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    ds = open_dataset("fashion_mnist")
    assert ds.source.startswith("system package")
    assert any("skipped Keras cache" in n and "t10k-labels-idx1-ubyte(.gz)" in n for n in ds.notes)


def test_absurd_header_is_a_dataerror_not_an_overflow(tmp_path):
    # dims 2^22 x 2^22 x 2^20 overflow int64 to 0 bytes: must still be reported as a damaged file
    data = bytes([0, 0, 0x08, 3]) + (1 << 22).to_bytes(4, "big") * 2 + (1 << 20).to_bytes(4, "big")
    from fashion_lab.idx import parse_idx

    with pytest.raises(DataError, match="truncated"):
        parse_idx(data)
