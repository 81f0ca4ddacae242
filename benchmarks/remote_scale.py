"""Register and get one version through an S3 remote (moto_server on loopback), with 0 and
with thousands of other ``.dvc`` files in the registry: the time must stay flat, because
gitreg moves one version's objects through DVC's filesystem layer without building DVC's
index of every ``.dvc`` file.

    .venv/bin/python benchmarks/remote_scale.py [--pointers 0,10000] [--repeat 3]

Needs the dev extra (moto[server], dvc-s3). Prints the best of ``--repeat`` runs, in seconds,
of the whole command as a user runs it (``python -m gitreg``, start-up and git included),
and of the weights layer alone (``Weights.push``/``Weights.fetch`` of the version's object,
in process).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(*args: str, cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fake_pointers(root: Path, count: int, env: dict[str, str]) -> None:
    """``count`` committed ``.dvc`` files, as a registry of that many versions has."""
    for i in range(count):
        folder = root / "models" / "other" / "artifacts" / f"0.0.{i}"
        folder.mkdir(parents=True)
        (folder / "model.bin.dvc").write_text(
            f"outs:\n- md5: {i:032x}\n  size: 1\n  hash: md5\n  path: model.bin\n")
    subprocess.run(["git", "add", "-A"], cwd=root, env=env, check=True)
    subprocess.run(["git", "-c", "gc.auto=0", "commit", "-qm", "pointers", "--allow-empty"],
                   cwd=root, env=env, check=True)
    # Pack now: a background auto-gc would delete loose objects while a clone copies them.
    subprocess.run(["git", "gc", "-q"], cwd=root, env=env, check=True)


def measure(base: Path, endpoint: str, pointers: int, repeat: int,
            env: dict[str, str]) -> dict[str, float]:
    import boto3

    from gitreg import remotes
    from gitreg.registry import Registry
    from gitreg.weights import Weights

    bucket = f"scale-{pointers}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="k", aws_secret_access_key="s")
    s3.create_bucket(Bucket=bucket)
    root = base / f"registry-{pointers}"
    Registry.init(root, remote=f"s3://{bucket}/m",
                  remote_options={"endpointurl": endpoint, "access_key_id": "k",
                                  "secret_access_key": "s"})
    fake_pointers(root, pointers, env)
    weights = base / "w.bin"
    best = dict.fromkeys(("register", "get", "push", "fetch"), 1e9)
    for i in range(repeat):
        weights.write_bytes(os.urandom(1 << 20))
        version = f"1.0.{i}"
        best["register"] = min(best["register"], run(
            sys.executable, "-m", "gitreg", "register", "churn", str(weights),
            "--version", version, cwd=root, env=env))
        clone = base / f"clone-{pointers}-{i}"
        subprocess.run(["git", "clone", "-q", str(root), str(clone)], env=env, check=True)
        remotes.modify(Registry(clone), "storage", "access_key_id", "k", local=True)
        remotes.modify(Registry(clone), "storage", "secret_access_key", "s", local=True)
        best["get"] = min(best["get"], run(
            sys.executable, "-m", "gitreg", "get", "churn", "--version", version,
            "-o", str(base / "out.bin"), cwd=clone, env=env))
        # The weights layer alone, in this process: the object out of the bucket and back,
        # then out of the clone's cache and back.
        artifact = Registry(root).record("churn", version).artifact
        md5 = artifact.md5
        s3.delete_object(Bucket=bucket, Key=f"m/files/md5/{md5[:2]}/{md5[2:]}")
        start = time.perf_counter()
        Weights(root).push(artifact, artifact.path + ".dvc")
        best["push"] = min(best["push"], time.perf_counter() - start)
        cached = Weights(clone).object_path(md5)
        cached.unlink()
        start = time.perf_counter()
        Weights(clone).fetch(artifact, artifact.path + ".dvc")
        best["fetch"] = min(best["fetch"], time.perf_counter() - start)
        assert cached.exists()
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pointers", default="0,10000")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="gitreg-remote-scale-"))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_CONFIG_NOSYSTEM": "1",
           "AWS_EC2_METADATA_DISABLED": "true", "GIT_AUTHOR_NAME": "bench",
           "GIT_AUTHOR_EMAIL": "bench@example.com", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@example.com"}
    port = free_port()
    server = Path(sys.executable).with_name("moto_server")
    moto = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        print(f"{'.dvc files':>10}  {'gitreg register':>16}  {'gitreg get':>11}  "
              f"{'Weights.push':>13}  {'Weights.fetch':>14}")
        for count in (int(c) for c in options.pointers.split(",")):
            best = measure(base, endpoint, count, options.repeat, env)
            print(f"{count:>10}  {best['register']:>15.2f}s  {best['get']:>10.2f}s  "
                  f"{best['push'] * 1000:>11.1f}ms  {best['fetch'] * 1000:>12.1f}ms")
    finally:
        moto.terminate()
        moto.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
