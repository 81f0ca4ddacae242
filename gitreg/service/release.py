"""Releases (issue 18): promote and roll back several models together, as one commit.

A release writes every model's ``stages.yaml`` and ``releases/<name>/<n>.yaml`` in one
commit, tagged ``release/<name>/<n>`` and, per model, ``<model>/<stage>/<k>`` (core/release.py
has the file and tag grammar). It goes through the registry's own write machinery: one
``Transaction`` (journal, crash recovery), ``Registry.publish`` for ``--push`` (replay and
renumbering, a conflict if any of its models' stage moved meanwhile) and ``--propose``.

Every model's policy is checked before anything is written; one failure refuses the whole
release, naming every model that fails. What CI and review read of releases (``ci event``,
``diff --release``, ``check``) is in release_review.py.
"""

from __future__ import annotations

import os
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
    RELEASES_DIR,
    Member,
    Release,
    ReleaseAction,
    Standing,
    check_release_model,
    check_release_name,
    commit_message,
    parse_release_path,
    parse_release_tag,
    proposal_branch,
    release_file,
    release_from_dict,
    release_tag,
    release_to_dict,
    tag_message,
)
from gitreg.errors import Conflict, CorruptRegistry, InvalidInput, NotFound, PolicyViolation
from gitreg.git.runner import identity_env
from gitreg.repo import yamlio
from gitreg.repo.history import next_stage_tag
from gitreg.repo.paths import check_real
from gitreg.service.registry import Registry, _identity

_RECORD, _FIELD = "\x1e", "\x1f"
RELEASES_TAG_ROOT = "release"  # git's literal pattern: every ref below refs/tags/release/

if TYPE_CHECKING:
    from gitreg.repo.transaction import Transaction

# Writes and diffs import what they need (signing, compare) when they run: `history`, which
# folds releases into its events, starts without them (issue 5's budgets).


@dataclass(frozen=True)
class _Change:
    """One model's part of a planned release: its new stage map (None: unchanged)."""

    member: Member
    event: Event | None
    stages: object  # StageMap, or None when the model already holds the version


# -- reading ------------------------------------------------------------------------------


def releases(registry: Registry, name: str | None = None) -> list[Release]:
    """The release files in the work tree (of release ``name``, or all), by name and number."""
    base = registry.root / RELEASES_DIR
    check_real(registry.root, RELEASES_DIR)
    if not base.is_dir():
        return []
    found = []
    folders = [name] if name is not None else sorted(os.listdir(base))
    for folder in folders:
        rel_folder = f"{RELEASES_DIR}/{folder}"
        check_real(registry.root, rel_folder)
        if not (registry.root / rel_folder).is_dir():
            continue
        for entry in os.listdir(registry.root / rel_folder):
            rel = f"{rel_folder}/{entry}"
            place = parse_release_path(rel)
            if place is None:
                continue
            release = release_from_dict(yamlio.load_file(registry.root / rel, rel), rel)
            if (release.name, release.n) != place:
                raise CorruptRegistry.at(rel, "release/number", f"says {release.name} "
                                         f"{release.n}, but the file's place says {place[0]} "
                                         f"{place[1]}")
            found.append(release)
    return sorted(found, key=lambda r: (r.name, r.n))


def latest(registry: Registry, name: str) -> Release:
    check_release_name(name)
    made = releases(registry, name)
    if not made:
        known = ", ".join(sorted({r.name for r in releases(registry)})[:10]) or "none yet"
        raise NotFound(f"no release {name!r} (releases: {known}); make one with "
                       f"`gitreg release {name} --model MODEL@VERSION --stage STAGE`")
    return made[-1]


def standing(registry: Registry, name: str, n: int | None = None) -> Standing:
    """What release ``name`` (its latest, or number ``n``) put in its stage, and whether the
    stages still hold it (a later promotion of one of its models makes it partial)."""
    release = numbered(registry, name, n)
    with_tag = tagged(registry, release)
    now = {m.model: registry.stage_map(m.model).versions_in(release.stage)
           for m in release.members}
    return Standing(with_tag, now)


def numbered(registry: Registry, name: str, n: int | None) -> Release:
    """Release ``n`` of ``name`` (None: the latest); NotFound naming the numbers there are."""
    last = latest(registry, name)
    if n is None or n == last.n:
        return last
    found = [r for r in releases(registry, name) if r.n == n]
    if not found:
        numbers = ", ".join(str(r.n) for r in releases(registry, name))
        raise NotFound(f"release {name} has no number {n} (it has {numbers})")
    return found[0]


def tagged(registry: Registry, release: Release) -> Release:
    tag = release_tag(release.name, release.n)
    refs = registry.git.tags(tag)
    return replace(release, tag=tag, commit=refs[0].target) if refs else release


