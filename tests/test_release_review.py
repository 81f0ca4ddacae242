"""Releases as a reviewer and a Python user meet them (issue 18): the markdown comment of a
proposed rollback says what it undoes and what each model held, and the Python API reads
releases as the command line does (``show release``, ``diff --release``, ``ci event``).

The registry is test_releases.py's five models (production: from staging, accuracy >= 0.8).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import git, run_cli
from test_releases import five, merge, with_origin

from gitreg.errors import InvalidInput, NotFound
from gitreg.service import release as releases
from gitreg.service import release_history
from gitreg.service.check import validate
from gitreg.service.registry import Registry


def test_the_comment_of_a_rollback_says_what_it_undoes_and_what_each_model_held(
    tmp_path: Path,
) -> None:
    registry = five(tmp_path)
    root = registry.root
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.1.0"], "dev")
    releases.rollback(registry, "ranking")  # dev held nothing before: emptied
    proc = run_cli("diff", "--release", "ranking", "--format", "markdown", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n\n") == [
        "## Release `ranking` 2: rolls back release 1 in dev",
        "### `ranker`: nothing (emptied: was 1.1.0)",
        "### `encoder`: nothing (emptied: was 1.1.0)\n"]


def test_no_model_says_the_option_once(tmp_path: Path) -> None:
    proc = run_cli("release", "ranking", "--stage", "production", cwd=five(tmp_path).root)
    assert proc.returncode == 3
    assert proc.stderr == ("gitreg: error: name the release's models with --model "
                           "MODEL@VERSION (repeatable)\n")


def test_the_python_api_reads_releases_as_the_command_line_does(tmp_path: Path) -> None:
    from gitreg import ModelRegistry

    api = ModelRegistry(five(tmp_path).root)
    api.release("pair", ["ranker@1.1.0", "encoder#staging"], "production")
    api.release("solo", ["fraud@1.1.0"], "production")
    api.promote_model("1.0.0", "production", name="ranker")
    api.rollback_release("solo")

    assert [(r.name, r.n) for r in api.list_releases()] == [("pair", 1), ("solo", 1),
                                                            ("solo", 2)]
    assert [r.n for r in api.list_releases("solo")] == [1, 2]
    assert api.release_standing("pair").state == "partial"
    assert api.release_standing("solo", 1).state == "replaced"
    found = api.release_diff("pair")
    assert [(m.model, m.version, m.previous) for m, _ in found.diffs] == [
        ("ranker", "1.1.0", "1.0.0"), ("encoder", "1.1.0", "1.0.0")]
    assert all(d is not None and d.b == "1.1.0" for _, d in found.diffs)
    between = api.release_diff("solo", 1, 2)
    assert [(m.model, m.version, m.previous) for m, _ in between.diffs] == [
        ("fraud", "1.0.0", "1.1.0")]
    event = api.release_event("release/pair/1")
    assert (event.tag, event.stage, [(m.model, m.version, m.previous) for m in event.members]
            ) == ("release/pair/1", "production", [("ranker", "1.1.0", "1.0.0"),
                                                   ("encoder", "1.1.0", "1.0.0")])
    with pytest.raises(InvalidInput):
        api.list_releases("../x")
    with pytest.raises(NotFound):
        api.release_standing("pair", 7)


def test_a_release_in_a_stage_of_several_versions_and_its_rollback(tmp_path: Path) -> None:
    """Rolling back takes the release's versions out and leaves the others: the rollback
    holds, for check, show release and ci event alike, until a later promotion."""
    registry = five(tmp_path)
    root = registry.root
    config = yaml.safe_load((root / "registry.yaml").read_text())
    config["stages"].append({"name": "shadow", "exclusive": False})
    (root / "registry.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(root, "commit", "--quiet", "-am", "a shadow stage of several versions")
    registry = Registry(root)
    registry.promote("ranker", "1.0.0", "shadow")
    releases.release(registry, "shadowing", ["ranker@1.1.0", "encoder@1.1.0"], "shadow")
    back = releases.rollback(registry, "shadowing")
    assert [(m.model, m.version, m.previous) for m in back.members] == [
        ("ranker", None, "1.1.0"), ("encoder", None, "1.1.0")]
    assert registry.which("ranker", "shadow") == ("1.0.0",)
    assert validate(root).ok, validate(root)
    assert release_history.standing(registry, "shadowing").state == "complete"
    proc = run_cli("ci", "event", "release/shadowing/2", "--format", "json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    registry.promote("ranker", "1.1.0", "shadow")
    proc = run_cli("show", "release", "shadowing", "--json", cwd=root)
    said = json.loads(proc.stdout)
    assert (said["state"], [m["holds"] for m in said["models"]]) == ("partial", [False, True])


def test_a_squash_of_two_releases_and_a_promotion_keeps_each(tmp_path: Path) -> None:
    """One squashed commit adds two release files and a single-model promotion of the same
    stage: ci tag tags both releases, history shows each release with its models and the
    promotion as its own, and check passes."""
    registry = five(tmp_path)
    root = registry.root
    with_origin(registry)
    git(root, "switch", "--quiet", "-c", "batch")
    releases.release(registry, "ranking", ["ranker@1.1.0", "encoder@1.1.0"], "production")
    registry.promote("fraud", "1.1.0", "production")
    releases.release(registry, "blending", ["blend@1.1.0"], "production")
    git(root, "push", "--quiet", "origin", "batch")
    git(root, "switch", "--quiet", "main")
    merge(root, "batch", "squash")
    proc = run_cli("ci", "tag", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert {"release/ranking/1", "release/blending/1"} <= set(proc.stdout.split())
    entries = json.loads(run_cli("history", "--stage", "production", "--json",
                                 cwd=root).stdout)
    last = [(e["action"], e.get("release"), e.get("model")) for e in entries[-3:]]
    assert sorted(last, key=str) == sorted([("release", "ranking", None),
                                            ("promote", None, "fraud"),
                                            ("release", "blending", None)], key=str), last
    assert validate(root).ok, validate(root)


def test_a_proposed_release_in_json_names_its_branch(tmp_path: Path) -> None:
    registry = five(tmp_path)
    root = registry.root
    origin = with_origin(registry)
    proc = run_cli("release", "ranking", "--model", "ranker@1.1.0", "--stage", "production",
                   "--propose", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    said = json.loads(proc.stdout)
    assert (said["proposed_branch"], said["tag"]) == ("gitreg/release-ranking-1", None)
    assert "gitreg/release-ranking-1" in git(origin, "branch", "--list")
    proc = run_cli("release", "ranking", "--model", "ranker@1.1.0", "--stage", "production",
                   "--json", cwd=root)
    assert json.loads(proc.stdout)["proposed_branch"] is None
