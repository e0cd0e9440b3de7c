"""Typed errors: every user mistake the library can detect has its own exception type.

The CLI catches :class:`FashionLabError` in one place, prints its message and exits with
code 2, so a user never sees a traceback for a mistake they can fix.
"""

from __future__ import annotations


class FashionLabError(Exception):
    """Base class for errors a user can fix. The message says what was given,
    what is valid and what to do."""

    exit_code = 2


class ConfigError(FashionLabError, ValueError):
    """A configuration value (flag, argument or config field) is not valid."""


class DataError(FashionLabError):
    """A dataset file is missing, unreadable, malformed or fails its checksum."""


class OutputError(FashionLabError):
    """A file cannot be written where the user asked."""


class RunError(FashionLabError):
    """A run directory is missing, incomplete, or cannot be written."""


class ImageError(FashionLabError):
    """An image given for prediction is missing, empty, not an image, too large or blank."""


class ModelError(RunError):
    """A model file is not a ``.keras`` model, or holds code (a Lambda layer, custom objects) that is not loaded."""


class TrainingInterrupted(FashionLabError):
    """Training was stopped by Ctrl-C or SIGTERM; finished epochs are on disk and can be resumed."""

    exit_code = 130


class TrainingDiverged(FashionLabError):
    """The loss or the weights became NaN or infinite; the run is marked failed."""


class CannotRead(ImageError):
    """A picture was read, but no single garment could be found in it (flat, too little contrast, no object,
    several objects of similar size, or an object cut off on every side).

    ``reason`` is a short code (``flat``, ``low_contrast``, ``no_object``, ``several_objects``,
    ``touches_edges``) and ``found`` what the analysis found (see :class:`fashion_lab.segmentation.Found`).
    """

    def __init__(self, message: str, *, reason: str, found=None):
        super().__init__(message)
        self.reason = reason
        self.found = found
