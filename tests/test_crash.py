"""Crash safety, proven (issue 6): each write command killed with SIGKILL at every point
where it changes the disk, git or DVC, then the registry checked and the command re-run.

A registry with a bare ``origin`` and a local DVC remote is built once per command. The
command runs once with ``GITREG_FAULT_TRACE`` (faults.py) to list its points and to learn
the end state of an uninterrupted run; then, for each point, a fresh copy of the registry
runs the command with ``GITREG_FAULT_KILL_AT=N`` and the process dies there. After each
kill:

- right away, before anything repairs it (but after a ``git push`` the command had started,
  which outlives it, has ended): every tag names a commit on its branch (here
  and on ``origin``); ``stages.yaml`` names only versions whose file exists, at ``HEAD`` and
  in the work tree; every version at ``HEAD`` has its weights on the DVC remote;
- the next gitreg command recovers (by turns: ``gitreg check``, the re-run itself, or the
  same recovery called in-process) and says so in one line on stderr; what it leaves is
  exactly the state before the command (refs, index, files) or the state an uninterrupted
  run ends in, with a clean ``git status``, no journal, no lock, ``check`` passing;
- re-running the command succeeds and ends where an uninterrupted run ends (same commits,
  tags, files); if the killed run had already finished (or published) its change, the
  re-run says it is done, as any repeated command would.

A point before a git call that changes nothing a reader or a later command sees (a read
such as ``rev-parse``, or ``mktree``, which writes an object nothing refers to yet) leaves
the same state as the point before it, and runs of identical points leave the same state
as the first: all are traced and counted, each such class is killed at once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import git, snapshot

from gitreg.repo.transaction import Lock, recover_interrupted
from gitreg.service import check
from gitreg.service.registry import Registry

# git calls after which the registry is as it was before them, for any reader or command:
# reads, `status` (which may only refresh the index's file times), and writes of objects
# that nothing refers to yet.
SAME_STATE = {"rev-parse", "symbolic-ref", "for-each-ref", "cat-file", "var", "log",
              "rev-list", "config", "ls-remote", "merge-base", "remote", "ls-files", "show",
              "status", "hash-object", "mktree", "commit-tree", "ls-tree"}
WORKERS = 2


# -- the registry each command starts from ---------------------------------------------------


def _weights(base: Path, version: str) -> Path:
    path = base / f"w{version}.bin"
    path.write_bytes(f"weights {version}\n".encode() * 50)
    return path


def build(base: Path) -> Path:
    """``base/reg``: churn 1.0.0 (staging, then production) and 1.1.0 (staging), then two
    stage changes committed by hand and untagged (as a merged pull request leaves them),
    all pushed to ``base/origin.git``; weights on ``base/storage``. Paths between them are
    relative, so a copy of ``base`` anywhere is a registry of its own."""
    git(base, "init", "-q", "--bare", "origin.git")
    registry = Registry.init(base / "reg", remote=str(base / "storage"))
    root = registry.root
    config = root / ".dvc" / "config"
    config.write_text(config.read_text().replace(str(base / "storage"), "../../storage"))
    git(root, "commit", "-q", "-am", "DVC remote relative to the clone")
    git(root, "remote", "add", "origin", "../origin.git")
    registry = Registry(root)
    registry.register("churn", _weights(base, "1.0.0"), version="1.0.0")
    registry.promote("churn", "1.0.0", "staging")
    registry.promote("churn", "1.0.0", "production")
    registry.register("churn", _weights(base, "1.1.0"), version="1.1.0")
    registry.promote("churn", "1.1.0", "staging")
    for version in ("1.1.0", "1.0.0"):  # untagged: `ci tag` has two to make
        stage_map = registry.stage_map("churn").with_stage("dev", (version,))
        (root / registry.stages_path("churn")).write_text(registry.stages_text(stage_map))
        git(root, "commit", "-q", "-am", f"Promote churn {version} to dev")
    git(root, "push", "-q", "--atomic", "origin", "main", "--tags")
    _weights(base, "1.2.0")
    for repo in (root, base / "origin.git"):  # a few pack files copy faster than loose objects
        git(repo, "gc", "-q")
    return root


def copy(source: Path, target: Path) -> None:
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)


def unpushed_version(base: Path) -> None:
    """For ``push``: churn 1.2.0 registered here only, its weights missing from the remote."""
    registry = Registry(base / "reg")
    registry.register("churn", base / "w1.2.0.bin", version="1.2.0")
    record = registry.record("churn", "1.2.0")
    md5 = record.artifact.md5
    (base / "storage" / "files" / "md5" / md5[:2] / md5[2:]).unlink()


def second_model(base: Path) -> None:
    """For a release (issue 18): feat 1.0.0 beside churn, registered and pushed."""
    registry = Registry(base / "reg")
    registry.register("feat", base / "w1.2.0.bin", version="1.0.0")
    git(registry.root, "push", "-q", "--atomic", "origin", "main", "--tags")


def released(base: Path) -> None:
    """For ``rollback --release``: release pair put churn 1.1.0 and feat 1.0.0 in
    production, pushed."""
    second_model(base)
    gitreg(base / "reg", RELEASE)
    git(base / "reg", "push", "-q", "--atomic", "origin", "main", "--tags")


RELEASE = ("release", "pair", "--model", "churn@1.1.0", "--model", "feat@1.0.0", "--stage",
           "production")
SCENARIOS: dict[str, tuple[tuple[str, ...], Callable[[Path], None] | None]] = {
    "register": (("register", "churn", "../w1.2.0.bin", "--version", "1.2.0",
                  "--stage", "production", "--metric", "accuracy=0.9"), None),
    "promote": (("promote", "churn", "1.1.0", "production"), None),
    "rollback": (("rollback", "churn", "staging"), None),
    "promote --push": (("promote", "churn", "1.1.0", "production", "--push"), None),
    "ci tag --push": (("ci", "tag", "--push"), None),
    "push": (("push",), unpushed_version),
    "release": (RELEASE, second_model),
    "release --push": ((*RELEASE, "--push"), second_model),
    "rollback --release": (("rollback", "--release", "pair"), released),
}


# -- running gitreg ------------------------------------------------------------------------


def gitreg(root: Path, args: tuple[str, ...], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitreg", *args], cwd=root, capture_output=True, text=True,
        env={**os.environ, **env}, timeout=300, check=False,
    )


def kill_points(trace: Path) -> tuple[int, list[int]]:
    """All points, and those that can leave a state of their own (see the docstring)."""
    rows = [line.split("\t") for line in trace.read_text().splitlines()]
    chosen, previous = [], None
    for number, label, detail in rows:
        words = detail.split()
        reads = label == "git" and words[:1] and words[0] in SAME_STATE
        if (not reads and (label, words[:1]) != previous) or number == "1":
            chosen.append(int(number))
        previous = None if reads else (label, words[:1])
    return len(rows), chosen


def wait_for_orphans(base: Path, wait: float = 60.0) -> None:
    """Wait until no live process works in ``base`` (a ``git push`` the killed command
    started, and the ``receive-pack`` it runs in origin.git)."""
    deadline = time.monotonic() + wait
    while _working_in(base):
        assert time.monotonic() < deadline, f"processes still working in {base}"
        time.sleep(0.05)


def _working_in(base: Path) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(f"/proc/{entry.name}/cwd"))
            with open(f"/proc/{entry.name}/stat", encoding="utf-8") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and cwd.is_relative_to(base.resolve()):
            found.append(int(entry.name))
    return found


# -- what must hold ------------------------------------------------------------------------


def lines(cwd: Path, *args: str) -> list[str]:
    return git(cwd, *args).splitlines()


def assert_tags_on_branch(repo: Path, branch: str = "main") -> None:
    """No tag without its commit: every tag names a commit on the branch."""
    on_branch = set(lines(repo, "rev-list", branch, "--"))
    for line in lines(repo, "for-each-ref", "--format=%(refname:short) %(*objectname)"
                      "%(objectname)", "refs/tags"):
        name, target = line.split(" ")
        assert target[:40] in on_branch, f"{repo.name}: tag {name} names a commit not on {branch}"


def assert_stages_name_present_versions(root: Path, storage: Path, weights: bool) -> None:
    """stages.yaml names only versions whose file exists, at HEAD and in the work tree;
    every version at HEAD has its weights on the remote."""
    models = root / "models"
    at_head = set(lines(root, "ls-tree", "-r", "--name-only", "HEAD", "--", "models"))
    for stages in models.glob("*/stages.yaml"):
        rel = stages.relative_to(root).as_posix()
        model = stages.parent.name
        committed = yaml.safe_load(git(root, "show", f"HEAD:{rel}"))
        for held in _versions(committed):
            assert f"models/{model}/versions/{held}.yaml" in at_head, (rel, held, "at HEAD")
        for held in _versions(yaml.safe_load(stages.read_text())):
            assert (models / model / "versions" / f"{held}.yaml").is_file(), (rel, held)
    if weights:
        for rel in at_head:
            if "/versions/" in rel:
                md5 = yaml.safe_load(git(root, "show", f"HEAD:{rel}"))["artifact"]["md5"]
                assert (storage / "files" / "md5" / md5[:2] / md5[2:]).is_file(), rel


def _versions(stages: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for held in (stages.get("stages") or {}).values():
        found += held if isinstance(held, list) else [] if held is None else [str(held)]
    return found


def assert_whole(root: Path, *, lock_gone: bool = True) -> None:
    """Nothing half-done: clean status, no journal, no temporary file, check ok; no lock,
    or (before a write took over) one whose process is gone."""
    assert git(root, "status", "--porcelain", "--untracked-files=all", "--ignored=no") == ""
    assert not (root / ".git" / "gitreg-journal").exists()
    lock = root / ".git" / "gitreg.lock"
    if lock.exists():
        assert not lock_gone and Lock._is_stale(lock.read_text().strip()), lock.read_text()
    leftovers = [p for p in root.rglob("*.tmp") if ".git" not in p.parts]
    assert leftovers == [], leftovers
    report = check.validate(root)
    assert report.ok, report.problems


def assert_no_partial_objects(*stores: Path) -> None:
    """No temporary weights object left by a killed writer (issue 14), in the DVC cache
    or the folder remote."""
    leftovers = [p for store in stores for p in (store / "files" / "md5").glob(".tmp-*")]
    assert leftovers == [], leftovers


def outcome(base: Path) -> dict[str, object]:
    """What a command's run leaves, in terms that do not depend on the clock: the commits
    of the branch (subjects), which commit each tag marks, the files at HEAD (version files,
    which hold their registration time, by name only), here and on origin."""
    root, origin = base / "reg", base / "origin.git"
    found: dict[str, object] = {}
    for where, repo in (("local", root), ("origin", origin)):
        commits = lines(repo, "rev-list", "--first-parent", "main", "--")
        found[f"{where} subjects"] = lines(repo, "log", "--format=%s", "--first-parent", "main")
        found[f"{where} tags"] = sorted(
            f"{name} -> {commits.index(target[:40]) if target[:40] in commits else target}"
            for name, target in (line.split(" ") for line in lines(
                repo, "for-each-ref", "--format=%(refname:short) %(*objectname)%(objectname)",
                "refs/tags")))
    found["files"] = sorted(
        line.split("\t")[1] if "/versions/" in line else line
        for line in lines(root, "ls-tree", "-r", "HEAD"))
    found["work tree"] = sorted(str(p.relative_to(root)) for p in (root / "models").rglob("*"))
    return found


# -- the harness ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The registry of ``build``, made once for all the commands (in an environment like
    the one conftest.isolated gives each test, which is not there yet at module scope)."""
    base = tmp_path_factory.mktemp("crash")
    env = base / "_env"
    (env / "home").mkdir(parents=True)
    (env / "gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        "[init]\n\tdefaultBranch = main\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(env / "home"))
        patch.setenv("GIT_CONFIG_GLOBAL", str(env / "gitconfig"))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        patch.setenv("DVC_NO_ANALYTICS", "1")
        patch.chdir(base)
        (base / "template").mkdir()
        build(base / "template")
    return base / "template"


