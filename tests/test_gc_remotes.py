"""`gitreg gc` on S3 (moto server) and SSH (sshd) remotes, with a registration racing it
in another clone (issue 16)."""

from __future__ import annotations

from pathlib import Path

from conftest import git, write_weights
from servers import S3Server, SSHServer, s3_server, ssh_server
from test_storage import no_aws_from_the_machine, s3_registry, ssh_registry

from gitreg.service import gc, lifecycle
from gitreg.service.registry import Registry

__all__ = ["no_aws_from_the_machine", "s3_server", "ssh_server"]  # fixtures, used by name


def _scenario(tmp_path: Path, root: Path) -> tuple[Registry, set[str], set[str]]:
    """Two versions, the first deprecated; and a clone that registers a third version whose
    weights reach the remote while its commit is not pushed yet. Returns the registry, the
    objects gc must delete and those it must keep."""
    registry = Registry(root)
    for n in (1, 2):
        registry.register("churn", write_weights(tmp_path / f"w{n}", f"w{n}\n".encode() * 9),
                          version=f"1.{n}.0")
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", str(bare))
    git(root, "remote", "add", "origin", str(bare))
    git(root, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(bare), str(other))
    for name in ("config.local",):
        local = root / ".dvc" / name
        if local.exists():
            (other / ".dvc" / name).write_text(local.read_text())
    racing = Registry(other).register(
        "churn", write_weights(tmp_path / "w3", b"w3\n" * 9), version="1.3.0").record
    lifecycle.deprecate(registry, "churn", "1.1.0", reason="bad", push=True)
    gone = {registry.record("churn", "1.1.0").artifact.md5}
    kept = {registry.record("churn", "1.2.0").artifact.md5, racing.artifact.md5}
    return registry, gone, kept


def _remote_garbage(result: gc.Collection) -> set[str]:
    return {g.md5 for g in result.garbage if g.store.startswith("remote")}


def test_gc_on_s3(tmp_path: Path, s3_server: S3Server) -> None:
    bucket = s3_server.bucket("gc-weights")
    root = s3_registry(tmp_path, s3_server, bucket)
    registry, gone, kept = _scenario(tmp_path, root)
    # Just written: within the grace period, nothing goes.
    assert _remote_garbage(gc.collect(registry)) == set()
    result = gc.collect(registry, grace=0, delete=True)
    assert _remote_garbage(result) == gone
    keys = set(s3_server.keys(bucket))
    assert {f"models/files/md5/{m[:2]}/{m[2:]}" for m in kept} <= keys
    assert not {f"models/files/md5/{m[:2]}/{m[2:]}" for m in gone} & keys


def test_gc_on_ssh(tmp_path: Path, ssh_server: SSHServer) -> None:
    folder = tmp_path / "ssh-remote" / "models"
    root = ssh_registry(tmp_path, ssh_server, folder)
    registry, gone, kept = _scenario(tmp_path, root)
    assert _remote_garbage(gc.collect(registry)) == set()
    result = gc.collect(registry, grace=0, delete=True)
    assert _remote_garbage(result) == gone
    stored = {p.parent.name + p.name for p in (folder / "files" / "md5").rglob("*")
              if p.is_file()}
    assert kept <= stored and not gone & stored
