"""``gitreg ci tag`` after pull requests merged three ways, and ``gitreg ci event``.

Everything runs against real git: a bare repository as ``origin``, the main branch's
checkout (where CI runs), and a developer's clone that proposes changes on a branch the
way ``promote --propose`` does (a commit of ``stages.yaml`` with gitreg's message and
trailers, no tag). The merges are made with git as a forge makes them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import git, run_cli

from gitreg.cli.app import main as gitreg_main
from gitreg.core.events import Action, Event, commit_message
from gitreg.core.records import stages_from_dict, stages_to_dict
from gitreg.errors import Conflict
from gitreg.repo import yamlio
from gitreg.service import ci
from gitreg.service.registry import Registry

NOT_AN_EVENT = 11  # written out: exit codes are a documented interface
INVALID_INPUT, NOT_FOUND, CONFLICT = 3, 4, 5
STAGES = "models/churn/stages.yaml"


Gitreg = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def templates() -> dict[str, Path]:
    return {}


@pytest.fixture
def gitreg(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Gitreg:
    """``gitreg ARGS`` in this process (exit code, stdout, stderr): the same funnel as the
    command, without a new interpreter per call; ``run_cli`` covers the real process."""
    def run(*args: str, cwd: Path) -> tuple[int, str, str]:
        monkeypatch.chdir(cwd)
        code = gitreg_main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


@pytest.fixture
def site(templates: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
         tmp_path: Path) -> Path:
    """``origin.git`` and ``main`` (its clone, on main): churn 1.0.0, 1.1.0, 1.2.0, with
    production 1.0.0 then 1.1.0, all tagged and pushed. Built once, copied per test."""
    if "site" not in templates:
        base = tmp_path_factory.mktemp("ci-site")
        registry = Registry.init(base / "main", remote=str(base / "storage"))
        for i in range(3):
            weights = base / f"w{i}.bin"
            weights.write_bytes(f"weights {i}".encode())
            registry.register("churn", weights, version=f"1.{i}.0")
        registry.promote("churn", "1.0.0", "production")
        registry.promote("churn", "1.1.0", "production")
        git(base, "init", "--quiet", "--bare", "origin.git")
        git(registry.root, "remote", "add", "origin", str(base / "origin.git"))
        git(registry.root, "push", "--quiet", "origin", "main", "--tags")
        templates["site"] = base
    root = tmp_path / "site"
    shutil.copytree(templates["site"], root, symlinks=True)
    git(root / "main", "remote", "set-url", "origin", str(root / "origin.git"))
    return root


def clone(site: Path, name: str = "dev") -> Path:
    git(site, "clone", "--quiet", str(site / "origin.git"), name)
    return site / name


def stage_edit(root: Path, stage: str, versions: tuple[str, ...]) -> str:
    """``stages.yaml`` of ``root`` with ``stage`` holding ``versions``, as gitreg writes it."""
    config = Registry(root).config
    current = stages_from_dict(yamlio.loads((root / STAGES).read_bytes(), STAGES), STAGES)
    new = current.with_stage(stage, versions)
    return yamlio.dumps(stages_to_dict(new, list(config.stages), config.exclusive))


def commit_event(root: Path, event: Event, files: dict[str, str]) -> str:
    """Commit ``files`` with the message and trailers gitreg gives ``event``; no tag."""
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    git(root, "add", "--", *files)
    (root / ".git" / "MSG").write_text(commit_message(event))
    git(root, "commit", "--quiet", "--file", str(root / ".git" / "MSG"))
    return git(root, "rev-parse", "HEAD").strip()


def propose(dev: Path, branch: str, event: Event) -> str:
    """A pushed branch holding ``event`` as ``promote --propose`` makes it: no tag."""
    git(dev, "fetch", "--quiet", "origin")
    git(dev, "switch", "--quiet", "-c", branch, "origin/main")
    assert event.stage is not None
    target = (event.version,) if event.version else ()
    commit = commit_event(dev, event, {STAGES: stage_edit(dev, event.stage, target)})
    git(dev, "push", "--quiet", "origin", branch)
    return commit


def merge(main: Path, branch: str, how: str) -> None:
    """Merge ``origin/<branch>`` into main the way a forge's merge button does."""
    git(main, "fetch", "--quiet", "origin")
    ref = f"origin/{branch}"
    if how == "merge":
        git(main, "merge", "--quiet", "--no-ff", "--no-edit", ref)
    elif how == "squash":
        # One commit whose message is the pull request's title and its commits' messages.
        message = git(main, "log", "--reverse", "--format=%B", f"HEAD..{ref}")
        subject, _, body = message.partition("\n")
        git(main, "merge", "--quiet", "--squash", ref)
        git(main, "commit", "--quiet", "-m", f"{subject} (#7)", "-m", body.strip())
    else:  # rebase: the branch's commits replayed one by one on main's tip
        for sha in git(main, "rev-list", "--reverse", f"HEAD..{ref}").split():
            git(main, "cherry-pick", "--quiet", sha)
    git(main, "push", "--quiet", "origin", "main")


