"""The registry's files as the cache keeps them (cache.py): parsed once per content.

A version file becomes its ``VersionRecord`` and its SemVer order, a ``stages.yaml`` its
``StageMap``, ``registry.yaml`` its ``RegistryConfig``: a read the cache serves parses no
YAML (and imports no YAML library). On disk records are plain tuples, rebuilt without
running the dataclasses' ``__init__`` (they have no ``__post_init__``, so the result is the
same): unpickling 10,000 records as dataclasses took half of ``gitreg list``'s time at
10,000 versions.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gitreg.core import config
from gitreg.core.config import Policy, RegistryConfig, StagePolicies
from gitreg.core.records import (
    Artifact,
    Lineage,
    StageMap,
    VersionRecord,
    stages_from_dict,
    version_from_dict,
)
from gitreg.repo import yamlio
from gitreg.repo.cache import Parser, schema

T = TypeVar("T")

# SemVer precedence as a tuple: sorting by it compares in C, where comparing Versions calls
# Python twice per comparison (a quarter of `gitreg list`'s time at 10,000 versions).
Order = tuple[Any, ...]

_RECORD = tuple(f.name for f in dataclasses.fields(VersionRecord))
_NESTED = [(_RECORD.index(name), cls, tuple(f.name for f in dataclasses.fields(cls)))
           for name, cls in (("artifact", Artifact), ("lineage", Lineage))]


def _maker(cls: type[T]) -> Callable[[Any], T]:
    """A function that makes a ``cls`` from the values of its fields in order, without its
    ``__init__``: one unpacking assignment into the new object's ``__dict__`` (2.5 times
    quicker than a loop over the names, 300,000 times per warm `gitreg list` at 100,000
    versions). A sequence of another length raises ``ValueError``, as unpacking does. The
    code is made from the class's own field names, never from data."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if not all(name.isidentifier() for name in names):
        raise TypeError(f"{cls.__qualname__}: a field name that is not an identifier")
    targets = "".join(f"d[{name!r}], " for name in names)
    code = (f"def make(values):\n    obj = new(cls)\n    d = obj.__dict__\n"
            f"    {targets}= values\n    return obj\n")
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    exec(code, scope)
    make: Callable[[Any], T] = scope["make"]
    return make


_MAKE_RECORD = _maker(VersionRecord)
_MAKE_NESTED = [(_RECORD.index(name), _maker(cls))
                for name, cls in (("artifact", Artifact), ("lineage", Lineage))]


def _parse_version(data: bytes, source: str) -> tuple[VersionRecord, Order]:
    record = version_from_dict(yamlio.loads(data, source), source)
    return record, record.semver.precedence()


def _pack_version(value: tuple[VersionRecord, Order]) -> tuple[Any, Order]:
    # What dataclasses.astuple gives, without its deep copy of every value: _interned
    # builds new containers anyway, and astuple was a fifth of a cold `gitreg list`.
    record, order = value
    fields = [getattr(record, name) for name in _RECORD]
    for index, _, names in _NESTED:
        fields[index] = tuple(getattr(fields[index], name) for name in names)
    return _interned(tuple(fields)), order


def _interned(value: Any) -> Any:
    """``value`` with equal strings made one object: pickle then writes each string once
    per file (a model's versions repeat their keys, author, type: a third smaller, and as
    much quicker to load)."""
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, tuple):
        return tuple(_interned(v) for v in value)
    if isinstance(value, list):
        return [_interned(v) for v in value]
    if isinstance(value, dict):
        return {_interned(k): _interned(v) for k, v in value.items()}
    return value


def _unpack_version(packed: tuple[tuple[Any, ...], Order]) -> tuple[VersionRecord, Order]:
    values, order = packed
    fields = list(values)
    for index, make in _MAKE_NESTED:
        fields[index] = make(fields[index])
    return _MAKE_RECORD(fields), tuple(order)


VERSIONS = Parser(
    f"versions {schema(VersionRecord, Artifact, Lineage)}",
    _parse_version, _pack_version, _unpack_version,
)


def _parse_stages(data: bytes, source: str) -> StageMap:
    return stages_from_dict(yamlio.loads(data, source), source)


def _pack_stages(stage_map: StageMap) -> tuple[str, dict[str, tuple[str, ...]]]:
    return stage_map.name, dict(stage_map.stages)


def _unpack_stages(packed: tuple[str, dict[str, tuple[str, ...]]]) -> StageMap:
    name, stages = packed
    return StageMap(name, {stage: tuple(held) for stage, held in stages.items()})


STAGES = Parser(f"stages {schema(StageMap)}", _parse_stages, _pack_stages, _unpack_stages)


def _parse_config(data: bytes, source: str) -> RegistryConfig:
    return config.from_dict(yamlio.loads(data, source), source)


def _same(value: T) -> T:
    return value


# One small file: kept as it is (pickled dataclasses).
CONFIG = Parser(f"config {schema(RegistryConfig, StagePolicies, Policy)}", _parse_config, _same,
                _same)


def yaml_stems(folder: Path) -> list[str]:
    """What ``folder.glob("*.yaml")`` finds, as names without ``.yaml`` (scandir: faster)."""
    try:
        with os.scandir(folder) as entries:
            return [e.name[:-5] if len(e.name) > 5 else e.name  # Path(".yaml").stem
                    for e in entries if e.name.endswith(".yaml")]
    except (FileNotFoundError, NotADirectoryError):
        return []
