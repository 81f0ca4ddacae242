"""``gitreg check --base REF`` (issue 19): what a pull request changes, checked against its
merge base, gives a full check's verdict.

Property: on random histories of two models (promotions, forced ones, rollbacks, hand edits
of ``stages.yaml`` under any trailer, edited version files, a tightened policy, uncommitted
edits), made first on main and then on a pull request's branch, ``validate(base="main")``
finds exactly the problems of a full ``validate`` whenever main passed a full check (what
gating every pull request keeps true), and never one a full check does not; and the notices
(forced versions) of the models whose history it reads.
Derandomized, 30 examples: about 30 s.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml
from conftest import git, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_registries import churn, edit, with_policies

from gitreg.errors import GitregError
from gitreg.repo import yamlio
from gitreg.service import check
from gitreg.service.check import FileCheck, Problem, validate
from gitreg.service.registry import NewVersion, Registry

FLOOR = 0.88
MODELS = ("churn", "fraud")
VERSIONS = ("1.0.0", "1.1.0", "1.2.0", LATER := "2.0.0")  # LATER: by a "register" step
TRAILERS = {
    "none": "",
    "rollback": "Gitreg-Action: rollback\nGitreg-Model: {m}\nGitreg-Stage: production",
    "forced": "Gitreg-Action: promote\nGitreg-Stage: production\nGitreg-Reason: trust me",
}

model = st.sampled_from(MODELS)
version = st.sampled_from(VERSIONS)
step = st.one_of(
    st.tuples(st.just("promote"), model, version, st.booleans()),
    st.tuples(st.just("rollback"), model, version),
    st.tuples(st.just("edit"), model, version, st.sampled_from(sorted(TRAILERS))),
    st.tuples(st.just("edit"), model, version, st.sampled_from(sorted(TRAILERS))),
    st.tuples(st.just("tamper"), model, version),
    st.tuples(st.just("uncommitted"), model, version),
    st.tuples(st.just("staging"), model, version),  # an ungated stage: no history read
    st.tuples(st.just("policy"), st.sampled_from([0.8, 0.91, "from", "no_regression"])),
    # A version registered late: a stage named it before, or names it after (``from``
    # counts a hold from the registration on, which check --base reads from its tag).
    st.tuples(st.just("register"), model, st.just(LATER)),
)


def two_models(tmp_path: Path) -> Registry:
    """churn (sample_registries) and fraud, its copy committed by hand, under a policy."""
    registry = churn(tmp_path)
    copy_model(registry.root, "churn", "fraud")
    return with_policies(registry, {"production": {"min_metrics": {"accuracy": FLOOR}}})


def copy_model(root: Path, name: str, copy: str) -> None:
    """Commit a copy of model ``name``'s folder, by hand, as model ``copy``."""
    shutil.copytree(root / "models" / name, root / "models" / copy)
    for path in (root / "models" / copy).rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".dvc"):
            path.write_text(path.read_text().replace(name, copy))
    git(root, "add", f"models/{copy}")
    git(root, "commit", "--quiet", "-m", f"Add {copy}")


def _stages(root: Path, name: str) -> tuple[str, dict[str, object]]:
    rel = f"models/{name}/stages.yaml"
    return rel, yaml.safe_load((root / rel).read_text())


