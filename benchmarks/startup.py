"""How long the everyday reads take from start to exit, against Python's own start-up.

    .venv/bin/python benchmarks/startup.py [--models 100] [--versions 100] [--repeat 20]
                                           [--reuse DIR]

Issue 19 point 5's target: ``gitreg which NAME STAGE`` and ``gitreg show NAME@VERSION``
<= 0.1 s (wall) at 10,000 versions with the cache warm. It builds a registry with
benchmarks/generate.py (--models x --versions; or uses DIR/gitreg from an earlier --reuse
run), clones it as a user would, runs each command once (the first run fills the cache),
then times --repeat runs of each, every one a new process (``python -m gitreg ...``), in
turn with ``python -c pass`` in the same interpreter: the floor no Python command line goes
below. Printed: the median wall and CPU time (user + system) of each, and its ratio to the
floor, pair by pair; and how many modules each command imported (``typer`` should not be
one of them). Python's bytecode cache is on, as installed by pip.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from isolation import isolate  # benchmarks/isolation.py

TARGET = 0.1
MODEL, VERSION, STAGE = "model-0042", "1.0.5", "production"
COMMANDS = {
    "which NAME STAGE": ["which", MODEL, STAGE],
    "show NAME@VERSION": ["show", f"{MODEL}@{VERSION}"],
    "show NAME": ["show", MODEL],
}
PROBE = ("import sys, runpy; sys.argv = ['gitreg', *sys.argv[1:]]\n"
         "try:\n    runpy.run_module('gitreg', run_name='__main__')\n"
         "finally:\n    print(len(sys.modules), 'typer' in sys.modules, file=sys.stderr)")


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``args``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reuse", type=Path, default=None,
                        help="build the registry here once and use it again next time")
    args = parser.parse_args()
    base = args.reuse or Path(tempfile.mkdtemp(prefix="gitreg-bench-startup-"))
    base.mkdir(parents=True, exist_ok=True)
    isolate(base)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(base / "_pycache")
    if not (base / "gitreg").is_dir():
        subprocess.run([sys.executable, str(Path(__file__).parent / "generate.py"), str(base),
                        "--models", str(args.models), "--versions", str(args.versions)],
                       check=True)
    clone = base / "clone"
    if not clone.is_dir():
        subprocess.run(["git", "clone", "-q", "--no-local", str(base / "gitreg"), str(clone)],
                       check=True)
    floor = [sys.executable, "-c", "pass"]
    print(f"{args.models * args.versions:,} versions, {args.repeat} runs each, python "
          f"{sys.version.split()[0]}, {os.cpu_count()} cpus, load "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"{'command':20}{'wall':>8}{'cpu':>8}{'/floor wall':>13}{'/floor cpu':>12}"
          f"{'modules':>9}{'typer':>7}   target (wall)")
    for label, command in COMMANDS.items():
        gitreg = [sys.executable, "-m", "gitreg", *command]
        timed(gitreg, clone)  # fills the cache, as the first read after a clone does
        probe = subprocess.run([sys.executable, "-c", PROBE, *command], cwd=clone,
                               capture_output=True, text=True, check=True)
        modules, typer = probe.stderr.split()[-2:]
        runs, floors = [], []
        for _ in range(args.repeat):
            runs.append(timed(gitreg, clone))
            floors.append(timed(floor, clone))
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        ratio_wall = statistics.median(a[0] / b[0] for a, b in zip(runs, floors, strict=True))
        ratio_cpu = statistics.median(a[1] / max(b[1], 1e-3)
                                      for a, b in zip(runs, floors, strict=True))
        verdict = "ok" if wall <= TARGET else "MISSED"
        print(f"{label:20}{wall:8.3f}{cpu:8.3f}{ratio_wall:13.2f}{ratio_cpu:12.2f}"
              f"{modules:>9}{typer:>7}   <= {TARGET}  {verdict}")
    print(f"{'python -c pass':20}{statistics.median(w for w, _ in floors):8.3f}"
          f"{statistics.median(c for _, c in floors):8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
