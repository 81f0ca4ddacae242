"""Every byte gitreg hands out matches the md5 in the version file, wherever it came from.

A mismatch is refused with a clear error, nothing is written to the output path, and
get_model never deserializes the bytes (tests/test_weights.py has the single-file cache case).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
from pathlib import Path

import pytest
from conftest import git, run_cli, write_weights
from test_serialize import Marker

from gitreg import ModelMetadata, ModelRegistry
from gitreg.core.records import Artifact
from gitreg.errors import CorruptRegistry, InvalidInput, ToolFailed
from gitreg.service.registry import Registry
from gitreg.weights import hashes, storage
from gitreg.weights.dvc import Weights, tree_bytes, unsafe_folder


def tamper(path: Path, data: bytes) -> None:
    path.chmod(0o644)  # objects are read-only, as DVC keeps them
    path.write_bytes(data)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_weights(tmp_path / "ckpt", b"layer one", "a.bin")
    return write_weights(tmp_path / "ckpt" / "sub", b"layer two", "b.bin").parent.parent


def test_a_tampered_file_in_a_folder_is_refused_and_no_folder_appears(
    tmp_path: Path, registry: Registry, folder: Path
) -> None:
    record = registry.register("ckpt", folder).record
    weights = Weights(registry.root)
    md5 = dict(weights._tree(record.artifact))["sub/b.bin"]
    # Editing the git-ignored copy in the work tree edits the cache: it is a hard link.
    tamper(registry.root / record.artifact.path / "sub" / "b.bin", b"layer 2")
    assert weights.object_path(md5).read_bytes() == b"layer 2"
    out = tmp_path / "out"
    with pytest.raises(ToolFailed, match=f"{md5} does not match its checksum; nothing was written"):
        registry.get("ckpt", version="0.1.0", output=out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []


def test_a_tampered_folder_listing_is_refused(
    tmp_path: Path, registry: Registry, folder: Path
) -> None:
    record = registry.register("ckpt", folder).record
    listing = Weights(registry.root).object_path(record.artifact.md5)
    tamper(listing, listing.read_bytes().replace(b"sub/b.bin", b"sub/c.bin"))
    with pytest.raises(ToolFailed, match="corrupt"):
        registry.get("ckpt", version="0.1.0", output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("names", [["a", "a/b"], ["a/b", "a"], ["x", "x"]])
def test_a_listing_that_names_a_path_twice_or_as_file_and_folder_is_refused(
    tmp_path: Path, registry: Registry, folder: Path, names: list[str]
) -> None:
    """A crafted listing, content-addressed like any other (its md5 is right), that no
    folder can hold: refused before anything is written (issue 6)."""
    refused_listing(tmp_path, registry, folder, names,
                    "names a path twice, or as both a file and a folder")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def refused_listing(tmp_path: Path, registry: Registry, folder: Path, names: list[str],
                    says: str) -> None:
    """A crafted listing of ``names`` (each a real object, its own md5 right): ``export``
    refuses it saying ``says``, and writes nothing."""
    weights = Weights(registry.root)
    inner = registry.register("ckpt", folder).record.artifact
    some_file = weights.objects(inner)[1]
    data = tree_bytes([(name, some_file) for name in names])
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest() + ".dir"
    storage.receive(io.BytesIO(data), weights.cache, md5)
    crafted = Artifact(inner.path, "directory", md5, 2, len(names))
    out = tmp_path / "out"
    with pytest.raises(ToolFailed, match=says):
        weights.export(crafted, out)
    assert not out.exists()


@pytest.mark.parametrize("name", [".git/config", "sub/.git/hooks/post-checkout", ".GIT/config",
                                  ".git./config", ".hg/hgrc", ".dvc/config",
                                  "GIT~1/config", "sub/git~2/config", ".Git. ./config",
                                  ".g\u200cit/config", "\ufeff.git/config"])
def test_a_listing_that_writes_into_a_repositorys_own_folder_is_refused(
    tmp_path: Path, registry: Registry, folder: Path, name: str
) -> None:
    """register never stores .git, .hg or .dvc (DVC leaves them out): a crafted listing
    that names one would put a .git/config into the user's folder, whose core.fsmonitor
    runs at the next `git status` there (found in review)."""
    refused_listing(tmp_path, registry, folder, ["a.bin", name], "a repository's own folder")


@pytest.mark.parametrize("top", ["", "sub/"])
def test_a_listing_that_holds_a_bare_repository_is_refused(
    tmp_path: Path, registry: Registry, folder: Path, top: str
) -> None:
    """HEAD, objects/ and refs/ make a folder a repository to git, which reads its config
    (core.fsmonitor runs a command) from any folder below it (found in review)."""
    names = [f"{top}HEAD", f"{top}config", f"{top}objects/info/keep", f"{top}refs/heads/keep"]
    refused_listing(tmp_path, registry, folder, names, "holds a git repository")


@pytest.mark.parametrize("name", [".git\\config", "sub\\.git\\config", "..\\..\\x",
                                  "C:x", ".git::$INDEX_ALLOCATION/config"])
def test_a_listing_path_windows_reads_as_another_is_refused(
    tmp_path: Path, registry: Registry, folder: Path, name: str
) -> None:
    """A backslash is a folder separator on Windows and a colon a drive or an NTFS stream:
    `.git\\config` is .git's config there, `..\\..\\x` is outside the folder."""
    refused_listing(tmp_path, registry, folder, ["a.bin", name], "backslash or a colon")


