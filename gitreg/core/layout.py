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

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

STAGES_FILE = "stages.yaml"
DEPRECATED_FILE = "deprecated.yaml"
VERSIONS_DIR = "versions"
ARTIFACTS_DIR = "artifacts"
YAML = ".yaml"


class Kind(str, Enum):
    STAGES = "stages"
    VERSION = "version"
    DEPRECATIONS = "deprecations"


@dataclass(frozen=True)
class Place:
    """What a path in the layout is: a model's stages file or one of its version files."""

    kind: Kind
    model: str
    version: str | None = None


@dataclass(frozen=True)
class Layout:
    models_dir: str = "models"

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
        """The inverse: which registry file ``path`` is, if it is one (names unchecked)."""
        prefix = f"{self.models_dir}/"
        if not path.startswith(prefix):
            return None
        parts = path[len(prefix):].split("/")
        if len(parts) == 2 and parts[1] == STAGES_FILE:
            return Place(Kind.STAGES, parts[0])
        if len(parts) == 2 and parts[1] == DEPRECATED_FILE:
            return Place(Kind.DEPRECATIONS, parts[0])
        if len(parts) == 3 and parts[1] == VERSIONS_DIR and parts[2].endswith(YAML):
            return Place(Kind.VERSION, parts[0], parts[2][: -len(YAML)])
        return None
