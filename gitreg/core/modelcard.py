"""A version as a Hugging Face model card: front matter as data, then markdown (issue 17).

The card's YAML follows the Hub's model card spec (``model-index``, ``base_model``,
``datasets``, ``tags``, ``license``); the service dumps it. Text comes from a registry that
may have been cloned from anyone, so control characters are dropped and table cells escaped.
"""

from __future__ import annotations

from typing import Any

from gitreg.core.records import VersionRecord

# Labels that fill a card field instead of becoming a tag: ``license=apache-2.0`` and
# ``task=tabular-classification`` (the model-index needs a task type; the Hub's list of
# tasks has ``other`` for the rest).
LICENSE_LABEL = "license"
TASK_LABEL = "task"
DEFAULT_TASK = "other"


def _clean(text: str) -> str:
    """``text`` without control characters other than line breaks and tabs."""
    if text.isprintable():  # nearly always: one pass in C, not one call per character
        return text
    return "".join(c for c in text if c.isprintable() or c in "\n\t")


def _label_values(record: VersionRecord, key: str) -> list[str]:
    return [label.partition("=")[2] for label in record.labels
            if label.partition("=")[0] == key and "=" in label]


def front_matter(record: VersionRecord) -> dict[str, Any]:
    """The card's metadata, in the Hub's keys; empty fields left out."""
    data: dict[str, Any] = {}
    licenses = _label_values(record, LICENSE_LABEL)
    if licenses:
        data["license"] = _clean(licenses[0])
    if record.lineage.parent:
        data["base_model"] = _clean(record.lineage.parent)
    datasets = [_clean(d) for d in record.lineage.data]
    if datasets:
        data["datasets"] = datasets
    tags = [_clean(label) for label in record.labels
            if label.partition("=")[0] not in (LICENSE_LABEL, TASK_LABEL)]
    if tags:
        data["tags"] = tags
    if record.metrics:
        task = (_label_values(record, TASK_LABEL) or [DEFAULT_TASK])[0]
        dataset = datasets[0] if datasets else "unspecified"
        data["model-index"] = [{
            "name": record.name,
            "results": [{
                "task": {"type": _clean(task)},
                "dataset": {"type": dataset, "name": dataset},
                "metrics": [
                    {"type": _clean(metric), "name": _clean(metric), "value": value}
                    for metric, value in record.metrics.items()
                ],
            }],
        }]
    return data


def _cell(value: object) -> str:
    """A value in a table or a list item: one line, no column break and no HTML (the
    description, written as markdown, is the card's only text that may carry some)."""
    return (_clean(str(value)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("\n", " "))


def body(record: VersionRecord) -> str:
    """The markdown under the front matter: title, description, metrics, hyperparameters."""
    lines = [f"# {_cell(record.name)} {record.version}", ""]
    if record.description:
        lines += [_clean(record.description).strip(), ""]
    facts = [("Registered", f"{record.registered_at} by {record.registered_by}")]
    if record.model_type:
        facts.append(("Model type", record.model_type))
    if record.trained_at:
        facts.append(("Trained", record.trained_at))
    if record.lineage.code_commit:
        facts.append(("Code commit", record.lineage.code_commit))
    lines += [f"- **{k}**: {_cell(v)}" for k, v in facts] + [""]
    for title, values in (("Metrics", record.metrics),
                          ("Hyperparameters", record.hyperparameters)):
        if values:
            lines += [f"## {title}", "", "| name | value |", "|---|---|"]
            lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in values.items()]
            lines.append("")
    return "\n".join(lines)
