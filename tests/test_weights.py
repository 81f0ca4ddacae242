"""Weights are tracked by DVC: gitreg's objects and pointers are the ones DVC itself makes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git

from gitreg.errors import NotFound, ToolFailed
from gitreg.service.registry import Registry
from gitreg.weights.dvc import Weights


def dvc(cwd: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture
def folder_weights(tmp_path: Path) -> Path:
    root = tmp_path / "bert"
    for rel, data in {
        "config.json": b"{}",
        "A/upper.bin": b"A",
        "a-b/x.bin": b"dash",
        "a.txt": b"dot",
        "a/crlf.txt": b"line\r\n",
        "a0": b"zero",
        "nested/deep/empty.bin": b"",
        "sp ace/ünï.txt": b"unicode",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_file_and_folder_hash_like_dvc_add(tmp_path: Path, registry: Registry, weights: Path,
                                           folder_weights: Path) -> None:
    """Same md5, size and nfiles as `dvc add` computes for the same file and folder."""
    file_record = registry.register("one", weights).record
    dir_record = registry.register("bert", folder_weights).record

    plain = tmp_path / "plain"
    plain.mkdir()
    git(plain, "init", "-q")
    dvc(plain, "init", "-q")
    shutil.copy(weights, plain / "model.bin")
    shutil.copytree(folder_weights, plain / "bert")
    dvc(plain, "add", "-q", "model.bin", "bert")
    assert (plain / "model.bin.dvc").read_text() == (
        registry.root / file_record.artifact.path
    ).with_suffix(".bin.dvc").read_text()
    ours = (registry.root / (dir_record.artifact.path + ".dvc")).read_text()
    assert ours == (plain / "bert.dvc").read_text()
    assert dir_record.artifact.nfiles == 8
    assert dir_record.artifact.md5.endswith(".dir")


def test_dvc_sees_a_clean_project_and_a_fresh_clone_pulls(
    tmp_path: Path, registry: Registry, weights: Path, folder_weights: Path
) -> None:
    registry.register("one", weights)
    registry.register("bert", folder_weights)
    assert "up to date" in dvc(registry.root, "status")
    assert "in sync" in dvc(registry.root, "status", "-c")
    assert git(registry.root, "status", "--porcelain", "--untracked-files=all") == ""

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(registry.root), str(clone))
    dvc(clone, "pull", "-q")
    assert (clone / "models/one/artifacts/0.1.0/model.bin").read_bytes() == weights.read_bytes()
    pulled = clone / "models/bert/artifacts/0.1.0/bert"
    for path in folder_weights.rglob("*"):
        if path.is_file():
            assert (pulled / path.relative_to(folder_weights)).read_bytes() == path.read_bytes()


def test_get_from_a_fresh_clone_comes_from_the_remote(
    tmp_path: Path, registry: Registry, weights: Path, folder_weights: Path
) -> None:
    registry.register("one", weights, stage="production")
    registry.register("bert", folder_weights, version="2.0.0")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(registry.root), str(clone))
    cloned = Registry(clone)

    _, path = cloned.get("one", stage="production", output=tmp_path / "out" / "m.bin")
    assert path.read_bytes() == weights.read_bytes()
    _, folder = cloned.get("bert", version="2.0.0", output=tmp_path / "out" / "bert")
    assert (folder / "sp ace/ünï.txt").read_text() == "unicode"
    assert (folder / "a/crlf.txt").read_bytes() == b"line\r\n"


def test_a_corrupt_object_is_refused_and_nothing_written(
    tmp_path: Path, registry: Registry, weights: Path
) -> None:
    record = registry.register("one", weights).record
    obj = Weights(registry.root).object_path(record.artifact.md5)
    obj.chmod(0o644)
    obj.write_bytes(b"tampered")
    out = tmp_path / "out.bin"
    with pytest.raises(ToolFailed, match=r"corrupt|does not match"):
        registry.get("one", version="0.1.0", output=out)
    assert not out.exists()
    assert list(tmp_path.glob(".out.bin*")) == []
    with pytest.raises(ToolFailed):
        registry.read_weights("one", version="0.1.0")


def test_an_object_missing_from_the_remote_is_a_clear_error(
    tmp_path: Path, registry: Registry, weights: Path, storage: Path
) -> None:
    registry.register("one", weights)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(registry.root), str(clone))
    shutil.rmtree(storage / "files")
    with pytest.raises(NotFound, match="missing from remote"):
        Registry(clone).get("one", version="0.1.0", output=tmp_path / "o.bin")
    assert not (tmp_path / "o.bin").exists()


def test_a_symlink_in_a_weights_folder_is_refused(tmp_path: Path, registry: Registry,
                                                  folder_weights: Path) -> None:
    (folder_weights / "link").symlink_to("/etc/passwd")
    before = git(registry.root, "log", "--oneline")
    with pytest.raises(Exception, match="symlink"):
        registry.register("bert", folder_weights)
    assert git(registry.root, "log", "--oneline") == before
    assert not (registry.root / "models/bert").exists()
