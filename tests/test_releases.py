"""Releases (issue 18): several models put in a stage together, as one tagged commit.

The registry holds five models that ship together (ranker, encoder, fraud, threshold,
blend), each with the same three versions and a production policy (from staging, accuracy
at least 0.8):

======= ======== ========================================================
version accuracy stages
======= ======== ========================================================
1.0.0   0.85     staging, then production (staging since taken by 1.1.0)
1.1.0   0.90     staging: passes the policy
1.2.0   0.70     none: fails it twice (never in staging, accuracy too low)
======= ======== ========================================================
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import forge_merge, git, run_cli, snapshot
from sample_registries import with_policies

from gitreg.core.events import Action, parse_tag, parse_trailers, speaks_for
from gitreg.core.release import (
    Member,
    Release,
    ReleaseAction,
    commit_message,
    parse_release_path,
    parse_release_tag,
    release_file,
    release_from_dict,
    release_tag,
    release_to_dict,
)
from gitreg.errors import Conflict, CorruptRegistry, InvalidInput, PolicyViolation
from gitreg.service import release as releases
from gitreg.service import release_history
from gitreg.service.check import validate
from gitreg.service.registry import NewVersion, Registry

MODELS = ("ranker", "encoder", "fraud", "threshold", "blend")
POLICY = {"production": {"from": "staging", "min_metrics": {"accuracy": 0.8}}}
POLICY_VIOLATION, INVALID_INPUT, NOT_FOUND = 9, 3, 4
_BUILT: dict[str, Path] = {}


def five(tmp_path: Path) -> Registry:
    """The registry of the module docstring, built once and copied per test."""
    if "five" not in _BUILT:
        base = tmp_path.parent / "_release_templates"
        registry = Registry.init(base / "registry", remote=str(base / "storage"))
        for model in MODELS:
            for version, accuracy in (("1.0.0", 0.85), ("1.1.0", 0.90), ("1.2.0", 0.70)):
                weights = base / f"{model}-{version}.bin"
                weights.write_bytes(f"{model} {version}\n".encode())
                registry.register(model, weights, version=version,
                                  info=NewVersion(metrics={"accuracy": accuracy}))
            registry.promote(model, "1.0.0", "staging")
            registry.promote(model, "1.0.0", "production")
            registry.promote(model, "1.1.0", "staging")
        with_policies(registry, POLICY)
        _BUILT["five"] = registry.root
    root = tmp_path / "registry"
    shutil.copytree(_BUILT["five"], root, symlinks=True)
    return Registry(root)


def tags_on(root: Path, rev: str = "HEAD") -> set[str]:
    return set(git(root, "tag", "--points-at", rev).split())


def changed_files(root: Path, rev: str = "HEAD") -> set[str]:
    return set(git(root, "show", "--format=", "--name-only", rev).split())


# -- the release itself -------------------------------------------------------------------


def test_a_release_puts_every_model_in_the_stage_in_one_tagged_commit(tmp_path: Path) -> None:
    registry = five(tmp_path)
    root = registry.root
    before = git(root, "rev-parse", "HEAD").strip()

    done = releases.release(registry, "ranking", ["ranker@1.1.0", "encoder#staging",
                                                  "blend@v1.1.0"], "production",
                            reason="ranker and its encoder ship together")

    assert git(root, "rev-list", "--count", f"{before}..HEAD").strip() == "1"
    assert changed_files(root) == {"models/ranker/stages.yaml", "models/encoder/stages.yaml",
                                   "models/blend/stages.yaml", "releases/ranking/1.yaml"}
    assert tags_on(root) == {"release/ranking/1", "ranker/production/2",
                             "encoder/production/2", "blend/production/2"}
    assert (done.n, done.tag, done.stage) == (1, "release/ranking/1", "production")
    assert done.members == (Member("ranker", "1.1.0", "1.0.0"),
                            Member("encoder", "1.1.0", "1.0.0"),
                            Member("blend", "1.1.0", "1.0.0"))
    written = yaml.safe_load((root / "releases/ranking/1.yaml").read_text())
    assert written == {"release": "ranking", "number": 1, "action": "promote",
                       "stage": "production", "reason": "ranker and its encoder ship together",
                       "models": [{"model": m, "version": "1.1.0", "previous": "1.0.0"}
                                  for m in ("ranker", "encoder", "blend")]}
    for model in ("ranker", "encoder", "blend"):
        assert registry.which(model, "production") == ("1.1.0",)
        last = registry.history_events(model, "production")[-1]
        assert (last.version, last.previous, last.tag) == (
            "1.1.0", "1.0.0", f"{model}/production/2")
    assert registry.which("fraud", "production") == ("1.0.0",)
    assert validate(root).ok, validate(root)
    assert git(root, "status", "--porcelain") == ""


def test_a_release_of_all_five_models_through_the_command_line(tmp_path: Path) -> None:
    root = five(tmp_path).root
    args = [a for m in MODELS for a in ("--model", f"{m}@1.1.0")]
    proc = run_cli("release", "q3", *args, "--stage", "production", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["release"], data["number"], data["tag"]) == ("q3", 1, "release/q3/1")
    assert [m["model"] for m in data["models"]] == list(MODELS)
    assert len(tags_on(root)) == 6

    proc = run_cli("release", "q3", "--model", "ranker@1.0.0", "--stage", "staging", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("release q3 2 to staging [release/q3/2]: ranker 1.1.0 -> 1.0.0")


def test_a_refused_release_changes_nothing_and_names_every_failing_model(
    tmp_path: Path,
) -> None:
    registry = five(tmp_path)
    root = registry.root
    before = snapshot(root)
    with pytest.raises(PolicyViolation) as caught:
        releases.release(registry, "ranking", ["ranker@1.2.0", "encoder@1.1.0",
                                               "fraud@1.2.0"], "production")
    said = str(caught.value)
    assert "ranker 1.2.0 must be in staging before production" in said
    assert "fraud 1.2.0: accuracy = 0.7, production requires >= 0.8" in said
    assert "encoder" not in said.replace("encoder@", "")
    assert snapshot(root) == before

    proc = run_cli("release", "ranking", "--model", "ranker@1.2.0", "--model", "encoder@1.1.0",
                   "--model", "fraud@1.2.0", "--stage", "production", cwd=root)
    assert proc.returncode == POLICY_VIOLATION, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("gitreg: error: release ranking refused, 2 of its 3 models fail: ")
    assert "ranker 1.2.0" in line and "fraud 1.2.0" in line
    assert snapshot(root) == before


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--model", "ranker"], INVALID_INPUT, "say which version"),
    (["--model", "ranker@1.1.0", "--model", "ranker@1.0.0"], INVALID_INPUT, "listed twice"),
    (["--model", "nobody@1.0.0"], NOT_FOUND, "unknown model 'nobody'"),
    (["--model", "ranker@9.9.9"], NOT_FOUND, "ranker has no version 9.9.9"),
    (["--model", "fraud#production", "--stage", "nowhere"], NOT_FOUND, "unknown stage"),
    ([], INVALID_INPUT, "--model MODEL@VERSION"),
])
def test_bad_input_is_one_line_and_changes_nothing(
    tmp_path: Path, args: list[str], code: int, says: str,
) -> None:
    root = five(tmp_path).root
    before = snapshot(root)
    stage = [] if "--stage" in args else ["--stage", "production"]
    proc = run_cli("release", "ranking", *args, *stage, cwd=root)
    assert proc.returncode == code, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert says in line
    assert snapshot(root) == before


def test_latest_and_another_stages_version_are_accepted(tmp_path: Path) -> None:
    registry = five(tmp_path)
    done = releases.release(registry, "r", ["encoder#staging", "fraud@1.1.0"], "production")
    assert [m.version for m in done.members] == ["1.1.0", "1.1.0"]
    # latest is 1.2.0, which fails the policy: refused, naming it
    with pytest.raises(PolicyViolation, match=r"threshold 1\.2\.0"):
        releases.release(registry, "r", ["threshold@latest"], "production")


def test_a_model_already_in_the_stage_stays_and_gets_no_tag(tmp_path: Path) -> None:
    registry = five(tmp_path)
    done = releases.release(registry, "pair", ["ranker@1.1.0", "encoder@1.0.0"], "production")
    assert done.members == (Member("ranker", "1.1.0", "1.0.0"),
                            Member("encoder", "1.0.0", "1.0.0"))
    assert tags_on(registry.root) == {"release/pair/1", "ranker/production/2"}
    with pytest.raises(Conflict, match="nothing to do"):
        releases.release(registry, "pair", ["ranker@1.1.0", "encoder@1.0.0"], "production")


def test_release_names_and_the_reserved_model_name(tmp_path: Path) -> None:
    registry = five(tmp_path)
    for bad in ("Ranking", "a/b", "x..y", "", "r@1", "name.lock", "production", "dev"):
        with pytest.raises(InvalidInput):
            releases.release(registry, bad, ["ranker@1.1.0"], "production")
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    with pytest.raises(InvalidInput, match="reserved"):
        registry.register("release", weights)


# -- the grammar --------------------------------------------------------------------------


def test_tag_and_path_grammar_round_trip_and_no_stage_tag_reads_as_a_release() -> None:
    assert parse_release_tag(release_tag("ranking", 12)) == ("ranking", 12)
    assert parse_release_tag("refs/tags/release/q3.2026/1") == ("q3.2026", 1)
    for other in ("release/ranking/0", "release/Ranking/1", "ranker/production/1",
                  "release/a/b/1", "ranker@v1.0.0"):
        assert parse_release_tag(other) is None
    # A release tag is not the stage tag of a model named "release" (a name now reserved).
    assert parse_tag("release/production/1") is None
    assert parse_tag("ranker/production/1") is not None
    assert parse_release_path(release_file("ranking", 3)) == ("ranking", 3)
    assert parse_release_path("releases/ranking/3.yml") is None
    release = Release("ranking", 2, "production",
                      (Member("ranker", "1.1.0", None), Member("encoder", None, "1.0.0")),
                      ReleaseAction.ROLLBACK, "why", rolls_back=1)
    assert release_from_dict(release_to_dict(release), "f") == release


@pytest.mark.parametrize("data", [
    None, [], {"release": "r", "number": 1, "stage": "production", "models": []},
    {"release": "r", "number": 0, "stage": "production",
     "models": [{"model": "a", "version": "1.0.0", "previous": None}]},
    {"release": "r", "number": 1, "stage": "production",
     "models": [{"model": "a", "version": "v1.0", "previous": None}]},
    {"release": "r", "number": 1, "stage": "production", "models": [
        {"model": "a", "version": "1.0.0"}, {"model": "a", "version": "1.1.0"}]},
    {"release": "r", "number": 1, "stage": "production", "action": "rollback",
     "models": [{"model": "a", "version": "1.0.0"}]},
    {"release": "../x", "number": 1, "stage": "production",
     "models": [{"model": "a", "version": "1.0.0"}]},
])
def test_a_malformed_release_file_is_refused_naming_the_file(data: object) -> None:
    with pytest.raises(CorruptRegistry, match=r"releases/r/1\.yaml"):
        release_from_dict(data, "releases/r/1.yaml")


# -- rollback, which, show, history -------------------------------------------------------


def test_rollback_of_a_release_after_a_later_single_model_promotion(tmp_path: Path) -> None:
    registry = five(tmp_path)
    root = registry.root
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.1.0", "blend@1.1.0"],
                     "production")
    registry.promote("encoder", "1.0.0", "production")  # encoder alone, after the release

    standing = release_history.standing(registry, "ranking")
    assert standing.state == "partial"
    proc = run_cli("show", "release", "ranking", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1:] == [
        "state: partial", "  ranker 1.1.0: holds it",
        "  encoder 1.1.0: changed since: production now holds 1.0.0", "  blend 1.1.0: holds it"]
    proc = run_cli("which", "--release", "ranking", "--json", cwd=root)
    data = json.loads(proc.stdout)
    assert data["state"] == "partial"
    released = git(root, "log", "-1", "--format=%cI|%an <%ae>", data["tag"]).strip()
    assert f'{data["date"]}|{data["author"]}' == released  # who released it, and when
    assert [(m["model"], m["holds"], m["now"]) for m in data["models"]] == [
        ("ranker", True, ["1.1.0"]), ("encoder", False, ["1.0.0"]),
        ("blend", True, ["1.1.0"])]

    before = git(root, "rev-parse", "HEAD").strip()
    proc = run_cli("rollback", "--release", "ranking", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("release ranking 1 rolled back in production (as release 2) "
                                  "[release/ranking/2]")
    assert git(root, "rev-list", "--count", f"{before}..HEAD").strip() == "1"
    # encoder already holds what it held before the release: unchanged, no tag of its own
    assert tags_on(root) == {"release/ranking/2", "ranker/production/3",
                             "blend/production/3"}
    for model in ("ranker", "encoder", "blend"):
        assert registry.which(model, "production") == ("1.0.0",)
    rolled = release_history.standing(registry, "ranking").release
    assert (rolled.action, rolled.rolls_back, rolled.n) == (ReleaseAction.ROLLBACK, 1, 2)
    assert rolled.members == (Member("ranker", "1.0.0", "1.1.0"),
                              Member("encoder", "1.0.0", "1.0.0"),
                              Member("blend", "1.0.0", "1.1.0"))
    last = registry.history_events("ranker", "production")[-1]
    assert (last.action.value, last.version, last.previous) == ("rollback", "1.0.0", "1.1.0")
    assert validate(root).ok, validate(root)

    # the only release of the name is rolled back: nothing left to roll back
    proc = run_cli("rollback", "--release", "ranking", cwd=root)
    assert proc.returncode == NOT_FOUND, proc.stderr
    proc = run_cli("rollback", "--release", "ranking", "ranker", cwd=root)
    assert proc.returncode == INVALID_INPUT, proc.stderr


def test_rolling_back_twice_goes_two_releases_back(tmp_path: Path) -> None:
    registry = five(tmp_path)
    releases.release(registry, "pair", ["ranker@1.1.0", "encoder@1.1.0"], "production")
    registry.promote("ranker", "1.2.0", "dev")
    releases.release(registry, "pair", ["ranker@1.0.0", "encoder@1.0.0"], "production")
    assert releases.rollback(registry, "pair").rolls_back == 2
    assert registry.which("ranker", "production") == ("1.1.0",)
    assert releases.rollback(registry, "pair").rolls_back == 1
    assert registry.which("encoder", "production") == ("1.0.0",)  # held before release 1
    assert [r.n for r in release_history.releases(registry, "pair")] == [1, 2, 3, 4]


def test_history_shows_a_release_as_one_event_with_its_models(tmp_path: Path) -> None:
    registry = five(tmp_path)
    root = registry.root
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.1.0"], "production")
    proc = run_cli("history", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    entries = json.loads(proc.stdout)
    last = entries[-1]
    assert (last["action"], last["release"], last["number"], last["tag"]) == (
        "release", "ranking", 1, "release/ranking/1")
    assert last["models"] == [{"model": "ranker", "version": "1.1.0", "previous": "1.0.0"},
                              {"model": "encoder", "version": "1.1.0", "previous": "1.0.0"}]
    assert not any(e.get("model") in ("ranker", "encoder") and e.get("stage") == "production"
                   and e.get("version") == "1.1.0" for e in entries)
    proc = run_cli("history", "ranker", cwd=root)
    row = proc.stdout.splitlines()[-1]
    assert "release ranking 1: ranker, encoder" in row and "released" in row
    assert "ranker 1.1.0, encoder 1.1.0" in row and "release/ranking/1" in row
    # per-model pipelines still see their change
    assert registry.history_events("encoder", "production")[-1].tag == "encoder/production/2"


def test_show_and_which_of_an_unknown_release_say_which_exist(tmp_path: Path) -> None:
    registry = five(tmp_path)
    releases.release(registry, "ranking", ["ranker@1.1.0"], "production")
    proc = run_cli("show", "release", "nope", cwd=registry.root)
    assert proc.returncode == NOT_FOUND
    assert proc.stderr.splitlines() == [
        "gitreg: error: no release 'nope' (releases: ranking); make one with `gitreg release "
        "nope --model MODEL@VERSION --stage STAGE`"]
    proc = run_cli("which", "--release", "ranking", cwd=registry.root)
    assert proc.stdout.splitlines()[1:] == ["state: complete", "  ranker 1.1.0: holds it"]


def _ssh_key(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
                   check=True)
    return key


def test_a_release_to_a_stage_that_requires_signing_is_signed_or_refused(
    tmp_path: Path,
) -> None:
    """As tests/test_sign.py sets signing up: SSH keys, one of them allowed."""
    keys = tmp_path / "_keys"
    keys.mkdir()
    trusted, stranger = _ssh_key(keys, "trusted"), _ssh_key(keys, "stranger")
    (keys / "allowed_signers").write_text(
        f"test@example.com {(keys / 'trusted.pub').read_text().strip()}\n")
    registry = Registry.init(tmp_path / "registry", remote=str(tmp_path / "storage"))
    root = registry.root
    for key, value in (("gpg.format", "ssh"), ("user.signingkey", str(trusted)),
                       ("gpg.ssh.allowedSignersFile", str(keys / "allowed_signers"))):
        git(root, "config", key, value)
    for model in ("ranker", "encoder", "fraud"):
        weights = tmp_path / f"{model}.bin"
        weights.write_bytes(f"{model}\n".encode())
        registry.register(model, weights, version="1.0.0", sign=model != "fraud")
    registry = with_policies(registry, {"production": {"require_signed": True}})
    before = snapshot(root)

    release = ("release", "ranking", "--model", "ranker@1.0.0", "--model", "encoder@1.0.0",
               "--stage", "production")
    proc = run_cli(*release, cwd=root)
    assert proc.returncode == POLICY_VIOLATION
    assert proc.stderr.startswith("gitreg: error: production requires signed changes")
    # an unsigned registration is not vouched for by a signed release
    proc = run_cli(*release, "--model", "fraud@1.0.0", "--sign", cwd=root)
    assert proc.returncode == POLICY_VIOLATION
    assert "registration commit" in proc.stderr and "unsigned" in proc.stderr
    # signed by a key the allowed signers do not list: undone, tags and commit
    git(root, "config", "user.signingkey", str(stranger))
    proc = run_cli(*release, "--sign", cwd=root)
    assert proc.returncode == POLICY_VIOLATION
    assert "unknown key" in proc.stderr
    assert snapshot(root) == before

    git(root, "config", "user.signingkey", str(trusted))
    proc = run_cli(*release, "--sign", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert git(root, "log", "-1", "--format=%G? %GS") == "G test@example.com\n"
    assert tags_on(root) == {"release/ranking/1", "ranker/production/1",
                             "encoder/production/1"}
    for tag in tags_on(root):
        git(root, "tag", "-v", tag)  # raises unless signed by the trusted key
    assert run_cli("verify", cwd=root).returncode == 0
    assert validate(root).ok

    # the rollback of the release is a change of the stage too
    before = snapshot(root)
    proc = run_cli("rollback", "--release", "ranking", cwd=root)
    assert proc.returncode == POLICY_VIOLATION, proc.stderr
    assert snapshot(root) == before
    proc = run_cli("rollback", "--release", "ranking", "--sign", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert registry.which("ranker", "production") == ()
    assert git(root, "log", "-1", "--format=%G?") == "G\n"
    assert run_cli("verify", cwd=root).returncode == 0


# -- CI and review ----------------------------------------------------------------------------


def with_origin(registry: Registry) -> Path:
    """A bare ``origin`` holding the registry's main branch and tags."""
    origin = registry.root.parent / "origin.git"
    git(registry.root.parent, "init", "--quiet", "--bare", str(origin))
    git(registry.root, "remote", "add", "origin", str(origin))
    git(registry.root, "push", "--quiet", "origin", "main", "--tags")
    return origin


