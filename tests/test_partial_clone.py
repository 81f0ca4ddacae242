"""The commands CI runs, in partial clones (issue 19): ``git clone --filter=blob:none`` and
``--filter=tree:0`` of a registry served through ``file://`` with ``uploadpack.allowFilter``
on, as GitHub and GitLab serve them. Each command must print what it prints in a full clone,
fetching what the clone lacks; in a blob:none clone in one fetch per command, not one per
``stages.yaml`` version history holds (git's own lazy fetch goes object by object)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import git, run_cli, write_weights

from gitreg.git import partial
from gitreg.service.registry import Registry

MODEL = "churn"


@pytest.fixture
def origin(registry: Registry, tmp_path: Path) -> Path:
    """A bare origin: churn with five versions moved through three stages (so its history
    holds a dozen stage maps), fraud with one, and a last promotion whose tag never
    reached origin (what ``ci tag`` is for)."""
    for i in range(5):
        registry.register(MODEL, write_weights(tmp_path, f"churn {i}\n".encode() * 40),
                          version=f"1.{i}.0")
        for stage in ("dev", "staging", "production"):
            registry.promote(MODEL, f"1.{i}.0", stage)
    registry.register("fraud", write_weights(tmp_path, b"fraud\n" * 40), version="1.0.0")
    registry.promote("fraud", "1.0.0", "staging")
    git(registry.root, "tag", "-d", "fraud/staging/1")
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", str(bare))
    git(bare, "config", "uploadpack.allowFilter", "true")
    git(registry.root, "push", "--quiet", str(bare), "main", "--tags")
    return bare


def clone(origin: Path, where: Path, *flags: str) -> Path:
    git(where.parent, "clone", "--quiet", *flags, origin.as_uri(), str(where))
    return where


def fetches(root: Path) -> int:
    """How many packs the clone holds: each fetch adds one."""
    return len(list((root / ".git" / "objects" / "pack").glob("*.pack")))


COMMANDS = {
    "check": ["check"],
    "which": ["which", MODEL, "production"],
    "list": ["list"],
    "history": ["history", MODEL],
    "ci event": ["ci", "event", f"{MODEL}/production/5"],
    "ci tag": ["ci", "tag"],
}


@pytest.mark.parametrize("flag", ["--filter=blob:none", "--filter=tree:0"])
def test_ci_commands_in_a_partial_clone_say_what_they_say_in_a_full_one(
        origin: Path, tmp_path: Path, flag: str) -> None:
    full = clone(origin, tmp_path / "full")
    part = clone(origin, tmp_path / "partial", flag)
    assert partial.is_partial(part / ".git" / "objects")
    assert not partial.is_partial(full / ".git" / "objects")
    for label, args in COMMANDS.items():
        before = fetches(part)
        expected = run_cli(*args, cwd=full)
        got = run_cli(*args, cwd=part)
        assert (got.returncode, got.stdout) == (expected.returncode, expected.stdout), label
        assert got.returncode == 0, f"{label}: {got.stderr}"
        assert "Traceback" not in got.stderr
        if flag == "--filter=blob:none":
            # The history's stage maps came in one fetch, not one per version of the file.
            assert fetches(part) - before <= 1, label
    assert "fraud/staging/1" in git(part, "tag", "--list", "fraud/*")
    for root in (full, part):  # as the deploy examples run it
        out = run_cli("get", MODEL, "--stage", "production", "-o", "model/", cwd=root)
        assert out.returncode == 0, out.stderr
    (fetched,) = (part / "model").iterdir()
    assert fetched.read_bytes() == b"churn 4\n" * 40
    assert [p.name for p in (full / "model").iterdir()] == [fetched.name]


def test_a_blob_none_clone_fetches_a_models_history_in_one_go(origin: Path,
                                                              tmp_path: Path) -> None:
    part = clone(origin, tmp_path / "partial", "--filter=blob:none")
    log = git(part, "log", "--format=", "--raw", "--no-abbrev", "--",
              f"models/{MODEL}/stages.yaml")
    blobs = {line.split()[3] for line in log.splitlines() if line.startswith(":")}
    objects = part / ".git" / "objects"
    lacking = partial.missing(objects, blobs)
    assert lacking is not None and len(lacking) >= 10  # only today's stages.yaml came along
    before = fetches(part)
    assert run_cli("history", MODEL, cwd=part).returncode == 0
    assert fetches(part) == before + 1
    assert partial.missing(objects, blobs) == []
    assert run_cli("history", MODEL, cwd=part).returncode == 0
    assert fetches(part) == before + 1  # nothing lacking: no fetch


def test_missing_reads_loose_objects_packs_and_alternates(origin: Path, tmp_path: Path) -> None:
    full = clone(origin, tmp_path / "full")
    objects = full / ".git" / "objects"
    packed = git(full, "rev-parse", "HEAD:registry.yaml").strip()
    new = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=full, input=b"loose\n",
                         capture_output=True, check=True).stdout.decode().strip()
    absent = "0" * 40
    assert partial.missing(objects, [packed, new, absent]) == [absent]
    borrower = tmp_path / "borrower"
    git(tmp_path, "init", "--quiet", str(borrower))
    (borrower / ".git" / "objects" / "info" / "alternates").write_text(f"{objects}\n")
    assert partial.missing(borrower / ".git" / "objects", [packed, new, absent]) == [absent]
    # An index it cannot read: it says it cannot tell, rather than guessing.
    (idx,) = (objects / "pack").glob("*.idx")
    broken = tmp_path / "broken" / "pack"
    broken.mkdir(parents=True)
    shutil.copy(idx, broken / idx.name)
    (broken / idx.name).write_bytes(b"\0" * 2000)
    assert partial.missing(broken.parent, [packed]) is None