def _apply(root: Path, op: tuple[object, ...]) -> None:
    kind = op[0]
    registry = Registry(root)
    if kind == "policy":
        data = yaml.safe_load((root / "registry.yaml").read_text())
        # "from": production only from staging, which history or the stage's tags prove
        rule = ({"from": "staging", "min_metrics": {"accuracy": 0.8}} if op[1] == "from"
                else {"no_regression": ["accuracy"]} if op[1] == "no_regression"
                else {"min_metrics": {"accuracy": op[1]}})
        data["policies"] = {"production": rule}
        (root / "registry.yaml").write_text(yamlio.dumps(data))
        git(root, "commit", "--quiet", "--allow-empty", "-am", "Change the policy")
        return
    name, v = str(op[1]), str(op[2])
    if kind == "register":
        if not (root / f"models/{name}/versions/{v}.yaml").exists():
            _clean(root)
            registry.register(name, root / "registry.yaml", version=v,
                              info=NewVersion(metrics={"accuracy": 0.95}))
    elif kind == "promote":
        force = bool(op[3])
        with contextlib.suppress(GitregError):  # refused: nothing changed
            registry.promote(name, v, "production", force=force,
                             reason="on call" if force else None)
    elif kind == "rollback":
        with contextlib.suppress(GitregError):
            registry.rollback(name, "production", to=v)
    elif kind in ("edit", "uncommitted", "staging"):
        rel, data = _stages(root, name)
        stages = data.setdefault("stages", {})
        assert isinstance(stages, dict)
        stage = "staging" if kind == "staging" else "production"
        if stages.get(stage) == v:
            return
        stages[stage] = v
        (root / rel).write_text(yamlio.dumps(data))
        if kind == "staging":
            git(root, "commit", "--quiet", "-am", "Hand edit of staging")
        elif kind == "edit":
            trailer = TRAILERS[str(op[3])].format(m=name)
            # (--allow-empty: an edit back to what an uncommitted step left commits nothing)
            git(root, "commit", "--quiet", "--allow-empty", "-am",
                f"Hand edit\n\n{trailer}".rstrip())
    else:  # tamper: better numbers in a registered version file
        rel = f"models/{name}/versions/{v}.yaml"
        text = (root / rel).read_text() if (root / rel).exists() else "accuracy: 0.99"
        if "accuracy: 0.99" not in text:
            edit(root, rel, "accuracy: 0.", "accuracy: 0.99\n  old_accuracy: 0.")
            git(root, "commit", "--quiet", "-am", f"Fix the numbers of {v}")


def _clean(root: Path) -> None:
    """Commit what an ``uncommitted`` step left, so that branches can be switched."""
    if git(root, "status", "--porcelain", "--untracked-files=no").strip():
        git(root, "commit", "--quiet", "-am", "Hand edit")


def _seen(found: tuple[Problem, ...]) -> set[tuple[str, str, str]]:
    return {(p.file, p.key, p.message) for p in found}


