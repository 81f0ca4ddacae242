"""``gitreg export model-card``: a registered version as a Hugging Face model card (issue 17)."""

from __future__ import annotations

from gitreg.core import modelcard
from gitreg.repo import yamlio
from gitreg.service.registry import Registry


def model_card(registry: Registry, name: str, version: str) -> str:
    """The card's text: YAML front matter between ``---`` lines, then markdown."""
    record = registry.record(name, version)
    meta = modelcard.front_matter(record)
    head = f"---\n{yamlio.dumps(meta)}---\n\n" if meta else ""
    return head + modelcard.body(record)
