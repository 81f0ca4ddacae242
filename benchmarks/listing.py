"""`gitreg list` in a fresh clone: the first run, warm runs, and a warm run after an edit, each
beside git's own floor (issue 19 point 2: first ≤ 10 s, warm ≤ 1 s at 100,000 versions).

    .venv/bin/python benchmarks/listing.py [--models 100] [--versions 100] [--source REGISTRY]
                                           [--clone CLONE] [--repeat 3]

It builds a registry with benchmarks/generate.py (or takes --source, a registry generate.py
built), clones it the way CI does (``git clone --no-local``: no gitreg cache), and times,
each in a new process, in that clone:

    list (first)          no cache: every version file read (summary.py's narrow reader)
    list (warm)           again, median of --repeat: one stat per file, the table kept whole
    list --all (first)    the other table: the rows kept per model, joined again
    list after an edit    one version file edited in place: that model read again
    list (restored)       the edit undone (git checkout): the same table as the first
    which                 the everyday read, for scale

and git's floors in the same clone: ``git ls-files -s`` (the index: every file's name and
blob id) and ``git diff-files`` (git's own stat of every tracked file: what a warm list asks
of the version files, for git). Wall and CPU seconds (user+sys of the process) are both
printed: CPU is what a shared machine's load disturbs least. The output of each list is
compared with the first one's (the same bytes, or the run stops).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from isolation import isolate
from suite import gitreg_command, loadavg, timed

MODEL = "model-0003"
SETTLED = 2.1  # seconds: catalog.SETTLED, and a little


def row(name: str, wall: float, cpu: float, floor: tuple[str, float, float] | None) -> str:
    text = f"{name:<26} {wall:7.2f} s {cpu:7.2f} s cpu"
    if floor is not None:
        label, floor_wall, floor_cpu = floor
        text += (f"   {label}: {floor_wall:.2f} s ({floor_cpu:.2f} s cpu), "
                 f"x{wall / max(floor_wall, 1e-3):.1f} wall, x{cpu / max(floor_cpu, 1e-3):.1f} cpu")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--source", help="a registry benchmarks/generate.py built")
    parser.add_argument("--clone", help="a clone of one made already (its gitreg cache is "
                        "removed; the file edited is restored)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gitreg-listing-"))
    try:
        isolate(work)
        if args.clone:
            source = None
        elif args.source:
            source = Path(args.source)
        else:
            script = Path(__file__).resolve().parent / "generate.py"
            subprocess.run([sys.executable, str(script), str(work / "built"), "--models",
                            str(args.models), "--versions", str(args.versions)],
                           check=True, stdout=subprocess.DEVNULL)
            source = work / "built" / "gitreg"
        clone = Path(args.clone) if args.clone else work / "clone"
        if source is not None:
            subprocess.run(["git", "clone", "--quiet", "--no-local", str(source), str(clone)],
                           check=True)
        # Files written less than catalog.SETTLED seconds ago are read again on every run
        # (a second write in the same clock tick could go unseen): let the checkout settle.
        time.sleep(SETTLED)
        gitreg = gitreg_command()
        count = sum(1 for _ in clone.glob("models/*/versions/*.yaml"))
        lines = [f"{count} versions, load at the start: {loadavg()}"]
        floors = {name: timed(["git", *argv], clone, check=False)[:2] for name, argv in (
            ("ls-files", ["ls-files", "-s"]), ("diff-files", ["diff-files", "--quiet"]))}
        index = ("git ls-files -s", *floors["ls-files"])
        stats = ("git diff-files", *floors["diff-files"])

        def listed(name: str, argv: list[str], floor: tuple[str, float, float],
                   want: str | None = None) -> str:
            wall, cpu, out = timed([*gitreg, *argv], clone)
            if want is not None and out != want:
                raise SystemExit(f"{name}: not the table the first run printed")
            lines.append(row(name, wall, cpu, floor))
            return out

        shutil.rmtree(clone / ".git" / "gitreg-cache", ignore_errors=True)
        first = listed("list (first)", ["list"], index)
        warm = [timed([*gitreg, "list"], clone) for _ in range(args.repeat)]
        if any(out != first for _, _, out in warm):
            raise SystemExit("list (warm): not the table the first run printed")
        lines.append(row("list (warm, median)", statistics.median(w for w, _, _ in warm),
                         statistics.median(c for _, c, _ in warm), stats))
        listed("list --all (first)", ["list", "--all"], stats)
        # An edit in place, as by hand: the model's signature moves, that model is read.
        path = next((clone / "models" / MODEL / "versions").glob("*.yaml"))
        path.write_text(path.read_text().replace("description: ", "description: edited ", 1))
        listed("list after an edit", ["list"], stats)
        subprocess.run(["git", "checkout", "--quiet", "--", str(path)], cwd=clone, check=True)
        time.sleep(SETTLED)
        listed("list (restored)", ["list"], stats, want=first)
        wall, cpu, _ = timed([*gitreg, "which", MODEL, "production"], clone)
        lines.append(row("which", wall, cpu, None))
        lines.append(row("git ls-files -s (floor)", *floors["ls-files"], None))
        lines.append(row("git diff-files (floor)", *floors["diff-files"], None))
        lines.append(f"load at the end: {loadavg()}")
        print("\n".join(lines))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
