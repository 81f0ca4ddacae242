"""End of life (issue 16): which versions are deprecated, and the tags that name it.

Version files are written once (DESIGN.md 1), so deprecation lives beside them, in
``models/<name>/deprecated.yaml``: version -> why. A deprecation or a restore is a commit
that edits that file only (and ``stages.yaml`` with ``--demote``), tagged
``<name>/deprecated/<version>/<n>`` or ``<name>/restored/<version>/<n>`` (``<version>``
``all`` for a whole model). GTO reads only ``name@vX`` and ``name#stage#n``, and
``dvc artifacts`` only what GTO reads, so they ignore these; four components never match
the stage tag ``<name>/<stage>/<n>``, and ``churn@v1.2.0/...`` would collide with the
registration tag's ref in git's namespace (a ref cannot be a file and a folder).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitreg.core.names import Version, check_name
from gitreg.errors import CorruptRegistry, InvalidInput

LATEST = "latest"
WHOLE_MODEL = "all"
MAX_REASON = 1000


@dataclass(frozen=True)
class Deprecations:
    """What ``deprecated.yaml`` holds: each deprecated version and why."""

    name: str
    versions: Mapping[str, str] = field(default_factory=dict)  # version -> reason

    def reason(self, version: str) -> str | None:
        return self.versions.get(version)

    def with_(self, versions: Iterable[str], reason: str) -> Deprecations:
        return Deprecations(self.name, {**self.versions, **dict.fromkeys(versions, reason)})

    def without(self, version: str) -> Deprecations:
        return Deprecations(self.name, {k: v for k, v in self.versions.items() if k != version})


def check_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("say why with {reason}", params=("reason",))
    if len(text) > MAX_REASON or not text.isprintable():
        raise InvalidInput(f"{{reason}} must be one printable line of at most {MAX_REASON} "
                           "characters", params=("reason",))
    return text


def deprecations_from_dict(data: Any, source: str) -> Deprecations:
    if not isinstance(data, dict):
        raise CorruptRegistry.at(source, None, "expected a mapping with model and versions")
    name = data.get("model")
    try:
        if not isinstance(name, str):
            raise InvalidInput("not text")
        check_name(name)
    except InvalidInput:
        raise CorruptRegistry.at(source, "model", f"{name!r} is no model name") from None
    versions = data.get("versions") or {}
    if not isinstance(versions, dict):
        raise CorruptRegistry.at(source, "versions", "expected a mapping version -> reason")
    result = {}
    for version, entry in versions.items():
        try:
            text = str(Version.parse(str(version)))
        except InvalidInput:
            raise CorruptRegistry.at(source, f"versions.{version}", "not a SemVer") from None
        if text != version:  # one spelling per version, as gitreg writes it
            raise CorruptRegistry.at(source, f"versions.{version}", f"write it as {text}")
        reason = entry.get("reason") if isinstance(entry, dict) else None
        if not isinstance(reason, str):
            raise CorruptRegistry.at(source, f"versions.{version}.reason", "expected text")
        try:
            check_reason(reason)  # what `deprecate --reason` accepts: a hand edit too
        except InvalidInput:
            raise CorruptRegistry.at(
                source, f"versions.{version}.reason",
                f"expected one printable line of 1 to {MAX_REASON} characters") from None
        result[text] = reason
    return Deprecations(name, result)


def deprecations_to_dict(deprecations: Deprecations) -> dict[str, Any]:
    ordered = sorted(deprecations.versions, key=Version.parse)
    return {"model": deprecations.name,
            "versions": {v: {"reason": deprecations.versions[v]} for v in ordered}}


def latest(versions: Iterable[str], deprecations: Deprecations) -> str | None:
    """The highest SemVer that is neither deprecated nor a prerelease."""
    candidates = [Version.parse(v) for v in versions if deprecations.reason(v) is None]
    releases = [v for v in candidates if not v.prerelease]
    return str(max(releases)) if releases else None


# -- tags -----------------------------------------------------------------------------

DEPRECATED, RESTORED = "deprecated", "restored"
_TAG = re.compile(r"(?P<name>[^/@#]+)/(?P<what>deprecated|restored)/(?P<version>[^/]+)/"
                  r"(?P<n>[1-9][0-9]*)")


@dataclass(frozen=True)
class LifecycleTag:
    name: str
    what: str  # DEPRECATED or RESTORED
    version: str  # a SemVer, or WHOLE_MODEL
    n: int


def lifecycle_tag(name: str, what: str, version: str, n: int) -> str:
    return f"{name}/{what}/{version}/{n}"


def parse_lifecycle_tag(tag: str) -> LifecycleTag | None:
    match = _TAG.fullmatch(tag.removeprefix("refs/tags/"))
    if match is None:
        return None
    try:
        name = check_name(match["name"])
        version = match["version"]
        if version != WHOLE_MODEL:
            version = str(Version.parse(version))
            if version != match["version"]:
                return None  # one spelling per version, so one tag per event
    except InvalidInput:
        return None
    if match["what"] == RESTORED and version == WHOLE_MODEL:
        return None
    return LifecycleTag(name, match["what"], version, int(match["n"]))