def _gist(found: Iterable[Problem | tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """What each problem says, without its explanation in parentheses."""
    return {(p[0], p[1], p[2].split(" (")[0]) if isinstance(p, tuple) else
            (p.file, p.key, p.message.split(" (")[0]) for p in found}


_RUNS = itertools.count()
LANDS = "only within this pull request"
POLICY_MOVED = "changes in this pull request, which also moves"


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(on_main=st.lists(step, max_size=3), in_pr=st.lists(step, min_size=1, max_size=4))
def test_check_base_gives_a_full_checks_verdict(
    tmp_path: Path, on_main: list[tuple[object, ...]], in_pr: list[tuple[object, ...]],
) -> None:
    _same_verdict(tmp_path, on_main, in_pr)


# Steps around ``from``: the gated stage moved, staging moved, a version registered late.
about_from = st.one_of(
    st.tuples(st.just("promote"), model, version, st.booleans()),
    st.tuples(st.just("edit"), model, version, st.sampled_from(sorted(TRAILERS))),
    st.tuples(st.just("staging"), model, version),
    st.tuples(st.just("register"), model, st.just(LATER)),
)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(on_main=st.lists(about_from, max_size=4), in_pr=st.lists(about_from, min_size=1,
                                                                   max_size=3))
def test_from_is_judged_from_a_versions_registration_on(
    tmp_path: Path, on_main: list[tuple[object, ...]], in_pr: list[tuple[object, ...]],
) -> None:
    """production from staging from the start: check --base proves a hold from the stage's
    tags, else from the version's registration on (its tag), else reads the whole history;
    the verdict is a full check's."""
    _same_verdict(tmp_path, [("policy", "from"), *on_main], in_pr)


def _same_verdict(tmp_path: Path, on_main: list[tuple[object, ...]],
                  in_pr: list[tuple[object, ...]]) -> None:
    run = tmp_path / f"run{next(_RUNS)}"
    run.mkdir()
    root = two_models(run).root
    for op in on_main:
        _apply(root, op)
    _clean(root)
    main_ok = validate(root).ok
    git(root, "checkout", "--quiet", "-b", "pr")
    for op in in_pr:
        _apply(root, op)
    full, based = validate(root), validate(root, base="main")
    # Notices (forced versions, on record) are not problems: those of the models the pull
    # request touches are the same; the others were on record before it.
    # (Not those of a model whose history was not read: no gated stage moved; of one whose
    # history since the merge base was enough, those of the stages it moved.)
    scope = check.changed_since(Registry(root), "main")

    def moved(notice: tuple[str, str, str]) -> bool:
        name = notice[0].split("/")[1]
        if scope.models is None:
            return True
        if name not in scope.models or name in scope.settled:
            return False
        return name not in scope.recent or notice[1].removeprefix("stages.") in \
            scope.recent[name][1]

    # Where main fails (a stage naming a version not registered there), the explanation
    # of a verdict may differ: what a stage last held that passed is then unknown at the
    # merge base. The verdicts may not.
    said = _seen if main_ok else _gist
    notices = {n for n in said(full.notices) if moved(n)}
    assert notices <= said(based.notices) <= said(full.notices), (on_main, in_pr)
    # And what only the pull request as it lands shows (_landing): a version in staging
    # only within it, a policy it changes for a stage it moves. Each needs its kind of step.
    landing = {p for p in _seen(based.problems) if LANDS in p[2] or POLICY_MOVED in p[2]}
    kinds = {str(op[0]) for op in in_pr}
    assert all(("staging" in kinds) if LANDS in p[2] else ("policy" in kinds)
               for p in landing), (on_main, in_pr, landing)
    if main_ok:
        assert _seen(based.problems) - landing == _seen(full.problems), (on_main, in_pr)
    else:
        assert _gist(based.problems) - _gist(landing) <= _gist(full.problems), (on_main, in_pr)
    assert based.ok == (full.ok and not landing) or not main_ok


def _merges(root: Path, rev: str, message: str) -> bool:
    """Merge ``rev`` (a merge commit; conflicts go ``rev``'s way); False if git cannot."""
    _clean(root)
    done = subprocess.run(["git", "merge", "--quiet", "--no-ff", "--no-edit", "-X", "theirs",
                           "-m", message, rev], cwd=root, capture_output=True, check=False)
    if done.returncode != 0:
        subprocess.run(["git", "merge", "--abort"], cwd=root, capture_output=True, check=False)
    return done.returncode == 0


# Steps a branch takes that its merge can undo: stage moves and registrations.
moves = st.one_of(
    st.tuples(st.just("promote"), model, version, st.booleans()),
    st.tuples(st.just("rollback"), model, version),
    st.tuples(st.just("edit"), model, version, st.sampled_from(sorted(TRAILERS))),
    st.tuples(st.just("staging"), model, version),
    st.tuples(st.just("register"), model, st.just(LATER)),
)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(policy=st.sampled_from(["from", FLOOR, "no_regression"]),
       on_main=st.lists(moves, max_size=2), side=st.lists(moves, min_size=1, max_size=3),
       fork=st.integers(0, 2), in_pr=st.lists(step, min_size=1, max_size=3),
       merge_main=st.booleans())
def test_check_base_gives_a_full_checks_verdict_off_mains_line(
    tmp_path: Path, policy: object, on_main: list[tuple[object, ...]],
    side: list[tuple[object, ...]], fork: int, in_pr: list[tuple[object, ...]],
    merge_main: bool,
) -> None:
    """As the property above, on branches that are no straight line from main: main merges
    a feature branch (``--no-ff``); the pull request grows from one of that branch's
    commits, and may merge main in. The feature branch puts the stages back before main
    merges it (what it did inside, a regression even, main's check never saw), so main
    mostly passes. ``check --base`` reads the pull request from where its first-parent
    history meets main's; its verdict is a full check's whenever main passes one, unless
    it merged main in (then judged by its own changes: never more than a full check)."""
    run = tmp_path / f"run{next(_RUNS)}"
    run.mkdir()
    root = two_models(run).root
    for op in [("policy", policy), *on_main]:
        _apply(root, op)
    _clean(root)
    git(root, "checkout", "--quiet", "-b", "feature")
    inside = []
    for op in side:
        _apply(root, op)
        _clean(root)
        inside.append(git(root, "rev-parse", "HEAD").strip())
    for name in MODELS:
        git(root, "checkout", "main", "--", f"models/{name}/stages.yaml")
    git(root, "commit", "--quiet", "--allow-empty", "-m", "Stages as on main")
    git(root, "checkout", "--quiet", "main")
    git(root, "clean", "-fdq", "--", "models")
    if not _merges(root, "feature", "Merge feature"):
        return
    main_ok = validate(root).ok
    git(root, "checkout", "--quiet", "-b", "pr", inside[fork % len(inside)])
    git(root, "clean", "-fdq", "--", "models")  # weights a branch registered, now untracked
    for op in in_pr:
        _apply(root, op)
    if merge_main and not _merges(root, "main", "Merge main into pr"):
        return
    full, based = validate(root), validate(root, base="main")
    landing = {p for p in _seen(based.problems) if LANDS in p[2] or POLICY_MOVED in p[2]}
    story = (policy, on_main, side, fork, in_pr, merge_main)
    if main_ok and not merge_main:
        assert _seen(based.problems) - landing == _seen(full.problems), story
    else:
        # Having merged main in, it is judged by its own changes on main's tip (see the
        # test above): never a problem a full check of the branch does not find.
        assert _gist(based.problems) - _gist(landing) <= _gist(full.problems), story


def test_only_the_models_a_pull_request_touches_are_read(tmp_path: Path) -> None:
    """A broken fraud on main (pushed around the gate) is not the pull request's doing."""
    root = two_models(tmp_path).root
    _apply(root, ("edit", "fraud", "1.1.0", "none"))
    assert not validate(root).ok
    git(root, "checkout", "--quiet", "-b", "pr")
    assert validate(root, base="main").ok  # nothing changed yet
    _apply(root, ("edit", "churn", "1.1.0", "none"))
    found = validate(root, base="main").problems
    assert {p.file for p in found} == {"models/churn/stages.yaml"}
    scope = check.changed_since(Registry(root), "main")
    assert scope.models == frozenset({"churn"}) and scope.settled == frozenset()
    _apply(root, ("staging", "fraud", "1.1.0"))  # no policy on staging: no history to read
    assert check.changed_since(Registry(root), "main").settled == frozenset({"fraud"})
    _apply(root, ("policy", 0.8))  # registry.yaml: everything is checked again
    assert check.changed_since(Registry(root), "main").models is None


def test_a_file_check_sees_the_files_a_pull_request_touches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hook a per-file check (releases/) plugs into: its files, or None for all."""
    root = two_models(tmp_path).root
    seen: list[object] = []

    def releases(registry: Registry, paths: object) -> list[Problem]:
        seen.append(paths)
        return [Problem("releases/web.yaml", "models", "bad")] if paths else []

    monkeypatch.setattr(check, "FILE_CHECKS", [FileCheck("releases/", releases)])
    git(root, "checkout", "--quiet", "-b", "pr")
    assert validate(root, base="main").ok and seen == []  # no release file touched
    (root / "releases").mkdir()
    (root / "releases" / "web.yaml").write_text("name: web\n")
    assert not validate(root, base="main").ok and seen == [["releases/web.yaml"]]
    assert validate(root).ok and seen[-1] is None  # a full check: all of them


def test_the_command_line(tmp_path: Path) -> None:
    root = two_models(tmp_path).root
    git(root, "checkout", "--quiet", "-b", "pr")
    _apply(root, ("edit", "churn", "1.1.0", "none"))
    result = run_cli("check", "--base", "main", "--json", cwd=root)
    assert result.returncode == 10, result.stderr
    assert "models/churn/stages.yaml" in result.stdout
    result = run_cli("check", "--base", "no-such-branch", cwd=root)
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        "gitreg: error: unknown git revision 'no-such-branch' for --base; fetch it first "
        "(in CI: git fetch origin main, then --base origin/main)"]


def test_untracked_files_are_found_as_git_lists_them(tmp_path: Path) -> None:
    """check --base finds files not yet added without git's read of its index: the same list
    as ``git ls-files --others --exclude-standard``, ignored weights, staged, unstaged and
    removed-from-the-index files included; a folder holding a link is left to git."""
    root = two_models(tmp_path).root
    model = root / "models" / "churn"
    (model / "versions" / "9.9.9.yaml").write_text("new\n")  # untracked
    (model / "notes").mkdir()
    (model / "notes" / "todo.txt").write_text("todo\n")  # untracked, in a new folder
    (model / "artifacts" / "1.0.0" / "model.pkl").write_text("more\n")  # beside ignored weights
    (model / "staged.txt").write_text("staged\n")
    git(root, "add", "models/churn/staged.txt")
    git(root, "rm", "--quiet", "--cached", "models/churn/versions/1.1.0.yaml")  # untracked now
    (model / "versions" / "1.2.0.yaml").write_text("edited\n")  # tracked, edited
    (root / "releases").mkdir()
    (root / "releases" / "web.yaml").write_text("name: web\n")
    where = ["models/churn", "models/fraud", "releases/"]
    registry = Registry(root)
    diff = git(root, "diff", "--name-status", "--no-renames", "-z", "HEAD", "--").split("\0")
    uncommitted = list(zip(diff[0::2], diff[1::2], strict=False))
    listed = git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", *where)
    expected = sorted(p for p in listed.split("\0") if p)
    assert "models/churn/versions/1.1.0.yaml" in expected and len(expected) == 5
    assert (model / "artifacts" / "1.0.0" / "model-1.0.0.bin").is_file()  # ignored: not listed
    assert check.untracked(registry.git, root, where, uncommitted) == expected
    (model / "notes" / "link").symlink_to(root / "releases")
    assert check.untracked(registry.git, root, where, uncommitted) is None


def test_a_squash_merge_of_several_gitreg_commits_keeps_the_forced_reason(
    tmp_path: Path,
) -> None:
    """A pull request that forces churn 1.1.0 into production and then rolls its staging
    back, squash-merged: the forced promotion's trailers are no longer the message's last
    paragraph (git's reading), and ``check --base`` on main still reads its reason: a
    notice, as in a full check, not a policy violation."""
    registry = two_models(tmp_path)
    root = registry.root
    git(root, "checkout", "--quiet", "-b", "pr")
    registry.promote("churn", "1.1.0", "production", force=True, reason="on call")
    registry.rollback("churn", "staging")
    messages = git(root, "log", "--reverse", "--format=%B", "main..pr")
    git(root, "checkout", "--quiet", "main")
    git(root, "merge", "--quiet", "--squash", "pr")
    git(root, "commit", "--quiet", "-m", "Churn fixes (#5)", "-m", messages.strip())
    full, based = validate(root), validate(root, base="main~1")
    assert full.ok and based.ok, (full.problems, based.problems)
    assert [n.message.split(" at ")[0] for n in based.notices] == [
        "1.1.0 was forced into production"]
    assert _seen(based.notices) == _seen(full.notices)


# -- judged as it lands: a squash or a merge commit keeps only the net change --------------



def _hand(root: Path, name: str, stage: str, version: str) -> None:
    """Commit ``stage`` of ``name`` set to ``version`` by hand (no trailer)."""
    rel, data = _stages(root, name)
    stages = data.setdefault("stages", {})
    assert isinstance(stages, dict)
    stages[stage] = version
    (root / rel).write_text(yamlio.dumps(data))
    git(root, "commit", "--quiet", "-am", f"{stage}: {version}")


def _landed(root: Path, how: str) -> Path:
    """A copy of ``root`` with branch pr merged into main by ``how`` (squash or merge)."""
    copy = root.parent / f"landed-{how}"
    shutil.copytree(root, copy, symlinks=True)
    git(copy, "checkout", "--quiet", "main")
    if how == "squash":
        git(copy, "merge", "--quiet", "--squash", "pr")
        git(copy, "commit", "--quiet", "-m", "Squashed (#7)")
    else:
        git(copy, "merge", "--quiet", "--no-ff", "--no-edit", "pr")
    return copy


def test_a_version_in_staging_only_within_the_pull_request_does_not_pass_from(
    tmp_path: Path,
) -> None:
    """staging takes 1.1.0, production takes it, staging goes back: every step passes
    ``from: staging`` on the branch, but main, after a squash or a merge commit, holds 1.1.0
    in production without its ever being in staging there. ``check --base`` says so."""
    root = with_policies(churn(tmp_path), {"production": {"from": "staging"}}).root
    git(root, "checkout", "--quiet", "-b", "pr")
    for stage, version in (("staging", "1.1.0"), ("production", "1.1.0"),
                           ("staging", "1.2.0")):
        _hand(root, "churn", stage, version)
    assert validate(root).ok  # the branch's own history: every step passed
    based = validate(root, base="main")
    assert [(p.file, p.key) for p in based.problems] == [
        ("models/churn/stages.yaml", "stages.production")], based.problems
    assert "churn 1.1.0 was in staging only within this pull request" in \
        based.problems[0].message
    for how in ("squash", "merge"):  # what main's own check then says
        landed = validate(_landed(root, how))
        assert [p.message.split(" (")[0] for p in landed.problems] == [
            "churn 1.1.0 must be in staging before production"], (how, landed.problems)


def test_from_passes_when_the_version_was_in_staging_on_main_or_is_there_still(
    tmp_path: Path,
) -> None:
    root = with_policies(churn(tmp_path), {"production": {"from": "staging"}}).root
    _hand(root, "churn", "staging", "1.1.0")  # on main, by hand: no tag proves it
    _hand(root, "churn", "staging", "1.2.0")
    git(root, "checkout", "--quiet", "-b", "pr")
    _hand(root, "churn", "production", "1.2.0")  # in staging now, at the merge base too
    assert validate(root, base="main").ok
    _hand(root, "churn", "staging", "1.0.0")  # staging moves on: 1.2.0 was there on main
    assert validate(root, base="main").ok
    _hand(root, "churn", "production", "1.1.0")  # in staging on main: its history says so
    assert validate(root, base="main").ok, validate(root, base="main").problems
    git(root, "checkout", "--quiet", "-b", "pr2", "main")
    registry = Registry(root)
    registry.register("churn", root / "registry.yaml", version="2.0.0")
    registry.promote("churn", "2.0.0", "staging")
    registry.promote("churn", "2.0.0", "production")
    registry.rollback("churn", "staging")  # back to 1.2.0
    problems = validate(root, base="main").problems
    assert [p.key for p in problems] == ["stages.production"] and LANDS in problems[0].message


def test_a_stage_moved_and_moved_back_is_judged_step_by_step(tmp_path: Path) -> None:
    """No net change to stages.yaml, but a step a full check reports: production takes
    1.2.0, then is put back by hand to 1.0.0, worse (found by the property test below)."""
    root = with_policies(churn(tmp_path), {"production": {"no_regression": ["accuracy"]}}).root
    assert validate(root).ok
    git(root, "checkout", "--quiet", "-b", "pr")
    _hand(root, "churn", "production", "1.2.0")
    _hand(root, "churn", "production", "1.0.0")
    full, based = validate(root), validate(root, base="main")
    assert not full.ok
    assert _seen(based.problems) == _seen(full.problems)


def _merge(root: Path, rev: str, message: str) -> None:
    git(root, "merge", "--quiet", "--no-ff", "--no-edit", "-m", message, rev)


def _made_and_undone(root: Path, made: str, back: str) -> str:
    """On a feature branch, production takes ``made`` by hand and goes ``back``; main merges
    the branch (no net change). The commit inside the branch, which nothing judged."""
    git(root, "checkout", "--quiet", "-b", "feature")
    _hand(root, "churn", "production", made)
    inside = git(root, "rev-parse", "HEAD").strip()
    _hand(root, "churn", "production", back)
    git(root, "checkout", "--quiet", "main")
    _merge(root, "feature", "Merge feature")
    return inside


def _shape(tmp_path: Path, shape: str) -> Path:
    """A pull request whose history is not a straight line from main (found in review).

    - ``fork-in-merged``: it grew from a commit inside a branch main merged, a commit
      nothing judged (production took 1.1.0, never in staging; the branch put it back).
    - ``merged-main``: it merged main in ("Update branch"), whose stage moves then reach
      its first-parent history as one merge.
    - ``criss-cross``: main merged the pull request's first commit, and the pull request
      merged main: two merge bases.
    """
    root = with_policies(churn(tmp_path), {"production": {"from": "staging"}}).root
    if shape == "fork-in-merged":
        inside = _made_and_undone(root, "1.1.0", "1.0.0")
        git(root, "checkout", "--quiet", "-b", "pr", inside)
        _hand(root, "churn", "dev", "1.0.0")
    elif shape == "merged-main":
        Registry(root).register("fraud", root / "registry.yaml", version="1.0.0")
        git(root, "checkout", "--quiet", "-b", "pr")
        _hand(root, "fraud", "dev", "1.0.0")
        git(root, "checkout", "--quiet", "main")
        for stage, version in (("staging", "1.1.0"), ("production", "1.1.0"),
                               ("staging", "1.2.0")):
            _hand(root, "churn", stage, version)
        git(root, "checkout", "--quiet", "pr")
        _merge(root, "main", "Merge main into pr")
    else:
        git(root, "checkout", "--quiet", "-b", "pr")
        _hand(root, "churn", "staging", "1.1.0")
        first = git(root, "rev-parse", "HEAD").strip()
        git(root, "checkout", "--quiet", "main")
        _hand(root, "churn", "dev", "1.0.0")
        other = git(root, "rev-parse", "HEAD").strip()
        _merge(root, first, "Merge the pull request's first commit")
        git(root, "checkout", "--quiet", "pr")
        _merge(root, other, "Merge main's commit")
        _hand(root, "churn", "production", "1.1.0")
        _hand(root, "churn", "staging", "1.2.0")
    return root


@pytest.mark.parametrize("shape", ["fork-in-merged", "criss-cross"])
def test_a_pull_request_off_mains_first_parent_line_gets_a_full_checks_verdict(
    tmp_path: Path, shape: str
) -> None:
    """check --base reads what a pull request adds from where its first-parent history
    meets main's, the last state main's own check judged, when its merge base is no such
    state: not from a commit inside a merged branch (a regression made there passed), nor
    from either of two merge bases. Its verdict is then a full check's, main passing one."""
    root = _shape(tmp_path, shape)
    git(root, "checkout", "--quiet", "main")
    assert validate(root).ok
    git(root, "checkout", "--quiet", "pr")
    full, based = validate(root), validate(root, base="main")
    assert _seen(based.problems) == _seen(full.problems), (based.problems, full.problems)
    assert full.ok == (shape == "criss-cross")


def test_a_branch_from_inside_a_merged_branch_that_merged_main_in_is_read_whole(
    tmp_path: Path
) -> None:
    """It grew from a commit main's check never judged, then merged main in: its own steps
    began from that commit's stages, not main's. Production takes 1.3.0 there, better
    than what it held on that line, worse than main's 1.2.0: main fails once it is merged.
    The moved model is read whole, as a full check reads it (found in review)."""
    root = with_policies(churn(tmp_path), {"production": {"no_regression": ["accuracy"]}}).root
    registry = Registry(root)
    registry.register("churn", root / "registry.yaml", version="1.3.0",
                      info=NewVersion(metrics={"accuracy": 0.915}))
    registry.promote("churn", "1.2.0", "production")
    inside = _made_and_undone(root, "1.0.0", "1.2.0")
    assert validate(root).ok
    git(root, "checkout", "--quiet", "-b", "pr", inside)
    _hand(root, "churn", "production", "1.3.0")
    git(root, "merge", "--quiet", "--no-ff", "--no-edit", "-X", "ours", "main")
    based = validate(root, base="main")
    assert not based.ok and _gist(based.problems) <= _gist(validate(root).problems)
    assert not validate(_landed(root, "merge")).ok


def test_a_pull_request_that_merged_main_in_is_judged_by_its_own_changes(
    tmp_path: Path
) -> None:
    """"Update branch": check --base judges the branch's own changes on main's tip, as a
    merge commit or a squash lands them, in the time of a straight pull request. A full
    check of the branch also reads main's moves, arriving as that one merge, and fails
    (staging and production changed in one step): main, after the merge, passes."""
    root = _shape(tmp_path, "merged-main")
    assert validate(root, base="main").ok
    assert [p.message.split(" (")[0] for p in validate(root).problems] == [
        "churn 1.1.0 must be in staging before production"]
    assert validate(_landed(root, "merge")).ok
    _hand(root, "fraud", "production", "1.0.0")  # its own move is judged as ever
    assert not validate(root, base="main").ok


def test_a_policy_changed_in_the_pull_request_that_moves_its_stage_is_reported(
    tmp_path: Path,
) -> None:
    """The move would be judged by the policy it brings: a policy is changed on its own."""
    root = two_models(tmp_path).root  # production: accuracy at least FLOOR
    git(root, "checkout", "--quiet", "-b", "pr")
    edit(root, "registry.yaml", f"accuracy: {FLOOR}", "accuracy: 0.5")
    git(root, "commit", "--quiet", "-am", "Lower the bar")
    assert validate(root, base="main").ok  # the policy alone: reviewed as what it is
    _hand(root, "churn", "production", "1.1.0")  # 0.85: below main's bar
    _hand(root, "fraud", "production", "1.1.0")
    full, based = validate(root), validate(root, base="main")
    assert full.ok
    assert [(p.file, p.key, p.message) for p in based.problems] == [(
        "registry.yaml", "policies.production",
        "changes in this pull request, which also moves churn and 1 more in production: the "
        "move would be judged by the policy it brings; change the policy in a pull request of "
        "its own, and move stages once it is merged")]
    git(root, "checkout", "--quiet", "main")
    git(root, "merge", "--quiet", "--ff-only", "pr~2")  # the policy, merged on its own
    git(root, "checkout", "--quiet", "pr")
    assert validate(root, base="main").ok  # now judged by the policy main has


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=6))
def test_a_check_judged_in_two_processes_reports_what_one_process_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: list[tuple[object, ...]],
) -> None:
    # A full check of a large registry judges half of the models in a forked process
    # (check._judged, issue 19). Its report must be the one process's, in the same order:
    # policies, rollbacks, forced versions, tampered files and tags made by hand.
    from gitreg.repo.history import History

    run = tmp_path / f"fork{next(_RUNS)}"
    run.mkdir()
    root = two_models(run).root
    # A third model, first by name: each process's half is then not a run of the names.
    copy_model(root, "fraud", "alpha")
    for op in steps:
        _apply(root, op)
    git(root, "tag", "churn@v9.9.9")  # no such version
    git(root, "tag", "alpha@v9.9.9")
    first = git(root, "rev-list", "--max-parents=0", "HEAD").strip()
    git(root, "tag", "fraud/production/99", first)  # no such stage change
    monkeypatch.setattr(check, "PARALLEL_FROM", 0)
    writers = run / "writers"
    flush = History.flush

    def noted(self: History) -> None:  # which processes write the log to the cache
        if self._unsaved:
            with writers.open("a") as out:
                out.write(f"{os.getpid()}\n")
        flush(self)

    monkeypatch.setattr(History, "flush", noted)
    monkeypatch.setattr(check, "_forkable", lambda: False)
    one = validate(root)
    shutil.rmtree(root / ".git" / "gitreg-cache", ignore_errors=True)
    writers.unlink(missing_ok=True)
    monkeypatch.setattr(check, "_forkable", lambda: True)
    two = validate(root)
    assert two == one, steps
    assert writers.read_text().split() != [str(os.getpid())]  # the other process wrote it
    assert "fraud/production/99" in {p.file.removeprefix("refs/tags/") for p in one.problems}


