"""Model names, stage names and SemVer versions: checked before they become paths or refs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache, total_ordering

from gitreg.errors import InvalidInput

MAX_NAME_LENGTH = 100
# A version becomes a file name (<version>.yaml) and the last component of a tag
# (<name>@v<version>, one file under .git/refs/tags): both at most 255 bytes.
MAX_VERSION_LENGTH = 128

# A model name, every rule of ``check_name`` in one expression, so that ``layout.place`` can
# check the names of 300,000 paths of a clone's history at the cost of one match each: no
# "..", and git refuses ref components that end in "." or ".lock".
NAME_PATTERN = (rf"(?![^/]*\.\.)[a-z0-9][a-z0-9._-]{{0,{MAX_NAME_LENGTH - 1}}}"
                r"(?<!\.)(?<!\.lock)")
_NAME = re.compile(NAME_PATTERN)
_STAGE = re.compile(r"[a-z][a-z0-9_-]*")
# The regular expression published with SemVer 2.0.0, in ASCII (SemVer's identifiers are
# [0-9A-Za-z-]; Python's \d also matches other scripts' digits, which int() reads).
_SEMVER_TEXT = (
    r"(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)\.(?P<patch>0|[1-9][0-9]*)"
    r"(?:-(?P<pre>(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
_SEMVER = re.compile(r"v?" + _SEMVER_TEXT)  # input may carry a leading "v"
# A version as gitreg spells it (``str(Version.parse(text)) == text``), in a file name or a
# tag: no "v", no leading zeros, not ending in ".lock" (``Version._parse``). Its length,
# at most MAX_VERSION_LENGTH, is for the caller to check.
VERSION_PATTERN = _SEMVER_TEXT + r"(?<!\.lock)"


def check_name(name: str) -> str:
    """Return ``name`` if it may name a model, else raise ``InvalidInput``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid model name {name!r}: use lowercase letters, digits, '-', '_' and '.', "
            f"starting with a letter or digit (no '/', '@', '#', spaces or '..'), "
            f"at most {MAX_NAME_LENGTH} characters"
        )
    return name


def check_stage_name(stage: str) -> str:
    """Return ``stage`` if it may name a stage, else raise ``InvalidInput``."""
    if not isinstance(stage, str) or len(stage) > 50 or not _STAGE.fullmatch(stage):
        raise InvalidInput(
            f"invalid stage name {stage!r}: use lowercase letters, digits, '-' and '_', "
            "starting with a letter"
        )
    return stage


def _prerelease_key(pre: str) -> tuple[tuple[int, int | str], ...]:
    # SemVer 11.4: numeric identifiers sort numerically and before alphanumeric ones.
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))


@total_ordering
@dataclass(frozen=True)
class Version:
    """A SemVer 2.0 version; orders by SemVer precedence (build metadata ignored)."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        if cls is Version and isinstance(text, str):
            return _parsed(text)  # a big registry parses each version many times (issue 19)
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> Version:
        if isinstance(text, str) and len(text) > MAX_VERSION_LENGTH:
            raise InvalidInput(f"invalid version {text[:20]!r}...: longer than "
                               f"{MAX_VERSION_LENGTH} characters")
        match = _SEMVER.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise InvalidInput(
                f"invalid version {text!r}: expected SemVer such as 1.2.0 or 2.0.0-rc.1"
            )
        if text.strip().endswith(".lock"):
            # git refuses a ref component that ends in ".lock" (git check-ref-format): the
            # tag name<@vVERSION> could never be made, so refuse it before any write.
            raise InvalidInput(f"invalid version {text!r}: git refuses tag names that end "
                               "in '.lock'")
        return cls(
            int(match["major"]),
            int(match["minor"]),
            int(match["patch"]),
            match["pre"] or "",
            match["build"] or "",
        )

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += f"-{self.prerelease}"
        if self.build:
            text += f"+{self.build}"
        return text

    def precedence(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        """What SemVer orders versions by, as a tuple: sort by it rather than by the
        versions, whose comparisons run in Python."""
        # A release sorts after all of its pre-releases.
        pre = _prerelease_key(self.prerelease) if self.prerelease else ()
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.precedence() < other.precedence()

    def bump(self, part: str) -> Version:
        if part == "major":
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            return Version(self.major, self.minor + 1, 0)
        if part == "patch":
            # 1.3.0-rc.1 bumps to the release it anticipates, as SemVer tools do.
            if self.prerelease:
                return Version(self.major, self.minor, self.patch)
            return Version(self.major, self.minor, self.patch + 1)
        raise InvalidInput(f"invalid bump {part!r}: use major, minor or patch")


FIRST_VERSION = Version(0, 1, 0)


@lru_cache(maxsize=1 << 16)
def _parsed(text: str) -> Version:
    """``Version._parse``, remembered (Versions are frozen; errors are not remembered)."""
    return Version._parse(text)


def parse_version(text: str) -> str:
    """Normalise a user's version text (``v1.2.0`` -> ``1.2.0``) or raise ``InvalidInput``."""
    return str(Version.parse(text))


_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")


def check_ref(ref: str) -> str:
    """Return ``ref`` if git would accept it as a ref name (the rules of ``git
    check-ref-format``), else raise ``InvalidInput``: every name that becomes a tag or a
    branch passes here before the first change."""
    parts = ref.split("/")
    if (not ref or ref == "@" or _REF_FORBIDDEN.search(ref) or ref.endswith((".", "/"))
            or any(not p or p.startswith(".") or p.endswith(".lock") or len(p) > 255
                   for p in parts)):
        raise InvalidInput(f"{ref!r} cannot be a git ref name (git check-ref-format)")
    return ref


@dataclass(frozen=True)
class ModelRef:
    """What ``NAME``, ``NAME@VERSION`` or ``NAME#STAGE`` on the command line names;
    ``NAME@latest`` keeps ``latest``, which the registry resolves (issue 16)."""

    name: str
    version: str | None = None
    stage: str | None = None

    @classmethod
    def parse(cls, text: str, *, latest: bool = False) -> ModelRef:
        """``latest``: accept ``NAME@latest`` (not where a pinned version is needed, such
        as ``depends_on``)."""
        if "@" in text:
            name, _, version = text.partition("@")
            return cls(check_name(name), version=version if latest and version == "latest"
                       else parse_version(version))
        if "#" in text:
            name, _, stage = text.partition("#")
            return cls(check_name(name), stage=check_stage_name(stage))
        return cls(check_name(text))


def safe_basename(name: str) -> str:
    """The name weights get in the registry: plain characters only, never hidden. ``get``
    into a folder writes no other name: a cloned registry could otherwise put ``.envrc`` or
    ``.bashrc`` where the user runs it."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    return cleaned or "weights"
