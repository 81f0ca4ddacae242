"""Reviewed writes as a team makes them (issue 14): a registration trained on a branch and a
proposed promotion, merged by merge commit, squash or rebase the way a forge does it (with
plain git), tagged by CI's `gitreg ci tag --push`; afterwards `pull`, `--push` and `check`
pass in the author's clone and in a second clone made before the merge."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import forge_merge, git, write_weights

from gitreg.cli.app import main as gitreg_main
from gitreg.service.registry import Registry

Gitreg = Callable[..., str]


@pytest.fixture
def gitreg(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Gitreg:
    """``gitreg ARGS`` in ``cwd`` (in this process: the CLI's own funnel); its stdout, after
    checking it succeeded with nothing on stderr."""
    def run(*args: str, cwd: Path, stderr: str = "") -> str:
        monkeypatch.chdir(cwd)
        code = gitreg_main(list(args))
        out = capsys.readouterr()
        assert (code, out.err) == (0, stderr), f"gitreg {' '.join(args)}: {out.err}"
        return out.out
    return run


@pytest.fixture
def site(tmp_path: Path, storage: Path) -> Path:
    """``origin.git`` with churn 1.0.0 registered and in staging, all pushed; clones
    ``author`` and ``other`` (made before anything below), and ``forge`` (main's checkout
    where pull requests are merged)."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", str(origin))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(origin), str(seed))
    registry = Registry.init(seed, remote=str(storage))
    registry.register("churn", write_weights(tmp_path / "w1", b"one"), version="1.0.0",
                      stage="staging")
    git(seed, "push", "--quiet", "origin", "main", "--tags")
    for name in ("author", "other", "forge"):
        git(tmp_path, "clone", "--quiet", str(origin), name)
    shutil.rmtree(seed)
    return tmp_path


def merge(forge: Path, branch: str, how: str) -> None:
    """Merge ``origin/<branch>`` into main as a forge's merge button does, and push main."""
    git(forge, "pull", "--quiet", "--ff-only", "origin", "main")
    git(forge, "fetch", "--quiet", "origin", branch)
    forge_merge(forge, branch, how)


def ci_tags(site: Path, gitreg: Gitreg) -> list[str]:
    """What CI on main does after the merge: a fresh checkout, `gitreg ci tag --push`."""
    shutil.rmtree(site / "ci", ignore_errors=True)
    git(site, "clone", "--quiet", str(site / "origin.git"), "ci")
    return gitreg("ci", "tag", "--push", cwd=site / "ci").split()


def everyone_carries_on(site: Path, gitreg: Gitreg) -> None:
    """pull, a --push write, push and check in the author's clone and the other one."""
    for n, who in enumerate(("author", "other")):
        root = site / who
        git(root, "switch", "--quiet", "main")
        assert gitreg("pull", "--quiet", cwd=root).startswith("main: fetched ")
        assert gitreg("check", cwd=root).startswith("ok")
        source = write_weights(site / f"w-{who}", who.encode())
        out = gitreg("register", "fraud", str(source), "--version", f"0.{n}.0", "--push",
                     "--quiet", cwd=root)
        assert out == f"fraud 0.{n}.0 registered [fraud@v0.{n}.0]\n"
        # The --push write sent everything: push has nothing left to send.
        assert gitreg("push", "--quiet", cwd=root) == "main: up to date, no new commits or tags\n"
    for who in ("author", "other", "ci"):
        gitreg("pull", "--quiet", cwd=site / who)
        assert gitreg("check", cwd=site / who).startswith("ok")
    assert git(site / "author", "rev-parse", "HEAD") == git(site / "origin.git", "rev-parse",
                                                           "main")


@pytest.mark.parametrize("how", ["merge", "squash", "rebase"])
def test_a_registration_trained_on_a_branch(site: Path, gitreg: Gitreg, how: str) -> None:
    author = site / "author"
    git(author, "switch", "--quiet", "-c", "train-2.0")
    source = write_weights(site / "w2", b"two")
    out = gitreg("register", "churn", str(source), "--version", "2.0.0", "--stage", "staging",
                 "--quiet", cwd=author)
    # Off the main branch: commits, no tags (they would name commits main never gets).
    assert out == "churn 2.0.0 registered\nchurn 2.0.0 promoted to staging (was 1.0.0)\n"
    assert git(author, "tag").split() == ["churn/staging/1", "churn@v1.0.0"]
    git(author, "push", "--quiet", "origin", "train-2.0")
    merge(site / "forge", "train-2.0", how)

    assert ci_tags(site, gitreg) == ["churn@v2.0.0", "churn/staging/2"]
    events = json.loads(gitreg("history", "churn", "--json", cwd=site / "ci"))
    assert [(e["action"], e["version"], e["tag"]) for e in events][-2:] == [
        ("register", "2.0.0", "churn@v2.0.0"), ("promote", "2.0.0", "churn/staging/2")]
    everyone_carries_on(site, gitreg)
    assert Registry(site / "other").which("churn", "staging") == ("2.0.0",)


