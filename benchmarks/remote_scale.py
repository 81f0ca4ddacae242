"""Register and get one version through each kind of remote, in registries of 100 and of
10,000 versions: the time must stay flat (issue 4, point 5), because gitreg moves exactly
one version's objects, through DVC's filesystem layer for the remote, without building
DVC's index of every ``.dvc`` file.

    .venv/bin/python benchmarks/remote_scale.py [--sizes 100,10000] [--repeat 5]
                                                [--remotes folder,s3]

Each registry is bulk-loaded by ``benchmarks/scale.py``'s ``build`` (N/100 models of 100
versions: version files, ``.dvc`` pointers, tags, the objects in the cache and on its local
folder remote, packed by ``git gc``) and given a second DVC remote, a bucket on
``moto_server`` (S3 API, loopback; needs the dev extra). Then, for each repetition, each
remote (made the default in turn) and each size in turn, so that a change in the machine's
load touches every column alike, it times as a user runs them (``python -m gitreg``, start-up
and git included): ``register`` of a new 1 MiB version of a model that has 100 versions at
every size, then ``get`` of that version after its object was removed from the cache, so
that it comes from the remote (checked: the bytes, and the cache refilled). Printed: the
median wall time, and the median CPU time of gitreg and its git processes (less disturbed
by other load), per size, and growth = largest size / smallest size (flat ~ 1.0).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale  # benchmarks/scale.py: build, isolate, timed runs
from isolation import isolate  # benchmarks/isolation.py

BUCKET = "remote-scale"


def start_moto(port: int) -> subprocess.Popen[bytes]:
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("moto_server did not start (pip install -e '.[dev]')") from None
            time.sleep(0.1)


def prepare(base: Path, size: int, endpoint: str) -> Path:
    """A registry of ``size`` versions with its folder remote ``storage`` and remote ``s3``."""
    import boto3

    from gitreg.service import remotes
    from gitreg.service.registry import Registry

    root = base / f"registry-{size}"
    start = time.perf_counter()
    scale.build(root, base / f"storage-{size}", size, pack=True, deep=False)
    bucket = f"{BUCKET}-{size}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="k", aws_secret_access_key="s").create_bucket(Bucket=bucket)
    registry = Registry(root)
    remotes.add(registry, "s3", f"s3://{bucket}/models", options={"endpointurl": endpoint})
    remotes.modify(registry, "s3", "access_key_id", "k", local=True)
    remotes.modify(registry, "s3", "secret_access_key", "s", local=True)
    print(f"built a registry of {size} versions in {time.perf_counter() - start:.0f} s",
          flush=True)
    return root


def measure_once(root: Path, work: Path, remote: str, rep: int,
                 timings: scale.Timings) -> None:
    from gitreg.service import remotes
    from gitreg.service.registry import Registry
    from gitreg.weights import dvcconfig

    remotes.set_default(Registry(root), remote)
    version = f"3.{rep}.{['storage', 's3'].index(remote)}"
    weights = work / f"weights-{remote}-{rep}.bin"
    weights.write_bytes(os.urandom(1 << 20))
    md5 = hashlib.md5(weights.read_bytes(), usedforsecurity=False).hexdigest()

    seconds, _ = scale.gitreg(root, "register", scale.TARGET_MODEL, str(weights),
                              "--version", version)
    tag = f"{scale.TARGET_MODEL}@v{version}"
    if scale.git(root, "tag", "-l", tag).strip() != tag:
        raise SystemExit(f"register {version}: no tag")
    label = "folder" if remote == "storage" else remote
    timings.add(f"register ({label})", seconds)

    obj = dvcconfig.cache_dir(root) / "files" / "md5" / md5[:2] / md5[2:]
    obj.unlink()  # so that get must fetch it from the remote
    target = work / f"out-{remote}-{rep}.bin"
    seconds, _ = scale.gitreg(root, "get", scale.TARGET_MODEL, "--version", version,
                              "-o", str(target))
    if hashlib.md5(target.read_bytes(), usedforsecurity=False).hexdigest() != md5 \
            or not obj.exists():
        raise SystemExit(f"get {version}: wrong bytes, or the cache was not refilled")
    target.unlink()
    timings.add(f"get ({label})", seconds)


def report(sizes: list[int], timings: scale.Timings) -> None:
    for title, values in (("wall", timings.wall), ("CPU (gitreg + git)", timings.cpu)):
        print(f"\nmedian {title}, seconds")
        print(f"{'':20}" + "".join(f"{f'{s} versions':>16}" for s in sizes) + f"{'growth':>9}")
        for command in sorted({c.rsplit('@', 1)[0] for c in values}):
            medians = [statistics.median(values[f"{command}@{s}"]) for s in sizes]
            print(f"{command:20}" + "".join(f"{m:16.3f}" for m in medians)
                  + f"{medians[-1] / medians[0]:9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,10000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--remotes", default="folder,s3",
                        help="folder (the registry's local remote), s3 (moto_server)")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    kinds = [{"folder": "storage", "s3": "s3"}[k] for k in options.remotes.split(",")]
    base = Path(tempfile.mkdtemp(prefix="gitreg-remote-scale-"))
    isolate(base)
    os.environ.update({"AWS_EC2_METADATA_DISABLED": "true",
                       "XDG_CACHE_HOME": str(base / "_env" / "xdg-cache")})
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        os.environ.pop(key, None)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    moto = start_moto(port)
    try:
        print("\n".join(scale.machine()))
        print(f"load:    {scale._loadavg()} (at start)")
        roots = {size: prepare(base, size, f"http://127.0.0.1:{port}") for size in sizes}
        work = base / "work"
        work.mkdir()
        timings = scale.Timings()
        for rep in range(options.repeat):
            for remote in kinds:
                for size in sizes:
                    one = scale.Timings()
                    measure_once(roots[size], work, remote, rep, one)
                    for command, wall in one.wall.items():
                        timings.add(f"{command}@{size}", (wall[0], one.cpu[command][0]))
            print(f"repetition {rep + 1} of {options.repeat} done, load {scale._loadavg()}",
                  flush=True)
        report(sizes, timings)
    finally:
        moto.terminate()
        moto.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
