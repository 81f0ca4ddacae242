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
    # A rollback passes when the hold it returns to passed today's policy (its history is
    # judged under it, so that no step can launder another): 1.0.0 no longer does, and
    # production now contradicts the policy, as for a version that stayed (module
    # docstring of service/check.py).
    (problem,) = validate(root).problems
    assert problem.key == "stages.production" and "came back into production by a rollback" \
        in problem.message and "promote a version that passes" in problem.message
    with_policies(registry, {"production": {"min_metrics": {"accuracy": 0.9}}})
    assert validate(root).ok  # its hold passed this one: what `gitreg rollback` did


def _hand_edits(root: Path, *steps: tuple[str, str]) -> None:
    """Commit one hand edit of production per step: (version, trailers)."""
    for version, trailers in steps:
        current = (root / STAGES).read_text().split("production: ")[1].split()[0]
        edit(root, STAGES, f"production: {current}", f"production: {version}")
        git(root, "commit", "--quiet", "-am", f"Hand edit\n\n{trailers}".rstrip())


ROLLBACK = "Gitreg-Action: rollback\nGitreg-Model: churn\nGitreg-Stage: production"


@pytest.mark.parametrize("where", ["main", "pull request"])
def test_no_step_of_a_change_launders_another(tmp_path: Path, where: str) -> None:
    """A security review: several commits, each of which check judged by itself, got a
    failing version into production. (1) 1.1.0 in by hand, 1.0.0 back, then a "rollback"
    to 1.1.0: the stage held it, but that hold never passed. (2) Under no_regression,
    1.2.0 (0.93) replaced by 1.1.0 (0.85), then by 1.0.0 (0.90): better than 1.1.0, worse
    than 1.2.0, the last version production held that passed."""
    registry = _gated(tmp_path)
    root = registry.root
    base = "HEAD"
    if where == "pull request":
        git(root, "switch", "--quiet", "-c", "pr")
        base = "main"
    _hand_edits(root, ("1.1.0", ""), ("1.0.0", ""), ("1.1.0", ROLLBACK))
    for report in (validate(root), validate(root, base="main")) if base == "main" else (
            validate(root),):
        (problem,) = report.problems
        assert "churn 1.1.0 came back into production by a rollback" in problem.message

    registry = with_policies(churn(tmp_path / "two"), {"production": {
        "no_regression": ["accuracy"]}})
    root = registry.root
    registry.promote("churn", "1.2.0", "production")
    if where == "pull request":
        git(root, "switch", "--quiet", "-c", "pr")
    _hand_edits(root, ("1.1.0", ""), ("1.0.0", ""))
    for report in (validate(root), validate(root, base="main")) if where != "main" else (
            validate(root),):
        (problem,) = report.problems
        assert "churn 1.0.0: accuracy = 0.9 is worse than 1.2.0's 0.93 in production" in \
            problem.message and "1.1.0, which it replaced, came in past it" in problem.message
    # Each step alone is what check judged before: 1.0.0 against 1.1.0 passes.
    _hand_edits(root, ("1.2.0", ""))
    assert validate(root).ok


def test_a_mistake_put_right_later_in_the_same_change_passes(tmp_path: Path) -> None:
    # The history is judged, not each commit: a failing version replaced by one that
    # passes against what production held before the mistake is fine.
    registry = with_policies(churn(tmp_path), {"production": {
        "min_metrics": {"accuracy": 0.88}, "no_regression": ["accuracy"]}})
    root = registry.root
    git(root, "switch", "--quiet", "-c", "pr")
    _hand_edits(root, ("1.1.0", ""), ("1.2.0", ""))
    assert validate(root).ok and validate(root, base="main").ok


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


# -- policies per model -----------------------------------------------------------------

PER_MODEL = {"production": {
    "min_metrics": {"accuracy": 0.95},  # every model but those below
    "models": {
        "churn*": {"min_metrics": {"accuracy": 0.92}},
        "churn": {"max_metrics": {"latency_ms": 100}, "allow_force": False},
        "*-eu": {"max_metrics": {"rmse": 1.0}},
    },
}}


def test_the_most_specific_policy_applies(tmp_path: Path) -> None:
    from gitreg.core.config import from_dict

    config = from_dict({"schema_version": 1, "policies": PER_MODEL}, "registry.yaml")
    labels = {name: getattr(config.policy("production", name), "label", None)
              for name in ("churn", "churn-eu", "fraud-eu", "fraud", "churner")}
    assert labels == {
        "churn": 'policies.production.models["churn"]',  # its own name beats any glob
        "churn-eu": 'policies.production.models["churn*"]',  # more literal characters
        "fraud-eu": 'policies.production.models["*-eu"]',
        "fraud": "policies.production",
        "churner": 'policies.production.models["churn*"]',
    }
    assert config.policy("staging", "churn") is None


def test_promote_check_and_diff_name_the_policy_that_applied(tmp_path: Path) -> None:
    registry = with_policies(churn(tmp_path), PER_MODEL)
    root = registry.root
    label = 'policies.production.models["churn"]'
    proc = run_cli("promote", "churn", "1.1.0", "production", "--force", "--reason", "x",
                   cwd=root)
    assert proc.returncode == POLICY_VIOLATION
    assert proc.stderr == (
        f"gitreg: error: churn 1.1.0: latency_ms = 120, production requires <= 100 ({label} "
        f"in registry.yaml); {label}.allow_force is false, so only a version that passes "
        "reaches production\n")

    proc = run_cli("diff", "churn", "production", "1.1.0", cwd=root)
    assert (f"policy: {label}, for 1.1.0 in production: refuses it: churn 1.1.0: latency_ms = "
            "120, production requires <= 100") in proc.stdout.splitlines(), proc.stdout
    proc = run_cli("diff", "churn", "production", "1.2.0", "--format", "json", cwd=root)
    assert json.loads(proc.stdout)["policy"] == {
        "stage": "production", "version": "1.2.0", "applies": label, "held": False,
        "problems": []}

    proc = run_cli("promote", "churn", "1.2.0", "production", cwd=root)
    assert proc.stdout == (
        f"churn 1.2.0 promoted to production (was 1.0.0) [churn/production/2]; passed {label}\n")

    edit(root, STAGES, "production: 1.2.0", "production: 1.1.0")
    (problem,) = validate(root).problems
    assert problem.message.startswith(
        f"churn 1.1.0: latency_ms = 120, production requires <= 100 ({label} in registry.yaml)")


@pytest.mark.parametrize(("pattern", "says"), [
    ("Churn", "expected a model name or a glob"),
    ("a/b*", "expected a model name or a glob"),
])
def test_a_bad_model_pattern_names_its_key(tmp_path: Path, pattern: str, says: str) -> None:
    from gitreg.core.config import from_dict
    from gitreg.errors import CorruptRegistry

    spec = {"production": {"models": {pattern: {"min_metrics": {"accuracy": 0.9}}}}}
    with pytest.raises(CorruptRegistry, match=says) as raised:
        from_dict({"schema_version": 1, "policies": spec}, "registry.yaml")
    assert raised.value.key == f'policies.production.models["{pattern}"]'
