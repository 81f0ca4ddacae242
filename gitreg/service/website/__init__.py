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

import concurrent.futures
import functools
import json
import multiprocessing
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from gitreg.core.events import Action, Event
from gitreg.errors import Conflict, FileSystemRefused, InvalidInput
from gitreg.service import site
from gitreg.service.modelcard import card_text
from gitreg.service.registry import Registry
from gitreg.service.site import ModelView, SiteData, diffs, moment
from gitreg.service.website import charts
from gitreg.service.website.difftable import diff_table

PAGE_ROWS = 500  # rows of a paginated table (audit, versions): keeps each page small
AUDIT_INDEX = "audit-events.js"  # every event, for the audit filters (_audit_index)
# Bytes of events per file of that index: like a page, no file of the site passes 1 MB.
AUDIT_CHUNK = 900_000
BUILD_SCRIPT = "assets/build.js"  # the commit built from, for the model and version pages
CARD_SUFFIX = ".model-card.md"  # beside each version page: its Hugging Face model card
PARALLEL_FROM, MAX_WORKERS = 2000, 4  # versions from which model pages render in processes
MARKER = ".gitreg-site"  # written into every site, so a rebuild may replace the folder


@dataclass(frozen=True)
class Built:
    index: Path
    pages: int
    largest: tuple[str, int]  # the largest page (relative path) and its size in bytes


def build(data: SiteData, output: Path, *, workers: int | None = None) -> Built:
    """Write the site for ``data`` to ``output`` (replacing a site built there before);
    ``workers``: processes rendering the model pages (default: ``_workers``)."""
    output = Path(output).absolute()
    if output.is_symlink():  # replaced whole, the link would go and its target stay
        raise Conflict(f"{output} is a symbolic link; give {{output}} the folder itself, or "
                       "another folder", params=("output",))
    if output.exists() and not (output / MARKER).exists() and (
            not output.is_dir() or any(output.iterdir())):
        raise Conflict(f"{output} exists and is not a site gitreg built; choose another "
                       "{output} folder or remove it", params=("output",))
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".gitreg-site-", dir=output.parent))
    except OSError as exc:  # under a file, in /proc, read-only: before anything is written
        raise FileSystemRefused.of(exc) or InvalidInput(
            f"cannot write the site to {output}: {exc.strerror or exc}; choose another "
            "{output} folder", params=("output",)) from None
    try:
        sizes = _write(data, staging, output if output.is_dir() else None,
                       _workers(data) if workers is None else workers)
        (staging / MARKER).write_text("built by gitreg site; rebuilt as a whole\n")
        # GitHub Pages published from a branch runs Jekyll, which would turn each model
        # card (front matter, then the description as a cloned registry wrote it) into an
        # HTML page, its markup live: this file says to publish the folder as it is.
        (staging / ".nojekyll").write_bytes(b"")
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
        # The templates ship with the package and cannot change during a build: without
        # this, every page would stat its template files again (10,000 pages, issue 15).
        auto_reload=False,
    )
    links = data.links
    colours = {s: charts.stage_colour(data.stages, s) for s in data.stages}
    env.globals.update(
        site=data, stages=data.stages,
        colour=lambda s: colours.get(s) or charts.stage_colour(data.stages, s),
        commit_in_page=True,  # the footer's commit; model and version pages: BUILD_SCRIPT
        commit_url=(lambda c: links.commit_url(c) if links and c else None),
        tag_url=(lambda t: links.tag_url(t) if links and t else None),
        diff_table=diff_table,
        **_links_html(data, colours),
    )
    env.filters["when"] = lambda text: (text or "")[:19].replace("T", " ")
    env.filters["number"] = lambda v: f"{v:g}" if isinstance(v, float) else str(v)
    env.filters["size"] = _size
    env.filters["event"] = event_text
    return env


def _links_html(data: SiteData, colours: dict[str, str]) -> dict[str, Any]:
    """``commit_link``, ``tag_link`` and ``badge``: the bits every row of a table repeats,
    as functions rather than Jinja macros, which cost a new frame per call (a third of the
    build at 10,000 versions, issue 15). macros.html.j2 keeps ``commit``, ``tag`` and
    ``stage_badge`` as names for them."""
    links = data.links

    # f-strings with escape(): Markup.format goes through string.Formatter, several
    # times slower, and these run for every row of every table.
    def commit_link(sha: str | None) -> Markup:
        if not sha:
            return Markup("-")
        url = links.commit_url(sha) if links else None
        code = escape(sha[:12])
        if url:
            return Markup(f'<a href="{escape(url)}" class="commit"><code>{code}</code></a>')
        return Markup(f'<code class="commit">{code}</code>')

    def tag_link(name: str | None) -> Markup:
        if not name:
            return Markup('<span class="muted">no tag</span>')
        url = links.tag_url(name) if links else None
        if url:
            return Markup(f'<a href="{escape(url)}" class="tag"><code>{escape(name)}</code></a>')
        return Markup(f'<code class="tag">{escape(name)}</code>')

    @functools.cache
    def badge(stage: str) -> Markup:
        colour = escape(colours.get(stage) or charts.stage_colour(data.stages, stage))
        return Markup(f'<span class="badge" style="border-color: {colour}"><span class="dot" '
                      f'style="background: {colour}" aria-hidden="true"></span>'
                      f'{escape(stage)}</span>')

    return {"commit_link": commit_link, "tag_link": tag_link, "badge": badge}


