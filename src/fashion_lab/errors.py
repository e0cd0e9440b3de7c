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


class InvalidValue(ConfigError):
    """One value broke one rule (raised by :mod:`fashion_lab.validate`).

    ``rule`` ("must be a positive integer"), ``value`` and ``example`` are kept apart, so the command line
    can say the same rule about the text the user typed: ``--epochs: must be a positive integer, got '0'``.
    """

    def __init__(self, name: str, rule: str, value: object, example: str = ""):
        self.name, self.rule, self.value, self.example = name, rule, value, example
        super().__init__(f"{name} {self.describe(value)}.")

    def describe(self, shown: object) -> str:
        """The rule and the value as ``shown`` (a number, or the text it was parsed from), with the example."""
        return f"{self.rule}, got {shown!r}" + (f"; {self.example}" if self.example else "")
