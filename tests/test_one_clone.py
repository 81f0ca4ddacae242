"""Two processes, one clone (issue 6): writers take turns, readers never see half a change.

Writers in the same working copy serialize on the registry's lock (transaction.py): a
pre-commit hook that sleeps logs when each commit is being made, and no two of those
intervals may overlap, also when the writers start by finding the lock of a process that
died. Readers do not take the lock: they read the work tree's files, each replaced whole
(yamlio.write_atomic), written in an order in which a name is never read before what it
names. A reader looping over ``which``/``show`` while a writer registers, promotes and rolls
back must only ever see a state some commit of the branch holds.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import git, run_cli, write_weights

from gitreg.service import check
from gitreg.service.registry import Registry

SLOW_HOOK = """#!/bin/sh
echo "start $$ $(date +%s.%N)" >> '{log}'
sleep 0.4
echo "end $$ $(date +%s.%N)" >> '{log}'
"""


def slow_pre_commit(root: Path, log: Path) -> None:
    hook = root / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(SLOW_HOOK.format(log=log))
    hook.chmod(0o755)


def intervals(log: Path) -> list[tuple[float, float]]:
    started: dict[str, float] = {}
    spans = []
    for line in log.read_text().splitlines():
        what, pid, moment = line.split()
        if what == "start":
            started[pid] = float(moment)
        else:
            spans.append((started.pop(pid), float(moment)))
    assert not started, f"a commit hook never finished: {started}"
    return sorted(spans)


def spawn(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gitreg", *args], cwd=root, env=os.environ.copy(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"{proc.args!r} failed ({proc.returncode}): {err}"
    assert "Traceback" not in err, err
    return out


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def churn(registry: Registry, tmp_path: Path) -> Path:
    registry.register("churn", write_weights(tmp_path / "w1", b"one\n" * 64), version="1.0.0")
    registry.promote("churn", "1.0.0", "production")
    registry.register("churn", write_weights(tmp_path / "w2", b"two\n" * 64), version="1.1.0")
    for n in (2, 3):
        write_weights(tmp_path / f"w{n + 1}", f"v{n}\n".encode() * 64)
    return registry.root


def assert_took_turns(root: Path, log: Path, writers: int) -> None:
    spans = intervals(log)
    assert len(spans) == writers, spans
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, f"two writers committed at once: {spans}"
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (root / ".git" / "gitreg.lock").exists()
    assert check.validate(root).ok


def test_writers_in_one_clone_take_turns(registry: Registry, tmp_path: Path) -> None:
    root = churn(registry, tmp_path)
    log = tmp_path / "commits.log"
    slow_pre_commit(root, log)
    head = git(root, "rev-parse", "HEAD").strip()

    writers = [
        spawn(root, "register", "churn", str(tmp_path / "w3" / "model.bin"), "--version", "1.2.0"),
        spawn(root, "register", "churn", str(tmp_path / "w4" / "model.bin"), "--version", "1.3.0"),
        spawn(root, "promote", "churn", "1.1.0", "staging"),
    ]
    for proc in writers:
        finish(proc)

    assert_took_turns(root, log, 3)
    made = git(root, "log", "--format=%s", f"{head}..HEAD").splitlines()
    assert sorted(made) == ["Promote churn 1.1.0 to staging", "Register churn 1.2.0",
                            "Register churn 1.3.0"]
    tags = set(git(root, "tag", "--list").split())
    assert {"churn@v1.2.0", "churn@v1.3.0", "churn/staging/1"} <= tags
    # Each commit is built on the one before: nothing was lost between writers.
    assert git(root, "rev-list", "--count", f"{head}..HEAD").strip() == "3"


def test_writers_that_find_a_dead_process_lock_take_it_over_one_at_a_time(
    registry: Registry, tmp_path: Path
) -> None:
    root = churn(registry, tmp_path)
    log = tmp_path / "commits.log"
    slow_pre_commit(root, log)
    lock = root / ".git" / "gitreg.lock"
    lock.write_text(f"{dead_pid()} {socket.gethostname()}\n")

    writers = [
        spawn(root, "promote", "churn", "1.1.0", "staging"),
        spawn(root, "promote", "churn", "1.1.0", "dev"),
        spawn(root, "promote", "churn", "1.0.0", "staging"),
    ]
    # A lock held by a live process would make each wait 30 s and then exit 5 (finish).
    results = [finish(proc) for proc in writers]

    assert_took_turns(root, log, 3)
    assert all("promoted" in out for out in results), results
    last = next(subject for subject in git(root, "log", "--format=%s").splitlines()
                if subject.endswith("to staging"))
    assert Registry(root).which("churn", "staging") == (last.split()[2],)  # the last one's
    assert set(git(root, "tag", "--list", "churn/staging/*").split()) == {
        "churn/staging/1", "churn/staging/2"}


READER = """
import json, sys, time, traceback
from pathlib import Path
from gitreg.service.registry import Registry

