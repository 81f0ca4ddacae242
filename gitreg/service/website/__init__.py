"""``gitreg site`` (issue 15): the static site written from a ``SiteData`` value.

Jinja2 templates shipped with the package, autoescaped (all registry text is untrusted
input), charts from charts.py, one CSS and one script file in ``assets/``; nothing is
fetched from anywhere. URLs are stable: ``index.html``, ``models/<name>/index.html``,
``models/<name>/<version>.html``, ``audit.html`` (then ``audit-2.html``, ...),
``releases.html`` and ``releases/<name>/<n>.html`` (issue 18). The site is
written to a new folder beside the target and swapped in whole, so a failed build leaves
the previous site as it was.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from gitreg.core.events import Action, Event
from gitreg.errors import Conflict
from gitreg.service import site
from gitreg.service.registry import Registry
from gitreg.service.site import SiteData, diffs, moment
from gitreg.service.website import charts

PAGE_ROWS = 500  # rows of a paginated table (audit, versions): keeps each page small
MARKER = ".gitreg-site"  # written into every site, so a rebuild may replace the folder


@dataclass(frozen=True)
class Built:
    index: Path
    pages: int
    largest: tuple[str, int]  # the largest page (relative path) and its size in bytes


def build(data: SiteData, output: Path) -> Built:
    """Write the site for ``data`` to ``output`` (replacing a site built there before)."""
    output = Path(output).absolute()
    if output.exists() and not (output / MARKER).exists() and (
            not output.is_dir() or any(output.iterdir())):
        raise Conflict(f"{output} exists and is not a site gitreg built; choose another "
                       "{output} folder or remove it", params=("output",))
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".gitreg-site-", dir=output.parent))
    try:
        sizes = _write(data, staging)
        (staging / MARKER).write_text("built by gitreg site; rebuilt as a whole\n")
        if output.exists():
            old = output.with_name(f"{staging.name}-old")
            output.rename(old)
            staging.rename(output)
            shutil.rmtree(old)
        else:
            staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    largest = max(sizes.items(), key=lambda item: item[1])
    return Built(output / "index.html", len(sizes), largest)


def build_registry_site(registry: Registry, output: Path, *, rev: str | None = None,
                        title: str | None = None) -> Built:
    """Collect ``registry`` (as its work tree holds it, or as ``rev`` does) and write its site."""
    if rev is None:
        return build(site.collect(registry, title=title), output)
    with site.at_revision(registry, rev) as then:
        return build(site.collect(then, title=title or f"gitreg: {registry.root.name}"), output)


def _environment(data: SiteData) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gitreg.service.website", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    links = data.links
    env.globals.update(
        site=data, stages=data.stages, colour=lambda s: charts.stage_colour(data.stages, s),
        commit_url=(lambda c: links.commit_url(c) if links and c else None),
        tag_url=(lambda t: links.tag_url(t) if links and t else None),
    )
    env.filters["when"] = lambda text: (text or "")[:19].replace("T", " ")
    env.filters["number"] = lambda v: f"{v:g}" if isinstance(v, float) else str(v)
    env.filters["size"] = _size
    env.filters["event"] = event_text
    return env


def _write(data: SiteData, root: Path) -> dict[str, int]:
    env = _environment(data)
    sizes: dict[str, int] = {}

    def page(rel: str, template: str, **context: Any) -> None:
        depth = rel.count("/")
        text = env.get_template(template).render(up="../" * depth, **context)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = text.encode()
        path.write_bytes(raw)
        sizes[rel] = len(raw)

    assets = root / "assets"
    assets.mkdir()
    for name in ("site.css", "site.js"):
        (assets / name).write_bytes(
            resources.files("gitreg.service.website").joinpath("static", name).read_bytes())
    page("index.html", "index.html.j2", sparkline=charts.sparkline)
    known = {(m.name, r.version) for m in data.models for r, _ in m.versions}
    last_stage = data.stages[-1]
    for model in data.models:
        version_pages = list(_pages(model.versions[::-1]))
        for number, rows in version_pages:
            page(f"models/{model.name}/{_paged('index', number)}", "model.html.j2",
                 model=model, rows=rows, number=number, pager=_pager("index", version_pages),
                 timeline=charts.timeline(model, data.stages),
                 trends=[(m, charts.trend(model, m, f"trend-{i}"))
                         for i, m in enumerate(model.metrics)] if number == 1 else [])
        for index, (record, held) in enumerate(model.versions):
            previous, against = diffs(model, index, last_stage)
            page(f"models/{model.name}/{record.version}.html", "version.html.j2",
                 model=model, record=record, held=held, previous=previous,
                 against=against, known=known, events=model.events_of(record.version))
    if data.releases:  # a page per release, and their list (issue 18)
        page("releases.html", "releases.html.j2")
        for standing in data.releases:
            release = standing.release
            page(f"releases/{release.name}/{release.n}.html", "release.html.j2",
                 standing=standing, release=release)
    audit = list(_pages(data.events[::-1]))
    for number, rows in audit:
        page(_paged("audit", number), "audit.html.j2", rows=rows, number=number,
             pager=_pager("audit", audit), count=len(data.events),
             holdings=_picker_json(data) if number == 1 else "",
             people=sorted({e.author for e in rows}), models=sorted({e.model for e in rows}))
    return sizes


def _pages(rows: Sequence[Any]) -> Iterator[tuple[int, Sequence[Any]]]:
    yield 1, rows[:PAGE_ROWS]
    for start in range(PAGE_ROWS, len(rows), PAGE_ROWS):
        yield start // PAGE_ROWS + 1, rows[start:start + PAGE_ROWS]


def _paged(stem: str, number: int) -> str:
    return f"{stem}.html" if number == 1 else f"{stem}-{number}.html"


def _pager(stem: str, pages: list[tuple[int, Sequence[Any]]]) -> list[tuple[int, str]]:
    return [(n, _paged(stem, n)) for n, _ in pages] if len(pages) > 1 else []


def _picker_json(data: SiteData) -> str:
    """Each stage's holdings as [start, end or null, version] in seconds since the epoch:
    the page answers "what was in each stage at T" from it as ``which --at`` does."""
    models: dict[str, dict[str, list[list[Any]]]] = {}
    for model in data.models:
        stages = models.setdefault(model.name, {s: [] for s in data.stages})
        for h in model.holdings:
            stages.setdefault(h.stage, []).append(
                [moment(h.start), None if h.end is None else moment(h.end), h.version])
    text = json.dumps({"stages": list(data.stages), "models": models}, separators=(",", ":"))
    # Inside <script>, "</" could close the element: a model name cannot hold "<", but the
    # JSON stays inert whatever it holds.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _size(value: int) -> str:
    if value < 1024:
        return f"{value} B"
    amount = value / 1024
    for unit in ("KB", "MB"):
        if amount < 1024:
            return f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


def event_text(event: Event) -> str:
    if event.stage is None:
        return f"{event.version} registered"
    if event.version is None:
        return f"{event.previous} demoted from {event.stage}"
    was = f" (was {event.previous})" if event.previous else ""
    if event.action is Action.ROLLBACK:
        return f"{event.stage} rolled back to {event.version}{was}"
    return f"{event.version} {event.action.past} to {event.stage}{was}"
