"""gitreg: a Git-native model registry.

``from gitreg import ModelRegistry, ModelMetadata, ModelStage`` is the Python API; the
``gitreg`` command line is built on it. Names are imported on first use, so that the
command line, which needs only part of the package, starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitreg.api import ModelMetadata, ModelRegistry, ModelStage
    from gitreg.core.events import Action, Event
    from gitreg.errors import GitregError
    from gitreg.service.registry import Registry

_WHERE = {
    "ModelMetadata": "api",
    "ModelRegistry": "api",
    "ModelStage": "api",
    "GitregError": "errors",
    "Action": "core.events",
    "Event": "core.events",
    "Registry": "service.registry",
}

__all__ = [
    "Action",
    "Event",
    "GitregError",
    "ModelMetadata",
    "ModelRegistry",
    "ModelStage",
    "Registry",
]
# The one place the version is written: pyproject.toml reads it (dynamic), `gitreg --version`
# prints it, and a release is tagged v<this> (README "Releases", scripts/release.sh).
__version__ = "0.3.0"


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'gitreg' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
