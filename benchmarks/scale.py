"""How gitreg's per-command cost changes as a registry grows.

    .venv/bin/python benchmarks/scale.py [--sizes 100,1000,10000] [--repeat 5] [--keep]
                                         [--deep] [--loose] [--no-dvc]

For each size N it bulk-loads a registry of N versions (N/100 models x 100 versions),
writing exactly the files a registration writes (version file, ``.dvc`` pointer, per-version
``.gitignore``, ``stages.yaml``, the weights object in the DVC cache and on the local
remote, the git-ignored work-tree copy), starting from ``Registry.init``. By default all of
it is ONE commit with every registration and stage tag on it (lightweight tags, created in
bulk); ``--deep`` makes one commit per registration and stage change instead (one
``git fast-import``), as real use would. Then ``git gc`` (packed, as after a clone; not
with ``--loose``).

It then times, each in a new process (``python -m gitreg ...``), the median of --repeat
runs of register, promote, get (object removed from the cache first, so it comes from the
remote), which, show and history on one model that has 100 versions at every size. Every
repetition registers and promotes a new version, and the sizes take turns within each
repetition, so that a change in the machine's load affects every size alike.
Once per size it also times, in-process, the naive DVC paths gitreg avoids:
``dvc.repo.Repo(root).push(targets=[...])`` (by ``.dvc`` pointer and by output path) and
``Repo.add`` of one new file.

The growth column is (time at the largest size) / (time at the smallest size): flat ~ 1.0.
Everything runs under a temp dir with its own git/DVC config and HOME; removed at the end
unless --keep.
"""


from __future__ import annotations

import argparse
import hashlib
import io
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
from typing import Any

from isolation import isolate  # benchmarks/isolation.py, beside this script

PER_MODEL = 100
TARGET_MODEL = "model-0000"  # has PER_MODEL versions at every size
STAGE = "production"



def git(root: Path, *args: str, input: str | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=root, input=input, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args[:3])} failed: {proc.stderr.strip()}")
    return proc.stdout


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import dvc

        dvc_version = dvc.__version__
    except ImportError:
        dvc_version = "not installed"
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout
    here = Path(__file__).resolve().parent.parent
    # --no-optional-locks: only read, never refresh the index of the checkout under test.
    head = subprocess.run(["git", "--no-optional-locks", "rev-parse", "--short", "HEAD"],
                          cwd=here, capture_output=True, text=True).stdout.strip()
    edited = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--",
                             "gitreg"], cwd=here, capture_output=True, text=True).stdout
    edits = [line[3:] for line in edited.splitlines()]
    return [
        f"gitreg:  {head or 'unknown commit'}"
        + (f" + uncommitted edits in {', '.join(edits)}" if edits else ""),
        f"nproc:   {len(os.sched_getaffinity(0))} (of {os.cpu_count()} CPUs)",
        f"cpu:     {cpu}",
        f"python:  {platform.python_version()} ({sys.executable})",
        f"git:     {git_version.strip().removeprefix('git version ')}",
        f"dvc:     {dvc_version}",
        f"kernel:  {platform.system()} {platform.release()}",
    ]


# -- building a registry of N versions ----------------------------------------------------


def _put_object(store: Path, data: bytes, md5: str) -> Path:
    path = store / "files" / "md5" / md5[:2] / md5[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o444)  # as gitreg and DVC leave cache objects
    return path


@dataclass
class Change:
    """One registration (or stage change) of the bulk load: its files, message and tags."""

    message: str
    files: dict[str, str]  # path relative to the root -> content
    tags: list[str]


