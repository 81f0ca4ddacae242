"""``gitreg diff``: which two versions to compare, from versions or stages (core/diff.py
compares them)."""

from __future__ import annotations

from dataclasses import replace

from gitreg.core.diff import Gate, VersionDiff, diff_records
from gitreg.core.lifecycle import LATEST
from gitreg.core.names import parse_version
from gitreg.core.records import VersionRecord
from gitreg.errors import InvalidInput
from gitreg.service.registry import Registry


def compare(registry: Registry, name: str, a: str, b: str) -> VersionDiff:
    """The difference from ``a`` to ``b``: each a version (``1.2.0``, ``v1.2.0``) or a stage."""
    registry.require_model(name)
    a, b = _side(registry, a), _side(registry, b)
    old = registry.record(name, _version(registry, name, a))
    new = registry.record(name, _version(registry, name, b))
    retired = registry.deprecations(name)
    result = replace(diff_records(old, new, a=a, b=b),
                     deprecated=(retired.reason(old.version), retired.reason(new.version)))
    stages = registry.config.stages
    if a in stages:
        return replace(result, gate=_gate(registry, new, a))
    if b in stages:
        return replace(result, gate=_gate(registry, old, b))
    return result


def _gate(registry: Registry, record: VersionRecord, stage: str) -> Gate | None:
    """The policy that gates ``record`` entering ``stage``, and what it refuses (nothing
    when the stage holds it already)."""
    rules = registry.config.policy(stage, record.name)
    if rules is None:
        return None
    stage_map = registry.stage_map(record.name)
    held = stage_map.versions_in(stage)
    if record.version in held:
        return Gate(stage, record.version, rules.label, held=True)
    previous = held[0] if held and registry.config.is_exclusive(stage) else None
    problems = registry.policy_problems(record, stage, stage_map, previous)
    return Gate(stage, record.version, rules.label, tuple(problems))


def _side(registry: Registry, ref: str) -> str:
    """A stage name as it is, a version in normal form (``v1.2.0`` -> ``1.2.0``)."""
    if ref in registry.config.stages or ref == LATEST:
        return ref
    try:
        return parse_version(ref)
    except InvalidInput:
        raise InvalidInput(
            f"{ref!r} is neither a version (such as 1.2.0) nor a stage of this registry "
            f"({', '.join(registry.config.stages)})"
        ) from None


def _version(registry: Registry, name: str, side: str) -> str:
    if side in registry.config.stages:
        return registry.version_in(name, side)
    return registry.resolve_version(name, side)  # a version, or latest (issue 16)
