"""How long gitreg takes to register and get large weights, against copying them.

    .venv/bin/python benchmarks/weights.py [--size-mib 1024] [--repeat 3] [--warm]
                                           [--dir DIR] [--keep]

Targets (issue 4), each a ratio measured in the same run:

    gitreg register          <= 1.3 x (md5 of the file + copy of the file)
    gitreg get, fresh clone  <= 1.5 x copy of the file   (weights from the local DVC remote)

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
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from isolation import isolate  # benchmarks/isolation.py, beside this script

CHUNK = 1 << 20
STEPS = ("copy", "md5", "register", "dvc add+push", "get", "dvc pull")
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
    timed(times, "get",
          settle, lambda: gitreg(clone, "get", "big", "--version", "1.0.0", "-o", "out.bin"))
    if md5_of(clone / "out.bin") != md5_of(source):
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
        "get / copy": times["get"] / times["copy"],
        "dvc add+push / (md5 + copy)": times["dvc add+push"] / both,
        "dvc pull / copy": times["dvc pull"] / times["copy"],
    }


LIMITS = {"register / (md5 + copy)": 1.3, "get / copy": 1.5}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the file (MiB)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (median reported)")
    parser.add_argument("--warm", action="store_true",
                        help="do not drop files from the page cache between steps")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to work (default: the system temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="gitreg-bench-weights-", dir=args.dir))
    try:
        isolate(base)
        print(f"gitreg weights benchmark: {args.size_mib} MiB x {args.repeat} in {base}")
        print(f"python {platform.python_version()}, {os.cpu_count()} cpus, load "
              f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        source = base / "big.bin"
        with source.open("wb") as handle:
            block = os.urandom(CHUNK)
            for i in range(args.size_mib):
                # Distinct blocks (no dedup by any layer), cheap to make.
                handle.write(i.to_bytes(8, "little") + block[8:])

        def settle() -> None:
            if not args.warm:
                drop_page_cache(base)

        runs = []
        for n in range(args.repeat):
            runs.append(repetition(base, source, n, settle))
            load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
            print(f"repetition {n + 1} (load {load}): " + ", ".join(f"{k} {v:.2f}s"
                                                     for k, v in runs[-1].items()), flush=True)
        report(runs, args.size_mib, args.warm)
        print(f"\nload at the end {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
