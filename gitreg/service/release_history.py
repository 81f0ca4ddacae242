"""Reading releases (issue 18): the release files in the work tree, the releases along
HEAD's history (``history`` folds them into one event each, ``ci tag`` tags the merged
ones), and whether the stages still hold what a release put there. No writes here, and no
import of signing or compare: ``history`` starts without them (issue 5's budgets).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from gitreg.core.events import Event
from gitreg.core.release import (
    RELEASES_DIR,
    Release,
    Standing,
    check_release_name,
    parse_release_path,
    parse_release_tag,
    release_file,
    release_from_dict,
    release_tag,
)
from gitreg.errors import CorruptRegistry, NotFound
from gitreg.git.runner import LOG_FIELD, LOG_RECORD
from gitreg.repo import yamlio
from gitreg.repo.paths import check_real
from gitreg.service.registry import Registry

_RECORD, _FIELD = LOG_RECORD, LOG_FIELD
RELEASES_TAG_ROOT = "release"  # git's literal pattern: every ref below refs/tags/release/


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
    return Standing(with_tag, now, registry.config.is_exclusive(release.stage))


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
    """``release`` with its tag, and the commit, date and author the tag marks."""
    tag = release_tag(release.name, release.n)
    refs = registry.git.tags(tag)
    if not refs:
        return release
    sha = refs[0].target
    date, _, author = registry.git.run("log", "-1", "--format=%cI%x00%an <%ae>", sha,
                                       "--").strip().partition("\0")
    return replace(release, tag=tag, commit=sha, date=date, author=author)


def made(registry: Registry, *,
         even_without_folder: bool = False) -> dict[tuple[str, int], Release]:
    """The releases along HEAD's first-parent history, by name and number, each with the
    commit that added its file (one ``git log`` and one ``cat-file --batch``; a squash can
    add several in one commit); a file that does not parse is left out
    (``gitreg check`` reports it). Without a ``releases`` folder, none (``history`` spends
    no git call on them) unless ``even_without_folder`` (its files deleted since)."""
    git = registry.git
    if git.head() is None or not (
            even_without_folder or (registry.root / RELEASES_DIR).is_dir()):
        return {}
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
    found: dict[tuple[str, int], Release] = {}
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
        found[place] = replace(release, commit=sha, date=date, author=author,
                               tag=tag if target == sha else None)
    return found


def history(registry: Registry, events: Sequence[Event]) -> list[Event | Release]:
    """``events`` with each release's stage changes folded into one entry, where its first
    one was: a release is one event with its models (issue 18). Only a change of one of
    its models in its stage is folded: a squash may bring other changes (another release,
    a single promotion) in the same commit."""
    by_commit: dict[str, list[Release]] = {}
    for found in (made(registry) if events else {}).values():
        by_commit.setdefault(found.commit, []).append(found)
    result: list[Event | Release] = []
    seen: set[tuple[str, int]] = set()
    for event in events:
        release = next((r for r in by_commit.get(event.commit, ())
                        if r.stage == event.stage and event.model in r.models), None)
        if release is None:
            result.append(event)
        elif (release.name, release.n) not in seen:
            seen.add((release.name, release.n))
            result.append(release)
    return result


def replaced_problems(release: Release, held_before: Sequence[Sequence[str]], *,
                      exclusive: bool) -> list[str]:
    """Where ``release`` says a model's stage held a ``previous`` that the stages just
    before it (``held_before``, per member: see ``replaced_at``; HEAD's for a file not yet
    committed) contradict. ``rollback --release`` restores ``previous``, so it is never taken
    on the file's word alone (a cloned registry is untrusted input): in an exclusive stage it
    is the version that stage held, elsewhere one of those it held, or nothing."""
    found = []
    for member, held in zip(release.members, held_before, strict=True):
        if exclusive:
            right = member.previous == (held[0] if held else None)
        else:
            right = member.previous is None or member.previous in held
        if not right:
            found.append(f"{member.model}: says it replaced {member.previous or 'nothing'} "
                         f"in {release.stage}, but the stage held "
                         f"{', '.join(held) or 'nothing'} before the release")
    return found


def replaced_at(registry: Registry, added: Sequence[Release]) -> list[str | None]:
    """For each committed release, the commit whose stages it replaced: the parent of the
    commit that added its file, or for a merge commit, of the merged branch's commit that
    added it (a branch may change a model's stage, then release it); None where this clone
    lacks it (the oldest commit of a shallow clone). Two ``cat-file --batch`` for them all."""
    git = registry.git
    befores: list[str | None] = []
    for release, body in zip(added, git.cat_files([r.commit for r in added]), strict=True):
        header = (body or b"").partition(b"\n\n")[0].split(b"\n")
        parents = [line[7:].decode() for line in header if line.startswith(b"parent ")]
        before = parents[0] if parents else None
        if len(parents) > 1:
            found = git.run("log", "--diff-filter=A", "--format=%H", "-1",
                            f"{parents[0]}..{release.commit}", "--",
                            release_file(release.name, release.n), check=False).strip()
            before = f"{found}^" if found else before
        befores.append(before)
    asked = [b for b in befores if b is not None]
    present = {b for b, body in zip(asked, git.cat_files(asked), strict=True)
               if body is not None}
    return [b if b in present else None for b in befores]


def untagged(registry: Registry) -> list[Release]:
    """The releases on HEAD's first-parent history without their tag (``ci tag``: a
    proposal merged by squash, rebase or merge commit)."""
    found = made(registry)
    if not found:
        return []
    taken = {ref.name for ref in registry.git.tags(RELEASES_TAG_ROOT)}  # one for-each-ref
    return [r for r in found.values() if r.tag is None and release_tag(r.name, r.n) not in taken]
