"""End of life and annotations (issue 16): deprecate, restore, annotate.

Each is planned from the current files (``_Plan``: the files to write and the events), then
applied as one transaction (a commit and, for deprecate and restore, a tag) through the
registry's ``publish``, so ``push`` replays it on a remote that moved on, as a promotion
does; or, with ``propose``, committed on a new branch beside the checkout and pushed for
review (tagged by ``gitreg ci tag`` after the merge). Version files are never edited,
except ``annotate``'s description and labels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from gitreg.core.events import Action, Event, commit_message, tag_message
from gitreg.core.lifecycle import (
    DEPRECATED,
    RESTORED,
    WHOLE_MODEL,
    check_reason,
    deprecations_to_dict,
    lifecycle_tag,
    parse_lifecycle_tag,
)
from gitreg.core.names import parse_version
from gitreg.core.records import version_from_dict
from gitreg.errors import Conflict, InvalidInput, NotFound, PolicyViolation
from gitreg.git.runner import Authorship, authored_env, identity_env
from gitreg.repo import yamlio
from gitreg.repo.publish import unpushed_commits
from gitreg.repo.transaction import Transaction
from gitreg.service.registry import Registry

MAX_DESCRIPTION = 10_000
MAX_LABEL = 200


@dataclass(frozen=True)
class _Plan:
    event: Event
    files: Mapping[str, str]  # path -> new text
    also: tuple[Event, ...] = ()  # demotions made by the same commit


@dataclass(frozen=True)
class LifecycleProposal:
    """A deprecation, restore or annotation committed on a branch for review (untagged)."""

    event: Event
    branch: str
    base: str


def deprecate(registry: Registry, name: str, version: str | None, *, reason: str,
              demote: bool = False, push: bool = False, sign: bool = False,
              propose: bool = False, authored: Authorship | None = None,
              ) -> list[Event] | LifecycleProposal:
    """Deprecate one version, or (``version`` None) every version of ``name`` not yet
    deprecated; with ``demote``, take them out of the stages that hold them in the same
    commit. Returns the deprecation, then any demotions. ``authored``: the author and
    date of the commit (imports, as for ``Registry.register``)."""
    registry.start_shared(push=push, propose=propose)
    registry.require_model(name)
    why = check_reason(reason)
    if version is not None:
        version = registry.record(name, version).version

    def plan() -> _Plan:
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
            registry.gate_signing(stage, sign, name)
        layout = registry.config.layout
        files = {layout.deprecated_file(name):
                 yamlio.dumps(deprecations_to_dict(before.with_(targets, why)))}
        if held:
            new_map = stage_map
            for stage in held:
                new_map = new_map.with_stage(
                    stage, tuple(v for v in stage_map.versions_in(stage) if v not in targets))
            files[layout.stages_file(name)] = registry.stages_text(new_map)
        demotions = tuple(Event(name, Action.DEMOTE, None, stage, v)
                          for stage, vs in held.items() for v in vs)
        return _Plan(Event(name, Action.DEPRECATE, version, reason=why), files, demotions)

    return _run(registry, plan, push=push, sign=sign, propose=propose,
                authored=authored)


def restore(registry: Registry, name: str, version: str, *, push: bool = False,
            sign: bool = False, propose: bool = False) -> list[Event] | LifecycleProposal:
    """Undo the deprecation of ``version``: it can be promoted again, and counts for
    ``latest``."""
    registry.start_shared(push=push, propose=propose)
    registry.require_model(name)
    version = registry.record(name, parse_version(version)).version

    def plan() -> _Plan:
        before = registry.deprecations(name)
        if before.reason(version) is None:
            raise NotFound(f"{name} {version} is not deprecated; nothing to restore")
        rel = registry.config.layout.deprecated_file(name)
        return _Plan(Event(name, Action.RESTORE, version),
                     {rel: yamlio.dumps(deprecations_to_dict(before.without(version)))})

    return _run(registry, plan, push=push, sign=sign, propose=propose)


def annotate(registry: Registry, name: str, version: str, *, description: str | None = None,
             labels: Sequence[str] = (), remove_labels: Sequence[str] = (),
             push: bool = False, sign: bool = False,
             propose: bool = False) -> list[Event] | LifecycleProposal:
    """Change a version's description and labels: the one edit of a version file allowed;
    every other key keeps its value and its place."""
    registry.start_shared(push=push, propose=propose)
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
    for label in labels:  # "=x" would be a label no --label KEY can find or remove
        if not label.partition("=")[0].strip():
            raise InvalidInput(f"invalid label {label!r}: expected KEY=VALUE or KEY",
                               params=("label",))
    for key in remove_labels:
        if "=" in key:
            raise InvalidInput(f"{{remove_label}} takes a KEY, not {key!r}",
                               params=("remove_label",))
    rel = registry.config.layout.version_file(name, record.version)

    def plan() -> _Plan:
        current = registry.record(name, record.version)
        keys = {label.partition("=")[0] for label in labels} | set(remove_labels)
        kept = [lb for lb in current.labels if lb.partition("=")[0] not in keys]
        new_labels = list(dict.fromkeys([*kept, *labels]))
        new_description = current.description if description is None else (description or None)
        if (new_description, tuple(new_labels)) == (current.description, current.labels):
            raise Conflict(f"{name} {record.version} already has that description and "
                           "those labels; nothing to do")
        # The file as it is, with those two keys replaced: the diff shows exactly them.
        data = yamlio.load_file(registry.root / rel, rel)
        data["description"], data["labels"] = new_description, new_labels
        version_from_dict(data, rel)  # still a valid version file
        return _Plan(Event(name, Action.ANNOTATE, record.version), {rel: yamlio.dumps(data)})

    return _run(registry, plan, push=push, sign=sign, propose=propose)


def _run(registry: Registry, plan: Callable[[], _Plan], *, push: bool, sign: bool,
         propose: bool, authored: Authorship | None = None) -> list[Event] | LifecycleProposal:
    if propose:
        if push:
            raise InvalidInput("{propose} pushes a branch for review; it cannot be combined "
                               "with {push}", params=("propose", "push"))
        return _propose(registry, plan, sign)

    def change(tx: Transaction) -> list[Event]:
        planned = plan()
        event = planned.event
        tx.require_clean(list(planned.files))
        for rel, text in planned.files.items():
            tx.write(rel, text)
        env = authored_env(registry.git, authored)
        # Tagged as a promotion is: now on the main branch, by `ci tag` after a merge.
        tagging = registry.tags_here()
        tags: list[tuple[str, str]] = []
        if tagging and event.action is not Action.ANNOTATE:
            tag = next_lifecycle_tag(registry, event)
            tags.append((tag, tag_message(event)))
            event = replace(event, tag=tag)
        demotions = []
        stage_tags: dict[str, str] = {}  # stage -> its tag on this commit
        for demotion in planned.also:
            # A demotion is a stage change like any other: it takes the stage's next tag
            # (DESIGN.md 2), or a pipeline on `churn/production/*` would not see it and the
            # stage's numbers would have a gap until `ci tag` filled it. This commit will be
            # the stage's next change along the first-parent chain; one tag a stage, as `ci
            # tag` gives it, however many versions leave the stage (a second tag on the
            # same commit is one `ci event` refuses).
            stage = demotion.stage
            if tagging and stage is not None:
                if stage not in stage_tags:
                    stage_tags[stage] = registry.history.next_tag(demotion.model, stage)
                    tags.append((stage_tags[stage], tag_message(demotion)))
                demotion = replace(demotion, tag=stage_tags[stage])
            demotions.append(demotion)
        commit = tx.commit(commit_message(event), list(planned.files), env, sign, tags=tags)
        author = _identity(registry, env)
        return [replace(e, commit=commit, author=author) for e in (event, *demotions)]

    return registry.publish(change, push=push)


def _propose(registry: Registry, plan: Callable[[], _Plan], sign: bool) -> LifecycleProposal:
    from gitreg.git.sync import Sync

    sync = Sync(registry.git)
    sync.require_remote()
    git = registry.git
    base = sync.branch()
    with registry.transaction():  # the lock: nobody moves the branch while we read it
        sync.fast_forward(base, sync.fetch(base).tip)
        unpushed = unpushed_commits(sync, base)
        registry.reload_config()
        planned = plan()  # first: a change refused anyway says why
        if unpushed is not None:
            raise unpushed
        event = planned.event
        branch = (f"gitreg/{event.action.value}-{event.model}-"
                  f"{event.version or WHOLE_MODEL}")
        if git.succeeds("ls-remote", "--exit-code", "--heads", "--", sync.remote,
                        f"refs/heads/{branch}"):
            raise Conflict(f"a proposal branch {branch} already exists on {sync.remote}; "
                           "merge or delete it first")
        env = identity_env(git)
        head = git.head()
        assert head is not None
        files = {rel: text.encode() for rel, text in planned.files.items()}
        commit = git.commit_beside(head, files, commit_message(event), env, sign)
        sync.push_branch(commit, branch)
    return LifecycleProposal(replace(event, commit=commit, author=_identity(registry, env)),
                             branch, base)


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


def _identity(registry: Registry, env: Mapping[str, str]) -> str:
    return registry.git.run("var", "GIT_AUTHOR_IDENT", env=env).strip().rsplit(" ", 2)[0]