def made(registry: Registry) -> dict[str, Release]:
    """The releases along HEAD's first-parent history, by the commit that added each file
    (one ``git log`` and one ``cat-file --batch``); a file that does not parse is left out
    (``gitreg check`` reports it)."""
    git = registry.git
    if not (registry.root / RELEASES_DIR).is_dir() or git.head() is None:
        return {}  # no release here: `history` spends no git call on them
    out = git.run("log", "--first-parent", "--no-renames", "--diff-filter=A", "--name-only",
                  f"--format={_RECORD}%H{_FIELD}%cI{_FIELD}%an <%ae>{_FIELD}", "HEAD", "--",
                  f"{RELEASES_DIR}/")
    added: list[tuple[str, str, str, str]] = []
    for record in out.split(_RECORD)[1:]:
        sha, date, author, names = record.split(_FIELD)
        added += [(sha, date, author, path) for path in names.split("\n")
                  if parse_release_path(path) is not None]
    tags = {}
    for ref in git.tags(RELEASES_TAG_ROOT):
        parsed = parse_release_tag(ref.name)
        if parsed is not None:
            tags[parsed] = (ref.name, ref.target)
    found: dict[str, Release] = {}
    blobs = git.cat_files([f"{sha}:{path}" for sha, _, _, path in added])
    for (sha, date, author, path), blob in zip(added, blobs, strict=True):
        place = parse_release_path(path)
        if blob is None or place is None:
            continue
        try:
            release = release_from_dict(yamlio.loads(blob, path), path)
        except CorruptRegistry:
            continue
        if (release.name, release.n) != place:
            continue
        tag, target = tags.get(place, (None, ""))
        found[sha] = replace(release, commit=sha, date=date, author=author,
                             tag=tag if target == sha else None)
    return found


def history(registry: Registry, events: Sequence[Event]) -> list[Event | Release]:
    """``events`` with each release's stage changes folded into one entry, where its first
    one was: a release is one event with its models (issue 18)."""
    by_commit = made(registry) if events else {}
    result: list[Event | Release] = []
    seen: set[str] = set()
    for event in events:
        release = by_commit.get(event.commit)
        if release is None or event.stage != release.stage:
            result.append(event)
        elif event.commit not in seen:
            seen.add(event.commit)
            result.append(release)
    return result


def untagged(registry: Registry) -> list[Release]:
    """The releases on HEAD's first-parent history without their tag (``ci tag``: a
    proposal merged by squash, rebase or merge commit)."""
    found = made(registry)
    if not found:
        return []
    taken = {ref.name for ref in registry.git.tags(RELEASES_TAG_ROOT)}  # one for-each-ref
    return [r for r in found.values() if r.tag is None and release_tag(r.name, r.n) not in taken]


# -- writing ------------------------------------------------------------------------------


def release(
    registry: Registry, name: str, models: Sequence[str], stage: str, *,
    reason: str | None = None, push: bool = False, propose: bool = False, sign: bool = False,
) -> Release:
    """Put every listed version (``MODEL@VERSION``, ``MODEL@latest``, ``MODEL#STAGE``) in
    ``stage`` in one commit, tagged ``release/NAME/N`` and per model; every model's policy
    first, and one failure refuses it all, naming every model that fails."""
    check_release_name(name)
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
        raise InvalidInput("name the release's models with {model} MODEL@VERSION (repeatable)",
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
    for record in records:
        model, version = record.name, record.version
        why = registry.deprecations(model).reason(version)
        if why is not None:
            refused.append(f"{model} {version} is deprecated ({why})")
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
            continue
        event = Event(model, Action.PROMOTE, version, stage, previous,
                      policy=rules.label if rules is not None else None)
        new = (version,) if exclusive else (*held, version)
        changes.append(_Change(Member(model, version, previous), event,
                               stage_map.with_stage(stage, new)))
    if refused:
        count = f"{len(refused)} of its {len(records)} models"
        raise PolicyViolation(f"release {name} refused, {count} fail: {' | '.join(refused)} "
                              f"(in {CONFIG_FILE}); nothing was written: release versions "
                              "that pass")
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
    stage = target.stage
    exclusive = registry.config.is_exclusive(stage)
    changes = []
    for member in target.members:
        registry.require_model(member.model)
        stage_map = registry.stage_map(member.model)
        held = stage_map.versions_in(stage)
        if member.previous is not None:
            registry.record(member.model, member.previous)  # it must still be registered
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
    if all(c.event is None for c in changes):
        raise Conflict(f"the stages already hold what they held before release {name} "
                       f"{target.n}; nothing to roll back")
    planned = Release(name, _next_number(registry, name), stage,
                      tuple(c.member for c in changes), ReleaseAction.ROLLBACK,
                      rolls_back=target.n)
    return planned, changes


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
    commit = tx.commit(commit_message(planned), [*stage_rels, rel], env, sign)
    author = _identity(git, env)
    events: list[Event] = []
    tags: list[str] = []
    here = registry.tags_here()
    for change in moved:
        assert change.event is not None
        model = change.member.model
        tag = None
        if here:
            position = len({e.commit for e in registry.history.events(model, stage)})
            tag = next_stage_tag(git, model, stage, position)
            tx.tag(tag, commit, event_tag_message(change.event), env, sign)
            tags.append(tag)
        events.append(replace(change.event, commit=commit, tag=tag, author=author))
    done = replace(planned, commit=commit, author=author)
    if here:
        rtag = release_tag(planned.name, planned.n)
        if git.tags(rtag):
            raise Conflict(f"tag {rtag} exists already but {rel} did not; gitreg never moves "
                           "tags: check which commit it belongs to")
        tx.tag(rtag, commit, tag_message(planned), env, sign)
        tags.append(rtag)
        done = replace(done, tag=rtag)
        gated = [c.member.model for c in moved if registry.requires_signed(stage, c.member.model)]
        if gated:
            for tag in tags:
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
