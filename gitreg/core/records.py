"""The registry's records as immutable values, and their YAML form.

``*_from_dict`` validate once, at the boundary: every message names the file and the key
path, so a hand-edited file can be fixed without reading code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, NamedTuple

from gitreg.core.names import Version, check_name, check_stage_name
from gitreg.errors import CorruptRegistry, InvalidInput

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Artifact:
    """The weights of one version, as DVC tracks them."""

    path: str  # relative to the registry root, e.g. models/churn/artifacts/1.0.0/model.pkl
    format: str  # pickle, joblib, file, directory, ...
    md5: str  # DVC's md5: of the file, or of the directory listing (ends in .dir)
    size: int
    nfiles: int | None = None  # directories only


@dataclass(frozen=True)
class Lineage:
    code_commit: str | None = None
    data: Mapping[str, str] = field(default_factory=dict)  # dataset -> hash
    depends_on: tuple[str, ...] = ()  # e.g. customer-features@2.1.0
    parent: str | None = None  # the version this one was trained from


@dataclass(frozen=True)
class VersionRecord:
    """What ``models/<name>/versions/<version>.yaml`` holds. Written once, never edited."""

    name: str
    version: str
    registered_at: str
    registered_by: str
    artifact: Artifact
    trained_at: str | None = None
    model_type: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    description: str | None = None
    labels: tuple[str, ...] = ()
    lineage: Lineage = field(default_factory=Lineage)

    @property
    def semver(self) -> Version:
        return Version.parse(self.version)


class VersionSummary(NamedTuple):
    """What ``gitreg list`` shows of a version: a row of its table. A tuple, not a
    dataclass: a first list at 100,000 versions makes one per version file (issue 19)."""

    name: str
    version: str
    registered_at: str
    model_type: str | None
    metrics: Mapping[str, float]


def summary_of(record: VersionRecord) -> VersionSummary:
    return VersionSummary(record.name, record.version, record.registered_at,
                          record.model_type, record.metrics)


# What may change in a version file after its registration (through a command: annotate,
# see the end-of-life issue); every other field is fixed by the registration (issue 12).
MUTABLE_FIELDS = frozenset({"description", "labels"})


@dataclass(frozen=True)
class StageMap:
    """What ``models/<name>/stages.yaml`` holds: stage -> versions in it (one if exclusive)."""

    name: str
    stages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def versions_in(self, stage: str) -> tuple[str, ...]:
        return self.stages.get(stage, ())

    def stages_of(self, version: str) -> tuple[str, ...]:
        return tuple(stage for stage, held in self.stages.items() if version in held)

    def by_version(self) -> dict[str, tuple[str, ...]]:
        """``stages_of`` of every version in a stage, at once (a version in none is absent)."""
        found: dict[str, tuple[str, ...]] = {}
        for stage, held in self.stages.items():
            for version in held:
                before = found.get(version, ())
                if stage not in before:  # a version listed twice in a stage: once
                    found[version] = (*before, stage)
        return found

    def with_stage(self, stage: str, versions: tuple[str, ...]) -> StageMap:
        stages = dict(self.stages)
        if versions:
            stages[stage] = versions
        else:
            stages.pop(stage, None)
        return StageMap(self.name, stages)


# -- parsing helpers: check a type, or fail naming file and key --------------------------


class _Fields:
    """A mapping read from ``source``, whose problems are reported at ``prefix``."""

    # The checks below try the exact types YAML builds first (``type(x) is str``): a first
    # `gitreg list` in a fresh clone checks 100,000 version files (issue 19).

    def __init__(self, data: Any, source: str, prefix: str = "") -> None:
        self.source, self.prefix = source, prefix
        if type(data) is not dict and not isinstance(data, Mapping):
            self.fail("", "expected a mapping of keys to values")
        self.data: Mapping[str, Any] = data

    def fail(self, key: str, problem: str) -> Any:
        where = ".".join(p for p in (self.prefix, key) if p)
        raise CorruptRegistry.at(self.source, where or "top level", problem)

    def sub(self, key: str, optional: bool = False) -> _Fields:
        value = self.data.get(key)
        if value is None and optional:
            value = {}
        return _Fields(value, self.source, f"{self.prefix}.{key}" if self.prefix else key)

    def text(self, key: str, optional: bool = False) -> Any:
        value = self.data.get(key)
        if type(value) is str and value:
            return value
        if value is None and optional:
            return None
        if isinstance(value, (datetime, date)):  # an unquoted timestamp in a hand edit
            return value.isoformat()
        if not isinstance(value, str) or not value:
            return self.fail(key, "expected a non-empty string")
        return value

    def integer(self, key: str, optional: bool = False) -> Any:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return self.fail(key, "expected a non-negative integer")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key) or []
        if type(value) is list and all(type(v) is str for v in value):
            return tuple(value)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return self.fail(key, "expected a list of strings")  # type: ignore[no-any-return]
        return tuple(value)

    def numbers(self, key: str) -> dict[str, float]:
        sub = self.sub(key, optional=True)
        for name, value in sub.data.items():
            if not is_number(value):
                sub.fail(str(name), "expected a number")
        return {str(k): v for k, v in sub.data.items()}

    def plain(self, key: str) -> dict[str, Any]:
        sub = self.sub(key, optional=True)
        for name, value in sub.data.items():
            if not _is_plain(value):
                sub.fail(str(name), "expected numbers, strings, booleans, lists or mappings, "
                         "nested at most 20 deep")
        return {str(k): v for k, v in sub.data.items()}


def _relative_path(f: _Fields, key: str) -> str:
    """A path inside the registry: relative, ``/``-separated, no ``..``, no control
    characters. A cloned registry is untrusted (issue 6): the path becomes a file name on
    disk (``get -o``) and a line of ``git cat-file --batch`` input (remote_registry.py)."""
    path: str = f.text(key)
    parts = path.split("/")
    if (
        any(part in ("", ".", "..") for part in parts)
        or "\\" in path
        or not path.isprintable()
    ):
        f.fail(key, f"{path!r} is not a plain relative path inside the registry; restore the "
               "file (git checkout -- FILE)")
    return path


_FLOAT_MAX = 1.7976931348623157e308  # sys.float_info.max


def is_number(value: object) -> bool:
    if type(value) is float:
        return math.isfinite(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int):
        # math.isfinite would overflow on an int past float's range (a 400-digit metric in
        # a cloned version file, issue 13); Python compares int and float exactly.
        return abs(value) <= _FLOAT_MAX
    return math.isfinite(value)


def _is_plain(value: object, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, list):
        return all(_is_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v, depth + 1) for k, v in value.items())
    return False


# -- version files -----------------------------------------------------------------------


def version_from_dict(data: Any, source: str) -> VersionRecord:
    f = _Fields(data, source)
    name, version = f.text("name"), f.text("version")
    try:
        check_name(name)
        if str(Version.parse(version)) != version:
            raise InvalidInput("not in normal form")
    except InvalidInput:
        f.fail("name/version", f"{name}@{version} is not a valid name and SemVer version")
    art = f.sub("artifact")
    artifact = Artifact(
        path=_relative_path(art, "path"),
        format=art.text("format"),
        md5=art.text("md5"),
        size=art.integer("size"),
        nfiles=art.integer("nfiles", optional=True),
    )
    lin = f.sub("lineage", optional=True)
    data_hashes = lin.sub("data", optional=True)
    for key, value in data_hashes.data.items():
        if not isinstance(value, str):
            data_hashes.fail(str(key), "expected a hash string")
    lineage = Lineage(
        code_commit=lin.text("code_commit", optional=True),
        data={str(k): v for k, v in data_hashes.data.items()},
        depends_on=lin.strings("depends_on"),
        parent=lin.text("parent", optional=True),
    )
    return VersionRecord(
        name=name,
        version=version,
        registered_at=f.text("registered_at"),
        registered_by=f.text("registered_by"),
        artifact=artifact,
        trained_at=f.text("trained_at", optional=True),
        model_type=f.text("model_type", optional=True),
        hyperparameters=f.plain("hyperparameters"),
        metrics=f.numbers("metrics"),
        features=f.strings("features"),
        description=f.text("description", optional=True),
        labels=f.strings("labels"),
        lineage=lineage,
    )


def version_to_dict(record: VersionRecord) -> dict[str, Any]:
    artifact: dict[str, Any] = {
        "path": record.artifact.path,
        "format": record.artifact.format,
        "md5": record.artifact.md5,
        "size": record.artifact.size,
    }
    if record.artifact.nfiles is not None:
        artifact["nfiles"] = record.artifact.nfiles
    return {
        "name": record.name,
        "version": record.version,
        "registered_at": record.registered_at,
        "registered_by": record.registered_by,
        "trained_at": record.trained_at,
        "model_type": record.model_type,
        "description": record.description,
        "metrics": dict(record.metrics),
        "hyperparameters": dict(record.hyperparameters),
        "features": list(record.features),
        "labels": list(record.labels),
        "artifact": artifact,
        "lineage": {
            "code_commit": record.lineage.code_commit,
            "data": dict(record.lineage.data),
            "depends_on": list(record.lineage.depends_on),
            "parent": record.lineage.parent,
        },
    }


# -- stage maps --------------------------------------------------------------------------


def named(stage_map: StageMap, name: str, source: str) -> StageMap:
    """``stage_map``, if its file (``source``) names the model whose file it is: a
    ``stages.yaml`` copied from another model's folder says nothing about this one."""
    if stage_map.name != name:
        raise CorruptRegistry.at(source, "model", f"says {stage_map.name!r}, expected {name!r}")
    return stage_map


