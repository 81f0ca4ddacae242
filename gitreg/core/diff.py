"""``gitreg diff``: what changes between two versions of a model, for a reviewer.

``compare`` resolves each side (a version, or a stage meaning the version it holds) and
``diff_records`` computes the difference of two version files as an immutable value:
metrics with deltas, hyperparameters, features, model type, lineage and weights. Whether a
metric got better or worse follows gitreg/metrics.py: higher is better, unless its name
says it is a loss, an error or a latency.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitreg.core.metrics import is_worse, lower_is_better
from gitreg.core.records import VersionRecord


class Kind(str, enum.Enum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


class Verdict(str, enum.Enum):
    BETTER = "better"
    WORSE = "worse"
    SAME = "same"
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True)
class MetricDelta:
    name: str
    old: float | None
    new: float | None
    delta: float | None  # new - old, when both exist
    verdict: Verdict
    lower_is_better: bool


@dataclass(frozen=True)
class FieldChange:
    """A value that differs: ``old`` is None when added, ``new`` is None when removed."""

    key: str
    kind: Kind
    old: Any = None
    new: Any = None


@dataclass(frozen=True)
class Gate:
    """The policy of ``stage`` for ``version``: where it is written (``policy``, e.g.
    ``policies.production.models["churn*"]``) and what it would refuse (``problems``)."""

    stage: str
    version: str
    policy: str
    problems: tuple[str, ...] = ()
    held: bool = False  # the stage holds it already: not judged again


@dataclass(frozen=True)
class VersionDiff:
    """From ``old`` (side A) to ``new`` (side B); ``a``/``b`` are the sides as asked for."""

    name: str
    a: str
    b: str
    old: VersionRecord
    new: VersionRecord
    metrics: tuple[MetricDelta, ...]
    hyperparameters: tuple[FieldChange, ...]
    features_added: tuple[str, ...]
    features_removed: tuple[str, ...]
    model_type: FieldChange | None
    lineage: tuple[FieldChange, ...]
    # With a stage on one side: the policy that gates the other side's version entering it
    # (issue 12), and what it would refuse.
    gate: Gate | None = None
    # Why A and B are deprecated, if they are (issue 16; the caller knows, not the records).
    deprecated: tuple[str | None, str | None] = (None, None)

    @property
    def weights_changed(self) -> bool:
        return self.old.artifact.md5 != self.new.artifact.md5


def diff_records(
    old: VersionRecord, new: VersionRecord, *, a: str | None = None, b: str | None = None
) -> VersionDiff:
    """The difference between two version files of one model."""
    lineage = [
        *_scalar("code_commit", old.lineage.code_commit, new.lineage.code_commit),
        *_scalar("parent", old.lineage.parent, new.lineage.parent),
        *_mapping(old.lineage.data, new.lineage.data, prefix="data."),
        *(FieldChange("depends_on", Kind.REMOVED, old=d)
          for d in old.lineage.depends_on if d not in new.lineage.depends_on),
        *(FieldChange("depends_on", Kind.ADDED, new=d)
          for d in new.lineage.depends_on if d not in old.lineage.depends_on),
    ]
    model_type = _scalar("model_type", old.model_type, new.model_type)
    return VersionDiff(
        name=new.name,
        a=a or old.version,
        b=b or new.version,
        old=old,
        new=new,
        metrics=tuple(_metrics(old.metrics, new.metrics)),
        hyperparameters=tuple(_mapping(old.hyperparameters, new.hyperparameters)),
        features_added=tuple(f for f in new.features if f not in old.features),
        features_removed=tuple(f for f in old.features if f not in new.features),
        model_type=model_type[0] if model_type else None,
        lineage=tuple(lineage),
    )


def _metrics(old: Mapping[str, float], new: Mapping[str, float]) -> list[MetricDelta]:
    result = []
    for name in [*old, *(k for k in new if k not in old)]:
        before, after = old.get(name), new.get(name)
        delta: float | None = None
        if before is None:
            verdict = Verdict.ADDED
        elif after is None:
            verdict = Verdict.REMOVED
        else:
            delta = _tidy(after - before)
            verdict = (Verdict.SAME if after == before
                       else Verdict.WORSE if is_worse(name, after, before) else Verdict.BETTER)
        result.append(MetricDelta(name, before, after, delta, verdict, lower_is_better(name)))
    return result


def _tidy(delta: float) -> float:
    """``0.93 - 0.91`` as ``0.02``, not ``0.020000000000000018``; integers stay integers."""
    return delta if isinstance(delta, int) else float(f"{delta:.12g}")


def _same(old: Any, new: Any) -> bool:
    # 1 == 1.0 == True in Python, but the YAML differs: a changed type is a change.
    return type(old) is type(new) and old == new


def _scalar(key: str, old: Any, new: Any) -> list[FieldChange]:
    if _same(old, new):
        return []
    if old is None:
        return [FieldChange(key, Kind.ADDED, new=new)]
    if new is None:
        return [FieldChange(key, Kind.REMOVED, old=old)]
    return [FieldChange(key, Kind.CHANGED, old, new)]


def _mapping(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[FieldChange]:
    changes = []
    for key in [*old, *(k for k in new if k not in old)]:
        if key not in new:
            changes.append(FieldChange(prefix + key, Kind.REMOVED, old=old[key]))
        elif key not in old:
            changes.append(FieldChange(prefix + key, Kind.ADDED, new=new[key]))
        elif not _same(old[key], new[key]):
            changes.append(FieldChange(prefix + key, Kind.CHANGED, old[key], new[key]))
    return changes
