"""Releases (issue 18): several models put in one stage together, as one commit.

A release is a file ``releases/<name>/<n>.yaml`` (the stage, each model's version and what
it replaced) committed with every model's ``stages.yaml``, and tagged ``release/<name>/<n>``
on that commit beside each model's own stage tag ``<model>/<stage>/<k>``. ``<n>`` counts the
releases of that name from 1; a rollback of a release is a release of its own (``action:
rollback``, ``rolls_back: <n>``), so the count has no gaps and nothing is rewritten.

The tag deliberately avoids GTO's grammar: GTO (and ``dvc artifacts``) read only
``name@vX`` and ``name#stage#n``, so they ignore ``release/...``. Its three components would
read as the stage tag of a model named ``release``; that name is therefore reserved
(``check_release_model``) and ``parse_tag`` leaves ``release/...`` to ``parse_release_tag``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitreg.core.events import RELEASE_TAG_PREFIX
from gitreg.core.names import Version, check_name, check_ref, check_stage_name
from gitreg.errors import CorruptRegistry, InvalidInput

RELEASES_DIR = "releases"
TAG_PREFIX = RELEASE_TAG_PREFIX
RESERVED_MODEL = "release"  # its stage tags would read as release tags
MAX_MODELS = 100

_TAG = re.compile(r"release/(?P<name>[^/]+)/(?P<n>[1-9][0-9]*)")
_PATH = re.compile(r"releases/(?P<name>[^/]+)/(?P<n>[1-9][0-9]*)\.yaml")


class ReleaseAction(str, enum.Enum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Member:
    """One model of a release: the version the stage holds after it (None: emptied, a
    rollback to nothing) and the one it held before (None: nothing)."""

    model: str
    version: str | None
    previous: str | None


@dataclass(frozen=True)
class Release:
    """What a release file says, plus where history found it (``commit``, ``tag``...)."""

    name: str
    n: int
    stage: str
    members: tuple[Member, ...]
    action: ReleaseAction = ReleaseAction.PROMOTE
    reason: str | None = None
    rolls_back: int | None = None  # for a rollback: the number of the release it undid
    commit: str = ""
    author: str = ""
    date: str = ""
    tag: str | None = None

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(m.model for m in self.members)


def member_holds(member: Member, held: Sequence[str], *, exclusive: bool) -> bool:
    """Whether a stage holding ``held`` holds what ``member`` says a release left there. A
    member without a version emptied an exclusive stage; in a stage of several versions it
    took ``previous`` out (a rollback), leaving the others."""
    if member.version is not None:
        return member.version in held
    if not exclusive and member.previous is not None:
        return member.previous not in held
    return not held


@dataclass(frozen=True)
class Standing:
    """Whether the stages still hold what a release put there: ``now`` maps each model to
    what its stage holds today; ``exclusive``: whether that stage holds one version."""

    release: Release
    now: Mapping[str, tuple[str, ...]]
    exclusive: bool = True

    def holds(self, member: Member) -> bool:
        return member_holds(member, self.now.get(member.model, ()), exclusive=self.exclusive)

    @property
    def state(self) -> str:
        """``complete``: every model as released; ``partial``: some changed since;
        ``replaced``: none is."""
        kept = sum(self.holds(m) for m in self.release.members)
        if kept == len(self.release.members):
            return "complete"
        return "partial" if kept else "replaced"


def check_release_name(name: str) -> str:
    """A release name: a model name's rules (names.py), and a valid part of a tag."""
    try:
        check_name(name)
    except InvalidInput:
        raise InvalidInput(
            f"invalid release name {name!r}: use lowercase letters, digits, '-', '_' and '.', "
            "starting with a letter or digit (no '/', '@', '#', spaces or '..')") from None
    check_ref(f"refs/tags/{release_tag(name, 1)}")
    return name


def check_release_model(name: str) -> str:
    """Refuse the one model name whose stage tags would read as release tags."""
    if name == RESERVED_MODEL:
        raise InvalidInput(f"model name {RESERVED_MODEL!r} is reserved: its stage tags "
                           f"({RESERVED_MODEL}/STAGE/N) would read as release tags; choose "
                           "another name")
    return name


def release_tag(name: str, n: int) -> str:
    return f"{TAG_PREFIX}{name}/{n}"


def parse_release_tag(tag: str) -> tuple[str, int] | None:
    """``(name, n)`` of a release tag, or None for any other tag."""
    return _named(_TAG.fullmatch(tag.removeprefix("refs/tags/")))


def release_file(name: str, n: int) -> str:
    return f"{RELEASES_DIR}/{name}/{n}.yaml"


def parse_release_path(path: str) -> tuple[str, int] | None:
    """``(name, n)`` of a release file's path, or None for any other path."""
    return _named(_PATH.fullmatch(path))


def _named(match: re.Match[str] | None) -> tuple[str, int] | None:
    if match is None:
        return None
    try:
        return check_name(match["name"]), int(match["n"])
    except InvalidInput:
        return None


