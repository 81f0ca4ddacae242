"""What `gitreg list` asks for (issue 16): filters, an order by a metric, a limit.

Pure: it judges records it is given. Labels are strings in a version file; ``KEY=VALUE``
matches that label exactly, a bare ``KEY`` any label ``KEY`` or ``KEY=...``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gitreg.core.metrics import lower_is_better
from gitreg.core.records import VersionRecord, iso_timestamp
from gitreg.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class Query:
    stage: str | None = None
    min_metrics: Mapping[str, float] = field(default_factory=dict)
    max_metrics: Mapping[str, float] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    model_type: str | None = None
    registered_after: str | None = None  # ISO 8601, normalised by ``query``
    registered_before: str | None = None
    by: str | None = None  # a substring of "Name <email>"
    include_deprecated: bool = False
    sort: str | None = None  # a metric, best first in its direction
    limit: int | None = None


def query(**fields: object) -> Query:
    """A ``Query`` with its values checked (``InvalidInput`` names the parameter)."""
    made = Query(**fields)  # type: ignore[arg-type]
    for name in ("registered_after", "registered_before"):
        value = getattr(made, name)
        if value is not None:
            try:
                normal = iso_timestamp(value, name)
            except InvalidInput:
                raise InvalidInput(f"{{{name}}}: {value!r} is not an ISO 8601 date or time",
                                   params=(name,)) from None
            object.__setattr__(made, name, normal)
    if made.limit is not None and made.limit < 1:
        raise InvalidInput("{limit} must be at least 1", params=("limit",))
    # An empty value matches nothing (or, for a sort, orders nothing): a slip, not a query.
    for name, value in (("model_type", made.model_type), ("sort", made.sort), ("by", made.by)):
        if value is not None and not value.strip():
            raise InvalidInput(f"{{{name}}} needs a value", params=(name,))
    for label in made.labels:
        if not label.partition("=")[0].strip():
            raise InvalidInput(f"{{labels}} {label!r}: expected KEY=VALUE or KEY",
                               params=("labels",))
    return made


def unfiltered(q: Query) -> bool:
    """Whether ``q`` keeps every version but, unless it says otherwise, the deprecated ones."""
    return (q.stage is None and not q.min_metrics and not q.max_metrics and not q.labels
            and q.model_type is None and q.registered_after is None
            and q.registered_before is None and q.by is None)


def matches(q: Query, record: VersionRecord, stages: Sequence[str], deprecated: bool) -> bool:
    if deprecated and not q.include_deprecated:
        return False
    if q.stage is not None and q.stage not in stages:
        return False
    if q.model_type is not None and record.model_type != q.model_type:
        return False
    if not all(record.metrics.get(k, float("-inf")) >= v for k, v in q.min_metrics.items()):
        return False
    if not all(record.metrics.get(k, float("inf")) <= v for k, v in q.max_metrics.items()):
        return False
    if not all(_has_label(record.labels, label) for label in q.labels):
        return False
    if q.by is not None and q.by.lower() not in record.registered_by.lower():
        return False
    if q.registered_after is None and q.registered_before is None:
        return True  # no dates parsed for every version (list at 100,000 versions)
    when = _instant(iso_timestamp(record.registered_at, "registered_at"))
    if q.registered_after is not None and when < _instant(q.registered_after):
        return False
    return q.registered_before is None or when < _instant(q.registered_before)


def ordered(q: Query, records: list[VersionRecord]) -> list[VersionRecord]:
    """By ``sort`` (best first; a version without the metric last), then ``limit``."""
    if q.sort is not None:
        metric = q.sort
        sign = 1.0 if lower_is_better(metric) else -1.0
        with_metric = [r for r in records if metric in r.metrics]
        without = [r for r in records if metric not in r.metrics]
        if records and not with_metric:  # a typo would silently order nothing
            known = sorted({k for r in records for k in r.metrics})
            raise NotFound(f"no version listed has the metric {metric!r} to sort by "
                           f"(metrics: {', '.join(known) or 'none'})")
        with_metric.sort(key=lambda r: (sign * float(r.metrics[metric]), r.semver),
                         reverse=False)
        records = with_metric + without
    return records if q.limit is None else records[:q.limit]


def _has_label(labels: Sequence[str], wanted: str) -> bool:
    if "=" in wanted:
        return wanted in labels
    return any(label == wanted or label.startswith(f"{wanted}=") for label in labels)


def _instant(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()
