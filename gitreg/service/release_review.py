"""Releases under review and in CI (issue 18): what a release tag marks (``ci event``), what
a proposed release changes (``diff --release``) and what ``check`` finds wrong in release
files. Reads only: the writes are in release.py.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gitreg.core.config import CONFIG_FILE
from gitreg.core.release import (
    RELEASES_DIR,
    Member,
    Release,
    member_holds,
    parse_release_path,
    parse_release_tag,
    release_file,
    release_from_dict,
    release_tag,
)
from gitreg.errors import CorruptRegistry, InvalidInput, NotFound
from gitreg.git.runner import LOG_FIELD
from gitreg.repo import yamlio
from gitreg.repo.paths import check_real
from gitreg.service.registry import Registry
from gitreg.service.release_history import (
    made,
    numbered,
    replaced_at,
    replaced_problems,
    tagged,
)

if TYPE_CHECKING:
    from gitreg.core.diff import VersionDiff


def event(registry: Registry, ref: str) -> Release:
    """What the release tag ``ref`` (``release/NAME/N``) marks, read from its commit: the
    release file that commit added, which each model's ``stages.yaml`` there must agree
    with (derived from the files, never from the annotation or the trailers)."""
    from gitreg.errors import NotAnEvent

    tag = ref.removeprefix("refs/tags/")
    parsed = parse_release_tag(tag)
    if parsed is None:
        raise NotAnEvent(f"{ref} is not a gitreg release tag (release/NAME/N)")
    git = registry.git
    sha = git.resolve(f"refs/tags/{tag}")
    if sha is None:
        raise NotFound(f"no tag {tag} in this clone; fetch tags first (git fetch --tags)")
    rel = release_file(*parsed)
    parent = git.run("rev-parse", "-q", "--verify", f"{sha}^", check=False).strip()
    before, after = git.cat_files([f"{parent}:{rel}" if parent else f"{sha}:{rel}",
                                   f"{sha}:{rel}"])
    if after is None or (parent and before is not None):
        raise InvalidInput(f"tag {tag} is on commit {sha[:12]}, which did not add {rel}: it "
                           "marks no release")
    release = release_from_dict(yamlio.loads(after, f"{rel} at {sha[:12]}"), rel)
    if (release.name, release.n) != parsed:
        raise CorruptRegistry.at(rel, "release/number", f"says {release.name} {release.n}")
    for problem in _disagreements(registry, release, sha):
        raise InvalidInput(f"tag {tag}: {problem}")
    fmt = f"%an <%ae>{LOG_FIELD}%cI"
    author, _, date = git.run("log", "-1", f"--format={fmt}", sha, "--").strip().partition(
        LOG_FIELD)
    return replace(release, commit=sha, tag=tag, author=author, date=date)


def _disagreements(registry: Registry, release: Release, rev: str | None) -> list[str]:
    """Where the stages (at ``rev``, or in the work tree) do not hold what ``release``
    says its models hold."""
    found = []
    exclusive = registry.config.is_exclusive(release.stage)
    for member in release.members:
        if rev is None:
            held = registry.stage_map(member.model).versions_in(release.stage)
        else:
            held = registry.history.stage_map_at(member.model, rev).versions_in(release.stage)
        if member_holds(member, held, exclusive=exclusive):
            continue
        said = (member.version or "nothing" if exclusive or member.previous is None
                else f"without {member.previous}")
        found.append(f"{member.model}'s {release.stage} holds {', '.join(held) or 'nothing'} "
                     f"there, not {said} as the release says")
    return found


def problems(registry: Registry,
             only: Sequence[str] | None = None) -> list[tuple[str, str, str]]:
    """What ``gitreg check`` reports about release files, as (file, key, message): each must
    parse, name registered versions of known models and a stage of the registry, and agree
    with the stages at the commit that added it (in the work tree: with the stages there);
    a release tag must mark that commit. Policies gate each model's ``stages.yaml`` as for
    any promotion (check.py). ``only``: the release files a pull request touches
    (``check --base``); None for all."""
    found: list[tuple[str, str, str]] = []
    base = registry.root / RELEASES_DIR
    try:
        check_real(registry.root, RELEASES_DIR)
    except CorruptRegistry as exc:
        return [(RELEASES_DIR, "path", str(exc))]
    # A pull request that deletes the folder is asked about its files; a full check of a
    # registry without one reads no history for them.
    committed = made(registry, even_without_folder=only is not None)
    for added in committed.values():
        rel = release_file(added.name, added.n)
        if (only is None or rel in only) and not (registry.root / rel).is_file():
            found.append((rel, "file", f"deleted since commit {added.commit[:12]} added it; "
                          "release files are written once (rollback --release reads them)"))
    if not base.is_dir():
        return found
    head = registry.git.head() is not None
    for folder in sorted(os.listdir(base)):
        for entry in sorted(os.listdir(base / folder)) if (base / folder).is_dir() else ():
            rel = f"{RELEASES_DIR}/{folder}/{entry}"
            if only is not None and rel not in only:
                continue
            place = parse_release_path(rel)
            if place is None:
                found.append((rel, "path", "not a release file: releases/NAME/N.yaml, N a "
                              "whole number from 1"))
                continue
            try:
                check_real(registry.root, rel)
                release = release_from_dict(yamlio.load_file(registry.root / rel, rel), rel)
            except CorruptRegistry as exc:
                found.append((rel, "file", str(exc)))
                continue
            if (release.name, release.n) != place:
                found.append((rel, "release/number", f"says {release.name} {release.n}, but "
                              "the file's place says otherwise"))
                continue
            found += [(rel, key, text) for key, text in _member_problems(registry, release)]
            at = committed.get(place)
            if at is not None and at != replace(release, commit=at.commit, date=at.date,
                                                author=at.author, tag=at.tag):
                found.append((rel, "file", f"edited since commit {at.commit[:12]} added it; "
                              "release files are written once (a rollback is a new release)"))
            found += [(rel, "models", f"{text}; a release changes the stages with it, in the "
                       "same commit") for text in _disagreements(
                           registry, release, at.commit if at else None)]
            before = (replaced_at(registry, at) if at is not None
                      else "HEAD" if head else None)
            if before is not None:
                found += [(rel, "models", f"{text} (what `rollback --release` would restore)")
                          for text in replaced_problems(registry, release, before)]
            tag = release_tag(*place)
            refs = registry.git.tags(tag)
            if refs and at is not None and refs[0].target != at.commit:
                found.append((rel, "tag", f"{tag} marks {refs[0].target[:12]}, not the commit "
                              f"that added this file ({at.commit[:12]})"))
    return found


def _member_problems(registry: Registry, release: Release) -> list[tuple[str, str]]:
    found = []
    if release.stage not in registry.config.stages:
        found.append(("stage", f"unknown stage {release.stage!r}: {CONFIG_FILE} lists "
                      f"{', '.join(registry.config.stages)}"))
    for i, member in enumerate(release.members):
        for version in (member.version, member.previous):
            if version is None:
                continue
            path = registry.root / registry.config.layout.version_file(member.model, version)
            if not path.is_file():
                found.append((f"models[{i}]", f"{member.model} {version} is not registered"))
    return found


@dataclass(frozen=True)
class ReleaseDiff:
    """What a release changes, model by model: the diff of each version against the one
    it replaces (None where the stage held nothing before, or the version stays).

    With ``against`` (an earlier release of the name), each member's ``previous`` is what
    ``against`` left instead: the models of both releases, ``against``'s first."""

    release: Release
    diffs: tuple[tuple[Member, VersionDiff | None], ...]
    against: Release | None = None


def diff(registry: Registry, name: str, n: int | None = None,
         m: int | None = None) -> ReleaseDiff:
    """Release ``n`` of ``name`` (default: the latest, the proposed one on a pull request's
    checkout), each model's version compared with what it replaced; with ``m`` too, release
    ``m`` compared with release ``n`` (``gitreg diff --release NAME N M``, like
    ``gitreg diff NAME A B``)."""
    from gitreg.service.compare import compare

    if m is not None and n is None:
        raise InvalidInput("give release N before release M")
    release = numbered(registry, name, n if m is None else m)
    against = numbered(registry, name, n) if m is not None else None
    members = release.members
    if against is not None:
        after = {member.model: member.version for member in release.members}
        before = {member.model: member.version for member in against.members}
        members = tuple(Member(model, after.get(model), before.get(model))
                        for model in dict.fromkeys([*before, *after]))
    found: list[tuple[Member, VersionDiff | None]] = []
    for member in members:
        if member.version and member.previous and member.version != member.previous:
            found.append((member, compare(registry, member.model, member.previous,
                                          member.version)))
        else:
            found.append((member, None))
    return ReleaseDiff(tagged(registry, release), tuple(found),
                       tagged(registry, against) if against is not None else None)