class _Writer:
    """Renders pages into ``root``; a page the site ``before`` holds with the same bytes is
    hard-linked from there instead of written (``_reused``)."""

    def __init__(self, data: SiteData, root: Path, before: Path | None) -> None:
        self.data, self.root, self.before = data, root, before
        self.env = _environment(data)
        self.sizes: dict[str, int] = {}
        self.folders: set[Path] = set()
        self.known = {(m.name, r.version) for m in data.models for r, _ in m.versions}

    def page(self, rel: str, template: str, **context: Any) -> None:
        text = self.env.get_template(template).render(up="../" * rel.count("/"), **context)
        self.sizes[rel] = self.file(rel, text.encode())

    def file(self, rel: str, raw: bytes) -> int:
        path = self.root / rel
        if path.parent not in self.folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.folders.add(path.parent)
        if self.before is None or not _reused(self.before / rel, raw, path):
            path.write_bytes(raw)
        return len(raw)

    def model(self, model: ModelView) -> None:
        """The model's pages, and a page and a model card for each of its versions."""
        data = self.data
        version_pages = list(_pages(model.versions[::-1]))
        for number, rows in version_pages:
            self.page(f"models/{model.name}/{_paged('index', number)}", "model.html.j2",
                      model=model, rows=rows, number=number,
                      pager=_pager("index", version_pages), commit_in_page=False,
                      timeline=charts.timeline(model, data.stages),
                      trends=[(m, charts.trend(model, m, f"trend-{i}"))
                              for i, m in enumerate(model.metrics)] if number == 1 else [])
        for index, (record, held) in enumerate(model.versions):
            previous, against = diffs(model, index, data.stages[-1], data.config)
            rel = f"models/{model.name}/{record.version}"
            self.page(f"{rel}.html", "version.html.j2",
                      model=model, record=record, held=held, previous=previous,
                      against=against, known=self.known, events=model.events_of(record.version),
                      commit_in_page=False)
            self.file(f"{rel}{CARD_SUFFIX}", card_text(record).encode())


def _write(data: SiteData, root: Path, before: Path | None, workers: int) -> dict[str, int]:
    """Every page into ``root``: the models' pages in ``workers`` processes when that is
    more than one, the registry and audit pages meanwhile in this one."""
    writer = _Writer(data, root, before)
    assets = root / "assets"
    assets.mkdir()
    for name in ("site.css", "site.js"):
        (assets / name).write_bytes(
            resources.files("gitreg.service.website").joinpath("static", name).read_bytes())
    writer.file(BUILD_SCRIPT, _build_script(data).encode())
    writer.page("index.html", "index.html.j2", sparkline=charts.sparkline)
    if data.releases:  # a page per release, and their list (issue 18)
        writer.page("releases.html", "releases.html.j2")
        for standing in data.releases:
            release = standing.release
            writer.page(f"releases/{release.name}/{release.n}.html", "release.html.j2",
                        standing=standing, release=release)
    if workers <= 1:
        for model in data.models:
            writer.model(model)
        _audit(writer)
        return writer.sizes
    count, parts = len(data.models), workers * 4  # small parts: the workers end together
    with _pool(data, root, before, workers) as pool:
        jobs = [pool.submit(_models_job, range(start, count, parts))
                for start in range(min(parts, count))]
        _audit(writer)
        for job in jobs:
            writer.sizes.update(job.result())
    return writer.sizes


def _audit(writer: _Writer) -> None:
    """The audit pages, and the index of every event their filters search (AUDIT_INDEX)."""
    data = writer.data
    audit = list(_pages(data.events[::-1]))
    models = sorted({e.model for e in data.events})
    people = sorted({e.author for e in data.events})
    scripts = []
    for rel, text in _audit_index(data, models, people):
        writer.file(rel, text.encode())
        scripts.append(rel)
    for number, rows in audit:
        writer.page(_paged("audit", number), "audit.html.j2", rows=rows, number=number,
                    pager=_pager("audit", audit), count=len(data.events),
                    holdings=_picker_json(data) if number == 1 else "",
                    people=people, models=models, index=scripts)


