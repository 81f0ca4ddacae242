"""All-or-nothing writes: a failure part-way leaves no commit, no tag, no half-written file.

Each test breaks one step of a real write (the DVC remote, a git hook, a tag, Ctrl-C),
runs ``python -m gitreg`` as a user would, and checks that refs, index, work tree and the
registry lock are exactly as before; then it repairs the cause and runs the same command
again, which must succeed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot, write_weights

from gitreg.service.registry import NewVersion, Registry

TOOL_FAILED = 8
CONFLICT = 5
INTERRUPTED = 130


@pytest.fixture
def churn(registry: Registry, weights: Path) -> Path:
    """A registry holding churn 1.0.0, in production; its root."""
    registry.register("churn", weights, version="1.0.0",
                      info=NewVersion(metrics={"accuracy": 0.9}))
    registry.promote("churn", "1.0.0", "production")
    return registry.root


@pytest.fixture
def weights2(tmp_path: Path) -> Path:
    return write_weights(tmp_path / "v2", b"weights v2\n" * 100)


def hook(root: Path, name: str, body: str) -> Path:
    path = root / ".git" / "hooks" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def assert_failed_cleanly(
    root: Path, before: dict[str, object], proc: subprocess.CompletedProcess[str],
    code: int, says: tuple[str, ...],
) -> None:
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}:\n{output}"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    for text in says:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    assert snapshot(root) == before
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (root / ".git" / "gitreg.lock").exists()


def tags(root: Path) -> list[str]:
    return git(root, "tag", "--list").split()


def object_in(storage: Path, data: bytes) -> Path:
    md5 = hashlib.md5(data).hexdigest()
    return storage / "files" / "md5" / md5[:2] / md5[2:]


# -- DVC / storage -------------------------------------------------------------------------


def test_register_leaves_nothing_when_the_dvc_remote_is_not_a_folder(
    registry: Registry, storage: Path, weights: Path
) -> None:
    root = registry.root
    # Tests run as root, for whom chmod stops nothing: a regular file where the remote
    # folder should be makes every write to it fail.
    shutil.rmtree(storage, ignore_errors=True)
    storage.write_text("not a folder\n")
    before = snapshot(root)
    args = ("register", "churn", str(weights), "--version", "1.0.0", "--metric", "acc=0.9")

    proc = run_cli(*args, cwd=root)

    assert_failed_cleanly(root, before, proc, TOOL_FAILED,
                          says=("DVC remote 'storage'", "is not a usable folder",
                                "fix the url in .dvc/config"))
    assert not (root / "models").exists()  # the first version: no folder left behind
    assert tags(root) == []

    storage.unlink()
    run_cli(*args, cwd=root, check=True)
    assert tags(root) == ["churn@v1.0.0"]
    assert object_in(storage, weights.read_bytes()).is_file()


def test_register_leaves_nothing_when_writing_to_the_dvc_remote_fails(
    churn: Path, storage: Path, weights2: Path
) -> None:
    # The remote folder is there, but the object store inside it cannot be written.
    shutil.rmtree(storage / "files")
    (storage / "files").write_text("in the way\n")
    before = snapshot(churn)
    args = ("register", "churn", str(weights2), "--version", "1.1.0")

    proc = run_cli(*args, cwd=churn)

    assert_failed_cleanly(churn, before, proc, TOOL_FAILED, says=("DVC remote 'storage'",))
    assert not (churn / "models/churn/artifacts/1.1.0").exists()

    (storage / "files").unlink()
    run_cli(*args, cwd=churn, check=True)
    assert "churn@v1.1.0" in tags(churn)
    assert object_in(storage, weights2.read_bytes()).is_file()


# -- git refuses the commit ----------------------------------------------------------------


def test_register_leaves_nothing_when_a_pre_commit_hook_rejects_the_commit(
    churn: Path, weights2: Path
) -> None:
    rejecting = hook(churn, "pre-commit", "echo 'pre-commit: not today' >&2\nexit 1\n")
    before = snapshot(churn)
    args = ("register", "churn", str(weights2), "--version", "1.1.0")

    proc = run_cli(*args, cwd=churn)

    assert_failed_cleanly(churn, before, proc, TOOL_FAILED,
                          says=("pre-commit hook rejected the commit", "pre-commit: not today"))
    assert not (churn / "models/churn/versions/1.1.0.yaml").exists()
    assert not (churn / "models/churn/artifacts/1.1.0").exists()

    rejecting.unlink()
    run_cli(*args, cwd=churn, check=True)
    assert "churn@v1.1.0" in tags(churn)
    assert git(churn, "status", "--porcelain", "--untracked-files=all") == ""


def test_promote_leaves_nothing_when_a_pre_commit_hook_rejects_the_commit(
    churn: Path, weights2: Path
) -> None:
    Registry(churn).register("churn", weights2, version="1.1.0")
    rejecting = hook(churn, "pre-commit", "echo 'pre-commit: frozen' >&2\nexit 1\n")
    stages_before = (churn / "models/churn/stages.yaml").read_text()
    before = snapshot(churn)
    args = ("promote", "churn", "1.1.0", "production")

    proc = run_cli(*args, cwd=churn)

    assert_failed_cleanly(churn, before, proc, TOOL_FAILED,
                          says=("pre-commit hook rejected the commit", "pre-commit: frozen"))
    assert (churn / "models/churn/stages.yaml").read_text() == stages_before

    rejecting.unlink()
    run_cli(*args, cwd=churn, check=True)
    assert "production: 1.1.0" in (churn / "models/churn/stages.yaml").read_text()
    assert "churn/production/2" in tags(churn)


# -- failures after the commit was made ------------------------------------------------------


def test_promote_undoes_its_commit_when_the_stage_tag_cannot_be_created(churn: Path,
                                                                        weights2: Path) -> None:
    Registry(churn).register("churn", weights2, version="1.1.0")
    # A hand-made tag one level below the next stage tag: git cannot create
    # refs/tags/churn/production/2 while refs/tags/churn/production/2/ is a folder.
    git(churn, "tag", "churn/production/2/by-hand")
    head = git(churn, "rev-parse", "HEAD")
    before = snapshot(churn)
    args = ("promote", "churn", "1.1.0", "production")

    proc = run_cli(*args, cwd=churn)

    assert_failed_cleanly(churn, before, proc, TOOL_FAILED,
                          says=("git update-ref --stdin failed", "churn/production/2"))
    assert git(churn, "rev-parse", "HEAD") == head
    # The tag and the branch move in one ref transaction: the branch never moved.
    assert not git(churn, "reflog", "-1", "--format=%gs").startswith("gitreg: undo")

    git(churn, "tag", "-d", "churn/production/2/by-hand")
    run_cli(*args, cwd=churn, check=True)
    assert "churn/production/2" in tags(churn)


def test_register_undoes_its_commit_when_a_hook_took_the_version_tag(
    churn: Path, weights2: Path
) -> None:
    # Another process tags churn@v1.1.0 after gitreg looked for the tag and before its
    # commit is made: the ref transaction that would make the tag and move the branch fails.
    racing = hook(churn, "pre-commit", "git tag churn@v1.1.0 HEAD\n")
    head = git(churn, "rev-parse", "HEAD")
    before = snapshot(churn)
    args = ("register", "churn", str(weights2), "--version", "1.1.0")

    proc = run_cli(*args, cwd=churn)

    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == TOOL_FAILED, output
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "churn@v1.1.0" in proc.stderr and "already exists" in proc.stderr
    assert git(churn, "rev-parse", "HEAD") == head
    # The racing tag is not gitreg's to delete; everything else is as before.
    git(churn, "tag", "-d", "churn@v1.1.0")
    assert snapshot(churn) == before
    assert not (churn / "models/churn/artifacts/1.1.0").exists()
    assert not (churn / ".git" / "gitreg.lock").exists()

    racing.unlink()
    run_cli(*args, cwd=churn, check=True)
    assert "churn@v1.1.0" in tags(churn)


def test_a_hook_without_a_shebang_runs_as_git_runs_it(churn: Path, weights2: Path) -> None:
    """git runs a hook that has no #! line with the shell; gitreg, which runs the commit
    hooks itself, did not: the exec failed after HEAD had moved (exit 70)."""
    marker = churn / ".git" / "hook-ran"
    path = churn / ".git" / "hooks" / "post-commit"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"touch '{marker}'\n")
    path.chmod(0o755)
    run_cli("register", "churn", str(weights2), "--version", "1.1.0", cwd=churn, check=True)
    assert marker.exists()
    assert "churn@v1.1.0" in tags(churn)
    assert git(churn, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_commit_made_meanwhile_by_another_process_is_never_undone(
    churn: Path, weights2: Path
) -> None:
    """Plain git takes no gitreg lock: another process commits while gitreg builds its
    commit. gitreg's compare-and-swap fails; its undo leaves that commit where it is."""
    # Once: the hook commits a file of its own, then removes itself. It runs as another
    # process would, with git's own index, not the one gitreg builds its commit in.
    racing = hook(churn, "pre-commit",
                  "unset GIT_INDEX_FILE; echo theirs > theirs.txt && git add theirs.txt && "
                  "rm \"$0\" && git commit -qm theirs\n")
    head = git(churn, "rev-parse", "HEAD")

    proc = run_cli("promote", "churn", "1.0.0", "staging", cwd=churn)

    assert proc.returncode == TOOL_FAILED, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "HEAD" in proc.stderr, proc.stderr
    assert not racing.exists()
    assert git(churn, "log", "-1", "--format=%s").strip() == "theirs"  # kept
    assert git(churn, "rev-parse", "HEAD~1") == head
    assert "churn/staging/1" not in tags(churn)
    assert git(churn, "status", "--porcelain", "--untracked-files=all") == ""
    run_cli("promote", "churn", "1.0.0", "staging", cwd=churn, check=True)
    assert git(churn, "log", "-2", "--format=%s").splitlines()[1] == "theirs"