def stages_from_dict(data: Any, source: str) -> StageMap:
    if data is None:  # an emptied file
        data = {}
    f = _Fields(data, source)
    name = f.text("model")
    sub = f.sub("stages", optional=True)
    stages: dict[str, tuple[str, ...]] = {}
    for stage, held in sub.data.items():
        try:
            check_stage_name(stage)
        except InvalidInput:
            sub.fail(str(stage), "not a valid stage name")
        if held is None:
            continue
        values = [held] if isinstance(held, str) else held
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            sub.fail(stage, "expected a version or a list of versions")
        for value in values:
            try:
                Version.parse(value)
            except InvalidInput:
                sub.fail(stage, f"{value!r} is not a SemVer version")
        if values:
            stages[stage] = tuple(values)
    return StageMap(name, stages)


def stages_to_dict(stage_map: StageMap, order: list[str], exclusive: Mapping[str, bool]) -> Any:
    """Stages in the registry's order; an exclusive stage as one line: ``production: 1.3.0``."""
    known = [s for s in order if s in stage_map.stages]
    extra = sorted(s for s in stage_map.stages if s not in order)
    stages: dict[str, Any] = {}
    for stage in known + extra:
        held = stage_map.stages[stage]
        single = exclusive.get(stage, True) and len(held) == 1
        stages[stage] = held[0] if single else list(held)
    return {"model": stage_map.name, "stages": stages}


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def iso_timestamp(value: datetime | str, what: str) -> str:
    """A user's timestamp as ISO 8601; naive datetimes are taken as local time."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"invalid {what} {value!r}: expected an ISO 8601 date or time, "
                "e.g. 2026-05-01T12:00:00+00:00"
            ) from None
    if not isinstance(value, datetime):
        raise InvalidInput(f"invalid {what} {value!r}: expected a datetime")
    given = value
    try:
        if value.tzinfo is None:
            value = value.astimezone()
        return value.isoformat()
    except (ValueError, OverflowError):
        # Local time of a date at the edge of datetime's range (0001-01-01 in a zone east
        # of UTC) does not exist.
        raise InvalidInput(f"invalid {what} {str(given)!r}: out of the range of dates; give a "
                           "date with its offset, e.g. 2026-05-01T12:00:00+00:00") from None
