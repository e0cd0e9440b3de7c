"""TensorBoard event files for every run, written without TensorFlow (tensorboardX).

Each run directory gets ``tensorboard/train`` and ``tensorboard/validation`` (the layout Keras's own
TensorBoard callback uses, so both splits share one chart per metric):

- per epoch: ``epoch_loss`` and ``epoch_accuracy`` in both, ``epoch_learning_rate`` and ``epoch_seconds``
  in ``train``;
- at the end: the ``curves`` image (curves.png) and the ``confusion`` matrix image of the validation
  split (or of the test set, for a run that holds no validation split out and is tested).

``tensorboard --logdir runs`` then compares every run, experiment run and sweep trial under ``runs``
(``tensorboard --logdir sweeps/NAME/runs`` one sweep's trials). The package is imported only when a
run starts (it costs about 0.4 s), and a run without it installed still trains and says so once.

Example:
    >>> import tempfile
    >>> log = TensorBoardLog(tempfile.mkdtemp())
    >>> log.start(); log.epoch(0, {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.78},
    ...                         learning_rate=0.001, seconds=1.2)
    >>> log.close()
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from .runs import TENSORBOARD as FOLDER  # inside the run directory
SPLITS = ("train", "validation")


class TensorBoardLog:
    """Writes one run's TensorBoard scalars and images into ``run_dir/tensorboard/{train,validation}``.

    Args:
        run_dir: the run directory.
        first_step: the first epoch this fit writes, counted from 1 (a resumed run starts after its last
            finished epoch; events an interrupted attempt wrote from there on are dropped). Defaults to 1.
    """

    def __init__(self, run_dir: str | Path, first_step: int = 1):
        self.folder = Path(run_dir) / FOLDER
        self.first_step = first_step
        self._writers: dict[str, object] = {}
        self.available = True

    def start(self) -> None:
        """Open the writers (imports tensorboardX); without it, warn once and write nothing."""
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            self.available = False
            warnings.warn("tensorboardX is not installed, so this run writes no TensorBoard files "
                          "(pip install tensorboardX).", stacklevel=2)
            return
        # purge_step: on resume, TensorBoard forgets what an interrupted attempt logged from that step on.
        purge = self.first_step if self.first_step > 1 else None
        self._writers = {split: SummaryWriter(str(self.folder / split), purge_step=purge, flush_secs=30)
                         for split in SPLITS}

    def epoch(self, epoch: int, logs: dict, *, learning_rate: float | None, seconds: float) -> None:
        """Log epoch ``epoch`` (counted from 0, shown from 1): loss and accuracy of both splits, rate, time."""
        if not self._writers:
            return
        step = epoch + 1
        train, validation = self._writers["train"], self._writers["validation"]
        for key in ("loss", "accuracy"):
            if logs.get(key) is not None:
                train.add_scalar(f"epoch_{key}", float(logs[key]), step)
            if logs.get(f"val_{key}") is not None:
                validation.add_scalar(f"epoch_{key}", float(logs[f"val_{key}"]), step)
        if learning_rate is not None:
            train.add_scalar("epoch_learning_rate", float(learning_rate), step)
        train.add_scalar("epoch_seconds", float(seconds), step)

    def image(self, tag: str, picture: str | Path | np.ndarray, step: int, split: str = "train") -> None:
        """Add a picture (a PNG's path, or an RGB array of height x width x 3) as image ``tag`` at ``step``."""
        if not self._writers:
            return
        if not isinstance(picture, np.ndarray):
            from PIL import Image

            with Image.open(picture) as opened:
                picture = np.asarray(opened.convert("RGB"))
        self._writers[split].add_image(tag, picture, step, dataformats="HWC")

    def flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        """Write everything out and close the files (safe to call twice)."""
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def confusion_image(matrix: np.ndarray, classes: list[str] | tuple[str, ...], cell: int = 36) -> np.ndarray:
    """The confusion matrix as an RGB array: rows true classes, columns predicted, each cell shaded by its share
    of the true class and labelled with its count. Drawn with Pillow in milliseconds (matplotlib takes about a
    second, every run), for TensorBoard.

    Example:
        >>> confusion_image(np.array([[3, 1], [0, 4]]), ["a", "b"]).shape
        (136, 172, 3)
    """
    from PIL import Image, ImageDraw

    n = len(classes)
    matrix = np.asarray(matrix)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    left, top = 100, 64  # room for the true and predicted class names
    picture = Image.new("RGB", (left + n * cell, top + n * cell), "white")
    draw = ImageDraw.Draw(picture)
    draw.text((left, 4), "predicted ->", fill="black")
    draw.text((2, 4), "true", fill="black")
    for j, name in enumerate(classes):
        draw.text((left + j * cell + 2, 20 + 14 * (j % 3)), str(name)[:6], fill="black")
    for i, name in enumerate(classes):
        draw.text((2, top + i * cell + cell // 3), str(name)[:15], fill="black")
        for j in range(n):
            level = int(255 * (1 - share[i, j]))
            x, y = left + j * cell, top + i * cell
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=(level, level, 255), outline=(200, 200, 200))
            draw.text((x + 3, y + cell // 3), str(int(matrix[i, j])), fill="white" if level < 128 else "black")
    return np.asarray(picture)


def learning_rate(model) -> float | None:
    """The optimizer's current learning rate (after any schedule), or None when the model has none."""
    optimizer = getattr(model, "optimizer", None)
    rate = getattr(optimizer, "learning_rate", None)
    if rate is None:
        return None
    try:
        return float(np.asarray(rate))
    except (TypeError, ValueError):
        return None


__all__ = ["FOLDER", "TensorBoardLog", "confusion_image", "learning_rate"]
