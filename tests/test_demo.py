"""`gitreg demo` runs the whole lifecycle, as the README promises."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git, run_cli


# "master": git's own default, on a machine whose git sets no init.defaultBranch (a new
# user's); the demo once pushed "main" by name and failed there.
@pytest.mark.slow
@pytest.mark.parametrize("branch", ["main", "master"])
def test_demo_runs_the_lifecycle(
    tmp_path: Path, branch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "init.defaultBranch")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", branch)
    proc = run_cli("demo", str(tmp_path / "demo"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for step in ("$ gitreg init", "$ gitreg register churn",
                 "$ gitreg promote churn 1.1.0 production", "$ gitreg rollback churn production",
                 "$ gitreg history churn",
                 "$ gitreg which churn production --at", "$ gitreg get churn --stage production"):
        assert step in out
    assert "churn production rolled back 1.1.0 -> 1.0.0 [churn/production/3]" in out
    # which --at answers with the version production held before the upgrade
    at_answer = out.split("$ gitreg which churn production --at")[1].splitlines()[1]
    assert at_answer == "1.0.0"
    origin_tags = git(tmp_path / "demo" / "origin.git", "tag").split()
    assert "churn/production/3" in origin_tags and "churn@v1.1.0" in origin_tags
    branches = git(tmp_path / "demo" / "origin.git", "branch", "--format=%(refname:short)")
    assert branches.split() == [branch]
    assert (tmp_path / "demo" / "deploy" / "model.pkl").stat().st_size > 0
    # The deployed model is 1.0.0's: it scores what 1.0.0 scored at training.
    trained = out.split("-> train/churn-1.0.0.pkl")[0].rsplit("accuracy ", 1)[1].strip()
    assert f"accuracy on held-out data {float(trained):.4f}" in out
    # it ends with the site, and the path of its index page
    index = tmp_path / "demo" / "registry" / "site" / "index.html"
    assert "$ gitreg site" in out and out.splitlines()[-1] == str(index)
    assert "1.0.0" in (index.parent / "models" / "churn" / "index.html").read_text()


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    proc = run_cli("demo", str(tmp_path / "full"), cwd=tmp_path)
    assert proc.returncode == 3 and "not empty" in proc.stderr
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