@pytest.mark.parametrize("how", ["merge", "squash", "rebase"])
def test_a_proposed_promotion(site: Path, gitreg: Gitreg, how: str) -> None:
    author = site / "author"
    out = gitreg("promote", "churn", "1.0.0", "production", "--propose", cwd=author)
    branch = "gitreg/promote-churn-1.0.0-to-production"
    assert out.startswith(f"Pushed branch {branch} ")
    assert git(author, "status", "--porcelain") == ""
    merge(site / "forge", branch, how)

    assert ci_tags(site, gitreg) == ["churn/production/1"]
    everyone_carries_on(site, gitreg)
    assert Registry(site / "author").which("churn", "production") == ("1.0.0",)


@pytest.mark.parametrize("write", [
    ("register", "churn", "{weights}", "--version", "2.0.0"),
    ("demote", "churn", "staging"),
    ("rollback", "churn", "staging", "--to", "1.0.0"),
])
def test_every_write_can_be_proposed(site: Path, gitreg: Gitreg, write: tuple[str, ...]) -> None:
    author = site / "author"
    if write[0] == "rollback":  # something to roll back from
        gitreg("register", "churn", str(write_weights(site / "w3", b"3")), "--version",
               "1.1.0", "--stage", "staging", "--push", "--quiet", cwd=author)
    before = git(author, "rev-parse", "HEAD"), git(author, "tag")
    weights = str(write_weights(site / "w2", b"two"))
    out = gitreg(*(arg.format(weights=weights) for arg in write), "--propose", cwd=author)
    branch = out.split()[2]
    assert branch.startswith(f"gitreg/{write[0]}-churn-")
    assert "no tag until it is merged" in out and "Title: " in out
    # The checkout is as it was; the branch on origin holds the change, untagged.
    assert (git(author, "rev-parse", "HEAD"), git(author, "tag")) == before
    assert git(author, "status", "--porcelain", "--untracked-files=all") == ""
    message = git(site / "origin.git", "log", "-1", "--format=%B", branch)
    assert f"Gitreg-Action: {write[0]}" in message
    assert git(site / "origin.git", "tag", "--points-at", branch) == ""
    merge(site / "forge", branch, "squash")
    assert len(ci_tags(site, gitreg)) == 1


def test_local_tags_that_clash_with_origins_are_replaced_saying_so(
    site: Path, gitreg: Gitreg
) -> None:
    # An older gitreg tagged on the branch; the squash merge gave main other commits, and
    # CI tagged those: every fetch of the author failed on the clash.
    author = site / "author"
    git(author, "switch", "--quiet", "-c", "train-2.0")
    gitreg("register", "churn", str(write_weights(site / "w2", b"two")), "--version", "2.0.0",
           "--quiet", cwd=author)
    git(author, "tag", "-a", "-m", "churn 2.0.0 registered", "churn@v2.0.0")
    git(author, "push", "--quiet", "origin", "train-2.0")
    merge(site / "forge", "train-2.0", "squash")
    ci_tags(site, gitreg)
    git(author, "switch", "--quiet", "main")

    note = ("gitreg: kept origin's tags churn@v2.0.0: the local ones named commits of a "
            "branch that was merged as other commits (squash or rebase), and were replaced\n")
    assert gitreg("pull", "--quiet", cwd=author, stderr=note).startswith("main: fetched ")
    assert git(author, "rev-parse", "churn@v2.0.0^{commit}") == git(
        site / "origin.git", "rev-parse", "churn@v2.0.0^{commit}")
    assert gitreg("check", cwd=author).startswith("ok")


def test_the_api_proposes_every_write(site: Path) -> None:
    from gitreg import ModelMetadata, ModelRegistry

    author = site / "author"
    registry = ModelRegistry(author)
    head = git(author, "rev-parse", "HEAD")
    registered = registry.propose_registration(
        write_weights(site / "w2", b"two"),
        ModelMetadata(version="2.0.0", stage="production", metrics={"accuracy": 0.9}),
        name="churn")
    assert registered.branch == "gitreg/register-churn-2.0.0"
    assert [e.action.value for e in registered.events] == ["register", "promote"]
    assert all(e.tag is None for e in registered.events)
    demoted = registry.propose_demotion("staging", name="churn")
    assert (demoted.branch, demoted.base) == ("gitreg/demote-churn-1.0.0-from-staging", "main")
    assert git(author, "rev-parse", "HEAD") == head and git(author, "tag").split() == [
        "churn/staging/1", "churn@v1.0.0"]
    on_origin = git(site / "origin.git", "for-each-ref", "--format=%(refname)", "refs/heads")
    assert on_origin.split() == ["refs/heads/gitreg/demote-churn-1.0.0-from-staging",
                                 "refs/heads/gitreg/register-churn-2.0.0", "refs/heads/main"]


