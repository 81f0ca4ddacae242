"""The release process (README "Releases"): one version, agreed on everywhere; scripts/release.sh
builds and checks the sdist and wheel, and tags v<version> only when it may.

The full build runs once (in a copy of this checkout's files, so the tag lands there);
the refusals stop before building, in seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git

import gitreg

ROOT = Path(__file__).resolve().parent.parent
VERSION = gitreg.__version__


def copy_of_checkout(dest: Path) -> Path:
    """This checkout's tracked and new files (not dist/, .venv, ...), committed in a new repo."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git(dest, "init", "--quiet")
    git(dest, "add", "-A")
    git(dest, "commit", "--quiet", "-m", "release candidate")
    return dest


def release(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(["bash", str(root / "scripts" / "release.sh"), *args], cwd=root,
                          env=env, capture_output=True, text=True, check=False)


def test_the_version_is_written_once_and_agreed_on() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'name = "gitreg-registry"' in pyproject
    assert 'dynamic = ["version"]' in pyproject
    assert not re.search(r'^version\s*=\s*"', pyproject, re.MULTILINE)  # no second copy
    assert 'version = {attr = "gitreg.__version__"}' in pyproject
    assert f"\n## {VERSION}\n" in (ROOT / "CHANGELOG.md").read_text()
    readme = (ROOT / "README.md").read_text()
    assert f'"gitreg-registry @ git+https://github.com/<org>/gitreg@v{VERSION}"' in readme
    assert "pip install gitreg\n" not in readme and "pip install gitreg " not in readme
    tags = set(re.findall(r"gitreg@(v\d+\.\d+\.\d+)", readme))
    assert tags == {f"v{VERSION}"}


def test_release_builds_checks_and_tags(tmp_path: Path) -> None:
    root = copy_of_checkout(tmp_path / "gitreg")
    done = release(root, "--tag")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (root / "dist").iterdir()) == [
        f"gitreg_registry-{VERSION}-py3-none-any.whl", f"gitreg_registry-{VERSION}.tar.gz"]
    assert done.stdout.count("PASSED") == 2  # twine check, both files
    assert f"tagged v{VERSION}" in done.stdout
    assert git(root, "tag", "--list", "v*").split() == [f"v{VERSION}"]
    assert git(root, "cat-file", "-t", f"v{VERSION}").strip() == "tag"  # annotated

    again = release(root, "--tag")
    assert again.returncode == 1 and f"the tag v{VERSION} exists already" in again.stderr


@pytest.mark.parametrize("problem", ["no changelog entry", "uncommitted change", "bad option"])
def test_release_refuses_before_building(tmp_path: Path, problem: str) -> None:
    root = copy_of_checkout(tmp_path / "gitreg")
    if problem == "no changelog entry":
        changelog = root / "CHANGELOG.md"
        changelog.write_text(changelog.read_text().replace(f"## {VERSION}\n", "## later\n"))
        git(root, "commit", "--quiet", "-am", "forget the entry")
        said, code = f"CHANGELOG.md has no '## {VERSION}' section", 1
    elif problem == "uncommitted change":
        (root / "README.md").write_text("changed\n")
        said, code = "the work tree has changes", 1
    else:
        said, code = "usage: scripts/release.sh [--tag]", 2
    refused = release(root, "--tag" if problem != "bad option" else "--publish")
    assert (refused.returncode, refused.stdout) == (code, "")
    assert said in refused.stderr
    assert not (root / "dist").exists() and git(root, "tag", "--list").strip() == ""