@pytest.mark.slow
@pytest.mark.parametrize("command", list(SCENARIOS))
def test_a_command_killed_at_any_point_leaves_a_whole_registry_and_can_be_run_again(
    command: str, built: Path, tmp_path: Path
) -> None:
    args, prepare = SCENARIOS[command]
    template = tmp_path / "template"
    copy(built, template)
    if prepare is not None:
        prepare(template)
    before = snapshot(template / "reg")
    weights_everywhere = prepare is None

    traced = tmp_path / "traced"
    copy(template, traced)
    trace = tmp_path / "trace.txt"
    done = gitreg(traced / "reg", args, GITREG_FAULT_TRACE=str(trace))
    assert done.returncode == 0, done.stderr
    expected = outcome(traced)
    assert expected != outcome(template), "the command changed nothing"
    repeat = gitreg(traced / "reg", args).returncode  # what running it twice says
    total, points = kill_points(trace)
    print(f"\n{command}: {total} points traced, killed at {len(points)}")
    notes: list[str] = []  # what each recovery said

    def kill_at(point: int) -> None:
        base = tmp_path / f"kill-{point}"
        copy(template, base)
        root = base / "reg"
        killed = gitreg(root, args, GITREG_FAULT_KILL_AT=str(point))
        where = f"killed at point {point} of {command!r}"
        assert killed.returncode == -signal.SIGKILL, f"{where}: exit {killed.returncode}"
        # Killed after starting `git push`, gitreg leaves it running (on purpose: issue 13);
        # until it ends, origin is mid-transaction and may show a tag before its branch.
        wait_for_orphans(base)

        assert_tags_on_branch(root)
        assert_tags_on_branch(base / "origin.git")
        assert_stages_name_present_versions(root, base / "storage", weights_everywhere)

        journal = (root / ".git" / "gitreg-journal").exists()
        finished = not journal and outcome(base) == expected
        how = point % 4
        if how == 0:  # the next command is `gitreg check`
            checked = gitreg(root, ("check",))
            assert checked.returncode == 0, f"{where}: {checked.stdout}{checked.stderr}"
            said = _recovery_line(checked.stderr)
            assert (said is not None) == journal, f"{where}: {checked.stderr}"
            if journal:  # the recovery removed what the dead write had half-copied
                assert_no_partial_objects(root / ".dvc" / "cache", base / "storage")
        elif how == 1:  # the same recovery, in-process
            said = recover_interrupted(root)
            assert (said is not None) == journal, where
        if how < 2:
            assert_whole(root, lock_gone=False)
            if snapshot(root) != before:
                assert outcome(base) == expected, f"{where}: neither before nor after"
                finished = True

        again = gitreg(root, args)
        if how >= 2:
            said = _recovery_line(again.stderr)
            assert (said is not None) == journal, f"{where}: {again.stderr}"
            finished = finished or "kept it" in again.stderr
        notes.append(said or "")
        if finished:
            # Done before it died: running it again says what it says after any finished
            # run (exit 5: already in that stage; 4: nothing left to roll back; 0: ci tag).
            assert again.returncode == repeat, f"{where}: {again.stderr}"
        else:
            assert again.returncode == 0, f"{where}: exit {again.returncode}: {again.stderr}"
        assert outcome(base) == expected, where
        assert_whole(root)
        assert_no_partial_objects(root / ".dvc" / "cache", base / "storage")
        assert_tags_on_branch(root)
        assert_tags_on_branch(base / "origin.git")
        assert_stages_name_present_versions(root, base / "storage", True)
        shutil.rmtree(base)

    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(kill_at, point) for point in points]:
            future.result()
    if command != "push":  # push writes no journal: there is nothing to roll back
        assert any("rolled back" in note for note in notes), notes
    if "--push" in args:  # killed once the push was through: the change stays
        assert any("kept it" in note for note in notes), notes


