"""How long gitreg takes to register and get large weights, against copying them.

    .venv/bin/python benchmarks/weights.py [--size-mib 1024] [--repeat 3] [--warm]
                                           [--dir DIR] [--keep]
                                           [--remotes folder,s3,ssh] [--remote-size-mib 256]

Targets (issue 19; issue 4's were 1.3 and 1.5), each a ratio measured in the same run:

    gitreg register          <= 1.15 x (md5 of the file + copy of the file)
    gitreg get, fresh clone  <= 1.2 x copy of the file   (weights from the local DVC remote;
                                                        the copy is of the object get reads,
                                                        read once before either, see below)

and for comparison the same for plain DVC: ``dvc add`` + ``dvc push``, and ``dvc pull`` in
a fresh clone. "copy" is ``shutil.copyfile`` (``sendfile`` on Linux, as ``cp``); "md5" reads
the file and hashes it in 1 MiB chunks. Every command runs as a user runs it, in a new
process (``python -m gitreg ...``, ``python -m dvc ...``), so each includes its start-up,
printed on its own line.

Each repetition uses new content (the first bytes of the file change), a new registry with
a new local remote, and a new DVC project, all in one temp folder on one filesystem, and
runs the steps in turn: copy, md5, register, dvc add + push, get, dvc pull. Before every
timed step, unless ``--warm``, all files under the temp folder are written out
(``os.sync()``) and dropped from the page cache with ``posix_fadvise(POSIX_FADV_DONTNEED)``,
so each step reads from the disk, as after a reboot (no root needed; the machine's other
files are left alone). Writes are timed into the page cache, not to the disk, for every
step alike. The ratio per repetition is printed, and the median over the repetitions;
also the CPU time of each step, and the load average, since the machine may be shared.

With ``--remotes s3`` and/or ``ssh`` the same is measured against a remote on a loopback
server, started here as the tests start them (tests/servers.py): moto's S3 server, and the
asyncssh SFTP server of tests/sftpd.py. The floors there are what a user would run by hand,
each a new process too: for S3 a boto3 ``upload_file``/``download_file`` (what
``aws s3 cp`` does), for SSH OpenSSH's ``sftp`` (batch mode) with the same key. Ratios:
``register / (md5 + upload)`` and ``get / download``. The file is ``--remote-size-mib``
large (moto keeps objects in memory; the servers are Python, so they set the pace).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import hashlib
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from isolation import isolate  # benchmarks/isolation.py, beside this script

CHUNK = 1 << 20
STEPS = ("copy", "md5", "register", "dvc add+push", "copy of the stored object", "get",
         "dvc pull")
STARTUP = ("gitreg start-up", "dvc start-up")



def run(cwd: Path, *args: str) -> None:
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed in {cwd}:\n{proc.stdout}{proc.stderr}")


def gitreg(cwd: Path, *args: str) -> None:
    run(cwd, sys.executable, "-m", "gitreg", *args)


def dvc(cwd: Path, *args: str) -> None:
    run(cwd, sys.executable, "-m", "dvc", *args)


def git(cwd: Path, *args: str) -> None:
    run(cwd, "git", *args)


def drop_page_cache(folder: Path) -> None:
    """Write every file out, then ask the kernel to forget its cached pages."""
    os.sync()  # DONTNEED skips dirty pages
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# -- one repetition -----------------------------------------------------------------------


def timed(times: dict[str, float], name: str, before: Callable[[], None],
          step: Callable[[], None]) -> None:
    """Wall time of ``step`` as ``times[name]``; the CPU time it took, of this process and
    of the commands it ran, as ``times[name + CPU]`` (the machine may be shared)."""
    before()
    cpu = _cpu()
    start = time.perf_counter()
    step()
    times[name] = time.perf_counter() - start
    times[name + CPU] = _cpu() - cpu


CPU = " (CPU)"


def _cpu() -> float:
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def repetition(base: Path, source: Path, n: int, settle: Callable[[], None]) -> dict[str, float]:
    work = base / f"rep{n}"
    work.mkdir()
    # New content: nothing of it is in any cache or remote yet.
    with source.open("r+b") as handle:
        handle.write(f"rep {n} {time.time_ns()}\n".encode())
    times: dict[str, float] = {}

    timed(times, "copy", settle, lambda: shutil.copyfile(source, work / "copy.bin"))
    (work / "copy.bin").unlink()
    timed(times, "md5", settle, lambda: md5_of(source))

    registry = work / "registry"
    registry.mkdir()
    gitreg(registry, "init", "--remote", str(work / "registry-storage"))
    timed(times, "register",
          settle, lambda: gitreg(registry, "register", "big", str(source), "--version", "1.0.0"))

    project = work / "dvc-project"
    project.mkdir()
    git(project, "init", "-q")
    dvc(project, "init", "-q")
    dvc(project, "remote", "add", "-d", "storage", str(work / "dvc-storage"))
    shutil.copyfile(source, project / "big.bin")

    def add_and_push() -> None:
        dvc(project, "add", "-q", "big.bin")
        dvc(project, "push", "-q")

    timed(times, "dvc add+push", settle, add_and_push)
    git(project, "add", ".")
    git(project, "commit", "-qm", "big")

    clone = work / "registry-clone"
    git(work, "clone", "-q", str(registry), str(clone))
    # The floor for get: a copy of the very file it reads. On a virtual machine the host
    # caches the disk's blocks below the guest's page cache, so whichever reads a new file
    # first pays for it: the source file, read by every step before, copied up to 1.7x
    # faster than the new stored object, and a copy timed after get ran faster than get for
    # the same reason. So the object is read once first (the host's cache then holds it for
    # both, as the source), and both steps start from the guest's page cache dropped.
    digest = md5_of(source)
    stored = work / "registry-storage" / "files" / "md5" / digest[:2] / digest[2:]
    if md5_of(stored) != digest:
        raise SystemExit("gitreg register stored different bytes")

    def copy_stored() -> None:
        shutil.copyfile(stored, work / "copy2.bin")

    timed(times, "copy of the stored object", settle, copy_stored)
    timed(times, "get",
          settle, lambda: gitreg(clone, "get", "big", "--version", "1.0.0", "-o", "out.bin"))
    if md5_of(clone / "out.bin") != digest:
        raise SystemExit("gitreg get wrote different bytes")

    dvc_clone = work / "dvc-clone"
    git(work, "clone", "-q", str(project), str(dvc_clone))
    timed(times, "dvc pull", settle, lambda: dvc(dvc_clone, "pull", "-q"))

    timed(times, "gitreg start-up", settle, lambda: gitreg(clone, "show", "big@1.0.0"))
    timed(times, "dvc start-up", settle, lambda: dvc(dvc_clone, "version"))
    shutil.rmtree(work)
    return times


# -- report -------------------------------------------------------------------------------


def ratios(times: dict[str, float]) -> dict[str, float]:
    both = times["md5"] + times["copy"]
    return {
        "register / (md5 + copy)": times["register"] / both,
        "get / copy of the stored object": times["get"] / times["copy of the stored object"],
        "get / copy of the source file": times["get"] / times["copy"],
        "dvc add+push / (md5 + copy)": times["dvc add+push"] / both,
        "dvc pull / copy": times["dvc pull"] / times["copy"],
    }


LIMITS = {"register / (md5 + copy)": 1.15, "get / copy of the stored object": 1.2}


def report(runs: list[dict[str, float]], size_mib: int, warm: bool) -> None:
    reps = len(runs)
    head = f"{'':30}" + "".join(f"{f'rep {i + 1}':>9}" for i in range(reps)) + f"{'median':>9}"
    print(f"\ntimes in seconds, {size_mib} MiB, page cache "
          + ("kept (--warm)" if warm else "dropped before each step"))
    print(head)
    for step in (*STEPS, *STARTUP):
        values = [r[step] for r in runs]
        print(f"{step:30}" + "".join(f"{v:9.2f}" for v in values)
              + f"{statistics.median(values):9.2f}")
    print("\nCPU seconds (user + system, gitreg or DVC and the git processes they ran)")
    print(head)
    for step in (*STEPS, *STARTUP):
        values = [r[step + CPU] for r in runs]
        print(f"{step:30}" + "".join(f"{v:9.2f}" for v in values)
              + f"{statistics.median(values):9.2f}")
    print("\nratios (per repetition; median)")
    print(head + "   target")
    per_run = [ratios(r) for r in runs]
    for key in per_run[0]:
        values = [r[key] for r in per_run]
        median = statistics.median(values)
        limit = LIMITS.get(key)
        verdict = "" if limit is None else f"   <= {limit}  " + ("ok" if median <= limit
                                                                 else "MISSED")
        print(f"{key:30}" + "".join(f"{v:9.2f}" for v in values) + f"{median:9.2f}" + verdict)


# -- S3 and SSH remotes on loopback ----------------------------------------------------------

REMOTE_STEPS = ("md5", "upload", "register", "download", "get")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(command: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{command[0]} exited:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{command[0]} did not listen on {port}")


class Remote:
    """A loopback server, how a registry points at it, and the by-hand transfers."""

    kind = ""

    def configure(self, registry: Path, n: int) -> None: ...

    def upload(self, source: Path, n: int) -> list[str]: ...

    def download(self, n: int, target: Path) -> list[str]: ...


class S3(Remote):
    kind = "s3"
    KEY = "bench"

    def __init__(self, base: Path) -> None:
        import boto3

        port = free_port()
        server = Path(sys.executable).with_name("moto_server")
        command = [str(server)] if server.exists() else [sys.executable, "-m", "moto.server"]
        self.proc = serve([*command, "-H", "127.0.0.1", "-p", str(port)], port,
                          base / "moto.log")
        self.endpoint = f"http://127.0.0.1:{port}"
        os.environ.update({"AWS_ACCESS_KEY_ID": self.KEY, "AWS_SECRET_ACCESS_KEY": self.KEY,
                           "AWS_DEFAULT_REGION": "us-east-1"})
        boto3.client("s3", endpoint_url=self.endpoint).create_bucket(Bucket="bench")

    def configure(self, registry: Path, n: int) -> None:
        gitreg(registry, "init", "--remote", f"s3://bench/registry{n}",
               "--endpoint-url", self.endpoint)
        for key in ("access_key_id", "secret_access_key"):
            gitreg(registry, "remote", "modify", "storage", key, self.KEY, "--local")

    def _boto3(self, call: str) -> list[str]:
        return [sys.executable, "-c", "import sys, boto3; s3 = boto3.client('s3', "
                f"endpoint_url={self.endpoint!r}); s3.{call}"]

    def upload(self, source: Path, n: int) -> list[str]:
        return self._boto3(f"upload_file({str(source)!r}, 'bench', 'by-hand/{n}')")

    def download(self, n: int, target: Path) -> list[str]:
        return self._boto3(f"download_file('bench', 'by-hand/{n}', {str(target)!r})")


class SSH(Remote):
    kind = "ssh"

    def __init__(self, base: Path) -> None:
        import asyncssh

        folder = base / "sshd"
        folder.mkdir()
        for name in ("host", "user"):
            key = asyncssh.generate_private_key("ssh-ed25519")
            key.write_private_key(str(folder / name))
            key.write_public_key(str(folder / name) + ".pub")
            (folder / name).chmod(0o600)
        port = free_port()
        sftpd = Path(__file__).resolve().parent.parent / "tests" / "sftpd.py"
        self.proc = serve([sys.executable, str(sftpd), str(port), str(folder / "host"),
                           str(folder / "user.pub")], port, folder / "sshd.log")
        self.port, self.key, self.user = port, folder / "user", getpass.getuser()
        self.files = base / "ssh-remote"

    def configure(self, registry: Path, n: int) -> None:
        gitreg(registry, "init")
        gitreg(registry, "remote", "add", "ssh", f"ssh://127.0.0.1{self.files}/registry{n}",
               "--default", "--port", str(self.port), "--user", self.user,
               "--keyfile", str(self.key))

    def _sftp(self, command: str, n: int) -> list[str]:
        # OpenSSH's sftp in batch mode (its scp works too, but exits 1 against asyncssh's
        # server, which sends no exit status for the sftp subsystem).
        batch = self.files.parent / f"sftp-{n}-{command.split()[0]}"
        batch.write_text(command + "\n")
        return ["sftp", "-q", "-i", str(self.key), "-P", str(self.port), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-b", str(batch), f"{self.user}@127.0.0.1"]

    def upload(self, source: Path, n: int) -> list[str]:
        self.files.mkdir(exist_ok=True)
        return self._sftp(f"put {source} {self.files}/by-hand-{n}", n)

    def download(self, n: int, target: Path) -> list[str]:
        return self._sftp(f"get {self.files}/by-hand-{n} {target}", n)


def remote_repetition(base: Path, source: Path, n: int, settle: Callable[[], None],
                      remote: Remote) -> dict[str, float]:
    work = base / f"{remote.kind}{n}"
    work.mkdir()
    with source.open("r+b") as handle:
        handle.write(f"{remote.kind} {n} {time.time_ns()}\n".encode())
    times: dict[str, float] = {}
    timed(times, "md5", settle, lambda: md5_of(source))
    timed(times, "upload", settle, lambda: run(work, *remote.upload(source, n)))
    registry = work / "registry"
    registry.mkdir()
    remote.configure(registry, n)
    timed(times, "register",
          settle, lambda: gitreg(registry, "register", "big", str(source), "--version", "1.0.0"))
    timed(times, "download", settle, lambda: run(work, *remote.download(n, work / "by-hand")))
    (work / "by-hand").unlink()
    clone = work / "registry-clone"
    git(work, "clone", "-q", str(registry), str(clone))
    shutil.copy(registry / ".dvc" / "config.local", clone / ".dvc" / "config.local") \
        if (registry / ".dvc" / "config.local").exists() else None
    timed(times, "get",
          settle, lambda: gitreg(clone, "get", "big", "--version", "1.0.0", "-o", "out.bin"))
    if md5_of(clone / "out.bin") != md5_of(source):
        raise SystemExit(f"gitreg get from {remote.kind} wrote different bytes")
    shutil.rmtree(work)
    return times


def remote_report(kind: str, runs: list[dict[str, float]], size_mib: int) -> None:
    reps = len(runs)
    head = f"{'':30}" + "".join(f"{f'rep {i + 1}':>9}" for i in range(reps)) + f"{'median':>9}"
    print(f"\n{kind} remote on loopback, {size_mib} MiB: seconds (CPU seconds of gitreg or "
          "the floor's process, not the server's)")
    print(head)
    for step in REMOTE_STEPS:
        for key in (step, step + CPU):
            values = [r[key] for r in runs]
            print(f"{key:30}" + "".join(f"{v:9.2f}" for v in values)
                  + f"{statistics.median(values):9.2f}")
    print(head)
    for key, values in (
        ("register / (md5 + upload)", [r["register"] / (r["md5"] + r["upload"]) for r in runs]),
        ("get / download", [r["get"] / r["download"] for r in runs]),
    ):
        print(f"{key:30}" + "".join(f"{v:9.2f}" for v in values)
              + f"{statistics.median(values):9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the file (MiB)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (median reported)")
    parser.add_argument("--warm", action="store_true",
                        help="do not drop files from the page cache between steps")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to work (default: the system temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--remotes", default="folder",
                        help="comma-separated: folder (a local DVC remote), s3, ssh")
    parser.add_argument("--remote-size-mib", type=int, default=256,
                        help="size of the file for the s3 and ssh remotes (MiB)")
    args = parser.parse_args()
    kinds = args.remotes.split(",")
    if not set(kinds) <= {"folder", "s3", "ssh"}:
        parser.error(f"--remotes: folder, s3 or ssh, not {args.remotes}")

    base = Path(tempfile.mkdtemp(prefix="gitreg-bench-weights-", dir=args.dir))
    try:
        isolate(base)
        print(f"gitreg weights benchmark: {args.size_mib} MiB x {args.repeat} in {base}")
        print(f"python {platform.python_version()}, {os.cpu_count()} cpus, load "
              f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        source = base / "big.bin"
        with source.open("wb") as handle:
            block = os.urandom(CHUNK)
            for i in range(args.size_mib if "folder" in kinds else args.remote_size_mib):
                # Distinct blocks (no dedup by any layer), cheap to make.
                handle.write(i.to_bytes(8, "little") + block[8:])

        def settle() -> None:
            if not args.warm:
                drop_page_cache(base)

        if "folder" in kinds:
            runs = []
            for n in range(args.repeat):
                runs.append(repetition(base, source, n, settle))
                load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
                print(f"repetition {n + 1} (load {load}): " + ", ".join(
                    f"{k} {v:.2f}s" for k, v in runs[-1].items()), flush=True)
            report(runs, args.size_mib, args.warm)
        with source.open("r+b") as handle:
            handle.truncate(args.remote_size_mib * CHUNK)
        for kind in ("s3", "ssh"):
            if kind not in kinds:
                continue
            remote = S3(base) if kind == "s3" else SSH(base)
            try:
                runs = []
                for n in range(args.repeat):
                    runs.append(remote_repetition(base, source, n, settle, remote))
                    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
                    print(f"{kind} repetition {n + 1} (load {load}): " + ", ".join(
                        f"{k} {v:.2f}s" for k, v in runs[-1].items()), flush=True)
            finally:
                remote.proc.terminate()
                remote.proc.wait()
            remote_report(kind, runs, args.remote_size_mib)
        print(f"\nload at the end {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
