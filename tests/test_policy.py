"""Policies as code: each kind refuses a promotion (API and CLI) and fails `gitreg check`.

The same violation is tried three ways: ``promote`` through the API and the command line
(exit 9, nothing changed), and a hand edit of ``stages.yaml``, uncommitted and then
committed as in a pull request, which ``gitreg check`` must catch (exit 10).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot
from sample_registries import churn, edit, with_policies

from gitreg.core.policy import violations
from gitreg.core.records import Artifact, StageMap, VersionRecord
from gitreg.errors import InvalidInput, PolicyViolation
from gitreg.service.check import validate
from gitreg.service.registry import Registry

POLICY_VIOLATION = 9
INVALID_INPUT = 3
CHECK_FAILED = 10

STAGES = "models/churn/stages.yaml"

# Each policy kind alone, and what it says about churn 1.1.0 entering production, where
# 1.0.0 (accuracy 0.90) is. 1.2.0 passes every one of them.
KINDS = {
    "from": ({"from": "staging"}, "churn 1.1.0 must be in staging before production"),
    "min_metrics": ({"min_metrics": {"accuracy": 0.88}},
                    "churn 1.1.0: accuracy = 0.85, production requires >= 0.88"),
    "max_metrics": ({"max_metrics": {"latency_ms": 100}},
                    "churn 1.1.0: latency_ms = 120, production requires <= 100"),
    "no_regression": ({"no_regression": ["accuracy"]},
                      "churn 1.1.0: accuracy = 0.85 is worse than 1.0.0's 0.9 in production"),
}


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Registry, str]:
    """churn with one production policy (which its history passes); what 1.1.0 breaks."""
    policy, says = KINDS[request.param]
    registry = with_policies(churn(tmp_path), {"production": policy})
    assert validate(registry.root).ok, validate(registry.root)
    return registry, says


def test_promote_enforces_each_policy_kind(kind: tuple[Registry, str]) -> None:
    registry, says = kind
    root = registry.root
    before = snapshot(root)
    with pytest.raises(PolicyViolation, match=re.escape(says)):
        registry.promote("churn", "1.1.0", "production")
    assert snapshot(root) == before

    proc = run_cli("promote", "churn", "1.1.0", "production", cwd=root)
    assert proc.returncode == POLICY_VIOLATION, proc.stderr
    assert proc.stderr.splitlines() == [
        f"gitreg: error: {says} (policies.production in registry.yaml); override with --force "
        "--reason TEXT"]
    assert snapshot(root) == before

    event = registry.promote("churn", "1.2.0", "production")  # passes every kind
    assert (event.version, event.previous, event.tag) == ("1.2.0", "1.0.0", "churn/production/2")
    assert event.policy == "policies.production"


def test_check_catches_a_hand_edit_that_breaks_each_policy_kind(
    kind: tuple[Registry, str],
) -> None:
    registry, says = kind
    root = registry.root
    edit(root, STAGES, "production: 1.0.0", "production: 1.1.0")
    proc = run_cli("check", cwd=root)
    assert proc.returncode == CHECK_FAILED, proc.stdout + proc.stderr
    (line,) = proc.stdout.splitlines()
    assert line.startswith(f"{STAGES}: stages.production: {says} (policies.production in ")
    assert "gitreg promote churn 1.1.0 production --force --reason TEXT" in line
    # The hand edit is uncommitted: check says so in a warning (issue 13), then the verdict.
    assert proc.stderr.splitlines()[-1] == "gitreg: check found 1 problem(s)"

    # Committed, as a pull request would carry it: history says what 1.1.0 replaced.
    git(root, "commit", "--quiet", "-am", "Put 1.1.0 in production by hand")
    assert [p.message.split(" (policies")[0] for p in validate(root).problems] == [says]

    # A hand edit that passes the policy is fine.
    edit(root, STAGES, "production: 1.1.0", "production: 1.2.0")
    assert validate(root).ok


def test_force_needs_a_reason(tmp_path: Path) -> None:
    registry = with_policies(churn(tmp_path), {"production": {"min_metrics": {"accuracy": 0.88}}})
    root = registry.root
    before = snapshot(root)
    # The API names its parameters, the CLI its flags (issue 11): the error carries which.
    with pytest.raises(InvalidInput, match=r"^force needs reason, which is recorded") as raised:
        registry.promote("churn", "1.1.0", "production", force=True)
    assert raised.value.params == ("force", "reason")
    proc = run_cli("promote", "churn", "1.1.0", "production", "--force", cwd=root)
    assert proc.returncode == INVALID_INPUT
    assert proc.stderr == (
        "gitreg: error: --force needs --reason TEXT, which is recorded in the commit\n")
    assert snapshot(root) == before

    event = registry.promote("churn", "1.1.0", "production", force=True, reason="A/B test")
    assert (event.version, event.reason) == ("1.1.0", "A/B test")
    assert registry.which("churn", "production") == ("1.1.0",)


def test_force_with_a_reason_is_recorded_and_check_reports_it_as_a_notice(
    tmp_path: Path,
) -> None:
    registry = with_policies(churn(tmp_path), {"production": {"no_regression": "accuracy"}})
    root = registry.root
    proc = run_cli("promote", "churn", "1.1.0", "production", "--force",
                   "--reason", "hotfix for incident 42", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "churn 1.1.0 promoted to production (was 1.0.0) [churn/production/2]; "
        "policies.production overridden with --force: hotfix for incident 42\n")
    trailers = git(root, "log", "-1", "--format=%(trailers:only,unfold)")
    assert "Gitreg-Reason: hotfix for incident 42\n" in trailers
    assert "Gitreg-Action: promote\n" in trailers
    assert registry.history_events("churn", "production")[-1].reason == "hotfix for incident 42"

    # The override is on record: check says so, and does not fail every pull request after it.
    commit = git(root, "rev-parse", "HEAD").strip()[:12]
    notice = (f"{STAGES}: stages.production: 1.1.0 was forced into production at {commit} "
              "(reason: hotfix for incident 42) although churn 1.1.0: accuracy = 0.85 is "
              "worse than 1.0.0's 0.9 in production (policies.production in registry.yaml)")
    proc = run_cli("check", cwd=root)
    assert (proc.returncode, proc.stdout) == (
        0, f"notice: {notice}\nok: no problems found\n"), proc.stderr
    proc = run_cli("check", "--json", cwd=root)
    report = json.loads(proc.stdout)
    assert (proc.returncode, report["ok"], report["problems"]) == (0, True, [])
    assert [f"{n['file']}: {n['key']}: {n['message']}" for n in report["notices"]] == [notice]


def test_force_on_a_version_that_passes_says_it_passed_and_records_the_reason(
    tmp_path: Path,
) -> None:
    """Nothing was overridden: the line says the policy passed, not "overridden"."""
    registry = with_policies(churn(tmp_path), {"production": {"no_regression": "accuracy"}})
    root = registry.root
    event = registry.promote("churn", "1.2.0", "production", force=True,
                             reason="planned release")
    assert (event.policy, event.overridden, event.reason) == (
        "policies.production", False, "planned release")
    assert registry.promote("churn", "1.1.0", "production", force=True,
                            reason="hotfix").overridden
    run_cli("rollback", "churn", "production", "--to", "1.0.0", cwd=root, check=True)
    proc = run_cli("promote", "churn", "1.2.0", "production", "--force", "--reason",
                   "planned release", cwd=root)
    assert proc.stdout.endswith(
        "; passed policies.production (--force was not needed; the reason is recorded: "
        "planned release)\n"), proc.stdout
    assert "overridden" not in proc.stdout
    assert "Gitreg-Reason: planned release" in git(root, "log", "-1", "--format=%B")
    proc = run_cli("check", cwd=root)
    assert (proc.returncode, proc.stdout) == (0, "ok: no problems found\n"), proc.stderr


def test_allow_force_false_refuses_an_override(tmp_path: Path) -> None:
    registry = with_policies(churn(tmp_path), {"production": {
        "no_regression": "accuracy", "allow_force": False}})
    root = registry.root
    before = snapshot(root)
    proc = run_cli("promote", "churn", "1.1.0", "production", "--force", "--reason", "hotfix",
                   cwd=root)
    assert proc.returncode == POLICY_VIOLATION
    assert proc.stderr == (
        "gitreg: error: churn 1.1.0: accuracy = 0.85 is worse than 1.0.0's 0.9 in production "
        "(policies.production in registry.yaml); policies.production.allow_force is false, so "
        "only a version that passes reaches production\n")
    assert snapshot(root) == before
    # A version that passes still goes in, forced or not.
    assert registry.promote("churn", "1.2.0", "production").version == "1.2.0"

    # An override made while the policy allowed it, or a hand-written Gitreg-Reason, fails.
    edit(root, STAGES, "production: 1.2.0", "production: 1.1.0")
    git(root, "commit", "--quiet", "-am", "Hotfix\n\nGitreg-Action: promote\n"
        "Gitreg-Reason: trust me")
    (problem,) = validate(root).problems
    assert "1.1.0 was forced into production" in problem.message
    assert problem.message.endswith("and its allow_force is false: promote a version that passes")
    # A hand edit without a reason: the advice does not offer the override it refuses.
    git(root, "commit", "--quiet", "--amend", "-m", "Hand edit")
    (problem,) = validate(root).problems
    assert problem.message.endswith(
        "promote a version that passes (policies.production.allow_force is false: nothing "
        "overrides it)"), problem.message
    assert "--force" not in problem.message


@pytest.mark.parametrize("reason", ["two\nlines", "bell\a", "tab\there", " "])
def test_a_reason_is_one_line(tmp_path: Path, reason: str) -> None:
    registry = with_policies(churn(tmp_path), {"production": {"no_regression": "accuracy"}})
    root = registry.root
    before = snapshot(root)
    proc = run_cli("promote", "churn", "1.1.0", "production", "--force", "--reason", reason,
                   cwd=root)
    assert proc.returncode == INVALID_INPUT
    assert proc.stderr == (
        "gitreg: error: --reason TEXT must be one line of text, without line breaks or other "
        "control characters; say the rest in the pull request\n")
    assert snapshot(root) == before
    with pytest.raises(InvalidInput, match=r"^reason must be one line"):
        registry.promote("churn", "1.1.0", "production", force=True, reason=reason)
    assert snapshot(root) == before


def test_check_exempts_a_rollback_as_rollback_is(tmp_path: Path) -> None:
    registry = with_policies(churn(tmp_path), {"production": {"no_regression": ["accuracy"]}})
    registry.promote("churn", "1.2.0", "production")
    # Back to 1.0.0, whose accuracy is lower than 1.2.0's: allowed, as rollbacks are.
    assert registry.rollback("churn", "production").version == "1.0.0"
    assert validate(registry.root).ok


def test_check_reports_a_version_held_before_its_policy_was_tightened(tmp_path: Path) -> None:
    # A documented choice (gitreg/check.py): the registry contradicts its own policy.
    registry = with_policies(churn(tmp_path), {"production": {"min_metrics": {"accuracy": 0.95}}})
    problems = validate(registry.root).problems
    assert [(p.file, p.key) for p in problems] == [(STAGES, "stages.production")]
    assert "churn 1.0.0: accuracy = 0.9, production requires >= 0.95" in problems[0].message


def test_from_counts_a_stage_the_version_has_left(tmp_path: Path) -> None:
    registry = with_policies(churn(tmp_path), {"production": {"from": "staging"}})
    assert registry.which("churn", "staging") == ("1.2.0",)  # 1.0.0 left staging
    registry.demote("churn", "production")
    assert registry.promote("churn", "1.0.0", "production").version == "1.0.0"


def _record(version: str, **metrics: float) -> VersionRecord:
    return VersionRecord("churn", version, "2026-05-01T00:00:00+00:00", "me",
                         Artifact("x", "file", "0" * 32, 1), metrics=metrics)


def test_no_regression_reads_the_direction_from_the_metric_name(tmp_path: Path) -> None:
    registry = with_policies(
        churn(tmp_path), {"production": {"no_regression": ["val_loss", "accuracy"]}})
    config, stage_map = registry.config, StageMap("churn")
    old = _record("1.0.0", val_loss=0.30, accuracy=0.9)
    better = _record("1.1.0", val_loss=0.25, accuracy=0.9)
    worse = _record("1.2.0", val_loss=0.35, accuracy=0.91)
    assert violations(config, "production", better, old, stage_map) == []
    assert violations(config, "production", worse, old, stage_map) == [
        "churn 1.2.0: val_loss = 0.35 is worse than 1.0.0's 0.3 in production"]
    missing = _record("1.3.0", accuracy=0.95)
    assert violations(config, "production", missing, old, stage_map) == [
        "churn 1.3.0: val_loss = missing is worse than 1.0.0's 0.3 in production"]
