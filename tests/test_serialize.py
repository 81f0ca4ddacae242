"""Model formats: pickle, joblib and skops objects; any framework's files stored as they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import git
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from gitreg import ModelMetadata, ModelRegistry
from gitreg.errors import InvalidInput, UnsafeLoad
from gitreg.service.registry import Registry
from gitreg.weights.serialize import detect_format

X, Y = make_classification(n_samples=60, n_features=4, random_state=0)


class Marker:
    """Unpickling it creates a file: the proof that code from a model file ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.path), "w"))


@pytest.fixture
def api(registry: Registry) -> ModelRegistry:
    return ModelRegistry(registry.root)


@pytest.mark.parametrize("format", ["pickle", "joblib", "skops"])
def test_each_format_round_trips_a_scikit_learn_model(api: ModelRegistry, format: str) -> None:
    model = LogisticRegression().fit(X, Y)
    version = api.register_model(model, ModelMetadata(version="1.0.0"), format=format)
    loaded, meta = api.get_model(version=version)
    assert meta.format == format
    assert Path(meta.path or "").suffix == {"pickle": ".pkl", "joblib": ".joblib",
                                            "skops": ".skops"}[format]
    assert type(loaded) is LogisticRegression
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_skops_refuses_types_it_does_not_trust_and_says_how_to_allow_them(
    api: ModelRegistry,
) -> None:
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, Y)
    api.register_model(model, ModelMetadata(version="1.0.0"), format="skops")
    with pytest.raises(UnsafeLoad, match=r"'sklearn\.tree\._tree\.Tree'.*trusted=\["):
        api.get_model(version="1.0.0")
    loaded, _ = api.get_model(version="1.0.0", trusted=["sklearn.tree._tree.Tree"])
    assert np.array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("format", ["pickle", "joblib"])
def test_safe_mode_never_unpickles(
    api: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, format: str
) -> None:
    marker = tmp_path / "code-ran"
    api.register_model(Marker(marker), ModelMetadata(version="1.0.0"), format=format)
    assert not marker.exists()
    monkeypatch.setenv("GITREG_SAFE_LOAD", "1")
    with pytest.raises(UnsafeLoad, match=r"GITREG_SAFE_LOAD=1.*allow it with GITREG_SAFE_LOAD=0"):
        api.get_model(version="1.0.0")
    assert not marker.exists()
    monkeypatch.setenv("GITREG_SAFE_LOAD", "0")
    api.get_model(version="1.0.0")
    assert marker.exists()  # the same file does run code once allowed: the refusal mattered


def test_safe_load_in_registry_yaml_refuses_unless_the_user_overrides_it(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = ModelRegistry(registry.root)
    api.register_model({"weights": [1, 2]}, ModelMetadata(version="1.0.0"))
    api.register_model(LogisticRegression().fit(X, Y), ModelMetadata(version="2.0.0"),
                       format="skops")
    config = registry.root / "registry.yaml"
    config.write_text(config.read_text() + "safe_load: true\n")
    git(registry.root, "commit", "-qam", "safe loading only")
    api = ModelRegistry(registry.root)
    with pytest.raises(UnsafeLoad, match=r"safe_load: true in registry\.yaml"):
        api.get_model(version="1.0.0")
    assert type(api.get_model(version="2.0.0")[0]) is LogisticRegression  # skops still loads
    monkeypatch.setenv("GITREG_SAFE_LOAD", "0")
    assert api.get_model(version="1.0.0")[0] == {"weights": [1, 2]}
    monkeypatch.setenv("GITREG_SAFE_LOAD", "maybe")
    with pytest.raises(InvalidInput, match="expected 1"):
        api.get_model(version="1.0.0")


def test_safe_load_must_be_a_boolean(registry: Registry) -> None:
    config = registry.root / "registry.yaml"
    config.write_text(config.read_text() + "safe_load: yes please\n")
    with pytest.raises(Exception, match=r"registry\.yaml: safe_load: expected true or false"):
        ModelRegistry(registry.root)


@pytest.mark.parametrize(("name", "expected"), [
    ("model.pt", "pytorch"), ("model.PTH", "pytorch"), ("model.safetensors", "safetensors"),
    ("model.onnx", "onnx"), ("model.joblib", "joblib"), ("model.pkl", "pickle"),
    ("model.pickle", "pickle"), ("model.skops", "skops"), ("model.bin", "file"),
    ("README", "file"),
])
def test_format_by_extension(tmp_path: Path, name: str, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"x")
    assert detect_format(path) == expected


def test_framework_files_are_stored_as_they_are_with_their_format(
    tmp_path: Path, api: ModelRegistry
) -> None:
    weights = tmp_path / "net.safetensors"
    weights.write_bytes(b"\x00safetensors bytes")
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"onnx")
    api.register_file(weights, ModelMetadata(version="1.0.0"))
    api.register_file(folder, ModelMetadata(version="2.0.0"))
    api.register_file(weights, ModelMetadata(version="3.0.0"), format="my-format")
    assert [m.format for m in api.list_models()] == ["safetensors", "directory", "my-format"]
    with pytest.raises(InvalidInput, match=r"holds safetensors weights.*get_weights"):
        api.get_model(version="1.0.0")
    out = api.get_weights(tmp_path / "out.safetensors", version="1.0.0")
    assert out.read_bytes() == weights.read_bytes()


def test_an_unknown_format_is_refused_before_anything_is_written(
    api: ModelRegistry, registry: Registry
) -> None:
    with pytest.raises(InvalidInput, match=r"unknown model format 'torch'.*pickle, joblib, skops"):
        api.register_model(object(), ModelMetadata(version="1.0.0"), format="torch")
    assert registry.models() == []
