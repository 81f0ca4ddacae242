"""The git layer's commit: the same commit whether written by folders or by an index."""

from __future__ import annotations

from pathlib import Path

from conftest import git, write_weights

from gitreg.git import Git
from gitreg.registry import Registry


def test_a_commit_of_a_few_folders_equals_one_of_the_whole_index(
    registry: Registry, tmp_path: Path
) -> None:
    for i in range(3):
        registry.register(f"m{i}", write_weights(tmp_path / f"w{i}", b"w" * (i + 1)),
                          version="1.0.0")
    root = registry.root
    (root / "models/m1/versions/2.0.0.yaml").write_text("a new file in an old folder\n")
    (root / "models/m9/deep/er").mkdir(parents=True)
    (root / "models/m9/deep/er/file name with spaces.txt").write_text("a new folder\n")
    script = root / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    (root / "models/m0/stages.yaml").write_text("model: m0\nstages:\n  dev: 1.0.0\n")
    paths = ["models/m1/versions/2.0.0.yaml", "models/m9/deep/er/file name with spaces.txt",
             "run.sh", "models/m0/stages.yaml"]
    head = git(root, "rev-parse", "HEAD").strip()
    env = {"GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
    by_folders = Git(root).commit("Change\n", paths, env)
    git(root, "update-ref", "HEAD", head)
    git(root, "reset", "--quiet", head, "--", *paths)
    hook = root / ".git" / "hooks" / "pre-commit"  # a hook needs the whole index
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o755)
    by_index = Git(root).commit("Change\n", paths, env)
    assert by_folders == by_index
    assert git(root, "status", "--porcelain") == ""
    assert "100755 blob" in git(root, "ls-tree", "HEAD", "run.sh")
