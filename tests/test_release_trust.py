"""A release file is untrusted input (issue 18, as an attacker meets it): what it says a
model replaced is what ``rollback --release`` restores, so ``check`` holds it against history
and the rollback refuses a file that history contradicts, changing nothing.

The registry is test_releases.py's five models (production: from staging, accuracy >= 0.8;
1.2.0 of each was never in staging).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot
from test_releases import five, merge, with_origin

from gitreg.service import release as releases
from gitreg.service.check import validate

CHECK_FAILED, CORRUPT = 10, 7


def _commit_edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    git(root, "commit", "--quiet", "-am", "tidy up the release file")


def test_an_edited_previous_is_reported_by_check_and_refused_by_rollback(
    tmp_path: Path,
) -> None:
    registry = five(tmp_path)
    root = registry.root
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.1.0"], "production")
    assert validate(root).ok
    # a later commit says ranker replaced 1.2.0, a version production never held (it never
    # passed the policy): rolling the release back would put it there
    _commit_edit(root, "releases/ranking/1.yaml", "previous: 1.0.0", "previous: 1.2.0")

    said = [f"{p.file}: {p.key}: {p.message}" for p in validate(root).problems]
    assert any("releases/ranking/1.yaml: file: edited since commit" in s for s in said), said
    assert any("ranker: says it replaced 1.2.0 in production, but the stage held 1.0.0 before"
               in s for s in said), said
    assert run_cli("check", cwd=root).returncode == CHECK_FAILED
    assert run_cli("check", "--base", "HEAD~1", cwd=root).returncode == CHECK_FAILED

    before = snapshot(root)
    proc = run_cli("rollback", "--release", "ranking", cwd=root)
    assert proc.returncode == CORRUPT, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("gitreg: error: releases/ranking/1.yaml: ")
    assert snapshot(root) == before
    assert registry.which("ranker", "production") == ("1.1.0",)


def test_a_hand_added_release_whose_previous_lies_is_reported(tmp_path: Path) -> None:
    """A pull request that writes the release file itself, with a stage change that passes
    the policy but a ``previous`` the stage never held."""
    registry = five(tmp_path)
    root = registry.root
    releases.release(registry, "ranking", ["ranker@1.1.0"], "production")
    text = (root / "releases/ranking/1.yaml").read_text()
    (root / "releases/ranking/2.yaml").write_text(
        text.replace("number: 1", "number: 2").replace("ranker", "encoder")
        .replace("previous: 1.0.0", "previous: 1.2.0"))
    stages = root / "models/encoder/stages.yaml"
    stages.write_text(stages.read_text().replace("production: 1.0.0", "production: 1.1.0"))
    said = [p.message for p in validate(root).problems]  # in the work tree: against HEAD
    assert len(said) == 1 and said[0].startswith(
        "encoder: says it replaced 1.2.0 in production, but the stage held 1.0.0"), said
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "release ranking 2 by hand")
    said = [p.message for p in validate(root).problems]  # committed: against its parent
    assert len(said) == 1 and said[0].startswith("encoder: says it replaced 1.2.0"), said
    # the same file with the truth passes
    _commit_edit(root, "releases/ranking/2.yaml", "previous: 1.2.0", "previous: 1.0.0")
    said = [p.message for p in validate(root).problems]
    assert len(said) == 1 and said[0].startswith("edited since commit"), said


def test_releases_and_their_rollbacks_made_by_gitreg_pass(tmp_path: Path) -> None:
    registry = five(tmp_path)
    root = registry.root
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.0.0"], "production")
    releases.release(registry, "ranking", ["encoder@1.1.0", "fraud@1.1.0"], "production")
    registry.promote("fraud", "1.0.0", "production")
    releases.rollback(registry, "ranking")
    releases.rollback(registry, "ranking")
    assert validate(root).ok, validate(root)
    assert [registry.which(m, "production") for m in ("ranker", "encoder", "fraud")] == [
        ("1.0.0",), ("1.0.0",), ("1.0.0",)]


@pytest.mark.parametrize("how", ["merge", "rebase", "squash"])
def test_a_branch_that_moves_a_model_then_releases_it(tmp_path: Path, how: str) -> None:
    """What the release replaced is read at the branch's own commit before it, through a
    merge commit too. A squash leaves no commit where the stage held what the release file
    says it replaced, so check reports it (README: merge such a branch otherwise)."""
    registry = five(tmp_path)
    root = registry.root
    with_origin(registry)
    git(root, "switch", "--quiet", "-c", "ship")
    registry.promote("encoder", "1.1.0", "production")
    releases.release(registry, "ranking", ["encoder@1.0.0", "ranker@1.1.0"], "production")
    git(root, "push", "--quiet", "origin", "ship")
    git(root, "switch", "--quiet", "main")
    merge(root, "ship", how)
    assert run_cli("ci", "tag", "--push", cwd=root).returncode == 0
    said = [p.message for p in validate(root).problems]
    if how == "squash":
        assert len(said) == 1 and said[0].startswith(
            "encoder: says it replaced 1.1.0 in production, but the stage held 1.0.0"), said
        return
    assert said == []
    proc = run_cli("rollback", "--release", "ranking", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert registry.which("encoder", "production") == ("1.1.0",)
    assert registry.which("ranker", "production") == ("1.0.0",)


def test_a_deleted_release_file_is_reported_and_rollback_refuses(tmp_path: Path) -> None:
    """Deleting the latest release file would make rollback --release undo the one before
    it instead, leaving the deleted release's versions in the stage."""
    registry = five(tmp_path)
    root = registry.root
    releases.release(registry, "ranking", ["ranker@1.1.0"], "production")
    releases.release(registry, "ranking", ["encoder@1.1.0"], "production")
    git(root, "rm", "--quiet", "releases/ranking/2.yaml")
    git(root, "commit", "--quiet", "-m", "tidy up")
    said = [(p.file, p.message) for p in validate(root).problems]
    assert len(said) == 1 and said[0][0] == "releases/ranking/2.yaml", said
    assert said[0][1].startswith("deleted since commit"), said
    assert [p.file for p in validate(root, base="HEAD~1").problems] == [
        "releases/ranking/2.yaml"]
    before = snapshot(root)
    proc = run_cli("rollback", "--release", "ranking", cwd=root)
    assert proc.returncode == CORRUPT, proc.stderr
    assert snapshot(root) == before
    # every release file gone: a pull request that does it is still caught
    git(root, "rm", "-r", "--quiet", "releases")
    git(root, "commit", "--quiet", "-m", "no more releases")
    assert {p.file for p in validate(root, base="HEAD~2").problems} == {
        "releases/ranking/1.yaml", "releases/ranking/2.yaml"}
