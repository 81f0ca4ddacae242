"""`gitreg check`: every kind of problem a hand edit can bring, as file, key and what to do.

Policies are covered in test_policy.py; here, schemas and consistency. Each corruption is
made on a copy of a clean registry, checked in process, and must yield exactly the
problems listed (a clean registry must yield none, so that no test passes by accident).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot
from sample_registries import churn, edit

from gitreg.errors import CorruptRegistry
from gitreg.repo import yamlio
from gitreg.service.check import Problem, problem_from, validate
from gitreg.service.registry import NewVersion, Registry

CHECK_FAILED = 10
NOT_A_REGISTRY = 6

V100 = "models/churn/versions/1.0.0.yaml"
STAGES = "models/churn/stages.yaml"
POINTER = "models/churn/artifacts/1.0.0/model-1.0.0.bin.dvc"


# A version file's registration fields are fixed (issue 12): editing one is a problem too.
EDITED = "changed in the work tree (not committed) since the registration at "


def _copy_version(root: Path, name: str) -> None:
    shutil.copy(root / V100, root / "models/churn/versions" / name)


# name -> (hand edit, the problems it must produce: file, key, text in the message)
CORRUPTIONS: dict[str, tuple[Callable[[Path], None], list[tuple[str, str, str]]]] = {
    "metric not a number": (
        lambda r: edit(r, V100, "accuracy: 0.9", "accuracy: high"),
        [(V100, "metrics.accuracy", "expected a number")]),
    "version file not YAML": (
        lambda r: edit(r, V100, "name: churn", "name: [churn"),
        [(V100, "line 2", "not valid YAML for gitreg")]),
    "version file in the wrong place": (
        lambda r: _copy_version(r, "1.5.0.yaml"),
        [("models/churn/versions/1.5.0.yaml", "name/version",
          "says churn@1.0.0, but the file's place says churn@1.5.0")]),
    "not a version file name": (
        lambda r: _copy_version(r, "latest.yaml"),
        [("models/churn/versions/latest.yaml", "file name", "named <semver>.yaml")]),
    "weights outside the version's folder": (
        lambda r: edit(r, V100, "path: models/churn/artifacts/1.0.0/",
                       "path: models/churn/artifacts/1.1.0/"),
        [(V100, "artifact.path", "is not in the version's own folder"),
         (V100, "artifact.path", EDITED)]),
    "weights pointer missing": (
        lambda r: (r / POINTER).unlink(),
        [(V100, "artifact.path", f"the weights pointer {POINTER} is missing; restore it")]),
    "weights pointer names other weights": (
        lambda r: edit(r, POINTER, "md5: ", "md5: 0"),
        [(POINTER, "outs[0].md5", f"but {V100} records")]),
    "weights pointer of another size": (
        lambda r: edit(r, POINTER, "size: ", "size: 1"),
        [(POINTER, "outs[0].size", "the pointer no longer names the registered weights")]),
    "weights pointer without outs": (
        lambda r: (r / POINTER).write_text("outs: []\n"),
        [(POINTER, "outs", "expected one output")]),
    "depends_on an unregistered version": (
        lambda r: edit(r, V100, "depends_on: []", "depends_on: [features@2.1.0]"),
        [(V100, "lineage.depends_on[0]", "features@2.1.0 is not registered in this registry"),
         (V100, "lineage.depends_on", EDITED)]),
    "depends_on without a version": (
        lambda r: edit(r, V100, "depends_on: []", "depends_on: [features]"),
        [(V100, "lineage.depends_on[0]", "does not name a version"),
         (V100, "lineage.depends_on", EDITED)]),
    "stage unknown to registry.yaml": (
        lambda r: edit(r, STAGES, "production: 1.0.0", "production: 1.0.0\n  qa: 1.0.0"),
        [(STAGES, "stages.qa", "unknown stage 'qa': registry.yaml lists dev, staging")]),
    "exclusive stage holding two": (
        lambda r: edit(r, STAGES, "production: 1.0.0", "production: [1.0.0, 1.2.0]"),
        [(STAGES, "stages.production", "production is exclusive but holds 1.0.0, 1.2.0")]),
    "stage holding an unregistered version": (
        lambda r: edit(r, STAGES, "staging: 1.2.0", "staging: 1.9.0"),
        [(STAGES, "stages.staging", "churn 1.9.0 is not registered")]),
    "stage holding a v-prefixed version": (
        lambda r: edit(r, STAGES, "staging: 1.2.0", "staging: v1.2.0"),
        [(STAGES, "stages.staging", "write the version as 1.2.0")]),
    "stages.yaml of another model": (
        lambda r: edit(r, STAGES, "model: churn", "model: fraud"),
        [(STAGES, "model", "says 'fraud', expected 'churn'")]),
    "stages.yaml not YAML": (
        lambda r: (r / STAGES).write_text("stages: [\n"),
        [(STAGES, "line 2", "not valid YAML for gitreg")]),
    "model folder with a bad name": (
        lambda r: (r / "models/Fraud/versions").mkdir(parents=True),
        [("models/Fraud", "folder name", "invalid model name 'Fraud'")]),
    "model folder without versions": (
        lambda r: (r / "models/fraud").mkdir() or (r / "models/fraud/stages.yaml").touch(),
        [("models/fraud", "versions", "model folder without a versions/ folder")]),
    "registry.yaml invalid": (
        lambda r: edit(r, "registry.yaml", "schema_version: 1", "schema_version: one"),
        [("registry.yaml", "schema_version", "expected a positive integer")]),
}


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    registry = churn(tmp_path)
    assert validate(registry.root).problems == ()
    return registry.root


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_check_reports_each_problem_with_file_key_and_what_to_do(clean: Path, case: str) -> None:
    corrupt, expected = CORRUPTIONS[case]
    corrupt(clean)
    before = snapshot(clean)
    problems = validate(clean).problems
    assert [(p.file, p.key) for p in problems] == [(f, k) for f, k, _ in expected], problems
    for problem, (_, _, text) in zip(problems, expected, strict=True):
        assert text in problem.message, problem
    assert snapshot(clean) == before  # check only reads


def test_depends_on_a_registered_version_passes(clean: Path, tmp_path: Path) -> None:
    registry = Registry(clean)
    weights = tmp_path / "features.bin"
    weights.write_bytes(b"features")
    registry.register("features", weights, version="2.1.0")
    registry.register("churn", weights, version="2.0.0", info=NewVersion.from_options(
        meta=yamlio.load_input(_meta(tmp_path, "lineage:\n  depends_on: [features@2.1.0]\n"))))
    assert validate(clean).ok
    edit(clean, "models/churn/versions/2.0.0.yaml", "features@2.1.0", "features@2.2.0")
    assert [p.key for p in validate(clean).problems] == [
        "lineage.depends_on[0]", "lineage.depends_on"]


def _meta(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "meta.yaml"
    path.write_text(text)
    return path


def test_check_on_the_command_line(clean: Path, tmp_path: Path) -> None:
    proc = run_cli("check", cwd=clean / "models")  # finds the registry above
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok: no problems found\n", "")

    edit(clean, STAGES, "staging: 1.2.0", "staging: 1.9.0")
    (clean / POINTER).unlink()
    git(clean, "commit", "-qam", "Hand edits")  # committed: no warning of uncommitted ones
    proc = run_cli("check", cwd=clean)
    assert proc.returncode == CHECK_FAILED
    assert proc.stdout.splitlines() == [
        f"{V100}: artifact.path: the weights pointer {POINTER} is missing; restore it "
        f"(git checkout -- {POINTER})",
        f"{STAGES}: stages.staging: churn 1.9.0 is not registered (no "
        "models/churn/versions/1.9.0.yaml); register it or remove it here",
    ]
    assert proc.stderr == "gitreg: check found 2 problem(s)\n"

    proc = run_cli("check", "--json", cwd=clean)
    assert proc.returncode == CHECK_FAILED
    report = json.loads(proc.stdout)
    assert report["ok"] is False and report["warnings"] == []
    assert [(p["file"], p["key"]) for p in report["problems"]] == [
        (V100, "artifact.path"), (STAGES, "stages.staging")]

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    proc = run_cli("check", cwd=outside)
    assert proc.returncode == NOT_A_REGISTRY and proc.stdout == ""
    assert proc.stderr.startswith("gitreg: error: not inside a gitreg registry")


def test_check_warns_but_passes_on_an_unknown_key(clean: Path) -> None:
    edit(clean, "registry.yaml", "schema_version: 1", "schema_version: 1\nnotifications: {}")
    git(clean, "commit", "-qam", "A key of a newer gitreg")
    report = validate(clean)
    assert report.ok
    assert report.warnings == (
        "registry.yaml: unknown key 'notifications' ignored (a newer gitreg may use it)",)


def test_check_refuses_a_shallow_clone_with_how_to_deepen(clean: Path, tmp_path: Path) -> None:
    # Its policies and tags read history: a verdict on part of it could be wrong (issue 14).
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{clean}", str(clone))
    proc = run_cli("check", cwd=clone)
    assert proc.returncode == 4 and proc.stdout == ""
    assert "shallow" in proc.stderr and "git fetch --unshallow" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    git(clone, "fetch", "--quiet", "--unshallow", "--tags")
    assert run_cli("check", cwd=clone).returncode == 0


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (CorruptRegistry.at("a.yaml", "metrics.acc", "expected a number"),
         Problem("a.yaml", "metrics.acc", "expected a number")),
        (CorruptRegistry.at("a.yaml", None, "not valid YAML for gitreg: x: y", line=3),
         Problem("a.yaml", "line 3", "not valid YAML for gitreg: x: y")),
        (CorruptRegistry.at("a.yaml", "top level", "expected a mapping"),
         Problem("a.yaml", "top level", "expected a mapping")),
        (CorruptRegistry.at("a.yaml", None, "file is missing"),
         Problem("a.yaml", "top level", "file is missing")),
        (CorruptRegistry.at("b.yaml", "x", "y"), Problem("a.yaml", "top level", "b.yaml: x: y")),
        (CorruptRegistry("a.yaml: something"), Problem("a.yaml", "top level", "something")),
    ],
)
def test_problem_from_reads_the_data_an_error_carries(
    error: CorruptRegistry, problem: Problem
) -> None:
    assert problem_from(error, "a.yaml") == problem
    assert str(error).startswith(error.file or "a.yaml")
