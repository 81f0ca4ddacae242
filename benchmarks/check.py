"""What a CI job pays in a fresh clone: `gitreg check`, `check --base`, the first and a warm
`gitreg list`, each beside git's own floor (issue 19).

    .venv/bin/python benchmarks/check.py [--models 100] [--versions 100] [--reuse DIR]
                                         [--source REGISTRY] [--repeat 3]

It builds a registry with benchmarks/generate.py (or takes --source, a registry generate.py
built, or --reuse DIR's), clones it the way CI does (``git clone --no-local``: a full copy,
no gitreg cache), and times, each in a new process, in that clone:

    check             a full `gitreg check` (no cache: what a push to main runs)
    check --base      on a branch with one hand-edited stages.yaml, against main (a pull
                      request's check; no cache)
    check --base, gated   the same with ``production: from: staging`` on the base: a hand
                      rollback to a version staging held before (passes: the stage's tag
                      proves it), and production set to a version staging never held:
                      one registered lately (fails: its registration's tag bounds what
                      is read) and one registered long ago (fails: that takes the
                      model's whole history since, in a round-robin registry nearly all)
    ci event, rollback    the event of a rollback's tag (its claim proved from the tags)
    list (first)      `gitreg list` with no cache
    list (warm)       `gitreg list` again (median of --repeat)

and git's floors in the same clone: ``git ls-tree -r HEAD`` (every file's name and blob),
``git cat-file --batch-all-objects --batch`` (every object's bytes), ``git log --first-parent
--raw`` with the delta cache history.py gives it (every commit's changed files: a full
check's floor, which it reads in a thread while it parses the files), ``git diff``
against the merge base (what --base asks first) and ``git log --first-parent --
models/NAME`` (one model's history, what --base reads per model). Wall and CPU seconds
(user+sys, with the git processes run) are both printed: CPU is what a shared machine's
load disturbs least.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gitreg.repo.history import whole_walk

sys.path.insert(0, str(Path(__file__).resolve().parent))
from isolation import isolate
from suite import gitreg_command, loadavg, timed

MODEL = "model-0003"


def git_floor(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """``git ARGS``, its output thrown away (binary for cat-file): wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(["git", *args], cwd=cwd, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), ""


def build(base: Path, models: int, versions: int) -> Path:
    script = Path(__file__).resolve().parent / "generate.py"
    subprocess.run([sys.executable, str(script), str(base), "--models", str(models),
                    "--versions", str(versions)], check=True, stdout=subprocess.DEVNULL)
    return base / "gitreg"


def row(name: str, wall: float, cpu: float, floor: tuple[str, float, float] | None) -> str:
    text = f"{name:<50} {wall:8.2f} s {cpu:8.2f} s cpu"
    if floor is not None:
        label, floor_wall, floor_cpu = floor
        text += (f"   {label}: {floor_wall:.2f} s ({floor_cpu:.2f} s cpu), "
                 f"x{wall / max(floor_wall, 1e-3):.1f} wall, x{cpu / max(floor_cpu, 1e-3):.1f} cpu")
    return text


