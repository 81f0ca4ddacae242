"""gitreg: a Git-native model registry.

``from gitreg import ModelRegistry, ModelMetadata, ModelStage`` is the Python API; the
``gitreg`` command line is built on it.
"""

from __future__ import annotations

from .api import ModelMetadata, ModelRegistry, ModelStage
from .errors import GitregError
from .events import Action, Event
from .registry import Registry

__all__ = [
    "Action",
    "Event",
    "GitregError",
    "ModelMetadata",
    "ModelRegistry",
    "ModelStage",
    "Registry",
]
__version__ = "0.1.0"
