"""The read cache (cache.py, parsers.py, history.py): never stale, never fatal.

Every test compares what a cached registry answers with what the same registry answers
with the cache off (``GITREG_NO_CACHE=1``), after edits by gitreg, by git and by hand,
with cache files corrupted or deleted, and with processes racing each other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import git, run_cli, write_weights

from gitreg import ModelRegistry
from gitreg.core.events import Event
from gitreg.core.records import StageMap, VersionRecord
from gitreg.repo import cache
from gitreg.repo.cache import CACHE_DIR, FORMAT, Store, blob_id
from gitreg.service.registry import NewVersion, Registry


def answers(registry: Registry) -> tuple[Any, ...]:
    """Everything the read commands show, from ``registry``."""
    models = registry.models()
    catalog: list[tuple[VersionRecord, tuple[str, ...]]] = registry.catalog()
    stages: list[StageMap] = [registry.stage_map(m) for m in models]
    history: list[Event] = registry.history_events()
    per_model = {m: registry.history_events(m) for m in models}
    by_stage = {m: registry.history_events(m, "production") for m in models}
    return catalog, stages, history, per_model, by_stage


def uncached(monkeypatch: pytest.MonkeyPatch, root: Path) -> tuple[Any, ...]:
    with monkeypatch.context() as patch:
        patch.setenv("GITREG_NO_CACHE", "1")
        return answers(Registry(root))


def assert_fresh(monkeypatch: pytest.MonkeyPatch, root: Path, *kept: Registry) -> None:
    """A new Registry (a new process, cache on disk) and ``kept`` ones (warm, in memory)
    answer as the cache-less reading of the files and history does."""
    expected = uncached(monkeypatch, root)
    assert answers(Registry(root)) == expected
    assert answers(Registry(root)) == expected  # the second one reads what the first wrote
    for registry in kept:
        assert answers(registry) == expected


def cache_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / ".git" / CACHE_DIR).rglob("*") if p.is_file())


@pytest.fixture
def populated(registry: Registry, tmp_path: Path) -> Registry:
    """Two models, several versions, promotions and a rollback."""
    for name in ("churn", "fraud"):
        for i in range(1, 4):
            weights = write_weights(tmp_path / f"{name}-{i}", f"{name} {i}".encode() * 30)
            registry.register(name, weights, version=f"1.{i}.0",
                              info=NewVersion(metrics={"accuracy": 0.8 + i / 100}))
        registry.promote(name, "1.1.0", "production")
        registry.promote(name, "1.2.0", "production")
    registry.rollback("churn", "production")
    registry.promote("fraud", "1.3.0", "staging")
    return registry


def test_cached_answers_equal_uncached_ones(
    populated: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = populated.root
    assert_fresh(monkeypatch, root, populated)
    assert cache_files(root), "the reads wrote nothing to the cache"
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""


def test_gitreg_writes_are_seen(
    populated: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = populated.root
    warm = Registry(root)
    answers(warm)
    populated.promote("churn", "1.3.0", "production")
    populated.register("churn", write_weights(tmp_path / "new", b"new" * 40), version="2.0.0")
    populated.demote("fraud", "staging")
    assert_fresh(monkeypatch, root, warm)
    assert warm.which("churn", "production") == ("1.3.0",)


def test_git_operations_are_seen(
    populated: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = populated.root
    warm = Registry(root)
    answers(warm)
    steps = [
        ("reset", "--hard", "--quiet", "HEAD~2"),  # history rewound: fewer commits
        ("checkout", "--quiet", "-b", "older", "HEAD~3"),  # another branch, further back
        ("checkout", "--quiet", "main"),
        ("checkout", "HEAD~6", "--", "models/churn/stages.yaml"),  # an older file, uncommitted
        ("commit", "--quiet", "-m", "Restore an old stages.yaml", "models/churn/stages.yaml"),
        ("commit", "--quiet", "--amend", "-m", "The same change, rewritten"),
    ]
    for step in steps:
        git(root, *step)
        assert_fresh(monkeypatch, root, warm)


def test_merges_and_a_cache_read_on_a_merged_branch(
    populated: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = populated.root
    git(root, "checkout", "--quiet", "-b", "review")
    populated.promote("fraud", "1.1.0", "staging")
    answers(Registry(root))  # the cache now reads up to the branch's tip
    git(root, "checkout", "--quiet", "main")
    git(root, "merge", "--quiet", "--no-ff", "-m", "Merge review", "review")
    # The branch tip is an ancestor of main, but not on its first-parent chain: history is
    # read again, and the merge is one change, named by the merged commit's trailers.
    assert_fresh(monkeypatch, root)
    last = Registry(root).history_events("fraud", "staging")[-1]
    assert (last.version, last.commit) == ("1.1.0", git(root, "rev-parse", "HEAD").strip())


def test_edits_by_hand_are_seen_even_keeping_size_and_mtime(
    populated: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = populated.root
    rel = "models/churn/versions/1.1.0.yaml"
    path = root / rel
    stamp = path.stat().st_mtime_ns
    time.sleep(2.1)  # the files are "settled": the cache now trusts their stat
    warm = Registry(root)
    assert warm.record("churn", "1.1.0").metrics["accuracy"] == 0.81
    assert cache_files(root)
    # An edit in place, same size, modification time set back (as `touch -d` can do):
    # only the change time, which no program can set, says the file changed.
    text = path.read_text()
    with path.open("r+") as handle:
        handle.write(text.replace("accuracy: 0.81", "accuracy: 0.91"))
    os.utime(path, ns=(stamp, stamp))
    assert path.stat().st_size == len(text.encode())
    assert warm.record("churn", "1.1.0").metrics["accuracy"] == 0.91
    assert Registry(root).record("churn", "1.1.0").metrics["accuracy"] == 0.91
    assert_fresh(monkeypatch, root, warm)


def test_edits_within_a_second_are_seen(
    populated: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Files younger than the file system's timestamps can tell apart are read every time.
    root = populated.root
    path = root / "models/fraud/stages.yaml"
    warm = Registry(root)
    for version in ("1.1.0", "1.2.0", "1.3.0", "1.1.0"):
        path.write_text(f"model: fraud\nstages:\n  production: {version}\n")
        assert warm.which("fraud", "production") == (version,)
        assert Registry(root).which("fraud", "production") == (version,)
    assert_fresh(monkeypatch, root, warm)


def test_a_file_system_with_coarse_timestamps(
    populated: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where times have whole seconds (ext3, HFS+, some network file systems), two writes of
    # the same size within a second look alike; only files older than that are trusted.
    real = cache._stat

    def coarse(path: str) -> tuple[int, ...] | None:
        stat = real(path)
        return None if stat is None else (*stat[:3], *(t // 10**9 * 10**9 for t in stat[3:]))

    monkeypatch.setattr(cache, "_stat", coarse)
    root = populated.root
    path = root / "models/fraud/stages.yaml"
    warm = Registry(root)
    for version in ("1.1.0", "1.2.0", "1.3.0", "1.1.0", "1.2.0"):
        path.write_text(f"model: fraud\nstages:\n  production: {version}\n")
        assert warm.which("fraud", "production") == (version,)
        assert Registry(root).which("fraud", "production") == (version,)


def test_errors_are_not_cached(populated: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitreg.errors import CorruptRegistry

    root = populated.root
    path = root / "models/churn/versions/1.2.0.yaml"
    good = path.read_bytes()
    answers(Registry(root))
    path.write_text("name: churn\nversion: [not, a, version\n")
    for _ in range(2):
        with pytest.raises(CorruptRegistry, match=r"1\.2\.0\.yaml"):
            Registry(root).versions("churn")
    path.write_bytes(good)
    assert_fresh(monkeypatch, root)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "empty", "deleted",
                                    "folder deleted", "older format"])
def test_damaged_cache_files_are_ignored_and_rewritten(
    populated: Registry, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    root = populated.root
    answers(Registry(root))
    files = cache_files(root)
    assert files
    for path in files:
        data = path.read_bytes()
        if damage == "garbage":
            path.write_bytes(os.urandom(len(data)))
        elif damage == "truncated":
            path.write_bytes(data[: len(data) // 2])
        elif damage == "flipped":
            middle = len(data) // 2
            path.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:])
        elif damage == "empty":
            path.write_bytes(b"")
        elif damage == "older format":
            path.write_bytes(b"gitreg-cache 0\n" + data[len(FORMAT):])
        else:
            path.unlink()
    if damage == "folder deleted":
        shutil.rmtree(root / ".git" / CACHE_DIR)
    assert_fresh(monkeypatch, root)
    store = Store(root / ".git" / CACHE_DIR)
    rewritten = cache_files(root)
    assert rewritten
    for path in rewritten:  # a pickle, or plain data (the log: Store.save_plain)
        kind, key = path.parent.name, path.name
        assert store.load(kind, key) is not None or store.load_plain(kind, key) is not None, path


def test_a_cache_that_cannot_be_written_changes_nothing(
    populated: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = populated.root
    shutil.rmtree(root / ".git" / CACHE_DIR)
    (root / ".git" / CACHE_DIR).write_text("a file where the cache folder would be\n")
    assert_fresh(monkeypatch, root)


def test_store_writes_whole_files_under_concurrency(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    values = [{"writer": i, "data": list(range(i * 1000))} for i in range(8)]
    seen: list[Any] = []
    stop = threading.Event()

    def write(value: dict[str, Any]) -> None:
        for _ in range(30):
            store.save("kind", "key", value)

    def read() -> None:
        while not stop.is_set():
            seen.append(store.load("kind", "key"))

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=write, args=(v,)) for v in values]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert store.load("kind", "key") in values
    assert all(value is None or value in values for value in seen)
    assert [p.name for p in (tmp_path / "cache" / "kind").iterdir()] == ["key"]  # no temp files


@pytest.mark.slow
def test_concurrent_processes_agree(
    populated: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = populated.root
    commands = [["list", "--json"], ["history", "--json"], ["history", "churn", "--json"],
                ["show", "fraud", "--json"], ["which", "churn", "production"]]

    def run_all() -> list[subprocess.Popen[str]]:
        return [subprocess.Popen([sys.executable, "-m", "gitreg", *args], cwd=root,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for args in commands for _ in range(3)]

    def outputs(procs: list[subprocess.Popen[str]]) -> list[str]:
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            results.append(out)
        return results

    def reference() -> list[str]:
        with monkeypatch.context() as patch:
            patch.setenv("GITREG_NO_CACHE", "1")
            return [run_cli(*args, cwd=root, check=True).stdout
                    for args in commands for _ in range(3)]

    before = reference()
    assert outputs(run_all()) == before  # racing to fill an empty cache
    racing = run_all()
    writer = run_cli("promote", "fraud", "1.2.0", "staging", cwd=root)
    assert writer.returncode == 0, writer.stderr
    after = reference()
    for out, old, new in zip(outputs(racing), before, after, strict=True):
        assert out in (old, new)
    assert outputs(run_all()) == after
    assert not [p for p in cache_files(root) if p.name.startswith(".")]  # no temp files


def test_the_api_sees_another_process(populated: Registry, tmp_path: Path) -> None:
    api = ModelRegistry(populated.root)
    assert api.which("production", name="churn") == "1.1.0"
    assert [m.version for m in api.list_models(name="churn")] == ["1.1.0", "1.2.0", "1.3.0"]
    weights = write_weights(tmp_path / "other", b"another process" * 10)
    for args in (("register", "churn", str(weights), "--version", "1.4.0"),
                 ("promote", "churn", "1.4.0", "production")):
        assert run_cli(*args, cwd=populated.root).returncode == 0
    assert api.which("production", name="churn") == "1.4.0"
    assert api.registry.record("churn", "1.4.0").version == "1.4.0"
    assert [m.version for m in api.list_models(stage="production", name="churn")] == ["1.4.0"]


def test_blob_ids_are_gits(tmp_path: Path) -> None:
    path = tmp_path / "file"
    for data in (b"", b"model: churn\n", bytes(range(256)) * 10):
        path.write_bytes(data)
        assert blob_id(data) == git(tmp_path, "hash-object", str(path)).strip()


def test_linked_worktree(populated: Registry, monkeypatch: pytest.MonkeyPatch,
                         tmp_path: Path) -> None:
    other = tmp_path / "worktree"
    git(populated.root, "worktree", "add", "--quiet", str(other), "-b", "elsewhere")
    assert (other / ".git").is_file()
    assert_fresh(monkeypatch, other)


def test_a_version_with_every_field_comes_back_from_the_cache_as_it_was_read() -> None:
    """The cache packs a version field by field (parsers.py): nested values, the artifact
    and the lineage must come back equal, and as dataclasses.astuple would have packed them."""
    import dataclasses
    import pickle

    from gitreg.repo import parsers

    text = b"""\
