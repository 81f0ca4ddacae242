"""Where each file of a registry lives (DESIGN.md 1), spelled in one place.

```
<models_dir>/<name>/stages.yaml
<models_dir>/<name>/versions/<version>.yaml
<models_dir>/<name>/artifacts/<version>/...
<models_dir>/<name>/deprecated.yaml        (issue 16: core/lifecycle.py)
```

Paths are relative to the registry's root, with ``/`` separators, as git spells them.
``models_dir`` comes from ``registry.yaml`` (``layout.models_dir``, default ``models``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import NamedTuple

from gitreg.core.names import MAX_VERSION_LENGTH, NAME_PATTERN, VERSION_PATTERN

STAGES_FILE = "stages.yaml"
DEPRECATED_FILE = "deprecated.yaml"
VERSIONS_DIR = "versions"
ARTIFACTS_DIR = "artifacts"
YAML = ".yaml"


class Kind(str, Enum):
    STAGES = "stages"
    VERSION = "version"
    DEPRECATIONS = "deprecations"


class Place(NamedTuple):
    """What a path in the layout is: a model's stages file or one of its version files. A
    tuple, not a frozen dataclass: a full ``check`` places 300,000 paths at 100,000 versions,
    and building a frozen dataclass was two thirds of it."""

    kind: Kind
    model: str
    version: str | None = None


@dataclass(frozen=True)
class Layout:
    models_dir: str = "models"
    # ``_files(models_dir)``, looked up once (``place``).
    _match: Callable[[str], re.Match[str] | None] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_match", _files(self.models_dir))

    def model(self, name: str) -> str:
        return f"{self.models_dir}/{name}"

    def versions(self, name: str) -> str:
        return f"{self.model(name)}/{VERSIONS_DIR}"

    def version_file(self, name: str, version: str) -> str:
        return f"{self.versions(name)}/{version}{YAML}"

    def version_files(self, name: str, versions: Iterable[str]) -> list[str]:
        """``version_file`` of each of ``versions`` (one model's 100 at a time, in a list)."""
        folder = self.versions(name)
        return [f"{folder}/{version}{YAML}" for version in versions]

    def stages_file(self, name: str) -> str:
        return f"{self.model(name)}/{STAGES_FILE}"

    def deprecated_file(self, name: str) -> str:
        return f"{self.model(name)}/{DEPRECATED_FILE}"

    def artifacts(self, name: str, version: str) -> str:
        return f"{self.artifacts_dir(name)}/{version}"

    def artifacts_dir(self, name: str) -> str:
        """The folder of every version's weights folder."""
        return f"{self.model(name)}/{ARTIFACTS_DIR}"

    def patterns(self, name: str | None = None) -> tuple[str, str, str]:
        """git pathspecs of the stages files, version files and deprecation files (of one
        model, or all)."""
        model = self.model(name or "*")
        return (f"{model}/{STAGES_FILE}", f"{model}/{VERSIONS_DIR}/*{YAML}",
                f"{model}/{DEPRECATED_FILE}")

    def place(self, path: str) -> Place | None:
        """The inverse: which registry file ``path`` is, if it is one whose model name and
        version gitreg accepts (names.py). A cloned registry's history may hold any path
        (``models/-rf/versions/01.0.0.yaml``), and a place's names become tags and paths:
        whatever is read from history goes through here. One match a path: a full ``check``
        asks it of 300,000 at 100,000 versions."""
        found = self._match(path)
        if found is None:
            return None
        model, kind, version = found.group("model", "kind", "version")
        if kind == STAGES_FILE:
            return Place(Kind.STAGES, model)
        if kind == DEPRECATED_FILE:
            return Place(Kind.DEPRECATIONS, model)
        if len(version) > MAX_VERSION_LENGTH:
            return None
        return Place(Kind.VERSION, model, version)

    def misnamed(self, path: str) -> bool:
        """Whether ``path`` is where a registry file would be but ``place`` refuses its
        model name or version (``ci tag`` says what it leaves untagged)."""
        return self.place(path) is None and _shapes(self.models_dir)(path) is not None


@lru_cache(maxsize=8)
def _files(models_dir: str) -> Callable[[str], re.Match[str] | None]:
    """``fullmatch`` of the registry files under ``models_dir`` with valid names."""
    return re.compile(
        rf"{re.escape(models_dir)}/(?P<model>{NAME_PATTERN})/(?:(?P<kind>"
        rf"{re.escape(STAGES_FILE)}|{re.escape(DEPRECATED_FILE)})|{re.escape(VERSIONS_DIR)}/"
        rf"(?P<version>{VERSION_PATTERN}){re.escape(YAML)})").fullmatch


@lru_cache(maxsize=8)
def _shapes(models_dir: str) -> Callable[[str], re.Match[str] | None]:
    """``fullmatch`` of the paths where registry files go, whatever their names."""
    return re.compile(
        rf"{re.escape(models_dir)}/[^/]+/(?:{re.escape(STAGES_FILE)}|"
        rf"{re.escape(DEPRECATED_FILE)}|{re.escape(VERSIONS_DIR)}/[^/]*{re.escape(YAML)})",
        re.DOTALL).fullmatch
