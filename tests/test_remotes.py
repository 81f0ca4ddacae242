"""``gitreg remote``: add, list, default and modify DVC remotes without editing files.

Shared settings are committed in ``.dvc/config`` (one commit, no tag); credentials and
per-machine settings go to ``.dvc/config.local``, which git ignores, and are refused for the
committed file. DVC itself must read the result as its own configuration.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot

from gitreg.service.registry import Registry
from gitreg.weights import dvcconfig

INVALID = 3
NOT_FOUND = 4
CONFLICT = 5


def ok(root: Path, *args: str) -> str:
    return run_cli(*args, cwd=root, check=True).stdout


def fails(root: Path, code: int, *args: str, says: str) -> None:
    before = snapshot(root)
    local = root / ".dvc" / "config.local"
    local_before = local.read_bytes() if local.exists() else None
    proc = run_cli(*args, cwd=root)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and says in proc.stderr, proc.stderr
    assert snapshot(root) == before
    assert (local.read_bytes() if local.exists() else None) == local_before


def dvc_config(root: Path) -> dict[str, object]:
    """The configuration as DVC itself reads it (all levels merged)."""
    from dvc.config import Config

    return dict(Config(dvc_dir=str(root / ".dvc")))


def test_add_commits_shared_options_and_keeps_per_machine_ones_local(registry: Registry) -> None:
    root = registry.root
    commits = git(root, "rev-list", "--count", "HEAD")
    out = ok(root, "remote", "add", "s3", "s3://bucket/models", "--default",
             "--endpoint-url", "http://minio.internal:9000", "--profile", "ml-team")
    assert "remote s3 added" in out and "profile" in out

    committed = (root / ".dvc" / "config").read_text()
    assert "endpointurl = http://minio.internal:9000" in committed
    assert "ml-team" not in committed
    assert "profile = ml-team" in (root / ".dvc" / "config.local").read_text()
    assert git(root, "check-ignore", ".dvc/config.local").strip() == ".dvc/config.local"
    # One commit of .dvc/config alone, no tag; the work tree is clean.
    assert int(git(root, "rev-list", "--count", "HEAD")) == int(commits) + 1
    assert git(root, "show", "--name-only", "--format=%s", "HEAD").split() == [
        "Add", "DVC", "remote", "s3", ".dvc/config"]
    assert git(root, "tag", "--points-at", "HEAD") == ""
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""

    seen = dvc_config(root)
    assert seen["core"]["remote"] == "s3"  # type: ignore[index]
    s3 = seen["remote"]["s3"]  # type: ignore[index]
    assert (s3["url"], s3["endpointurl"], s3["profile"]) == (
        "s3://bucket/models", "http://minio.internal:9000", "ml-team")
    assert dvcconfig.default_remote(root).name == "s3"


def test_ssh_options_and_list(registry: Registry, tmp_path: Path) -> None:
    root = registry.root
    key = tmp_path / "id_ed25519"
    ok(root, "remote", "add", "box", "ssh://models.internal/srv/weights", "--user", "ml",
       "--port", "2222", "--keyfile", str(key))
    ok(root, "remote", "modify", "box", "password", "s3cret", "--local")
    listed = json.loads(ok(root, "remote", "list", "--json"))
    box = next(r for r in listed if r["name"] == "box")
    assert box == {"name": "box", "url": "ssh://models.internal/srv/weights", "default": False,
                   "options": {"user": "ml", "port": "2222"},
                   "local": {"keyfile": str(key), "password": "****"}}
    assert next(r for r in listed if r["name"] == "storage")["default"] is True
    text = ok(root, "remote", "list")
    assert "s3cret" not in text and "password = ****  (.dvc/config.local)" in text
    # Fields apart by tabs, as written (they were escaped as a literal backslash-t).
    assert "box\tssh://models.internal/srv/weights\n" in text and "\\t" not in text

    ok(root, "remote", "default", "box")
    assert dvcconfig.default_remote(root).name == "box"
    assert git(root, "log", "-1", "--format=%s") == "Use DVC remote box for weights\n"
    ok(root, "remote", "modify", "box", "port", "2200")
    assert dvc_config(root)["remote"]["box"]["port"] == 2200  # type: ignore[index]


def test_secrets_are_refused_for_the_committed_config(registry: Registry) -> None:
    root = registry.root
    ok(root, "remote", "add", "s3", "s3://bucket/models")
    fails(root, INVALID, "remote", "modify", "s3", "secret_access_key", "abc", says="--local")
    fails(root, INVALID, "remote", "modify", "s3", "profile", "dev", says="--local")
    fails(root, INVALID, "remote", "add", "web", "https://user:tok@host/path",
          says="carries credentials before its host")
    commits = git(root, "rev-list", "--count", "HEAD")
    out = ok(root, "remote", "modify", "s3", "secret_access_key", "abc", "--local")
    assert "not committed" in out
    assert git(root, "rev-list", "--count", "HEAD") == commits
    assert "abc" not in (root / ".dvc" / "config").read_text()
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""


SECRET = "SECRET-77c1"


@pytest.mark.slow
def test_no_credential_in_any_url_form_is_committed(registry: Registry) -> None:
    """Issue 13, point 2: init, remote add and remote modify alike; the message names the
    --local way and never repeats the secret."""
    root = registry.root
    ok(root, "remote", "add", "s3", "s3://bucket/models")
    urls = [f"http://KEY:{SECRET}@minio:9000", f"https://{SECRET}@host/path",
            f"https://host/path?token={SECRET}", f"https://host/p?X-Amz-Signature={SECRET}",
            f"https://acct.blob.core.windows.net/c?sv=1&sig={SECRET}"]
    for url in urls:
        for args in (("remote", "add", "web", url),
                     ("remote", "add", "s4", "s3://b/m", "--endpoint-url", url),
                     ("remote", "modify", "s3", "endpointurl", url),
                     ("remote", "modify", "s3", "url", url)):
            fails(root, INVALID, *args, says="--local")
            proc = run_cli(*args, cwd=root)
            assert SECRET not in proc.stderr + proc.stdout
    fails(root, INVALID, "remote", "modify", "s3", "configpath", "x", says="--local")
    fails(root, INVALID, "remote", "modify", "s3", "ssl_verify", "/etc/ca.pem", says="--local")
    ok(root, "remote", "add", "ssh", "ssh://git@host/models")  # a login name is no secret
    fresh = root.parent / "fresh"
    fresh.mkdir()
    proc = run_cli("init", "--remote", "s3://b/m", "--endpoint-url", urls[0], cwd=fresh)
    assert proc.returncode == INVALID and "--local" in proc.stderr, proc.stderr
    assert SECRET not in proc.stderr and not (fresh / "registry.yaml").exists()


def test_an_invalid_url_is_one_line(registry: Registry) -> None:
    fails(registry.root, INVALID, "remote", "add", "v6", "http://[::1/models",
          says="not a valid URL")


def test_bad_changes_change_nothing(registry: Registry, tmp_path: Path) -> None:
    root = registry.root
    fails(root, INVALID, "remote", "modify", "storage", "no_such_option", "1", "--local",
          says="DVC refused")
    fails(root, NOT_FOUND, "remote", "modify", "nowhere", "port", "1", says="no DVC remote")
    fails(root, NOT_FOUND, "remote", "default", "nowhere", says="no DVC remote")
    fails(root, CONFLICT, "remote", "add", "storage", str(tmp_path / "x"), says="--force")
    fails(root, INVALID, "remote", "add", "Bad Name", str(tmp_path / "x"), says="remote name")
    ok(root, "remote", "add", "storage", str(tmp_path / "elsewhere"), "--force")
    assert dvcconfig.default_remote(root).local_path == tmp_path / "elsewhere"


def test_a_failed_commit_restores_both_config_files(registry: Registry) -> None:
    root = registry.root
    hook = root / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    fails(root, 8, "remote", "add", "s3", "s3://b/p", "--profile", "p", "--default",
          says="git")
    assert not (root / ".dvc" / "config.local").exists()
    hook.unlink()
    ok(root, "remote", "add", "s3", "s3://b/p", "--profile", "p", "--default")
