"""What a registration says about a version besides its weights, from options or a file."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitreg.core.names import ModelRef
from gitreg.core.records import Lineage, VersionRecord, iso_timestamp, utc_now, version_from_dict
from gitreg.errors import CorruptRegistry, InvalidInput


class Bump(str, enum.Enum):
    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"


@dataclass(frozen=True)
class NewVersion:
    """What a registration says about a version besides its weights."""

    metrics: Mapping[str, float] = field(default_factory=dict)
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    model_type: str | None = None
    trained_at: str | None = None
    description: str | None = None
    labels: tuple[str, ...] = ()
    lineage: Lineage = field(default_factory=Lineage)
    format: str | None = None  # how the API serialized the model: pickle, joblib, ...

    @classmethod
    def from_options(
        cls,
        *,
        meta: Mapping[str, Any] | None = None,
        meta_source: str = "--meta",
        metrics: Mapping[str, float] | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        features: tuple[str, ...] = (),
        model_type: str | None = None,
        trained_at: str | None = None,
    ) -> NewVersion:
        """Command-line options over the mapping of a ``--meta`` YAML file (options win,
        mappings merge); ``meta_source`` names that file in messages."""
        base = check_meta(meta, meta_source) if meta is not None else {}
        lineage = base.get("lineage") or {}
        if not isinstance(lineage, dict):
            raise InvalidInput(f"{meta_source}: lineage: expected a mapping")
        for key, shape in (("data", dict), ("depends_on", list)):
            if not isinstance(lineage.get(key) or shape(), shape):
                kind = "a mapping" if shape is dict else "a list"
                raise InvalidInput(f"{meta_source}: lineage.{key}: expected {kind}")
        when = trained_at or base.get("trained_at")
        return cls(
            metrics={**(base.get("metrics") or {}), **(metrics or {})},
            hyperparameters={**(base.get("hyperparameters") or {}), **(hyperparameters or {})},
            features=features or tuple(base.get("features") or ()),
            model_type=model_type or base.get("model_type"),
            trained_at=iso_timestamp(when, "trained_at") if when is not None else None,
            description=base.get("description"),
            labels=tuple(base.get("labels") or ()),
            lineage=Lineage(
                code_commit=lineage.get("code_commit"),
                data=lineage.get("data") or {},
                depends_on=tuple(lineage.get("depends_on") or ()),
                parent=lineage.get("parent"),
            ),
        )


_META_KEYS = {"metrics", "hyperparameters", "features", "model_type", "trained_at",
              "description", "labels", "lineage"}


def check_meta(data: Any, path: str) -> dict[str, Any]:
    """The mapping of a ``--meta`` file, its keys and their shapes checked."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a mapping with keys such as metrics, features")
    unknown = sorted(set(map(str, data)) - _META_KEYS)
    if unknown:
        raise InvalidInput(
            f"{path}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(_META_KEYS))}"
        )
    for key in ("metrics", "hyperparameters"):
        if not isinstance(data.get(key) or {}, dict):
            raise InvalidInput(f"{path}: {key}: expected a mapping")
    for key in ("features", "labels"):
        if not isinstance(data.get(key) or [], list):
            raise InvalidInput(f"{path}: {key}: expected a list")
    return data


def draft(name: str, version: str, info: NewVersion) -> VersionRecord:
    """The record a registration will write, validated before anything is written."""
    data = {
        "name": name,
        "version": version,
        "registered_at": utc_now(),
        "registered_by": "-",
        "trained_at": info.trained_at,
        "model_type": info.model_type,
        "description": info.description,
        "metrics": dict(info.metrics),
        "hyperparameters": dict(info.hyperparameters),
        "features": list(info.features),
        "labels": list(info.labels),
        "artifact": {"path": "-", "format": info.format or "-", "md5": "-", "size": 0},
        "lineage": {
            "code_commit": info.lineage.code_commit,
            "data": dict(info.lineage.data),
            "depends_on": list(info.lineage.depends_on),
            "parent": info.lineage.parent,
        },
    }
    try:
        record = version_from_dict(data, "the new version's metadata")
    except CorruptRegistry as exc:
        raise InvalidInput(str(exc)) from None
    for dependency in record.lineage.depends_on:
        if ModelRef.parse(dependency).version is None:
            raise InvalidInput(
                f"lineage.depends_on: {dependency!r} must name a version, e.g. features@2.1.0"
            )
    return record