def advance_main(main: Path) -> None:
    """Another change on main after the branch was made, so that the merge is real."""
    notes = main / "NOTES.md"
    notes.write_text(notes.read_text() + "more\n" if notes.exists() else "notes\n")
    git(main, "add", "NOTES.md")
    git(main, "commit", "--quiet", "-m", "Update notes")
    git(main, "push", "--quiet", "origin", "main")


def tags_at(root: Path) -> dict[str, str]:
    """Tag -> the commit it points at (peeled), as git itself lists them."""
    out = git(root, "for-each-ref", "--format=%(refname:short) %(*objectname) %(objectname)",
              "refs/tags")
    return {fields[0]: fields[1] for fields in (line.split() for line in out.splitlines())}


ROLLBACK = Event("churn", Action.ROLLBACK, "1.0.0", "production", "1.1.0")


# -- ci tag ---------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["merge", "squash", "rebase"])
def test_ci_tag_tags_a_proposal_merged_three_ways(site: Path, how: str) -> None:
    main, dev = site / "main", clone(site)
    proposed = propose(dev, "gitreg/rollback-churn-production", ROLLBACK)
    advance_main(main)
    merge(main, "gitreg/rollback-churn-production", how)
    head = git(main, "rev-parse", "HEAD").strip()
    assert head != proposed  # main's own commit: a merge, a squash, a replay
    before = tags_at(main)

    proc = run_cli("ci", "tag", "--push", cwd=main)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "churn/production/3\n"
    after = tags_at(main)
    assert after == {**before, "churn/production/3": head}  # on main's own commit
    assert git(main, "cat-file", "-t", "churn/production/3").strip() == "tag"
    remote = git(site / "origin.git", "rev-parse", "churn/production/3^{commit}").strip()
    assert remote == head

    # The merged change reads as the rollback it was, in history and in ci event.
    events = Registry(main).history_events("churn", "production")
    assert [(e.action, e.version, e.previous, e.tag) for e in events][-1] == (
        Action.ROLLBACK, "1.0.0", "1.1.0", "churn/production/3")
    said = json.loads(run_cli("ci", "event", "churn/production/3", cwd=main, check=True).stdout)
    assert (said["event"], said["version"], said["previous"]) == ("rolled back", "1.0.0", "1.1.0")

    # Idempotent: a second run finds nothing, here and in a fresh CI clone.
    again = run_cli("ci", "tag", "--push", cwd=main)
    assert (again.returncode, again.stdout) == (0, "nothing to tag or push\n")
    assert ci.tag(Registry(clone(site, "ci")), push=True) == []
    assert tags_at(main) == after


def test_ci_tag_push_after_a_local_ci_tag_pushes_what_it_made(site: Path) -> None:
    # issue 14: the second run found nothing to tag and never pushed the first run's tags.
    main, dev = site / "main", clone(site)
    propose(dev, "rollback", ROLLBACK)
    merge(main, "rollback", "squash")
    assert run_cli("ci", "tag", cwd=main, check=True).stdout == "churn/production/3\n"
    assert "churn/production/3" not in tags_at(site / "origin.git")

    proc = run_cli("ci", "tag", "--push", cwd=main)
    assert (proc.returncode, proc.stdout) == (0, "churn/production/3\n"), proc.stderr
    assert tags_at(site / "origin.git")["churn/production/3"] == git(
        main, "rev-parse", "HEAD").strip()
    again = run_cli("ci", "tag", "--push", cwd=main, check=True)
    assert again.stdout == "nothing to tag or push\n"


