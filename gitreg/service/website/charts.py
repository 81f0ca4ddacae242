"""The site's charts as inline SVG, drawn here: no script, no library, nothing fetched.

Colours are the Okabe-Ito palette, which keeps its distinctions for colour-blind readers,
and meaning never rests on colour alone: each stage is a labelled row, rollbacks are
hatched, deprecated versions' bars have a dashed outline and say so, versions that reached
the last stage are larger, ringed points. Every chart has
a text title and the same numbers in a table beside it (the templates).
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from gitreg.core.events import Action, Event
from gitreg.service.site import Holding, ModelView

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
WIDTH, ROW, LABEL = 720, 30, 90


def stage_colour(stages: Sequence[str], stage: str) -> str:
    return PALETTE[stages.index(stage) % len(PALETTE)] if stage in stages else "#777777"


def _share(value: float, low: float, high: float) -> float:
    """Where ``value`` lies from ``low`` (0) to ``high`` (1). Halved first: a cloned
    registry's metrics may span the whole float range, whose width overflows to inf (and
    inf / inf is NaN, which no SVG coordinate may be)."""
    spread = high / 2 - low / 2
    return (value / 2 - low / 2) / spread if spread else 0.0


def _lanes(model: ModelView, stages: Sequence[str], count: int
           ) -> tuple[dict[Holding, int], dict[str, int]]:
    """Each holding's lane within its stage's row, and each stage's number of lanes: a
    stage that is not exclusive holds several versions at once, whose bars would otherwise
    cover one another. A bar takes the first lane free from its start."""
    ends: dict[str, list[int]] = {s: [] for s in stages}
    lane: dict[Holding, int] = {}
    for h in model.holdings:  # by start
        if h.stage not in ends:
            continue
        free = ends[h.stage]
        at = next((i for i, end in enumerate(free) if end <= h.start_index), len(free))
        if at == len(free):
            free.append(0)
        free[at] = h.end_index if h.end_index is not None else count + 1
        lane[h] = at
    return lane, {s: max(len(e), 1) for s, e in ends.items()}


def timeline(model: ModelView, stages: Sequence[str]) -> Markup:
    """One row per stage (a lane per version it held at once), one bar per holding,
    positioned by event number (not clock time: the order of git's first-parent chain is
    what gitreg trusts)."""
    count = max(len(model.events), 1)
    span = WIDTH - LABEL - 10
    lane, lanes = _lanes(model, stages, count)
    top: dict[str, int] = {}
    for stage in stages:
        top[stage] = sum(lanes[s] for s in top) * ROW + 4
    height = ROW * sum(lanes.values()) + 24
    parts = [f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-labelledby="tl-title" preserveAspectRatio="xMinYMin meet">',
             f'<title id="tl-title">Stage timeline of {escape(model.name)}: '
             f'{len(model.holdings)} holdings; the table below lists them</title>']
    for stage in stages:
        y = top[stage]
        parts.append(f'<text x="0" y="{y + 18}" class="axis">{escape(stage)}</text>')
        for row in range(lanes[stage]):
            parts.append(f'<line x1="{LABEL}" x2="{WIDTH - 10}" y1="{y + row * ROW + 13}" '
                         f'y2="{y + row * ROW + 13}" class="lane"/>')
    for h in model.holdings:
        if h.stage not in stages:
            continue
        y = top[h.stage] + lane[h] * ROW
        end = h.end_index if h.end_index is not None else count
        x = LABEL + span * h.start_index / count
        w = max(span * (end - h.start_index) / count - 1, 3)  # 1: a gap between bars
        why = model.deprecated.get(h.version)
        kind = "holding deprecated" if why is not None else "holding"
        hatch = f' class="{kind} rollback" fill="url(#hatch)"' if h.start.action is \
            Action.ROLLBACK else f' class="{kind}" fill="{stage_colour(stages, h.stage)}"'
        until = "now" if h.end is None else _event(h.end)
        if why is not None:
            until += f"; deprecated: {why}"
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 6}" rx="3"{hatch} '
            f'data-stage="{escape(h.stage)}" data-version="{escape(h.version)}">'
            f'<title>{escape(h.version)} in {escape(h.stage)}: {escape(_event(h.start))}, '
            f'until {escape(until)}</title></rect>')
        if w > 40:
            parts.append(f'<text x="{x + 4:.1f}" y="{y + 17}" class="bar-label">'
                         f'{escape(h.version)}{" (deprecated)" if why is not None else ""}'
                         '</text>')
        if h.end is not None and h.end.action is Action.DEMOTE:
            parts.append(f'<text x="{x + w - 4:.1f}" y="{y + 17}" class="mark">&#215;</text>')
    parts.append('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
                 'patternTransform="rotate(45)"><rect width="6" height="6" fill="#D55E00"/>'
                 '<line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2"/>'
                 '</pattern></defs></svg>')
    return Markup("".join(parts))


def _event(event: Event) -> str:
    """``2030-01-02 10:00:00 (rolled back by Ana <ana@x>, churn/production/3: why)``."""
    tag = f", {event.tag}" if event.tag else ""
    reason = f": {event.reason}" if event.reason else ""
    return (f"{event.date[:19].replace('T', ' ')} ({event.action.past} by {event.author}"
            f"{tag}{reason})")


def trend(model: ModelView, metric: str, chart_id: str) -> Markup:
    """One point per version that has ``metric``, in SemVer order; larger ringed points for
    the versions that reached the last stage."""
    points = [(r.version, float(r.metrics[metric])) for r, _ in model.versions
              if metric in r.metrics]
    height, pad = 160, 30
    parts = [f'<svg class="trend" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-labelledby="{chart_id}">'
             f'<title id="{chart_id}">{escape(metric)} across {len(points)} versions of '
             f'{escape(model.name)}; the versions table lists the values</title>']
    if points:
        low, high = min(v for _, v in points), max(v for _, v in points)
        step = (WIDTH - 2 * pad) / max(len(points) - 1, 1)
        xy = [(pad + i * step, height - pad - _share(value, low, high) * (height - 2 * pad))
              for i, (_, value) in enumerate(points)]
        parts.append(f'<text x="0" y="{pad - 8}" class="axis">{high:g}</text>'
                     f'<text x="0" y="{height - 8}" class="axis">{low:g}</text>')
        parts.append('<polyline class="line" fill="none" stroke="#0072B2" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy) + '"/>')
        for (version, value), (x, y) in zip(points, xy, strict=True):
            reached = version in model.reached_last_stage
            style = ('r="6" class="point reached" fill="#E69F00" stroke="#000"' if reached
                     else 'r="3.5" class="point" fill="#0072B2"')
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" {style} '
                         f'data-version="{escape(version)}"><title>{escape(version)}: '
                         f'{value:g}{" (reached production)" if reached else ""}'
                         '</title></circle>')
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(model: ModelView, metric: str | None, last: int = 40) -> Markup:
    """A small trend of the main metric over the latest versions, for the registry page."""
    if metric is None:
        return Markup("")
    values = [float(r.metrics[metric]) for r, _ in model.versions if metric in r.metrics][-last:]
    if not values:
        return Markup("")
    low, high = min(values), max(values)
    step = 116 / max(len(values) - 1, 1)
    points = " ".join(f"{2 + i * step:.1f},{22 - _share(v, low, high) * 20:.1f}"
                      for i, v in enumerate(values))
    return Markup(f'<svg class="spark" viewBox="0 0 120 24" width="120" height="24" role="img" '
                  f'aria-label="{escape(metric)}: {values[0]:g} to {values[-1]:g} over the last '
                  f'{len(values)} versions"><polyline fill="none" stroke="#0072B2" '
                  f'stroke-width="1.5" points="{points}"/></svg>')