@pytest.mark.parametrize("other", ["working", "done"])
def test_ctrl_c_while_a_check_runs_in_two_processes_prints_no_traceback(
    tmp_path: Path, other: str
) -> None:
    # Ctrl-C reaches the whole foreground process group: the forked process of a full
    # check (check._judged), still judging its models or done and waiting, must end
    # quietly, and the main one report the interruption.
    root = two_models(tmp_path).root
    script = tmp_path / "slow_check.py"
    script.write_text(textwrap.dedent("""\
        import os, sys, time
        from gitreg.service import check
        check.PARALLEL_FROM = 0
        check._forkable = lambda: True
        main, judge, edits = os.getpid(), check._judge_half, check._edits

        def working():
            print("forked", flush=True)
            time.sleep(60)
            return judge()

        def done(*args):  # the main process's own work goes on; the other's has ended
            print("forked", flush=True)
            time.sleep(60)
            return edits(*args)

        if sys.argv[2] == "working":
            check._judge_half = working
        else:
            check._edits = done
        try:
            check.validate(sys.argv[1])
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\\n")
            sys.exit(130)
    """))

    def foreground() -> None:  # as a shell starts a job: SIGINT at its default
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, str(script), str(root), other],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=foreground)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "forked\n"
        time.sleep(1)  # the other process's few models judged, if it is done
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert err == "interrupted\n"
