"""Sharing through a bare remote: atomic push, replay when someone pushed first, conflicts,
proposals for review, pull. Concurrency is proven with real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot

from gitreg.core.events import parse_tag
from gitreg.errors import Conflict, NotFound
from gitreg.git.sync import Sync
from gitreg.service import sharing
from gitreg.service.registry import Registry


@pytest.fixture
def origin(tmp_path: Path, storage: Path) -> Path:
    """A bare repository holding a registry with one pushed commit."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(bare), str(seed))
    Registry.init(seed, remote=str(storage))
    sharing.push(Registry(seed))
    return bare


def clone(origin: Path, where: Path) -> Registry:
    git(origin.parent, "clone", "-q", str(origin), str(where))
    return Registry(where)


def weights(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"{text}.bin"
    path.write_text(text)
    return path


def origin_tags(origin: Path) -> set[str]:
    return set(git(origin, "tag").split())


def test_push_replays_on_a_moved_remote_and_renumbers(origin: Path, tmp_path: Path) -> None:
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    b.register("fraud", weights(tmp_path, "f1"), stage="production", push=True)
    a.register("churn", weights(tmp_path, "c1"), push=True)  # rejected once, replayed
    a.promote("churn", "0.1.0", "production", push=True)
    b.register("fraud", weights(tmp_path, "f2"), version="0.2.0", push=True)
    event = b.promote("fraud", "0.2.0", "production", push=True)
    assert event.tag == "fraud/production/2"
    assert origin_tags(origin) == {"churn@v0.1.0", "churn/production/1", "fraud@v0.1.0",
                                   "fraud@v0.2.0", "fraud/production/1", "fraud/production/2"}
    assert git(origin, "rev-list", "--merges", "main") == ""  # linear history
    assert git(origin, "rev-parse", "main") == git(b.root, "rev-parse", "HEAD")


def test_a_write_that_pushes_reads_what_origin_holds_and_fetches_once(
    origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A teammate registered churn and pushed; this clone has not pulled. `--push` and
    `--propose` catch up before they read the model (it said "unknown model 'churn'"),
    and the write's publishing does not fetch a second time."""
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    a.register("churn", weights(tmp_path, "c1"), push=True)
    fetches: list[str] = []
    fetch = Sync.fetch

    def counted(self: Sync, *args: object, **kwargs: object) -> object:
        fetches.append("fetch")
        return fetch(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Sync, "fetch", counted)
    event = b.promote("churn", "0.1.0", "production", push=True)
    assert event.tag == "churn/production/1" and fetches == ["fetch"]
    assert git(origin, "rev-parse", "main") == git(b.root, "rev-parse", "HEAD")
    a.register("churn", weights(tmp_path, "c2"), version="0.2.0", push=True)
    fetches.clear()
    b.promote("churn", "0.2.0", "staging", propose=True)
    assert fetches == ["fetch"]
    assert "gitreg/promote-churn-0.2.0-to-staging" in git(origin, "branch")
    fetches.clear()
    c = clone(origin, tmp_path / "c")
    a.register("fraud", weights(tmp_path, "f1"), push=True)
    with pytest.raises(NotFound, match="fraud has no version in production"):
        c.demote("fraud", "production", push=True)  # the model is known: caught up first


def race_on_next_commit(clone_root: Path, other: Path, *command: str) -> Path:
    """Make ``other`` push ``command`` while ``clone_root`` is committing: the race window
    between a writer's catch-up with the remote and its push."""
    marker = clone_root.parent / f"{clone_root.name}-raced"
    hook = clone_root / ".git" / "hooks" / "pre-commit"
    args = " ".join(f"'{c}'" for c in command)
    hook.write_text(
        "#!/bin/sh\n"
        f"[ -e '{marker}' ] && exit 0\n"
        f"touch '{marker}'\n"
        # git exports these to hooks; the other clone must not inherit them
        "unset GIT_INDEX_FILE GIT_DIR GIT_WORK_TREE GIT_PREFIX\n"
        f"cd '{other}' && exec '{sys.executable}' -m gitreg {args} >/dev/null\n"
    )
    hook.chmod(0o755)
    return marker


def test_a_change_to_the_same_stage_in_between_is_a_conflict(origin: Path, tmp_path: Path) -> None:
    a = clone(origin, tmp_path / "a")
    a.register("churn", weights(tmp_path, "1"), version="1.0.0", push=True)
    a.register("churn", weights(tmp_path, "2"), version="1.1.0", push=True)
    a.register("fraud", weights(tmp_path, "3"), version="1.0.0", push=True)
    b = clone(origin, tmp_path / "b")
    marker = race_on_next_commit(a.root, b.root, "promote", "churn", "1.1.0", "production",
                                 "--push")
    local_before = git(a.root, "for-each-ref") + git(a.root, "status", "--porcelain")
    with pytest.raises(Conflict, match="changed the same thing"):
        a.promote("churn", "1.0.0", "production", push=True)
    assert marker.exists()
    assert git(origin, "tag", "--list", "churn/production/*").split() == ["churn/production/1"]
    assert Registry(b.root).which("churn", "production") == ("1.1.0",)
    # a's own change went nowhere: no commit, no tag, only the fetched remote state is new
    assert "churn/production/2" not in git(a.root, "tag").split()
    assert git(a.root, "status", "--porcelain") == ""
    assert local_before != ""


def test_a_change_to_another_stage_in_between_is_replayed(origin: Path, tmp_path: Path) -> None:
    a = clone(origin, tmp_path / "a")
    a.register("churn", weights(tmp_path, "1"), version="1.0.0", push=True)
    b = clone(origin, tmp_path / "b")
    race_on_next_commit(a.root, b.root, "promote", "churn", "1.0.0", "staging", "--push")
    event = a.promote("churn", "1.0.0", "production", push=True)
    assert event.tag == "churn/production/1"
    assert Registry(a.root).stage_map("churn").stages == {
        "staging": ("1.0.0",), "production": ("1.0.0",)}
    assert git(origin, "rev-parse", "main") == git(a.root, "rev-parse", "HEAD")
    assert git(origin, "rev-list", "--merges", "main") == ""


def test_propose_pushes_a_branch_without_tag_and_leaves_the_checkout(
    origin: Path, tmp_path: Path
) -> None:
    a = clone(origin, tmp_path / "a")
    a.register("churn", weights(tmp_path, "1"), version="1.0.0", push=True)
    head = git(a.root, "rev-parse", "HEAD")
    proc = run_cli("promote", "churn", "1.0.0", "production", "--propose", cwd=a.root)
    assert proc.returncode == 0, proc.stderr
    assert "Title: Promote churn 1.0.0 to production" in proc.stdout
    branch = "gitreg/promote-churn-1.0.0-to-production"
    assert branch in proc.stdout
    changed = git(origin, "diff", "--name-only", "main", branch).split()
    assert changed == ["models/churn/stages.yaml"]
    assert "Gitreg-Action: promote" in git(origin, "log", "-1", "--format=%B", branch)
    assert git(a.root, "rev-parse", "HEAD") == head  # the checkout did not move
    assert git(a.root, "status", "--porcelain") == ""
    assert not any(t.startswith("churn/production") for t in origin_tags(origin))
    again = run_cli("promote", "churn", "1.0.0", "production", "--propose", cwd=a.root)
    assert again.returncode == 5 and "already exists" in again.stderr


def test_pull_brings_commits_tags_and_staged_weights(origin: Path, tmp_path: Path) -> None:
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    a.register("churn", weights(tmp_path, "1"), stage="production", push=True)
    pulled = sharing.pull(b)
    assert (pulled.branch, pulled.weights) == ("main", ("churn@0.1.0",))
    assert (pulled.fetched.commits, pulled.fetched.tags) == (
        2, ("churn/production/1", "churn@v0.1.0"))
    _, path = Registry(b.root).get("churn", stage="production", output=tmp_path / "out.bin")
    assert path.read_text() == "1"
    assert "churn/production/1" in git(b.root, "tag").split()


def test_push_without_a_remote_is_a_clear_error(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no git remote 'origin'"):
        registry.register("churn", weights(tmp_path, "x"), push=True)
    assert git(registry.root, "tag") == ""


RACER = """
import sys
from pathlib import Path
from gitreg.service.registry import Registry
root, model, rounds, weights = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
for i in range(rounds):
    weights.write_text(f"{model} {i}")
    Registry(root).register(model, weights, version=f"1.{i}.0", push=True)
    Registry(root).promote(model, f"1.{i}.0", "production", push=True)
    Registry(root).promote(model, f"1.{i}.0", "staging", push=True)
print("ok")
"""


@pytest.mark.slow
def test_concurrent_writers_in_separate_clones(origin: Path, tmp_path: Path) -> None:
    """Several clones register and promote different models at the same moment, repeatedly:
    every change lands, tags are unique and gapless per model and stage, history linear."""
    writers, rounds = 4, 3
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    procs = []
    for i in range(writers):
        root = tmp_path / f"w{i}"
        git(origin.parent, "clone", "-q", str(origin), str(root))
        procs.append(subprocess.Popen(
            [sys.executable, str(script), str(root), f"m{i}", str(rounds),
             str(tmp_path / f"{i}.bin")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and out.strip() == "ok", err
    tags = origin_tags(origin)
    for i in range(writers):
        for stage in ("production", "staging"):
            numbers = sorted(
                parsed.n for t in tags
                if (parsed := parse_tag(t)) and parsed.name == f"m{i}" and parsed.stage == stage
                and parsed.n is not None
            )
            assert numbers == list(range(1, rounds + 1))
        assert {f"m{i}@v1.{r}.0" for r in range(rounds)} <= tags
    assert git(origin, "rev-list", "--merges", "main") == ""
    final = tmp_path / "final"
    reg = clone(origin, final)
    for i in range(writers):
        assert reg.which(f"m{i}", "production") == (f"1.{rounds - 1}.0",)
        # every stage tag points at a commit that changed that model's stages.yaml
        for event in reg.history_events(f"m{i}", "production"):
            assert event.tag is not None


def test_a_direct_change_after_an_untagged_merge_keeps_numbers_in_history_order(
    origin: Path, tmp_path: Path
) -> None:
    """Review flow, then a direct rollback before CI tagged the merge: the rollback takes
    the number of its position, and `ci tag` then fills the gap without a conflict."""
    from gitreg.service import ci

    a = clone(origin, tmp_path / "a")
    a.register("churn", weights(tmp_path, "1"), version="1.0.0", push=True)
    a.register("churn", weights(tmp_path, "2"), version="1.1.0", push=True)
    a.promote("churn", "1.0.0", "production", push=True)
    proposal = sharing.propose(a, "churn", "1.1.0", "production")

    reviewer = tmp_path / "reviewer"
    git(tmp_path, "clone", "-q", str(origin), str(reviewer))
    git(reviewer, "merge", "-q", "--no-ff", "-m", "Merge proposal", f"origin/{proposal.branch}")
    git(reviewer, "push", "-q", "origin", "main")

    event = Registry(a.root).rollback("churn", "production", push=True)
    assert (event.version, event.tag) == ("1.0.0", "churn/production/3")
    assert ci.tag(Registry(reviewer), push=True) == ["churn/production/2"]
    git(reviewer, "pull", "-q", "--ff-only", "origin", "main")
    assert ci.tag(Registry(reviewer), push=True) == []
    assert sorted(t for t in origin_tags(origin) if t.startswith("churn/production/")) == [
        "churn/production/1", "churn/production/2", "churn/production/3"]


def test_a_clone_with_unpushed_commits_behind_the_remote_is_told_what_to_do(
    origin: Path, tmp_path: Path
) -> None:
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    a.register("churn", weights(tmp_path, "1"))  # committed here, never pushed
    b.register("fraud", weights(tmp_path, "2"), push=True)
    head = git(a.root, "rev-parse", "HEAD")
    with pytest.raises(Conflict, match=r"has commits that origin/main lacks.*--push"):
        a.promote("churn", "0.1.0", "production", push=True)
    assert git(a.root, "rev-parse", "HEAD") == head
    assert "churn/production/1" not in git(a.root, "tag").split()


def test_the_documented_way_out_of_a_diverged_clone_works(origin: Path, tmp_path: Path) -> None:
    # docs/gitops.md: delete the local tags, reset to origin/main, remove what the reset
    # leaves (a registration's weights are not in git), run the command again with --push.
    # The leftover weights were refused with "git checkout -- FILE", which cannot restore a
    # file git never had.
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    model = weights(tmp_path, "1")
    a.register("churn", model, version="1.1.0")  # committed here, never pushed
    b.register("churn", weights(tmp_path, "2"), version="1.0.0", push=True)
    said = run_cli("pull", cwd=a.root)
    assert said.returncode == 5 and "git reset --hard origin/main" in said.stderr
    assert "untracked" in said.stderr
    git(a.root, "tag", "-d", "churn@v1.1.0")
    git(a.root, "reset", "--quiet", "--hard", "origin/main")
    left = run_cli("register", "churn", str(model), "--version", "1.1.0", "--push",
                   cwd=a.root)
    leftover = "models/churn/artifacts/1.1.0/" + model.name
    assert left.returncode == 5 and left.stderr == (
        f"gitreg: error: {leftover} has uncommitted changes: it is in the work tree but not "
        "in git (left by a change that was never committed, or undone since); remove it (git "
        f"clean -f -- {leftover}) or commit it, and try again\n")
    git(a.root, "clean", "--quiet", "-f", "--", leftover)
    run_cli("register", "churn", str(model), "--version", "1.1.0", "--push", cwd=a.root,
            check=True)
    assert "churn@v1.1.0" in origin_tags(origin)


def test_push_of_a_diverged_clone_gives_the_way_out_pull_gives(origin: Path,
                                                             tmp_path: Path) -> None:
    # push said "run `gitreg pull` first", and pull said to reset by hand: a circle.
    a = clone(origin, tmp_path / "a")
    a.register("churn", weights(tmp_path, "1"), version="1.0.0", push=True)
    b = clone(origin, tmp_path / "b")
    a.promote("churn", "1.0.0", "staging")  # committed and tagged here, never pushed
    b.promote("churn", "1.0.0", "production", push=True)
    before = snapshot(a.root)
    pushed = run_cli("push", "--quiet", cwd=a.root)
    assert pushed.returncode == 5 and pushed.stdout == ""
    assert pushed.stderr == (
        "gitreg: error: main has commits that origin/main lacks, and origin has moved on: "
        "redo them on top (delete the local tags they made: git tag -d churn/staging/1; git "
        "reset --hard origin/main; remove the files they leave that git status lists as "
        "untracked; run the commands again with --push); see docs/gitops.md\n")
    assert run_cli("pull", "--quiet", cwd=a.root).stderr == pushed.stderr
    assert snapshot(a.root)["head"] == before["head"]
    # The way out works as said.
    git(a.root, "tag", "-d", "churn/staging/1")
    git(a.root, "reset", "--quiet", "--hard", "origin/main")
    run_cli("promote", "churn", "1.0.0", "staging", "--push", cwd=a.root, check=True)
    assert run_cli("push", "--quiet", cwd=a.root, check=True).stdout == (
        "main: up to date, no new commits or tags\n")


def test_push_of_a_clone_behind_origin_says_to_pull(origin: Path, tmp_path: Path) -> None:
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    b.register("churn", weights(tmp_path, "1"), push=True)
    proc = run_cli("push", "--quiet", cwd=a.root)
    assert proc.returncode == 5
    assert proc.stderr == ("gitreg: error: origin has commits this clone lacks; run `gitreg "
                           "pull` first\n")
    run_cli("pull", "--quiet", cwd=a.root, check=True)
    run_cli("push", "--quiet", cwd=a.root, check=True)


def test_pull_says_what_it_fetched(origin: Path, tmp_path: Path) -> None:
    # issue 14: it said "main is up to date" also after fetching commits.
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    a.register("churn", weights(tmp_path, "1"), stage="production", push=True)
    a.register("churn", weights(tmp_path, "2"), push=True)
    first = run_cli("pull", "--quiet", cwd=b.root)
    assert first.returncode == 0, first.stderr
    assert first.stdout == ("main: fetched 3 new commits and 3 new tags; weights present for "
                            "1 staged version\n")
    again = run_cli("pull", "--quiet", cwd=b.root, check=True)
    assert again.stdout == "main: up to date; weights present for 1 staged version\n"


def test_push_says_what_origin_gained(origin: Path, tmp_path: Path) -> None:
    # It said "pushed main and N gitreg tags", N every local tag, in a clone with nothing new.
    a = clone(origin, tmp_path / "a")
    a.register("churn", weights(tmp_path, "1"), stage="production", push=True)
    b = clone(origin, tmp_path / "b")
    nothing = run_cli("push", "--quiet", cwd=b.root, check=True)
    assert nothing.stdout == "main: up to date, no new commits or tags\n"
    b.register("churn", weights(tmp_path, "2"), version="0.2.0")
    b.promote("churn", "0.2.0", "staging")
    some = run_cli("push", "--quiet", cwd=b.root, check=True)
    assert some.stdout == "main: pushed 2 new commits and 2 new tags\n"
    assert {"churn@v0.2.0", "churn/staging/1"} <= origin_tags(origin)
    git(b.root, "tag", "-a", "-m", "tagged by hand", "churn/staging/2", "HEAD~1")
    assert run_cli("push", "--quiet", cwd=b.root, check=True).stdout == (
        "main: pushed 1 new tag\n")
    git(b.root, "switch", "--quiet", "-c", "train-2.0")
    b.register("churn", weights(tmp_path, "3"))  # off main: a commit, no tag
    branch = run_cli("push", "--quiet", cwd=b.root, check=True)
    assert branch.stdout == "train-2.0: pushed 1 new commit as a new branch\n"


def test_a_tag_outside_gitregs_grammar_that_clashes_is_named(origin: Path, tmp_path: Path) -> None:
    # A tag that is not gitreg's is never replaced: the one line names it and both ways out
    # (issues 13, 14: "git fetch ... failed (exit 1): no message").
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    git(a.root, "tag", "release", "HEAD")
    git(a.root, "push", "--quiet", "origin", "release")
    git(b.root, "commit", "--quiet", "--allow-empty", "-m", "local")
    git(b.root, "tag", "release", "HEAD")
    head = git(b.root, "rev-parse", "HEAD")
    proc = run_cli("pull", cwd=b.root)
    assert proc.returncode == 5 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert "tag release on origin is not the one here" in line and "no message" not in line
    assert "git fetch --force origin tag release" in line
    assert git(b.root, "rev-parse", "HEAD") == head


def test_a_gitreg_tag_moved_on_origin_is_taken_from_origin_and_said(origin: Path,
                                                                    tmp_path: Path) -> None:
    """Issue 13: it was "git fetch ... failed (exit 1): no message" on pull and every --push.
    A gitreg tag is origin's to say (issue 14): the local one is replaced, in one line."""
    a = clone(origin, tmp_path / "a")
    a.register("churn", weights(tmp_path, "c1"), push=True)
    b = clone(origin, tmp_path / "b")
    git(a.root, "tag", "-f", "-a", "-m", "moved", "churn@v0.1.0", "HEAD~1")
    git(a.root, "push", "-q", "--force", "origin", "churn@v0.1.0")
    proc = run_cli("pull", cwd=b.root)
    assert proc.returncode == 0, proc.stderr
    assert "kept origin's tags churn@v0.1.0" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert git(b.root, "rev-parse", "churn@v0.1.0") == git(a.root, "rev-parse", "churn@v0.1.0")
    again = run_cli("register", "churn", str(weights(tmp_path, "c2")), "--push", cwd=b.root)
    assert again.returncode == 0, again.stderr
    assert git(b.root, "status", "--porcelain") == ""


def test_a_push_the_remote_refuses_is_reported_once_not_replayed(origin: Path,
                                                                 tmp_path: Path) -> None:
    """A protected branch (a pre-receive hook that declines) is the remote's answer, not a
    race: gitreg says what the remote said after one try and keeps nothing of the change."""
    a = clone(origin, tmp_path / "a")
    a.register("churn", weights(tmp_path, "1"), version="1.0.0", push=True)
    calls = tmp_path / "hook-calls"
    hook = origin / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho call >> '{calls}'\n"
                    "echo 'main is protected: promotions go through review' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = snapshot(a.root)
    proc = run_cli("promote", "churn", "1.0.0", "production", "--push", cwd=a.root)
    assert proc.returncode != 0 and proc.stdout == ""
    assert "main is protected: promotions go through review" in proc.stderr
    assert "Traceback" not in proc.stderr and "kept moving" not in proc.stderr
    assert calls.read_text() == "call\n"  # one push, no replay loop
    assert snapshot(a.root) == before
    assert "churn/production/1" not in origin_tags(origin)
