"""`gitreg gc`: free the weights that nothing needs any more (issue 16).

Candidates are the objects of versions deprecated at ``HEAD`` (a folder's listing and its
files): what this registry registered and retired. Objects it never registered (another
registry's, in a shared remote) are never candidates. A candidate is kept if anything
still needs it:

- a version that is not deprecated (its listing read, for a folder, so files shared with a
  kept folder stay);
- a version any stage held in the last ``keep_days`` (by the commit dates of the stage
  changes: a retention window is about time, not order);
- a version that is not deprecated at the tip of any branch of the clone or of ``origin``
  (as last fetched), or at any tag that is not one of gitreg's tags. Registration, stage,
  lifecycle and release tags mark events of the main history, which the stages and the
  files at ``HEAD`` already account for: counted as snapshots, a registration tag would keep
  every version forever, and one release tag every version registered before it. What a
  release still needs, its stages hold (a held version is deprecated only with
  ``--demote``, which empties the stage);
- an object younger than ``grace`` seconds in the store that holds it, so that a
  registration in another clone that wrote it a moment ago keeps its weights.

Each kept candidate is reported with the first reason found, so that a dry run says
which stage or ref to look at.

Deleting removes objects only, never a pointer, a folder's files before its listing:
a run cut short leaves objects that are still referenced or still collectable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from gitreg.core.events import parse_tag
from gitreg.core.lifecycle import Deprecations, deprecations_from_dict, parse_lifecycle_tag
from gitreg.core.records import VersionRecord
from gitreg.core.release import parse_release_tag
from gitreg.errors import CorruptRegistry, InvalidInput
from gitreg.repo import yamlio
from gitreg.service.registry import Registry
from gitreg.weights.collect import ObjectStore, stores

GRACE_SECONDS = 3600
_FILE_MD5 = re.compile(r"[0-9a-f]{32}")  # a file's object: no .dir in a listing


@dataclass(frozen=True)
class Garbage:
    store: str  # "local cache", "remote NAME"
    md5: str
    size: int
    why: str  # what it was, and why nothing needs it


@dataclass(frozen=True)
class Kept:
    """A deprecated version whose weights stay, and what still needs them."""

    model: str
    version: str
    deprecated: str  # the deprecation's reason
    why: str  # "production held it in the last 30 days", "not deprecated at refs/tags/x"


@dataclass(frozen=True)
class Collection:
    garbage: tuple[Garbage, ...]
    deleted: bool
    young: int  # candidates kept because they are younger than the grace period
    unreadable: tuple[str, ...] = ()  # folder listings that could not be read: kept whole
    kept: tuple[Kept, ...] = ()  # deprecated versions a stage or another ref still needs

    @property
    def size(self) -> int:
        return sum(g.size for g in self.garbage)


def collect(registry: Registry, *, keep_days: int | None = None, grace: float = GRACE_SECONDS,
            delete: bool = False, now: datetime | None = None,
            where: Iterable[ObjectStore] | None = None) -> Collection:
    """What gc would delete (``delete``: deletes it), in every store."""
    if keep_days is None:
        keep_days = registry.config.gc_keep_days
    if keep_days < 0:
        raise InvalidInput("{keep_days} must be 0 or more", params=("keep_days",))
    now = now or datetime.now(timezone.utc)
    candidates: dict[str, VersionRecord] = {}  # version key -> record, deprecated at HEAD
    kept: list[VersionRecord] = []
    reasons: dict[tuple[str, str], str] = {}
    for model in registry.models():
        deprecations = registry.deprecations(model)
        for record in registry.versions(model):
            why = deprecations.reason(record.version)
            if why is None:
                kept.append(record)
            else:
                candidates[f"{model}@{record.version}"] = record
                reasons[model, record.version] = why
    if not candidates:
        return Collection((), delete, 0)
    try:
        cutoff = now - timedelta(days=keep_days)
    except OverflowError:  # more days than a date can count back: every holding is kept
        cutoff = datetime.min.replace(tzinfo=timezone.utc)
    needed = {key: why for key, why in _recently_held(registry, cutoff, keep_days).items()
              if key in candidates}
    needed |= _alive_elsewhere(registry, {k: r for k, r in candidates.items()
                                          if k not in needed})
    places = list(stores(registry.root) if where is None else where)
    explained = []
    for key, why in sorted(needed.items()):
        record = candidates.pop(key)
        kept.append(record)
        # Said only while its weights are somewhere (a folder's listing goes last): once
        # a run has freed them, "kept" would send the user looking for nothing.
        if any(store.stat(record.artifact.md5) is not None for store in places):
            explained.append(Kept(record.name, record.version,
                                  reasons[record.name, record.version], why))
    keep_md5 = {r.artifact.md5 for r in kept}
    unreadable: list[str] = []
    blind = False  # a kept folder whose files are unknown: no folder's files are deleted
    for record in kept:  # files shared with a folder that stays
        if record.artifact.md5.endswith(".dir"):
            files = _listing(places, record.artifact.md5)
            blind = blind or files is None
            keep_md5 |= set(files or ())
    plan: list[tuple[str, str]] = []  # (md5, why): files of a folder before its listing
    for record in candidates.values():
        why = (f"{record.name} {record.version} (deprecated: "
               f"{reasons[record.name, record.version]})")
        md5 = record.artifact.md5
        if md5.endswith(".dir"):
            files = None if blind else _listing(places, md5)
            if files is None:
                # Gone from every store: a run before deleted it, after its files (a folder's
                # files go first). Nothing left to collect, nothing to warn about.
                if not blind and all(store.stat(md5) is None for store in places):
                    continue
                unreadable.append(md5)
                continue
            plan += [(f, f"a file of {why}") for f in files]
        plan.append((md5, why))
    garbage, young, seen = [], 0, set()
    for store in places:
        for md5, why in plan:
            if md5 in keep_md5 or (store.label, md5) in seen:
                continue
            seen.add((store.label, md5))
            present = store.stat(md5)
            if present is None:
                continue
            if present.age is None or present.age < grace:
                young += 1
                continue
            garbage.append(Garbage(store.label, md5, present.size, why))
    if delete:
        by_label = {store.label: store for store in places}
        for item in garbage:
            by_label[item.store].delete(item.md5)
    return Collection(tuple(garbage), delete, young, tuple(unreadable), tuple(explained))


def _recently_held(registry: Registry, cutoff: datetime, days: int) -> dict[str, str]:
    """``model@version`` of everything a stage holds now or held since ``cutoff`` (``days``
    ago), each with the first stage found, as a reason to keep it."""
    held: dict[str, str] = {}
    for model in registry.models():
        for stage, versions in registry.stage_map(model).stages.items():
            for v in versions:
                held.setdefault(f"{model}@{v}", f"{stage} holds it")
    for event in registry.history.events():
        if event.stage is None or not event.date:
            continue
        if datetime.fromisoformat(event.date) >= cutoff:
            for version in (event.version, event.previous):
                if version:
                    held.setdefault(f"{event.model}@{version}",
                                    f"{event.stage} held it in the last {days} days")
    return held


def _is_gitreg_tag(name: str) -> bool:
    return (parse_tag(name) is not None or parse_lifecycle_tag(name) is not None
            or parse_release_tag(name) is not None)


def _alive_elsewhere(registry: Registry,
                     candidates: Mapping[str, VersionRecord]) -> dict[str, str]:
    """Candidates that a branch (here or on origin) or a tag other than gitreg's still has
    as a version that is not deprecated there, each with why: the first such ref by name."""
    if not candidates:
        return {}
    git = registry.git
    head = git.head()
    out = git.run("for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)",
                  "refs/heads", "refs/remotes/origin", "refs/tags")
    tips: dict[str, list[str]] = {}  # commit -> the refs at it
    for line in out.splitlines():
        ref, obj, peeled = line.split("\0")
        if ref.startswith("refs/tags/") and _is_gitreg_tag(ref.removeprefix("refs/tags/")):
            continue
        tips.setdefault(peeled or obj, []).append(ref)
    tips.pop(head or "", None)
    layout = registry.config.layout
    models = sorted({r.name for r in candidates.values()})
    alive: dict[str, list[str]] = {}
    for tip in sorted(tips):
        if git.run("cat-file", "-t", tip, check=False).strip() != "commit":
            continue
        files = git.cat_files([f"{tip}:{layout.deprecated_file(m)}" for m in models])
        retired: dict[str, Deprecations] = {}
        for model, blob in zip(models, files, strict=True):
            retired[model] = Deprecations(model) if blob is None else _deprecations(blob, model)
        keys = list(candidates)
        found = git.cat_files([
            f"{tip}:{layout.version_file(candidates[k].name, candidates[k].version)}"
            for k in keys])
        for key, blob in zip(keys, found, strict=True):
            record = candidates[key]
            if blob is not None and retired[record.name].reason(record.version) is None:
                alive.setdefault(key, []).extend(tips[tip])
    return {key: _at(refs) for key, refs in alive.items()}


def _at(refs: list[str]) -> str:
    first, *more = sorted(refs)
    others = f" (and {len(more)} more ref{'s' if len(more) > 1 else ''})" if more else ""
    return f"not deprecated at {first}{others}"


def _deprecations(blob: bytes, model: str) -> Deprecations:
    source = f"deprecated.yaml of {model} on another branch"
    try:
        return deprecations_from_dict(yamlio.loads(blob, source), source)
    except CorruptRegistry:
        return Deprecations(model)  # unreadable there: count every version there as alive


def _listing(places: list[ObjectStore], md5: str) -> list[str] | None:
    """The md5s of a folder's files, from the first store that has its listing."""
    import json

    for store in places:
        data = store.read(md5)
        if data is None:
            continue
        try:
            files = [str(entry["md5"]) for entry in json.loads(data)]
        except (ValueError, KeyError, TypeError):
            return None
        # A store is written by others too (a shared remote): an entry that is no md5 of a
        # file makes the listing unreadable, so the folder is kept whole.
        return files if all(_FILE_MD5.fullmatch(f) for f in files) else None
    return None
