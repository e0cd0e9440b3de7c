"""Fashion-MNIST and MNIST digits: where the files are, how they are checked, how they load.

Each dataset is *declared* as data (:class:`DatasetSpec` in :mod:`fashion_lab.dataset_specs`: files, pinned checksums, mirrors, class
names); one piece of code finds, verifies, caches and decodes any of them. Files are looked for in
this order, and the :class:`Dataset` says which one was used:

1. ``data_dir`` (``--data-dir``) or the ``FASHION_LAB_DATA`` environment variable;
2. this tool's cache (``$FASHION_LAB_CACHE``, else ``$XDG_CACHE_HOME/fashion-lab``, else
   ``~/.cache/fashion-lab``), which holds verified, uncompressed copies;
3. Keras's cache (``~/.keras/datasets/fashion-mnist``);
4. the folder Debian's ``dataset-fashion-mnist`` package installs (``/usr/share/datasets/fashion-mnist``);
5. a download from the public mirrors, written atomically into the cache.

Every file is checked against a pinned SHA-256 of its *decompressed* bytes, so a re-compressed copy
(such as Debian's) verifies as well as the original. A verified load is cached uncompressed, so the
next load skips gunzip. A cache file that fails its checksum is deleted and rebuilt, never trusted.

Example:
    >>> from fashion_lab import load_dataset
    >>> (x_train, y_train), (x_test, y_test) = load_dataset("fashion_mnist")  # doctest: +SKIP
    >>> x_train.shape, x_train.dtype  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'))
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _atomic
# The declarations live in dataset_specs (no NumPy); they are re-exported here beside the code that loads them.
from .dataset_specs import DATASETS, FASHION_MNIST, MNIST, ROLES, DatasetSpec, FileSpec, get_spec  # noqa: F401
from .errors import ConfigError, DataError
from .idx import parse_idx, read_file_bytes

def cache_root() -> Path:
    """The folder where this tool keeps verified dataset copies."""
    if os.environ.get("FASHION_LAB_CACHE"):
        return Path(os.environ["FASHION_LAB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fashion-lab"


@dataclass
class Dataset:
    """A loaded dataset: uint8 images ``(n, 28, 28)``, uint8 labels ``(n,)``, class names, provenance."""

    name: str
    classes: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # human-readable: where the files came from
    source_dir: str
    verified: bool
    notes: list[str] = field(default_factory=list)

    def splits(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """``((x_train, y_train), (x_test, y_test))``, as ``keras.datasets.*.load_data()`` returns."""
        return (self.x_train, self.y_train), (self.x_test, self.y_test)

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of split ``train`` or ``test``."""
        if which == "train":
            return self.x_train, self.y_train
        if which == "test":
            return self.x_test, self.y_test
        raise ConfigError(f"unknown split {which!r}; choose train or test.")