def test_a_change_someone_committed_on_top_of_is_left_for_a_person(
    churn: Path, weights2: Path
) -> None:
    """register --stage commits twice. Another process commits on top of the first, then
    the second fails: undoing the first would drop theirs, or leave theirs naming files
    that are gone. gitreg touches nothing, says so (exit 5), and keeps the journal."""
    hook(churn, "post-commit", "unset GIT_INDEX_FILE; rm \"$0\"; "
                               "git commit -q --no-verify --allow-empty -m theirs\n")
    hook(churn, "pre-commit", "[ -f .git/second ] && exit 1; touch .git/second\n")
    args = ("register", "churn", str(weights2), "--version", "1.1.0", "--stage", "staging")

    proc = run_cli(*args, cwd=churn)

    assert proc.returncode == CONFLICT, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert "on top of this change's commit" in proc.stderr and "not undone" in proc.stderr
    assert git(churn, "log", "-2", "--format=%s").split("\n")[:2] == [
        "theirs", "Register churn 1.1.0"]
    assert "churn@v1.1.0" in tags(churn)  # nothing of the kept commit was taken away
    assert (churn / "models/churn/versions/1.1.0.yaml").exists()
    assert (churn / ".git" / "gitreg-journal").exists()
    refused = run_cli("list", cwd=churn)
    assert refused.returncode == CONFLICT and "cannot be undone safely" in refused.stderr