def _recovery_line(stderr: str) -> str | None:
    said = [line for line in stderr.splitlines() if "interrupted by a crash" in line]
    assert len(said) <= 1, stderr
    return said[0] if said else None


def test_a_crashed_write_that_others_built_on_is_left_for_a_person(
    built: Path, tmp_path: Path
) -> None:
    """Rolling back moves HEAD only over the dead writer's own commits: if someone has
    committed on top since, writes stop with a clear message instead of losing theirs."""
    args = SCENARIOS["promote"][0]
    base = tmp_path / "base"
    copy(built, base)
    root = base / "reg"
    trace = tmp_path / "trace.txt"
    copy(built, tmp_path / "traced")
    gitreg(tmp_path / "traced" / "reg", args, GITREG_FAULT_TRACE=str(trace))
    rows = [line.split("\t") for line in trace.read_text().splitlines()]
    # Just after the commit moved HEAD, before its tag.
    (after_commit,) = [int(n) for n, label, detail in rows if detail.startswith("update-index")]
    assert gitreg(root, args, GITREG_FAULT_KILL_AT=str(after_commit)).returncode == -9
    git(root, "commit", "-q", "--allow-empty", "-m", "someone else's work")
    head = git(root, "rev-parse", "HEAD")

    refused = gitreg(root, ("promote", "churn", "1.0.0", "dev"))

    assert refused.returncode == 5, refused.stderr
    assert "cannot be undone safely" in refused.stderr, refused.stderr
    assert "gitreg-journal" in refused.stderr, refused.stderr
    assert len(refused.stderr.splitlines()) == 1, refused.stderr
    assert git(root, "rev-parse", "HEAD") == head
    assert (root / ".git" / "gitreg-journal").exists()


