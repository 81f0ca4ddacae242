"""What ``gitreg site`` shows (issue 15), collected as one immutable value; no HTML here.

Models with what each stage holds, their stage timelines (which version held each stage,
from which event to which), their metrics across versions, every event for the audit, and
the stage changes the audit page's date picker answers ``which --at`` from. Read with the
same calls as ``list`` and ``history`` (``catalog``, ``history_events``), once each.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from gitreg.core import policy
from gitreg.core.config import Policy, RegistryConfig
from gitreg.core.diff import Gate, VersionDiff, diff_records
from gitreg.core.events import Action, Event
from gitreg.core.forge import ForgeLinks, from_origin
from gitreg.core.names import Version
from gitreg.core.query import Query
from gitreg.core.records import StageMap, VersionRecord
from gitreg.core.release import Standing
from gitreg.errors import NotFound
from gitreg.service.registry import Registry


@dataclass(frozen=True)
class Holding:
    """One bar of a stage timeline: ``version`` held ``stage`` from ``start`` until ``end``
    (None: it holds it now). Positions are indexes into the model's events, not clock time."""

    stage: str
    version: str
    start: Event
    start_index: int
    end: Event | None = None
    end_index: int | None = None


@dataclass(frozen=True)
class ModelView:
    name: str
    stages: Mapping[str, tuple[str, ...]]  # what each stage holds now
    # Oldest SemVer first, deprecated ones too (shown as such).
    versions: tuple[tuple[VersionRecord, tuple[str, ...]], ...]
    events: tuple[Event, ...]  # oldest first
    holdings: tuple[Holding, ...]
    metrics: tuple[str, ...]  # every metric name, the main one (the latest's first) first
    reached_last_stage: frozenset[str]  # versions that were ever in the last stage
    # The policy that gates this model entering each stage (per-model ones win, issue 12).
    policies: Mapping[str, Policy] = field(default_factory=dict)
    deprecated: Mapping[str, str] = field(default_factory=dict)  # version -> why (issue 16)

    @property
    def retired(self) -> bool:
        """Every version is deprecated (``gitreg deprecate NAME``)."""
        return bool(self.versions) and all(r.version in self.deprecated for r, _ in self.versions)

    @property
    def main_metric(self) -> str | None:
        return self.metrics[0] if self.metrics else None

    @property
    def last_change(self) -> Event | None:
        return next((e for e in reversed(self.events) if e.stage is not None), None)

    def record(self, version: str) -> VersionRecord | None:
        return next((r for r, _ in reversed(self.versions) if r.version == version), None)

    def events_of(self, version: str) -> tuple[Event, ...]:
        """The events that registered ``version``, or put it in or took it out of a stage."""
        return self._by_version.get(version, ())

    @functools.cached_property
    def _by_version(self) -> dict[str, tuple[Event, ...]]:
        found: dict[str, list[Event]] = {}
        for event in self.events:
            for version in {event.version, event.previous} - {None}:
                found.setdefault(str(version), []).append(event)
        return {version: tuple(events) for version, events in found.items()}


@dataclass(frozen=True)
class SiteData:
    title: str
    stages: tuple[str, ...]
    models: tuple[ModelView, ...]
    events: tuple[Event, ...]  # every model's, oldest first (first-parent order)
    links: ForgeLinks | None
    head: str | None
    # Every release (issue 18), oldest first by name and number, with what the stages hold now.
    releases: tuple[Standing, ...] = ()
    config: RegistryConfig | None = None  # for the policy verdicts of the version pages' diffs

    def model(self, name: str) -> ModelView:
        found = next((m for m in self.models if m.name == name), None)
        if found is None:
            raise NotFound(f"unknown model {name!r}")
        return found


def collect(registry: Registry, *, title: str | None = None) -> SiteData:
    """Everything the site shows, read from ``registry`` as its work tree and history hold it."""
    rows = registry.catalog(query=Query(include_deprecated=True))
    events = registry.history_events()
    by_model: dict[str, list[tuple[VersionRecord, tuple[str, ...]]]] = {}
    for record, stages in rows:
        by_model.setdefault(record.name, []).append((record, stages))
    events_of: dict[str, list[Event]] = {}
    for event in events:
        events_of.setdefault(event.model, []).append(event)
    last_stage = registry.config.stages[-1]
    models = []
    for name, versions in by_model.items():
        model_events = tuple(events_of.get(name, ()))
        holdings = _holdings(model_events, registry.config.is_exclusive)
        stage_map = registry.stage_map(name)
        models.append(ModelView(
            name=name,
            stages={s: stage_map.versions_in(s) for s in registry.config.stages},
            versions=tuple(versions),
            events=model_events,
            holdings=holdings,
            metrics=_metric_names([r for r, _ in versions]),
            reached_last_stage=frozenset(h.version for h in holdings if h.stage == last_stage),
            policies={s: p for s in registry.config.stages
                      if (p := registry.config.policy(s, name)) is not None},
            deprecated=registry.deprecations(name).versions,
        ))
    return SiteData(
        title=title or f"gitreg: {registry.root.name}",
        stages=registry.config.stages,
        models=tuple(models),
        events=tuple(events),
        links=_links(registry),
        head=registry.git.head(),
        releases=_releases(registry),
        config=registry.config,
    )