def test_recovery_never_undoes_a_commit_made_after_the_writer_died(
    churn: Path, tmp_path: Path
) -> None:
    """gitreg is killed just before it moves HEAD to its commit; then someone commits by
    hand before any gitreg command runs. Recovery must not take that commit for the dead
    writer's (it counts one commit, the writer noted one): it refuses, and says why."""
    args = ("promote", "churn", "1.0.0", "staging")
    trace = tmp_path / "trace.txt"
    copy = tmp_path / "copy"
    shutil.copytree(churn, copy, symlinks=True)
    traced = subprocess.run([sys.executable, "-m", "gitreg", *args], cwd=copy,
                            env={**os.environ, "GITREG_FAULT_TRACE": str(trace)},
                            capture_output=True, text=True, check=False)
    assert traced.returncode == 0, traced.stderr
    points = [line.split("\t") for line in trace.read_text().splitlines()]
    (at,) = [n for n, label, detail in points if detail.startswith("update-ref -m")]
    killed = subprocess.run([sys.executable, "-m", "gitreg", *args], cwd=churn,
                            env={**os.environ, "GITREG_FAULT_KILL_AT": at},
                            capture_output=True, text=True, check=False)
    assert killed.returncode == -signal.SIGKILL
    (churn / "notes.txt").write_text("mine\n")
    git(churn, "add", "notes.txt")
    git(churn, "commit", "-qm", "mine")
    mine = git(churn, "rev-parse", "HEAD")

    proc = run_cli("list", cwd=churn)

    assert proc.returncode == CONFLICT, proc.stderr
    assert "cannot be undone safely" in proc.stderr and "not its own" in proc.stderr
    assert git(churn, "rev-parse", "HEAD") == mine


