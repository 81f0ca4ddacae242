"""Test isolation: every test gets its own git and DVC configuration, home and storage.

Nothing is read from or written to the machine's own git/DVC config, and every registry
lives in a temp dir with a local DVC remote inside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitreg.service.registry import Registry


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the modules that hold slow tests first (keeping each module together, so its
    module fixtures are built once): with workers in parallel (scripts/test runs pytest-xdist),
    a long test started last would leave the other cores idle at the end."""
    slow = {item.module for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module not in slow)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Pinned git identity and config, DVC config and cache dirs, HOME: all under tmp_path."""
    env_dir = tmp_path / "_env"
    home = env_dir / "home"
    home.mkdir(parents=True)
    gitconfig = env_dir / "gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n"
        "[tag]\n\tgpgsign = false\n"
    )
    settings = {
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(env_dir / "dvc-site-cache"),
        "DVC_GLOBAL_CONFIG_DIR": str(env_dir / "dvc-global"),
        "DVC_SYSTEM_CONFIG_DIR": str(env_dir / "dvc-system"),
        "XDG_DATA_HOME": str(env_dir / "xdg-data"),
        "XDG_CACHE_HOME": str(env_dir / "xdg-cache"),  # hashes.py's store, console.py's help
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GITREG_STORAGE",
                "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                "GIT_COMMITTER_EMAIL", "GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.delenv(key, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield tmp_path


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    """The registry's local DVC remote folder."""
    return tmp_path / "storage"


@pytest.fixture
def registry(tmp_path: Path, storage: Path) -> Registry:
    return Registry.init(tmp_path / "registry", remote=str(storage))


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(b"weights v1\n" * 100)
    return path


def write_weights(folder: Path, content: bytes, name: str = "model.bin") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


def run_cli(*args: str, cwd: Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    """``gitreg ARGS`` in a new process, as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "gitreg", *args],
        cwd=cwd, capture_output=True, text=True, env=os.environ.copy(), check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"gitreg {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def forge_merge(root: Path, branch: str, how: str) -> None:
    """Merge the fetched ``origin/<branch>`` into main as a forge's button does ("merge",
    "squash" or "rebase"), after a commit of someone else's on main so that the merge is a
    real one, and push main."""
    (root / "NOTES.md").write_text("notes\n")
    git(root, "add", "NOTES.md")
    git(root, "commit", "--quiet", "-m", "Notes")
    ref = f"origin/{branch}"
    if how == "merge":
        git(root, "merge", "--quiet", "--no-ff", "--no-edit", ref)
    elif how == "squash":
        message = git(root, "log", "--reverse", "--format=%B", f"HEAD..{ref}")
        git(root, "merge", "--quiet", "--squash", ref)
        git(root, "commit", "--quiet", "-m", f"{branch} (#12)", "-m", message.strip())
    else:
        for sha in git(root, "rev-list", "--reverse", f"HEAD..{ref}").split():
            git(root, "cherry-pick", "--quiet", sha)
    git(root, "push", "--quiet", "origin", "main")


def snapshot(root: Path) -> dict[str, object]:
    """Everything a failed command must leave unchanged: refs, index, files (not .git)."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == ".git" or (rel.parts[0] == ".dvc" and len(rel.parts) > 1
                                       and rel.parts[1] in ("tmp", "cache")):
            continue
        files[str(rel)] = path.read_bytes() if path.is_file() else "<dir>"
    return {
        "refs": git(root, "for-each-ref", "--format=%(refname) %(objectname)"),
        "head": git(root, "rev-parse", "-q", "--verify", "HEAD^{commit}") if
        git(root, "for-each-ref", "refs/heads") else "",
        "index": git(root, "ls-files", "--stage"),
        "status": git(root, "status", "--porcelain", "--untracked-files=all"),
        "files": files,
    }
