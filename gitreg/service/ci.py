"""What a CI pipeline needs: the meaning of a pushed tag, and tags for merged changes.

``event`` reads a tag's meaning from its name and from the files at its commit and first
parent (plus the commit's ``Gitreg-*`` trailers), never from the annotation: CI checkouts
may have turned annotated tags into lightweight ones.

``tag`` finds the registrations and stage changes that reached the branch's first-parent
history without a tag (a pull request merged by merge commit, squash or rebase) and tags
them. A stage tag's number is its change's position among the changes of that model and
stage along first-parent history, so numbering stays gapless and in order, and running
it again changes nothing. Tags are never moved: a name taken by another commit is a
conflict.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from pathlib import Path

from gitreg.core.events import (
    Action,
    Event,
    TagName,
    parse_tag,
    stage_tag,
    tag_message,
)
from gitreg.core.events import version_tag as registration_tag
from gitreg.core.lifecycle import (
    DEPRECATED,
    RESTORED,
    WHOLE_MODEL,
    Deprecations,
    LifecycleTag,
    deprecations_from_dict,
    lifecycle_tag,
    parse_lifecycle_tag,
)
from gitreg.core.records import StageMap, named, stages_from_dict
from gitreg.core.release import parse_release_tag, release_tag
from gitreg.core.release import tag_message as release_message
from gitreg.errors import (
    Conflict,
    InvalidInput,
    NotAnEvent,
    NotFound,
    ToolFailed,
)
from gitreg.git.runner import LOG_FIELD, Git, identity_env, last_lines
from gitreg.repo import yamlio
from gitreg.repo.history import Commit, brought_in, claims, commit_of, stage_changes
from gitreg.repo.recent import Held, Prover
from gitreg.repo.transaction import Transaction
from gitreg.service import release_history
from gitreg.service.registry import Registry

_FIELD = LOG_FIELD
REMOTE = "origin"


def event(registry: Registry, ref: str) -> Event:
    """The event a gitreg tag marks, e.g. ``churn/production/3`` or ``churn@v1.2.0``."""
    name = ref.removeprefix("refs/tags/")
    parsed = parse_tag(name)
    lifecycle = parse_lifecycle_tag(name)
    if parsed is None and lifecycle is None:
        raise NotAnEvent(
            f"{ref} is not a gitreg event: gitreg tags are NAME@vVERSION (a registration), "
            "NAME/STAGE/N (a stage change), NAME/deprecated|restored/VERSION/N or "
            "release/NAME/N (a release of several models)"
        )
    git = registry.git
    commit = _commit(git, git.tagged(name))
    unverified, merge = registry.require_held(name, commit.sha)
    later: list[str] = []  # warnings, said once the event is read: an error stays one line
    layout = registry.config.layout
    if lifecycle is not None:
        if not _first_of_its_change(
                git, commit.sha, f"{lifecycle.name}/{lifecycle.what}/{lifecycle.version}/",
                lifecycle.n, functools.partial(_lifecycle_number, lifecycle), name):
            later.append(_cannot_tell(name))
        found = _lifecycle_change(git, commit, layout.deprecated_file(lifecycle.name),
                                  lifecycle, name)
    elif parsed is not None and parsed.version is not None:
        found = _registration(git, commit, layout.version_file(parsed.name, parsed.version),
                              parsed)
    else:
        assert parsed is not None
        if parsed.n is not None and not _first_of_its_change(
                git, commit.sha, f"{parsed.name}/{parsed.stage}/", parsed.n,
                functools.partial(_stage_number, parsed), name):
            later.append(_cannot_tell(name))
        # Read only if a trailer claims a rollback: proved from the stage's tags, or else
        # from the model's whole history (4 s of CPU at 100,000 versions, issue 19).
        model, parent = parsed.name, commit.parents[0] if commit.parents else None
        held = Held({}, Prover(git, layout, model, parent),
                    lambda: _held_all(registry, model, parent)) if parent else {}
        found = _stage_change(git, commit, layout.stages_file(parsed.name), parsed, held)
        if merge is not None:
            _kept_by(git, merge, commit.sha, layout.stages_file(parsed.name), parsed, name)
    unverified()
    for text in later:
        registry.note(text)
    return replace(found, tag=name)


def _first_of_its_change(git: Git, commit: str, prefix: str, n: int,
                         number: Callable[[str], int | None], name: str) -> bool:
    """Refuse gitreg tag ``name`` (number ``n`` of the tags under ``prefix``, such as
    ``churn/production/``; ``number`` reads another's) on a commit that a tag of a lower
    number already marks: one commit changes a stage (or a version's deprecation) once,
    and its tag is the first number given to it. A second tag made later on an old
    promotion's commit (``churn/production/10`` on the commit of ``churn/production/2``)
    would deploy that promotion again, past every rollback since. False where lower
    numbers are missing here and origin did not answer for them: not refused, not proved
    either."""
    out = git.run("for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)",
                  f"refs/tags/{prefix}")
    tags = [line.split("\0") for line in out.split("\n") if line]
    unsure = False
    here = {k for ref, _, _ in tags if (k := number(ref)) is not None}
    if len(here & set(range(1, n))) < n - 1:
        # A CI checkout at the tag holds no other tag (actions/checkout fetches none): the
        # lower numbers are asked of origin, or an old promotion tagged again would deploy.
        remote = _remote_tags(git, prefix)
        if remote is None:
            unsure = True  # neither here nor at origin: said, not silently passed
        else:
            tags = remote
    numbers = [k for ref, sha, peeled in tags
               if (peeled or sha) == commit and (k := number(ref)) is not None]
    first = min(numbers, default=None)
    if first is not None and first < n:
        raise InvalidInput(f"tag {name} is on commit {commit[:12]}, whose change tag "
                           f"{prefix}{first} already marks: a second tag of one change marks "
                           "no new event")
    return not unsure


def _cannot_tell(name: str) -> str:
    return (f"warning: cannot tell whether an earlier tag marks the commit of {name} (an old "
            f"change tagged again): this clone lacks the tags before it, and {REMOTE} did not "
            "answer `git ls-remote`; fetch them first")


def _stage_number(parsed: TagName, ref: str) -> int | None:
    """The number of stage tag ``ref`` (refs/tags/...) if it is one of ``parsed``'s stage."""
    other = parse_tag(ref.removeprefix("refs/tags/"))
    if other is None or (other.name, other.stage) != (parsed.name, parsed.stage):
        return None
    return other.n


def _lifecycle_number(tag: LifecycleTag, ref: str) -> int | None:
    """The number of lifecycle tag ``ref`` if it is one of ``tag``'s (model, kind, version)."""
    other = parse_lifecycle_tag(ref.removeprefix("refs/tags/"))
    if other is None or (other.name, other.what, other.version) != (
            tag.name, tag.what, tag.version):
        return None
    return other.n


def _remote_tags(git: Git, prefix: str) -> list[list[str]] | None:
    """``origin``'s tags under ``prefix`` as (ref, object, peeled commit), from one ``git
    ls-remote`` (names only: nothing is fetched); None without an origin that answers."""
    proc = git.attempt("ls-remote", "--tags", REMOTE, f"refs/tags/{prefix}*")
    if proc.returncode != 0:
        return None
    found: dict[str, list[str]] = {}
    for line in proc.stdout.decode("utf-8", "replace").split("\n"):
        sha, _, ref = line.partition("\t")
        if ref.endswith("^{}"):
            found.setdefault(ref[:-3], [ref[:-3], sha, ""])[2] = sha
        elif ref:
            found.setdefault(ref, [ref, sha, ""])[1] = sha
    return list(found.values())


def _held_all(registry: Registry, model: str, parent: str) -> dict[str, set[str]]:
    """Every version each stage of ``model`` held up to ``parent``: the whole history. A
    shallow clone (the deploy example's depth of 2) lacks it, and would call a rollback a
    promotion: the history is fetched first (``git fetch --unshallow --tags``; a rollback
    whose claim the tags cannot prove is rare, and must not be reported as anything else)."""
    git = registry.git
    if _shallow(git):
        proc = git.attempt("fetch", "--quiet", "--unshallow", "--tags", REMOTE)
        if proc.returncode != 0:
            said = last_lines(proc.stderr.decode("utf-8", "replace")) or "git printed no reason"
            raise NotFound(
                f"the tag's commit says it is a rollback, which only the history this shallow "
                f"clone lacks can prove, and fetching it from {REMOTE} failed ({said}); fetch "
                "it all (git fetch --unshallow --tags, or actions/checkout with fetch-depth: "
                "0) and run it again")
    return registry.history.held(model, parent)


def _lifecycle_change(git: Git, commit: Commit, path: str, tag: LifecycleTag,
                      name: str) -> Event:
    """A deprecation or restore, read from ``deprecated.yaml`` before and at the commit."""
    before, after = _before_after(git, commit, path)
    old = _deprecations(tag.name, before, f"{path} before {commit.sha[:12]}")
    new = _deprecations(tag.name, after, f"{path} at {commit.sha[:12]}")
    added = [v for v in new.versions if old.reason(v) is None]
    removed = [v for v in old.versions if new.reason(v) is None]
    if tag.what == DEPRECATED:
        ok = bool(added) if tag.version == WHOLE_MODEL else tag.version in added
        action, why = Action.DEPRECATE, new.reason(added[0]) if added else None
    else:
        ok, action, why = tag.version in removed, Action.RESTORE, None
    if not ok:
        raise InvalidInput(f"tag {name} is on commit {commit.sha[:12]}, which did not make "
                           f"that change to {path}: it marks no {tag.what} version")
    version = None if tag.version == WHOLE_MODEL else tag.version
    return Event(tag.name, action, version, commit=commit.sha, author=commit.author,
                 date=commit.date, reason=why)


def _deprecations(model: str, blob: bytes | None, source: str) -> Deprecations:
    return Deprecations(model) if blob is None else deprecations_from_dict(
        yamlio.loads(blob, source), source)


def _registration(git: Git, commit: Commit, path: str, tag: TagName) -> Event:
    before, after = _before_after(git, commit, path)
    if after is None or before is not None:
        raise InvalidInput(
            f"tag {_name(tag)} is on commit {commit.sha[:12]}, which did not add {path}: "
            "it marks no registration"
        )
    return Event(tag.name, Action.REGISTER, tag.version, commit=commit.sha,
                 author=commit.author, date=commit.date)


def _name(tag: TagName) -> str:
    if tag.version is not None:
        return registration_tag(tag.name, tag.version)
    return stage_tag(tag.name, tag.stage or "", tag.n or 0)


def _kept_by(git: Git, merge: str, commit: str, path: str, tag: TagName, name: str) -> None:
    """Refuse a stage tag on a commit a merge brought into main (``merge``) if the merge
    did not keep what the commit made of the stage: main never held that state. A change
    in a branch put back before the branch was merged with a merge commit, tagged by hand
    (found in review); a promotion brought in by a merge, as ``git pull`` makes them, is
    kept, and read."""
    at_commit, at_merge = git.cat_files([f"{commit}:{path}", f"{merge}:{path}"])
    then = _stage_map(tag.name, at_commit, f"{path} at {commit[:12]}")
    kept = _stage_map(tag.name, at_merge, f"{path} at {merge[:12]}")
    stage = tag.stage or ""
    if then.versions_in(stage) != kept.versions_in(stage):
        raise InvalidInput(
            f"tag {name} is on commit {commit[:12]}, of a branch that {merge[:12]} brought "
            f"into main without what it made of {tag.name}'s {stage} stage: main never "
            f"held that state; if nobody made the tag on purpose, delete it (git push origin "
            f":refs/tags/{name})")


def _stage_change(git: Git, commit: Commit, path: str, tag: TagName,
                  held: Mapping[str, AbstractSet[str]]) -> Event:
    """What the tag's commit did to the stage; a rollback only to a version the stage
    ``held`` before (history.stage_changes)."""
    before, after = _before_after(git, commit, path)
    # A merge's own message carries no trailers: those of the commits it merged speak.
    said = claims(commit, brought_in(git, [commit]))
    old = _stage_map(tag.name, before, f"{path} before {commit.sha[:12]}")
    new = _stage_map(tag.name, after, f"{path} at {commit.sha[:12]}")
    changes = [e for e in stage_changes(old, new, commit, said, held=held)
               if e.stage == tag.stage]
    if not changes:
        raise InvalidInput(
            f"tag {_name(tag)} is on commit {commit.sha[:12]}, which did not change "
            f"{tag.name}'s {tag.stage} stage in {path}: it marks no stage change"
        )
    # A non-exclusive stage may gain two versions in one commit: the tag names the change,
    # reported by its first new version.
    return next((e for e in changes if e.version is not None), changes[0])


def _before_after(git: Git, commit: Commit, path: str) -> tuple[bytes | None, bytes | None]:
    """``path`` in the commit's first parent and in the commit (None where absent)."""
    if not commit.parents and _shallow(git):
        # A shallow clone's oldest commit shows no parents although it has them.
        raise NotFound(
            f"the parent of {commit.sha[:12]} is not in this shallow clone, so what the tag "
            "changed cannot be read; fetch more history (git fetch --deepen=1, or "
            "actions/checkout with fetch-depth: 0)"
        )
    specs = [f"{parent}:{path}" for parent in commit.parents[:1]] + [f"{commit.sha}:{path}"]
    blobs = git.cat_files(specs)
    return (blobs[0] if commit.parents else None), blobs[-1]


def _stage_map(model: str, blob: bytes | None, source: str) -> StageMap:
    if blob is None:
        return StageMap(model)
    # One that names another model: its changes would be reported as that model's.
    return named(stages_from_dict(yamlio.loads(blob, source), source), model, source)


def _shallow(git: Git) -> bool:
    return git.run("rev-parse", "--is-shallow-repository").strip() == "true"


def _commit(git: Git, sha: str) -> Commit:
    fmt = _FIELD.join(["%H", "%P", "%cI", "%an <%ae>", "%(trailers:only,unfold)", "%b"])
    out = git.run("log", "-1", f"--format={fmt}", sha, "--")
    sha, parents, date, author, trailer_text, body = out.split(_FIELD)
    return commit_of(sha, date, author, trailer_text, body, parents=tuple(parents.split()))


# -- tagging what reached the branch untagged -------------------------------------------


@dataclass(frozen=True)
class _Change:
    """One tag's worth of history: a registration, or one commit's change of one stage."""

    tag: str
    event: Event


def tag(registry: Registry, *, push: bool = False, sign: bool = False) -> list[str]:
    """Tag the registrations and stage changes on HEAD's first-parent chain that lack one.

    Returns the tags created, oldest change first; with ``push``, the tags pushed: those
    created and those on HEAD's history that ``origin`` lacks (made by an earlier ``ci tag``
    without ``--push``), in one atomic push; the new ones are deleted again locally if that
    push fails. ``sign``: signed
    tags (``git tag --sign``), for stages whose policy says ``require_signed``.
    """
    git = registry.git
    if git.head() is None:
        return []
    if _shallow(git):
        raise NotFound(
            "ci tag reads the whole first-parent history, and this clone is shallow; "
            "fetch it all (git fetch --unshallow --tags, or actions/checkout with "
            "fetch-depth: 0)"
        )
    if push and not git.succeeds("remote", "get-url", "--", REMOTE):
        raise NotFound(f"this registry has no git remote {REMOTE!r} to push the tags to; "
                       f"add one with `git remote add {REMOTE} URL`")
    if push:
        # Tags pushed since this checkout was made (a direct promote, another `ci tag`)
        # must count, or their names would be handed out twice. Not --quiet: that also
        # silences why a tag was refused (issue 14).
        git.run("fetch", "--no-write-fetch-head", REMOTE, "refs/tags/*:refs/tags/*")
    with Transaction(git, Path(git.run("rev-parse", "--absolute-git-dir").strip())) as tx:
        missing = _untagged(git, registry.history.events())
        env = identity_env(git)
        for change in missing:
            tx.tag(change.tag, change.event.commit, tag_message(change.event), env, sign)
        created = [change.tag for change in missing]
        for release in release_history.untagged(registry):  # a merged release's own tag (issue 18)
            name = release_tag(release.name, release.n)
            tx.tag(name, release.commit, release_message(release), env, sign)
            created.append(name)
        if not push:
            return created
        # A `ci tag` run before without --push made tags origin still lacks (issue 14).
        unpushed = [t for t in _unpushed(git) if t not in created]
        if created or unpushed:
            tx.publishing(REMOTE, [*unpushed, *created])
            _push(git, [*unpushed, *created])
    return [*unpushed, *created]


def untaggable(registry: Registry) -> list[str]:
    """The files on HEAD's first-parent history that ``tag`` leaves untagged, sorted: where a
    registry file goes, but with a model name or version gitreg refuses
    (``Layout.place``), such as ``models/-rf/versions/1.0.0.yaml``. History has no event
    of them: a tag made of their names would be git's to refuse (wedging every later run)
    or outside the grammar ``ci event`` reads. ``gitreg check`` reports those still in the
    work tree. What ``tag``'s reading of history found, not read again (placing every path
    of 100,000 versions again took 0.8 s)."""
    history = registry.history
    if history.unplaced is None:
        history.events()
    layout = registry.config.layout
    return [path for path in history.unplaced or () if layout.misnamed(path)]


def _unpushed(git: Git) -> list[str]:
    """The gitreg tags on HEAD's history that ``origin`` lacks, oldest first."""
    remote = {line.rpartition("\trefs/tags/")[2] for line in git.run(
        "ls-remote", "--tags", "--refs", "--", REMOTE).splitlines()}
    out = git.run("for-each-ref", "--merged=HEAD", "--sort=creatordate",
                  "--format=%(refname:lstrip=2)", "refs/tags/")
    return [t for t in out.splitlines() if t not in remote
            and (parse_tag(t) is not None or parse_release_tag(t) is not None)]


def _untagged(git: Git, events: Sequence[Event]) -> list[_Change]:
    changes: list[_Change] = []
    counts: dict[tuple[str, str], int] = {}
    for item in events:
        if item.action is Action.REGISTER:
            changes.append(_Change(registration_tag(item.model, item.version or ""), item))
            continue
        if item.action is Action.ANNOTATE:
            continue  # annotations carry no tag (issue 16)
        if item.action in (Action.DEPRECATE, Action.RESTORE):
            what = DEPRECATED if item.action is Action.DEPRECATE else RESTORED
            version = item.version or WHOLE_MODEL
            key = (item.model, f"{what}/{version}")
            counts[key] = counts.get(key, 0) + 1
            changes.append(_Change(lifecycle_tag(item.model, what, version, counts[key]), item))
            continue
        assert item.stage is not None
        if changes and changes[-1].event.commit == item.commit and (
            changes[-1].event.model, changes[-1].event.stage) == (item.model, item.stage):
            continue  # one commit, one stage, several versions: one tag
        key = (item.model, item.stage)
        counts[key] = counts.get(key, 0) + 1
        changes.append(_Change(stage_tag(item.model, item.stage, counts[key]), item))

    targets = {ref.name: ref.target for ref in git.tags()}
    # A change merged by a merge commit may already be tagged on the commit it came from.
    merged = _merged_commits(git, {c.event.commit for c in changes if c.tag not in targets
                                   or targets[c.tag] != c.event.commit})
    missing, conflicts = [], []
    for change in changes:
        commit = change.event.commit
        accepted = {commit, *merged.get(commit, ())}
        if change.event.action is Action.REGISTER:
            tagged = targets.get(change.tag) in accepted
        else:
            prefix = change.tag.rsplit("/", 1)[0] + "/"
            tagged = any(t.startswith(prefix) and target in accepted
                         for t, target in targets.items())
        if tagged:
            continue
        if change.tag in targets:
            conflicts.append(
                f"{change.tag} should mark commit {commit[:12]} ({tag_message(change.event)}) but "
                f"already points at {targets[change.tag][:12]}"
            )
            continue
        missing.append(change)
    if conflicts:
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise Conflict(
            f"tag {conflicts[0]}{more}; gitreg never moves tags: check which commit the "
            "tag belongs to and fix it by hand, then run `gitreg ci tag` again"
        )
    return missing


def _merged_commits(git: Git, commits: set[str]) -> dict[str, set[str]]:
    """For the merge commits among ``commits`` (all on HEAD's first-parent chain): what
    each brought in. One ``rev-list`` finds the merges, one ``log`` what they merged."""
    if not commits:
        return {}
    out = git.run("rev-list", "--first-parent", "--min-parents=2", "--parents", "--reverse",
                  "HEAD", "--")
    merges = []
    for line in out.splitlines():
        sha, *parents = line.split()
        if sha in commits:
            merges.append(Commit(sha, "", "", {}, parents=tuple(parents)))
    found = brought_in(git, merges)
    return {sha: {c.sha for c in merged} for sha, merged in found.items()}


def _push(git: Git, tags: Sequence[str]) -> None:
    proc = git.attempt("push", "--atomic", "--porcelain", REMOTE,
                       *(f"refs/tags/{t}:refs/tags/{t}" for t in tags))
    if proc.returncode == 0:
        return
    said = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    if "already exists" in said or "[rejected]" in said:
        raise Conflict(
            f"{REMOTE} already has some of these tags ({', '.join(tags)}), made since this "
            "clone fetched (another `gitreg ci tag`?); nothing was pushed: fetch the tags "
            "(git fetch --tags) and run again"
        )
    raise ToolFailed(f"git push of the new tags to {REMOTE} failed: "
                     f"{last_lines(said) or 'git printed no reason'}; nothing was pushed")
