"""Releases (issue 18): promote and roll back several models together, as one commit.

A release writes every model's ``stages.yaml`` and ``releases/<name>/<n>.yaml`` in one
commit, tagged ``release/<name>/<n>`` and, per model, ``<model>/<stage>/<k>`` (core/release.py
has the file and tag grammar). It goes through the registry's own write machinery: one
``Transaction`` (journal, crash recovery), ``Registry.publish`` for ``--push`` (replay and
renumbering, a conflict if any of its models' stage moved meanwhile) and ``--propose``.

Every model's policy is checked before anything is written; one failure refuses the whole
release, naming every model that fails. Reading releases (files, history, standing) is in
release_history.py; what CI and review read (``ci event``, ``diff --release``, ``check``)
in release_review.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gitreg.core.config import CONFIG_FILE
from gitreg.core.events import Action, Event
from gitreg.core.events import tag_message as event_tag_message
from gitreg.core.names import ModelRef
from gitreg.core.records import VersionRecord
from gitreg.core.release import (
    MAX_MODELS,
    Member,
    Release,
    ReleaseAction,
    check_release_model,
    check_release_name,
    commit_message,
    parse_release_tag,
    proposal_branch,
    release_file,
    release_tag,
    release_to_dict,
    tag_message,
)
from gitreg.errors import Conflict, CorruptRegistry, InvalidInput, NotFound, PolicyViolation
from gitreg.git.runner import identity_env
from gitreg.repo import yamlio
from gitreg.service.registry import Registry, _identity
from gitreg.service.release_history import (
    latest,
    made,
    releases,
    replaced_at,
    replaced_problems,
)

if TYPE_CHECKING:
    from gitreg.repo.transaction import Transaction

# Writes import what they need (signing) when they run.


@dataclass(frozen=True)
class _Change:
    """One model's part of a planned release: its new stage map (None: unchanged)."""

    member: Member
    event: Event | None
    stages: object  # StageMap, or None when the model already holds the version


# -- writing ------------------------------------------------------------------------------


def release(
    registry: Registry, name: str, models: Sequence[str], stage: str, *,
    reason: str | None = None, push: bool = False, propose: bool = False, sign: bool = False,
) -> Release:
    """Put every listed version (``MODEL@VERSION``, ``MODEL@latest``, ``MODEL#STAGE``) in
    ``stage`` in one commit, tagged ``release/NAME/N`` and per model; every model's policy
    first, and one failure refuses it all, naming every model that fails."""
    check_release_name(name)
    registry.start_shared(push=push, propose=propose)
    if name in registry.config.stages:
        # release/production/1 would match the stage-tag filters of per-model pipelines
        # (*/production/*, README "GitOps") and hand them a release instead of a model.
        raise InvalidInput(f"invalid release name {name!r}: it is a stage of this registry, "
                           f"and its tags would match stage-tag filters such as */{name}/*; "
                           "choose another name")
    registry.config.check_stage(stage)
    reason = _one_line(reason)
    records = resolve(registry, models)
    for record in records:
        registry.gate_signing(stage, sign, record.name)
    made: list[Release] = []

    def change(tx: Transaction) -> list[Event]:
        planned, changes = _plan(registry, name, records, stage, reason)
        done, events = _apply(registry, tx, planned, changes, sign)
        made[:] = [done]
        return events

    _publish(registry, change, lambda: ([r.name for r in records], stage), push=push,
             propose=propose, made=made)
    return made[0]


def rollback(
    registry: Registry, name: str, *, push: bool = False, propose: bool = False,
    sign: bool = False,
) -> Release:
    """Return every model of release ``name`` to what its stage held before it, in one
    commit with its own release number and tag. Rolling back twice goes two releases back."""
    check_release_name(name)
    registry.start_shared(push=push, propose=propose)
    made: list[Release] = []

    def change(tx: Transaction) -> list[Event]:
        planned, changes = _plan_rollback(registry, name)
        done, events = _apply(registry, tx, planned, changes, sign)
        made[:] = [done]
        return events

    def target() -> tuple[list[str], str]:
        found = _rollback_target(registry, name)
        return list(found.models), found.stage

    _publish(registry, change, target, push=push, propose=propose, made=made)
    return made[0]


def resolve(registry: Registry, models: Sequence[str]) -> list[VersionRecord]:
    """``MODEL@VERSION``, ``MODEL@latest`` or ``MODEL#STAGE`` as version records."""
    if not models:
        raise InvalidInput("name the release's models with {model} (repeatable)",
                           params=("model",))
    if len(models) > MAX_MODELS:
        raise InvalidInput(f"a release holds at most {MAX_MODELS} models")
    records: list[VersionRecord] = []
    for text in models:
        ref = ModelRef.parse(text, latest=True)
        check_release_model(ref.name)
        if ref.version is None and ref.stage is None:
            raise InvalidInput(f"{text!r}: say which version, as {text}@VERSION, "
                               f"{text}@latest or {text}#STAGE")
        if any(r.name == ref.name for r in records):
            raise InvalidInput(f"{ref.name} is listed twice; a release holds one version of "
                               "each model")
        if ref.stage is not None:
            registry.require_model(ref.name)
            registry.config.check_stage(ref.stage)
            version = registry.version_in(ref.name, ref.stage)
        else:
            assert ref.version is not None
            version = ref.version
        records.append(registry.record(ref.name, version))
    return records