def test_ci_tag_numbers_changes_by_their_order_on_main(site: Path) -> None:
    main, dev = site / "main", clone(site)
    Registry(main).promote("churn", "1.0.0", "staging")  # churn/staging/1, tagged directly
    git(main, "push", "--quiet", "origin", "main", "--tags")
    propose(dev, "production-1.2", Event("churn", Action.PROMOTE, "1.2.0", "production", "1.1.0"))
    advance_main(main)
    merge(main, "production-1.2", "squash")
    # A two-commit branch: register 1.3.0 (a version file, no tag), then put it in dev.
    git(dev, "fetch", "--quiet", "origin")
    git(dev, "switch", "--quiet", "-c", "new-1.3", "origin/main")
    version_file = (dev / "models/churn/versions/1.2.0.yaml").read_text()
    assert "version: 1.2.0\n" in version_file
    commit_event(dev, Event("churn", Action.REGISTER, "1.3.0"), {
        "models/churn/versions/1.3.0.yaml": version_file.replace("version: 1.2.0", "version: 1.3.0")
    })
    commit_event(dev, Event("churn", Action.PROMOTE, "1.3.0", "dev"),
                 {STAGES: stage_edit(dev, "dev", ("1.3.0",))})
    git(dev, "push", "--quiet", "origin", "new-1.3")
    advance_main(main)
    merge(main, "new-1.3", "rebase")
    propose(dev, "staging-1.2", Event("churn", Action.PROMOTE, "1.2.0", "staging", "1.0.0"))
    advance_main(main)
    merge(main, "staging-1.2", "merge")

    # CI's checkout: a fresh clone on a detached HEAD, as GitLab CI makes it.
    checkout = clone(site, "ci")
    git(checkout, "switch", "--quiet", "--detach", "origin/main")
    created = ci.tag(Registry(checkout), push=True)
    assert created == ["churn/production/3", "churn@v1.3.0", "churn/dev/1", "churn/staging/2"]
    git(main, "fetch", "--quiet", "--tags", "origin")
    tags = tags_at(main)
    # main, newest first: merge, notes, dev 1.3.0, register 1.3.0, notes, squashed promotion
    assert tags["churn/production/3"] == git(main, "rev-parse", "HEAD~5").strip()
    assert tags["churn@v1.3.0"] == git(main, "rev-parse", "HEAD~3").strip()
    assert tags["churn/dev/1"] == git(main, "rev-parse", "HEAD~2").strip()
    assert tags["churn/staging/2"] == git(main, "rev-parse", "HEAD").strip()
    staging = Registry(main).history_events("churn", "staging")
    assert [(e.version, e.tag) for e in staging] == [
        ("1.0.0", "churn/staging/1"), ("1.2.0", "churn/staging/2")]
    assert ci.tag(Registry(main)) == []
    assert ci.tag(Registry(checkout)) == []


def test_ci_tag_accepts_a_tag_made_on_the_merged_branch(site: Path) -> None:
    # Someone promoted directly on a branch (tagging it there) and merged it with a merge
    # commit: main's first-parent view sees the merge, but the change is tagged already.
    main, dev = site / "main", clone(site)
    git(dev, "switch", "--quiet", "-c", "direct")
    event = Registry(dev).promote("churn", "1.2.0", "production")
    assert event.tag is None  # off the main branch gitreg makes no tag (issue 14) ...
    git(dev, "tag", "-a", "-m", "by hand", "churn/production/3")  # ... an older one did
    git(dev, "push", "--quiet", "origin", "direct", "--tags")
    git(main, "fetch", "--quiet", "--tags", "origin")
    advance_main(main)
    merge(main, "direct", "merge")
    assert ci.tag(Registry(main)) == []
    events = Registry(main).history_events("churn", "production")
    assert (events[-1].version, events[-1].previous) == ("1.2.0", "1.1.0")


