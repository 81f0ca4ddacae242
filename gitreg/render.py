"""How results look on a terminal and in ``--json``: the only module that formats output."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from .events import Action, Event
from .records import StageMap, VersionRecord, version_to_dict


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return ""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def metrics_text(metrics: Mapping[str, float], limit: int = 4) -> str:
    items = [f"{k}={_number(v)}" for k, v in list(metrics.items())[:limit]]
    if len(metrics) > limit:
        items.append("...")
    return " ".join(items)


def _number(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def version_json(record: VersionRecord, stages: Sequence[str]) -> dict[str, Any]:
    return {**version_to_dict(record), "stages": list(stages)}


def versions_table(rows: Sequence[tuple[VersionRecord, Sequence[str]]]) -> str:
    return table(
        ["model", "version", "stages", "registered", "type", "metrics"],
        [
            [r.name, r.version, ",".join(s) or "-", r.registered_at[:19].replace("T", " "),
             r.model_type or "-", metrics_text(r.metrics)]
            for r, s in rows
        ],
    )


def version_detail(record: VersionRecord, stages: Sequence[str]) -> str:
    lines = [
        f"{record.name} {record.version}",
        f"  stages:          {', '.join(stages) or '-'}",
        f"  registered:      {record.registered_at} by {record.registered_by}",
        f"  trained:         {record.trained_at or '-'}",
        f"  type:            {record.model_type or '-'}",
        f"  weights:         {record.artifact.path} ({record.artifact.format}, "
        f"{record.artifact.size} bytes, md5 {record.artifact.md5})",
    ]
    if record.description:
        lines.append(f"  description:     {record.description}")
    for title, values in (("metrics", record.metrics), ("hyperparameters", record.hyperparameters)):
        if values:
            lines.append(f"  {title}:")
            lines += [f"    {k}: {v}" for k, v in values.items()]
    if record.features:
        lines.append(f"  features:        {', '.join(record.features)}")
    if record.labels:
        lines.append(f"  labels:          {', '.join(record.labels)}")
    lineage = record.lineage
    if lineage.code_commit or lineage.data or lineage.depends_on or lineage.parent:
        lines.append("  lineage:")
        if lineage.code_commit:
            lines.append(f"    code_commit: {lineage.code_commit}")
        if lineage.parent:
            lines.append(f"    parent: {lineage.parent}")
        lines += [f"    data {k}: {v}" for k, v in lineage.data.items()]
        lines += [f"    depends_on: {d}" for d in lineage.depends_on]
    return "\n".join(lines)


def stage_map_json(stage_map: StageMap, order: Sequence[str]) -> dict[str, list[str]]:
    return {stage: list(stage_map.versions_in(stage)) for stage in order}


def event_json(event: Event) -> dict[str, Any]:
    data = asdict(event)
    data["action"] = event.action.value
    return data


def event_line(event: Event) -> str:
    """One past-tense sentence, e.g. ``churn 1.3.0 promoted to production (tag ...)``."""
    tag = f" [{event.tag}]" if event.tag else ""
    if event.action is Action.REGISTER:
        text = f"{event.model} {event.version} registered"
    elif event.action is Action.DEMOTE:
        text = f"{event.model} {event.previous} demoted from {event.stage}"
    elif event.action is Action.ROLLBACK:
        text = f"{event.model} {event.stage} rolled back {event.previous or '-'} -> {event.version}"
    else:
        was = f" (was {event.previous})" if event.previous else ""
        text = f"{event.model} {event.version} promoted to {event.stage}{was}"
    return text + tag


def history_table(events: Sequence[Event]) -> str:
    return table(
        ["date", "model", "event", "stage", "version", "previous", "tag", "by"],
        [
            [e.date[:19].replace("T", " "), e.model, e.action.past, e.stage or "-",
             e.version or "-", e.previous or "-", e.tag or "(untagged)", e.author]
            for e in events
        ],
    )
