"""The exercise's API: its usage example runs with only the import line changed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import git

from gitreg import ModelMetadata, ModelRegistry, ModelStage

EXERCISE_EXAMPLE = textwrap.dedent(
    """
    import pickle
    import json
    from datetime import datetime
    from pathlib import Path
    from typing import Dict, List, Optional, Any
    from dataclasses import dataclass, asdict
    from enum import Enum
    from gitreg import ModelRegistry, ModelMetadata, ModelStage

    # Usage example
    if __name__ == "__main__":
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.datasets import make_classification

        # Create registry
        registry = ModelRegistry()

        # Train a model
        X, y = make_classification(n_samples=100, n_features=10, random_state=42)
        model = RandomForestClassifier(random_state=42)
        model.fit(X, y)

        # Register model
        metadata = ModelMetadata(
            version="1.0.0",
            stage=ModelStage.DEV,
            trained_at=datetime.now(),
            metrics={"accuracy": 0.95, "f1": 0.93},
            features=[f"feature_{i}" for i in range(10)],
            model_type="RandomForest",
            hyperparameters={"n_estimators": 100}
        )

        version = registry.register_model(model, metadata)
        print(f"Registered model version: {version}")

        # Promote to production
        registry.promote_model(version, ModelStage.PRODUCTION)

        # Retrieve production model
        prod_model, prod_meta = registry.get_model(stage=ModelStage.PRODUCTION)
        print(f"Production model: {prod_meta.version}")
    """
)


def test_exercise_example_runs_and_leaves_a_tagged_clean_repository(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(EXERCISE_EXAMPLE)
    work = Path.cwd()
    proc = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "Registered model version: 1.0.0", "Production model: 1.0.0"]

    repo = work / "model_registry"
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert set(git(repo, "tag").split()) == {"model@v1.0.0", "model/dev/1", "model/production/1"}
    tracked = git(repo, "ls-files").split()
    assert "models/model/artifacts/1.0.0/model.pkl.dvc" in tracked
    assert "models/model/artifacts/1.0.0/model.pkl" not in tracked  # in DVC, not git

    # A new process reopens it and gets the same production model back.
    check = subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""
            from gitreg import ModelRegistry, ModelStage
            model, meta = ModelRegistry().get_model(stage=ModelStage.PRODUCTION)
            print(type(model).__name__, meta.version, meta.stage.value, meta.metrics["f1"])
            print(model.predict([[0.0] * 10]).shape)
        """)],
        cwd=work, capture_output=True, text=True,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines() == ["RandomForestClassifier 1.0.0 production 0.93", "(1,)"]


def test_many_models_rollback_and_queries(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "reg", remote=str(tmp_path / "store"))
    for i, accuracy in enumerate([0.80, 0.90, 0.85], start=1):
        registry.register_model({"weights": i}, ModelMetadata(version=f"1.{i}.0",
                                metrics={"accuracy": accuracy}), name="churn")
    registry.register_model([1, 2, 3], ModelMetadata(metrics={"accuracy": 0.7}), name="fraud")

    registry.promote_model("1.1.0", ModelStage.PRODUCTION, name="churn")
    registry.promote_model("1.2.0", "production", name="churn")
    assert registry.which(ModelStage.PRODUCTION, name="churn") == "1.2.0"
    assert registry.rollback(ModelStage.PRODUCTION, name="churn") == "1.1.0"
    model, meta = registry.get_model(stage=ModelStage.PRODUCTION, name="churn")
    assert model == {"weights": 1}
    assert meta.version == "1.1.0" and meta.stage is ModelStage.PRODUCTION

    assert sorted(registry.models()) == ["churn", "fraud"]
    good = registry.list_models(min_metric={"accuracy": 0.85})
    assert [(m.name, m.version) for m in good] == [("churn", "1.2.0"), ("churn", "1.3.0")]
    in_prod = registry.list_models(stage=ModelStage.PRODUCTION)
    assert [(m.name, m.version) for m in in_prod] == [("churn", "1.1.0")]
    fraud_model, fraud_meta = registry.get_model(version="0.1.0", name="fraud")
    assert fraud_model == [1, 2, 3] and fraud_meta.stage is None

    round_trip = ModelMetadata.from_dict(meta.to_dict())
    assert round_trip == meta


def test_the_api_covers_review_and_validation(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "reg", remote=str(tmp_path / "store"))
    registry.register_model("a", ModelMetadata(version="1.0.0", metrics={"accuracy": 0.8}))
    registry.register_model("b", ModelMetadata(version="1.1.0", metrics={"accuracy": 0.9}))
    registry.promote_model("1.0.0", ModelStage.PRODUCTION)
    changes = registry.diff(ModelStage.PRODUCTION, "1.1.0")
    assert [(m.name, m.old, m.new) for m in changes.metrics] == [("accuracy", 0.8, 0.9)]
    assert registry.check().ok