def _find_in_dir(folder: Path, spec: FileSpec) -> Path | None:
    for candidate in (folder / spec.filename, folder / (spec.filename + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check(spec: DatasetSpec, role: str, path: Path, data: bytes) -> None:
    expected = spec.files[role]
    actual = _sha256(data)
    if actual != expected.sha256:
        raise DataError(
            f"{spec.title} file {path} failed its checksum: its decompressed bytes have SHA-256 {actual[:16]}... "
            f"({len(data)} bytes) but the original {expected.filename} has {expected.sha256[:16]}... ({expected.size} bytes). "
            f"The file is damaged or is not the original {spec.title}; replace it with a fresh copy. {spec.install_hint}"
            " To load your own data in this format on purpose, pass --no-verify (verify=False)."
        )


def _decode(spec: DatasetSpec, role: str, path: Path, data: bytes) -> np.ndarray:
    array = parse_idx(data, name=f"{spec.title} file {path}")
    want_ndim = 3 if role.endswith("images") else 1
    if array.dtype != np.uint8 or array.ndim != want_ndim or (want_ndim == 3 and array.shape[1:] != (28, 28)):
        what = "uint8 images of shape (n, 28, 28)" if want_ndim == 3 else "uint8 labels of shape (n,)"
        raise DataError(f"{spec.title} file {path} holds {array.dtype} data of shape {array.shape}; expected {what}.")
    return array


def _assemble(spec, arrays, paths, *, source, source_dir, verified, notes) -> Dataset:
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(
                f"{spec.title} {split} split does not match: {paths[f'{split}_images']} holds {len(images)} images "
                f"but {paths[f'{split}_labels']} holds {len(labels)} labels; the two files come from different copies."
            )
        if len(labels) and labels.max() >= len(spec.classes):
            bad = int(labels.max())
            raise DataError(
                f"{spec.title} file {paths[f'{split}_labels']} has label {bad}; valid labels are 0-{len(spec.classes) - 1}."
            )
    return Dataset(
        name=spec.name, classes=spec.classes,
        x_train=arrays["train_images"], y_train=arrays["train_labels"],
        x_test=arrays["test_images"], y_test=arrays["test_labels"],
        source=source, source_dir=str(source_dir), verified=verified, notes=notes,
    )


def _load_dir(spec: DatasetSpec, folder: Path, *, verify: bool) -> tuple[dict, dict, dict]:
    """Read, verify and decode the four files of ``folder``. Returns (arrays, raw bytes, paths)."""
    arrays, raws, paths = {}, {}, {}
    for role, fspec in spec.files.items():
        path = _find_in_dir(folder, fspec)
        if path is None:
            raise DataError(
                f"{spec.title} file {fspec.filename}(.gz) is missing from {folder}. "
                f"The folder needs all four files: {', '.join(f.filename + '(.gz)' for f in spec.files.values())}. {spec.install_hint}"
            )
        try:
            data = read_file_bytes(path)
            if not verify:
                arrays[role] = _decode(spec, role, path, data)
        except DataError as e:  # say how to fix it, as the checksum message does
            raise DataError(f"{e} Replace it with a fresh copy. {spec.install_hint}") from None
        if verify:
            _check(spec, role, path, data)  # a checksum match also proves the format, so decode after it
            arrays[role] = _decode(spec, role, path, data)
        raws[role] = data
        paths[role] = path
    return arrays, raws, paths


def _open_folder(spec: DatasetSpec, folder: Path, label: str, *, verify: bool, notes: list[str]) -> Dataset:
    """The dataset from the four files of ``folder`` (found as ``label``); verified files also fill the cache."""
    arrays, raws, paths = _load_dir(spec, folder, verify=verify)
    if verify:
        _store_cache(spec, raws, notes)
    return _assemble(spec, arrays, paths, source=f"{label} {folder}", source_dir=folder, verified=verify, notes=notes)


def _cache_dir(spec: DatasetSpec) -> Path:
    return cache_root() / spec.name


def _load_cache(spec: DatasetSpec, notes: list[str]) -> tuple[dict, dict] | None:
    """Load all four files from the cache if each one verifies; delete any that does not."""
    folder = _cache_dir(spec)
    arrays, paths = {}, {}
    for role, fspec in spec.files.items():
        path = folder / fspec.filename
        if not path.is_file():
            return None
        try:
            data = path.read_bytes()
            _check(spec, role, path, data)
            arrays[role] = _decode(spec, role, path, data)
        except (DataError, OSError):
            notes.append(f"cache file {path} was damaged; deleted it and rebuilt the cache from the source")
            path.unlink(missing_ok=True)
            return None
        paths[role] = path
    return arrays, paths


def _store_cache(spec: DatasetSpec, raws: dict[str, bytes], notes: list[str]) -> None:
    folder = _cache_dir(spec)
    try:
        for role, fspec in spec.files.items():
            target = folder / fspec.filename
            if not target.is_file():
                _atomic.write_bytes(target, raws[role])
    except OSError as e:  # a read-only home must not stop training
        notes.append(f"could not write the cache in {folder} ({e.strerror or e}); the next load will decompress again")


def _download(spec: DatasetSpec, notes: list[str], timeout: float = 30.0) -> dict[str, bytes]:
    """Fetch the four files from the mirrors, verify them, and return their decompressed bytes."""
    raws: dict[str, bytes] = {}
    for role, fspec in spec.files.items():
        errors = []
        for mirror in spec.mirrors:
            url = mirror + fspec.filename + ".gz"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    payload = response.read()
                data = gzip.decompress(payload) if payload[:2] == b"\x1f\x8b" else payload
                _check(spec, role, Path(url), data)
            except (urllib.error.URLError, http.client.HTTPException, OSError, EOFError, DataError, ValueError) as e:
                errors.append(f"{url}: {getattr(e, 'reason', None) or e}")
                continue
            raws[role] = data
            notes.append(f"downloaded {url}")
            break
        else:
            raise DataError(
                f"{spec.title} was not found on this machine and could not be downloaded "
                f"({'; '.join(errors)}). {spec.install_hint} Or put the four IDX files in a folder and pass "
                f"--data-dir FOLDER (or set FASHION_LAB_DATA)."
            )
    return raws


def candidate_dirs(spec: DatasetSpec) -> list[tuple[str, Path]]:
    """The automatic places searched for ``spec``'s files, in order, after the cache."""
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    places = [("Keras cache", keras_home / "datasets" / spec.keras_dir)]
    places += [("system package", Path(d)) for d in spec.system_dirs]
    return places


def open_dataset(
    name: str = "fashion_mnist",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    verify: bool = True,
    download: bool = True,
) -> Dataset:
    """Find, verify and load a dataset, saying where it came from.

    Args:
        name: ``"fashion_mnist"`` or ``"mnist"``. Defaults to ``"fashion_mnist"``.
        data_dir: a folder holding the four IDX files (``.gz`` or not). Defaults to
            ``$FASHION_LAB_DATA``, then the automatic search described in this module.
        verify: check every file against the pinned SHA-256. Defaults to True; pass False
            only for your own data in the same format (it is then not cached).
        download: allow a download from the public mirrors as the last resort. Defaults to True.

    Raises:
        DataError: a file is missing, damaged, or fails its checksum; the message says how to fix it.

    Example:
        >>> ds = open_dataset("fashion_mnist")  # doctest: +SKIP
        >>> ds.source, ds.classes[9]  # doctest: +SKIP
        ('system package /usr/share/datasets/fashion-mnist', 'Ankle boot')
    """
    spec = get_spec(name)
    notes: list[str] = []
    explicit = data_dir if data_dir is not None else os.environ.get("FASHION_LAB_DATA") or None
    if explicit is not None:
        folder = Path(explicit).expanduser()
        label = "--data-dir" if data_dir is not None else "FASHION_LAB_DATA"
        if not folder.is_dir():
            raise DataError(
                f"{label} {folder} is not a folder. Give a folder holding the four {spec.title} IDX files "
                f"({', '.join(f.filename + '(.gz)' for f in spec.files.values())})."
            )
        return _open_folder(spec, folder, label, verify=verify, notes=notes)

    cached = _load_cache(spec, notes) if verify else None
    if cached is not None:
        arrays, paths = cached
        folder = _cache_dir(spec)
        return _assemble(spec, arrays, paths, source=f"cache {folder}", source_dir=folder, verified=True, notes=notes)

    for label, folder in candidate_dirs(spec):
        missing = [f.filename for f in spec.files.values() if not _find_in_dir(folder, f)] if folder.is_dir() else None
        if missing == []:
            return _open_folder(spec, folder, label, verify=verify, notes=notes)
        if missing and len(missing) < len(spec.files):  # an incomplete copy: say so, and look further
            notes.append(f"skipped {label} {folder}: it lacks {', '.join(m + '(.gz)' for m in missing)}")

    searched = [str(_cache_dir(spec))] + [str(p) for _, p in candidate_dirs(spec)]
    if not download:
        raise DataError(
            f"{spec.title} files were not found in any of: {', '.join(searched)}"
            + "".join(f"; {note}" for note in notes)
            + f". {spec.install_hint} "
            f"Or put the four IDX files in a folder and pass --data-dir FOLDER (or set FASHION_LAB_DATA)."
        )
    raws = _download(spec, notes)
    arrays = {role: _decode(spec, role, Path(spec.files[role].filename), raws[role]) for role in ROLES}
    _store_cache(spec, raws, notes)
    folder = _cache_dir(spec)
    paths = {role: folder / spec.files[role].filename for role in ROLES}
    return _assemble(spec, arrays, paths, source=f"download into {folder}", source_dir=folder, verified=True, notes=notes)


def load_dataset(name: str = "fashion_mnist", data_dir: str | os.PathLike[str] | None = None, **kwargs):
    """``((x_train, y_train), (x_test, y_test))`` as uint8 arrays, like Keras's ``load_data()``.

    Takes the same arguments as :func:`open_dataset`, but works offline from the files on this machine.

    Example:
        >>> (x, y), (xt, yt) = load_dataset("fashion_mnist")  # doctest: +SKIP
        >>> x.shape, xt.shape  # doctest: +SKIP
        ((60000, 28, 28), (10000, 28, 28))
    """
    return open_dataset(name, data_dir, **kwargs).splits()