def test_a_folder_named_head_beside_objects_and_refs_is_weights(tmp_path: Path) -> None:
    """git takes a folder for a repository by a HEAD *file*: a checkpoint's head/ folder
    beside objects/ and refs/ is no repository (git says so), and is not refused."""
    for name in ("head/w.bin", "objects/a.bin", "refs/b.bin"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"w")
    looked = {**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}
    assert subprocess.run(["git", "rev-parse", "--git-dir"], cwd=tmp_path / "objects",
                          capture_output=True, env=looked, check=False).returncode != 0
    assert unsafe_folder(["head/w.bin", "objects/a.bin", "refs/b.bin"]) is None
    assert unsafe_folder(["HEAD", "objects/a.bin", "refs/b.bin"]) is not None


@pytest.mark.parametrize("top", ["", "sub/"])
def test_a_listing_that_holds_a_repository_through_commondir_is_refused(
    tmp_path: Path, registry: Registry, folder: Path, top: str
) -> None:
    """HEAD and a ``commondir`` file make a folder a repository whose objects, refs and
    config are in the folder commondir names: here a sibling with no HEAD of its own."""
    names = [f"{top}a/HEAD", f"{top}a/commondir", "b/config", "b/objects/k", "b/refs/k"]
    refused_listing(tmp_path, registry, folder, names, "HEAD, commondir")