name: churn
version: 1.2.0
registered_at: '2026-11-26T10:00:00+00:00'
registered_by: Test User <test@example.com>
trained_at: '2026-11-25T09:00:00+00:00'
model_type: sklearn.ensemble.RandomForestClassifier
hyperparameters: {n_estimators: 300, grid: {depth: [4, 8, 16]}, tags: [a, b], rate: 0.1,
  on: true, none: null}
metrics: {accuracy: 0.93, loss: 0.2}
features: [age, tenure]
description: retrained
labels: [weekly]
artifact: {path: models/churn/artifacts/1.2.0/model.pkl, format: pickle,
  md5: 0123456789abcdef0123456789abcdef, size: 1234}
lineage: {code_commit: 0123456789abcdef0123456789abcdef01234567, data: {train: abc123},
  depends_on: [features@2.1.0], parent: 1.1.0}
"""
    record, order = parsers.VERSIONS.parse(text, "churn/1.2.0")
    packed = parsers.VERSIONS.pack((record, order))
    assert packed == (parsers._interned(dataclasses.astuple(record)), order)
    again, again_order = parsers.VERSIONS.unpack(pickle.loads(pickle.dumps(packed)))
    assert (again, again_order) == (record, order)
    assert again.lineage.depends_on == ("features@2.1.0",)
    assert again.hyperparameters["grid"] == {"depth": [4, 8, 16]}
    # An entry of another shape (a changed class, a damaged file) is refused, never half
    # rebuilt: the cache then parses the file instead.
    values, _ = packed
    for bad in ((values[:-1], order), ((*values, "extra"), order)):
        with pytest.raises((ValueError, IndexError)):  # what ParsedFiles._value catches
            parsers.VERSIONS.unpack(bad)
    artifact = parsers._RECORD.index("artifact")
    short = (*values[:artifact], values[artifact][:-1], *values[artifact + 1:])
    with pytest.raises(ValueError):
        parsers.VERSIONS.unpack((short, order))
