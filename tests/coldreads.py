"""How many files a fresh process would parse for ``list`` and ``which``: the proof that a
write (an import, issue 17) left the caches warm (repo/cache.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gitreg.core.query import Query
from gitreg.repo import parsers
from gitreg.service.registry import Registry


def parsed_by_list_and_which(root: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files that ``list --all`` and ``which`` of every model and stage parse in a new
    Registry (a new process's view: its in-memory cache is empty)."""
    parsed: list[str] = []
    for name in ("VERSIONS", "STAGES"):
        parser = getattr(parsers, name)

        def counting(data: bytes, source: str, parse: Any = parser.parse) -> Any:
            parsed.append(source)
            return parse(data, source)

        monkeypatch.setattr(parsers, name, replace(parser, parse=counting))
    registry = Registry(root)
    registry.catalog(query=Query(include_deprecated=True))
    for model in registry.models():
        for stage in registry.config.stages:
            registry.which(model, stage)
    monkeypatch.undo()
    return parsed
