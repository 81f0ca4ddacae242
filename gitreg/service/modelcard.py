"""``gitreg export model-card``: a registered version as a Hugging Face model card (issue 17)."""

from __future__ import annotations

from gitreg.core import modelcard
from gitreg.core.records import VersionRecord
from gitreg.repo import yamlio
from gitreg.service.registry import Registry


def model_card(registry: Registry, name: str, version: str) -> str:
    """The card's text: YAML front matter between ``---`` lines, then markdown."""
    return card_text(registry.record(name, version))


def card_text(record: VersionRecord) -> str:
    """``model_card`` of a record in hand (the site writes one beside each version page)."""
    meta = modelcard.front_matter(record)
    head = f"---\n{yamlio.dumps_plain(meta)}---\n\n" if meta else ""
    return head + modelcard.body(record)
