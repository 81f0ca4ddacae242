"""hashes.py: an object gitreg wrote or checked is not read again to be checked again, and
every change to it since is still caught (tests/test_integrity.py tampers with objects).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from conftest import git, write_weights

from gitreg.errors import ToolFailed
from gitreg.service.registry import Registry
from gitreg.weights import hashes
from gitreg.weights.dvc import Weights

DATA = b"weights v1\n" * 50_000  # ~550 KB


class Hashed:
    """Counts the bytes hashes.py puts through md5."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = 0
        counter = self

        class Md5:
            def __init__(self, **kwargs: Any) -> None:
                self.inner = hashlib.md5(**kwargs)

            def update(self, data: bytes) -> None:
                counter.bytes += len(data)
                self.inner.update(data)

            def hexdigest(self) -> str:
                return self.inner.hexdigest()

        monkeypatch.setattr(hashes, "hashlib",
                            types.SimpleNamespace(md5=Md5, blake2b=hashlib.blake2b))


@pytest.fixture
def registered(tmp_path: Path, registry: Registry) -> tuple[Registry, Path]:
    """A version registered here, and a fresh clone of the registry (same local remote)."""
    registry.register("churn", write_weights(tmp_path / "in", DATA), version="1.0.0")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(registry.root), str(clone))
    return registry, clone


def store_file(tmp_path: Path) -> Path:
    return tmp_path / "_env" / "xdg-cache" / "gitreg" / "hashes.db"


def test_a_fresh_clone_gets_what_this_user_registered_without_hashing_it_again(
    tmp_path: Path, registered: tuple[Registry, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed = Hashed(monkeypatch)
    _, clone = registered
    _, out = Registry(clone).get("churn", version="1.0.0", output=tmp_path / "out.bin")
    assert out.read_bytes() == DATA
    assert hashed.bytes == 0  # the remote object straight to out: by stat
    md5 = hashlib.md5(DATA).hexdigest()
    assert not Weights(clone).object_path(md5).exists()  # get leaves the cache (issue 19)
    assert Registry(clone).read_weights("churn", version="1.0.0")[1] == DATA
    assert hashed.bytes == 0  # the remote object into the cache: by stat too
    assert hashes.known(Weights(clone).object_path(md5).stat()) == md5


@pytest.mark.parametrize("damage", ["deleted", "garbage", "truncated", "disabled"])
def test_a_lost_damaged_or_disabled_store_means_hashing_again(
    tmp_path: Path, registered: tuple[Registry, Path], monkeypatch: pytest.MonkeyPatch,
    damage: str, storage: Path
) -> None:
    store = store_file(tmp_path)
    assert store.is_file()
    hashes._stores.clear()  # as a new process: nothing open
    if damage == "deleted":
        store.unlink()
    elif damage == "garbage":
        store.write_bytes(b"not a database at all " * 300)
    elif damage == "truncated":
        store.write_bytes(store.read_bytes()[:1000])
    else:
        monkeypatch.setenv("GITREG_NO_CACHE", "1")
    hashed = Hashed(monkeypatch)
    _, clone = registered
    _, out = Registry(clone).get("churn", version="1.0.0", output=tmp_path / "out.bin")
    assert out.read_bytes() == DATA
    assert hashed.bytes == len(DATA)  # remote to out, hashed on the way
    _, again = Registry(clone).get("churn", version="1.0.0", output=tmp_path / "again.bin")
    assert again.read_bytes() == DATA
    remote_object = Weights(clone).object_path(hashlib.md5(DATA).hexdigest(), storage)
    if damage == "disabled":  # every copy is hashed
        assert hashed.bytes == 2 * len(DATA)
        assert hashes.known(remote_object.stat()) is None
    else:  # hashed once, and known from then on
        assert hashed.bytes == len(DATA)
        assert hashes.known(remote_object.stat()) is not None


def test_a_row_that_does_not_match_its_seal_is_not_trusted(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = registry.register("churn", write_weights(tmp_path / "in", DATA)).record
    cached = Weights(registry.root).object_path(record.artifact.md5)
    st = cached.stat()
    store = hashes._store()
    assert store is not None
    state = store.get(hashes._key(st))
    assert state is not None and record.artifact.md5 in state
    store.put(hashes._key(st), state.replace(record.artifact.md5, "0" * 32))
    assert hashes.known(st) is None
    hashed = Hashed(monkeypatch)
    registry.get("churn", version="0.1.0", output=tmp_path / "out.bin")
    assert hashed.bytes == len(DATA)


def test_a_change_during_the_kernel_copy_is_caught(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = registry.register("churn", write_weights(tmp_path / "in", DATA)).record
    cached = Weights(registry.root).object_path(record.artifact.md5)
    copy = hashes._kernel_copy

    def copy_then_tamper(src: int, dst: int, size: int, report: Any,
                         drop_source: bool = False) -> bool:
        done = copy(src, dst, size, report, drop_source)
        cached.chmod(0o644)
        with cached.open("r+b") as handle:
            handle.write(b"W")
        return done

    monkeypatch.setattr(hashes, "_kernel_copy", copy_then_tamper)
    out = tmp_path / "out.bin"
    with pytest.raises(ToolFailed, match="does not match its checksum"):
        registry.get("churn", version="0.1.0", output=out)
    assert not out.exists()


def test_without_copy_file_range_the_bytes_still_come_through(
    tmp_path: Path, registered: tuple[Registry, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot(*_: Any) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", cannot)
    hashed = Hashed(monkeypatch)
    _, clone = registered
    _, out = Registry(clone).get("churn", version="1.0.0", output=tmp_path / "out.bin")
    assert out.read_bytes() == DATA and hashed.bytes == 0


def test_concurrent_processes_share_the_store(tmp_path: Path) -> None:
    files = []
    for n in range(4):
        folder = tmp_path / f"p{n}"
        files.append([write_weights(folder, f"{n} {i}".encode(), f"f{i}") for i in range(150)])
    script = (
        "import hashlib, sys\n"
        "from pathlib import Path\n"
        "from gitreg.weights import hashes\n"
        "for name in sys.argv[1:]:\n"
        "    path = Path(name)\n"
        "    hashes.remember(path, hashlib.md5(path.read_bytes()).hexdigest())\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, *map(str, group)],
                              stderr=subprocess.PIPE, text=True) for group in files]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and err == "", err
    for group in files:
        for path in group:
            assert hashes.known(path.stat()) == hashlib.md5(path.read_bytes()).hexdigest()


def test_pour_hashes_what_it_stored_from_a_file_or_a_stream(tmp_path: Path) -> None:
    source = write_weights(tmp_path, DATA, "source.bin")
    expected = hashlib.md5(DATA).hexdigest(), len(DATA)
    for name, opened in (("file", lambda: source.open("rb")),
                         ("stream", lambda: io.BytesIO(DATA))):
        target = tmp_path / f"{name}.out"
        with opened() as handle, target.open("w+b") as out:
            assert hashes.pour(handle, out) == expected
        assert target.read_bytes() == DATA
    # From where a reader stands (past a buffered read), into a write-only file.
    with source.open("rb") as handle, (tmp_path / "tail.out").open("wb") as out:
        handle.read(5)
        assert hashes.pour(handle, out) == (hashlib.md5(DATA[5:]).hexdigest(), len(DATA) - 5)
    assert (tmp_path / "tail.out").read_bytes() == DATA[5:]
