"""End of life and annotations (issue 16): deprecate, restore, annotate.

Each is one transaction (a commit and, for deprecate and restore, a tag) through the
registry's ``publish``, so ``push`` replays it on a remote that moved on, as for a promotion.
Version files are never edited, except ``annotate``'s description and labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from gitreg.core.events import Action, Event, commit_message, tag_message
from gitreg.core.lifecycle import (
    DEPRECATED,
    RESTORED,
    WHOLE_MODEL,
    Deprecations,
    check_reason,
    deprecations_to_dict,
    lifecycle_tag,
    parse_lifecycle_tag,
)
from gitreg.core.names import parse_version
from gitreg.core.records import StageMap, version_from_dict
from gitreg.errors import Conflict, InvalidInput, NotFound, PolicyViolation
from gitreg.git.runner import identity_env
from gitreg.repo import yamlio
from gitreg.repo.transaction import Transaction
from gitreg.service.registry import Registry

MAX_DESCRIPTION = 10_000
MAX_LABEL = 200


def deprecate(registry: Registry, name: str, version: str | None, *, reason: str,
              demote: bool = False, push: bool = False, sign: bool = False) -> list[Event]:
    """Deprecate one version, or (``version`` None) every version of ``name`` not yet
    deprecated; with ``demote``, take them out of the stages that hold them in the same
    commit. Returns the deprecation, then any demotions."""
    registry.require_model(name)
    why = check_reason(reason)
    if version is not None:
        version = registry.record(name, version).version

    def change(tx: Transaction) -> list[Event]:
        before = registry.deprecations(name)
        if version is not None:
            if before.reason(version) is not None:
                raise Conflict(f"{name} {version} is already deprecated "
                               f"({before.reason(version)}); nothing to do")
            targets = [version]
        else:
            targets = [r.version for r in registry.versions(name)
                       if before.reason(r.version) is None]
            if not targets:
                raise Conflict(f"every version of {name} is already deprecated; nothing to do")
        stage_map = registry.stage_map(name)
        held = {stage: [v for v in vs if v in targets] for stage, vs in stage_map.stages.items()}
        held = {stage: vs for stage, vs in held.items() if vs}
        if held and not demote:
            where = ", ".join(f"{', '.join(vs)} in {stage}" for stage, vs in held.items())
            raise PolicyViolation(f"{name} holds {where}; promote another version there "
                                  "first, or pass {demote} to empty those stages in the same "
                                  "commit", params=("demote",))
        for stage in held:
            registry.gate_signing(stage, sign)
        event = Event(name, Action.DEPRECATE, version, reason=why)
        demotions = [Event(name, Action.DEMOTE, None, stage, v)
                     for stage, vs in held.items() for v in vs]
        new_map = stage_map
        for stage in held:
            new_map = new_map.with_stage(
                stage, tuple(v for v in stage_map.versions_in(stage) if v not in targets))
        return _commit(registry, tx, event, before.with_(targets, why), new_map, demotions,
                       sign)

    return registry.publish(change, push=push)


def restore(registry: Registry, name: str, version: str, *, push: bool = False,
            sign: bool = False) -> Event:
    """Undo the deprecation of ``version``: it can be promoted again, and counts for
    ``latest``."""
    registry.require_model(name)
    version = parse_version(version)
    registry.record(name, version)

    def change(tx: Transaction) -> list[Event]:
        before = registry.deprecations(name)
        if before.reason(version) is None:
            raise NotFound(f"{name} {version} is not deprecated; nothing to restore")
        event = Event(name, Action.RESTORE, version)
        return _commit(registry, tx, event, before.without(version), None, [], sign)

    (event,) = registry.publish(change, push=push)
    return event


def _commit(registry: Registry, tx: Transaction, event: Event, after: Deprecations,
            stage_map: StageMap | None, demotions: Sequence[Event], sign: bool) -> list[Event]:
    layout = registry.config.layout
    rel = layout.deprecated_file(event.model)
    paths = [rel]
    tx.require_clean([rel, layout.stages_file(event.model)])
    tx.write(rel, yamlio.dumps(deprecations_to_dict(after)))
    if stage_map is not None and demotions:
        paths.append(registry.stages_path(event.model))
        tx.write(paths[-1], registry.stages_text(stage_map))
    env = identity_env(registry.git)
    commit = tx.commit(commit_message(event), paths, env, sign)
    tag = next_lifecycle_tag(registry, event)
    tx.tag(tag, commit, tag_message(event), env, sign)
    author = _identity(registry, env)
    return [replace(e, commit=commit, author=author)
            for e in (replace(event, tag=tag), *demotions)]


def next_lifecycle_tag(registry: Registry, event: Event) -> str:
    """``<name>/deprecated|restored/<version>/<n>``, past every such tag there is."""
    what = DEPRECATED if event.action is Action.DEPRECATE else RESTORED
    version = event.version or WHOLE_MODEL
    numbers = [0]
    for ref in registry.git.tags(f"{event.model}/{what}/{version}/*"):
        parsed = parse_lifecycle_tag(ref.name)
        if parsed is not None:
            numbers.append(parsed.n)
    return lifecycle_tag(event.model, what, version, max(numbers) + 1)


def annotate(registry: Registry, name: str, version: str, *, description: str | None = None,
             labels: Sequence[str] = (), remove_labels: Sequence[str] = (),
             push: bool = False, sign: bool = False) -> Event:
    """Change a version's description and labels: the one edit of a version file allowed;
    every other field stays as registered (the file is rewritten from the same record)."""
    record = registry.record(name, version)
    if description is None and not labels and not remove_labels:
        raise InvalidInput("say what to change: {description}, {label} or {remove_label}",
                           params=("description", "label", "remove_label"))
    if description is not None and (len(description) > MAX_DESCRIPTION
                                    or "\x00" in description):
        raise InvalidInput(f"{{description}} may have at most {MAX_DESCRIPTION} characters",
                           params=("description",))
    for label in (*labels, *remove_labels):
        if not label.strip() or len(label) > MAX_LABEL or not label.isprintable():
            raise InvalidInput(f"invalid label {label!r}: one printable line of at most "
                               f"{MAX_LABEL} characters", params=("label",))
    rel = registry.config.layout.version_file(name, record.version)

    def change(tx: Transaction) -> list[Event]:
        current = registry.record(name, record.version)
        keys = {label.partition("=")[0] for label in labels} | set(remove_labels)
        kept = [lb for lb in current.labels if lb.partition("=")[0] not in keys]
        new_labels = list(dict.fromkeys([*kept, *labels]))
        new_description = current.description if description is None else (description or None)
        if (new_description, tuple(new_labels)) == (current.description, current.labels):
            raise Conflict(f"{name} {record.version} already has that description and "
                           "those labels; nothing to do")
        # The file as it is, with those two keys replaced: every other key keeps its value
        # and its place, so the diff shows exactly the annotation.
        data = yamlio.load_file(registry.root / rel, rel)
        data["description"], data["labels"] = new_description, new_labels
        version_from_dict(data, rel)  # still a valid version file
        tx.require_clean([rel])
        tx.write(rel, yamlio.dumps(data))
        event = Event(name, Action.ANNOTATE, record.version)
        env = identity_env(registry.git)
        commit = tx.commit(commit_message(event), [rel], env, sign)
        return [replace(event, commit=commit, author=_identity(registry, env))]

    (event,) = registry.publish(change, push=push)
    return event


def _identity(registry: Registry, env: Mapping[str, str]) -> str:
    return registry.git.run("var", "GIT_AUTHOR_IDENT", env=env).strip().rsplit(" ", 2)[0]
