"""`gitreg get` is safe by default (issue 14): no silent overwrite, no silent choice among
the versions of a stage, and `--repo URL --rev REV` for another branch, tag or commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot, write_weights
from sample_registries import edit

from gitreg import ModelRegistry
from gitreg.service.registry import Registry

INVALID_INPUT, NOT_FOUND, CONFLICT = 3, 4, 5


@pytest.fixture
def two(registry: Registry, tmp_path: Path) -> Registry:
    """churn 1.0.0 and 1.1.0 (one file each), both in a non-exclusive staging; a folder
    version bert 2.0.0."""
    edit(registry.root, "registry.yaml", "- name: staging\n  exclusive: true",
         "- name: staging\n  exclusive: false")
    git(registry.root, "commit", "--quiet", "-am", "staging holds several versions")
    registry = Registry(registry.root)
    for n in range(2):
        source = write_weights(tmp_path / f"w{n}", f"churn {n}\n".encode())
        registry.register("churn", source, version=f"1.{n}.0", stage="staging")
    folder = write_weights(tmp_path / "bert", b"{}", "config.json").parent
    registry.register("bert", folder, version="2.0.0")
    return registry


def one_error_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("gitreg: error: ")
    return line


def test_get_refuses_to_overwrite_a_file_without_force(two: Registry, tmp_path: Path) -> None:
    out = tmp_path / "model.bin"
    out.write_bytes(b"mine")
    proc = run_cli("get", "churn", "--version", "1.0.0", "-o", str(out), cwd=two.root)
    line = one_error_line(proc, CONFLICT)
    assert f"{out} exists" in line and "--force" in line
    assert out.read_bytes() == b"mine"

    run_cli("get", "churn", "--version", "1.0.0", "-o", str(out), "--force", cwd=two.root,
            check=True)
    assert out.read_bytes() == b"churn 0\n"


def test_get_into_a_folder_refuses_the_file_already_there(two: Registry, tmp_path: Path) -> None:
    into = tmp_path / "deploy"
    into.mkdir()
    (into / "model.bin").write_bytes(b"mine")
    proc = run_cli("get", "churn", "--version", "1.0.0", "-o", f"{into}/", cwd=two.root)
    assert f"{into / 'model.bin'} exists" in one_error_line(proc, CONFLICT)
    assert (into / "model.bin").read_bytes() == b"mine"


def test_get_of_a_folder_version_replaces_a_full_folder_only_with_force(
    two: Registry, tmp_path: Path
) -> None:
    out = tmp_path / "bert-out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    proc = run_cli("get", "bert", "--version", "2.0.0", "-o", str(out), cwd=two.root)
    assert "not empty" in one_error_line(proc, CONFLICT)
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    path = ModelRegistry(two.root).get_weights(out, name="bert", version="2.0.0", force=True)
    assert [p.name for p in path.iterdir()] == ["config.json"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bert-out")] == []


def test_get_stage_holding_several_versions_asks_which(two: Registry, tmp_path: Path) -> None:
    before = snapshot(two.root)
    proc = run_cli("get", "churn", "--stage", "staging", "-o", str(tmp_path / "m.bin"),
                   cwd=two.root)
    line = one_error_line(proc, INVALID_INPUT)
    assert "staging holds several versions of churn (1.0.0, 1.1.0)" in line
    assert "--version" in line
    assert not (tmp_path / "m.bin").exists() and snapshot(two.root) == before


@pytest.fixture
def bare(two: Registry, tmp_path: Path) -> Path:
    """The registry in a bare repository; branch ``next`` adds churn 1.2.0 in production."""
    root = two.root
    git(root, "tag", "before-next")
    git(root, "switch", "--quiet", "-c", "next")
    source = write_weights(tmp_path / "w2", b"churn 2\n")
    two.register("churn", source, version="1.2.0", stage="production")
    git(root, "switch", "--quiet", "main")
    path = tmp_path / "registry.git"
    git(tmp_path, "clone", "-q", "--bare", "--no-local", str(root), str(path))
    git(path, "fetch", "--quiet", str(root), "next:next")
    return path


def test_get_repo_rev_reads_a_branch_a_tag_or_a_commit(bare: Path, tmp_path: Path) -> None:
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    proc = run_cli("get", "churn", "--stage", "production", "--repo", str(bare), cwd=deploy)
    assert "churn has no version in production" in one_error_line(proc, NOT_FOUND)
    run_cli("get", "churn", "--stage", "production", "--repo", str(bare), "--rev", "next",
            "-o", "a.bin", cwd=deploy, check=True)
    assert (deploy / "a.bin").read_bytes() == b"churn 2\n"
    commit = git(bare, "rev-parse", "next").strip()
    proc = run_cli("get", "churn", "--version", "1.2.0", "--repo", bare.as_uri(), "--rev",
                   commit, "-o", "b.bin", cwd=deploy, check=True)
    assert proc.stdout.strip() == f"churn 1.2.0 -> {deploy / 'b.bin'}"
    proc = run_cli("get", "churn", "--version", "1.2.0", "--repo", str(bare), "--rev",
                   "before-next", cwd=deploy)
    assert "churn has no version 1.2.0" in one_error_line(proc, NOT_FOUND)
    proc = run_cli("get", "churn", "--version", "1.0.0", "--repo", str(bare), "--rev",
                   "no-such-branch", cwd=deploy)
    line = one_error_line(proc, 8)
    assert "'no-such-branch'" in line and "no-such-branch" in line.split("failed: ")[1]
    proc = run_cli("get", "churn", "--version", "1.0.0", "--rev", "next", cwd=deploy)
    assert "--rev REV reads another registry" in one_error_line(proc, INVALID_INPUT)


def test_get_repo_whose_head_names_a_missing_branch_says_so(bare: Path, tmp_path: Path) -> None:
    git(bare, "symbolic-ref", "HEAD", "refs/heads/trunk")
    proc = run_cli("get", "churn", "--version", "1.0.0", "--repo", str(bare), cwd=tmp_path)
    line = one_error_line(proc, NOT_FOUND)
    assert "no default branch" in line and "main, next" in line and "--rev REV" in line
    run_cli("get", "churn", "--version", "1.0.0", "--repo", str(bare), "--rev", "main",
            "-o", str(tmp_path / "m.bin"), cwd=tmp_path, check=True)
