"""``gitreg export model-card``: the card parsed back with huggingface_hub's own parser."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli
from huggingface_hub import ModelCard

from gitreg.core.records import Lineage
from gitreg.service.registry import NewVersion, Registry


def _registered(registry: Registry, weights: Path) -> None:
    info = NewVersion(
        metrics={"accuracy": 0.93, "val_loss": 0.21},
        hyperparameters={"n_estimators": 100, "criterion": "gini"},
        model_type="RandomForest",
        description="Churn model | trained on Q3.\n\x1b[31mred\x1b[0m",
        labels=("license=apache-2.0", "task=tabular-classification", "team=growth", "tabular"),
        lineage=Lineage(code_commit="3f2c1d0", data={"customers-q3": "md5:aaa"},
                        parent="churn@1.0.0"),
    )
    registry.register("churn", weights, version="1.1.0", info=info)


def test_card_parses_with_huggingface_hub(registry: Registry, weights: Path,
                                          tmp_path: Path) -> None:
    _registered(registry, weights)
    out = tmp_path / "card" / "README.md"
    proc = run_cli("export", "model-card", "churn@v1.1.0", "-o", str(out), cwd=registry.root,
                   check=True)
    assert f"written to {out}" in proc.stdout
    card = ModelCard.load(out)
    data = card.data
    assert data.license == "apache-2.0"
    assert data.base_model == "churn@1.0.0"
    assert data.datasets == ["customers-q3"]
    assert data.tags == ["team=growth", "tabular"]
    assert data.model_name == "churn"
    results = {r.metric_type: r for r in data.eval_results}
    assert {k: r.metric_value for k, r in results.items()} == {"accuracy": 0.93,
                                                                 "val_loss": 0.21}
    assert results["accuracy"].task_type == "tabular-classification"
    assert results["accuracy"].dataset_name == "customers-q3"
    assert "Churn model | trained on Q3." in card.text
    assert "\x1b" not in card.content  # a cloned registry's escape codes stay out
    assert "| n_estimators | 100 |" in card.text
    assert "| accuracy | 0.93 |" in card.text
    assert "| RandomForest" not in card.text and "**Model type**: RandomForest" in card.text


def test_card_through_the_api(registry: Registry, weights: Path) -> None:
    from gitreg import ModelRegistry

    _registered(registry, weights)
    card = ModelCard(ModelRegistry(registry.root).model_card("1.1.0", name="churn"))
    assert card.data.base_model == "churn@1.0.0"


def test_card_without_metrics_or_lineage_prints(registry: Registry, weights: Path) -> None:
    registry.register("churn", weights, version="1.0.0")
    proc = run_cli("export", "model-card", "churn@1.0.0", cwd=registry.root, check=True)
    card = ModelCard(proc.stdout)
    assert card.data.to_dict() == {}
    assert card.text.startswith("# churn 1.0.0")


def test_card_of_unknown_version_or_no_version(registry: Registry, weights: Path,
                                               tmp_path: Path) -> None:
    registry.register("churn", weights, version="1.0.0")
    out = tmp_path / "README.md"
    proc = run_cli("export", "model-card", "churn@2.0.0", "-o", str(out), cwd=registry.root)
    assert proc.returncode == 4 and proc.stderr.startswith("gitreg: error: churn has no version")
    assert not out.exists()
    proc = run_cli("export", "model-card", "churn", cwd=registry.root)
    assert proc.returncode == 3 and "NAME@VERSION" in proc.stderr