root, out, stop = Path(sys.argv[1]), open(sys.argv[2], "w"), Path(sys.argv[3])
while not stop.exists():
    try:
        registry = Registry(root)  # as each command does
        held = registry.which("churn", "production")
        record = registry.record("churn", held[0]) if held else None
        seen = {"held": list(held), "version": record and record.version,
                "md5": record and record.artifact.md5}
    except Exception as exc:
        seen = {"error": "".join(traceback.format_exception_only(exc)).strip()}
    out.write(json.dumps(seen) + "\\n")
    out.flush()
    time.sleep(0.01)  # leave the (shared, small) CPU to the writer
"""


def committed_states(root: Path) -> tuple[set[tuple[str, ...]], set[tuple[str, str]]]:
    """Every production holding and every (version, weights md5) some commit has."""
    held: set[tuple[str, ...]] = set()
    versions: set[tuple[str, str]] = set()
    for commit in git(root, "rev-list", "HEAD").split():
        stages = git(root, "show", f"{commit}:models/churn/stages.yaml") if git(
            root, "ls-tree", commit, "models/churn/stages.yaml") else ""
        production = (yaml.safe_load(stages) or {}).get("stages", {}).get("production")
        held.add(() if production is None else (str(production),))
        for line in git(root, "ls-tree", "-r", commit, "models/churn/versions").splitlines():
            blob, path = line.split()[2], line.split("\t")[1]
            record = yaml.safe_load(git(root, "cat-file", "blob", blob))
            versions.add((Path(path).stem, record["artifact"]["md5"]))
    return held, versions


def test_readers_only_see_states_some_commit_holds(registry: Registry, tmp_path: Path) -> None:
    root = churn(registry, tmp_path)
    seen_file, stop = tmp_path / "seen.jsonl", tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(root), str(seen_file),
                               str(stop)], env=os.environ.copy())
    writes = [
        ("promote", "churn", "1.1.0", "production"),
        ("rollback", "churn", "production"),
        ("register", "churn", str(tmp_path / "w3" / "model.bin"), "--version", "1.2.0",
         "--stage", "production"),
        ("demote", "churn", "production"),
        ("register", "churn", str(tmp_path / "w4" / "model.bin"), "--version", "1.3.0",
         "--stage", "production"),
        ("rollback", "churn", "production", "--to", "1.1.0"),
    ]
    cli_reads = []
    try:
        for args in writes:
            writer = spawn(root, *args)
            # A second reader: the command line, as users read (a few calls per write).
            for _ in range(2):
                if writer.poll() is None:
                    cli_reads.append(run_cli("show", "churn#production", "--json", cwd=root))
            finish(writer)
    finally:
        stop.touch()
        reader.wait(timeout=60)

    held, versions = committed_states(root)
    seen = [json.loads(line) for line in seen_file.read_text().splitlines()]
    assert len(seen) >= 10, f"the reader read only {len(seen)} times"
    for read in seen:
        assert "error" not in read, read["error"]
        assert tuple(read["held"]) in held, f"read {read['held']}, which no commit holds"
        if read["version"] is not None:
            assert (read["version"], read["md5"]) in versions, read
    for proc in cli_reads:
        if proc.returncode == 4:  # demoted: production held nothing, as a commit says
            assert "no version in production" in proc.stderr, proc.stderr
            assert () in held
            continue
        assert proc.returncode == 0, proc.stderr
        shown = json.loads(proc.stdout)
        assert ((shown["version"],) in held and
                (shown["version"], shown["artifact"]["md5"]) in versions), shown
    assert len({tuple(read["held"]) for read in seen} | {()}) >= 2, "the reader saw no change"