def test_the_next_write_removes_a_dead_writers_partial_objects_only(
    registry: Registry, storage: Path, weights: Path, tmp_path: Path
) -> None:
    """What a writer killed while copying weights left (issue 14) goes with the next write
    of weights; a live writer's temporary file, and a recent one of another host, stay."""
    from gitreg.weights.storage import _HOST, FOREIGN_AGE

    registry.register("churn", weights, version="1.0.0")  # the store folders exist
    gone = subprocess.Popen(["true"])  # a process id that is gone now
    gone.wait()
    alive = subprocess.Popen(["sleep", "30"])
    try:
        made = {}
        for store in (registry.root / ".dvc" / "cache", storage):
            folder = store / "files" / "md5"
            made[store] = {
                "dead": folder / f".tmp-{_HOST}-{gone.pid}-abc123",
                "alive": folder / f".tmp-{_HOST}-{alive.pid}-abc123",
                "other host": folder / ".tmp-elsewhere-1-abc123",
                "old": folder / ".tmp-elsewhere-2-abc123",
            }
            for path in made[store].values():
                path.write_bytes(b"half")
            os.utime(made[store]["old"], (0, FOREIGN_AGE))
        other = tmp_path / "other.bin"
        other.write_bytes(b"other weights")
        registry.register("churn", other, version="1.1.0")
        for store, paths in made.items():
            left = sorted(p.name for p in (store / "files" / "md5").glob(".tmp-*"))
            assert left == sorted(paths[k].name for k in ("alive", "other host")), store
    finally:
        alive.kill()
        alive.wait()


