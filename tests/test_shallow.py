"""A shallow clone (CI's default depth of one) is never answered from part of its history:
each command that reads history refuses with how to fetch the rest (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot
from sample_registries import churn


@pytest.fixture
def shallow(tmp_path: Path) -> Path:
    registry = churn(tmp_path)
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{registry.root}", str(clone))
    return clone


@pytest.mark.parametrize("command", [
    ("history",), ("history", "churn", "--json"), ("which", "churn", "production", "--at",
                                                   "2099-01-01"),
    ("verify", "--offline"), ("rollback", "churn", "staging"), ("check",), ("ci", "tag"),
])
def test_commands_that_read_history_refuse_a_shallow_clone(
    shallow: Path, command: tuple[str, ...]
) -> None:
    before = snapshot(shallow)
    proc = run_cli(*command, cwd=shallow)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith("gitreg: error: ") and len(proc.stderr.splitlines()) == 1
    assert "shallow" in proc.stderr and "git fetch --unshallow" in proc.stderr
    assert proc.stdout == ""
    assert snapshot(shallow) == before


def test_the_same_commands_answer_once_deepened(shallow: Path) -> None:
    git(shallow, "fetch", "--quiet", "--unshallow", "--tags")
    proc = run_cli("which", "churn", "production", "--at", "2099-01-01", cwd=shallow)
    assert proc.returncode == 0 and "1.0.0" in proc.stdout
    history = run_cli("history", "churn", cwd=shallow, check=True).stdout
    assert history.count("register") == 3 and "churn/production/1" in history


def test_which_now_needs_no_history_in_a_shallow_clone(shallow: Path) -> None:
    proc = run_cli("which", "churn", "production", cwd=shallow)
    assert proc.returncode == 0 and "1.0.0" in proc.stdout


def test_ci_event_of_a_rollback_in_a_depth_2_clone_fetches_the_history_to_prove_it(
    tmp_path: Path,
) -> None:
    """The deploy example clones at depth 2: a rollback there must not be reported as a
    promotion because the history that proves it is missing (issue 19's review)."""
    registry = churn(tmp_path)
    registry.rollback("churn", "staging")  # 1.2.0 -> 1.0.0, which staging held before
    tag = git(registry.root, "describe", "--tags", "--exact-match", "HEAD").strip()
    clone = tmp_path / "deploy"
    git(tmp_path, "clone", "--quiet", "--depth", "2", f"file://{registry.root}", str(clone))
    assert git(clone, "rev-parse", "--is-shallow-repository").strip() == "true"
    proc = run_cli("ci", "event", tag, "--format", "json", cwd=clone, check=True)
    assert '"action": "rollback"' in proc.stdout, proc.stdout
    assert git(clone, "rev-parse", "--is-shallow-repository").strip() == "false"

    # No origin to fetch from: one line saying what to do, nothing claimed.
    cut = tmp_path / "cut"
    git(tmp_path, "clone", "--quiet", "--depth", "2", f"file://{registry.root}", str(cut))
    git(cut, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    refused = run_cli("ci", "event", tag, cwd=cut)
    assert refused.returncode == 4, refused.stderr
    assert len(refused.stderr.splitlines()) == 1 and "fetch-depth: 0" in refused.stderr
    assert refused.stdout == ""