def _releases(registry: Registry) -> tuple[Standing, ...]:
    """Each release file, with its commit, tag and author where history has them."""
    from gitreg.service import release_history

    found = release_history.releases(registry)
    if not found:
        return ()
    committed = release_history.made(registry)
    now: dict[tuple[str, str], tuple[str, ...]] = {}
    standings = []
    for release in found:
        release = committed.get((release.name, release.n), release)
        for member in release.members:
            key = (member.model, release.stage)
            if key not in now:
                now[key] = registry.stage_map(member.model).versions_in(release.stage)
        standings.append(Standing(release, {m.model: now[m.model, release.stage]
                                            for m in release.members},
                                  registry.config.is_exclusive(release.stage)))
    return tuple(standings)


def diffs(model: ModelView, index: int, stage: str, config: RegistryConfig | None = None
          ) -> tuple[VersionDiff | None, VersionDiff | None]:
    """What ``gitreg diff`` shows between the model's ``index``-th version (SemVer order) and
    the version before it, and between what ``stage`` holds and it (None where there is
    nothing to compare): with the deprecations of both sides and, given the ``config``,
    the verdict of the policy gating the version's entry to ``stage``, as ``diff`` has them."""
    record = model.versions[index][0]
    previous = None
    if index:
        before = model.versions[index - 1][0]
        previous = _noted(model, diff_records(before, record), None)
    held = model.stages.get(stage, ())
    target = model.record(str(max(Version.parse(v) for v in held))) if held else None
    against = None
    if target is not None and target.version != record.version:
        against = _noted(model, diff_records(target, record, a=stage),
                         _gate(model, record, stage, config) if config else None)
    return previous, against


def _noted(model: ModelView, diff: VersionDiff, gate: Gate | None) -> VersionDiff:
    """``diff`` with its sides' deprecations and ``gate`` (a copy only where there are any:
    10,000 version pages, issue 15)."""
    deprecated = (model.deprecated.get(diff.old.version), model.deprecated.get(diff.new.version))
    if gate is None and deprecated == (None, None):
        return diff
    return replace(diff, deprecated=deprecated, gate=gate)


def _gate(model: ModelView, record: VersionRecord, stage: str, config: RegistryConfig
          ) -> Gate | None:
    """The policy gating ``record`` entering ``stage`` and what it refuses, judged as
    ``gitreg diff`` (service/compare.py) judges it, from what the site has read."""
    rules = config.policy(stage, record.name)
    if rules is None:
        return None
    held = model.stages.get(stage, ())
    if record.version in held:
        return Gate(stage, record.version, rules.label, held=True)
    previous = held[0] if held and config.is_exclusive(stage) else None
    been = frozenset(e.stage for e in model.events_of(record.version)
                     if e.version == record.version and e.stage)
    problems = policy.violations(config, stage, record,
                                 model.record(previous) if previous else None,
                                 StageMap(model.name, dict(model.stages)), been)
    return Gate(stage, record.version, rules.label, tuple(problems))


def _holdings(events: tuple[Event, ...], exclusive: Callable[[str], bool]
              ) -> tuple[Holding, ...]:
    """Replay the stage events: a promotion or rollback starts a holding and, in an exclusive
    stage, ends the one of the version it replaced; a demotion ends one."""
    open_: dict[tuple[str, str], tuple[Event, int]] = {}
    done: list[Holding] = []
    for index, event in enumerate(events):
        if event.stage is None or event.action is Action.REGISTER:
            continue
        replaces = event.action is not Action.PROMOTE or exclusive(event.stage)
        if replaces and event.previous is not None and event.previous != event.version:
            started = open_.pop((event.stage, event.previous), None)
            if started is not None:
                done.append(Holding(event.stage, event.previous, started[0], started[1],
                                    event, index))
        if event.version is not None and (event.stage, event.version) not in open_:
            open_[(event.stage, event.version)] = (event, index)
    done += [Holding(stage, version, event, index)
             for (stage, version), (event, index) in open_.items()]
    return tuple(sorted(done, key=lambda h: h.start_index))


def _metric_names(records: list[VersionRecord]) -> tuple[str, ...]:
    names: list[str] = list(records[-1].metrics) if records else []
    for record in reversed(records):
        names += [m for m in record.metrics if m not in names]
    return tuple(names)


def _links(registry: Registry) -> ForgeLinks | None:
    config = registry.config
    if config.site_commit_url:
        return ForgeLinks(config.site_commit_url, config.site_tag_url)
    origin = registry.git.run("config", "--get", "remote.origin.url", check=False).strip()
    return from_origin(origin) if origin else None


@contextlib.contextmanager
def at_revision(registry: Registry, rev: str) -> Iterator[Registry]:
    """The registry as ``rev`` holds it: a detached worktree in a temporary folder, removed
    again afterwards (its files, and git's note of it)."""
    commit = registry.git.resolve(rev)
    if commit is None:
        raise NotFound(f"unknown git revision {rev!r}")
    folder = Path(tempfile.mkdtemp(prefix="gitreg-site-"))
    tree = folder / "registry"
    try:
        registry.git.run("worktree", "add", "--quiet", "--detach", str(tree), commit)
        try:
            yield Registry(tree)
        finally:
            registry.git.run("worktree", "remove", "--force", str(tree), check=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def moment(event: Event) -> float:
    """An event's commit time as seconds since the epoch (for ``which --at`` in the page)."""
    return datetime.fromisoformat(event.date).timestamp()