def test_git_takes_a_head_and_commondir_for_a_repository(tmp_path: Path) -> None:
    """Why the test above matters: git reads such a folder's config from commondir."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / "a" / "commondir").write_text("../b\n")
    for sub in ("objects", "refs"):
        (tmp_path / "b" / sub).mkdir(parents=True)
    (tmp_path / "b" / "config").write_text("[gitreg]\n\tcrafted = yes\n")
    assert git(tmp_path / "a", "config", "gitreg.crafted").strip() == "yes"


@pytest.mark.parametrize("layout", [("HEAD", "config", "objects/k", "refs/k"),
                                    ("a.bin", ".GIT/config"), ("a.bin", "GIT~1/config"),
                                    ("x/HEAD", "x/commondir", "a.bin")])
def test_register_refuses_a_folder_that_get_would_refuse(
    tmp_path: Path, registry: Registry, layout: tuple[str, ...]
) -> None:
    folder = tmp_path / "repo-like"
    for name in layout:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(name)
    with pytest.raises(InvalidInput, match="register a folder without it"):
        registry.register("ckpt", folder)
    assert not (registry.root / "models" / "ckpt").exists()


def test_get_model_never_loads_bytes_that_fail_the_check(
    tmp_path: Path, registry: Registry
) -> None:
    api = ModelRegistry(registry.root)
    api.register_model({"coef": [1.0]}, ModelMetadata(version="1.0.0"))
    _, meta = api.get_model(version="1.0.0")
    marker = tmp_path / "code-ran"
    tamper(Path(meta.path or ""), pickle.dumps(Marker(marker)))
    with pytest.raises(ToolFailed, match="corrupt"):
        api.get_model(version="1.0.0")
    assert not marker.exists()


def test_a_tampered_remote_object_is_refused_by_a_clone_and_by_get_repo(
    tmp_path: Path, registry: Registry, storage: Path
) -> None:
    api = ModelRegistry(registry.root)
    api.register_model({"coef": [1.0]}, ModelMetadata(version="1.0.0", stage="production"))
    _, meta = api.get_model(version="1.0.0")
    assert meta.md5 is not None
    marker = tmp_path / "code-ran"
    remote_object = Weights(registry.root).object_path(meta.md5, storage)
    tamper(remote_object, pickle.dumps(Marker(marker)))

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(registry.root), str(clone))
    with pytest.raises(ToolFailed, match="corrupt"):
        ModelRegistry(clone).get_model(stage="production")
    assert not Weights(clone).object_path(meta.md5).exists()  # not kept in the cache either
    with pytest.raises(ToolFailed, match="corrupt"):
        ModelRegistry.get_model_from(str(registry.root), stage="production")
    assert not marker.exists()

    proc = run_cli("get", "model", "--stage", "production", "--repo", str(registry.root),
                   "-o", "deploy/", cwd=tmp_path)
    assert proc.returncode == 8, proc.stderr
    assert "is corrupt" in proc.stderr and "it was not used" in proc.stderr
    assert not (tmp_path / "deploy").exists()


def test_get_repo_refuses_a_pointer_that_disagrees_with_the_version_file(
    tmp_path: Path, registry: Registry, weights: Path
) -> None:
    record = registry.register("churn", weights).record
    pointer = registry.root / (record.artifact.path + ".dvc")
    pointer.write_text(pointer.read_text().replace(record.artifact.md5, "f" * 32))
    git(registry.root, "commit", "-qam", "hand edit")
    with pytest.raises(CorruptRegistry, match=r"model\.bin\.dvc: outs\[0\]\.md5: f{32} differs"):
        ModelRegistry.get_weights_from(str(registry.root), tmp_path / "o.bin", name="churn",
                                       version="0.1.0")
    assert not (tmp_path / "o.bin").exists()


def tamper_unseen(path: Path, data: bytes) -> None:
    """Change the bytes but keep the size and the mtime: only the ctime tells (hashes.py)."""
    st = path.stat()
    assert len(data) == st.st_size
    tamper(path, data)
    path.chmod(st.st_mode)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_a_remote_object_tampered_after_registration_is_refused_by_a_fresh_clone(
    tmp_path: Path, registry: Registry, storage: Path
) -> None:
    """The remote object was written, and its md5 recorded, by this user's gitreg; the
    record no longer holds once the file changed, so the clone hashes it and refuses it."""
    weights = write_weights(tmp_path / "in", b"weights v1\n" * 4096)
    run_cli("register", "churn", str(weights), "--version", "1.0.0", cwd=registry.root,
            check=True)
    md5 = registry.record("churn", "1.0.0").artifact.md5
    remote_object = Weights(registry.root).object_path(md5, storage)
    assert hashes.known(remote_object.stat()) == md5  # the fast path would be taken
    tamper_unseen(remote_object, b"weights v2\n" * 4096)
    assert hashes.known(remote_object.stat()) is None

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(registry.root), str(clone))
    proc = run_cli("get", "churn", "--version", "1.0.0", "-o", "deploy/model.bin", cwd=clone)
    assert proc.returncode == 8, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"weights object {md5} is corrupt" in proc.stderr and "not used" in proc.stderr
    assert not (clone / "deploy").exists()
    assert not Weights(clone).object_path(md5).exists()

    tamper_unseen(remote_object, weights.read_bytes())  # a good copy back
    run_cli("get", "churn", "--version", "1.0.0", "-o", "deploy/model.bin", cwd=clone,
            check=True)
    assert (clone / "deploy" / "model.bin").read_bytes() == weights.read_bytes()


def test_a_cache_object_tampered_unseen_is_refused(tmp_path: Path, registry: Registry) -> None:
    weights = write_weights(tmp_path / "in", b"weights v1\n" * 4096)
    record = registry.register("churn", weights, version="1.0.0").record
    cached = Weights(registry.root).object_path(record.artifact.md5)
    assert hashes.known(cached.stat()) == record.artifact.md5
    tamper_unseen(cached, b"weights v2\n" * 4096)
    proc = run_cli("get", "churn", "--version", "1.0.0", "-o", "out.bin", cwd=registry.root)
    assert proc.returncode == 8 and "does not match its checksum" in proc.stderr, proc.stderr
    assert not (registry.root / "out.bin").exists()
