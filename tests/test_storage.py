"""Weights on real remotes on loopback, S3 (moto_server) and SSH (asyncssh's SFTP server,
tests/sftpd.py), and a folder.

For each remote: register pushes exactly the version's objects, in DVC's layout; a fresh
clone's ``get`` of one version fetches only that version's objects, checked against their
md5. Then the hazards a user meets: a missing bucket or folder, refused credentials, a
server that is not there, an object missing from (or corrupt on) the remote. Each must be
one line on stderr with exit 8 (storage failed) or 4 (not found), leave the registry, the
cache and the output exactly as they were, and succeed when re-run after the cause is
fixed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot, write_weights
from servers import S3Server, SSHServer, free_port, s3_server, ssh_server

from gitreg.service import remotes
from gitreg.service.registry import Registry
from gitreg.weights.dvc import Weights

__all__ = ["s3_server", "ssh_server"]  # session fixtures, used by name

NOT_FOUND = 4
TOOL_FAILED = 8


@pytest.fixture(autouse=True)
def no_aws_from_the_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials come only from the registry's config; never ask a metadata service."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "_env" / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "_env" / "aws-creds"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    return write_weights(tmp_path / "in", b"weights v1\n" * 1000, "model.bin")


@pytest.fixture
def bert(tmp_path: Path) -> Path:
    root = tmp_path / "in" / "bert"
    for rel, data in {"config.json": b"{}", "a/w.bin": b"w" * 5000, "b/w.bin": b"x"}.items():
        write_weights((root / rel).parent, data, Path(rel).name)
    return root


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def ok(cwd: Path, *args: str) -> str:
    return run_cli(*args, cwd=cwd, check=True).stdout


def fails(cwd: Path, code: int, *args: str, says: tuple[str, ...]) -> str:
    """Run ``gitreg ARGS``, expecting one clear line on stderr and exit ``code``."""
    proc = run_cli(*args, cwd=cwd)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}:\n{output}"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    for text in says:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    return lines[0]


def get_fails(clone: Path, code: int, out: Path, *, says: tuple[str, ...]) -> str:
    """``gitreg get churn --version 1.0.0 -o OUT`` fails cleanly: one line, exit ``code``,
    no commit or file changed, nothing at ``out`` (not even a temporary file beside it),
    nothing new in the cache."""
    before, cached = snapshot(clone), cache_objects(clone)
    line = fails(clone, code, "get", "churn", "--version", "1.0.0", "-o", str(out), says=says)
    assert snapshot(clone) == before
    assert cache_objects(clone) == cached
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")] == []
    return line


def cache_objects(root: Path) -> set[str]:
    """The md5s in a registry's cache; a temporary or half-written file fails the test."""
    folder = root / ".dvc" / "cache" / "files" / "md5"
    found = set()
    for path in folder.rglob("*") if folder.is_dir() else []:
        if path.is_file():
            assert path.parent.parent == folder and not path.name.startswith("."), path
            found.add(path.parent.name + path.name)
    return found


def objects_of(root: Path, name: str, version: str) -> set[str]:
    registry = Registry(root)
    return set(Weights(root).objects(registry.record(name, version).artifact))


def clone(tmp_path: Path, root: Path, name: str = "clone") -> Path:
    target = tmp_path / name
    git(tmp_path, "clone", "-q", str(root), str(target))
    return target


