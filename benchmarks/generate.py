"""Build a realistic registry of M models x V versions in seconds, for benchmarks.

    .venv/bin/python benchmarks/generate.py DEST [--models 100] [--versions 100]
                                            [--format gitreg|gto|both] [--check]

Every model gets V registrations and a stage history interleaved with every other
model's (as a team's registry grows): each 5th version goes to ``dev``, each 10th to
``staging`` and each 20th on to ``production``, and each 40th production promotion is
followed by a rollback. At 100 versions that is 100 registrations and 37 stage changes
per model.

``--format gitreg`` (DEST/gitreg) writes exactly what gitreg writes: one commit per
registration (version file, ``.dvc`` pointer, ``.gitignore``, and the first time an empty
``stages.yaml``) and one per stage change (``stages.yaml``), with gitreg's commit messages
and ``Gitreg-*`` trailers, each tagged ``NAME@vX.Y.Z`` or ``NAME/STAGE/N`` (annotated),
all in ONE ``git fast-import`` stream on top of a ``Registry.init`` commit, then checked
out. The weights themselves are not stored (``gitreg check`` reads the pointers only); the
registry's DVC remote is DEST/storage, so new registrations work.

``--format gto`` (DEST/gto) is the same shape in GTO's format: ``artifacts.yaml`` listing
the models, one commit per version (its ``.dvc`` pointer) tagged ``NAME@vX.Y.Z``, and a
GTO assignment tag ``NAME#STAGE#N`` (N counting per model, as ``gto assign`` does) on the
version's commit for every stage change; a rollback is the older version assigned again.

Run it with an isolated git configuration (benchmarks/suite.py does): commits and tags
carry a fixed identity and clock, so two runs build the same objects.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from isolation import isolate  # benchmarks/isolation.py, beside this script

IDENTITY = "Bench User <bench@example.com>"
START = 1704110400  # 2024-01-01T12:00:00Z; every event one minute after the one before
STAGES = ("dev", "staging", "production")


@dataclass(frozen=True)
class Step:
    """One event of the plan: a registration (``stage`` None) or a stage change."""

    model: str
    version: str
    stage: str | None = None
    rollback: bool = False


def model_name(m: int) -> str:
    return f"model-{m:04d}"


def version_name(i: int) -> str:
    return f"1.{i // 10}.{i % 10}"


def plan(models: int, versions: int) -> Iterator[Step]:
    """The events, oldest first: round after round, every model registers its i-th version."""
    production: dict[str, list[str]] = {}  # model -> the stack a rollback pops
    promotions: dict[str, int] = {}
    for i in range(versions):
        version = version_name(i)
        for m in range(models):
            name = model_name(m)
            yield Step(name, version)
            if i % 5 == 4:
                yield Step(name, version, "dev")
            if i % 10 == 9:
                yield Step(name, version, "staging")
            if i % 20 == 19:
                stack = production.setdefault(name, [])
                stack.append(version)
                yield Step(name, version, "production")
                promotions[name] = promotions.get(name, 0) + 1
                if promotions[name] % 2 == 0 and len(stack) > 1:
                    stack.pop()
                    yield Step(name, stack[-1], "production", rollback=True)


def weights_md5(name: str, version: str) -> tuple[str, int]:
    data = f"benchmark weights {name} {version}\n".encode() * 24
    return hashlib.md5(data, usedforsecurity=False).hexdigest(), len(data)


# -- git plumbing -----------------------------------------------------------------------


def git(root: Path, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=root, input=input, capture_output=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args[:3])} failed: {proc.stderr.decode().strip()}")
    return proc.stdout.decode()


class Stream:
    """A ``git fast-import`` stream: commits on one branch, annotated tags on them."""

    def __init__(self, branch: str, parent: str | None) -> None:
        self.out = io.BytesIO()
        self.branch, self.parent = branch, parent
        self.mark = 0
        self.when = START

    def _data(self, data: bytes) -> None:
        self.out.write(b"data %d\n%s\n" % (len(data), data))

    def commit(self, message: str, files: dict[str, str]) -> int:
        self.mark += 1
        self.when += 60
        self.out.write(f"commit {self.branch}\nmark :{self.mark}\n".encode())
        self.out.write(f"author {IDENTITY} {self.when} +0000\n".encode())
        self.out.write(f"committer {IDENTITY} {self.when} +0000\n".encode())
        self._data(message.encode())
        if self.mark == 1 and self.parent:
            self.out.write(f"from {self.parent}\n".encode())
        for path, text in files.items():
            self.out.write(f"M 100644 inline {path}\n".encode())
            self._data(text.encode())
        return self.mark

    def tag(self, name: str, mark: int, message: str, *, later: bool = False) -> None:
        if later:  # a GTO assignment: no commit of its own, but its own moment
            self.when += 60
        self.out.write(f"tag {name}\nfrom :{mark}\n".encode())
        self.out.write(f"tagger {IDENTITY} {self.when} +0000\n".encode())
        self._data(message.encode())

    def run(self, root: Path) -> None:
        self.out.write(b"done\n")
        proc = subprocess.run(["git", "fast-import", "--quiet", "--done"], cwd=root,
                              input=self.out.getvalue(), capture_output=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"git fast-import failed: {proc.stderr.decode()}")


def _finish(root: Path, phases: dict[str, float]) -> None:
    """Tags into packed-refs (as after a clone), then the work tree and index to HEAD."""
    start = time.perf_counter()
    git(root, "pack-refs", "--all")
    phases["pack-refs"] = time.perf_counter() - start
    start = time.perf_counter()
    git(root, "reset", "--hard", "--quiet")
    phases["checkout"] = time.perf_counter() - start


# -- gitreg's format --------------------------------------------------------------------


def build_gitreg(root: Path, storage: Path, models: int, versions: int) -> dict[str, float]:
    """A gitreg registry of ``models`` x ``versions``; returns seconds per phase."""
    from gitreg.core.events import (
        Action,
        Event,
        commit_message,
        stage_tag,
        tag_message,
        version_tag,
    )
    from gitreg.core.records import (
        Artifact,
        Lineage,
        StageMap,
        VersionRecord,
        stages_to_dict,
        version_to_dict,
    )
    from gitreg.repo import yamlio
    from gitreg.service.registry import Registry
    from gitreg.weights.dvc import pointer_text

    phases: dict[str, float] = {}
    start = time.perf_counter()
    registry = Registry.init(root, remote=str(storage))
    storage.mkdir(parents=True, exist_ok=True)
    phases["init"] = time.perf_counter() - start

    start = time.perf_counter()
    cfg = registry.config
    order = list(cfg.stages)
    stream = Stream(git(root, "symbolic-ref", "HEAD").strip(), git(root, "rev-parse", "HEAD")
                    .strip())
    held: dict[str, StageMap] = {}
    counts: dict[tuple[str, str], int] = {}
    for step in plan(models, versions):
        base = f"{cfg.models_dir}/{step.model}"
        if step.stage is None:
            md5, size = weights_md5(step.model, step.version)
            folder = f"{base}/artifacts/{step.version}"
            i = int(step.version.split(".")[1]) * 10 + int(step.version.split(".")[2])
            when = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(stream.when + 60))
            record = VersionRecord(
                name=step.model, version=step.version, registered_at=when,
                registered_by=IDENTITY,
                artifact=Artifact(f"{folder}/model.bin", "pickle", md5, size),
                trained_at=when, model_type="RandomForestClassifier",
                hyperparameters={"n_estimators": 100 + 10 * (i % 7), "max_depth": 4 + i % 5,
                                 "criterion": "gini"},
                metrics={"accuracy": round(0.8 + (i % 97) / 1000, 4),
                         "f1": round(0.75 + (i % 89) / 1000, 4), "val_loss": 0.3},
                features=("age", "plan", "tenure", "monthly_spend"),
                description=f"{step.model} trained on the weekly snapshot",
                lineage=Lineage(code_commit=hashlib.sha1(f"{step.model}{i}".encode())
                                .hexdigest(), data={"train": md5},
                                parent=version_name(i - 1) if i else None),
            )
            files = {
                f"{base}/versions/{step.version}.yaml": yamlio.dumps(version_to_dict(record)),
                f"{folder}/model.bin.dvc": pointer_text(md5, size, "model.bin"),
                f"{folder}/.gitignore": "/model.bin\n",
            }
            if step.model not in held:
                held[step.model] = StageMap(step.model)
                files[f"{base}/stages.yaml"] = yamlio.dumps(
                    stages_to_dict(held[step.model], order, cfg.exclusive))
            event = Event(step.model, Action.REGISTER, step.version)
            mark = stream.commit(commit_message(event), files)
            stream.tag(version_tag(step.model, step.version), mark, tag_message(event))
            continue
        before = held[step.model]
        previous = before.versions_in(step.stage)
        after = before.with_stage(step.stage, (step.version,))
        held[step.model] = after
        action = Action.ROLLBACK if step.rollback else Action.PROMOTE
        event = Event(step.model, action, step.version, step.stage,
                      previous[0] if previous else None)
        mark = stream.commit(commit_message(event), {
            f"{base}/stages.yaml": yamlio.dumps(stages_to_dict(after, order, cfg.exclusive)),
        })
        key = (step.model, step.stage)
        counts[key] = counts.get(key, 0) + 1
        stream.tag(stage_tag(step.model, step.stage, counts[key]), mark, tag_message(event))
    phases["stream"] = time.perf_counter() - start
    start = time.perf_counter()
    stream.run(root)
    phases["fast-import"] = time.perf_counter() - start
    _finish(root, phases)
    return phases


# -- GTO's format -----------------------------------------------------------------------


def build_gto(root: Path, models: int, versions: int, *, annotated: str = "last"
              ) -> dict[str, float]:
    """The same shape in GTO's format; returns seconds per phase.

    ``annotated``: where ``artifacts.yaml`` (GTO's annotations: type, path, description of
    every model) is committed. ``"last"`` (default): in a last commit, on top of the
    versions. ``"first"``: in the first commit, so that every version's commit has it, as
    if the team had annotated its models from the start; GTO then parses the whole file
    with a pure-Python YAML parser once per version (``gto show`` takes 12 s at 1,000
    versions of 10 models here, and grows with versions x models: hours at 10,000), which
    no benchmark can repeat. With ``"last"`` it parses it once per call, the cost issue 5
    quotes (17-18 s per read at 10,000 versions).
    """
    import yaml

    phases: dict[str, float] = {}
    start = time.perf_counter()
    root.mkdir(parents=True)
    git(root, "init", "--quiet")
    artifacts = {model_name(m): {"type": "model", "path": f"models/{model_name(m)}/model.bin",
                                 "description": f"{model_name(m)} classifier"}
                 for m in range(models)}
    annotations = {"artifacts.yaml": yaml.safe_dump(artifacts, sort_keys=False)}
    stream = Stream(git(root, "symbolic-ref", "HEAD").strip(), None)
    stream.commit("Ignore the weights\n", {
        ".gitignore": "/models/*/model.bin\n",
        **(annotations if annotated == "first" else {}),
    })
    commits: dict[tuple[str, str], int] = {}  # (model, version) -> its commit's mark
    counter: dict[str, int] = {}
    for step in plan(models, versions):
        if step.stage is None:
            md5, size = weights_md5(step.model, step.version)
            pointer = (f"outs:\n- md5: {md5}\n  size: {size}\n  hash: md5\n"
                       f"  path: model.bin\n")
            mark = stream.commit(f"Train {step.model} {step.version}\n",
                                 {f"models/{step.model}/model.bin.dvc": pointer})
            commits[step.model, step.version] = mark
            stream.tag(f"{step.model}@v{step.version}", mark,
                       f"Registering artifact {step.model} version v{step.version}")
            continue
        counter[step.model] = counter.get(step.model, 0) + 1
        stream.tag(f"{step.model}#{step.stage}#{counter[step.model]}",
                   commits[step.model, step.version],
                   f"Assigning stage {step.stage} to artifact {step.model} version "
                   f"v{step.version}", later=True)
    if annotated == "last":
        stream.commit("Annotate the models (gto annotate)\n", annotations)
    phases["stream"] = time.perf_counter() - start
    start = time.perf_counter()
    stream.run(root)
    phases["fast-import"] = time.perf_counter() - start
    _finish(root, phases)
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="a new folder: DEST/gitreg, DEST/gto")
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--versions", type=int, default=100, help="per model")
    parser.add_argument("--format", choices=["gitreg", "gto", "both"], default="gitreg")
    parser.add_argument("--gto-annotated", choices=["first", "last"], default="last",
                        help="commit GTO's artifacts.yaml first or last (see build_gto)")
    parser.add_argument("--check", action="store_true",
                        help="run `gitreg check` on the result (reads every file)")
    args = parser.parse_args()
    if args.models < 1 or args.versions < 1:
        parser.error("--models and --versions must be positive")
    args.dest.mkdir(parents=True, exist_ok=True)
    isolate(args.dest)
    if args.format in ("gitreg", "both"):
        root = args.dest / "gitreg"
        phases = build_gitreg(root, args.dest / "storage", args.models, args.versions)
        print(f"gitreg: {root}: built in {sum(phases.values()):.1f} s ("
              + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()) + ")")
        if args.check:
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "gitreg", "check"], cwd=root,
                                  check=False)
            print(f"gitreg check: exit {proc.returncode} in {time.perf_counter() - start:.1f} s")
            if proc.returncode:
                return proc.returncode
    if args.format in ("gto", "both"):
        root = args.dest / "gto"
        phases = build_gto(root, args.models, args.versions, annotated=args.gto_annotated)
        print(f"gto: {root}: built in {sum(phases.values()):.1f} s ("
              + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
