"""core/policy.py and core/metrics.py: the gates as pure rules."""

from __future__ import annotations

import pytest

from gitreg.core.config import default_config_dict, from_dict
from gitreg.core.metrics import is_worse, lower_is_better
from gitreg.core.policy import violations
from gitreg.core.records import Artifact, StageMap, VersionRecord


def version(v: str, **metrics: float) -> VersionRecord:
    return VersionRecord("churn", v, "2026-01-01T00:00:00+00:00", "Ada",
                         Artifact(f"models/churn/artifacts/{v}/m", "file", "0" * 32, 1),
                         metrics=metrics)


CONFIG = from_dict({**default_config_dict(), "policies": {"production": {
    "from": "staging", "min_metrics": {"accuracy": 0.9}, "max_metrics": {"latency_ms": 50},
    "no_regression": ["val_loss"]}}}, "registry.yaml")


def test_a_version_that_meets_the_policy_passes() -> None:
    new = version("1.1.0", accuracy=0.95, latency_ms=20, val_loss=0.1)
    stage_map = StageMap("churn", {"staging": ("1.1.0",)})
    assert violations(CONFIG, "production", new, version("1.0.0", val_loss=0.2), stage_map) == []


def test_each_rule_speaks_for_itself() -> None:
    new = version("1.1.0", accuracy=0.8, latency_ms=90, val_loss=0.3)
    found = violations(CONFIG, "production", new, version("1.0.0", val_loss=0.2),
                       StageMap("churn"))
    assert len(found) == 4
    assert "must be in staging before production" in found[0]
    assert any("accuracy = 0.8" in f for f in found)
    assert any("latency_ms = 90" in f for f in found)
    assert any("val_loss = 0.3 is worse" in f for f in found)


def test_a_missing_metric_fails_a_bound() -> None:
    found = violations(CONFIG, "production", version("1.1.0"), None, StageMap("churn"),
                       frozenset({"staging"}))
    assert any("accuracy = missing" in f for f in found)


def test_history_counts_for_from() -> None:
    new = version("1.1.0", accuracy=0.95, latency_ms=1)
    assert violations(CONFIG, "production", new, None, StageMap("churn"),
                      frozenset({"staging"})) == []


def test_a_stage_without_policy_takes_anything() -> None:
    assert violations(CONFIG, "dev", version("1.1.0"), None, StageMap("churn")) == []


@pytest.mark.parametrize(("metric", "lower"), [
    ("accuracy", False), ("val_loss", True), ("rmse", True), ("error_rate", True),
    ("latency_ms", True), ("f1", False), ("MAPE", True)])
def test_metric_direction_from_the_name(metric: str, lower: bool) -> None:
    assert lower_is_better(metric) is lower
    assert is_worse(metric, 2.0, 1.0) is lower
    assert not is_worse(metric, 1.0, 1.0)