def _plan(registry: Registry, name: str, records: Sequence[VersionRecord], stage: str,
          reason: str | None) -> tuple[Release, list[_Change]]:
    """The release as the registry stands now; PolicyViolation naming every model whose
    version its policy (or a deprecation) refuses."""
    config = registry.config
    exclusive = config.is_exclusive(stage)
    changes: list[_Change] = []
    refused: list[str] = []
    by_policy = False
    for record in records:
        model, version = record.name, record.version
        deprecated = registry.deprecated(model, version)
        if deprecated is not None:
            refused.append(deprecated)
            continue
        stage_map = registry.stage_map(model)
        held = stage_map.versions_in(stage)
        if version in held:  # already there (an encoder that did not change): no change
            changes.append(_Change(Member(model, version, version), None, None))
            continue
        previous = held[0] if exclusive and held else None
        problems = registry.policy_problems(record, stage, stage_map, previous)
        rules = config.policy(stage, model)
        if problems:
            assert rules is not None
            refused.append(f"{'; '.join(problems)} ({rules.label})")
            by_policy = True
            continue
        event = Event(model, Action.PROMOTE, version, stage, previous,
                      policy=rules.label if rules is not None else None)
        new = (version,) if exclusive else (*held, version)
        changes.append(_Change(Member(model, version, previous), event,
                               stage_map.with_stage(stage, new)))
    if refused:
        count = f"{len(refused)} of its {len(records)} models"
        where = f" (policies in {CONFIG_FILE})" if by_policy else ""
        raise PolicyViolation(f"release {name} refused, {count} fail: {' | '.join(refused)}"
                              f"{where}; nothing was written: release versions that pass")
    if all(c.event is None for c in changes):
        raise Conflict(f"every model of release {name} already holds its version in {stage}; "
                       "nothing to do")
    planned = Release(name, _next_number(registry, name), stage,
                      tuple(c.member for c in changes), reason=reason)
    return planned, changes


def _rollback_target(registry: Registry, name: str) -> Release:
    """The release a rollback of ``name`` undoes: releases stack up and rollbacks pop them."""
    made = releases(registry, name)
    latest(registry, name)  # NotFound, naming the known ones, when there is none
    stack: list[Release] = []
    for item in made:
        if item.action is ReleaseAction.ROLLBACK:
            stack = [r for r in stack if r.n != item.rolls_back]
        else:
            stack.append(item)
    if not stack:
        raise NotFound(f"nothing to roll back: every release {name} has been rolled back; "
                       "make a new one with `gitreg release`")
    return stack[-1]


def _plan_rollback(registry: Registry, name: str) -> tuple[Release, list[_Change]]:
    target = _rollback_target(registry, name)
    _require_history_agrees(registry, target)
    stage = target.stage
    exclusive = registry.config.is_exclusive(stage)
    changes = []
    refused: list[str] = []
    for member in target.members:
        registry.require_model(member.model)
        stage_map = registry.stage_map(member.model)
        held = stage_map.versions_in(stage)
        if member.previous is not None:
            registry.record(member.model, member.previous)  # it must still be registered
            deprecated = registry.deprecated(member.model, member.previous)
            if deprecated is not None:  # as a model's own rollback: no stage holds one
                refused.append(deprecated)
                continue
        if exclusive:
            new: tuple[str, ...] = (member.previous,) if member.previous else ()
        else:
            new = tuple(v for v in held if v != member.version)
            if member.previous is not None and member.previous not in new:
                new = (*new, member.previous)
        now = held[0] if exclusive and held else None
        if new == held:
            changes.append(_Change(Member(member.model, member.previous, now), None, None))
            continue
        went = member.version if member.version in held else now
        action = Action.ROLLBACK if member.previous is not None else Action.DEMOTE
        event = Event(member.model, action, member.previous, stage, went)
        changes.append(_Change(Member(member.model, member.previous, went), event,
                               stage_map.with_stage(stage, new)))
    if refused:
        raise PolicyViolation(f"rollback of release {name} {target.n} refused: "
                              f"{' | '.join(refused)}; nothing was written")
    if all(c.event is None for c in changes):
        raise Conflict(f"the stages already hold what they held before release {name} "
                       f"{target.n}; nothing to roll back")
    planned = Release(name, _next_number(registry, name), stage,
                      tuple(c.member for c in changes), ReleaseAction.ROLLBACK,
                      rolls_back=target.n)
    return planned, changes