def shared(tmp_path: Path, root: Path) -> Path:
    """Give ``root`` a bare ``origin`` (so ``gitreg push`` works) and clone that."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(root, "remote", "add", "origin", str(origin))
    git(root, "push", "-q", "origin", "main")
    return clone(tmp_path, origin)


def same_tree(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert md5((a / rel).read_bytes()) == md5((b / rel).read_bytes()), rel


# -- S3 -------------------------------------------------------------------------------------


# Set-up runs in this process (the service API, as the CLI calls it); the commands under
# test run as a user runs them, `python -m gitreg` in a new process.


def s3_keys(root: Path, s3: S3Server, secret: str | None = None) -> None:
    """Credentials for this clone, kept out of git (``gitreg remote modify ... --local``)."""
    registry = Registry(root)
    remotes.modify(registry, "storage", "access_key_id", s3.access_key, local=True)
    remotes.modify(registry, "storage", "secret_access_key", secret or s3.secret_key,
                   local=True)


def s3_registry(tmp_path: Path, s3: S3Server, bucket: str, endpoint: str | None = None) -> Path:
    root = tmp_path / "registry"
    Registry.init(root, remote=f"s3://{bucket}/models",
                  remote_options={"endpointurl": endpoint or s3.endpoint})
    s3_keys(root, s3)
    return root


def test_s3_round_trip(tmp_path: Path, s3_server: S3Server, v1: Path, bert: Path) -> None:
    bucket = s3_server.bucket("round-trip")
    root = tmp_path / "registry"
    root.mkdir()
    ok(root, "init", "--remote", f"s3://{bucket}/models", "--endpoint-url", s3_server.endpoint)
    s3_keys(root, s3_server)
    committed = (root / ".dvc" / "config").read_text()
    assert s3_server.endpoint in committed
    assert s3_server.access_key not in committed and s3_server.secret_key not in committed
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""

    ok(root, "register", "churn", str(v1), "--version", "1.0.0")
    Registry(root).register("bert", bert, version="2.0.0")
    wanted = objects_of(root, "churn", "1.0.0") | objects_of(root, "bert", "2.0.0")
    assert s3_server.keys(bucket) == sorted(
        f"models/files/md5/{m[:2]}/{m[2:]}" for m in wanted)
    # DVC itself reads gitreg's objects on S3 as its own.
    dvc = subprocess.run([sys.executable, "-m", "dvc", "status", "-c"], cwd=root,
                         capture_output=True, text=True)
    assert "in sync" in dvc.stdout, dvc.stdout + dvc.stderr

    fresh = clone(tmp_path, root)
    # Credentials are per machine: a fresh clone has none until it is given its own.
    fails(fresh, TOOL_FAILED, "get", "churn", "--version", "1.0.0", "-o", "m.bin",
          says=("could not read from DVC remote 'storage'", "credentials"))
    s3_keys(fresh, s3_server)
    ok(fresh, "get", "churn", "--version", "1.0.0", "-o", str(tmp_path / "out" / "m.bin"))
    assert md5((tmp_path / "out" / "m.bin").read_bytes()) == md5(v1.read_bytes())
    # A single file went straight to -o (issue 19): nothing came into the cache.
    assert cache_objects(fresh) == set()
    Registry(fresh).get("bert", version="2.0.0", output=tmp_path / "out" / "bert")
    same_tree(bert, tmp_path / "out" / "bert")
    # Exactly one version's objects came, nothing else.
    assert cache_objects(fresh) == objects_of(fresh, "bert", "2.0.0")
    assert Registry(fresh).read_weights("churn", version="1.0.0")[1] == v1.read_bytes()
    assert cache_objects(fresh) == wanted


def test_s3_transfers_never_build_dvcs_index(tmp_path: Path, s3_server: S3Server,
                                             v1: Path) -> None:
    """Push and fetch do not construct DVC's Repo, whose index reads every .dvc file."""
    bucket = s3_server.bucket("no-index")
    root = s3_registry(tmp_path, s3_server, bucket)
    fresh = clone(tmp_path, root)
    s3_keys(fresh, s3_server)
    script = (
        "import sys\n"
        "from gitreg.service.registry import Registry\n"
        f"Registry({str(root)!r}).register('churn', {str(v1)!r}, version='1.0.0')\n"
        "import subprocess\n"
        f"subprocess.run(['git', 'pull', '-q'], cwd={str(fresh)!r}, check=True)\n"
        f"Registry({str(fresh)!r}).get('churn', version='1.0.0', output=__import__('pathlib')"
        f".Path({str(tmp_path / 'o.bin')!r}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('dvc.repo')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert (tmp_path / "o.bin").read_bytes() == v1.read_bytes()


def test_s3_missing_bucket_then_created(tmp_path: Path, s3_server: S3Server, v1: Path) -> None:
    root = s3_registry(tmp_path, s3_server, "not-made-yet")
    before = snapshot(root)
    fails(root, TOOL_FAILED, "register", "churn", str(v1), "--version", "1.0.0",
          says=("could not write weights to DVC remote 'storage'", "bucket does not exist"))
    assert snapshot(root) == before
    s3_server.bucket("not-made-yet")
    Registry(root).register("churn", v1, version="1.0.0")


def test_s3_refused_credentials(tmp_path: Path, s3_server: S3Server, v1: Path) -> None:
    root = s3_registry(tmp_path, s3_server, s3_server.bucket("refused"))
    s3_keys(root, s3_server, secret="not-the-secret")
    before = snapshot(root)
    fails(root, TOOL_FAILED, "register", "churn", str(v1), "--version", "1.0.0",
          says=("DVC remote 'storage'", "refused the credentials", "--local"))
    assert snapshot(root) == before
    assert s3_server.keys("refused") == []
    s3_keys(root, s3_server)
    Registry(root).register("churn", v1, version="1.0.0")


def test_s3_unreachable_server(tmp_path: Path, s3_server: S3Server, v1: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    nothing = f"http://127.0.0.1:{free_port()}"
    root = s3_registry(tmp_path, s3_server, s3_server.bucket("unreachable"), endpoint=nothing)
    before = snapshot(root)
    # botocore retries a refused connection for ~8 s by default; the message is the same.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fails(root, TOOL_FAILED, "register", "churn", str(v1), "--version", "1.0.0",
          says=("could not reach the server", nothing))
    assert snapshot(root) == before
    ok(root, "remote", "modify", "storage", "endpointurl", s3_server.endpoint)
    Registry(root).register("churn", v1, version="1.0.0")


def test_s3_missing_and_corrupt_objects(tmp_path: Path, s3_server: S3Server, v1: Path) -> None:
    bucket = s3_server.bucket("missing")
    root = s3_registry(tmp_path, s3_server, bucket)
    Registry(root).register("churn", v1, version="1.0.0")
    (key,) = s3_server.keys(bucket)
    fresh = shared(tmp_path, root)
    s3_keys(fresh, s3_server)
    out = tmp_path / "out.bin"

    s3_server.client().delete_object(Bucket=bucket, Key=key)
    fails(fresh, NOT_FOUND, "get", "churn", "--version", "1.0.0", "-o", str(out),
          says=("missing from remote 'storage'", "gitreg push"))
    assert not out.exists() and cache_objects(fresh) == set()

    s3_server.client().put_object(Bucket=bucket, Key=key, Body=b"tampered")
    fails(fresh, TOOL_FAILED, "get", "churn", "--version", "1.0.0", "-o", str(out),
          says=("corrupt", "was not used"))
    assert not out.exists() and cache_objects(fresh) == set()

    s3_server.client().delete_object(Bucket=bucket, Key=key)
    ok(root, "push")  # the registry that has the weights puts them back
    Registry(fresh).get("churn", version="1.0.0", output=out)
    assert out.read_bytes() == v1.read_bytes()


def test_s3_get_with_refused_credentials_no_server_or_no_bucket(
    tmp_path: Path, s3_server: S3Server, v1: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hazards of a fresh clone's get, each fixed in turn, then the same get succeeds."""
    bucket = s3_server.bucket("get-hazards")
    root = s3_registry(tmp_path, s3_server, bucket)
    Registry(root).register("churn", v1, version="1.0.0")
    fresh = shared(tmp_path, root)
    out = tmp_path / "deploy" / "model.bin"
    out.parent.mkdir()

    s3_keys(fresh, s3_server, secret="not-the-secret")
    get_fails(fresh, TOOL_FAILED, out, says=("DVC remote 'storage'", "refused the credentials"))
    s3_keys(fresh, s3_server)

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    ok(fresh, "remote", "modify", "storage", "endpointurl",
       f"http://127.0.0.1:{free_port()}")
    get_fails(fresh, TOOL_FAILED, out, says=("could not reach the server",))
    ok(fresh, "remote", "modify", "storage", "endpointurl", s3_server.endpoint)

    client = s3_server.client()
    for key in s3_server.keys(bucket):
        client.delete_object(Bucket=bucket, Key=key)
    client.delete_bucket(Bucket=bucket)
    get_fails(fresh, TOOL_FAILED, out, says=("'storage'", "does not exist",
                                             "no such bucket or folder"))
    s3_server.bucket(bucket)
    get_fails(fresh, NOT_FOUND, out, says=("missing from remote 'storage'", "gitreg push"))
    ok(root, "push")

    ok(fresh, "get", "churn", "--version", "1.0.0", "-o", str(out))
    assert out.read_bytes() == v1.read_bytes()
    assert cache_objects(fresh) == set()  # straight to -o (issue 19)


# -- SSH ------------------------------------------------------------------------------------


def ssh_registry(tmp_path: Path, ssh: SSHServer, folder: Path, *,
                 keyfile: Path | None = None) -> Path:
    root = tmp_path / "registry"
    registry = Registry.init(root)
    remotes.add(registry, "ssh", f"ssh://127.0.0.1{folder}", default=True, options={
        "port": str(ssh.port), "user": ssh.user, "keyfile": str(keyfile or ssh.keyfile)})
    return root


def ssh_key(root: Path, keyfile: Path) -> None:
    remotes.modify(Registry(root), "ssh", "keyfile", str(keyfile), local=True)


@pytest.fixture
def remote_folder(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "ssh-remote" / "models"


def test_ssh_round_trip(tmp_path: Path, ssh_server: SSHServer, remote_folder: Path, v1: Path,
                        bert: Path) -> None:
    root = tmp_path / "registry"
    Registry.init(root)
    ok(root, "remote", "add", "ssh", f"ssh://127.0.0.1{remote_folder}", "--default",
       "--port", str(ssh_server.port), "--user", ssh_server.user,
       "--keyfile", str(ssh_server.keyfile))
    assert str(ssh_server.keyfile) not in (root / ".dvc" / "config").read_text()
    ok(root, "register", "churn", str(v1), "--version", "1.0.0")
    Registry(root).register("bert", bert, version="2.0.0")
    wanted = objects_of(root, "churn", "1.0.0") | objects_of(root, "bert", "2.0.0")
    stored = {p.parent.name + p.name for p in (remote_folder / "files" / "md5").rglob("*")
              if p.is_file()}
    assert stored == wanted

    fresh = clone(tmp_path, root)
    ssh_key(fresh, ssh_server.keyfile)
    ok(fresh, "get", "bert", "--version", "2.0.0", "-o", str(tmp_path / "out" / "bert"))
    same_tree(bert, tmp_path / "out" / "bert")
    assert cache_objects(fresh) == objects_of(fresh, "bert", "2.0.0")
    Registry(fresh).get("churn", version="1.0.0", output=tmp_path / "out" / "m.bin")
    assert md5((tmp_path / "out" / "m.bin").read_bytes()) == md5(v1.read_bytes())


def test_ssh_folder_that_cannot_be_made(tmp_path: Path, ssh_server: SSHServer,
                                        v1: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    root = ssh_registry(tmp_path, ssh_server, blocker / "models")
    before = snapshot(root)
    fails(root, TOOL_FAILED, "register", "churn", str(v1), "--version", "1.0.0",
          says=("could not write weights to DVC remote 'ssh'",))
    assert snapshot(root) == before
    blocker.unlink()
    Registry(root).register("churn", v1, version="1.0.0")


def test_ssh_refused_key_and_unreachable_server(tmp_path: Path, ssh_server: SSHServer,
                                                remote_folder: Path, v1: Path) -> None:
    root = ssh_registry(tmp_path, ssh_server, remote_folder, keyfile=ssh_server.other_keyfile)
    before = snapshot(root)
    fails(root, TOOL_FAILED, "register", "churn", str(v1), "--version", "1.0.0",
          says=("DVC remote 'ssh'", "refused the credentials"))
    assert snapshot(root) == before
    ssh_key(root, ssh_server.keyfile)

    remotes.modify(Registry(root), "ssh", "port", str(free_port()))
    before = snapshot(root)
    fails(root, TOOL_FAILED, "register", "churn", str(v1), "--version", "1.0.0",
          says=("could not reach the server",))
    assert snapshot(root) == before
    remotes.modify(Registry(root), "ssh", "port", str(ssh_server.port))
    Registry(root).register("churn", v1, version="1.0.0")
    assert [p.name for p in remote_folder.rglob("*") if p.name.endswith(".tmp")] == []


def test_ssh_missing_object_and_missing_folder(tmp_path: Path, ssh_server: SSHServer,
                                               remote_folder: Path, v1: Path) -> None:
    root = ssh_registry(tmp_path, ssh_server, remote_folder)
    Registry(root).register("churn", v1, version="1.0.0")
    fresh = shared(tmp_path, root)
    ssh_key(fresh, ssh_server.keyfile)
    out = tmp_path / "out.bin"
    (obj,) = (p for p in remote_folder.rglob("*") if p.is_file())

    obj.unlink()
    fails(fresh, NOT_FOUND, "get", "churn", "--version", "1.0.0", "-o", str(out),
          says=("missing from remote 'ssh'",))
    assert not out.exists() and cache_objects(fresh) == set()

    shutil.rmtree(remote_folder)
    fails(fresh, TOOL_FAILED, "get", "churn", "--version", "1.0.0", "-o", str(out),
          says=("does not exist", "no such bucket or folder"))
    assert not out.exists() and cache_objects(fresh) == set()

    ok(root, "push")
    Registry(fresh).get("churn", version="1.0.0", output=out)
    assert out.read_bytes() == v1.read_bytes()


def test_ssh_get_with_refused_key_or_no_server(tmp_path: Path, ssh_server: SSHServer,
                                              remote_folder: Path, v1: Path) -> None:
    root = ssh_registry(tmp_path, ssh_server, remote_folder)
    Registry(root).register("churn", v1, version="1.0.0")
    fresh = shared(tmp_path, root)
    out = tmp_path / "deploy" / "model.bin"
    out.parent.mkdir()

    ssh_key(fresh, ssh_server.other_keyfile)
    get_fails(fresh, TOOL_FAILED, out, says=("DVC remote 'ssh'", "refused the credentials"))
    ssh_key(fresh, ssh_server.keyfile)

    ok(fresh, "remote", "modify", "ssh", "port", str(free_port()))  # nothing listens there
    get_fails(fresh, TOOL_FAILED, out, says=("DVC remote 'ssh'", "could not reach the server"))
    ok(fresh, "remote", "modify", "ssh", "port", str(ssh_server.port))

    ok(fresh, "get", "churn", "--version", "1.0.0", "-o", str(out))
    assert out.read_bytes() == v1.read_bytes()


# -- a folder on this machine (the default remote) -------------------------------------------
# (A remote folder that cannot be written on register: tests/test_atomic.py.)


def test_folder_remote_missing_folder_or_object_on_get(tmp_path: Path, v1: Path) -> None:
    storage = tmp_path / "shared-storage"
    root = tmp_path / "registry"
    Registry.init(root, remote=str(storage))
    ok(root, "register", "churn", str(v1), "--version", "1.0.0")
    fresh = shared(tmp_path, root)
    out = tmp_path / "deploy" / "model.bin"
    out.parent.mkdir()

    moved = tmp_path / "unmounted"
    storage.rename(moved)  # as when a share is not mounted
    get_fails(fresh, TOOL_FAILED, out, says=(f"DVC remote 'storage' ({storage})",
                                             "does not exist", "no such bucket or folder"))
    moved.rename(storage)

    (obj,) = (p for p in storage.rglob("*") if p.is_file())
    obj.unlink()
    get_fails(fresh, NOT_FOUND, out, says=("missing from remote 'storage'", "gitreg push"))
    ok(root, "push")  # the registry that has the weights puts them back

    ok(fresh, "get", "churn", "--version", "1.0.0", "-o", str(out))
    assert out.read_bytes() == v1.read_bytes()
    assert cache_objects(fresh) == set()  # straight to -o (issue 19)

