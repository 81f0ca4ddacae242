"""`gitreg diff`: the difference between two versions, as a table, markdown and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from sample_registries import churn

from gitreg.core.diff import FieldChange, Kind, Verdict, diff_records
from gitreg.core.metrics import lower_is_better
from gitreg.core.records import Artifact, Lineage, VersionRecord
from gitreg.errors import InvalidInput, NotFound
from gitreg.repo import yamlio
from gitreg.service.compare import compare
from gitreg.service.registry import NewVersion, Registry

OLD = VersionRecord(
    "churn", "1.0.0", "2026-05-01T00:00:00+00:00", "me",
    Artifact("models/churn/artifacts/1.0.0/m.pkl", "pickle", "a" * 32, 10),
    model_type="RandomForest",
    hyperparameters={"n_estimators": 100, "criterion": "gini", "depth": 5},
    metrics={"accuracy": 0.91, "val_loss": 0.30, "latency_ms": 80, "f1": 0.88},
    features=("age", "plan"),
    lineage=Lineage(code_commit="3f2c1d0", data={"train.csv": "md5:aaa", "test.csv": "md5:t"},
                    depends_on=("customer-features@2.1.0",)),
)
NEW = VersionRecord(
    "churn", "1.1.0", "2026-05-02T00:00:00+00:00", "me",
    Artifact("models/churn/artifacts/1.1.0/m.pkl", "pickle", "b" * 32, 12),
    model_type="GradientBoosting",
    hyperparameters={"n_estimators": 200, "depth": 5.0, "learning_rate": 0.1},
    metrics={"accuracy": 0.93, "val_loss": 0.35, "latency_ms": 80, "auc": 0.97},
    features=("age", "tenure"),
    lineage=Lineage(code_commit="9a8b7c6", data={"train.csv": "md5:bbb", "test.csv": "md5:t"},
                    depends_on=("customer-features@2.2.0",), parent="1.0.0"),
)


def test_diff_records() -> None:
    diff = diff_records(OLD, NEW)
    assert [(m.name, m.old, m.new, m.delta, m.verdict) for m in diff.metrics] == [
        ("accuracy", 0.91, 0.93, 0.02, Verdict.BETTER),
        ("val_loss", 0.30, 0.35, 0.05, Verdict.WORSE),  # a loss: lower is better
        ("latency_ms", 80, 80, 0, Verdict.SAME),
        ("f1", 0.88, None, None, Verdict.REMOVED),
        ("auc", None, 0.97, None, Verdict.ADDED),
    ]
    assert diff.hyperparameters == (
        FieldChange("n_estimators", Kind.CHANGED, 100, 200),
        FieldChange("criterion", Kind.REMOVED, old="gini"),
        FieldChange("depth", Kind.CHANGED, 5, 5.0),  # the YAML changed, so it is a change
        FieldChange("learning_rate", Kind.ADDED, new=0.1),
    )
    assert (diff.features_added, diff.features_removed) == (("tenure",), ("plan",))
    assert diff.model_type == FieldChange("model_type", Kind.CHANGED, "RandomForest",
                                          "GradientBoosting")
    assert diff.lineage == (
        FieldChange("code_commit", Kind.CHANGED, "3f2c1d0", "9a8b7c6"),
        FieldChange("parent", Kind.ADDED, new="1.0.0"),
        FieldChange("data.train.csv", Kind.CHANGED, "md5:aaa", "md5:bbb"),
        FieldChange("depends_on", Kind.REMOVED, old="customer-features@2.1.0"),
        FieldChange("depends_on", Kind.ADDED, new="customer-features@2.2.0"),
    )
    assert diff.weights_changed
    assert (diff.a, diff.b) == ("1.0.0", "1.1.0")


def test_diff_of_a_version_with_itself_is_empty() -> None:
    diff = diff_records(OLD, OLD)
    assert {m.verdict for m in diff.metrics} == {Verdict.SAME}
    assert (diff.hyperparameters, diff.features_added, diff.features_removed, diff.model_type,
            diff.lineage, diff.weights_changed) == ((), (), (), None, (), False)


@pytest.mark.parametrize(
    ("metric", "lower"),
    [("accuracy", False), ("f1", False), ("auc", False), ("val_loss", True),
     ("logloss", True), ("error_rate", True), ("RMSE", True), ("mae", True),
     ("latency_p95_ms", True), ("mape", True)],
)
def test_metric_direction_from_its_name(metric: str, lower: bool) -> None:
    assert lower_is_better(metric) is lower


@pytest.fixture
def two(tmp_path: Path) -> Registry:
    """churn with 1.0.0 in production and 1.3.0 (changed in every way) in staging."""
    registry = churn(tmp_path)
    weights = tmp_path / "new.bin"
    weights.write_bytes(b"new weights")
    registry.register("customer-features", weights, version="2.2.0")  # depended on below
    meta = tmp_path / "meta.yaml"
    meta.write_text("lineage:\n  code_commit: 9a8b7c6\n  data: {train.csv: 'md5:bbb'}\n"
                    "  depends_on: [customer-features@2.2.0]\n  parent: 1.0.0\n")
    info = NewVersion.from_options(
        meta=yamlio.load_input(meta), metrics={"accuracy": 0.87, "latency_ms": 40, "val_loss": 0.2},
        hyperparameters={"n_estimators": 300}, features=("age", "tenure"),
        model_type="GradientBoosting")
    registry.register("churn", weights, version="1.3.0", info=info, stage="staging")
    return registry


def test_compare_resolves_stages_and_versions(two: Registry) -> None:
    diff = compare(two, "churn", "production", "v1.3.0")
    assert (diff.a, diff.old.version, diff.b, diff.new.version) == (
        "production", "1.0.0", "1.3.0", "1.3.0")
    assert compare(two, "churn", "1.0.0", "staging").new.version == "1.3.0"
    with pytest.raises(InvalidInput, match=r"'prod' is neither a version .* nor a stage"):
        compare(two, "churn", "prod", "1.3.0")
    with pytest.raises(NotFound, match="churn has no version in dev"):
        compare(two, "churn", "dev", "1.3.0")
    with pytest.raises(NotFound, match=r"churn has no version 9\.0\.0"):
        compare(two, "churn", "9.0.0", "1.3.0")


def test_diff_as_a_table(two: Registry) -> None:
    proc = run_cli("diff", "churn", "production", "staging", cwd=two.root)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "churn: production (1.0.0) -> staging (1.3.0)"
    assert lines[2].split() == ["METRIC", "PRODUCTION", "(1.0.0)", "STAGING", "(1.3.0)",
                                "DELTA", "VERDICT"]
    assert lines[3].split() == ["accuracy", "0.9", "0.87", "-0.03", "worse"]
    assert lines[4].split() == ["latency_ms", "80", "40", "-40", "better"]
    assert lines[5].split() == ["val_loss", "-", "0.2", "-", "added"]
    text = proc.stdout
    assert "model type: RandomForest -> GradientBoosting\n" in text
    assert "hyperparameters:\n  added n_estimators: 300\n" in text
    assert "features:\n  added tenure\n  removed plan\n" in text
    assert "  code_commit: 3f2c1d0 -> 9a8b7c6\n" in text
    assert "  data.train.csv: md5:aaa -> md5:bbb\n  added depends_on: customer-features@2.2.0\n"\
        in text
    old, new = two.record("churn", "1.0.0"), two.record("churn", "1.3.0")
    assert f"weights: changed (md5 {old.artifact.md5} -> {new.artifact.md5})\n" in text


def test_diff_as_markdown_for_a_pull_request(two: Registry) -> None:
    proc = run_cli("diff", "churn", "production", "1.3.0", "--format", "markdown", cwd=two.root)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:6] == [
        "### `churn`: production (1.0.0) → 1.3.0",
        "",
        "| metric | production (1.0.0) | 1.3.0 | delta | |",
        "|---|---:|---:|---:|---|",
        "| accuracy | 0.9 | 0.87 | -0.03 | **worse** |",
        "| latency_ms | 80 | 40 | -40 | better |",
    ]
    text = proc.stdout
    assert "- **Model type:** `RandomForest` → `GradientBoosting`\n" in text
    assert "**Hyperparameters**\n\n- added `n_estimators`: `300`\n" in text
    assert "**Features**\n\n- added `tenure`\n- removed `plan`\n" in text
    assert "**Lineage**\n\n- `code_commit`: `3f2c1d0` → `9a8b7c6`\n" in text
    assert "- **Weights:** changed (md5 `" in text

    same = run_cli("diff", "churn", "1.0.0", "production", "--format", "markdown", cwd=two.root)
    assert "- **Weights:** unchanged" in same.stdout
    assert same.stdout.endswith("\nNo changes to hyperparameters, features or lineage.\n")


def test_diff_as_json(two: Registry) -> None:
    proc = run_cli("diff", "churn", "production", "staging", "--format", "json", cwd=two.root)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["model"] == "churn"
    assert data["a"] == {"ref": "production", "version": "1.0.0", "deprecated": None}
    assert data["b"] == {"ref": "staging", "version": "1.3.0", "deprecated": None}
    assert data["metrics"][0] == {"name": "accuracy", "old": 0.9, "new": 0.87, "delta": -0.03,
                                  "verdict": "worse", "lower_is_better": False}
    assert data["hyperparameters"] == [
        {"key": "n_estimators", "change": "added", "old": None, "new": 300}]
    assert data["features"] == {"added": ["tenure"], "removed": ["plan"]}
    assert data["model_type"] == {"key": "model_type", "change": "changed",
                                  "old": "RandomForest", "new": "GradientBoosting"}
    assert {"key": "parent", "change": "added", "old": None, "new": "1.0.0"} in data["lineage"]
    assert data["weights"]["changed"] is True


def test_diff_refuses_bad_input_in_one_line(two: Registry) -> None:
    proc = run_cli("diff", "churn", "prod", "1.3.0", cwd=two.root)
    assert (proc.returncode, proc.stdout) == (3, "")
    assert proc.stderr == ("gitreg: error: 'prod' is neither a version (such as 1.2.0) nor a "
                           "stage of this registry (dev, staging, production)\n")
