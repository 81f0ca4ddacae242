"""Gates that hold (issue 12): no bypass of a stage's policy by a rollback or a commit
message, version files that stay as registered, and policies per model.

Each test starts from ``sample_registries.churn`` (1.0.0 in production, 1.2.0 in staging,
1.1.0 failing every policy the tests write) and tries what a user or a pull request could.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot
from sample_registries import churn, edit, with_policies

from gitreg.errors import PolicyViolation
from gitreg.service.check import validate
from gitreg.service.registry import Registry

POLICY_VIOLATION = 9
CHECK_FAILED = 10
STAGES = "models/churn/stages.yaml"
V100 = "models/churn/versions/1.0.0.yaml"
PRODUCTION = {"production": {"from": "staging", "min_metrics": {"accuracy": 0.88}}}


def _gated(tmp_path: Path) -> Registry:
    registry = with_policies(churn(tmp_path), PRODUCTION)
    assert validate(registry.root).ok
    return registry


# -- derive, never trust ----------------------------------------------------------------


def test_rollback_to_a_version_the_stage_never_held_is_refused(tmp_path: Path) -> None:
    registry = _gated(tmp_path)
    root = registry.root
    before = snapshot(root)
    proc = run_cli("rollback", "churn", "production", "--to", "1.1.0", cwd=root)
    assert proc.returncode == POLICY_VIOLATION, proc.stderr
    assert proc.stderr == (
        "gitreg: error: churn 1.1.0 has never been in production, so there is nothing to roll "
        "back to; put it there with `gitreg promote churn 1.1.0 production`, which applies "
        "the stage's policy\n")
    assert snapshot(root) == before
    with pytest.raises(PolicyViolation, match="has never been in production"):
        registry.rollback("churn", "production", to="1.1.0")

    # To a version it held, a rollback is not gated (the policy may since have tightened).
    registry.promote("churn", "1.2.0", "production")
    assert registry.rollback("churn", "production", to="1.0.0").version == "1.0.0"
    assert validate(root).ok


@pytest.mark.parametrize("trailers", [
    "Gitreg-Action: rollback\nGitreg-Model: churn\nGitreg-Stage: production\n"
    "Gitreg-Version: 1.1.0",
    "Gitreg-Action: rollback\nGitreg-Stage: production",
])
def test_a_forged_rollback_trailer_opens_no_gate(tmp_path: Path, trailers: str) -> None:
    registry = _gated(tmp_path)
    root = registry.root
    edit(root, STAGES, "production: 1.0.0", "production: 1.1.0")
    git(root, "commit", "--quiet", "-am", f"Roll back production\n\n{trailers}")
    messages = [p.message for p in validate(root).problems]
    assert [m.split(" (policies")[0] for m in messages] == [
        "churn 1.1.0 must be in staging before production",
        "churn 1.1.0: accuracy = 0.85, production requires >= 0.88"]
    # History and `ci event` call it what it is: a promotion.
    event = registry.history_events("churn", "production")[-1]
    assert (event.action.value, event.version, event.previous) == ("promote", "1.1.0", "1.0.0")
    git(root, "tag", "churn/production/2")
    proc = run_cli("ci", "event", "churn/production/2", "--format", "json", cwd=root)
    assert json.loads(proc.stdout)["action"] == "promote", proc.stderr


def test_a_hand_edit_back_to_a_version_the_stage_held_is_a_rollback(tmp_path: Path) -> None:
    registry = _gated(tmp_path)
    root = registry.root
    registry.promote("churn", "1.2.0", "production")
    with_policies(registry, {"production": {"min_metrics": {"accuracy": 0.95}}})
    edit(root, STAGES, "production: 1.2.0", "production: 1.0.0")
    git(root, "commit", "--quiet", "-am", "Back to 1.0.0\n\nGitreg-Action: rollback\n"
        "Gitreg-Stage: production")
    event = registry.history_events("churn", "production")[-1]
    assert (event.action.value, event.version) == ("rollback", "1.0.0")
    assert validate(root).ok  # what `gitreg rollback` would have done, unchecked as it is


def test_a_forged_force_reason_is_a_notice_never_a_silent_pass(tmp_path: Path) -> None:
    registry = _gated(tmp_path)
    root = registry.root
    edit(root, STAGES, "production: 1.0.0", "production: 1.1.0")
    git(root, "commit", "--quiet", "-am",
        "Promote\n\nGitreg-Action: promote\nGitreg-Stage: production\nGitreg-Reason: because")
    report = validate(root)
    assert report.ok
    (notice,) = report.notices
    assert (notice.file, notice.key) == (STAGES, "stages.production")
    assert "1.1.0 was forced into production at " in notice.message
    assert "(reason: because) although churn 1.1.0 must be in staging" in notice.message


# -- version files are immutable --------------------------------------------------------


def test_check_reports_a_changed_registration_field_with_its_commit(tmp_path: Path) -> None:
    registry = _gated(tmp_path)
    root = registry.root
    edit(root, V100, "accuracy: 0.9", "accuracy: 0.99")
    proc = run_cli("check", cwd=root)
    assert proc.returncode == CHECK_FAILED
    assert proc.stdout.startswith(
        f"{V100}: metrics.accuracy: metrics.accuracy changed in the work tree (not committed) "
        "since the registration at ")

    git(root, "commit", "--quiet", "-am", "Better numbers")
    commit = git(root, "rev-parse", "HEAD").strip()[:12]
    registered = git(root, "log", "--format=%H", "--diff-filter=A", "--", V100).strip()[:12]
    edit(root, V100, "model_type: RandomForest", "model_type: GradientBoosting")
    git(root, "commit", "--quiet", "-am", "And another type")
    (problem,) = validate(root).problems
    assert (problem.file, problem.key) == (V100, "metrics.accuracy")
    assert problem.message == (
        f"metrics.accuracy, model_type changed in commit {commit} since the registration at "
        f"{registered}: a registration's fields are fixed (only description and labels may "
        f"change); restore them (git show {registered}:{V100}) and register a new version "
        "instead")

    proc = run_cli("verify", "churn@1.0.0", "--offline", "--json", cwd=root)
    assert proc.returncode == 12, proc.stderr
    (target,) = json.loads(proc.stdout)["targets"]
    bad = [c for c in target["checks"] if c["what"] == "version file"]
    assert [(c["ref"], c["status"]) for c in bad] == [(V100, "bad")]
    assert bad[0]["detail"].startswith(f"metrics.accuracy, model_type changed in commit {commit}")

    # Restored as registered, nothing is reported, although the commits stay in history.
    git(root, "checkout", "--quiet", f"{registered}", "--", V100)
    git(root, "commit", "--quiet", "-am", "Restore 1.0.0")
    assert validate(root).ok


def test_description_and_labels_may_change(tmp_path: Path) -> None:
    root = churn(tmp_path).root
    edit(root, V100, "description: null", "description: the first churn model")
    edit(root, V100, "labels: []", "labels: [baseline]")
    git(root, "commit", "--quiet", "-am", "Describe 1.0.0")
    assert validate(root).ok
    proc = run_cli("verify", "churn@1.0.0", "--offline", cwd=root)
    assert "version file" not in proc.stdout