def proposal_branch(release: Release) -> str:
    verb = "release" if release.action is ReleaseAction.PROMOTE else "rollback-release"
    return f"gitreg/{verb}-{release.name}-{release.n}"


TRAILER_RELEASE = "Gitreg-Release"


def commit_message(release: Release) -> str:
    """Subject, reason, and trailers that every model's history reads: the action, the
    stage and ``Gitreg-Models`` (each model of the release, so that a merge bringing in
    other changes of the stage too does not lend them the release's action), but no
    ``Gitreg-Model`` (one per commit: readers take the last) and no ``Gitreg-Reason`` (that
    trailer marks a ``--force``, which a release never is)."""
    listed = ", ".join(f"{m.model} {m.version or 'nothing'}" for m in release.members)
    if release.action is ReleaseAction.ROLLBACK:
        subject = (f"Roll back release {release.name} {release.rolls_back} in "
                   f"{release.stage}: {listed}")
    else:
        subject = f"Release {release.name} {release.n} to {release.stage}: {listed}"
    body = f"\n\n{release.reason}" if release.reason else ""
    return (f"{subject}{body}\n\nGitreg-Action: {release.action.value}\n"
            f"Gitreg-Stage: {release.stage}\nGitreg-Models: {' '.join(release.models)}\n"
            f"{TRAILER_RELEASE}: {release.name}/{release.n}\n")


def tag_message(release: Release) -> str:
    moved = "; ".join(f"{m.model} {m.previous or 'nothing'} -> {m.version or 'nothing'}"
                      for m in release.members)
    what = "rolled back" if release.action is ReleaseAction.ROLLBACK else "released"
    return f"release {release.name} {release.n} {what} in {release.stage} ({moved})"


def release_to_dict(release: Release) -> dict[str, Any]:
    data: dict[str, Any] = {
        "release": release.name,
        "number": release.n,
        "action": release.action.value,
        "stage": release.stage,
    }
    if release.rolls_back is not None:
        data["rolls_back"] = release.rolls_back
    if release.reason:
        data["reason"] = release.reason
    data["models"] = [{"model": m.model, "version": m.version, "previous": m.previous}
                      for m in release.members]
    return data


def release_from_dict(data: Any, source: str) -> Release:
    """A release file, checked key by key (a cloned registry is untrusted input)."""
    if not isinstance(data, dict):
        raise CorruptRegistry.at(source, None, "expected a mapping with release, number, "
                                 "stage and models")

    def fail(key: str, problem: str) -> CorruptRegistry:
        return CorruptRegistry.at(source, key, problem)

    name = data.get("release")
    n = data.get("number")
    stage = data.get("stage")
    try:
        check_name(name if isinstance(name, str) else "")
    except InvalidInput:
        raise fail("release", "expected a release name") from None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise fail("number", "expected a whole number of at least 1")
    try:
        check_stage_name(stage if isinstance(stage, str) else "")
    except InvalidInput:
        raise fail("stage", "expected a stage name") from None
    try:
        action = ReleaseAction(data.get("action", "promote"))
    except ValueError:
        raise fail("action", "expected promote or rollback") from None
    back = data.get("rolls_back")
    if back is not None and (isinstance(back, bool) or not isinstance(back, int) or back < 1):
        raise fail("rolls_back", "expected the number of the release rolled back")
    if (back is None) != (action is ReleaseAction.PROMOTE):
        raise fail("rolls_back", "a rollback names the release it rolls back; only a "
                   "rollback does")
    reason = data.get("reason")
    if reason is not None and (not isinstance(reason, str) or not reason.isprintable()):
        raise fail("reason", "expected one printable line")
    models = data.get("models")
    if not isinstance(models, list) or not models or len(models) > MAX_MODELS:
        raise fail("models", f"expected a list of 1 to {MAX_MODELS} models")
    members = []
    for i, entry in enumerate(models):
        members.append(_member(entry, f"models[{i}]", fail))
    if len({m.model for m in members}) != len(members):
        raise fail("models", "lists a model twice")
    assert isinstance(name, str) and isinstance(stage, str)
    return Release(name, n, stage, tuple(members), action, reason, back)


def _member(entry: Any, key: str, fail: Any) -> Member:
    if not isinstance(entry, dict):
        raise fail(key, "expected a mapping with model, version and previous")
    model = entry.get("model")
    try:
        check_name(model if isinstance(model, str) else "")
    except InvalidInput:
        raise fail(f"{key}.model", "expected a model name") from None
    versions = []
    for field in ("version", "previous"):
        value = entry.get(field)
        if value is not None and (not isinstance(value, str)
                                  or _normal(value) != value):
            raise fail(f"{key}.{field}", f"{value!r} is not a SemVer version")
        versions.append(value)
    assert isinstance(model, str)
    return Member(model, versions[0], versions[1])


def _normal(text: str) -> str | None:
    try:
        return str(Version.parse(text))
    except InvalidInput:
        return None
