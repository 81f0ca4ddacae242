"""``gitreg import gto``: a GTO registry's tags replayed as gitreg commits and tags.

GTO keeps its registry in git tags (https://dvc.org/doc/gto/user-guide): ``NAME@vX.Y.Z``
registers the version at the tag's commit, ``NAME@vX.Y.Z!`` deregisters it,
``NAME#STAGE#N`` (or ``NAME#STAGE``) assigns a stage, ``NAME#STAGE!#N`` unassigns it and
``NAME@deprecated`` deprecates the artifact. They become a registration, a deprecation of
that version (issue 16), a promotion, a demotion and a deprecation of the whole model; a
deprecation also demotes what the versions held, in the same commit (``--demote``), as
GTO stops counting their assignments. Artifacts are declared in ``dvc.yaml``
(``artifacts:``) or, before GTO 1.0, in ``artifacts.yaml``. The repository is read with
git plumbing only (no DVC, no GTO): it is untrusted input like any clone.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from gitreg.core.events import Event
from gitreg.core.names import check_name
from gitreg.core.records import Lineage
from gitreg.errors import CorruptRegistry, InvalidInput, PolicyViolation, printable
from gitreg.git.runner import Authorship, Git
from gitreg.repo import yamlio
from gitreg.service import lifecycle
from gitreg.service.importers import REASON_PREFIX, ImportReport, map_stage, warm_caches
from gitreg.service.registry import NewVersion, Registry

_VERSION_TAG = re.compile(r"^(?P<name>[^@#!]+)@v(?P<version>\d+\.\d+\.\d+)(?P<bang>!?)$")
_DEPRECATED_TAG = re.compile(r"^(?P<name>[^@#!]+)@deprecated$")
_STAGE_TAG = re.compile(r"^(?P<name>[^@#!]+)#(?P<stage>[^@#!]+)(?P<bang>!?)(?:#(?P<n>\d+))?$")
# Events at the same second (GTO's tags keep whole seconds): registrations first, then
# stage changes by their counter, then a version's deregistration, then the deprecation of
# the whole model (which a tag name order would put first: "churn@deprecated" sorts before
# "churn@v1.0.0!").
_RANK = {"register": 0, "assign": 1, "unassign": 1, "deregister": 2, "deprecate": 3}
# GTO's examples call production ``prod``; other names map to the stage of the same name.
DEFAULT_STAGES = {"prod": "production"}
_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class GtoEvent:
    kind: str  # register, deregister, assign, unassign, deprecate
    name: str
    version: str | None  # SemVer without the v; for a stage tag, filled in from the commit
    stage: str | None
    tag: str
    commit: str
    who: Authorship
    number: int = 0

    @property
    def order(self) -> tuple[datetime, int, int]:
        return (datetime.fromisoformat(self.who.date), _RANK[self.kind], self.number)


def import_gto(registry: Registry, source: str, *, stage_map: Mapping[str, str] | None = None,
               push: bool = False) -> ImportReport:
    """Replay the GTO registry at ``source`` (a path or a git URL) into ``registry``."""
    with _checkout(source) as root:
        events = _events(Git(root))
        return warm_caches(registry, _Replay(registry, Git(root), dict(stage_map or {}),
                                             push).run(events))


@contextmanager
def _checkout(source: str) -> Iterator[Path]:
    path = Path(source)
    if (path / ".git").exists():
        yield path.absolute()
        return
    if path.exists() and not _bare(path):
        raise InvalidInput(f"{source} is not a git repository; give a GTO registry's path or URL")
    with tempfile.TemporaryDirectory(prefix="gitreg-gto-") as tmp:
        Git(Path(tmp)).run("clone", "--quiet", "--no-checkout", "--", source, "src")
        yield Path(tmp) / "src"


def _bare(path: Path) -> bool:
    """Whether ``path`` is a bare repository (cloned like a URL: it has no DVC cache)."""
    return path.is_dir() and Git(path).run(
        "rev-parse", "--is-bare-repository", check=False).strip() == "true"


def _events(git: Git) -> list[GtoEvent]:
    """Every GTO tag as an event, oldest first (GTO itself orders by the tags' times)."""
    out = git.run(
        "for-each-ref", "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)%00"
        "%(taggername)%00%(taggeremail)%00%(authorname)%00%(authoremail)%00"
        "%(creatordate:iso-strict)", "refs/tags")
    events = []
    # Lines by "\n" only: str.splitlines also breaks at "\x1c".."\x1e", which a tagger's
    # name in a cloned repository may hold.
    for line in filter(None, out.split("\n")):
        tag, obj, peeled, tname, temail, aname, aemail, date = line.split("\0")
        who = Authorship(tname or aname, (temail or aemail).strip("<>"), date)
        commit = peeled or obj
        if match := _VERSION_TAG.match(tag):
            kind = "deregister" if match["bang"] else "register"
            events.append(GtoEvent(kind, match["name"], match["version"], None, tag, commit, who))
        elif match := _DEPRECATED_TAG.match(tag):
            events.append(GtoEvent("deprecate", match["name"], None, None, tag, commit, who))
        elif match := _STAGE_TAG.match(tag):
            kind = "unassign" if match["bang"] else "assign"
            events.append(GtoEvent(kind, match["name"], None, match["stage"], tag, commit, who,
                                   int(match["n"] or 0)))
    events.sort(key=lambda e: e.order)
    # A stage tag names a commit; the version is the one registered at that commit.
    at_commit = {(e.name, e.commit): e.version for e in events if e.kind == "register"}
    return [replace(e, version=at_commit.get((e.name, e.commit))) if e.stage else e
            for e in events]


class _Replay:
    def __init__(self, registry: Registry, source: Git, stage_map: dict[str, str],
                 push: bool) -> None:
        self.registry, self.source, self.stage_map, self.push = registry, source, stage_map, push
        self.written: list[Event] = []
        self.skipped: list[str] = []
        self.done_reasons = {e.reason for e in registry.history.events() if e.reason}

    def run(self, events: list[GtoEvent]) -> ImportReport:
        for event in events:
            try:
                check_name(event.name)
            except InvalidInput:
                self.skipped.append(f"{event.tag}: {event.name!r} is not a valid gitreg name")
                continue
            if event.kind == "register":
                self._register(event)
            elif event.kind in ("assign", "unassign"):
                self._stage(event)
            else:
                self._deprecate(event)
        notes = ("metrics, hyperparameters and features are empty: GTO's grammar has none",)
        if not events:  # the wrong repository, most likely: say so rather than "nothing new"
            notes = ("no GTO tags there (NAME@vX.Y.Z, NAME#STAGE#N, NAME@deprecated): is it "
                     "a GTO registry, with its tags fetched?",)
            return ImportReport((), tuple(self.skipped), notes)
        return ImportReport(tuple(self.written), tuple(self.skipped), notes if self.written else ())

    def _register(self, event: GtoEvent) -> None:
        assert event.version is not None
        registry = self.registry
        if event.name in registry.models() and any(
                r.version == event.version for r in registry.versions(event.name)):
            return  # imported by an earlier run
        try:
            declared = _declaration(self.source, event.commit, event.name)
        except CorruptRegistry as exc:  # a hostile or broken declaration: this version only
            self.skipped.append(f"{event.tag}: {exc}")
            return
        if declared is None:
            self.skipped.append(f"{event.tag}: {event.name} is declared in neither dvc.yaml "
                                "nor artifacts.yaml at its commit")
            return
        path, info = declared
        with tempfile.TemporaryDirectory(prefix="gitreg-gto-") as tmp:
            weights = Path(tmp) / PurePosixPath(path).name
            try:
                problem = _weights(self.source, event.commit, path, weights)
            except CorruptRegistry as exc:  # a pointer that is no YAML, or blows up
                problem = str(exc)
            if problem:
                self.skipped.append(f"{event.tag}: {problem}")
                return
            done = registry.register(
                event.name, weights, version=event.version, push=self.push, authored=event.who,
                info=replace(info, lineage=Lineage(code_commit=event.commit)))
        self.written.extend(done.events)

    def _stage(self, event: GtoEvent) -> None:
        assert event.stage is not None
        registry = self.registry
        stage = map_stage(event.stage, self.stage_map, registry.config.stages, DEFAULT_STAGES)
        reason = f"{REASON_PREFIX}GTO tag {event.tag}"
        if stage is None:
            self.skipped.append(f"{event.tag}: GTO stage {event.stage!r} is not a stage of this "
                                "registry; map it with --stage-map")
            return
        if event.version is None or event.name not in registry.models() or not any(
                r.version == event.version for r in registry.versions(event.name)):
            self.skipped.append(f"{event.tag}: no imported version at commit {event.commit[:7]}")
            return
        held = registry.stage_map(event.name).versions_in(stage)
        if event.kind == "assign":
            if reason in self.done_reasons or event.version in held:
                return
            try:
                self.written.append(registry.promote(
                    event.name, event.version, stage, force=True, reason=reason,
                    push=self.push, authored=event.who))
            except PolicyViolation as exc:  # a policy with allow_force: false
                self.skipped.append(f"{event.tag}: {exc}")
        elif event.version in held:
            self.written.append(registry.demote(
                event.name, stage, version=event.version, push=self.push, authored=event.who))


    def _deprecate(self, event: GtoEvent) -> None:
        """GTO's deregistration of a version (``NAME@vX!``) and deprecation of the artifact
        (``NAME@deprecated``) become gitreg deprecations; what the versions held in stages
        is demoted in the same commit, as GTO no longer counts their assignments."""
        registry = self.registry
        reason = f"{REASON_PREFIX}GTO tag {event.tag}"
        if reason in self.done_reasons:
            return
        known = ({r.version for r in registry.versions(event.name)}
                 if event.name in registry.models() else set())
        if event.version is not None and event.version not in known:
            self.skipped.append(f"{event.tag}: no imported version {event.version}")
            return
        if not known:
            self.skipped.append(f"{event.tag}: no imported version of {event.name}")
            return
        deprecated = registry.deprecations(event.name)
        if all(deprecated.reason(v) is not None for v in
               ([event.version] if event.version is not None else known)):
            return  # GTO deregistered a version its artifact deprecation already covers
        done = lifecycle.deprecate(registry, event.name, event.version, reason=reason,
                                   demote=True, push=self.push, authored=event.who)
        assert isinstance(done, list)  # not proposed
        self.written.extend(done)


def _declaration(git: Git, commit: str, name: str) -> tuple[str, NewVersion] | None:
    """The artifact's path and what its declaration says, at ``commit``."""
    dvc_yaml, artifacts_yaml = git.cat_files([f"{commit}:dvc.yaml", f"{commit}:artifacts.yaml"])
    for text, source, key in ((dvc_yaml, "dvc.yaml", "artifacts"),
                              (artifacts_yaml, "artifacts.yaml", None)):
        if text is None:
            continue
        where = f"{source}@{commit[:7]}"
        data: Any = yamlio.loads(text, where)
        if key is not None:
            data = data.get(key) if isinstance(data, dict) else None
        entry = data.get(name) if isinstance(data, dict) else None
        if not isinstance(entry, dict):
            continue
        path = entry.get("path")
        parts = str(path).split("/")
        if (not isinstance(path, str) or path.startswith("/") or "\\" in path
                or any(p in ("", ".", "..") for p in parts) or not path.isprintable()):
            raise CorruptRegistry.at(where, f"{key + '.' if key else ''}{name}.path",
                                     f"{path!r} is not a plain relative path")
        labels = entry.get("labels") or []
        description = entry.get("desc") or entry.get("description")
        return path, NewVersion(
            description=description if isinstance(description, str) else None,
            # One printable line each, as `annotate` takes them (and MLflow's come over).
            labels=tuple(printable(str(v)) for v in labels) if isinstance(labels, list) else (),
        )
    return None


def _weights(git: Git, commit: str, path: str, target: Path) -> str | None:
    """Write the weights at ``path`` as of ``commit`` to ``target``; a problem, or None.

    A file in git is read from git; one tracked by DVC (``PATH.dvc``) from the GTO
    repository's DVC cache, by the md5 its pointer names (registering checks the bytes
    against it; a shared DVC remote is not uploaded to again, the object is there).
    """
    in_git, pointer = git.cat_files([f"{commit}:{path}", f"{commit}:{path}.dvc"])
    if pointer is not None:
        outs = yamlio.loads(pointer, f"{path}.dvc@{commit[:7]}")
        out = (outs.get("outs") or [{}])[0] if isinstance(outs, dict) else {}
        md5 = str(out.get("md5", "")) if isinstance(out, dict) else ""
        if not _MD5.match(md5):
            return f"{path}.dvc names no file md5 (folders are not imported yet)"
        cached = git.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
        if not cached.is_file():
            return (f"{path} (md5 {md5}) is not in the GTO repository's DVC cache; "
                    "run `dvc pull` there and import again")
        shutil.copyfile(cached, target)
        if _md5(target) != md5:
            return f"{path}: the cached object does not match its md5 {md5}"
        return None
    if in_git is not None:
        target.write_bytes(in_git)
        return None
    return f"{path} is neither in git nor tracked by DVC (PATH.dvc) at {commit[:7]}"


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
