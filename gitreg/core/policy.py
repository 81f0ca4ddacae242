"""Promotion gates from ``registry.yaml``: checked by ``promote`` and again by ``check``."""

from __future__ import annotations

from gitreg.core.config import RegistryConfig
from gitreg.core.metrics import is_worse
from gitreg.core.records import StageMap, VersionRecord


def violations(
    config: RegistryConfig,
    stage: str,
    record: VersionRecord,
    replaced: VersionRecord | None,
    stage_map: StageMap,
    history_stages: frozenset[str] = frozenset(),
) -> list[str]:
    """What keeps ``record`` out of ``stage``; empty when the policy that applies to the
    model (the most specific, ``RegistryConfig.policy``) allows it.

    ``history_stages`` are the stages the version has ever been in (so a version that was
    promoted to staging, then replaced there, still counts as coming from staging).
    ``no_regression`` reads each metric's direction from its name (gitreg/metrics.py), so
    a lower ``val_loss`` is not a regression.
    """
    policy = config.policy(stage, record.name)
    if policy is None:
        return []
    found = []
    label = f"{record.name} {record.version}"
    if policy.from_stage is not None:
        been = history_stages | set(stage_map.stages_of(record.version))
        if policy.from_stage not in been:
            found.append(f"{label} must be in {policy.from_stage} before {stage}")
    for metric, bound in policy.min_metrics.items():
        value = record.metrics.get(metric)
        if value is None or value < bound:
            found.append(f"{label}: {metric} = {_show(value)}, {stage} requires >= {bound}")
    for metric, bound in policy.max_metrics.items():
        value = record.metrics.get(metric)
        if value is None or value > bound:
            found.append(f"{label}: {metric} = {_show(value)}, {stage} requires <= {bound}")
    if replaced is not None and replaced.version != record.version:
        for metric in policy.no_regression:
            new, old = record.metrics.get(metric), replaced.metrics.get(metric)
            if old is not None and (new is None or is_worse(metric, new, old)):
                found.append(
                    f"{label}: {metric} = {_show(new)} is worse than {replaced.version}'s {old} "
                    f"in {stage}"
                )
    return found


def _show(value: float | None) -> str:
    return "missing" if value is None else str(value)


def one_line(reason: str) -> bool:
    """Whether ``reason`` fits a commit trailer: one line, no control characters (a newline
    would end the ``Gitreg-Reason`` trailer and lose the rest; issue 12)."""
    return bool(reason.strip()) and all(c.isprintable() for c in reason)
