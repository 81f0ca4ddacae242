"""Releases under review and in CI (issue 18): what a release tag marks (``ci event``), what
a proposed release changes (``diff --release``) and what ``check`` finds wrong in release
files. Reads only: the writes are in release.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
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
from gitreg.errors import CorruptRegistry, InvalidInput
from gitreg.git.runner import LOG_FIELD
from gitreg.repo import yamlio
from gitreg.repo.paths import check_real
from gitreg.service.registry import Registry
from gitreg.service.release_history import (
    RELEASES_TAG_ROOT,
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
    sha = git.tagged(tag)  # a commit, one level in: no tree, blob or tag of a tag
    unverified, _ = registry.require_held(tag, sha)
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
    for problem in _disagreements(registry, release, _held_at(registry, release, sha)):
        raise InvalidInput(f"tag {tag}: {problem}")
    fmt = f"%an <%ae>{LOG_FIELD}%cI"
    author, _, date = git.run("log", "-1", f"--format={fmt}", sha, "--").strip().partition(
        LOG_FIELD)
    unverified()
    return replace(release, commit=sha, tag=tag, author=author, date=date)


def _disagreements(registry: Registry, release: Release,
                   held: Sequence[Sequence[str]]) -> list[str]:
    """Where the stages (``held``, per member: at the commit that added the release, or in
    the work tree) do not hold what ``release`` says its models hold."""
    found = []
    exclusive = registry.config.is_exclusive(release.stage)
    for member, versions in zip(release.members, held, strict=True):
        if member_holds(member, versions, exclusive=exclusive):
            continue
        said = (member.version or "nothing" if exclusive or member.previous is None
                else f"without {member.previous}")
        found.append(f"{member.model}'s {release.stage} holds "
                     f"{', '.join(versions) or 'nothing'} there, not {said} as the release says")
    return found


def _held_at(registry: Registry, release: Release, rev: str) -> list[tuple[str, ...]]:
    return [m.versions_in(release.stage) for m in registry.history.stage_maps_at(
        [(member.model, rev) for member in release.members])]


def problems(registry: Registry,
             only: Sequence[str] | None = None) -> list[tuple[str, str, str]]:
    """What ``gitreg check`` reports about release files, as (file, key, message): each must
    parse, name registered versions of known models and a stage of the registry, and agree
    with the stages at the commit that added it (in the work tree: with the stages there);
    what it says each model replaced must be what the stage held before that commit; a
    committed file is never edited or deleted; a release tag must mark that commit.
    Policies gate each model's ``stages.yaml`` as for any promotion (check.py). ``only``:
    the release files a pull request touches (``check --base``); None for all. History is
    read in a few batches for all the files, not per file."""
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
    parsed: list[tuple[str, Release, list[tuple[str, str, str]]]] = []
    for rel in _files(base, only):
        place = parse_release_path(rel)
        if place is None:
            found.append((rel, "path", "not a release file: releases/NAME/N.yaml, N a whole "
                          "number from 1"))
            continue
        try:
            check_real(registry.root, rel)
            release = release_from_dict(yamlio.load_file(registry.root / rel, rel), rel)
        except CorruptRegistry as exc:
            found.append((rel, "file", str(exc)))
            continue
        if (release.name, release.n) != place:
            found.append((rel, "release/number", f"says {release.name} {release.n}, but the "
                          "file's place says otherwise"))
            continue
        said = [(rel, key, text) for key, text in _member_problems(registry, release)]
        at = committed.get(place)
        if at is not None and at != replace(release, commit=at.commit, date=at.date,
                                            author=at.author, tag=at.tag):
            said.append((rel, "file", f"edited since commit {at.commit[:12]} added it; "
                         "release files are written once (a rollback is a new release)"))
        parsed.append((rel, release, said))
    found += _against_history(registry, parsed, committed)
    return found


def _files(base: Path, only: Sequence[str] | None) -> list[str]:
    files = []
    for folder in sorted(os.listdir(base)):
        for entry in sorted(os.listdir(base / folder)) if (base / folder).is_dir() else ():
            rel = f"{RELEASES_DIR}/{folder}/{entry}"
            if only is None or rel in only:
                files.append(rel)
    return files


def _against_history(registry: Registry,
                     parsed: Sequence[tuple[str, Release, list[tuple[str, str, str]]]],
                     committed: Mapping[tuple[str, int], Release]) -> list[tuple[str, str, str]]:
    """Each parsed release file's problems, then where the stages at its commit (or in the
    work tree), the stages before it, and its tag disagree with it: every stage map in one
    ``cat-file --batch``, every tag in one ``for-each-ref``."""
    git = registry.git
    adders = [committed[(r.name, r.n)] for _, r, _ in parsed if (r.name, r.n) in committed]
    befores = dict(zip(((a.name, a.n) for a in adders), replaced_at(registry, adders),
                       strict=True))
    head = "HEAD" if git.head() is not None else None
    wanted: list[tuple[str, str]] = []
    for _, release, _ in parsed:
        at = committed.get((release.name, release.n))
        before = befores[release.name, release.n] if at is not None else head
        for rev in (at.commit if at is not None else None, before):
            if rev is not None:
                wanted += [(member.model, rev) for member in release.members]
    maps = iter(registry.history.stage_maps_at(wanted))
    tags = {ref.name: ref.target for ref in git.tags(RELEASES_TAG_ROOT)}
    found: list[tuple[str, str, str]] = []
    for rel, release, said in parsed:
        found += said
        place = (release.name, release.n)
        at = committed.get(place)
        before = befores[place] if at is not None else head
        exclusive = registry.config.is_exclusive(release.stage)
        held: list[list[tuple[str, ...]]] = []
        for rev in (at.commit if at is not None else None, before):
            if rev is not None:
                held.append([next(maps).versions_in(release.stage) for _ in release.members])
        now = held.pop(0) if at is not None else [
            registry.stage_map(m.model).versions_in(release.stage) for m in release.members]
        found += [(rel, "models", f"{text}; a release changes the stages with it, in the "
                   "same commit") for text in _disagreements(registry, release, now)]
        if before is not None:
            found += [(rel, "models", f"{text} (what `rollback --release` would restore)")
                      for text in replaced_problems(release, held[0], exclusive=exclusive)]
        tag = release_tag(*place)
        if tag in tags and at is not None and tags[tag] != at.commit:
            found.append((rel, "tag", f"{tag} marks {tags[tag][:12]}, not the commit that "
                          f"added this file ({at.commit[:12]})"))
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
