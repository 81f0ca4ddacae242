"""`gitreg gc` on a folder remote (issue 16): what it keeps, what it deletes, dry run."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import git, run_cli, write_weights

from gitreg.service import gc, lifecycle
from gitreg.service.registry import Registry
from gitreg.weights.storage import object_path


def _age(base: Path, days: float = 1) -> None:
    """Make every object in a store look ``days`` old (past the grace period)."""
    then = time.time() - days * 86400
    for path in (base / "files").rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


@pytest.fixture
def reg(registry: Registry, tmp_path: Path) -> Registry:
    for n in (1, 2, 3):
        source = write_weights(tmp_path / f"w{n}", f"weights {n}\n".encode() * 50)
        registry.register("churn", source, version=f"1.{n}.0")
    folder = tmp_path / "dirmodel"
    write_weights(folder, b"shared\n" * 10, "shared.bin")
    write_weights(folder, b"own\n" * 10, "own.bin")
    registry.register("churn", folder, version="1.4.0")
    registry.promote("churn", "1.2.0", "production")
    return registry


def _md5(registry: Registry, version: str) -> str:
    return registry.record("churn", version).artifact.md5


def test_gc_keeps_what_is_needed_and_deletes_the_rest(reg: Registry, storage: Path) -> None:
    cache = reg.root / ".dvc" / "cache"
    lifecycle.deprecate(reg, "churn", "1.1.0", reason="bad")
    lifecycle.deprecate(reg, "churn", "1.2.0", reason="old", demote=True)
    old, held = _md5(reg, "1.1.0"), _md5(reg, "1.2.0")
    # Young objects are kept: a registration racing gc in another clone wrote them just now.
    assert gc.collect(reg).garbage == ()
    assert gc.collect(reg).young == 2  # 1.1.0 in the cache and on the remote
    _age(cache)
    _age(storage)
    # 1.2.0 was in production within the last 30 days: kept; 1.1.0 never was.
    dry = run_cli("gc", cwd=reg.root)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0] == (f"would delete local cache {old} (500 bytes): churn 1.1.0 "
                        "(deprecated: bad)")
    assert lines[1].startswith(f"would delete remote storage {old} ")
    assert lines[2] == "would delete 2 objects, 1000 bytes; run with --yes to delete"
    assert lines[3:] == ["kept churn 1.2.0 (deprecated: old): production held it in the last "
                         "30 days"]
    assert object_path(storage, old).exists()  # a dry run deletes nothing
    # Another branch that still uses 1.1.0 keeps it.
    git(reg.root, "branch", "keep", "HEAD~2")
    assert gc.collect(reg).garbage == ()
    git(reg.root, "branch", "-D", "keep")
    done = run_cli("gc", "--yes", cwd=reg.root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2] == "deleted 2 objects, 1000 bytes"
    assert not object_path(storage, old).exists() and not object_path(cache, old).exists()
    assert object_path(storage, held).exists()
    # With a keep window of 0 days, what production held no longer counts.
    later = datetime.now(timezone.utc) + timedelta(seconds=5)
    result = gc.collect(reg, keep_days=0, now=later, delete=True)
    assert {g.md5 for g in result.garbage} == {held}
    # Every version that is not deprecated still gets its weights.
    for version in ("1.3.0", "1.4.0"):
        out = reg.root.parent / f"out-{version}"
        got = run_cli("get", "churn", "--version", version, "-o", str(out), cwd=reg.root)
        assert got.returncode == 0, got.stderr
    assert run_cli("gc", cwd=reg.root).stdout.strip() == "would delete 0 objects, 0 bytes"


def test_gc_keeps_files_a_kept_folder_shares(reg: Registry, tmp_path: Path,
                                             storage: Path) -> None:
    folder = tmp_path / "dirmodel2"
    write_weights(folder, b"shared\n" * 10, "shared.bin")  # the same bytes as in 1.4.0
    write_weights(folder, b"mine\n" * 10, "mine.bin")
    reg.register("churn", folder, version="1.5.0")
    lifecycle.deprecate(reg, "churn", "1.5.0", reason="bad")
    _age(reg.root / ".dvc" / "cache")
    _age(storage)
    result = gc.collect(reg, delete=True)
    deleted = {(g.store, g.why.split(" (")[0]) for g in result.garbage}
    assert deleted == {("local cache", "a file of churn 1.5.0"), ("local cache", "churn 1.5.0"),
                       ("remote storage", "a file of churn 1.5.0"),
                       ("remote storage", "churn 1.5.0")}
    assert len(result.garbage) == 4  # mine.bin and the listing, twice; shared.bin stays
    out = tmp_path / "out14"
    assert run_cli("get", "churn", "--version", "1.4.0", "-o", f"{out}/",
                   cwd=reg.root).returncode == 0
    assert (out / "shared.bin").read_bytes() == b"shared\n" * 10


def test_gc_frees_what_a_release_no_longer_needs_and_names_what_keeps_the_rest(
        reg: Registry, storage: Path) -> None:
    """A release tag marks an event of the main history, as a stage tag does: it keeps
    nothing alive by itself (it kept every version registered before it), while what the
    release put in a stage stays as long as the stage holds it. A tag of the user's keeps
    its snapshot, and gc says which tag keeps what."""
    release = run_cli("release", "bundle", "--model", "churn@1.3.0", "--stage", "production",
                      cwd=reg.root)
    assert release.returncode == 0, release.stderr
    lifecycle.deprecate(reg, "churn", "1.1.0", reason="bad")
    lifecycle.deprecate(reg, "churn", "1.2.0", reason="old")  # the release replaced it
    _age(reg.root / ".dvc" / "cache")
    _age(storage)
    bad, old, current = _md5(reg, "1.1.0"), _md5(reg, "1.2.0"), _md5(reg, "1.3.0")
    dry = run_cli("gc", "--keep-days", "0", "--json", cwd=reg.root, check=True)
    planned = json.loads(dry.stdout)
    assert {(g["store"], g["md5"]) for g in planned["garbage"]} == {
        (store, md5) for store in ("local cache", "remote storage") for md5 in (bad, old)}
    assert planned["kept"] == []
    # Within the window, what production held until the release is kept, and said so.
    windowed = run_cli("gc", "--json", cwd=reg.root, check=True)
    assert {g["md5"] for g in json.loads(windowed.stdout)["garbage"]} == {bad}
    assert json.loads(windowed.stdout)["kept"] == [
        {"model": "churn", "version": "1.2.0", "deprecated": "old",
         "why": "production held it in the last 30 days"}]
    # A tag of the user's at the release commit is a snapshot: it keeps both, by name.
    git(reg.root, "tag", "snapshot", "release/bundle/1")
    pinned = run_cli("gc", "--keep-days", "0", cwd=reg.root, check=True).stdout.splitlines()
    assert pinned == ["would delete 0 objects, 0 bytes",
                      "kept churn 1.1.0 (deprecated: bad): not deprecated at refs/tags/snapshot",
                      "kept churn 1.2.0 (deprecated: old): not deprecated at refs/tags/snapshot"]
    git(reg.root, "tag", "-d", "snapshot")
    done = run_cli("gc", "--keep-days", "0", "--yes", cwd=reg.root, check=True)
    assert done.stdout.splitlines()[-1] == "deleted 4 objects, 2000 bytes"
    assert not object_path(storage, bad).exists() and not object_path(storage, old).exists()
    assert object_path(storage, current).exists()  # what the release put in production


def test_gc_keep_days_from_registry_yaml_and_bad_values(reg: Registry) -> None:
    bad = run_cli("gc", "--keep-days", "-1", cwd=reg.root)
    assert bad.returncode == 3 and "--keep-days" in bad.stderr
    # More days than a date can go back is "keep every holding", not a traceback.
    lifecycle.deprecate(reg, "churn", "1.1.0", reason="old")
    for days in ("99999999999", "1000000"):
        huge = run_cli("gc", "--keep-days", days, cwd=reg.root)
        assert huge.returncode == 0, huge.stderr
    (reg.root / "registry.yaml").write_text(
        (reg.root / "registry.yaml").read_text() + "gc:\n  keep_days: 0\n")
    assert Registry(reg.root).config.gc_keep_days == 0


def test_gc_cut_short_leaves_what_is_needed_and_finishes_when_run_again(
        reg: Registry, tmp_path: Path, storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitreg.weights import collect

    lifecycle.deprecate(reg, "churn", "1.4.0", reason="bad")  # a folder: files, then listing
    lifecycle.deprecate(reg, "churn", "1.1.0", reason="bad")
    _age(reg.root / ".dvc" / "cache")
    _age(storage)
    planned = gc.collect(reg)
    assert len(planned.garbage) == 8  # 1.1.0, 1.4.0's two files and listing; in 2 stores
    real = collect.FolderObjects.delete
    calls = []

    def dies(self: collect.FolderObjects, md5: str) -> None:
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(md5)
        real(self, md5)

    monkeypatch.setattr(collect.FolderObjects, "delete", dies)
    with pytest.raises(KeyboardInterrupt):
        gc.collect(reg, delete=True)
    monkeypatch.setattr(collect.FolderObjects, "delete", real)
    # The listing of 1.4.0 outlived its files: the next run still finds them all.
    listing = reg.record("churn", "1.4.0").artifact.md5
    assert object_path(reg.root / ".dvc" / "cache", listing).exists()
    rest = gc.collect(reg, delete=True)
    assert {(g.store, g.md5) for g in rest.garbage} == (
        {(g.store, g.md5) for g in planned.garbage} - {("local cache", m) for m in calls})
    # Done: a third run has nothing to delete and nothing to warn about (the listing it
    # deleted is not "a listing that could not be read").
    after = run_cli("gc", cwd=reg.root, check=True)
    assert after.stdout.strip() == "would delete 0 objects, 0 bytes"
    for version in ("1.2.0", "1.3.0"):
        got = run_cli("get", "churn", "--version", version, "-o",
                      str(tmp_path / f"o{version}"), cwd=reg.root)
        assert got.returncode == 0, got.stderr


def test_gc_reads_a_hostile_folder_listing_as_unreadable(reg: Registry, storage: Path) -> None:
    """A listing is read from the stores, which a shared remote's other users can write:
    an entry that is no md5 (a path, say) makes the folder unreadable and kept whole, and
    gc neither fails nor touches anything outside the store."""
    listing = _md5(reg, "1.4.0")
    lifecycle.deprecate(reg, "churn", "1.4.0", reason="bad")
    outside = reg.root.parent / "precious.txt"
    outside.write_text("keep me\n")
    for base in (reg.root / ".dvc" / "cache", storage):
        path = object_path(base, listing)
        path.chmod(0o644)
        path.write_text('[{"md5": "../../../../precious.txt", "relpath": "x"}]')
        _age(base)
    result = run_cli("gc", "--yes", cwd=reg.root)
    assert result.returncode == 0, result.stderr
    assert f"kept folder {listing}: its listing could not be read" in result.stdout
    assert outside.read_text() == "keep me\n"
    assert object_path(storage, listing).exists()
