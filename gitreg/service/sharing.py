"""A registry shared through a git remote: proposals, push and pull.

Every write's ``--push`` goes through repo/publish.py (commit, atomic push, replay); this
module holds the operations that only exist because there is a remote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitreg.core.events import Event, parse_tag, proposal_branch
from gitreg.core.lifecycle import parse_lifecycle_tag
from gitreg.core.newversion import Bump, NewVersion
from gitreg.core.records import VersionRecord
from gitreg.core.release import parse_release_tag
from gitreg.git.sync import Pushed, Rejected, Sync
from gitreg.repo.publish import CaughtUp, Publisher, registry_sync, replaced_note
from gitreg.service.registry import Registry
from gitreg.weights.storage import Progress


@dataclass(frozen=True)
class Proposal:
    """A write committed on a branch for review (untagged until merged): ``event`` is its
    first change, ``events`` all of them (a registration and its promotion)."""

    event: Event
    branch: str
    base: str
    record: VersionRecord
    events: tuple[Event, ...] = ()


def propose(registry: Registry, name: str, version: str, stage: str, *, force: bool = False,
            reason: str | None = None, sign: bool = False) -> Proposal:
    """Commit a promotion on a new branch and push it for review; no tag until it is
    merged (``gitreg ci tag``). The checkout does not change."""
    event = registry.promote(name, version, stage, force=force, reason=reason, sign=sign,
                             propose=True)
    return _proposal(registry, (event,), registry.record(name, version))


def propose_registration(registry: Registry, name: str, source: Path, *,
                         version: str | None = None, bump: Bump | None = None,
                         info: NewVersion | None = None, stage: str | None = None,
                         progress: Progress | None = None, sign: bool = False) -> Proposal:
    """``register --propose``: the weights go to the DVC remote, the commit (and the
    promotion, with ``stage``) to a new branch for review."""
    result = registry.register(name, source, version=version, bump=bump, info=info,
                               stage=stage, progress=progress, sign=sign, propose=True)
    return _proposal(registry, result.events, result.record)


def propose_demotion(registry: Registry, name: str, stage: str, *,
                     version: str | None = None, sign: bool = False) -> Proposal:
    event = registry.demote(name, stage, version=version, sign=sign, propose=True)
    assert event.previous is not None
    return _proposal(registry, (event,), registry.record(name, event.previous))


def propose_rollback(registry: Registry, name: str, stage: str, *, to: str | None = None,
                     sign: bool = False) -> Proposal:
    event = registry.rollback(name, stage, to=to, sign=sign, propose=True)
    assert event.version is not None
    return _proposal(registry, (event,), registry.record(name, event.version))


def _proposal(registry: Registry, events: tuple[Event, ...], record: VersionRecord) -> Proposal:
    return Proposal(events[0], proposal_branch(events[0]), Sync(registry.git).branch(), record,
                    events)


@dataclass(frozen=True)
class Pulled:
    """What ``pull`` did: the branch, what the fetch brought, the staged versions whose
    weights are now in the local cache."""

    branch: str
    fetched: CaughtUp
    weights: tuple[str, ...]


def push(registry: Registry, *, progress: Progress | None = None) -> Pushed:
    """Publish the branch, its gitreg tags and any weights the remote lacks; returns what
    the git remote gained (commits and tags it already had are not counted)."""
    from gitreg.weights.dvc import Weights

    sync = registry_sync(registry.git)
    sync.require_remote()
    branch = sync.branch()
    weights = Weights(registry.root)
    for model in registry.models():
        for record in registry.versions(model):
            if weights.has_local(record.artifact):
                weights.push(record.artifact, record.artifact.path + ".dvc", progress)
    with registry.transaction():
        # origin's tags first: a local one that clashes (made on a branch merged as other
        # commits) is replaced by origin's, or the push would be refused (issue 14).
        replaced = sync.fetch(branch).replaced
    if replaced:
        registry.note(replaced_note(replaced, sync.remote))
    tags = [t.name for t in registry.git.tags()
            if parse_tag(t.name) is not None or parse_lifecycle_tag(t.name) is not None
            or parse_release_tag(t.name) is not None]
    try:
        return sync.push(branch, tags)
    except Rejected:
        pass
    with registry.transaction():
        tip = sync.fetch(branch).tip  # what the remote holds now, to say what works
    raise sync.refused(branch, tip)


def pull(registry: Registry, *, progress: Progress | None = None) -> Pulled:
    """Fast-forward from the remote and fetch the weights of every version in a stage."""
    from gitreg.weights.dvc import Weights

    sync = registry_sync(registry.git)
    branch = sync.branch()
    caught = Publisher(sync, registry.transaction, registry.reload_config,
                       registry.note).catch_up(branch)
    weights = Weights(registry.root)
    fetched = []
    for model in registry.models():
        stage_map = registry.stage_map(model)
        for version in sorted({v for held in stage_map.stages.values() for v in held}):
            record = registry.record(model, version)
            weights.fetch(record.artifact, record.artifact.path + ".dvc", progress)
            fetched.append(f"{model}@{version}")
    return Pulled(branch, caught, tuple(fetched))