def gated(clone: Path, gitreg: list[str], floor: tuple[str, float, float]) -> list[str]:
    """The gated rows (see the docstring), on branches of ``clone``; ends on branch pr."""
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=clone, check=True, stdout=subprocess.DEVNULL)

    git("checkout", "--quiet", "-b", "gated", "main")
    config = clone / "registry.yaml"
    config.write_text(config.read_text().replace(
        "policies: {}\n", "policies:\n  production:\n    from: staging\n"))
    git("commit", "--quiet", "-am", "Gate production")
    lines = []
    for label, version in (("passes", "1.8.9"), ("fails, registered lately", "1.9.8"),
                           ("fails, registered long ago", "1.0.1")):
        git("checkout", "--quiet", "-b", f"gated-{version}", "gated")
        stages = clone / "models" / MODEL / "stages.yaml"
        stages.write_text(stages.read_text().replace("production: 1.9.9",
                                                     f"production: {version}"))
        git("commit", "--quiet", "-am", "Hand rollback")
        shutil.rmtree(clone / ".git" / "gitreg-cache", ignore_errors=True)
        wall, cpu, _ = timed([*gitreg, "check", "--base", "gated"], clone, check=False)
        lines.append(row(f"check --base, gated, {label}", wall, cpu, floor))
    # A rollback on main, which tags it (ci event reads only a change the main branch holds).
    git("checkout", "--quiet", "main")
    timed([*gitreg, "rollback", MODEL, "production"], clone)
    tags = subprocess.run(["git", "tag", "--list", f"{MODEL}/production/*"], cwd=clone,
                          check=True, capture_output=True, text=True).stdout.split()
    tag = f"{MODEL}/production/{max(int(t.rsplit('/', 1)[1]) for t in tags)}"
    shutil.rmtree(clone / ".git" / "gitreg-cache", ignore_errors=True)
    wall, cpu, _ = timed([*gitreg, "ci", "event", tag], clone)
    lines.append(row("ci event, rollback", wall, cpu, None))
    git("checkout", "--quiet", "pr")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--source", type=Path, help="a registry generate.py built")
    parser.add_argument("--reuse", type=Path, help="keep the built registry here")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gitreg-bench-check-"))
    try:
        isolate(work)
        if args.source:
            source = args.source
        elif args.reuse and (args.reuse / "gitreg").is_dir():
            isolate(args.reuse)
            source = args.reuse / "gitreg"
        else:
            source = build(args.reuse or work / "built", args.models, args.versions)
        clone = work / "clone"
        gitreg = gitreg_command()
        wall, cpu, _ = timed(["git", "clone", "--quiet", "--no-local", str(source), str(clone)],
                             work)
        lines = [f"registry: {source} (fresh clone; load {loadavg()})",
                 row("git clone --no-local", wall, cpu, None)]
        floors = {
            "ls-tree": git_floor(["ls-tree", "-r", "HEAD"], clone),
            "cat-file": git_floor(["cat-file", "--batch-all-objects", "--batch"], clone),
            "log": git_floor(["log", "--first-parent", "--format=%H", "HEAD", "--",
                              f"models/{MODEL}"], clone),
            # What a full check cannot do without: every first-parent commit's changed
            # files with their blob ids (history.py reads this, in a thread, while it
            # parses the work tree's files).
            "log --raw": git_floor(list(whole_walk((
                "log", "--first-parent", "--no-renames", "--raw", "--no-abbrev", "--format=%H",
                "HEAD"))), clone),
        }

        def floor(name: str, label: str) -> tuple[str, float, float]:
            return label, floors[name][0], floors[name][1]

        wall, cpu, _ = timed([*gitreg, "check"], clone)
        lines.append(row("check", wall, cpu, floor("log --raw", "git log --raw")))
        lines.append(row("  cat-file --batch-all", *floors["cat-file"][:2], None))
        # A pull request: one hand edit of a stages.yaml, committed on a branch.
        subprocess.run(["git", "checkout", "--quiet", "-b", "pr"], cwd=clone, check=True)
        stages = clone / "models" / MODEL / "stages.yaml"
        stages.write_text(stages.read_text().replace("production: 1.9.9", "production: 1.9.8"))
        subprocess.run(["git", "commit", "--quiet", "-am", "Hand edit"], cwd=clone, check=True)
        shutil.rmtree(clone / ".git" / "gitreg-cache", ignore_errors=True)
        diff = git_floor(["diff", "--name-status", "main", "--"], clone)
        wall, cpu, _ = timed([*gitreg, "check", "--base", "main"], clone)
        lines.append(row("check --base main", wall, cpu, floor("log", "git log -- one model")))
        lines.append(row("  git diff main (floor)", diff[0], diff[1], None))
        lines += gated(clone, gitreg, floor("log", "git log -- one model"))
        subprocess.run(["git", "checkout", "--quiet", "main"], cwd=clone, check=True)
        shutil.rmtree(clone / ".git" / "gitreg-cache", ignore_errors=True)
        wall, cpu, _ = timed([*gitreg, "list"], clone)
        lines.append(row("list (first)", wall, cpu, floor("ls-tree", "ls-tree -r")))
        warm = [timed([*gitreg, "list"], clone)[:2] for _ in range(args.repeat)]
        lines.append(row("list (warm, median)", statistics.median(w for w, _ in warm),
                         statistics.median(c for _, c in warm), floor("ls-tree", "ls-tree -r")))
        lines.append(f"load at the end: {loadavg()}")
        print("\n".join(lines))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
