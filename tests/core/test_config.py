"""core/config.py: registry.yaml as a value, validated with the key of each problem."""

from __future__ import annotations

from typing import Any

import pytest

from gitreg.core.config import (
    DEFAULT_STAGES,
    SCHEMA_VERSION,
    default_config_dict,
    from_dict,
)
from gitreg.core.layout import Layout
from gitreg.errors import CorruptRegistry, NotFound


def config(**changes: Any) -> dict[str, Any]:
    return {**default_config_dict(), **changes}


def test_the_default_config() -> None:
    parsed = from_dict(default_config_dict(), "registry.yaml")
    assert parsed.stages == DEFAULT_STAGES
    assert all(parsed.is_exclusive(s) for s in DEFAULT_STAGES)
    assert parsed.layout == Layout("models")
    assert parsed.warnings == ()


def test_unknown_keys_warn_and_are_ignored() -> None:
    parsed = from_dict(config(owner="ml-team"), "registry.yaml")
    assert any("owner" in warning for warning in parsed.warnings)


def test_a_newer_schema_fails_clearly() -> None:
    with pytest.raises(CorruptRegistry, match="newer than this gitreg") as raised:
        from_dict(config(schema_version=SCHEMA_VERSION + 1), "registry.yaml")
    assert raised.value.key == "schema_version"


@pytest.mark.parametrize(("changes", "key"), [
    ({"schema_version": "one"}, "schema_version"),
    ({"layout": {"models_dir": "../x"}}, "layout.models_dir"),
    ({"layout": {"models_dir": "/abs"}}, "layout.models_dir"),
])
def test_bad_values_name_their_key(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(CorruptRegistry) as raised:
        from_dict(config(**changes), "registry.yaml")
    assert raised.value.key == key and raised.value.file == "registry.yaml"


def test_policies_are_read() -> None:
    parsed = from_dict(config(policies={"production": {
        "from": "staging", "min_metrics": {"accuracy": 0.9}, "no_regression": ["f1"]}}),
        "registry.yaml")
    policy = parsed.policies["production"].default
    assert policy is not None and policy.label == "policies.production"
    assert policy.from_stage == "staging"
    assert dict(policy.min_metrics) == {"accuracy": 0.9}
    assert policy.no_regression == ("f1",)


def test_a_stage_not_in_the_config_is_not_found() -> None:
    parsed = from_dict(default_config_dict(), "registry.yaml")
    with pytest.raises(NotFound, match="unknown stage 'qa'"):
        parsed.check_stage("qa")