def test_ci_event_of_a_release_tag_gives_every_model(tmp_path: Path) -> None:
    registry = five(tmp_path)
    root = registry.root
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.1.0"], "production")
    proc = run_cli("ci", "event", "refs/tags/release/ranking/1", cwd=root)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["release"], data["number"], data["stage"], data["tag"]) == (
        "ranking", 1, "production", "release/ranking/1")
    assert data["models"] == [{"model": "ranker", "version": "1.1.0", "previous": "1.0.0"},
                              {"model": "encoder", "version": "1.1.0", "previous": "1.0.0"}]
    assert data["commit"] == git(root, "rev-parse", "HEAD").strip()
    proc = run_cli("ci", "event", "release/ranking/1", "--format", "github", cwd=root)
    lines = proc.stdout.splitlines()
    for line in ("release=ranking", "number=1", "stage=production", "models=ranker encoder",
                 "version_ranker=1.1.0", "previous_ranker=1.0.0", "version_encoder=1.1.0"):
        assert line in lines
    # a release tag moved by hand to another commit marks no release
    git(root, "tag", "release/ranking/2", "HEAD~1")
    proc = run_cli("ci", "event", "release/ranking/2", cwd=root)
    assert proc.returncode == INVALID_INPUT, proc.stderr
    assert "marks no release" in proc.stderr


