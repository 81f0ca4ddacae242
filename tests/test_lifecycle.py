"""End of life and discovery (issue 16): deprecate, restore, latest, list's search and
sort, annotate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot
from sample_registries import churn

from gitreg.core.events import parse_tag
from gitreg.core.lifecycle import (
    Deprecations,
    latest,
    lifecycle_tag,
    parse_lifecycle_tag,
)
from gitreg.service.registry import Registry


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return churn(tmp_path)


def test_lifecycle_tags_round_trip_and_are_no_other_tag() -> None:
    for tag in ("churn/deprecated/1.2.0/1", "churn/restored/1.0.0-rc.1/3",
                "churn/deprecated/all/2"):
        parsed = parse_lifecycle_tag(tag)
        assert parsed is not None
        assert lifecycle_tag(parsed.name, parsed.what, parsed.version, parsed.n) == tag
        assert parse_tag(tag) is None  # neither a registration nor a stage change
    for bad in ("churn/deprecated/v1.2.0/1", "churn/restored/all/1", "churn/deprecated/1",
                "Churn/deprecated/1.2.0/1", "churn/deprecated/1.2.0/0"):
        assert parse_lifecycle_tag(bad) is None


def test_latest_skips_deprecated_and_prereleases() -> None:
    versions = ["1.0.0", "1.2.0", "2.0.0-rc.1", "1.10.0"]
    assert latest(versions, Deprecations("m")) == "1.10.0"
    assert latest(versions, Deprecations("m", {"1.10.0": "bad"})) == "1.2.0"
    assert latest(["2.0.0-rc.1"], Deprecations("m")) is None


def test_deprecate_commits_tags_and_blocks_promotion(reg: Registry) -> None:
    root = reg.root
    done = run_cli("deprecate", "churn@1.1.0", "--reason", "leaks labels", cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("churn 1.1.0 deprecated: leaks labels "
                                   "[churn/deprecated/1.1.0/1]")
    assert git(root, "tag", "--points-at", "HEAD").split() == ["churn/deprecated/1.1.0/1"]
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == [
        "models/churn/deprecated.yaml"]
    refused = run_cli("promote", "churn", "1.1.0", "staging", cwd=root)
    assert refused.returncode == 9
    assert "churn 1.1.0 is deprecated (leaks labels)" in refused.stderr
    again = run_cli("deprecate", "churn@1.1.0", "--reason", "x", cwd=root)
    assert again.returncode == 5 and "already deprecated" in again.stderr
    listed = run_cli("list", "churn", "--json", cwd=root, check=True)
    assert [v["version"] for v in json.loads(listed.stdout)] == ["1.0.0", "1.2.0"]
    everything = json.loads(run_cli("list", "--all", "--json", cwd=root, check=True).stdout)
    assert {v["version"]: v["deprecated"] for v in everything} == {
        "1.0.0": None, "1.1.0": "leaks labels", "1.2.0": None}
    shown = run_cli("show", "churn@1.1.0", cwd=root, check=True).stdout
    assert "deprecated:      leaks labels" in shown
    diff = run_cli("diff", "churn", "1.0.0", "1.1.0", cwd=root, check=True).stdout
    assert diff.splitlines()[1] == "1.1.0 is deprecated: leaks labels"
    diff = json.loads(run_cli("diff", "churn", "1.1.0", "1.2.0", "--format", "json",
                              cwd=root, check=True).stdout)
    assert (diff["a"]["deprecated"], diff["b"]["deprecated"]) == ("leaks labels", None)
    history = json.loads(run_cli("history", "churn", "--json", cwd=root, check=True).stdout)
    assert history[-1]["action"] == "deprecate" and history[-1]["version"] == "1.1.0"
    assert history[-1]["tag"] == "churn/deprecated/1.1.0/1"
    event = json.loads(run_cli("ci", "event", "churn/deprecated/1.1.0/1", cwd=root,
                               check=True).stdout)
    assert (event["event"], event["version"], event["model"]) == ("deprecated", "1.1.0", "churn")

    restored = run_cli("restore", "churn@1.1.0", cwd=root)
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.strip() == "churn 1.1.0 restored [churn/restored/1.1.0/1]"
    run_cli("promote", "churn", "1.1.0", "dev", cwd=root, check=True)
    again = run_cli("restore", "churn@1.1.0", cwd=root)
    assert again.returncode == 4 and "not deprecated" in again.stderr


def test_a_rollback_does_not_return_a_stage_to_a_deprecated_version(reg: Registry) -> None:
    """A rollback is a stage change as a promotion is: it refuses a deprecated version (exit
    9, naming it), or the commit it made would fail `check`."""
    root = reg.root
    run_cli("promote", "churn", "1.2.0", "production", cwd=root, check=True)
    run_cli("deprecate", "churn@1.0.0", "--reason", "leaks labels", cwd=root, check=True)
    head = git(root, "rev-parse", "HEAD")
    for args in ([], ["--to", "1.0.0"]):
        refused = run_cli("rollback", "churn", "production", *args, cwd=root)
        assert refused.returncode == 9, (args, refused.stderr)
        assert "churn 1.0.0 is deprecated (leaks labels)" in refused.stderr
        assert len(refused.stderr.splitlines()) == 1
    assert git(root, "rev-parse", "HEAD") == head
    assert run_cli("which", "churn", "production", cwd=root).stdout.strip() == "1.2.0"
    run_cli("restore", "churn@1.0.0", cwd=root, check=True)
    run_cli("rollback", "churn", "production", cwd=root, check=True)
    assert run_cli("check", cwd=root).returncode == 0


def test_deprecating_a_staged_version_needs_demote(reg: Registry) -> None:
    root = reg.root
    before = snapshot(root)
    refused = run_cli("deprecate", "churn@1.0.0", "--reason", "old", cwd=root)
    assert refused.returncode == 9
    assert "1.0.0 in production" in refused.stderr and "--demote" in refused.stderr
    assert snapshot(root) == before
    missing = run_cli("deprecate", "churn@1.0.0", cwd=root)
    assert missing.returncode == 3 and "--reason TEXT" in missing.stderr
    done = run_cli("deprecate", "churn@1.0.0", "--reason", "old", "--demote", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "churn 1.0.0 demoted from production [churn/production/2]" in done.stdout
    assert run_cli("which", "churn", "production", cwd=root).returncode == 4
    # The demotion is a stage change: it has the stage's next tag on the same commit, so a
    # pipeline on churn/production/* sees it, and `ci tag` has nothing left to tag.
    assert sorted(git(root, "tag", "--points-at", "HEAD").split()) == [
        "churn/deprecated/1.0.0/1", "churn/production/2"]
    event = json.loads(run_cli("ci", "event", "churn/production/2", cwd=root,
                               check=True).stdout)
    assert (event["event"], event["previous"], event["version"]) == ("demoted", "1.0.0", None)
    assert run_cli("ci", "tag", cwd=root, check=True).stdout.strip() == "nothing to tag"
    assert sorted(git(root, "show", "--name-only", "--format=", "HEAD").split()) == [
        "models/churn/deprecated.yaml", "models/churn/stages.yaml"]
    history = json.loads(run_cli("history", "churn", "--json", cwd=root, check=True).stdout)
    assert [e["action"] for e in history[-2:]] == ["deprecate", "demote"]
    assert history[-1]["tag"] == "churn/production/2"


def test_demoting_several_versions_of_one_stage_gives_the_stage_one_tag(
    reg: Registry
) -> None:
    """A stage of several versions loses them all in one commit: one stage tag, as `ci
    tag` gives a merged change, and one `ci event` accepts (a second tag on the commit
    would be refused as a repeat)."""
    root = reg.root
    config = root / "registry.yaml"
    config.write_text(config.read_text().replace(
        "stages:\n", "stages:\n- name: canary\n  exclusive: false\n", 1))
    git(root, "commit", "-qam", "a canary stage of several versions")
    for version in ("1.0.0", "1.2.0"):
        run_cli("promote", "churn", version, "canary", cwd=root, check=True)
    done = run_cli("deprecate", "churn", "--reason", "replaced", "--demote", cwd=root)
    assert done.returncode == 0, done.stderr
    canary = [t for t in git(root, "tag", "--points-at", "HEAD").split() if "/canary/" in t]
    assert canary == ["churn/canary/3"]
    event = json.loads(run_cli("ci", "event", "churn/canary/3", cwd=root, check=True).stdout)
    assert event["event"] == "demoted"
    history = json.loads(run_cli("history", "churn", "--stage", "canary", "--json", cwd=root,
                                 check=True).stdout)
    assert [(e["action"], e["tag"]) for e in history[-2:]] == [
        ("demote", "churn/canary/3"), ("demote", "churn/canary/3")]
    assert run_cli("ci", "tag", cwd=root, check=True).stdout.strip() == "nothing to tag"
    assert run_cli("check", cwd=root).returncode == 0


def test_deprecate_a_whole_model(reg: Registry) -> None:
    root = reg.root
    # NAME#STAGE is not NAME: it deprecated every version of the model.
    head = git(root, "rev-parse", "HEAD")
    staged = run_cli("deprecate", "churn#production", "--reason", "x", "--demote", cwd=root)
    assert staged.returncode == 3 and "not a stage" in staged.stderr
    assert git(root, "rev-parse", "HEAD") == head
    done = run_cli("deprecate", "churn", "--reason", "replaced by churn2", "--demote",
                   cwd=root)
    assert done.returncode == 0, done.stderr
    assert "churn all versions deprecated" in done.stdout
    assert "churn/deprecated/all/1" in git(root, "tag", "--points-at", "HEAD")
    table = run_cli("history", "churn", cwd=root, check=True).stdout
    assert [line.split()[3:7] for line in table.splitlines() if " deprecated " in line] == [
        ["deprecated", "-", "all", "-"]]
    assert run_cli("list", "churn", cwd=root, check=True).stdout.strip() == "no versions match"
    none = run_cli("show", "churn@latest", cwd=root)
    assert none.returncode == 4 and "no latest" in none.stderr


def test_latest_wherever_a_version_is_accepted(reg: Registry, tmp_path: Path) -> None:
    root = reg.root
    shown = json.loads(run_cli("show", "churn@latest", "--json", cwd=root, check=True).stdout)
    assert shown["version"] == "1.2.0"
    run_cli("deprecate", "churn@1.2.0", "--reason", "drift", "--demote", cwd=root, check=True)
    shown = json.loads(run_cli("show", "churn@latest", "--json", cwd=root, check=True).stdout)
    assert shown["version"] == "1.1.0"
    got = run_cli("get", "churn", "--version", "latest", "-o", str(tmp_path / "m.bin"),
                  cwd=root)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "m.bin").read_bytes() == b"weights 1.1.0\n" * 20
    diff = json.loads(run_cli("diff", "churn", "1.0.0", "latest", "--format", "json",
                              cwd=root, check=True).stdout)
    assert diff["b"]["version"] == "1.1.0"
    promoted = run_cli("promote", "churn", "latest", "dev", cwd=root)
    assert promoted.stdout.strip() == "churn 1.1.0 promoted to dev [churn/dev/1]"
    from gitreg import ModelRegistry

    api = ModelRegistry(root)
    api.get_weights(tmp_path / "api.bin", version="latest", name="churn")
    assert (tmp_path / "api.bin").read_bytes() == b"weights 1.1.0\n" * 20


def test_list_sorts_by_metric_in_its_direction(reg: Registry) -> None:
    root = reg.root

    def versions(*args: str) -> list[str]:
        out = run_cli("list", "churn", *args, "--json", cwd=root, check=True).stdout
        return [v["version"] for v in json.loads(out)]

    assert versions("--sort", "accuracy") == ["1.2.0", "1.0.0", "1.1.0"]
    assert versions("--sort", "latency_ms") == ["1.2.0", "1.0.0", "1.1.0"]
    assert versions("--sort", "accuracy", "--limit", "1") == ["1.2.0"]
    assert versions("--max-metric", "latency_ms=100", "--min-metric", "accuracy=0.91") == [
        "1.2.0"]
    assert versions("--type", "RandomForest", "--stage", "production") == ["1.0.0"]
    assert versions("--type", "XGBoost") == []
    assert versions("--registered-after", "2000-01-01", "--by", "test") == versions()
    assert versions("--registered-before", "2000-01-01") == []
    bad = run_cli("list", "--limit", "0", cwd=root)
    assert bad.returncode == 3 and "--limit" in bad.stderr
    bad = run_cli("list", "--registered-after", "yesterday", cwd=root)
    assert bad.returncode == 3 and "--registered-after" in bad.stderr
    # A typo is said, not answered with the unsorted or an empty list.
    typo = run_cli("list", "churn", "--sort", "acuracy", cwd=root)
    assert typo.returncode == 4 and typo.stdout == ""
    assert "no version listed has the metric 'acuracy'" in typo.stderr
    assert "accuracy" in typo.stderr.split("(metrics:")[1]
    for args, flag in ((["--label", "=x"], "--label"), (["--type", ""], "--type"),
                       (["--sort", ""], "--sort"), (["--by", " "], "--by")):
        bad = run_cli("list", *args, cwd=root)
        assert bad.returncode == 3 and bad.stderr.startswith(f"gitreg: error: {flag} "), args
        assert len(bad.stderr.splitlines()) == 1


def test_annotate_changes_only_description_and_labels(reg: Registry) -> None:
    root = reg.root
    rel = "models/churn/versions/1.2.0.yaml"
    before = (root / rel).read_text().splitlines()
    done = run_cli("annotate", "churn@1.2.0", "--description", "the good one",
                   "--label", "team=growth", "--label", "pii=no", cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "churn 1.2.0 annotated"
    after = (root / rel).read_text().splitlines()
    changed = [line for line in after if line not in before]
    assert changed == ["description: the good one", "labels:", "- team=growth", "- pii=no"]
    assert [line for line in before if line not in after] == ["description: null",
                                                             "labels: []"]
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == [rel]
    listed = run_cli("list", "--label", "team=growth", "--json", cwd=root, check=True)
    assert [v["version"] for v in json.loads(listed.stdout)] == ["1.2.0"]
    run_cli("annotate", "churn@1.2.0", "--remove-label", "team", "--label", "pii=yes",
            cwd=root, check=True)
    shown = json.loads(run_cli("show", "churn@1.2.0", "--json", cwd=root, check=True).stdout)
    assert shown["labels"] == ["pii=yes"] and shown["description"] == "the good one"
    assert run_cli("list", "--label", "team", cwd=root, check=True).stdout.strip() == (
        "no versions match")
    history = json.loads(run_cli("history", "churn", "--json", cwd=root, check=True).stdout)
    assert [e["action"] for e in history[-2:]] == ["annotate", "annotate"]
    # Never tagged, by design: not "(untagged)", which says `ci tag` has work to do.
    table = run_cli("history", "churn", cwd=root, check=True).stdout
    rows = [line.split() for line in table.splitlines() if " annotated " in line]
    assert len(rows) == 2 and all(row[6:8] == ["-", "-"] for row in rows), rows
    nothing = run_cli("annotate", "churn@1.2.0", cwd=root)
    assert nothing.returncode == 3 and "--description TEXT" in nothing.stderr
    head = git(root, "rev-parse", "HEAD")
    for args in (["--label", "=x"], ["--label", " =x"], ["--remove-label", "pii=yes"]):
        bad = run_cli("annotate", "churn@1.2.0", *args, cwd=root)
        assert bad.returncode == 3 and len(bad.stderr.splitlines()) == 1, (args, bad.stderr)
    assert git(root, "rev-parse", "HEAD") == head
    assert run_cli("check", cwd=root).returncode == 0


def test_the_api_deprecates_annotates_and_searches(reg: Registry) -> None:
    from gitreg import ModelRegistry

    api = ModelRegistry(reg.root)
    (event,) = api.deprecate_model("1.1.0", reason="bad", name="churn")
    assert event.tag == "churn/deprecated/1.1.0/1"
    assert [m.version for m in api.list_models(name="churn")] == ["1.0.0", "1.2.0"]
    assert [m.version for m in api.list_models(name="churn", include_deprecated=True,
                                               sort="accuracy", limit=2)] == ["1.2.0", "1.0.0"]
    api.annotate("1.0.0", name="churn", labels=["team=growth"], description="first")
    (found,) = api.list_models(labels=["team=growth"])
    assert (found.version, found.description) == ("1.0.0", "first")
    api.restore_model("1.1.0", name="churn")
    assert len(api.list_models(name="churn")) == 3


def test_check_reports_a_stage_holding_a_deprecated_version(reg: Registry) -> None:
    root = reg.root
    (root / "models/churn/deprecated.yaml").write_text(
        "model: churn\nversions:\n  1.2.0:\n    reason: drift\n  9.9.9:\n    reason: gone\n")
    checked = run_cli("check", cwd=root)
    assert checked.returncode == 10
    assert ("models/churn/stages.yaml: staging: holds 1.2.0, which is deprecated (drift)"
            in checked.stdout)
    assert "models/churn/deprecated.yaml: versions.9.9.9: churn has no version 9.9.9" in (
        checked.stdout)
    (root / "models/churn/deprecated.yaml").write_text("model: churn\nversions: [1]\n")
    checked = run_cli("check", cwd=root)
    assert checked.returncode == 10 and "models/churn/deprecated.yaml: versions:" in (
        checked.stdout)
    # A hand edit gets no more than `deprecate --reason` accepts, in gitreg's spelling.
    for entry, problem in (
            ('1.1.0:\n    reason: ""', "versions.1.1.0.reason: expected one printable line"),
            ('1.1.0:\n    reason: "a\\x1b[2Jb"', "versions.1.1.0.reason: expected one printable"),
            ("v1.1.0:\n    reason: old", "versions.v1.1.0: write it as 1.1.0")):
        (root / "models/churn/deprecated.yaml").write_text(
            f"model: churn\nversions:\n  {entry}\n")
        checked = run_cli("check", cwd=root)
        assert checked.returncode == 10, entry
        assert f"models/churn/deprecated.yaml: {problem}" in checked.stdout, checked.stdout


def test_ci_tag_tags_a_deprecation_that_arrived_untagged(reg: Registry) -> None:
    root = reg.root
    run_cli("deprecate", "churn@1.1.0", "--reason", "bad", cwd=root, check=True)
    git(root, "tag", "-d", "churn/deprecated/1.1.0/1")
    tagged = run_cli("ci", "tag", cwd=root, check=True)
    assert tagged.stdout.strip() == "churn/deprecated/1.1.0/1"
    assert run_cli("ci", "tag", cwd=root, check=True).stdout.strip() == "nothing to tag"
    # A tag in the grammar on a commit that made no such change is refused.
    git(root, "tag", "churn/restored/1.2.0/1", "HEAD")
    refused = run_cli("ci", "event", "churn/restored/1.2.0/1", cwd=root)
    assert refused.returncode == 3 and "marks no restored version" in refused.stderr


def test_deprecate_and_annotate_can_be_proposed(reg: Registry, tmp_path: Path) -> None:
    root = reg.root
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", str(bare))
    git(root, "remote", "add", "origin", str(bare))
    git(root, "push", "--quiet", "-u", "origin", "HEAD:refs/heads/main")
    git(root, "branch", "--quiet", "--set-upstream-to", "origin/main")
    before = git(root, "rev-parse", "HEAD")
    done = run_cli("deprecate", "churn@1.1.0", "--reason", "bad", "--propose", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "Pushed branch gitreg/deprecate-churn-1.1.0" in done.stdout
    assert "Deprecate churn 1.1.0" in done.stdout
    assert git(root, "rev-parse", "HEAD") == before  # the checkout is as it was
    proposed = git(bare, "show", "gitreg/deprecate-churn-1.1.0:models/churn/deprecated.yaml")
    assert "reason: bad" in proposed
    assert "churn/deprecated" not in git(root, "tag")  # no tag until merged
    done = run_cli("annotate", "churn@1.2.0", "--label", "a=b", "--propose", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "- a=b" in git(bare, "show",
                          "gitreg/annotate-churn-1.2.0:models/churn/versions/1.2.0.yaml")


def test_history_reads_deprecations_from_the_file_through_a_merge(reg: Registry) -> None:
    root = reg.root
    git(root, "switch", "--quiet", "-c", "retire")
    done = run_cli("deprecate", "churn@1.1.0", "--reason", "bad", cwd=root, check=True)
    # Off the main branch, as a promotion, it is not tagged: `ci tag` tags it after the merge.
    assert done.stdout.strip() == "churn 1.1.0 deprecated: bad"
    assert git(root, "tag", "-l", "churn/deprecated/*") == ""
    git(root, "switch", "--quiet", "-")
    git(root, "merge", "--quiet", "--no-ff", "-m", "Merge retire", "retire")
    history = json.loads(run_cli("history", "churn", "--json", cwd=root, check=True).stdout)
    assert (history[-1]["action"], history[-1]["version"], history[-1]["reason"]) == (
        "deprecate", "1.1.0", "bad")
    assert run_cli("ci", "tag", cwd=root, check=True).stdout.strip() == (
        "churn/deprecated/1.1.0/1")
    event = json.loads(run_cli("ci", "event", "churn/deprecated/1.1.0/1", cwd=root,
                               check=True).stdout)
    assert (event["event"], event["reason"]) == ("deprecated", "bad")


@pytest.mark.slow
def test_a_deprecation_killed_at_any_point_leaves_all_or_nothing(reg: Registry,
                                                                 tmp_path: Path) -> None:
    """SIGKILL at every step of `deprecate --demote` (no undo runs): the next command finds
    either the registry as before or the whole change with both its tags, and `check` passes."""
    import os
    import shutil
    import subprocess
    import sys

    args = ["deprecate", "churn@1.0.0", "--reason", "old", "--demote"]

    def gitreg(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gitreg", *args], cwd=cwd, text=True,
                              capture_output=True, env={**os.environ, **env}, check=False)

    traced = tmp_path / "traced"
    shutil.copytree(reg.root, traced, symlinks=True)
    trace = tmp_path / "trace.txt"
    assert gitreg(traced, GITREG_FAULT_TRACE=str(trace)).returncode == 0
    points = len(trace.read_text().splitlines())
    assert points > 2
    whole = {"churn/deprecated/1.0.0/1", "churn/production/2"}
    for point in range(1, points + 1):
        copy = tmp_path / f"kill-{point}"
        shutil.copytree(reg.root, copy, symlinks=True)
        before = git(copy, "rev-parse", "HEAD")
        assert gitreg(copy, GITREG_FAULT_KILL_AT=str(point)).returncode == -9
        run_cli("list", cwd=copy, check=True)  # opening the registry recovers
        tags = set(git(copy, "tag", "--points-at", "HEAD").split())
        if git(copy, "rev-parse", "HEAD") == before:
            assert not tags & whole, point
            assert gitreg(copy).returncode == 0, point  # and running it again finishes
        assert whole <= set(git(copy, "tag", "--points-at", "HEAD").split()), point
        assert git(copy, "status", "--porcelain") == "", point
        assert run_cli("check", cwd=copy).returncode == 0, point
        shutil.rmtree(copy)