# -- recovery in a linked worktree, for readers too (issue 13, point 5) -----------------------


def _point(trace: Path, label: str, detail: str = "") -> int:
    for line in trace.read_text().splitlines():
        number, kind, where = line.split("\t")
        if kind == label and detail in where:
            return int(number)
    raise AssertionError(f"no point {label} {detail} in {trace.read_text()[-3000:]}")


@pytest.mark.parametrize(("label", "detail"), [("rename", "stages.yaml"), ("git", "update-index")],
                         ids=["file-written", "committed"])
def test_readers_in_a_worktree_see_a_killed_write_rolled_back(
    registry: Registry, weights: Path, tmp_path: Path, label: str, detail: str
) -> None:
    registry.register("churn", weights, version="1.0.0")
    registry.register("churn", weights, version="1.1.0")
    registry.promote("churn", "1.0.0", "production")
    side = tmp_path / "side"
    git(registry.root, "worktree", "add", "-q", str(side), "-b", "side")
    trace = tmp_path / "trace"
    args = ("promote", "churn", "1.1.0", "production")
    probe = gitreg(side, args, GITREG_FAULT_TRACE=str(trace))
    assert probe.returncode == 0, probe.stderr
    git(side, "reset", "-q", "--hard", "HEAD~1")
    # A write on a branch other than main makes no tag (issue 14): nothing to delete.
    assert "churn/production/2" not in git(side, "tag").split()
    before = snapshot(side)
    killed = gitreg(side, args, GITREG_FAULT_KILL_AT=str(_point(trace, label, detail)))
    assert killed.returncode == -signal.SIGKILL
    # Every reader recovers first: the half state is never shown.
    which = gitreg(side, ("which", "churn", "production"))
    assert which.stdout.strip() == "1.0.0", which.stdout + which.stderr
    assert "rolled back a write interrupted by a crash" in which.stderr
    assert snapshot(side) == before
    listed = gitreg(side, ("list", "--json"))
    assert '"production"' in listed.stdout and listed.stderr == ""
    report = gitreg(side, ("check",))
    assert report.returncode == 0 and report.stderr == "", report.stderr
    # The main checkout never saw a thing.
    assert gitreg(registry.root, ("which", "churn", "production")).stdout.strip() == "1.0.0"