def local(state: dict[str, object]) -> dict[str, object]:
    """A snapshot without the remote-tracking refs (a fetch moves them)."""
    refs = str(state["refs"]).splitlines()
    return {**state, "refs": [r for r in refs if not r.startswith("refs/remotes/")]}


def test_a_proposed_release_merged_by_squash_is_tagged_by_ci_tag(tmp_path: Path) -> None:
    registry = five(tmp_path)
    root = registry.root
    origin = with_origin(registry)
    before = local(snapshot(root))
    proc = run_cli("release", "ranking", "--model", "ranker@1.1.0", "--model",
                   "encoder@1.1.0", "--stage", "production", "--propose", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "proposed on branch gitreg/release-ranking-1" in proc.stdout
    assert local(snapshot(root)) == before  # the checkout is as it was, nothing is tagged
    branch = "origin/gitreg/release-ranking-1"
    git(root, "fetch", "--quiet", "origin")
    assert git(root, "tag", "--points-at", branch) == ""

    # CI on the pull request: check and the review comment, on the proposal's checkout
    review = tmp_path / "review"
    git(tmp_path, "clone", "--quiet", "--branch", "gitreg/release-ranking-1", str(origin),
        str(review))
    proc = run_cli("check", cwd=review)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_cli("diff", "--release", "ranking", "--format", "markdown", cwd=review)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("## Release `ranking` 1 to production")
    assert "### `ranker`: 1.0.0 → 1.1.0" in proc.stdout
    assert "### `encoder`: 1.0.0 → 1.1.0" in proc.stdout

    # the merge button: one squashed commit on main
    message = git(root, "log", "--format=%B", "-1", branch)
    git(root, "merge", "--quiet", "--squash", branch)
    git(root, "commit", "--quiet", "-m", message.splitlines()[0] + " (#7)", "-m", message)
    git(root, "push", "--quiet", "origin", "main")
    proc = run_cli("ci", "tag", "--push", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) == {"ranker/production/2", "encoder/production/2",
                                        "release/ranking/1"}
    assert tags_on(root) == {"ranker/production/2", "encoder/production/2",
                             "release/ranking/1"}
    remote = git(root, "ls-remote", "--tags", "origin", "release/*")
    assert "refs/tags/release/ranking/1" in remote
    proc = run_cli("ci", "event", "release/ranking/1", cwd=root)
    assert json.loads(proc.stdout)["models"][0]["version"] == "1.1.0"
    proc = run_cli("ci", "tag", cwd=root)
    assert proc.stdout.strip() == "nothing to tag"
    assert validate(root).ok


def merge(root: Path, branch: str, how: str) -> None:
    """Merge ``origin/<branch>`` into main as a forge's button does (main moved on
    meanwhile, so the merge is a real one), and push main."""
    git(root, "fetch", "--quiet", "origin")
    forge_merge(root, branch, how)


@pytest.mark.parametrize("how", ["merge", "rebase"])
def test_a_proposed_release_merged_by_merge_commit_or_rebase(tmp_path: Path, how: str) -> None:
    registry = five(tmp_path)
    root = registry.root
    with_origin(registry)
    proc = run_cli("release", "ranking", "--model", "ranker@1.1.0", "--model",
                   "encoder@1.1.0", "--stage", "production", "--propose", cwd=root)
    assert proc.returncode == 0, proc.stderr
    merge(root, "gitreg/release-ranking-1", how)

    proc = run_cli("ci", "tag", "--push", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) == {"ranker/production/2", "encoder/production/2",
                                        "release/ranking/1"}
    assert tags_on(root) == {"ranker/production/2", "encoder/production/2",
                             "release/ranking/1"}
    proc = run_cli("ci", "event", "release/ranking/1", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert [(m["model"], m["version"], m["previous"]) for m in json.loads(proc.stdout)[
        "models"]] == [("ranker", "1.1.0", "1.0.0"), ("encoder", "1.1.0", "1.0.0")]
    assert registry.which("ranker", "production") == ("1.1.0",)
    assert run_cli("ci", "tag", cwd=root).stdout.strip() == "nothing to tag"
    assert validate(root).ok


@pytest.mark.parametrize("how", ["merge", "squash", "rebase"])
def test_rollback_of_a_release_proposed_then_merged_and_tagged(tmp_path: Path,
                                                               how: str) -> None:
    registry = five(tmp_path)
    root = registry.root
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.1.0"], "production")
    origin = with_origin(registry)
    before = local(snapshot(root))
    proc = run_cli("rollback", "--release", "ranking", "--propose", cwd=root)
    assert proc.returncode == 0, proc.stderr
    branch = "gitreg/rollback-release-ranking-2"
    assert f"proposed on branch {branch}" in proc.stdout
    assert local(snapshot(root)) == before  # checkout, stages and tags as they were
    assert branch in git(origin, "branch", "--list")
    assert git(origin, "tag", "--list", "release/ranking/2") == ""
    assert registry.which("ranker", "production") == ("1.1.0",)

    merge(root, branch, how)
    proc = run_cli("ci", "tag", "--push", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) == {"ranker/production/3", "encoder/production/3",
                                        "release/ranking/2"}
    assert (registry.which("ranker", "production"), registry.which("encoder", "production")) \
        == (("1.0.0",), ("1.0.0",))
    rolled = release_history.standing(registry, "ranking").release
    assert (rolled.n, rolled.action, rolled.rolls_back) == (2, ReleaseAction.ROLLBACK, 1)
    assert "refs/tags/release/ranking/2" in git(root, "ls-remote", "--tags", "origin")
    assert validate(root).ok
    # each model's history sees its own change, a rollback, through any merge (issue 18.4:
    # the release commit names its models in a Gitreg-Models trailer)
    for model in ("ranker", "encoder"):
        last = registry.history_events(model, "production")[-1]
        assert (last.action, last.version, last.previous, last.tag) == (
            Action.ROLLBACK, "1.0.0", "1.1.0", f"{model}/production/3")
        proc = run_cli("ci", "event", f"{model}/production/3", cwd=root)
        assert json.loads(proc.stdout)["action"] == "rollback", proc.stdout
    entries = json.loads(run_cli("history", "--json", cwd=root).stdout)
    assert (entries[-1]["action"], entries[-1]["number"], entries[-1]["rolls_back"]) == (
        "release", 2, 1)


def test_a_release_commit_names_its_models_in_its_trailers() -> None:
    release = Release("ranking", 1, "production", (Member("ranker", "1.1.0", "1.0.0"),
                                                   Member("encoder", "1.1.0", None)))
    said = parse_trailers(commit_message(release).rpartition("\n\n")[2])
    assert said == {"action": "promote", "stage": "production", "models": "ranker encoder",
                    "release": "ranking/1"}
    assert speaks_for(said, "ranker") and speaks_for(said, "encoder")
    assert not speaks_for(said, "fraud")
    assert not speaks_for({"model": "ranker", "models": "fraud"}, "fraud")
    # a release committed before Gitreg-Models speaks for every model, as it was read then
    assert speaks_for({"action": "rollback", "stage": "production"}, "fraud")


@pytest.mark.parametrize("how", ["merge", "squash", "rebase"])
def test_a_release_merged_with_another_change_of_its_stage_keeps_each_models_own(
    tmp_path: Path, how: str,
) -> None:
    """A branch that forces fraud back to a version production held, then rolls back a
    release: fraud's change is its own forced promotion, not the release's rollback."""
    registry = five(tmp_path)
    root = registry.root
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.1.0"], "production")
    registry.promote("fraud", "1.1.0", "production")
    with_origin(registry)
    git(root, "switch", "--quiet", "-c", "fixes")
    proc = run_cli("promote", "fraud", "1.0.0", "production", "--force", "--reason",
                   "threshold retuned", cwd=root)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("rollback", "--release", "ranking", cwd=root)
    assert proc.returncode == 0, proc.stderr
    git(root, "push", "--quiet", "origin", "fixes")
    git(root, "switch", "--quiet", "main")
    merge(root, "fixes", how)
    assert run_cli("ci", "tag", "--push", cwd=root).returncode == 0

    fraud = registry.history_events("fraud", "production")[-1]
    assert (fraud.action, fraud.version, fraud.previous) == (Action.PROMOTE, "1.0.0", "1.1.0")
    assert fraud.reason == "threshold retuned"  # a squash too: its every commit's trailers
    for model in ("ranker", "encoder"):
        last = registry.history_events(model, "production")[-1]
        assert (last.action, last.version) == (Action.ROLLBACK, "1.0.0"), model


def test_diff_between_two_releases_of_a_name(tmp_path: Path) -> None:
    registry = five(tmp_path)
    root = registry.root
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.1.0"], "production")
    releases.release(registry, "ranking", ["ranker@1.0.0", "encoder@1.1.0", "fraud@1.0.0"],
                     "staging")
    releases.release(registry, "ranking", ["ranker@1.0.0", "blend@1.1.0"], "production")

    proc = run_cli("diff", "--release", "ranking", "1", "3", "--format", "markdown", cwd=root)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("## Release `ranking` 1 → 3 in production")
    assert "### `ranker`: 1.1.0 → 1.0.0" in text
    assert "### `encoder`: 1.1.0 (only in release 1)" in text
    assert "### `blend`: 1.1.0 (only in release 3)" in text
    assert text.index("`ranker`") < text.index("`encoder`") < text.index("`blend`")

    proc = run_cli("diff", "--release", "ranking", "1", "2", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("release ranking 1 (production) → 2 (staging)")
    assert "encoder: 1.1.0 (the same in both)" in proc.stdout
    assert "fraud: 1.0.0 (only in release 2)" in proc.stdout

    proc = run_cli("diff", "--release", "ranking", "1", "--format", "json", cwd=root)
    data = json.loads(proc.stdout)
    assert (data["number"], data["against"]) == (1, None)
    assert [(d["model"], d["previous"], d["version"]) for d in data["diffs"]] == [
        ("ranker", "1.0.0", "1.1.0"), ("encoder", "1.0.0", "1.1.0")]
    assert data["diffs"][0]["diff"]["metrics"]
    proc = run_cli("diff", "--release", "ranking", "3", "1", "--format", "json", cwd=root)
    data = json.loads(proc.stdout)
    assert (data["number"], data["against"]["number"]) == (1, 3)
    assert data["diffs"][0] == {**data["diffs"][0], "model": "ranker", "previous": "1.0.0",
                                "version": "1.1.0"}
    # the latest alone, as before
    proc = run_cli("diff", "--release", "ranking", cwd=root)
    assert proc.stdout.startswith("release ranking 3 to production"), proc.stdout

    before = snapshot(root)
    for args, code, said in ((("9",), NOT_FOUND, "has no number 9 (it has 1, 2, 3)"),
                             (("1", "x"), INVALID_INPUT, "'x' is not a release number"),
                             (("01",), INVALID_INPUT, "is not a release number"),
                             (("1", "2", "3"), INVALID_INPUT, "give at most N and M")):
        proc = run_cli("diff", "--release", "ranking", *args, cwd=root)
        assert (proc.returncode, proc.stdout) == (code, ""), proc.stderr
        assert said in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert snapshot(root) == before


def test_check_validates_release_files_against_the_stages(tmp_path: Path) -> None:
    registry = five(tmp_path)
    root = registry.root
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.1.0"], "production")
    registry.promote("encoder", "1.0.0", "production")  # a later change: still fine
    assert validate(root).ok, validate(root)

    # a release file added by hand, without the stage changes it claims
    (root / "releases/ranking/2.yaml").write_text(
        (root / "releases/ranking/1.yaml").read_text().replace("number: 1", "number: 2")
        .replace("1.1.0", "1.2.0"))
    (root / "releases/ranking/x.yaml").write_text("release: ranking\n")
    (root / "releases/ranking/3.yaml").write_text("release: [\n")
    report = validate(root)
    files = {p.file for p in report.problems}
    assert {"releases/ranking/x.yaml", "releases/ranking/3.yaml"} <= files
    said = [p.message for p in report.problems if p.file == "releases/ranking/2.yaml"]
    assert said[0].startswith(
        "ranker's production holds 1.1.0 there, not 1.2.0 as the release says")
    assert "releases/ranking/1.yaml" not in files
    proc = run_cli("check", cwd=root)
    assert proc.returncode == 10, proc.stdout


def test_check_base_checks_the_release_files_a_pull_request_touches(tmp_path: Path) -> None:
    """Issue 19's check --base sees release files (issue 18) with a full check's verdict."""
    registry = five(tmp_path)
    root = registry.root
    git(root, "checkout", "--quiet", "-b", "pr")
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.1.0"], "production")
    assert validate(root, base="main").ok and validate(root).ok
    # a release file added by hand that claims a version no stage holds
    (root / "releases/ranking/2.yaml").write_text(
        (root / "releases/ranking/1.yaml").read_text().replace("number: 1", "number: 2")
        .replace("1.1.0", "1.2.0"))
    based, full = validate(root, base="main"), validate(root)
    assert {p.file for p in based.problems} == {p.file for p in full.problems} == {
        "releases/ranking/2.yaml"}
    assert run_cli("check", "--base", "main", cwd=root).returncode == 10


# -- two clones pushing at once -------------------------------------------------------------


def _start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gitreg", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _whole_on_origin(origin: Path, tmp_path: Path, name: str) -> Path:
    """A fresh clone of origin: check passes (release files agree with the stages at their
    commits), and every release tag sits with each moved model's stage tag."""
    fresh = tmp_path / name
    git(tmp_path, "clone", "--quiet", str(origin), str(fresh))
    assert validate(fresh).ok, validate(fresh)
    registry = Registry(fresh)
    for release in release_history.made(registry).values():
        assert release.tag is not None
        moved = {m.model for m in release.members if m.version != m.previous}
        models = {t.split("/")[0] for t in tags_on(fresh, release.commit)
                  if not t.startswith("release/")}
        assert models == moved, (release, models)
    return fresh


@pytest.mark.parametrize("other", ["fraud", "encoder"])
def test_a_release_and_a_single_promotion_pushed_at_once_from_two_clones(
    tmp_path: Path, other: str,
) -> None:
    """fraud (not in the release): both land, the later one replayed and renumbered.
    encoder (in the release, same stage): both land if the release saw the promotion
    first, else the release stops with a clear conflict; never half a release."""
    registry = five(tmp_path)
    origin = with_origin(registry)
    for name in ("a", "b"):
        git(tmp_path, "clone", "--quiet", str(origin), str(tmp_path / name))
    release = _start(tmp_path / "a", "release", "ranking", "--model", "ranker@1.1.0",
                     "--model", "encoder@1.1.0", "--stage", "production", "--push")
    single = _start(tmp_path / "b", "promote", other, "1.1.0", "production", "--push")
    (_, err_r), (_, err_s) = release.communicate(), single.communicate()
    if other == "fraud":
        assert (release.returncode, single.returncode) == (0, 0), err_r + err_s
    else:  # the same model and stage: one of them may find it changed first (exit 5)
        assert {release.returncode, single.returncode} <= {0, 5}, err_r + err_s
        assert 0 in (release.returncode, single.returncode)
    for code, err in ((release.returncode, err_r), (single.returncode, err_s)):
        if code:
            (line,) = err.splitlines()
            assert "nothing was pushed" in line or "already in production" in line, line
    fresh = _whole_on_origin(origin, tmp_path, "fresh")
    held = {m: Registry(fresh).which(m, "production") for m in ("ranker", "encoder", other)}
    if release.returncode == 0:
        assert held == {"ranker": ("1.1.0",), "encoder": ("1.1.0",), other: ("1.1.0",)}
        assert git(fresh, "tag", "-l", "release/*").split() == ["release/ranking/1"]
    else:
        assert held == {"ranker": ("1.0.0",), "encoder": ("1.1.0",)}
        assert git(fresh, "tag", "-l", "release/*") == ""


def test_gto_reads_no_artifact_or_stage_from_a_release_tag(tmp_path: Path) -> None:
    """GTO (installed with DVC, and what `dvc artifacts get --stage` asks) ignores the
    release tag: no artifact named after it, no stage assigned by it."""
    gto_api = pytest.importorskip("gto.api")
    registry = five(tmp_path)
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.1.0"], "production")
    root = registry.root
    assert not gto_api.check_ref(str(root), "release/ranking/1")
    shown = gto_api.show(str(root))
    assert set(shown) == set(MODELS)  # no artifact "release"
    assert all(not row["stage"] for row in shown.values())  # no stage from any gitreg tag


def test_the_python_api_releases_and_rolls_back(tmp_path: Path) -> None:
    from gitreg import ModelRegistry

    api = ModelRegistry(five(tmp_path).root)
    done = api.release("pair", ["ranker@1.1.0", "encoder#staging"], "production")
    assert (done.tag, api.release_standing("pair").state) == ("release/pair/1", "complete")
    with pytest.raises(PolicyViolation, match=r"fraud 1\.2\.0"):
        api.release("pair", ["fraud@1.2.0"], "production")
    back = api.rollback_release("pair")
    assert (back.n, back.rolls_back, api.which("production", name="ranker")) == (2, 1, "1.0.0")


def test_the_site_has_a_page_per_release(tmp_path: Path) -> None:
    import re

    from gitreg.service import website

    registry = five(tmp_path)
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.1.0"], "production",
                     reason="<b>together</b>")
    registry.promote("encoder", "1.0.0", "production")
    releases.rollback(registry, "ranking")
    out = tmp_path / "site"
    website.build_registry_site(registry, out)
    first = (out / "releases/ranking/1.html").read_text()
    assert "replaced" in first and "&lt;b&gt;together&lt;/b&gt;" in first
    assert "release/ranking/1" in first
    second = (out / "releases/ranking/2.html").read_text()
    assert "Rolls back release" in second and "complete" in second
    listing = (out / "releases.html").read_text()
    assert "releases/ranking/2.html" in listing
    assert 'href="../../releases.html"' in (out / "models/ranker/index.html").read_text()
    for page in (out / "releases/ranking/1.html", out / "releases.html"):
        for href in re.findall(r'href="([^"#]+)"', page.read_text()):
            assert (page.parent / href).resolve().is_file(), (page, href)


def test_a_release_is_not_rolled_back_to_a_deprecated_version(tmp_path: Path) -> None:
    # As a model's own rollback (issue 16): no stage may hold a deprecated version, or the
    # very commit the rollback makes fails `check`. The release itself names the deprecation
    # without blaming registry.yaml's policies.
    from gitreg.service import lifecycle

    registry = five(tmp_path)
    releases.release(registry, "pair", ["ranker@1.1.0", "encoder@1.1.0"], "production")
    lifecycle.deprecate(registry, "encoder", "1.0.0", reason="leaks labels")
    root = registry.root
    before = snapshot(root)
    proc = run_cli("rollback", "--release", "pair", cwd=root)
    assert proc.returncode == POLICY_VIOLATION, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert ("encoder 1.0.0 is deprecated (leaks labels); restore it first (gitreg restore "
            "encoder@1.0.0)") in line
    assert "ranker" not in line and "nothing was written" in line
    assert snapshot(root) == before
    assert validate(root).problems == ()

    proc = run_cli("release", "again", "--model", "encoder@1.0.0", "--stage", "staging",
                   cwd=root)
    assert proc.returncode == POLICY_VIOLATION, proc.stderr
    assert "encoder 1.0.0 is deprecated (leaks labels" in proc.stderr
    assert "registry.yaml" not in proc.stderr
    assert snapshot(root) == before