def test_ci_tag_reports_a_taken_name_and_moves_no_tag(site: Path) -> None:
    main, dev = site / "main", clone(site)
    propose(dev, "rollback", ROLLBACK)
    merge(main, "rollback", "squash")
    propose(dev, "staging", Event("churn", Action.PROMOTE, "1.2.0", "staging"))
    merge(main, "staging", "squash")
    git(main, "tag", "churn/production/3", "HEAD~1~1")  # by hand, on the wrong commit
    before = tags_at(main)

    proc = run_cli("ci", "tag", cwd=main)
    assert proc.returncode == CONFLICT, proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    head_1 = git(main, "rev-parse", "HEAD~1").strip()
    assert line.startswith("gitreg: error: tag churn/production/3 should mark commit "
                           f"{head_1[:12]}")
    assert "never moves tags" in line
    assert tags_at(main) == before  # nothing moved, nothing half-made (no churn/staging/1)
    with pytest.raises(Conflict):
        ci.tag(Registry(main))


def test_ci_tag_push_refused_leaves_no_tag_behind(site: Path, gitreg: Gitreg) -> None:
    main, dev = site / "main", clone(site)
    propose(dev, "rollback", ROLLBACK)
    merge(main, "rollback", "merge")
    # Meanwhile another CI run tagged it (here: by hand, elsewhere) and pushed first.
    git(dev, "tag", "churn/production/3", "churn@v1.0.0")
    git(dev, "push", "--quiet", "origin", "churn/production/3")
    before = tags_at(main)
    code, out, err = gitreg("ci", "tag", "--push", cwd=main)
    assert (code, out) == (CONFLICT, "")
    # --push fetches the remote's tags first, so the clash is seen before anything is made
    assert "churn/production/3 should mark commit" in err and "never moves tags" in err
    assert set(tags_at(main)) == set(before) | {"churn/production/3"}  # only what it fetched


def test_ci_tag_needs_the_whole_history(site: Path) -> None:
    git(site, "clone", "--quiet", "--depth", "1", f"file://{site / 'origin.git'}", "shallow")
    proc = run_cli("ci", "tag", cwd=site / "shallow")
    assert proc.returncode == NOT_FOUND
    assert "shallow" in proc.stderr and "fetch-depth: 0" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


# -- ci event -------------------------------------------------------------------------------


@pytest.fixture
def event_of(gitreg: Gitreg) -> Callable[..., str]:
    def read(root: Path, ref: str, *args: str) -> str:
        code, out, err = gitreg("ci", "event", ref, *args, cwd=root)
        assert code == 0, err
        return out
    return read


def test_ci_event_says_what_each_tag_means(site: Path, event_of: Callable[..., str]) -> None:
    main = site / "main"
    registry = Registry(main)
    registry.demote("churn", "production")  # churn/production/3
    registry.rollback("churn", "production")  # churn/production/4: back to 1.1.0

    registered = json.loads(event_of(main, "churn@v1.1.0"))
    commit = git(main, "rev-parse", "churn@v1.1.0^{commit}").strip()
    assert registered == {
        "model": "churn", "event": "registered", "action": "register", "stage": None,
        "version": "1.1.0", "previous": None, "commit": commit,
        "author": "Test User <test@example.com>",
        "date": git(main, "log", "-1", "--format=%cI", commit).strip(),
        "tag": "churn@v1.1.0", "reason": None,
    }
    expected = {
        "churn/production/1": ("promoted", "1.0.0", None),
        "churn/production/2": ("promoted", "1.1.0", "1.0.0"),
        "churn/production/3": ("demoted", None, "1.1.0"),
        "refs/tags/churn/production/4": ("rolled back", "1.1.0", None),
    }
    for ref, (what, version, previous) in expected.items():
        said = json.loads(event_of(main, ref))
        assert (said["event"], said["stage"], said["version"], said["previous"]) == (
            what, "production", version, previous), ref
        assert said["tag"] == ref.removeprefix("refs/tags/")
    lines = event_of(main, "churn/production/2", "--format", "github").splitlines()
    sha = git(main, "rev-parse", "churn/production/2^{commit}").strip()
    assert lines[:8] == [
        "model=churn", "event=promoted", "action=promote", "stage=production",
        "version=1.1.0", "previous=1.0.0", f"commit={sha}",
        "author=Test User <test@example.com>",
    ]
    assert "tag=churn/production/2" in lines and "reason=" in lines


