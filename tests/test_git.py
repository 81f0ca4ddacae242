"""The git layer: the same commit whether written by folders or by an index; the clean-tree
check lists what `git status` lists."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from conftest import git, run_cli, write_weights
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitreg.git.runner import Git
from gitreg.service.registry import Registry


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


# -- Git.changed: what `git status` would list, from one read of the index (issue 5) -------

IN_SCOPE = ["d", "e.yaml", "new.yaml"]  # the pathspec a write would check
TRACKED = ["d/a.yaml", "d/b.yaml", "d/sub/c.yaml", "e.yaml", "x/out.yaml"]


def _status(root: Path, paths: list[str]) -> list[str]:
    """What `git status` lists under ``paths``: the verdict Git.changed must match."""
    out = subprocess.run(
        ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames",
         "--", *paths], cwd=root, capture_output=True, check=True).stdout
    return sorted({item[3:].decode() for item in out.split(b"\0") if item})


def _scratch_repo(base: Path) -> Path:
    root = Path(tempfile.mkdtemp(dir=base))
    git(root, "init", "--quiet")
    for path in TRACKED:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(f"{path}\n")
    (root / ".gitignore").write_text("*.bin\n")
    git(root, "add", ".")
    git(root, "commit", "--quiet", "-m", "start")
    return root


def _apply(root: Path, op: str, path: str) -> None:
    file = root / path
    if op in ("edit", "edit+add", "add-then-revert") and file.is_symlink():
        file.unlink()
    if op == "edit":
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("changed\n")
    elif op == "edit+add":
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("changed and staged\n")
        git(root, "add", "--", path)
    elif op == "add-then-revert" and file.exists():
        before = file.read_bytes()
        file.write_text("staged only\n")
        git(root, "add", "--", path)
        file.write_bytes(before)
    elif op == "delete" and file.exists():
        file.unlink()
    elif op == "rm-cached":
        git(root, "rm", "--cached", "--quiet", "--ignore-unmatch", "--", path)
    elif op == "intent-to-add":
        file.parent.mkdir(parents=True, exist_ok=True)
        if not file.exists():
            file.write_text("new\n")
        git(root, "add", "-N", "--", path)
    elif op == "ignored":
        file.parent.mkdir(parents=True, exist_ok=True)
        file.with_suffix(".bin").write_text("weights\n")
    elif op == "touch" and file.exists():
        os.utime(file, (1, 1))
    elif op == "chmod" and file.exists() and not file.is_symlink():
        file.chmod(0o755)
    elif op == "symlink":
        if file.exists() or file.is_symlink():
            file.unlink()
        file.parent.mkdir(parents=True, exist_ok=True)
        file.symlink_to("e.yaml")


OPS = ["edit", "edit+add", "add-then-revert", "delete", "rm-cached", "intent-to-add",
       "ignored", "touch", "chmod", "symlink"]


@given(steps=st.lists(st.tuples(st.sampled_from(OPS),
                                st.sampled_from([*TRACKED, "new.yaml", "d/new.yaml"])),
                      max_size=4))
@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_changed_lists_what_git_status_lists(steps: list[tuple[str, str]],
                                            tmp_path: Path) -> None:
    root = _scratch_repo(tmp_path)
    for op, path in steps:
        _apply(root, op, path)
    assert Git(root).changed(IN_SCOPE) == _status(root, IN_SCOPE)
    # What a full `gitreg check` asks: git status's own listing, parsed (issue 19).
    assert Git(root).status(IN_SCOPE) == _status(root, IN_SCOPE)


def test_changed_matches_status_for_conflicts_line_endings_and_sparse_entries(
    tmp_path: Path
) -> None:
    root = _scratch_repo(tmp_path)
    # A conflict: the same line changed on two branches.
    git(root, "checkout", "--quiet", "-b", "other")
    (root / "d/a.yaml").write_text("theirs\n")
    git(root, "commit", "--quiet", "-am", "theirs")
    git(root, "checkout", "--quiet", "main")
    (root / "d/a.yaml").write_text("ours\n")
    git(root, "commit", "--quiet", "-am", "ours")
    subprocess.run(["git", "merge", "--quiet", "other"], cwd=root, capture_output=True)
    assert Git(root).changed(IN_SCOPE) == _status(root, IN_SCOPE) == ["d/a.yaml"]
    git(root, "merge", "--abort")
    # A file written with CRLF where git converts line endings on commit: the same content
    # to git (`git diff` is empty). status lists it anyway, judging by its size; changed()
    # compares content as the commit will, so a write is not refused for nothing.
    git(root, "config", "core.autocrlf", "true")
    (root / "d/b.yaml").write_bytes(b"d/b.yaml\r\n")
    assert git(root, "diff", "--", "d/b.yaml") == ""
    assert Git(root).changed(IN_SCOPE) == []
    (root / "d/b.yaml").write_bytes(b"other\r\n")
    assert Git(root).changed(IN_SCOPE) == _status(root, IN_SCOPE) == ["d/b.yaml"]
    git(root, "checkout", "--", "d/b.yaml")
    # A skip-worktree entry (sparse checkout) whose file is absent is not a change.
    git(root, "update-index", "--skip-worktree", "d/sub/c.yaml")
    (root / "d/sub/c.yaml").unlink()
    assert Git(root).changed(IN_SCOPE) == _status(root, IN_SCOPE) == []
    # With core.fileMode off, an executable bit is not a change either.
    (root / "e.yaml").chmod(0o755)
    assert Git(root).changed(IN_SCOPE) == _status(root, IN_SCOPE) == ["e.yaml"]
    git(root, "config", "core.fileMode", "false")
    assert Git(root).changed(IN_SCOPE) == _status(root, IN_SCOPE) == []


def test_changed_in_a_repository_without_commits(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "--quiet")
    assert Git(root).changed(["registry.yaml"]) == []
    (root / "registry.yaml").write_text("x\n")
    assert Git(root).changed(["registry.yaml"]) == _status(root, ["registry.yaml"])
    git(root, "add", "registry.yaml")
    assert Git(root).changed(["registry.yaml"]) == ["registry.yaml"]


# -- one index rewrite per change (issue 5) -------------------------------------------------


def _git_commands(trace: Path) -> list[str]:
    """The git subcommands a traced run started, in order (GIT_TRACE2_EVENT lines)."""
    import json

    events = [json.loads(line) for line in trace.read_text().splitlines()]
    return [e["argv"][1] for e in events if e["event"] == "start" and len(e["argv"]) > 1]


@pytest.mark.parametrize("post_commit_hook", [False, True], ids=["no-hook", "post-commit-hook"])
def test_register_with_a_stage_rewrites_the_index_once_unless_a_hook_looks(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    post_commit_hook: bool,
) -> None:
    """Two commits, one index rewrite: at 100,000 versions each costs 0.27 s. A post-commit
    hook may run `git status`, so with one the index follows each commit at once."""
    root = registry.root
    seen = tmp_path / "hook-saw"
    if post_commit_hook:
        hook = root / ".git" / "hooks" / "post-commit"
        hook.write_text(f"#!/bin/sh\ngit status --porcelain --untracked-files=no >> '{seen}'\n")
        hook.chmod(0o755)
    trace = tmp_path / "trace.json"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    weights = write_weights(tmp_path / "w", b"weights")
    proc = run_cli("register", "m", str(weights), "--version", "1.0.0", "--stage", "dev",
                   cwd=root)
    monkeypatch.delenv("GIT_TRACE2_EVENT")
    assert proc.returncode == 0, proc.stderr
    assert git(root, "status", "--porcelain") == ""
    assert git(root, "diff", "--cached", "HEAD") == ""
    rewrites = _git_commands(trace).count("update-index")
    assert rewrites == (2 if post_commit_hook else 1)
    if post_commit_hook:
        assert seen.read_text() == "", "the hook saw an index behind its commit"


def test_changed_of_no_paths_is_nothing_not_everything(registry: Registry) -> None:
    (registry.root / "registry.yaml").write_text("edited\n")
    assert Git(registry.root).changed([]) == []
    assert Git(registry.root).changed(["registry.yaml"]) == ["registry.yaml"]


@given(steps=st.lists(st.tuples(st.sampled_from(OPS),
                                st.sampled_from([*TRACKED, "new.yaml", "d/new.yaml"])),
                      max_size=4))
@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_changed_of_a_whole_registry_lists_what_git_status_lists(
    steps: list[tuple[str, str]], tmp_path: Path,
) -> None:
    """Past ``HASH_LIMIT`` files (``check`` at 100,000 versions) git's refresh judges the
    work tree instead of hashing every file (issue 19): the same answer."""
    root = _scratch_repo(tmp_path)
    for op, path in steps:
        _apply(root, op, path)
    with mock.patch.object(Git, "HASH_LIMIT", 0):
        assert Git(root).changed(IN_SCOPE) == _status(root, IN_SCOPE)


def test_every_tag_is_listed_with_what_it_names(tmp_path: Path) -> None:
    """Git.tags() reads every tag from show-ref's peeled lines (issue 19): the same names,
    targets and kinds as for-each-ref, loose or packed; a tag of a tag names the commit."""
    root = _scratch_repo(tmp_path)
    head = git(root, "rev-parse", "HEAD").strip()
    assert Git(root).tags() == []
    git(root, "tag", "light")
    git(root, "tag", "-a", "-m", "annotated", "m/dev/1")
    git(root, "tag", "-a", "-m", "nested", "outer", "m/dev/1")
    tree = git(root, "rev-parse", "HEAD^{tree}").strip()
    git(root, "tag", "a-tree", tree)
    expected = sorted([("a-tree", tree, False), ("light", head, False),
                       ("m/dev/1", head, True), ("outer", head, True)])
    for packed in (False, True):
        if packed:
            git(root, "pack-refs", "--all")
        found = Git(root).tags()
        assert [(t.name, t.target, t.annotated) for t in found] == expected
        assert [t.name for t in Git(root).tags("m")] == ["m/dev/1"]  # for-each-ref's globs