def build(root: Path, storage: Path, size: int, *, pack: bool, deep: bool) -> dict[str, float]:
    """A valid registry of ``size`` versions; returns the phase timings.

    Committed as ONE commit with all tags on it, or (``deep``) as one commit per
    registration and per stage change, each tagged, the way real use grows a registry.
    """
    from gitreg.core.events import Action, Event, commit_message, stage_tag, version_tag
    from gitreg.core.records import (
        Artifact,
        StageMap,
        VersionRecord,
        stages_to_dict,
        version_to_dict,
    )
    from gitreg.repo import yamlio
    from gitreg.service.registry import Registry
    from gitreg.weights import dvcconfig
    from gitreg.weights.dvc import pointer_text

    phases: dict[str, float] = {}
    start = time.perf_counter()
    registry = Registry.init(root, remote=str(storage))
    phases["init"] = time.perf_counter() - start

    start = time.perf_counter()
    cfg = registry.config
    cache = dvcconfig.cache_dir(root)
    models = max(1, -(-size // PER_MODEL))
    who = "Bench User <bench@example.com>"
    changes: list[Change] = []
    made = 0

    def write(rel: str, text: str, change: Change) -> None:
        (root / rel).write_text(text)
        change.files[rel] = text

    for m in range(models):
        name = f"model-{m:04d}"
        count = min(PER_MODEL, size - made)
        made += count
        model_dir = f"{cfg.models_dir}/{name}"
        (root / model_dir / "versions").mkdir(parents=True)
        versions = []
        for i in range(count):
            version = f"1.{i // 10}.{i % 10}"
            versions.append(version)
            change = Change(commit_message(Event(name, Action.REGISTER, version)), {},
                            [version_tag(name, version)])
            data = f"benchmark weights {name} {version}\n".encode() * 24  # ~1 KB
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            obj = _put_object(cache, data, md5)
            _put_object(storage, data, md5)
            dest = f"{model_dir}/artifacts/{version}"
            (root / dest).mkdir(parents=True)
            os.link(obj, root / dest / "model.bin")  # the git-ignored work-tree copy
            write(f"{dest}/model.bin.dvc", pointer_text(md5, len(data), "model.bin"), change)
            write(f"{dest}/.gitignore", "/model.bin\n", change)
            record = VersionRecord(
                name=name, version=version,
                registered_at=f"2025-01-{1 + i % 28:02d}T12:00:00+00:00",
                registered_by=who,
                artifact=Artifact(f"{dest}/model.bin", "file", md5, len(data)),
                model_type="RandomForest",
                metrics={"auc": round(0.7 + (m * 7 + i) % 100 / 400, 4), "f1": 0.5},
                hyperparameters={"n_estimators": 100 + i, "max_depth": 8},
                features=("age", "tenure", "spend"),
            )
            write(f"{model_dir}/versions/{version}.yaml",
                  yamlio.dumps(version_to_dict(record)), change)
            if i == 0:
                write(f"{model_dir}/stages.yaml", yamlio.dumps(
                    stages_to_dict(StageMap(name), list(cfg.stages), cfg.exclusive)), change)
            changes.append(change)
        # Some stage state, so that which/promote/history have something to read: the
        # last version in production, the one before in staging; one change each.
        held: dict[str, tuple[str, ...]] = {}
        picks = [(STAGE, versions[-1])] + ([("staging", versions[-2])] if count > 1 else [])
        for stage, version in picks:
            held[stage] = (version,)
            change = Change(commit_message(Event(name, Action.PROMOTE, version, stage)), {},
                            [stage_tag(name, stage, 1)])
            write(f"{model_dir}/stages.yaml", yamlio.dumps(stages_to_dict(
                StageMap(name, dict(held)), list(cfg.stages), cfg.exclusive)), change)
            changes.append(change)
    phases["write files"] = time.perf_counter() - start

    if deep:
        _commit_each(root, changes, phases)
    else:
        start = time.perf_counter()
        git(root, "add", "--", cfg.models_dir)
        phases["git add"] = time.perf_counter() - start
        start = time.perf_counter()
        git(root, "commit", "--quiet", "--no-verify", "-m",
            f"Bulk-load {size} benchmark versions of {models} models")
        commit = git(root, "rev-parse", "HEAD").strip()
        phases["git commit"] = time.perf_counter() - start
        start = time.perf_counter()
        lines = "".join(f"create refs/tags/{t} {commit}\n" for c in changes for t in c.tags)
        git(root, "update-ref", "--stdin", input=lines)
        phases["tags"] = time.perf_counter() - start
    if pack:
        # Objects in a pack and tags in packed-refs, as after a clone or a git gc. (The
        # timed commands run with gc.auto=0, so that no auto gc lands in a timing.)
        start = time.perf_counter()
        git(root, "gc", "--quiet")
        phases["git gc"] = time.perf_counter() - start
    return phases


def _commit_each(root: Path, changes: list[Change], phases: dict[str, float]) -> None:
    """One commit per change on top of HEAD, in one ``git fast-import``; then tag them."""
    start = time.perf_counter()
    parent = git(root, "rev-parse", "HEAD").strip()
    branch = git(root, "symbolic-ref", "HEAD").strip()
    when = 1735732800  # 2025-01-01, one minute per change
    stream = io.BytesIO()
    for number, change in enumerate(changes, 1):
        message = change.message.encode()
        stream.write(f"commit {branch}\nmark :{number}\n".encode())
        stream.write(f"committer Bench User <bench@example.com> {when + 60 * number} +0000\n"
                     .encode())
        stream.write(b"data %d\n%s\n" % (len(message), message))
        if number == 1:
            stream.write(f"from {parent}\n".encode())
        for rel, text in change.files.items():
            data = text.encode()
            stream.write(b"M 100644 inline %s\ndata %d\n%s\n" % (rel.encode(), len(data), data))
    stream.write(b"done\n")
    marks = root / ".git" / "bench-marks"
    proc = subprocess.run(["git", "fast-import", "--quiet", "--done",
                           f"--export-marks={marks}"], cwd=root, input=stream.getvalue(),
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"git fast-import failed: {proc.stderr.decode()}")
    shas = dict(line.split() for line in marks.read_text().splitlines())
    marks.unlink()
    git(root, "reset", "--quiet")  # the index to the new HEAD (the work tree already is)
    phases["git fast-import"] = time.perf_counter() - start
    start = time.perf_counter()
    lines = "".join(f"create refs/tags/{tag} {shas[f':{number}']}\n"
                    for number, change in enumerate(changes, 1) for tag in change.tags)
    git(root, "update-ref", "--stdin", input=lines)
    phases["tags"] = time.perf_counter() - start


# -- timing -------------------------------------------------------------------------------


@dataclass
class Timings:
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def add(self, command: str, seconds: tuple[float, float]) -> None:
        self.wall.setdefault(command, []).append(seconds[0])
        self.cpu.setdefault(command, []).append(seconds[1])


def gitreg(root: Path, *args: str) -> tuple[tuple[float, float], str]:
    """Run ``python -m gitreg ARGS`` in a new process: (wall, CPU) seconds, and its stdout.

    CPU is user+system time of the process and of the git processes it ran: less
    disturbed than wall time by other load on the machine.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "gitreg", *args], cwd=root,
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"gitreg {' '.join(args)} failed ({proc.returncode}) in {root}:\n"
                         f"{proc.stdout}{proc.stderr}")
    return (elapsed, cpu), proc.stdout


def validate(root: Path, size: int) -> dict[str, float]:
    """The bulk-loaded registry reads back as gitreg sees it (timed, for information)."""
    import json

    seen: dict[str, float] = {}
    (seconds, _), out = gitreg(root, "list", "--json")
    rows = json.loads(out)
    if len(rows) != size:
        raise SystemExit(f"gitreg list shows {len(rows)} versions, expected {size}")
    seen["list (all)"] = seconds
    (seconds, _), out = gitreg(root, "show", f"{TARGET_MODEL}@1.0.0", "--json")
    if json.loads(out)["artifact"]["path"] != f"models/{TARGET_MODEL}/artifacts/1.0.0/model.bin":
        raise SystemExit(f"gitreg show {TARGET_MODEL}@1.0.0: unexpected output:\n{out}")
    seen["show NAME@VERSION"] = seconds
    _, out = gitreg(root, "history", TARGET_MODEL, "--json")
    events = json.loads(out)
    registered = [e for e in events if e["action"] == "register"]
    if len(registered) != min(size, PER_MODEL) or any(not e.get("tag") for e in events):
        raise SystemExit(f"gitreg history {TARGET_MODEL}: events or tags missing")
    return seen


def shape(root: Path) -> dict[str, float]:
    """What git has to handle: commits, tags, tracked files, index size."""
    return {
        "commits (first parent)": float(git(root, "rev-list", "--count", "--first-parent",
                                            "HEAD")),
        "tags": float(len(git(root, "for-each-ref", "--format=x", "refs/tags").splitlines())),
        "tracked files (index entries)": float(len(git(root, "ls-files", "-z").split("\0")) - 1),
        "index size (KB)": (root / ".git" / "index").stat().st_size / 1024,
    }


COMMANDS = ("startup (--help)", "register", "promote", "get --version", "which",
            "show NAME", "history NAME")


def measure_once(root: Path, work: Path, rep: int, timings: Timings) -> None:
    """One run of every timed command; ``rep`` numbers the new version it registers."""
    from gitreg.weights import dvcconfig

    cache = dvcconfig.cache_dir(root)
    version = f"2.0.{rep}"
    weights = work / f"weights-{rep}.bin"
    weights.write_bytes(f"timed weights {root} {rep}\n".encode() * 128)  # ~4-5 KB
    md5 = hashlib.md5(weights.read_bytes(), usedforsecurity=False).hexdigest()

    seconds, _ = gitreg(root, "--help")
    timings.add("startup (--help)", seconds)

    seconds, _ = gitreg(root, "register", TARGET_MODEL, str(weights), "--version", version,
                        "--metric", "auc=0.9")
    tag = f"{TARGET_MODEL}@v{version}"
    if git(root, "tag", "-l", tag).strip() != tag:
        raise SystemExit(f"register {version}: no tag")
    timings.add("register", seconds)

    seconds, out = gitreg(root, "promote", TARGET_MODEL, version, STAGE)
    if f"{TARGET_MODEL}/{STAGE}/{rep + 2}" not in out:
        raise SystemExit(f"promote {version}: unexpected output {out!r}")
    timings.add("promote", seconds)

    obj = cache / "files" / "md5" / md5[:2] / md5[2:]
    obj.unlink()  # so that get must copy it from the remote
    target = work / f"out-{rep}" / "model.bin"
    seconds, _ = gitreg(root, "get", TARGET_MODEL, "--version", version, "-o", str(target))
    if hashlib.md5(target.read_bytes(), usedforsecurity=False).hexdigest() != md5 \
            or not obj.exists():
        raise SystemExit(f"get {version}: wrong bytes, or the cache was not refilled")
    timings.add("get --version", seconds)

    seconds, out = gitreg(root, "which", TARGET_MODEL, STAGE)
    if out.strip() != version:
        raise SystemExit(f"which: says {out.strip()!r}, expected {version}")
    timings.add("which", seconds)

    seconds, out = gitreg(root, "show", TARGET_MODEL)
    if version not in out:
        raise SystemExit(f"show {TARGET_MODEL}: {version} missing")
    timings.add("show NAME", seconds)

    seconds, out = gitreg(root, "history", TARGET_MODEL)
    if f"{TARGET_MODEL}/{STAGE}/{rep + 2}" not in out:
        raise SystemExit(f"history {TARGET_MODEL}: latest promotion missing")
    timings.add("history NAME", seconds)


def naive_dvc(root: Path, storage: Path, repeat: int) -> dict[str, float]:
    """DVC's own ``Repo`` doing what gitreg does itself; one in-process run of each.

    - ``Repo.push(targets=[<abs .dvc pointer>])``: what the brief calls the naive push;
    - ``Repo.push(targets=[<abs output path>])``: the same push named by the data file;
    - ``Repo.add([<abs new file>])``: what ``register`` would call to write the pointer.
    Each push is of an object the remote lacks (removed first), so it really transfers.
    """
    from dvc.repo import Repo

    from gitreg.repo import yamlio
    from gitreg.weights.dvcconfig import quiet_dvc

    quiet_dvc()

    def artifact(version: str) -> dict[str, Any]:
        rel = f"models/{TARGET_MODEL}/versions/{version}.yaml"
        return yamlio.load_file(root / rel, rel)["artifact"]  # type: ignore[no-any-return]

    # Untimed warm-up: DVC imports much lazily on its first push in a process.
    with Repo(str(root)) as repo:
        repo.push(targets=[str(root / (artifact("2.0.0")["path"] + ".dvc"))])
    result: dict[str, float] = {}
    for label, version, suffix in (("naive dvc Repo.push(.dvc)", f"2.0.{repeat - 1}", ".dvc"),
                                   ("naive dvc Repo.push(output)", "1.0.0", "")):
        art = artifact(version)
        md5 = art["md5"]
        on_remote = storage / "files" / "md5" / md5[:2] / md5[2:]
        on_remote.unlink()  # so that the push really transfers it
        target = str(root / (art["path"] + suffix))
        start = time.perf_counter()
        with Repo(str(root)) as repo:
            pushed = repo.push(targets=[target])
        result[label] = time.perf_counter() - start
        if pushed != 1 or not on_remote.exists():
            raise SystemExit(f"dvc push of {target}: pushed {pushed}, expected 1")

    folder = root / "models" / TARGET_MODEL / "artifacts" / "9.9.9"  # never committed
    folder.mkdir(parents=True)
    new = folder / "model.bin"
    new.write_bytes(f"dvc add weights {root}\n".encode() * 128)
    start = time.perf_counter()
    with Repo(str(root)) as repo:
        repo.add([str(new)])
    result["naive dvc Repo.add(file)"] = time.perf_counter() - start
    if not (folder / "model.bin.dvc").is_file():
        raise SystemExit("dvc add wrote no .dvc file")
    return result


# -- report -------------------------------------------------------------------------------


def fmt(seconds: float) -> str:
    return f"{seconds:.3f}"


def report(sizes: list[int], rows: dict[str, dict[int, float]], note: str,
           number: Callable[[float], str] = fmt, delta: bool = False) -> str:
    """A table by size; the last column is last/first (or, with ``delta``, last - first)."""
    last_column = (f"change {sizes[-1]}-{sizes[0]}" if delta
                   else f"growth {sizes[-1]}/{sizes[0]}")
    headers = ["command"] + [f"N={n}" for n in sizes] + [last_column]
    body = []
    for command, by_size in rows.items():
        cells = [number(by_size[n]) if n in by_size else "-" for n in sizes]
        first, last = by_size.get(sizes[0]), by_size.get(sizes[-1])
        if first is None or last is None:
            growth = "-"
        elif delta:
            growth = f"{last - first:+.3f}"
        else:
            growth = f"{last / first:.2f}x" if first > 0 else "-"
        body.append([command, *cells, growth])
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                       for i, (h, w) in enumerate(zip(headers, widths, strict=True)))]
    lines.append("  ".join("-" * w for w in widths))
    for row in body:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return f"{note}\n" + "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000",
                        help="comma-separated registry sizes, in versions (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (median)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--loose", action="store_true",
                        help="leave the bulk load's objects and tags loose (no git gc)")
    parser.add_argument("--deep", action="store_true",
                        help="one commit per registration and stage change (git fast-import) "
                        "instead of one bulk commit, so that history depth grows with N")
    parser.add_argument("--no-dvc", action="store_true",
                        help="skip the naive DVC Repo.push/Repo.add timings")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not sizes or sizes[0] < 1 or args.repeat < 1:
        parser.error("sizes and --repeat must be positive")

    base = Path(tempfile.mkdtemp(prefix="gitreg-scale-", dir="/tmp"))
    isolate(base)
    print("gitreg scale benchmark")
    print("\n".join(machine()))
    print(f"sizes: {', '.join(map(str, sizes))} versions ({PER_MODEL} per model); "
          f"repeat: {args.repeat}; "
          f"{'one commit per registration/stage change' if args.deep else 'one bulk commit'}, "
          f"{'loose' if args.loose else 'packed (git gc)'}; "
          f"temp dir: {base}")
    print(flush=True)

    if not args.no_dvc:
        start = time.perf_counter()
        import dvc.repo  # noqa: F401 - imported once, outside the timed push

        print(f"(imported dvc.repo in {time.perf_counter() - start:.2f} s, not counted below)")

    rows: dict[str, dict[int, float]] = {c: {} for c in COMMANDS}
    net_rows: dict[str, dict[int, float]] = {c: {} for c in COMMANDS[1:]}
    cpu_rows: dict[str, dict[int, float]] = {c: {} for c in COMMANDS}
    shape_rows: dict[str, dict[int, float]] = {}
    build_rows: dict[str, dict[int, float]] = {}
    detail: list[str] = []
    loads = [_loadavg()]
    try:
        # 1. Build (and check) every registry.
        for size in sizes:
            root, storage = base / f"registry-{size}", base / f"storage-{size}"
            (base / f"work-{size}").mkdir()
            print(f"N={size}: building ...", flush=True)
            phases = build(root, storage, size, pack=not args.loose, deep=args.deep)
            for phase, seconds in phases.items():
                build_rows.setdefault(f"build: {phase}", {})[size] = seconds
            build_rows.setdefault("build: total", {})[size] = sum(phases.values())
            print(f"N={size}: built in {sum(phases.values()):.1f} s ("
                  + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()) + ")", flush=True)
            for command, seconds in validate(root, size).items():
                build_rows.setdefault(f"check: {command}", {})[size] = seconds

        # 2. Time the commands, the sizes taking turns in every repetition, so that a
        #    change in the machine's load hits all sizes alike.
        timings = {size: Timings() for size in sizes}
        for rep in range(args.repeat):
            print(f"timing: repetition {rep + 1} of {args.repeat} ...", flush=True)
            for size in sizes:
                measure_once(base / f"registry-{size}", base / f"work-{size}", rep,
                             timings[size])
        loads.append(_loadavg())
        for size in sizes:
            t = timings[size]
            for command in COMMANDS:
                rows[command][size] = statistics.median(t.wall[command])
                cpu_rows[command][size] = statistics.median(t.cpu[command])
                detail.append(f"N={size:<6} {command:<17} wall "
                              + " ".join(fmt(x) for x in t.wall[command]) + "   cpu "
                              + " ".join(fmt(x) for x in t.cpu[command]))
            for command in COMMANDS[1:]:
                net_rows[command][size] = statistics.median(
                    a - b for a, b in zip(t.wall[command], t.wall[COMMANDS[0]], strict=True))
            for key, value in shape(base / f"registry-{size}").items():
                shape_rows.setdefault(key, {})[size] = value

        # 3. The naive DVC paths, once per size.
        if not args.no_dvc:
            for size in sizes:
                root, storage = base / f"registry-{size}", base / f"storage-{size}"
                for label, seconds in naive_dvc(root, storage, args.repeat).items():
                    rows.setdefault(label, {})[size] = seconds
                    print(f"N={size}: {label}: {seconds:.2f} s", flush=True)
        loads.append(_loadavg())
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    print()
    print(report(sizes, rows,
                 f"Median wall seconds per command, each a new process (python -m gitreg), "
                 f"{args.repeat} runs; model {TARGET_MODEL} has {PER_MODEL} versions at every "
                 "size.\nnaive dvc ...: one in-process run each (dvc imported beforehand, so no "
                 "process start-up in them)."))
    print()
    print(report(sizes, net_rows, "Median wall seconds above start-up (each run minus the "
                 "--help run just before it, same size and repetition; what the command "
                 "itself costs):", delta=True))
    print()
    print(report(sizes, cpu_rows, "Median CPU seconds (user+sys of gitreg and the git processes "
                 "it ran) of the same runs:"))
    print()
    print(report(sizes, shape_rows, "The registry when measured (after the timed runs):",
                 number=lambda v: f"{v:,.0f}"))
    print()
    print(report(sizes, build_rows, "Building each registry (seconds, once). check: reads "
                 "that validate it, one run each (list reads every version, so it must grow):"))
    print()
    print("load average (1, 5, 15 min) at start / after timing / at end: "
          + " / ".join(loads))
    print()
    print("All runs (seconds, in order):")
    print("\n".join(detail))
    if args.keep:
        print(f"\nkept: {base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
