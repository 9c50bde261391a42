"""Typed results: what the instruments, the study and the benchmarks return, and the JSON they save.

An `Interval` is an estimate with its 95% interval, read by name (`gain.low`), never by position. A `Record` is a
dataclass saved as a JSON object keyed by its field names, so a mistyped name fails where the result is built, not
when a report reads it, after hours of training. The JSON stays plain (an interval is the list
[estimate, low, high]), so tables, plots and tools without FGM read it; `Record.load` reads it back into the types
and refuses, saying how to redo it, a file another version of FGM wrote differently.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

# The decorator of every result dataclass: keyword-only fields, so that a field with a default (an optional row) may
# stand where the JSON has it, not only at the end.
RECORD = dataclass(kw_only=True)

# Field metadata of a value left out of the JSON when it is None (a row that exists only sometimes, as today).
OMITTED_WHEN_NONE = {"omitted_when_none": True}


def optional(**kwargs):
    """A field that defaults to None and is left out of the JSON while it is None."""
    return dataclasses.field(default=None, metadata=OMITTED_WHEN_NONE, **kwargs)


@dataclass(frozen=True)
class Interval:
    """An estimate with the low and high ends of its 95% interval."""

    estimate: float
    low: float
    high: float

    def to_json(self) -> list[float]:
        return [self.estimate, self.low, self.high]

    @classmethod
    def from_json(cls, value) -> Interval:
        if not isinstance(value, (list, tuple)) or len(value) != 3:
            raise ValueError(f"an interval is [estimate, low, high], got {value!r}")
        return cls(*(float(v) for v in value))

    def map(self, function) -> Interval:
        """The interval of an increasing function of the estimate (e.g. the perplexity of a loss)."""
        return Interval(function(self.estimate), function(self.low), function(self.high))

    @property
    def above_zero(self) -> bool:
        """The whole interval is above 0: a gain (or difference) beyond resampling noise."""
        return self.low > 0

    @property
    def below_zero(self) -> bool:
        return self.high < 0


class OutdatedResult(ValueError):
    """A saved result that does not fit today's types (another version of FGM wrote it)."""


class Record:
    """Base of the result dataclasses: `to_json`, `from_json`, `save` and `load` by field name and type."""

    redo: ClassVar[str] = "run the command that wrote it again, into a new folder"

    def to_json(self) -> dict:
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None and field.metadata.get("omitted_when_none"):
                continue
            out[field.name] = to_json(value)
        return out

    @classmethod
    def from_json(cls, data: dict):
        if not isinstance(data, dict):
            raise OutdatedResult(f"{cls.__name__} is a JSON object, got {type(data).__name__}")
        hints, names = typing.get_type_hints(cls), {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise OutdatedResult(f"{cls.__name__} has no field {', '.join(map(repr, unknown))}")
        values = {}
        for field in dataclasses.fields(cls):
            if field.name in data:
                values[field.name] = from_json(hints[field.name], data[field.name], f"{cls.__name__}.{field.name}")
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise OutdatedResult(f"{cls.__name__} needs {field.name!r}, which is missing")
        return cls(**values)

    def save(self, path) -> None:
        """Write the JSON whole or not at all (a temporary file renamed into place)."""
        path = Path(path)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(temporary, path)

    @classmethod
    def load(cls, path):
        """The record saved at `path`; a file that does not fit today's types is refused, saying how to redo it."""
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except (OutdatedResult, ValueError, TypeError) as error:
            raise OutdatedResult(f"{path} is not a {cls.__name__} as this version of FGM writes it ({error}): "
                                 f"{cls.redo}") from error


def to_json(value):
    """The plain JSON value of a result: records as objects, intervals as [estimate, low, high]."""
    if isinstance(value, (Record, Interval)):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return value
    if hasattr(value, "item"):  # a numpy scalar
        return value.item()
    return value


def from_json(kind, value, where: str):
    """`value` read as `kind` (a type hint): records, intervals, lists, dicts (int keys restored) and optionals."""
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        (kind,) = [argument for argument in arguments if argument is not type(None)]
        return from_json(kind, value, where)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise OutdatedResult(f"{where} is a list, got {value!r}")
        return origin(from_json(arguments[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise OutdatedResult(f"{where} is an object, got {value!r}")
        key_kind, value_kind = arguments
        return {key_kind(k): from_json(value_kind, v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(kind, type) and issubclass(kind, Record):
        return kind.from_json(value)
    if kind is Interval:
        try:
            return Interval.from_json(value)
        except ValueError as error:
            raise OutdatedResult(f"{where}: {error}") from error
    if kind is float and isinstance(value, int):
        return float(value)
    if kind is not Any and isinstance(kind, type) and kind is not dict and not isinstance(value, kind):
        raise OutdatedResult(f"{where} is a {kind.__name__}, got {value!r}")
    return value