def test_propose_and_push_do_not_combine(site: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(site / "author")
    before = git(site / "author", "rev-parse", "HEAD")
    for args in (["demote", "churn", "staging"], ["rollback", "churn", "staging"],
                 ["promote", "churn", "1.0.0", "production"]):
        assert gitreg_main([*args, "--propose", "--push"]) == 3
        err = capsys.readouterr().err
        assert err == ("gitreg: error: --propose pushes a branch for review; it cannot be "
                       "combined with --push\n")
    assert git(site / "author", "rev-parse", "HEAD") == before


def test_a_proposal_starts_from_main_not_from_a_merged_proposal(
    site: Path, gitreg: Gitreg, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # The author looked at the proposal's branch and was still on it after its squash merge:
    # the next --propose was built there, on the stale commit (which conflicts with main),
    # and without main's newer versions ("churn has no version 2.0.0").
    author, origin = site / "author", site / "origin.git"
    first = "gitreg/promote-churn-1.0.0-to-production"
    gitreg("promote", "churn", "1.0.0", "production", "--propose", cwd=author)
    git(author, "fetch", "--quiet", "origin", first)
    git(author, "switch", "--quiet", first)
    merge(site / "forge", first, "squash")
    ci_tags(site, gitreg)
    gitreg("register", "churn", str(write_weights(site / "w2", b"two")), "--version", "2.0.0",
           "--push", "--quiet", cwd=site / "other")
    heads = git(origin, "for-each-ref", "refs/heads")

    monkeypatch.chdir(author)
    assert gitreg_main(["promote", "churn", "2.0.0", "staging", "--propose"]) == 5
    said = capsys.readouterr()
    assert said.out == "" and said.err == (
        "gitreg: error: a proposal is one commit on top of origin/main, but this checkout is "
        f"on {first}, a proposal branch (once merged, done with): a proposal made here would "
        "carry that proposal's commit again; switch to main (git switch main) and run it "
        "again\n")
    assert git(origin, "for-each-ref", "refs/heads") == heads  # nothing pushed

    git(author, "switch", "--quiet", "main")
    gitreg("promote", "churn", "2.0.0", "staging", "--propose", cwd=author)
    second = "gitreg/promote-churn-2.0.0-to-staging"
    assert git(origin, "rev-parse", f"{second}~1") == git(origin, "rev-parse", "main")


def test_every_kind_of_proposal_is_refused_off_main(site: Path) -> None:
    from gitreg.errors import Conflict
    from gitreg.service import lifecycle
    from gitreg.service import release as releases

    author = site / "author"
    git(author, "switch", "--quiet", "-c", "train-2.0")
    registry = Registry(author)
    for write in (lambda: registry.demote("churn", "staging", propose=True),
                  lambda: lifecycle.deprecate(registry, "churn", "1.0.0", reason="old",
                                              demote=True, propose=True),
                  lambda: releases.release(registry, "q3", ["churn@1.0.0"], "production",
                                           propose=True)):
        with pytest.raises(Conflict, match=r"this checkout is on train-2.0: .*git switch main"):
            write()
    assert git(site / "origin.git", "for-each-ref", "--format=%(refname)",
               "refs/heads") == "refs/heads/main\n"


def test_a_proposal_reads_origins_main_not_a_clone_behind_it(site: Path,
                                                            gitreg: Gitreg) -> None:
    # README: "gitreg catches up with origin, makes the change on top". The version was
    # looked up before the catch-up: "churn has no version 2.0.0" although main had it.
    gitreg("register", "churn", str(write_weights(site / "w2", b"two")), "--version", "2.0.0",
           "--push", "--quiet", cwd=site / "other")
    author = site / "author"
    out = gitreg("promote", "churn", "2.0.0", "production", "--propose", cwd=author)
    assert out.startswith("Pushed branch gitreg/promote-churn-2.0.0-to-production ")
    assert git(author, "rev-parse", "HEAD") == git(site / "origin.git", "rev-parse", "main")


def test_a_proposal_does_not_carry_unpushed_commits(site: Path, gitreg: Gitreg,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    author, origin = site / "author", site / "origin.git"
    gitreg("register", "churn", str(write_weights(site / "w2", b"two")), "--version", "2.0.0",
           "--quiet", cwd=author)  # committed and tagged here, never pushed
    heads = git(origin, "for-each-ref", "refs/heads")
    monkeypatch.chdir(author)
    assert gitreg_main(["promote", "churn", "2.0.0", "production", "--propose"]) == 5
    assert capsys.readouterr().err == (
        "gitreg: error: main has 1 commit that origin/main lacks, which a proposal made here "
        "would carry too; push them first (gitreg push), or see docs/gitops.md to redo them\n")
    assert git(origin, "for-each-ref", "refs/heads") == heads
    gitreg("push", "--quiet", cwd=author)
    gitreg("promote", "churn", "2.0.0", "production", "--propose", cwd=author)


def squash(forge: Path, branch: str, style: str) -> None:
    """Squash-merge ``origin/<branch>`` into main, the message written as the forge does:
    "plain" (conftest.forge_merge: the commits' messages one after the other), or "github"
    (each message after "* ", then the co-authors after a rule, the default of GitHub's
    squash button for a pull request of several commits)."""
    if style == "plain":
        merge(forge, branch, "squash")
        return
    git(forge, "pull", "--quiet", "--ff-only", "origin", "main")
    git(forge, "fetch", "--quiet", "origin", branch)
    ref = f"origin/{branch}"
    messages = [git(forge, "log", "-1", "--format=%B", sha).strip()
                for sha in git(forge, "rev-list", "--reverse", f"HEAD..{ref}").split()]
    body = "\n\n".join(f"* {m}" for m in messages)
    git(forge, "merge", "--quiet", "--squash", ref)
    git(forge, "commit", "--quiet", "-m", f"Train churn 2.0 ({branch}) (#12)", "-m", body,
        "-m", "---------", "-m", "Co-authored-by: Ann <ann@example.com>")
    git(forge, "push", "--quiet", "origin", "main")


@pytest.mark.parametrize("style", ["plain", "github"])
def test_a_squash_merge_keeps_every_commits_trailers(site: Path, gitreg: Gitreg,
                                                     style: str) -> None:
    """A pull request of three gitreg commits (a registration, a forced promotion, a
    rollback), squash-merged: the squash commit's message holds three trailer blocks, and
    git's own reading keeps only the last one (or, after GitHub's Co-authored-by, none).
    history, check and ci event still see the forced promotion's reason and the rollback."""
    author = site / "author"
    data = (author / "registry.yaml").read_text()
    (author / "registry.yaml").write_text(
        data + "policies:\n  production:\n    from: staging\n")
    git(author, "commit", "--quiet", "-am", "Production only from staging")
    gitreg("register", "churn", str(write_weights(site / "w1", b"1.1")), "--version", "1.1.0",
           "--stage", "staging", "--push", "--quiet", cwd=author)
    git(author, "switch", "--quiet", "-c", "train-2.0")
    gitreg("register", "churn", str(write_weights(site / "w2", b"two")), "--version", "2.0.0",
           "--quiet", cwd=author)
    gitreg("promote", "churn", "2.0.0", "production", "--force", "--reason", "load test passed",
           cwd=author)
    gitreg("rollback", "churn", "staging", cwd=author)
    git(author, "push", "--quiet", "origin", "train-2.0")
    squash(site / "forge", "train-2.0", style)
    message = git(site / "origin.git", "log", "-1", "--format=%B", "main")
    assert message.count("Gitreg-Action: ") == 3, message

    assert sorted(ci_tags(site, gitreg)) == ["churn/production/1", "churn/staging/3",
                                             "churn@v2.0.0"]
    ci = site / "ci"
    events = json.loads(gitreg("history", "churn", "--json", cwd=ci))
    assert [(e["action"], e["stage"], e["version"], e["previous"], e["reason"], e["tag"])
            for e in events][-3:] == [
        ("register", None, "2.0.0", None, None, "churn@v2.0.0"),
        ("promote", "production", "2.0.0", None, "load test passed", "churn/production/1"),
        ("rollback", "staging", "1.0.0", "1.1.0", None, "churn/staging/3")]
    # The forced version is a notice, not a policy violation.
    report = json.loads(gitreg("check", "--json", cwd=ci))
    assert report["ok"] and report["problems"] == [], report
    assert [n["message"] for n in report["notices"]] == [
        f"2.0.0 was forced into production at {events[-2]['commit'][:12]} (reason: load test "
        "passed) although churn 2.0.0 must be in staging before production "
        "(policies.production in registry.yaml)"], report
    said = json.loads(gitreg("ci", "event", "churn/production/1", "--format", "json", cwd=ci))
    assert (said["action"], said["reason"]) == ("promote", "load test passed")
    said = json.loads(gitreg("ci", "event", "churn/staging/3", "--format", "json", cwd=ci))
    assert (said["action"], said["version"], said["previous"]) == ("rollback", "1.0.0", "1.1.0")