def _require_history_agrees(registry: Registry, target: Release) -> None:
    """Refuse to restore what a release file says its models replaced unless history says
    so too: an edited file must not put a version in a stage that never held it there."""
    rel = release_file(target.name, target.n)
    registry.history.require_full()
    committed = [r for r in made(registry).values() if r.name == target.name]
    for gone in committed:  # a deleted later release would make this one look the latest
        if not (registry.root / release_file(gone.name, gone.n)).is_file():
            raise CorruptRegistry.at(release_file(gone.name, gone.n), None, "deleted since "
                                     f"commit {gone.commit[:12]} added it; release files are "
                                     "written once: restore it, and run `gitreg check`")
    added = [r for r in committed if r.n == target.n]
    if not added or added[0] != replace(target, commit=added[0].commit, date=added[0].date,
                                        author=added[0].author, tag=added[0].tag):
        raise CorruptRegistry.at(rel, None, "it differs from the file its commit added (or no "
                                 "commit on this branch added it); release files are written "
                                 "once: restore it, and run `gitreg check`")
    (before,) = replaced_at(registry, added[:1])
    wrong = [] if before is None else replaced_problems(
        target, [m.versions_in(target.stage) for m in registry.history.stage_maps_at(
            [(member.model, before) for member in target.members])],
        exclusive=registry.config.is_exclusive(target.stage))
    if wrong:
        raise CorruptRegistry.at(rel, "models", f"{'; '.join(wrong)}; nothing was rolled "
                                 "back: run `gitreg check`")


def _next_number(registry: Registry, name: str) -> int:
    """Past every release file and every release tag of ``name``: never reused."""
    numbers = [0, *(r.n for r in releases(registry, name))]
    for ref in registry.git.tags(f"{release_tag(name, 1)[:-1]}*"):
        parsed = parse_release_tag(ref.name)
        if parsed is not None and parsed[0] == name:
            numbers.append(parsed[1])
    return max(numbers) + 1


def _apply(registry: Registry, tx: Transaction, planned: Release, changes: list[_Change],
           sign: bool) -> tuple[Release, list[Event]]:
    from gitreg.core.records import StageMap
    from gitreg.repo import signing

    git = registry.git
    stage = planned.stage
    moved = [c for c in changes if c.event is not None]
    rel = release_file(planned.name, planned.n)
    stage_rels = [registry.stages_path(c.member.model) for c in moved]
    tx.require_clean([*stage_rels, rel])
    if (registry.root / rel).exists():
        raise Conflict(f"{rel} exists already; run `gitreg check`")
    for change in moved:
        assert change.event is not None and isinstance(change.stages, StageMap)
        if registry.requires_signed(stage, change.member.model):
            signing.require_sign(stage, sign)
            if change.event.version is not None:
                signing.refuse(stage, signing.signed_problems(
                    git, registry.history.events(change.member.model), change.member.model,
                    change.event.version, None))
        tx.write(registry.stages_path(change.member.model), registry.stages_text(change.stages))
    tx.write(rel, yamlio.dumps(release_to_dict(planned)))
    env = identity_env(git)
    # Named first and made with the commit, before the branch moves (Transaction.commit).
    named: dict[str, str | None] = {}  # model -> its stage tag
    tags: list[tuple[str, str]] = []
    here = registry.tags_here()
    if here:
        for change in moved:
            assert change.event is not None
            model = change.member.model
            tag = named[model] = registry.history.next_tag(model, stage)
            tags.append((tag, event_tag_message(change.event)))
        rtag = release_tag(planned.name, planned.n)
        if git.tags(rtag):
            raise Conflict(f"tag {rtag} exists already but {rel} did not; gitreg never moves "
                           "tags: check which commit it belongs to")
        tags.append((rtag, tag_message(planned)))
    commit = tx.commit(commit_message(planned), [*stage_rels, rel], env, sign, tags=tags)
    author = _identity(git, env)
    events = [replace(c.event, commit=commit, tag=named.get(c.member.model), author=author)
              for c in moved if c.event is not None]
    done = replace(planned, commit=commit, author=author)
    if here:
        done = replace(done, tag=tags[-1][0])
        gated = [c.member.model for c in moved if registry.requires_signed(stage, c.member.model)]
        if gated:
            for tag, _ in tags:
                signing.refuse(stage, signing.new_change_problems(git, commit, tag))
    return done, events


def _publish(registry: Registry, change: Callable[[Transaction], list[Event]],
             target: Callable[[], tuple[list[str], str]], *, push: bool, propose: bool,
             made: list[Release]) -> None:
    """Run ``change`` as the registry's writes run; with ``push``, replayed while the
    stages of ``target``'s models (read after catching up) still read the same."""
    def guard() -> str:  # what each model's stage holds, as a conflict's message shows it
        models, stage = target()
        return "; ".join(f"{m} {', '.join(registry.stage_map(m).versions_in(stage)) or '-'}"
                         for m in models) + f" in {stage}"

    registry.publish(change, push=push, guard=guard, propose=propose,
                     branch_of=lambda _events: proposal_branch(made[0]))


def _one_line(reason: str | None) -> str | None:
    if reason is None:
        return None
    from gitreg.core.policy import one_line

    text = reason.strip()
    if not text or not one_line(text):
        raise InvalidInput("{reason} must be one line of text, without line breaks or other "
                           "control characters", params=("reason",))
    return text
