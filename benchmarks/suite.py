"""gitreg against GTO at 10,000 and 100,000 versions: cold CLI runs and warm API lookups.

    .venv/bin/python benchmarks/suite.py [--sizes 10000,100000] [--repeat 5]
        [--gto PATH | --no-gto] [--gto-repeat 2] [--gto-repeat-large 1] [--gto-timeout 1200]
        [--no-check] [--keep] [--reuse DIR]
    .venv/bin/python benchmarks/suite.py --fresh-clone [--sizes 10000,100000] [--reuse DIR]
        [--filters none,blob:none] [--weights-mib 64]

For each size N it builds, with benchmarks/generate.py, a gitreg registry of N/100 models x
100 versions with their stage histories, and the same shape in GTO's format; then times,
each command in a new process (`gitreg ...` from this venv, `gto ...` from a separate venv),
the median of --repeat runs of:

    --help, which NAME STAGE, show NAME, history NAME, list (everything), ci event TAG,
    register NAME WEIGHTS (1 KB), promote NAME VERSION STAGE

on model-0042 (100 versions at every size), and GTO's equivalents (``gto --help``,
``gto show NAME#STAGE --version``, ``gto show NAME``, ``gto history NAME``, ``gto show``,
``gto check-ref TAG``, ``gto register NAME HEAD --version``, ``gto assign NAME --version
--stage``; before each ``gto register`` an empty commit, untimed, gives it a new commit to
tag). Every repetition registers and promotes a new version in both, so reads run after
writes, as in use; then git's own one-file ``git add`` + ``git commit`` and a one-entry
``git update-index`` in the same gitreg clone, since any commit there rewrites git's index,
whose size grows with the registry. With two sizes, the report ends with how the writes grow
from one to the other, next to git's own, and less their one index rewrite. Wall and CPU
time (user+sys of the command and of the git processes it ran) are both reported: the
machine may be shared, and CPU time is what load disturbs least. A GTO command still running
after --gto-timeout seconds is stopped and reported as taking longer; every other gto
command but --help rebuilds the same state, so they are then not run at that size.

Before the repeated runs, each gitreg read command runs once with no cache
(``.git/gitreg-cache`` removed): the first command after a clone; ``history NAME`` once more
after ``git commit-graph write --reachable --changed-paths`` (which the repetitions then
have too); and ``gitreg check``, which must pass. After them, gitreg's Python API: a warm
``which``/metadata lookup in microseconds, and whether it is still right after another
process registered and promoted.

gitreg runs with Python's bytecode cache on (as installed by pip), kept in the temp dir.
GTO is installed into its own venv (default /tmp/gitreg-bench-gto-venv, created if missing;
or --gto PATH to a ``gto`` executable): it is not a dependency of gitreg. Everything runs
under a temp dir with its own git/DVC configuration and HOME, removed at the end unless
--keep. --reuse DIR keeps the built registries in DIR and uses them again next time (they
then hold the versions earlier runs registered).
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
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # the sibling module, found through the path above
from isolation import isolate  # benchmarks/isolation.py

from gitreg.repo.history import whole_walk

STAGE = "production"
GTO_VENV = Path("/tmp/gitreg-bench-gto-venv")
COMMANDS = ["--help", "which", "show NAME", "history NAME", "list", "ci event",
            "register", "promote"]
# git's own cost in the same clone, for the writes above (see git_baselines).
GIT_COMMIT = "git add+commit"
GIT_UPDATE_INDEX = "git update-index"
# Issue 5's targets: seconds of wall time per cold run, by size (None: no target).
TARGETS: dict[str, dict[int, float]] = {
    "--help": {10_000: 0.2, 100_000: 0.2},
    "which": {10_000: 0.3, 100_000: 0.45},
    "show NAME": {10_000: 0.3, 100_000: 0.45},
    "history NAME": {10_000: 0.3, 100_000: 0.45},
    "ci event": {10_000: 0.3, 100_000: 0.45},
    "list": {10_000: 1.0},
    "register": {10_000: 1.5},
    "promote": {10_000: 1.5},
}


@dataclass
class Runs:
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    unfinished: dict[str, str] = field(default_factory=dict)  # command -> why no time
    failed: dict[str, str] = field(default_factory=dict)  # command -> its error

    def add(self, command: str, wall: float, cpu: float) -> None:
        self.wall.setdefault(command, []).append(wall)
        self.cpu.setdefault(command, []).append(cpu)

    def median(self, command: str) -> tuple[float, float] | None:
        if command not in self.wall:
            return None
        return statistics.median(self.wall[command]), statistics.median(self.cpu[command])


class Failed(Exception):
    pass


class TimedOut(Failed):
    pass


def timed(argv: list[str], cwd: Path, *, check: bool = True, timeout: float | None = None,
          env: dict[str, str] | None = None, stdin: str | None = None
          ) -> tuple[float, float, str]:
    """Run ``argv`` in a new process: wall seconds, CPU seconds (with its children), stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False,
                              timeout=timeout, env=env, input=stdin)
    except subprocess.TimeoutExpired:
        raise TimedOut(f"{' '.join(argv)} did not finish in {timeout:.0f} s") from None
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if check and proc.returncode != 0:
        raise Failed(f"{' '.join(argv)} failed ({proc.returncode}) in {cwd}:\n"
                     f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return wall, cpu, proc.stdout


def gitreg_command() -> list[str]:
    script = Path(sys.executable).parent / "gitreg"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gitreg"]


def find_gto(path: str | None) -> Path:
    if path:
        return Path(path)
    gto = GTO_VENV / "bin" / "gto"
    if not gto.exists():
        print(f"installing gto into {GTO_VENV} (a venv of its own) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(GTO_VENV)], check=True)
        subprocess.run([str(GTO_VENV / "bin" / "pip"), "install", "-q", "gto"], check=True)
    return gto


# -- one size -----------------------------------------------------------------------------


@dataclass
class Sized:
    size: int
    root: Path
    gto_root: Path | None
    model: str  # the model timed: model-0042 (100 versions), or the last one if fewer
    build: dict[str, float] = field(default_factory=dict)
    first: dict[str, tuple[float, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    gitreg: Runs = field(default_factory=Runs)
    gto: Runs = field(default_factory=Runs)
    api: list[str] = field(default_factory=list)


def build(base: Path, size: int, with_gto: bool) -> Sized:
    models = max(1, size // 100)
    folder = base / f"{models}x100"
    root, gto_root = folder / "gitreg", folder / "gto"
    sized = Sized(size, root, gto_root if with_gto else None,
                  generate.model_name(min(42, models - 1)))
    if not root.exists():
        print(f"N={size}: building the gitreg registry ({models} x 100) ...", flush=True)
        phases = generate.build_gitreg(root, folder / "storage", models, 100)
        sized.build["gitreg"] = sum(phases.values())
        print(f"N={size}: built in {sized.build['gitreg']:.0f} s ("
              + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()) + ")", flush=True)
    if with_gto and not gto_root.exists():
        print(f"N={size}: building the GTO registry ...", flush=True)
        phases = generate.build_gto(gto_root, models, 100)
        sized.build["gto"] = sum(phases.values())
        print(f"N={size}: built in {sized.build['gto']:.0f} s", flush=True)
    return sized


def first_runs(sized: Sized, gitreg: list[str], *, check: bool = True) -> None:
    """Each read command once with no cache: the first command in a fresh clone. Then
    ``history NAME`` again, once git keeps a commit-graph with changed-path filters."""
    # Bytecode compiled and the help rendered once (kept in ~/.cache/gitreg, console.py),
    # as after any first run: not timed.
    timed([*gitreg, "--help"], sized.root)
    for label, args in read_commands(sized).items():
        shutil.rmtree(sized.root / ".git" / "gitreg-cache", ignore_errors=True)
        wall, cpu, _ = timed([*gitreg, *args], sized.root)
        sized.first[label] = (wall, cpu)
    wall, cpu, _ = timed(["git", "commit-graph", "write", "--reachable", "--changed-paths"],
                         sized.root)
    sized.notes.append(f"git commit-graph write --reachable --changed-paths: {wall:.1f} s "
                       f"wall, {cpu:.1f} s cpu (once)")
    shutil.rmtree(sized.root / ".git" / "gitreg-cache", ignore_errors=True)
    wall, cpu, _ = timed([*gitreg, *read_commands(sized)["history NAME"]], sized.root)
    sized.first["history NAME (with a commit-graph)"] = (wall, cpu)
    for args in read_commands(sized).values():  # the cache filled again, as after any run
        timed([*gitreg, *args], sized.root)
    if not check:
        sized.notes.append("gitreg check: not run (--no-check)")
        return
    wall, cpu, out = timed([*gitreg, "check"], sized.root)
    sized.notes.append(f"gitreg check: {out.strip().splitlines()[-1]} ({wall:.1f} s wall)")


def read_commands(sized: Sized) -> dict[str, list[str]]:
    return {
        "which": ["which", sized.model, STAGE],
        "show NAME": ["show", sized.model],
        "history NAME": ["history", sized.model],
        "list": ["list"],
        "ci event": ["ci", "event", f"{sized.model}/{STAGE}/2"],
    }


def repetition(sized: Sized, rep: int, gitreg: list[str], weights: Path) -> None:
    root, runs = sized.root, sized.gitreg
    wall, cpu, _ = timed([*gitreg, "--help"], root)
    runs.add("--help", wall, cpu)
    for label, args in read_commands(sized).items():
        wall, cpu, out = timed([*gitreg, *args], root)
        runs.add(label, wall, cpu)
        if label == "which" and not out.strip():
            raise SystemExit("which printed nothing")
    version = f"9.{rep}.{int(time.time()) % 100_000}"
    weights.write_bytes(f"weights {version}\n".encode() * 64)
    wall, cpu, _ = timed([*gitreg, "register", sized.model, str(weights), "--version", version,
                          "--metric", "accuracy=0.93", "--quiet"], root)
    runs.add("register", wall, cpu)
    wall, cpu, out = timed([*gitreg, "promote", sized.model, version, STAGE], root)
    runs.add("promote", wall, cpu)
    _, _, held = timed([*gitreg, "which", sized.model, STAGE], root)
    if held.strip() != version:
        raise SystemExit(f"after promote, which says {held.strip()!r}, expected {version}")
    git_baselines(sized, version)


def git_baselines(sized: Sized, version: str) -> None:
    """What git itself takes for a one-file change in the same clone: any commit there
    reads and rewrites git's index, whose size grows with the registry (issue 5)."""
    root, runs = sized.root, sized.gitreg
    notes = root / "BENCHMARK-NOTES.txt"
    with notes.open("a") as handle:
        handle.write(f"{version}\n")
    add = timed(["git", "add", notes.name], root)
    commit = timed(["git", "commit", "--quiet", "--no-verify", "-m", f"Notes {version}"], root)
    runs.add(GIT_COMMIT, add[0] + commit[0], add[1] + commit[1])
    entry = timed(["git", "ls-files", "--stage", "--", notes.name], root)[2]
    wall, cpu, _ = timed(["git", "update-index", "--index-info"], root, stdin=entry)
    runs.add(GIT_UPDATE_INDEX, wall, cpu)


def gto_repetition(sized: Sized, rep: int, gto: Path, timeout: float) -> None:
    """GTO's equivalents. A command that does not finish within ``timeout`` is stopped; as
    every gto command but --help first rebuilds the whole registry's state from its tags,
    the others are then not run at this size, and reported as taking at least as long."""
    root, runs = sized.gto_root, sized.gto
    assert root is not None
    tags = generate.git(root, "tag", "--list", f"{sized.model}#{STAGE}#*").split()
    version = f"v9.{rep}.{int(time.time()) % 100_000}"
    commands = {
        "--help": ["--help"],
        "show NAME": ["show", sized.model],
        "which": ["show", f"{sized.model}#{STAGE}", "--version"],
        "history NAME": ["history", sized.model],
        "list": ["show"],
        "ci event": ["check-ref", tags[0]],
        "register": ["register", sized.model, "HEAD", "--version", version],
        "promote": ["assign", sized.model, "--version", version, "--stage", STAGE],
    }
    for label, args in commands.items():
        if runs.unfinished and label != "--help":
            runs.unfinished.setdefault(label, f"not run: {next(iter(runs.unfinished))} took "
                                       f"over {timeout:.0f} s, and this rebuilds the same state")
            continue
        if label == "register":  # a new commit for the new version, as GTO's users make one
            generate.git(root, "commit", "--quiet", "--allow-empty", "-m",
                         f"Train {sized.model} {version}")
        try:
            wall, cpu, _ = timed([str(gto), *args], root, timeout=timeout)
        except TimedOut as exc:
            runs.unfinished[label] = str(exc)
            continue
        except Failed as exc:  # reported, and the other commands still timed
            said = [line for line in str(exc).splitlines()[1:] if line.strip()]
            runs.failed[label] = said[-1] if said else str(exc)  # its error, or the command
            continue
        runs.add(label, wall, cpu)


# -- the Python API -------------------------------------------------------------------------


def api_lookups(sized: Sized, gitreg: list[str], weights: Path) -> None:
    """Warm lookups in this process, and whether they see another process's changes."""
    from gitreg import ModelRegistry

    registry = ModelRegistry(sized.root)
    version = registry.which(STAGE, name=sized.model)
    assert version is not None

    def per_call(call: Callable[[], object], count: int = 2000) -> float:
        call()  # warm
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(count):
                call()
            samples.append((time.perf_counter() - start) / count)
        return statistics.median(samples) * 1e6

    which_us = per_call(lambda: registry.which(STAGE, name=sized.model))
    record_us = per_call(lambda: registry.registry.record(sized.model, version))
    listed_us = per_call(lambda: registry.list_models(stage=STAGE, name=sized.model), 200)
    # Another process changes the registry: a new version, promoted.
    new = f"9.9.{int(time.time()) % 100_000}"
    weights.write_bytes(f"weights {new}\n".encode() * 64)
    timed([*gitreg, "register", sized.model, str(weights), "--version", new, "--quiet"],
          sized.root)
    timed([*gitreg, "promote", sized.model, new, STAGE], sized.root)
    seen = registry.which(STAGE, name=sized.model)
    listed = [m.version for m in registry.list_models(stage=STAGE, name=sized.model)]
    record = registry.registry.record(sized.model, new)
    correct = seen == new and listed == [new] and record.version == new
    sized.api = [
        f"which(stage, name)                 {which_us:8.1f} us per call (warm)",
        f"registry.record(name, version)     {record_us:8.1f} us per call (warm)",
        f"list_models(stage=, name=)         {listed_us:8.1f} us per call (warm, "
        f"{sized.model}: {len(registry.registry.versions(sized.model))} versions)",
        f"after another process registered and promoted {new}: which -> {seen}, "
        f"list_models -> {listed}, record -> {record.version}: "
        + ("correct" if correct else "WRONG"),
    ]
    if not correct:
        raise SystemExit("the API did not see another process's change:\n" + "\n".join(sized.api))


# -- report -------------------------------------------------------------------------------


def report(results: list[Sized], repeat: int, gto_repeats: dict[int, int],
           timeout: float) -> str:
    lines = []
    for s in results:
        gto_runs = gto_repeats.get(s.size)
        lines.append(f"{s.size:,} versions ({s.size // 100} models x 100 versions): medians "
                     f"of {repeat} gitreg runs" + (f" and {gto_runs} GTO run(s)" if gto_runs
                                                   else "") + ", seconds")
        lines.append(f"{'command':<16} {'gitreg wall':>11} {'cpu':>6} {'GTO wall':>9} "
                     f"{'cpu':>7} {'gitreg/GTO':>10}  target")
        for command in COMMANDS:
            ours, theirs = s.gitreg.median(command), s.gto.median(command)
            row = f"{command:<16} "
            row += f"{ours[0]:11.3f} {ours[1]:6.3f} " if ours else f"{'-':>11} {'-':>6} "
            if theirs:
                row += f"{theirs[0]:9.2f} {theirs[1]:7.2f} "
                row += f"{ours[0] / theirs[0]:10.4f}" if ours else f"{'-':>10}"
            elif command in s.gto.unfinished:
                row += f"{'>' + format(timeout, '.0f'):>9} {'-':>7} "
                row += f"{'<' + format(ours[0] / timeout, '.5f'):>10}" if ours else f"{'-':>10}"
            else:
                row += f"{'-':>9} {'-':>7} {'-':>10}"
            target = TARGETS.get(command, {}).get(s.size)
            if target is not None and ours:
                row += f"  {'ok' if ours[0] <= target else 'MISSED'} (<= {target:g})"
            lines.append(row)
        for command in (GIT_COMMIT, GIT_UPDATE_INDEX):
            ours = s.gitreg.median(command)
            if ours:
                lines.append(f"{command:<16} {ours[0]:11.3f} {ours[1]:6.3f}   (git itself, "
                             "one file, same clone)")
        for command, why in {**s.gto.unfinished, **s.gto.failed}.items():
            lines.append(f"  GTO {command}: {why}")
        lines.append("")
    lines.extend(growth(results))
    lines.append("Each run is a new process; wall and CPU (user+sys, with the git processes it "
                 "ran) medians; gitreg/GTO is the ratio of wall times; target: issue 5's "
                 "budget in wall seconds.")
    return "\n".join(lines)


def growth(results: list[Sized]) -> list[str]:
    """How writes grow from the smallest size to the largest, next to git's own commit in
    the same clones; and the writes without the one index rewrite each makes."""
    small, large = (results[0], results[-1]) if len(results) > 1 else (None, None)
    if small is None or large is None:
        return []
    lines = [f"Growth from {small.size:,} to {large.size:,} versions, wall (cpu) medians:"]

    def ratio(command: str) -> str:
        a, b = small.gitreg.median(command), large.gitreg.median(command)
        return f"{b[0] / a[0]:.2f}x ({b[1] / a[1]:.2f}x)" if a and b else "-"

    for command in ("register", "promote", GIT_COMMIT, GIT_UPDATE_INDEX):
        lines.append(f"  {command:<16} {ratio(command)}")
    for command in ("register", "promote"):
        own = []
        for s in (small, large):
            write, index = s.gitreg.median(command), s.gitreg.median(GIT_UPDATE_INDEX)
            if write and index:
                own.append(write[0] - index[0])
        if len(own) == 2:
            lines.append(f"  {command} less git's index rewrite: {own[0]:.3f} -> {own[1]:.3f} s"
                         f" ({own[1] / own[0]:.2f}x)")
    lines.append("")
    return lines


def machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout
    here = Path(__file__).resolve().parent.parent
    head = subprocess.run(["git", "--no-optional-locks", "rev-parse", "--short", "HEAD"],
                          cwd=here, capture_output=True, text=True).stdout.strip()
    return [
        f"gitreg:  {head or 'unknown commit'} (+ uncommitted edits, if any)",
        f"cpus:    {len(os.sched_getaffinity(0))} x {cpu}",
        f"python:  {platform.python_version()}; git {git_version.split()[-1]}; "
        f"{platform.system()} {platform.release()}",
    ]


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# -- --fresh-clone: what CI pays -----------------------------------------------------------

FRESH_MODEL, FRESH_VERSION = "model-0042", "99.0.0"
FRESH_ROWS = ["git clone", "check", "check --base", "list (first)", "list (warm)", "ci event",
              "which", "get"]
PR_VERSION = "1.0.0"  # what the measured pull request puts in production


def fresh_origin(sized: Sized, gitreg: list[str], base: Path, mib: int) -> tuple[str, Path]:
    """Serve ``sized.root`` for partial clones, with FRESH_VERSION of FRESH_MODEL (real
    weights in the folder remote) in production; its production tag and weights file."""
    root = sized.root
    generate.git(root, "config", "uploadpack.allowFilter", "true")
    held = timed([*gitreg, "which", FRESH_MODEL, STAGE], root)[2].strip()
    weights = base / f"weights-{mib}MiB.bin"
    if not weights.exists():
        with weights.open("wb") as handle:
            for _ in range(mib):
                handle.write(os.urandom(1 << 20))
    if held != FRESH_VERSION:
        timed([*gitreg, "register", FRESH_MODEL, str(weights), "--version", FRESH_VERSION,
               "--quiet"], root)
        for stage in ("dev", "staging", STAGE):
            timed([*gitreg, "promote", FRESH_MODEL, FRESH_VERSION, stage], root, check=False)
        held = timed([*gitreg, "which", FRESH_MODEL, STAGE], root)[2].strip()
        if held != FRESH_VERSION:
            raise Failed(f"could not promote {FRESH_MODEL} {FRESH_VERSION} to {STAGE}")
    tags = generate.git(root, "tag", "--list", f"{FRESH_MODEL}/{STAGE}/*",
                        "--points-at", "HEAD").split() or generate.git(
        root, "tag", "--list", f"{FRESH_MODEL}/{STAGE}/*").split()
    tag = max(tags, key=lambda t: int(t.rsplit("/", 1)[1]))
    digest = hashlib.md5(weights.read_bytes()).hexdigest()
    stored = root.parent / "storage" / "files" / "md5" / digest[:2] / digest[2:]
    return tag, stored


def fresh_clone_runs(sized: Sized, gitreg: list[str], base: Path, filters: list[str],
                     mib: int, timeout: float) -> dict[str, dict[str, tuple[str, str]]]:
    """filter -> row -> (gitreg's figure, git's floor), as printed."""
    tag, stored = fresh_origin(sized, gitreg, base, mib)
    url = sized.root.as_uri()
    stages_file = f"models/{FRESH_MODEL}/stages.yaml"
    table: dict[str, dict[str, tuple[str, str]]] = {}
    for kind in filters:
        flags = ([] if kind == "none" else [f"--depth={kind.split('=')[1]}"]
                 if kind.startswith("depth=") else [f"--filter={kind}"])
        clone, bare = base / f"fresh-clone-{sized.size}", base / f"fresh-floor-{sized.size}"
        for folder in (clone, bare):
            shutil.rmtree(folder, ignore_errors=True)
        rows = _Printed(f"N={sized.size} {kind}")

        def fig(argv: list[str], cwd: Path) -> str:
            try:
                return f"{timed(argv, cwd, check=False, timeout=timeout)[0]:.2f}"
            except TimedOut:
                return f"> {timeout:.0f}"

        def ours(argv: list[str], cwd: Path) -> str:
            start = time.perf_counter()
            try:
                done = subprocess.run(argv, cwd=cwd, capture_output=True, check=False,
                                      timeout=timeout)
            except subprocess.TimeoutExpired:
                return f"> {timeout:.0f}"
            wall = time.perf_counter() - start
            return f"{wall:.2f}" if done.returncode == 0 else f"exit {done.returncode}"

        print(f"N={sized.size}: fresh clone ({kind}) ...", flush=True)
        clone_time = ours(["git", "clone", "--quiet", *flags, url, str(clone)], base)
        floor = fig(["git", "clone", "--quiet", "--no-checkout", *flags, url, str(bare)], base)
        rows["git clone"] = (clone_time, floor)
        if not clone.exists():
            table[kind] = rows
            continue
        rows["check"] = (ours([*gitreg, "check"], clone),
                         fig(["git", *whole_walk(("log", "--first-parent", "--raw",
                                                  "--no-abbrev", "--format=%H"))], clone))
        rows["check --base"] = pull_request_check(clone, gitreg, stages_file, ours, fig)
        list_floor = fig(["git", "ls-tree", "-r", "HEAD", "--", "models"], clone)
        shutil.rmtree(clone / ".git" / "gitreg-cache", ignore_errors=True)
        rows["list (first)"] = (ours([*gitreg, "list"], clone), list_floor)
        rows["list (warm)"] = (ours([*gitreg, "list"], clone),
                               fig(["git", "ls-tree", "-r", "HEAD", "--", "models"], clone))
        rows["ci event"] = (ours([*gitreg, "ci", "event", tag], clone),
                            fig(["git", "log", "-2", "--format=%H", tag], clone))
        rows["which"] = (ours([*gitreg, "which", FRESH_MODEL, STAGE], clone),
                         fig(["git", "show", f"HEAD:{stages_file}"], clone))
        out = base / f"fresh-get-{sized.size}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        rows["get"] = (ours([*gitreg, "get", FRESH_MODEL, "--stage", STAGE, "-o",
                             str(out) + "/"], clone),
                       fig(["cp", str(stored), str(out / "floor.bin")], clone))
        table[kind] = rows
        for folder in (clone, bare, out):
            shutil.rmtree(folder, ignore_errors=True)
    return table


def pull_request_check(clone: Path, gitreg: list[str], stages_file: str,
                       ours: Callable[[list[str], Path], str],
                       fig: Callable[[list[str], Path], str]) -> tuple[str, str]:
    """What the CI examples run on a pull request, ``check --base main``, on a branch of
    ``clone`` whose one commit moves FRESH_MODEL's production by hand (no policy in the
    generated registry); git's floor, the diff it asks first. Back on main after."""
    if not (clone / stages_file).is_file():
        return "-", "-"
    stages = clone / stages_file
    generate.git(clone, "checkout", "--quiet", "-b", "pr")
    stages.write_text(stages.read_text().replace(f"production: {FRESH_VERSION}",
                                                 f"production: {PR_VERSION}"))
    generate.git(clone, "commit", "--quiet", "-am", "Hand rollback")
    shutil.rmtree(clone / ".git" / "gitreg-cache", ignore_errors=True)
    result = ours([*gitreg, "check", "--base", "main"], clone), fig(
        ["git", "diff", "--name-status", "main"], clone)
    generate.git(clone, "checkout", "--quiet", "main")
    return result


class _Printed(dict[str, tuple[str, str]]):
    """A row of figures, each printed as it is measured (a long run shows its progress)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def __setitem__(self, key: str, value: tuple[str, str]) -> None:
        print(f"  {self.prefix} {key}: {value[0]} ({value[1]})", flush=True)
        super().__setitem__(key, value)


def fresh_clone_report(tables: dict[int, dict[str, dict[str, tuple[str, str]]]],
                       mib: int) -> str:
    sizes = sorted(tables)
    kinds = list(tables[sizes[0]])
    head = f"{'in a fresh clone':<16}"
    for size in sizes:
        for kind in kinds:
            head += f" | {f'{size:,} {kind}':>23}"
    lines = [f"wall seconds, gitreg (git's floor); get: {mib} MiB from the folder remote", head]
    for row in FRESH_ROWS:
        line = f"{row:<16}"
        for size in sizes:
            for kind in kinds:
                ours, floor = tables[size][kind].get(row, ("-", "-"))
                line += f" | {f'{ours} ({floor})':>23}"
        lines.append(line)
    return "\n".join(lines)


def fresh_clone_main(args: argparse.Namespace, sizes: list[int]) -> int:
    base = args.reuse.absolute() if args.reuse else Path(
        tempfile.mkdtemp(prefix="gitreg-fresh-", dir="/tmp"))
    base.mkdir(parents=True, exist_ok=True)
    isolate(base)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
    gitreg = gitreg_command()
    filters = [f.strip() for f in args.filters.split(",") if f.strip()]
    print("gitreg fresh-clone figures (issue 19)")
    print("\n".join(machine()))
    loads = [loadavg()]
    tables: dict[int, dict[str, dict[str, tuple[str, str]]]] = {}
    started = time.perf_counter()
    try:
        for size in sizes:
            sized = build(base, size, False)
            timed([*gitreg, "--help"], sized.root)  # bytecode compiled, as after an install
            tables[size] = fresh_clone_runs(sized, gitreg, base, filters, args.weights_mib,
                                            args.fresh_timeout)
            loads.append(loadavg())
    finally:
        if not args.keep and not args.reuse:
            shutil.rmtree(base, ignore_errors=True)
    print()
    print(fresh_clone_report(tables, args.weights_mib))
    print(f"load average (1, 5, 15 min) at start and after each size: {' / '.join(loads)}; "
          f"{time.perf_counter() - started:.0f} s in all")
    return 0


def main() -> int:
    try:
        return run()
    except Failed as exc:
        print(f"benchmark stopped: {exc}", file=sys.stderr)
        return 1


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="registry sizes in versions, 100 per model (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="gitreg runs per command")
    parser.add_argument("--gto", help="a gto executable (default: a venv of its own)")
    parser.add_argument("--no-gto", action="store_true", help="skip GTO")
    parser.add_argument("--gto-repeat", type=int, default=2,
                        help="GTO runs per command up to 10,000 versions")
    parser.add_argument("--gto-repeat-large", type=int, default=1,
                        help="GTO runs per command above 10,000 versions (minutes each)")
    parser.add_argument("--gto-timeout", type=float, default=1200,
                        help="stop a GTO command after this many seconds (default %(default)s)")
    parser.add_argument("--no-check", action="store_true",
                        help="skip `gitreg check` (it reads each model's history: minutes at "
                        "100,000 versions)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--reuse", type=Path, help="build registries here once, reuse them")
    parser.add_argument("--fresh-clone", action="store_true",
                        help="time what a CI job pays in a fresh clone (see above)")
    parser.add_argument("--filters", default="none,blob:none",
                        help="--fresh-clone: clone kinds, none (full), blob:none, tree:0, "
                        "depth=N (default %(default)s)")
    parser.add_argument("--fresh-timeout", type=float, default=900,
                        help="--fresh-clone: stop a gitreg command after this many seconds "
                        "(tree:0 clones fetch trees commit by commit)")
    parser.add_argument("--weights-mib", type=int, default=64,
                        help="--fresh-clone: size of the weights `get` fetches")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not sizes or sizes[0] < 100 or args.repeat < 1:
        parser.error("sizes must be at least 100, --repeat positive")
    if args.fresh_clone:
        return fresh_clone_main(args, sizes)

    base = args.reuse.absolute() if args.reuse else Path(
        tempfile.mkdtemp(prefix="gitreg-suite-", dir="/tmp"))
    base.mkdir(parents=True, exist_ok=True)
    isolate(base)
    # Bytecode cached, as after `pip install` (pip compiles it) or any first run: with it off
    # (PYTHONDONTWRITEBYTECODE, set in some sandboxes) every command would compile gitreg's
    # sources first. Kept in the temp dir, not in the source tree.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
    gto = None if args.no_gto else find_gto(args.gto)
    gitreg = gitreg_command()
    print("gitreg benchmark suite (issue 5)")
    print("\n".join(machine()))
    if gto is not None:
        version = subprocess.run([str(gto), "--version"], capture_output=True, text=True)
        print(f"gto:     {version.stdout.strip() or version.stderr.strip()} ({gto})")
    print(f"sizes: {', '.join(f'{n:,}' for n in sizes)} versions; temp dir {base}")
    loads = [loadavg()]
    results: list[Sized] = []
    gto_repeats: dict[int, int] = {}
    weights = base / "weights.bin"
    try:
        for size in sizes:
            sized = build(base, size, gto is not None)
            print(f"N={size}: first runs (no cache) ...", flush=True)
            first_runs(sized, gitreg, check=not args.no_check)
            for rep in range(args.repeat):
                print(f"N={size}: gitreg repetition {rep + 1} of {args.repeat} ...", flush=True)
                repetition(sized, rep, gitreg, weights)
            if gto is not None:
                count = args.gto_repeat if size <= 10_000 else args.gto_repeat_large
                gto_repeats[size] = count
                for rep in range(count):
                    print(f"N={size}: GTO repetition {rep + 1} of {count} ...", flush=True)
                    gto_repetition(sized, rep, gto, args.gto_timeout)
            api_lookups(sized, gitreg, weights)
            results.append(sized)
            loads.append(loadavg())
    finally:
        if not args.keep and not args.reuse:
            shutil.rmtree(base, ignore_errors=True)

    print()
    print(report(results, args.repeat, gto_repeats, args.gto_timeout))
    print()
    print("gitreg's first run of each read command with no cache (.git/gitreg-cache removed, "
          "as in a fresh clone), wall / cpu seconds:")
    for s in results:
        print(f"  {s.size:>7,}: " + "; ".join(f"{label} {w:.2f} / {c:.2f}"
                                              for label, (w, c) in s.first.items()))
        for note in s.notes:
            print(f"           {note}")
    print()
    print("Python API, warm process (ModelRegistry on the same registry):")
    for s in results:
        print(f"  {s.size:>7,} versions:")
        print("\n".join(f"    {line}" for line in s.api))
    print()
    print("load average (1, 5, 15 min) at start and after each size: " + " / ".join(loads))
    print()
    print("All gitreg runs, wall seconds in order:")
    for s in results:
        for command in (*COMMANDS, GIT_COMMIT, GIT_UPDATE_INDEX):
            walls = s.gitreg.wall.get(command, [])
            print(f"  {s.size:>7,} {command:<13} " + " ".join(f"{w:.3f}" for w in walls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
