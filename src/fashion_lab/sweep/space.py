"""A sweep's search space: which :class:`~fashion_lab.TrainConfig` options vary, over what, and what is held fixed.

The space is read from a TOML or YAML file. Its keys are ``TrainConfig`` field names, so any train
option can be searched, including ones added after this module was written: the kind of range a
field takes follows from its type (an ``int`` field gets whole numbers, a ``float`` field numbers, a
``bool`` field ``choices``, ``hidden`` layer sizes and a depth), and every bound and choice is checked
by ``TrainConfig``'s own validators before the sweep starts::

    # space.toml
    [fixed]                       # the same in every trial
    epochs = 3
    validation_split = 0.1        # trials are compared on this held-out part of the training images

    [params]                      # what the sampler chooses
    hidden = { low = 32, high = 1024, log = true }            # one layer; layers = [1, 3] searches depth too
    learning_rate = { low = 1e-4, high = 1e-2, log = true }   # log scale: 1e-4..1e-3 as likely as 1e-3..1e-2
    batch_size = { choices = [32, 64, 128] }

Example:
    >>> space = SearchSpace.from_dict({"fixed": {"epochs": 1},
    ...                                "params": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}})
    >>> space.base_config().validation_split, sorted(space.params)
    (0.1, ['learning_rate'])
    >>> SearchSpace.from_dict({"params": {"epochs": {"low": 0, "high": 3}}})
    Traceback (most recent call last):
    ...
    fashion_lab.errors.ConfigError: space params.epochs: low: epochs must be a positive integer, got 0.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..errors import ConfigError

DEFAULT_VALIDATION_SPLIT = 0.1  # as the experiments: 10% of the training images, seeded
SET_BY_SWEEP = frozenset({"run_dir", "runs_root", "name"})  # each trial's run directory is the sweep's to choose
ONE_DATASET = frozenset({"dataset", "data_dir", "verify"})  # loaded once per worker: fixed, never searched
_RANGE_KEYS = frozenset({"low", "high", "log", "step"})
_LAYER_KEYS = frozenset({"layers"})


def _field_types() -> dict[str, Any]:
    """``TrainConfig``'s fields and their types (resolved annotations), in declaration order."""
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(TrainConfig)}


def _kind(tp: Any) -> str:
    """What kind of value a field holds: ``int``, ``float``, ``bool``, ``sizes`` (a tuple of ints) or ``other``."""
    args = typing.get_args(tp)
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:  # X | None: the X
        inner = [a for a in args if a is not type(None)]
        return _kind(inner[0]) if len(inner) == 1 else "other"
    if tp is bool:
        return "bool"
    if tp is int:
        return "int"
    if tp is float:
        return "float"
    if typing.get_origin(tp) is tuple and args and args[0] is int:
        return "sizes"
    return "other"


def sizes_label(sizes: tuple[int, ...] | list[int]) -> str:
    """How a list of layer sizes is written as one categorical choice: ``(256, 128)`` -> ``"256x128"``."""
    return "x".join(str(s) for s in sizes)