def _audit_index(data: SiteData, models: list[str],
                 people: list[str]) -> list[tuple[str, str]]:
    """Every event, newest first, as scripts the audit pages load (a page opened from a
    folder, file://, may load a script but not fetch a JSON file): its filters search all
    events, not the 500 of one page. Each event is [when, model, what, stage, person,
    reason, commit, tag], model and person as indexes into their lists. The events are
    split over files of at most AUDIT_CHUNK bytes (``audit-events.js``, then
    ``audit-events-2.js``, ...), each adding its part to ``window.gitregAudit.events``."""
    model_at = {m: i for i, m in enumerate(models)}
    person_at = {p: i for i, p in enumerate(people)}
    links = data.links
    head = {
        "models": models, "people": people,
        "commit_url": links.commit if links else None,
        "tag_url": links.tag if links else None,
        "events": [],
    }
    chunks: list[list[str]] = [[]]
    size = 0
    for e in reversed(data.events):
        row = json.dumps([(e.date or "")[:19].replace("T", " "), model_at[e.model],
                          event_text(e), e.stage or "", person_at[e.author], e.reason or "",
                          e.commit or "", e.tag or ""], separators=(",", ":"))
        if chunks[-1] and size + len(row) > AUDIT_CHUNK:
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += len(row) + 1
    files = [(AUDIT_INDEX, "// Every event of the registry for the audit page's filters "
              f"(gitreg site).\nwindow.gitregAudit = {json.dumps(head, separators=(',', ':'))};\n")]
    stem = AUDIT_INDEX.removesuffix(".js")
    for number, rows in enumerate(chunks, start=1):
        rel = AUDIT_INDEX if number == 1 else f"{stem}-{number}.js"
        part = ("window.gitregAudit.events = window.gitregAudit.events.concat(["
                + ",".join(rows) + "]);\n")
        if number == 1:
            files[0] = (rel, files[0][1] + part)
        else:
            files.append((rel, part))
    return files


def _build_script(data: SiteData) -> str:
    """BUILD_SCRIPT: the commit the site is built from and its forge URL. The model and
    version pages show it from here rather than in their own bytes, which would otherwise
    all change with every commit and be rewritten by every rebuild (issue 15)."""
    head = data.head
    url = data.links.commit_url(head) if data.links and head else None
    text = json.dumps({"commit": head, "url": url}, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"// The commit this site was built from (gitreg site).\nwindow.gitregBuild = {text};\n"


def _workers(data: SiteData) -> int:
    """Processes for the model pages: one per processor at 2,000 versions and more (a
    fork costs more than it saves below that); one where ``fork`` is not there, or when
    this process runs other threads (an API caller's: a fork copies their locks held)."""
    versions = sum(len(m.versions) for m in data.models)
    if (versions < PARALLEL_FROM or threading.active_count() > 1
            or "fork" not in multiprocessing.get_all_start_methods()):
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, MAX_WORKERS))


# A forked worker's writer: the SiteData comes with the fork, never pickled.
_worker: _Writer | None = None


def _pool(data: SiteData, root: Path, before: Path | None,
          workers: int) -> concurrent.futures.ProcessPoolExecutor:
    return concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker,
        initargs=(data, root, before))


def _start_worker(data: SiteData, root: Path, before: Path | None) -> None:
    global _worker
    _worker = _Writer(data, root, before)


def _models_job(indexes: range) -> dict[str, int]:
    assert _worker is not None
    _worker.sizes = {}
    for index in indexes:
        _worker.model(_worker.data.models[index])
    return _worker.sizes


def _reused(old: Path, raw: bytes, path: Path) -> bool:
    """Link ``path`` to ``old`` when that is a plain file holding ``raw``. A rebuild then
    frees no disk blocks for the pages that did not change: on a disk mounted with
    ``discard`` (as these machines are) deleting 10,000 pages took 30 s, longer than
    building them."""
    try:
        info = os.lstat(old)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(raw) or \
                old.read_bytes() != raw:
            return False
        os.link(old, path, follow_symlinks=False)
    except OSError:  # gone, unreadable, or a file system without hard links: write it
        return False
    return True


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
        if event.action is Action.DEPRECATE and event.version is None:
            return "every version deprecated"
        return f"{event.version} {event.action.past}"
    if event.version is None:
        return f"{event.previous} demoted from {event.stage}"
    was = f" (was {event.previous})" if event.previous else ""
    if event.action is Action.ROLLBACK:
        return f"{event.stage} rolled back to {event.version}{was}"
    return f"{event.version} {event.action.past} to {event.stage}{was}"
