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