@dataclass(frozen=True)
class Param:
    """One searched option: a range (``low``..``high``, optionally ``log`` or ``step``) or a list of ``choices``.

    For ``hidden`` (layer sizes), the range is each layer's size and ``layers`` is the depth: a number,
    or ``[fewest, most]`` to search it too.
    """

    name: str
    kind: str  # int, float, bool, sizes, other
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None
    layers: tuple[int, int] = (1, 1)

    def suggest(self, trial) -> Any:
        """The value the Optuna ``trial`` chooses for this option (a TrainConfig value)."""
        if self.choices is not None:
            if self.kind == "sizes":
                label = trial.suggest_categorical(self.name, [sizes_label(c) for c in self.choices])
                return tuple(int(s) for s in label.split("x"))
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "sizes":
            fewest, most = self.layers
            depth = fewest if fewest == most else trial.suggest_int(f"{self.name}_layers", fewest, most)
            return tuple(self._number(trial, f"{self.name}_{i + 1}", "int") for i in range(depth))
        return self._number(trial, self.name, self.kind)

    def _number(self, trial, name: str, kind: str):
        if kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def grid(self) -> dict[str, list]:
        """This option's points for Optuna's grid sampler: ``{parameter name: values}``."""
        if self.choices is not None:
            return {self.name: [sizes_label(c) for c in self.choices] if self.kind == "sizes" else list(self.choices)}
        if self.log or (self.step is None and self.kind not in ("int", "sizes")):
            raise ConfigError(f"the grid sampler needs points to try, but params.{self.name} is a continuous "
                              f"{'log ' if self.log else ''}range; give it choices = [...] or a step "
                              f"(for example step = {self._example_step()}), or use --sampler tpe or random.")
        if self.kind == "sizes" and self.layers[0] != self.layers[1]:
            raise ConfigError(f"the grid sampler cannot search params.{self.name}.layers = {list(self.layers)} "
                              f"(the number of sizes changes with it); list whole networks instead, for example "
                              f"choices = [[128], [256, 128]], or use --sampler tpe.")
        points = _points(self.low, self.high, self.step or 1, integer=self.kind in ("int", "sizes"))
        if self.kind == "sizes":
            return {f"{self.name}_{i + 1}": points for i in range(self.layers[0])}
        return {self.name: points}

    def _example_step(self) -> str:
        return f"{(self.high - self.low) / 4:g}" if self.low is not None and self.high is not None else "1"

    def describe(self) -> str:
        """One line for people: ``learning_rate: 0.0001..0.01, log scale``."""
        if self.choices is not None:
            shown = [list(c) if self.kind == "sizes" else c for c in self.choices]
            return f"{self.name}: one of {shown}"
        text = f"{self.name}: {self.low:g}..{self.high:g}"
        text += ", log scale" if self.log else (f", step {self.step:g}" if self.step else "")
        if self.kind == "sizes":
            fewest, most = self.layers
            text += f" per layer, {fewest} layer{'s' if fewest != 1 else ''}" if fewest == most else \
                    f" per layer, {fewest} to {most} layers"
        return text


def _points(low: float, high: float, step: float, *, integer: bool) -> list:
    count = int(math.floor((high - low) / step + 1e-9)) + 1
    values = [low + i * step for i in range(count)]
    return [int(round(v)) for v in values] if integer else [round(v, 12) for v in values]