def test_check_says_when_it_checked_uncommitted_changes(registry: Registry, weights: Path,
                                                        tmp_path: Path) -> None:
    registry.register("churn", weights, version="1.0.0")
    side = tmp_path / "side"
    git(registry.root, "worktree", "add", "-q", str(side), "-b", "side")
    stages = side / "models" / "churn" / "stages.yaml"
    stages.write_text("model: churn\nstages:\n  staging: 1.0.0\n")
    report = gitreg(side, ("check",))
    assert report.returncode == 0, report.stdout + report.stderr
    assert "uncommitted changes to models/churn/stages.yaml" in report.stderr


# -- a push that outlives gitreg (issue 13, point 4) ----------------------------------------


def test_a_killed_push_whose_child_lands_later_is_kept_not_rolled_back(
    registry: Registry, weights: Path, tmp_path: Path
) -> None:
    """gitreg is killed while its `git push` waits on a slow pre-receive hook; the push
    lands after that. The next command must wait for it and keep the change, never roll
    back what origin then holds (which made two commits with one tag number)."""
    registry.register("churn", weights, version="1.0.0")
    registry.register("churn", weights, version="1.1.0")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(registry.root, "remote", "add", "origin", str(origin))
    git(registry.root, "push", "-q", "--atomic", "origin", "HEAD:refs/heads/main", "--tags")
    entered = tmp_path / "hook-entered"
    hook = origin / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ntouch {entered}\nsleep 2\n")
    hook.chmod(0o755)
    writer = subprocess.Popen(
        [sys.executable, "-m", "gitreg", "promote", "churn", "1.1.0", "production", "--push"],
        cwd=registry.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(300):
        if entered.exists() or writer.poll() is not None:
            break
        subprocess.run(["sleep", "0.05"], check=True)
    assert entered.exists(), writer.communicate()
    writer.kill()  # gitreg only: its git push child lives on, in the hook
    writer.communicate()
    which = gitreg(registry.root, ("which", "churn", "production"))
    assert "had reached origin; kept it" in which.stderr, which.stderr
    assert which.stdout.strip() == "1.1.0"
    assert git(origin, "rev-parse", "main") == git(registry.root, "rev-parse", "HEAD")
    assert "churn/production/1" in git(origin, "tag").split()
    # And the next promotion numbers on: one tag number, one commit.
    hook.unlink()
    again = gitreg(registry.root, ("promote", "churn", "1.0.0", "production", "--push"))
    assert again.returncode == 0 and "[churn/production/2]" in again.stdout, again.stderr
    assert check.validate(registry.root).ok


def test_a_push_killed_before_its_pid_is_noted_is_waited_for_and_kept(
    registry: Registry, weights: Path, tmp_path: Path
) -> None:
    """Killed right after starting `git push` and before the journal notes its pid (issue
    18's crash test of a release found it): the recovery finds that child by what it is,
    waits for it, and keeps the change, rather than roll back what then lands on origin."""
    registry.register("churn", weights, version="1.0.0")
    root = registry.root
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(root, "remote", "add", "origin", "../origin.git")
    git(root, "push", "-q", "--atomic", "origin", "HEAD:refs/heads/main", "--tags")
    args = ("promote", "churn", "1.0.0", "production", "--push")
    traced = tmp_path / "traced"
    traced.mkdir()
    for name in ("registry", "origin.git"):
        copy(tmp_path / name, traced / name)
    trace = tmp_path / "trace.txt"
    assert gitreg(traced / "registry", args, GITREG_FAULT_TRACE=str(trace)).returncode == 0
    rows = [line.split("\t") for line in trace.read_text().splitlines()]
    started = next(i for i, row in enumerate(rows) if row[2].startswith("push --atomic"))
    assert rows[started + 1][1:] == ["journal", "push"], rows[started:]
    hook = tmp_path / "origin.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nsleep 2\n")
    hook.chmod(0o755)
    killed = gitreg(root, args, GITREG_FAULT_KILL_AT=rows[started + 1][0])
    assert killed.returncode == -signal.SIGKILL
    said = recover_interrupted(root)  # at once: the push is still in the hook
    assert said is not None and "had reached origin; kept it" in said, said
    assert git(root, "rev-parse", "HEAD") == git(tmp_path / "origin.git", "rev-parse", "main")
    assert "churn/production/1" in git(tmp_path / "origin.git", "tag").split()