def test_register_with_stage_undoes_both_commits_and_the_version_tag(
    churn: Path, weights2: Path
) -> None:
    # Registration commits and tags, then the promotion's tag fails: all of it goes.
    git(churn, "tag", "churn/production/2/by-hand")
    head = git(churn, "rev-parse", "HEAD")
    before = snapshot(churn)
    args = ("register", "churn", str(weights2), "--version", "1.1.0", "--stage", "production")

    proc = run_cli(*args, cwd=churn)

    assert_failed_cleanly(churn, before, proc, TOOL_FAILED,
                          says=("git update-ref --stdin failed", "churn/production/2"))
    assert git(churn, "rev-parse", "HEAD") == head
    assert "churn@v1.1.0" not in tags(churn)
    assert not (churn / "models/churn/versions/1.1.0.yaml").exists()

    git(churn, "tag", "-d", "churn/production/2/by-hand")
    run_cli(*args, cwd=churn, check=True)
    assert {"churn@v1.1.0", "churn/production/2"} <= set(tags(churn))


# -- Ctrl-C --------------------------------------------------------------------------------


def _as_a_shell_starts_it() -> None:
    """In the child, before gitreg runs: SIGINT at its default and blocked nowhere, as a
    shell starts a foreground job. Both are inherited: a suite started in the background of
    a non-interactive shell (``.ci/run &``) runs with SIGINT ignored, as POSIX asks of such
    jobs, and handed that on to gitreg and to the hook, whose sleep then outlasted the
    test's wait."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("when", ["pre-commit", "post-commit"])
def test_ctrl_c_during_register_changes_nothing(
    churn: Path, weights2: Path, tmp_path: Path, when: str
) -> None:
    """Before its commit, or once HEAD has moved to it and its tag (a post-commit hook runs
    then): either way the register is undone whole."""
    marker = tmp_path / "hook-started"
    sleeping = hook(churn, when, f"touch '{marker}'\nsleep 30\n")
    before = snapshot(churn)
    args = ("register", "churn", str(weights2), "--version", "1.1.0")

    proc = subprocess.Popen(
        [sys.executable, "-m", "gitreg", *args], cwd=churn, env=os.environ.copy(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_as_a_shell_starts_it,
    )
    try:
        deadline = time.monotonic() + 20
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the pre-commit hook never started"
            time.sleep(0.02)
        # As a terminal does: SIGINT to the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    assert "Traceback" not in stdout + stderr, stderr
    assert proc.returncode == INTERRUPTED, stderr
    assert stderr.splitlines() == ["gitreg: interrupted; nothing was changed"]
    assert snapshot(churn) == before
    assert git(churn, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (churn / ".git" / "gitreg.lock").exists()
    assert not (churn / ".git" / "index.lock").exists()

    sleeping.unlink()
    run_cli(*args, cwd=churn, check=True)
    assert "churn@v1.1.0" in tags(churn)
