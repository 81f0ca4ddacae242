"""`gitreg get --repo URL`: one version from a registry's git URL, without a clone."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from conftest import git, run_cli, write_weights

from gitreg import ModelRegistry
from gitreg.errors import InvalidInput, NotARegistry, NotFound
from gitreg.service.registry import Registry
from gitreg.service.remote_registry import RemoteRegistry


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Python's temp folder for this test, to see that nothing is left behind in it."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture
def bare(tmp_path: Path, registry: Registry, weights: Path) -> Path:
    """A registry pushed to a bare repository: churn 1.0.0..1.2.0 (1.1.0 in production)."""
    for n in range(3):
        source = write_weights(tmp_path / f"w{n}", f"churn {n}\n".encode() * 50)
        registry.register("churn", source, version=f"1.{n}.0",
                          stage="production" if n == 1 else None)
    registry.register("bert", write_weights(tmp_path / "bert", b"{}", "config.json").parent,
                      version="2.0.0")
    path = tmp_path / "registry.git"
    git(tmp_path, "clone", "-q", "--bare", str(registry.root), str(path))
    return path


def test_cli_gets_a_stage_and_a_folder_version_outside_any_registry(
    tmp_path: Path, bare: Path, temp_root: Path
) -> None:
    elsewhere = tmp_path / "deploy"
    elsewhere.mkdir()
    proc = run_cli("get", "churn", "--stage", "production", "--repo", str(bare),
                   "-o", "model.bin", cwd=elsewhere, check=True)
    assert (elsewhere / "model.bin").read_bytes() == b"churn 1\n" * 50
    assert proc.stdout.strip() == f"churn 1.1.0 -> {elsewhere / 'model.bin'}"

    out = ModelRegistry.get_weights_from(bare.as_uri(), tmp_path / "bert-out", name="bert",
                                         version="2.0.0")
    assert (out / "config.json").read_bytes() == b"{}"
    assert list(temp_root.iterdir()) == []  # the temporary clone is gone


def test_reads_only_the_files_one_version_needs(bare: Path) -> None:
    """With filters allowed, the clone holds one commit, its trees and five blobs."""
    git(bare, "config", "uploadpack.allowFilter", "true")
    with RemoteRegistry.open(str(bare)) as remote:
        record, stage_map = remote.resolve("churn", stage="production")
        assert (record.version, stage_map.versions_in("production")) == ("1.1.0", ("1.1.0",))
        assert remote.partial
        assert git(remote.git.root, "rev-list", "--count", "HEAD").strip() == "1"
        listing = git(remote.git.root, "rev-list", "--objects", "--missing=print", "HEAD")
        blobs = {
            line.split(" ", 1)[1] for line in listing.splitlines()
            if not line.startswith("?") and " " in line
            and git(remote.git.root, "cat-file", "-t", line.split()[0]).strip() == "blob"
        }
    assert blobs == {
        "registry.yaml", ".dvc/config", "models/churn/stages.yaml",
        "models/churn/versions/1.1.0.yaml", "models/churn/artifacts/1.1.0/model.bin.dvc",
    }


def test_falls_back_to_a_shallow_clone_when_the_server_refuses_filters(bare: Path) -> None:
    with RemoteRegistry.open(str(bare)) as remote:
        assert not remote.partial
        record, _, data = remote.read_weights("churn", version="1.2.0")
    assert (record.version, data) == ("1.2.0", b"churn 2\n" * 50)


def test_unknown_model_version_stage_and_non_registries_are_clear_errors(
    tmp_path: Path, bare: Path, temp_root: Path
) -> None:
    with RemoteRegistry.open(str(bare)) as remote:
        with pytest.raises(NotFound, match=r"no model 'nope' \(models: bert, churn\)"):
            remote.resolve("nope", stage="production")
        with pytest.raises(NotFound,
                           match=r"no version 9.0.0 .*newest registered: 1.0.0, 1.1.0, 1.2.0"):
            remote.resolve("churn", version="9.0.0")
        with pytest.raises(NotFound, match="no version in staging"):
            remote.resolve("churn", stage="staging")
        with pytest.raises(NotFound, match="unknown stage 'prod'"):
            remote.resolve("churn", stage="prod")
    plain = tmp_path / "plain.git"
    git(tmp_path, "init", "-q", "--bare", str(plain))
    with pytest.raises(NotARegistry, match="no commits"):
        RemoteRegistry.open(str(plain)).__enter__()
    proc = run_cli("get", "churn", "--stage", "production", "--repo", str(tmp_path / "missing"),
                   "-o", "out.bin", cwd=tmp_path)
    assert proc.returncode == 8, proc.stderr
    assert "could not read the registry" in proc.stderr
    assert not (tmp_path / "out.bin").exists()
    assert list(temp_root.iterdir()) == []


def test_a_remote_relative_to_the_registry_is_refused(
    tmp_path: Path, registry: Registry, weights: Path, storage: Path
) -> None:
    registry.register("churn", weights, stage="production")
    config = registry.root / ".dvc" / "config"
    config.write_text(config.read_text().replace(str(storage), "../../storage"))
    git(registry.root, "commit", "-qam", "relative remote")
    with pytest.raises(InvalidInput, match=r"relative path '../../storage'.*clone the registry"):
        ModelRegistry.get_weights_from(str(registry.root), tmp_path / "out.bin",
                                       name="churn", stage="production")
    assert not (tmp_path / "out.bin").exists()


def test_a_home_relative_remote_is_found(tmp_path: Path, weights: Path) -> None:
    registry = Registry.init(tmp_path / "reg", remote="~/weights-store")
    registry.register("churn", weights, version="1.0.0")
    out = ModelRegistry.get_weights_from(str(registry.root), tmp_path / "o.bin", name="churn",
                                         version="1.0.0")
    assert out.read_bytes() == weights.read_bytes()


def test_latest_from_a_url_skips_deprecated_and_prereleases(
        tmp_path: Path, bare: Path, registry: Registry) -> None:
    """`get --repo URL --version latest` means what it means in a clone (issue 16)."""
    from gitreg.service import lifecycle

    registry.register("churn", write_weights(tmp_path / "rc", b"rc\n"), version="2.0.0-rc.1")
    lifecycle.deprecate(registry, "churn", "1.2.0", reason="drift")
    branch = git(bare, "symbolic-ref", "--short", "HEAD").strip()
    git(registry.root, "push", "-q", str(bare), f"HEAD:refs/heads/{branch}")
    elsewhere = tmp_path / "deploy"
    elsewhere.mkdir()
    proc = run_cli("get", "churn", "--version", "latest", "--repo", str(bare), "-o", "m.bin",
                   cwd=elsewhere, check=True)
    assert proc.stdout.strip() == f"churn 1.1.0 -> {elsewhere / 'm.bin'}"
    assert (elsewhere / "m.bin").read_bytes() == b"churn 1\n" * 50
    lifecycle.deprecate(registry, "churn", None, reason="gone", demote=True)
    git(registry.root, "push", "-q", str(bare), f"HEAD:refs/heads/{branch}")
    none = run_cli("get", "churn", "--version", "latest", "--repo", str(bare), "-o", "n.bin",
                   cwd=elsewhere)
    assert none.returncode == 4 and "no latest" in none.stderr
