"""The datasets, declared: their files with the SHA-256 of the decompressed bytes, their mirrors and class names.

Data only, no loading (that is :mod:`fashion_lab.datasets`), so the command line and the config can read the
names without importing NumPy. Fashion-MNIST and MNIST differ only in these declarations.

Example:
    >>> get_spec("fashion-mnist").classes[9]
    'Ankle boot'
    >>> list(DATASETS)
    ['fashion_mnist', 'mnist']
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError

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
    keras_dir: str  # folder name under ~/.keras/datasets
    system_dirs: tuple[str, ...] = ()
    install_hint: str = ""


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
        "t10k-labels-idx1-ubyte.gz) from https://ossci-datasets.s3.amazonaws.com/mnist/ on a machine with internet."
    ),
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (FASHION_MNIST, MNIST)}


def get_spec(name: str) -> DatasetSpec:
    """Return the declaration of dataset ``name`` (``fashion_mnist`` or ``mnist``)."""
    key = name.replace("-", "_").lower()
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}.")
    return DATASETS[key]


__all__ = ["DATASETS", "FASHION_MNIST", "MNIST", "ROLES", "DatasetSpec", "FileSpec", "get_spec"]
