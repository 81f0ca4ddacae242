"""``gitreg export model-card``: a registered version as a Hugging Face model card (issue 17)."""

from __future__ import annotations

import os
from pathlib import Path

from gitreg.core import modelcard
from gitreg.core.records import VersionRecord
from gitreg.errors import Conflict
from gitreg.repo import paths, yamlio
from gitreg.service.registry import Registry


def model_card(registry: Registry, name: str, version: str) -> str:
    """The card's text: YAML front matter between ``---`` lines, then markdown."""
    return card_text(registry.record(name, version))


def card_text(record: VersionRecord) -> str:
    """``model_card`` of a record in hand (the site writes one beside each version page)."""
    meta = modelcard.front_matter(record)
    head = f"---\n{yamlio.dumps_plain(meta)}---\n\n" if meta else ""
    return head + modelcard.body(record)


def write_card(output: Path, text: str, *, force: bool = False, folder: bool = False) -> Path:
    """Write a card to ``output``, or to ``README.md`` in it when it is a folder (where the
    Hugging Face Hub reads a card); ``folder``: it is one, made if missing. An existing
    file is replaced only with ``force``: a model repository's README.md is often written
    by hand (as ``get -o`` keeps files)."""
    made = folder and not os.path.lexists(output)
    paths.check_output(output / "README.md" if folder else output)
    target = output / "README.md" if folder or output.is_dir() else output
    if target.is_dir():
        raise Conflict(f"{target} is a folder; give a file to write the card to")
    if (target.exists() or target.is_symlink()) and not force:
        raise Conflict(f"{target} exists; pass {{force}} to replace it", params=("force",))
    if made:
        output.mkdir(parents=True)
    try:
        yamlio.write_atomic(target, text)
    except BaseException:
        if made:
            output.rmdir()
        raise
    return target
