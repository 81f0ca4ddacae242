"""Real storage servers on loopback, started and stopped by the tests themselves.

- ``s3_server``: moto's S3 API server (``moto[server]``, a dev dependency), with
  authentication on: after the few set-up calls below, only the access key the fixture
  made is accepted, so refused credentials can be tested.
- ``ssh_server``: an SSH server with SFTP (asyncssh's, ``sftpd.py``; the ``dev`` extra
  installs it) on a high port with throw-away host and user keys, and a second key it
  refuses. The client under test is the real one, DVC's ``dvc-ssh``; nothing comes from
  the system, so the SSH tests run on any machine, without root.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {START_TIMEOUT} s")


@contextlib.contextmanager
def _running(command: list[str], port: int, log: Path, env: dict[str, str]) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)
    try:
        _wait_for(port, proc, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- S3 -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
        )

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=bucket)
        return sorted(obj["Key"] for obj in listing.get("Contents", []))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    import boto3

    folder = tmp_path_factory.mktemp("moto")
    port = free_port()
    server = Path(sys.executable).with_name("moto_server")
    command = [str(server)] if server.exists() else [sys.executable, "-m", "moto.server"]
    # The three IAM calls below go through unauthenticated; everything after needs a key.
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    with _running([*command, "-H", "127.0.0.1", "-p", str(port)], port, folder / "moto.log",
                  env):
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="setup", aws_secret_access_key="setup")
        iam.create_user(UserName="gitreg")
        iam.put_user_policy(UserName="gitreg", PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }))
        key = iam.create_access_key(UserName="gitreg")["AccessKey"]
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])


# -- SSH ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SSHServer:
    port: int
    user: str
    keyfile: Path
    other_keyfile: Path  # a key the server does not accept


def _key(path: Path) -> Any:
    """A new ed25519 key pair in OpenSSH's formats: ``path`` and ``path.pub``."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519", comment=path.name)
    key.write_private_key(str(path))
    key.write_public_key(str(path) + ".pub")
    path.chmod(0o600)
    return key


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    folder = tmp_path_factory.mktemp("sshd")
    for name in ("host", "user", "other"):
        _key(folder / name)
    shutil.copy(folder / "user.pub", folder / "authorized_keys")
    port = free_port()
    command = [sys.executable, str(Path(__file__).with_name("sftpd.py")), str(port),
               str(folder / "host"), str(folder / "authorized_keys")]
    with _running(command, port, folder / "sshd.log", dict(os.environ)):
        yield SSHServer(port, getpass.getuser(), folder / "user", folder / "other")
