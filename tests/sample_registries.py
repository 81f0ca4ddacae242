"""Registries that policy, check and diff tests start from, built once and copied per test.

Building one with its tagged commits costs about a second; a copy costs milliseconds.
Each is built inside the isolated environment of the first test that asks for it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml
from conftest import git

from gitreg.core.records import Lineage
from gitreg.repo import yamlio
from gitreg.service.registry import NewVersion, Registry

_BUILT: dict[str, Path] = {}


def churn(tmp_path: Path) -> Registry:
    """churn in a registry with no policies yet, whose history passes any of the tests' policies.

    ======= ======== ========== ======================================================
    version accuracy latency_ms stages
    ======= ======== ========== ======================================================
    1.0.0   0.90     80         staging, then production (staging since taken by 1.2.0)
    1.1.0   0.85     120        none: it fails every policy the tests write
    1.2.0   0.93     50         staging
    ======= ======== ========== ======================================================
    """
    if "churn" not in _BUILT:
        base = Path(tmp_path.parent / "_templates")
        registry = Registry.init(base / "churn" / "registry", remote=str(base / "storage"))
        for version, accuracy, latency in (("1.0.0", 0.90, 80), ("1.1.0", 0.85, 120),
                                           ("1.2.0", 0.93, 50)):
            weights = base / f"model-{version}.bin"
            weights.write_bytes(f"weights {version}\n".encode() * 20)
            info = NewVersion(
                metrics={"accuracy": accuracy, "latency_ms": latency},
                features=("age", "plan"), model_type="RandomForest",
                lineage=Lineage(code_commit="3f2c1d0", data={"train.csv": "md5:aaa"}),
            )
            registry.register("churn", weights, version=version, info=info)
        registry.promote("churn", "1.0.0", "staging")
        registry.promote("churn", "1.0.0", "production")
        registry.promote("churn", "1.2.0", "staging")
        _BUILT["churn"] = registry.root
    root = tmp_path / "registry"
    shutil.copytree(_BUILT["churn"], root, symlinks=True)
    return Registry(root)


def with_policies(registry: Registry, policies: dict[str, Any]) -> Registry:
    """The registry with ``policies`` committed to its registry.yaml, opened afresh."""
    path = registry.root / "registry.yaml"
    data = yaml.safe_load(path.read_text())
    data["policies"] = policies
    path.write_text(yamlio.dumps(data))
    git(registry.root, "commit", "--quiet", "-m", "Set promotion policies", "registry.yaml")
    return Registry(registry.root)


def edit(root: Path, rel: str, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in a file, as a person editing it by hand would."""
    path = root / rel
    text = path.read_text()
    assert old in text, text
    path.write_text(text.replace(old, new, 1))