def test_ci_event_is_the_same_for_a_lightweight_tag(
    site: Path, event_of: Callable[..., str]
) -> None:
    main = site / "main"
    for tag in ("churn/production/2", "churn@v1.2.0"):
        annotated = event_of(main, tag, "--format", "github")
        commit = git(main, "rev-parse", f"{tag}^{{commit}}").strip()
        git(main, "tag", "-d", tag)
        git(main, "tag", tag, commit)  # what some CI checkouts make of a fetched tag
        assert git(main, "cat-file", "-t", tag).strip() == "commit"
        assert event_of(main, tag, "--format", "github") == annotated
        assert event_of(main, f"refs/tags/{tag}", "--format", "json") == event_of(main, tag)


def test_ci_event_reads_a_shallow_checkout_of_depth_two(
    site: Path, event_of: Callable[..., str], gitreg: Gitreg
) -> None:
    url = f"file://{site / 'origin.git'}"
    for depth in ("1", "2"):
        git(site, "clone", "--quiet", "--depth", depth, "--branch", "churn/production/2",
            url, f"depth{depth}")
    said = json.loads(event_of(site / "depth2", "churn/production/2"))
    assert (said["event"], said["previous"]) == ("promoted", "1.0.0")
    code, _, err = gitreg("ci", "event", "churn/production/2", cwd=site / "depth1")
    assert code == NOT_FOUND
    assert "shallow clone" in err and len(err.splitlines()) == 1


def test_ci_event_says_not_a_gitreg_event(site: Path, gitreg: Gitreg) -> None:
    proc = run_cli("ci", "event", "refs/heads/main", cwd=site / "main")  # the real process
    assert (proc.returncode, proc.stdout) == (NOT_AN_EVENT, "")
    assert proc.stderr == ("gitreg: error: refs/heads/main is not a gitreg event: gitreg tags "
                           "are NAME@vVERSION (a registration), NAME/STAGE/N (a stage change), "
                           "NAME/deprecated|restored/VERSION/N or release/NAME/N (a release of "
                           "several models)\n")
    for ref in ("main", "v1.0.0", "churn#production#1", "churn@1.0.0", "churn@vlatest",
                "refs/heads/churn/production/1", "churn/production/0", "churn/Prod/1",
                "refs/remotes/origin/main", "churn/production/1/x"):
        code, out, err = gitreg("ci", "event", ref, cwd=site / "main")
        assert (code, out) == (NOT_AN_EVENT, ""), ref
        assert err.startswith(f"gitreg: error: {ref} is not a gitreg event: ")
        assert len(err.splitlines()) == 1


def test_ci_event_refuses_a_tag_its_commit_does_not_bear_out(site: Path, gitreg: Gitreg) -> None:
    main = site / "main"
    git(main, "tag", "churn/staging/1", "churn/production/2")  # production changed, not staging
    git(main, "tag", "churn@v9.0.0", "churn@v1.2.0")  # that commit added 1.2.0, not 9.0.0
    cases = {
        "churn/staging/1": (INVALID_INPUT, "did not change churn's staging stage"),
        "churn@v9.0.0": (INVALID_INPUT, "did not add models/churn/versions/9.0.0.yaml"),
        "churn/production/9": (NOT_FOUND, "no tag churn/production/9 in this clone"),
    }
    for ref, (expected, says) in cases.items():
        code, out, err = gitreg("ci", "event", ref, cwd=main)
        assert (code, out) == (expected, ""), (ref, err)
        (line,) = err.splitlines()
        assert line.startswith("gitreg: error: ") and says in line
