"""Importers: another registry's history replayed as gitreg writes (issue 17).

Each registration and stage change goes through ``Registry.register``/``promote``/``demote``
with the original author and date (``Authorship``), so every import step is one
all-or-nothing gitreg write and an interrupted import is finished by running it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gitreg.core.events import Event
from gitreg.core.query import Query
from gitreg.errors import InvalidInput
from gitreg.service.registry import Registry

# Imported stage history must not be refused by today's policies: it happened. Promotions
# are forced with a reason that names their origin, which is also how a rerun recognises
# what it imported already (the reason is the commit's Gitreg-Reason trailer).
REASON_PREFIX = "imported from "


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote (in order) and what it could not carry over, one line each."""

    events: tuple[Event, ...]
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def parse_stage_map(pairs: Mapping[str, str], stages: tuple[str, ...]) -> dict[str, str]:
    """``--stage-map FROM=TO`` checked against the registry's stages."""
    for source, target in pairs.items():
        if target not in stages:
            raise InvalidInput(
                f"{{stage_map}} {source}={target}: {target!r} is not a stage of this registry "
                f"({', '.join(stages)})", params=("stage_map",))
    return dict(pairs)


def map_stage(stage: str, mapping: Mapping[str, str], stages: tuple[str, ...],
              defaults: Mapping[str, str]) -> str | None:
    """The gitreg stage for another tool's stage or alias: mapped explicitly, by default,
    or by the same name; None when there is none (the import lists and skips it)."""
    if stage in mapping:
        return mapping[stage]
    if stage in defaults and defaults[stage] in stages:
        return defaults[stage]
    return stage if stage in stages else None


def warm_caches(registry: Registry, report: ImportReport) -> ImportReport:
    """Read what ``list`` and ``which`` read, once an import wrote something: the cache of
    parsed files (repo/cache.py) then holds the last version and stage files written too,
    and the first command after an import parses nothing again (issue 17)."""
    if report.events:
        registry.catalog(query=Query(include_deprecated=True))
    return report