@dataclass(frozen=True)
class SearchSpace:
    """The fixed options and the searched :class:`Param` s of a sweep, checked against ``TrainConfig``."""

    fixed: dict[str, Any]
    params: dict[str, Param]
    source: str = ""  # the file it was read from, for messages

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "space") -> "SearchSpace":
        """Build and check a space from ``{"fixed": {...}, "params": {...}}``; a mistake is a :class:`ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source} must hold the tables [fixed] and [params], got {type(data).__name__}.")
        unknown = sorted(set(data) - {"fixed", "params"})
        if unknown:
            raise ConfigError(f"{source}: unknown section {unknown}; a space has [fixed] (held constant) and "
                              f"[params] (searched), each keyed by train options.")
        fixed = dict(data.get("fixed") or {})
        raw = dict(data.get("params") or {})
        if not raw:
            raise ConfigError(f"{source} searches nothing: add a [params] table, for example "
                              f"learning_rate = {{ low = 1e-4, high = 1e-2, log = true }}.")
        fields = _field_types()
        for section, keys in (("fixed", fixed), ("params", raw)):
            for key in keys:
                if key not in fields:
                    raise ConfigError(f"{source}: {section}.{key} is not a train option; the options are: "
                                      f"{', '.join(n for n in fields if n not in SET_BY_SWEEP)}.")
                if key in SET_BY_SWEEP:
                    raise ConfigError(f"{source}: {section}.{key} is set by the sweep (each trial is written to "
                                      f"<sweep folder>/runs/trial-NNNN); leave it out.")
        both = sorted(set(fixed) & set(raw))
        if both:
            raise ConfigError(f"{source}: {both} are both fixed and searched; keep each in one of [fixed] or [params].")
        for key in sorted(ONE_DATASET & set(raw)):
            raise ConfigError(f"{source}: params.{key} cannot be searched (each worker loads one dataset once); "
                              f"move it to [fixed].")
        if "hidden" in fixed and isinstance(fixed["hidden"], list):
            fixed["hidden"] = tuple(fixed["hidden"])
        if "validation_split" not in fixed and "validation_split" not in raw:
            fixed["validation_split"] = DEFAULT_VALIDATION_SPLIT
        base = _check(fixed, source, "fixed")
        if "validation_split" in fixed and not base.validation_split:
            raise ConfigError(f"{source}: fixed.validation_split is 0, but trials are compared on validation "
                              f"images; use a fraction such as 0.1 (10%, seeded).")
        params = {name: _param(name, spec, _kind(fields[name]), fixed, source) for name, spec in raw.items()}
        return cls(fixed=fixed, params=params, source=source)

    def base_config(self, **changes: Any) -> TrainConfig:
        """The ``TrainConfig`` every trial starts from: defaults, then ``[fixed]``, then ``changes``."""
        return TrainConfig(**{**self.fixed, **changes})

    def suggest(self, trial) -> dict[str, Any]:
        """The options the Optuna ``trial`` chooses: ``{field: value}`` for every searched field."""
        return {name: param.suggest(trial) for name, param in self.params.items()}

    def grid(self) -> dict[str, list]:
        """The grid sampler's search space (every option needs a finite list of points)."""
        out: dict[str, list] = {}
        for param in self.params.values():
            out.update(param.grid())
        return out

    def grid_size(self) -> int:
        return math.prod(len(values) for values in self.grid().values())

    def describe(self) -> list[str]:
        """One line per searched option, then the fixed ones."""
        return [p.describe() for p in self.params.values()] + [f"{k} = {v!r} (fixed)" for k, v in self.fixed.items()]

    def to_dict(self) -> dict[str, Any]:
        """The space as plain data (JSON), as :meth:`from_dict` reads it."""
        params = {}
        for name, p in self.params.items():
            if p.choices is not None:
                params[name] = {"choices": [list(c) for c in p.choices] if p.kind == "sizes" else list(p.choices)}
                continue
            spec = {"low": p.low, "high": p.high}
            if p.log:
                spec["log"] = True
            if p.step is not None:
                spec["step"] = p.step
            if p.kind == "sizes":
                spec["layers"] = p.layers[0] if p.layers[0] == p.layers[1] else list(p.layers)
            params[name] = spec
        fixed = {k: list(v) if isinstance(v, tuple) else v for k, v in self.fixed.items()}
        return {"fixed": fixed, "params": params}

    def fingerprint(self) -> str:
        """A short hash of the space, to tell a resumed sweep from a different one under the same name."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _check(values: dict[str, Any], source: str, where: str) -> TrainConfig:
    """``TrainConfig(**values)``, its own validation error prefixed with where the value came from."""
    try:
        return TrainConfig(**values)
    except ConfigError as e:
        raise ConfigError(f"{source} {where}: {e}") from None
    except TypeError as e:  # a value of a type the field cannot take at all
        raise ConfigError(f"{source} {where}: {e}") from None


def _param(name: str, spec: Any, kind: str, fixed: dict[str, Any], source: str) -> Param:
    where = f"params.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{source}: {where} = {spec!r} is a single value; put it under [fixed], or give a range "
                          f"({name} = {{ low = ..., high = ... }}) or choices ({name} = {{ choices = [...] }}).")
    if kind == "other" and "choices" not in spec:
        raise ConfigError(f"{source}: {where} takes text, not numbers; give choices = [...].")
    if "choices" in spec:
        extra = sorted(set(spec) - {"choices"})
        choices = spec["choices"]
        if extra or not isinstance(choices, list) or not choices:
            raise ConfigError(f"{source}: {where} takes either choices = [a, b, ...] (a non-empty list) or a range "
                              f"(low, high, log, step), not both; got {spec!r}.")
        if kind == "sizes":
            choices = [tuple(c) if isinstance(c, list) else (c,) for c in choices]
        for choice in choices:
            _check({**fixed, name: choice}, source, f"{where}: choice {list(choice) if kind == 'sizes' else choice!r}")
        if len(set(choices)) != len(choices):
            raise ConfigError(f"{source}: {where} lists a choice twice: {spec['choices']!r}.")
        return Param(name, kind, choices=tuple(choices))
    if kind == "bool":
        raise ConfigError(f"{source}: {where} is on or off; give choices = [true, false].")
    allowed = _RANGE_KEYS | (_LAYER_KEYS if kind == "sizes" else frozenset())
    unknown = sorted(set(spec) - allowed)
    missing = [k for k in ("low", "high") if k not in spec]
    if unknown or missing:
        raise ConfigError(f"{source}: {where} needs low and high (and optionally {', '.join(sorted(allowed - {'low', 'high'}))})"
                          f" or choices = [...]; got {spec!r}.")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    integer = kind in ("int", "sizes")
    for key, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and value != int(value)):
            raise ConfigError(f"{source}: {where}.{key} must be a {'whole number' if integer else 'number'}, got {value!r}.")
        _check({**fixed, name: (int(value),) if kind == "sizes" else (int(value) if integer else value)},
               source, f"{where}: {key}")
    if not low < high:
        raise ConfigError(f"{source}: {where} needs low < high, got low = {low!r}, high = {high!r}; "
                          f"to hold it at one value, put it under [fixed].")
    if not isinstance(log, bool):
        raise ConfigError(f"{source}: {where}.log must be true or false, got {log!r}.")
    if log and low <= 0:
        raise ConfigError(f"{source}: {where} is on a log scale, so low must be > 0, got {low!r}.")
    if step is not None:
        if log:
            raise ConfigError(f"{source}: {where} has both log = true and a step; Optuna takes one or the other.")
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0 or (integer and step != int(step)):
            raise ConfigError(f"{source}: {where}.step must be a {'whole number' if integer else 'number'} > 0, got {step!r}.")
    layers = (1, 1)
    if kind == "sizes":
        raw = spec.get("layers", 1)
        raw = [raw, raw] if isinstance(raw, int) and not isinstance(raw, bool) else raw
        if (not isinstance(raw, list) or len(raw) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) for n in raw)
                or not 1 <= raw[0] <= raw[1]):
            raise ConfigError(f"{source}: {where}.layers must be a number of layers >= 1 or [fewest, most], "
                              f"got {spec.get('layers')!r}.")
        layers = (raw[0], raw[1])
    return Param(name, kind, low=float(low) if not integer else int(low), high=float(high) if not integer else int(high),
                 log=log, step=step, layers=layers)


def load_space(path: str | os.PathLike[str]) -> SearchSpace:
    """Read a search space from a ``.toml``, ``.yaml`` or ``.yml`` file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"search space file {path} does not exist; write one (see fashion-lab sweep --help).")
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read search space file {path}: {e}.") from None
    if suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path} is not valid TOML ({e}).") from None
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{path} is YAML, which needs PyYAML: pip install 'fashion-lab[sweep]', "
                              f"or write the space as TOML.") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML ({e}).") from None
    else:
        raise ConfigError(f"search space file {path} must end in .toml, .yaml or .yml, got {suffix or 'no extension'!r}.")
    return SearchSpace.from_dict(data, source=str(path))


__all__ = ["Param", "SearchSpace", "load_space", "sizes_label"]
