"""How results look on a terminal and in ``--json``: the only module that formats output."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import repeat
from types import CodeType
from typing import TYPE_CHECKING, Any

from gitreg.core.events import Action, Event, commit_message
from gitreg.core.records import StageMap, VersionRecord, VersionSummary, version_to_dict
from gitreg.errors import printable

if TYPE_CHECKING:  # the formatters of check, diff and proposals import what they need
    from gitreg.core.diff import FieldChange, VersionDiff
    from gitreg.core.lifecycle import Deprecations
    from gitreg.core.release import Member, Release, Standing
    from gitreg.git.signatures import Check
    from gitreg.git.sync import Pushed
    from gitreg.service.check import Problem, Report
    from gitreg.service.gc import Collection
    from gitreg.service.importers import ImportReport
    from gitreg.service.lifecycle import LifecycleProposal
    from gitreg.service.release_review import ReleaseDiff
    from gitreg.service.sharing import Proposal, Pulled
    from gitreg.service.verify import Verification


def to_json(data: Any) -> str:
    # Exact: JSON escapes control characters itself (ensure_ascii), so registry text
    # reaches a program unchanged and a terminal harmless.
    return json.dumps(data, indent=2, sort_keys=False, default=str)


def terminal(text: str) -> str:
    """``text`` fit for a terminal or a markdown comment: every line with what is not
    printable escaped (``\\x1b``), so that text from a cloned registry (a description, a
    label, a metric name) cannot send escape sequences, rewrite the screen or forge lines
    (issue 13)."""
    if text.isascii() and not text.encode().translate(None, _PLAIN_ASCII):
        # The usual case, in a few scans in C: isprintable looks up each character (the
        # 12,000,000 of a list at 100,000 versions: ~50 ms; this, ~12 ms; issue 19).
        return text
    lines = text.split("\n")
    if "".join(lines).isprintable():
        return text
    return "\n".join(map(printable, lines))


# Printable ASCII and the line break: what is left of a text without them is not printable.
_PLAIN_ASCII = bytes(range(0x20, 0x7f)) + b"\n"


def _lines(lines: Sequence[str]) -> str:
    """One output line per item, a line break inside an item escaped."""
    return "\n".join(map(printable, lines))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return ""
    return _aligned(headers, [row if "".join(row).isprintable()
                              else [printable(cell) for cell in row] for row in rows])


def _aligned(headers: Sequence[str], rows: Sequence[Sequence[str]],
             widths: Sequence[int] | None = None) -> str:
    """``table`` of cells known to be printable (``widths``: of the columns, if known)."""
    if not rows:
        return ""
    if widths is None:
        widths = [max(len(h), *map(len, column))
                  for h, column in zip(headers, zip(*rows, strict=True), strict=True)]
    return _padded([h.upper() for h in headers] + [cell for row in rows for cell in row],
                   len(rows) + 1, widths)


def _padded(cells: Sequence[str], count: int, widths: Sequence[int]) -> str:
    """``count`` lines of cells padded to ``widths``, each line without trailing blanks.

    In one ``%`` of all lines, not a call per line: `gitreg list` prints 100,000 rows at
    100,000 versions. The last column is not padded, so only a line whose last cell is
    empty or ends in a blank has any to strip."""
    line = "  ".join([f"%-{w}s" for w in widths[:-1]] + ["%s"])
    text = "\n".join([line] * count) % tuple(cells)
    last = cells[len(widths) - 1::len(widths)]
    if "" in last or _BLANK_END.search("\n".join(last)):
        text = "\n".join([line.rstrip() for line in text.split("\n")])
    return text


# A blank at the end of a line, as str.rstrip strips it (re's \s and str.isspace agree).
_BLANK_END = re.compile(r"[^\S\n](?=\n|\Z)")


def metrics_text(metrics: Mapping[str, float], limit: int = 4) -> str:
    shown = metrics.items() if len(metrics) <= limit else list(metrics.items())[:limit]
    items = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown]
    if len(metrics) > limit:
        items.append("...")
    return " ".join(items)


def _number(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def version_json(record: VersionRecord, stages: Sequence[str],
                 deprecated: Mapping[tuple[str, str], str] | None = None) -> dict[str, Any]:
    """``deprecated`` (model, version) -> why: given, a ``deprecated`` key says the state
    (null when it is not; issue 16)."""
    data = {**version_to_dict(record), "stages": list(stages)}
    if deprecated is not None:
        data["deprecated"] = deprecated.get((record.name, record.version))
    return data


VERSION_HEADERS = ("model", "version", "stages", "registered", "type", "metrics")


def versions_table(rows: Sequence[tuple[VersionRecord, Sequence[str]]],
                   deprecated: Mapping[tuple[str, str], str] | None = None) -> str:
    """A deprecated version says so in its stages column."""
    gone = deprecated or {}
    return table(VERSION_HEADERS,
                 [_version_row(r, s, (r.name, r.version) in gone) for r, s in rows])


def _version_row(record: VersionRecord | VersionSummary, stages: Sequence[str],
                 deprecated: bool) -> list[str]:
    return [record.name, record.version,
            ",".join([*stages, *(["deprecated"] if deprecated else [])]) or "-",
            record.registered_at[:19].replace("T", " "), record.model_type or "-",
            metrics_text(record.metrics)]


def list_rows(records: Sequence[VersionSummary], held: Mapping[str, Sequence[str]],
              retired: Deprecations) -> tuple[str, str, str, str]:
    """One model's rows of `gitreg list --all`'s table, for the catalog cache
    (Registry.joined): one row a line, its cells separated by tabs, each cell as
    ``table`` prints it (escaped, so no tab or line break is left in one); which rows are
    deprecated versions (their numbers from 0); and the widths of the columns with and
    without those rows (numbers, comma-separated)."""
    rows: list[str] = []
    gone: list[str] = []
    widths = [0] * len(VERSION_HEADERS)
    plain = list(widths)
    for record in records:
        deprecated = record.version in retired.versions
        cells = _version_row(record, held.get(record.version, ()), deprecated)
        if not "".join(cells).isprintable():
            cells = [printable(cell) for cell in cells]
        lengths = list(map(len, cells))
        widths = list(map(max, widths, lengths))
        if deprecated:
            gone.append(str(len(rows)))
        else:
            plain = list(map(max, plain, lengths))
        rows.append("\t".join(cells))
    return ("\n".join(rows), ",".join(gone), ",".join(map(str, widths)),
            ",".join(map(str, plain)))


def _code_of(code: CodeType) -> str:
    """What a function does, for a cache key: its bytecode and constants (nested code too,
    never a memory address)."""
    return code.co_code.hex() + "".join(
        _code_of(c) if isinstance(c, CodeType) else repr(c) for c in code.co_consts)


# What made the rows kept in the cache: a gitreg whose rows differ reads its own.
LIST_ROWS = "list rows 1 " + "".join(
    _code_of(f.__code__) for f in (list_rows, _version_row, metrics_text))


def list_rows_valid(payload: Sequence[str]) -> bool:
    """Whether a kept payload has ``list_rows``' shape (the cache is untrusted input): each
    line of its rows printable cells, as many as the table has columns; numbers."""
    if len(payload) != 4:
        return False
    text, gone, *widths = payload
    tabs = len(VERSION_HEADERS) - 1
    count = text.count("\n") + 1 if text else 0
    return ((not text or (min(map(str.count, text.split("\n"), repeat("\t"))) == tabs
                          and text.count("\t") == tabs * count
                          and text.replace("\t", "").replace("\n", "").isprintable()))
            # isdecimal, not isdigit: int() refuses "²", which isdigit accepts.
            and (not gone or all(n.isdecimal() and int(n) < count for n in gone.split(",")))
            and all(len(w.split(",")) == len(VERSION_HEADERS)
                    and all(n.isdecimal() and len(n) < 9 for n in w.split(",")) for w in widths))


def listed_table(payloads: Sequence[Sequence[str]], *, include_deprecated: bool,
                 limit: int | None) -> str:
    """``versions_table`` of the models' valid ``list_rows`` (deprecated versions only if
    ``include_deprecated``), in one piece: the same text."""
    blocks: list[str] = []
    count = 0
    widths = list(map(len, VERSION_HEADERS))
    for text, gone, every, plain in payloads:
        if not text:
            continue
        if gone and not include_deprecated:
            dropped = {int(n) for n in gone.split(",")}
            text = "\n".join(line for n, line in enumerate(text.split("\n"))
                             if n not in dropped)
            if not text:
                continue
        blocks.append(text)
        count += text.count("\n") + 1
        widths = list(map(max, widths, map(int, (every if include_deprecated
                                                 else plain).split(","))))
        if limit is not None and count >= limit:
            break
    if not blocks:
        return ""
    if limit is not None and count > limit:
        # The widths of exactly the rows shown, as versions_table has them.
        lines = "\n".join(blocks).split("\n")[:limit]
        return _aligned(VERSION_HEADERS, [line.split("\t") for line in lines])
    cells = [h.upper() for h in VERSION_HEADERS]
    cells += "\n".join(blocks).replace("\n", "\t").split("\t")
    return _padded(cells, count + 1, widths)


# What made the table kept whole from the rows (Registry.joined).
LIST_TABLE = "list table 1 " + "".join(
    _code_of(f.__code__) for f in (listed_table, _aligned, _padded))


@dataclass(frozen=True)
class Listed:
    """``listed_table`` with its options, for Registry.joined: the function, and a name of
    it (its code and options) for the table kept whole."""

    include_deprecated: bool
    limit: int | None

    def join(self, payloads: Sequence[Sequence[str]]) -> str:
        return listed_table(payloads, include_deprecated=self.include_deprecated,
                            limit=self.limit)

    @property
    def variant(self) -> str:
        return f"{LIST_TABLE} {self.include_deprecated} {self.limit}"


def version_detail(record: VersionRecord, stages: Sequence[str],
                   deprecated: str | None = None) -> str:
    lines = [
        f"{record.name} {record.version}",
        f"  stages:          {', '.join(stages) or '-'}",
        *([f"  deprecated:      {printable(deprecated)}"] if deprecated is not None else []),
        f"  registered:      {record.registered_at} by {record.registered_by}",
        f"  trained:         {record.trained_at or '-'}",
        f"  type:            {record.model_type or '-'}",
        f"  weights:         {record.artifact.path} ({record.artifact.format}, "
        f"{record.artifact.size} bytes, md5 {record.artifact.md5})",
    ]
    if record.description:
        lines.append(f"  description:     {record.description}")
    for title, values in (("metrics", record.metrics), ("hyperparameters", record.hyperparameters)):
        if values:
            lines.append(f"  {title}:")
            lines += [f"    {k}: {v}" for k, v in values.items()]
    if record.features:
        lines.append(f"  features:        {', '.join(record.features)}")
    if record.labels:
        lines.append(f"  labels:          {', '.join(record.labels)}")
    lineage = record.lineage
    if lineage.code_commit or lineage.data or lineage.depends_on or lineage.parent:
        lines.append("  lineage:")
        if lineage.code_commit:
            lines.append(f"    code_commit: {lineage.code_commit}")
        if lineage.parent:
            lines.append(f"    parent: {lineage.parent}")
        lines += [f"    data {k}: {v}" for k, v in lineage.data.items()]
        lines += [f"    depends_on: {d}" for d in lineage.depends_on]
    return _lines(lines)


def stage_map_json(stage_map: StageMap, order: Sequence[str]) -> dict[str, list[str]]:
    return {stage: list(stage_map.versions_in(stage)) for stage in order}


def event_json(event: Event) -> dict[str, Any]:
    data = asdict(event)
    data["action"] = event.action.value
    if event.policy is None:  # only a change made just now knows its policy
        del data["policy"], data["overridden"]
    return data


def event_line(event: Event) -> str:
    """One past-tense sentence, e.g. ``churn 1.3.0 promoted to production (tag ...)``."""
    tag = f" [{event.tag}]" if event.tag else ""
    if event.action is Action.REGISTER:
        text = f"{event.model} {event.version} registered"
    elif event.action is Action.DEMOTE:
        text = f"{event.model} {event.previous} demoted from {event.stage}"
    elif event.action is Action.ROLLBACK:
        text = f"{event.model} {event.stage} rolled back {event.previous or '-'} -> {event.version}"
    elif not event.action.moves_stage:  # deprecate, restore, annotate (issue 16)
        why = f": {printable(event.reason)}" if event.reason else ""
        text = f"{event.model} {event.version or 'all versions'} {event.action.past}{why}"
    else:
        was = f" (was {event.previous})" if event.previous else ""
        text = f"{event.model} {event.version} promoted to {event.stage}{was}"
    if event.policy and event.overridden:
        return printable(f"{text}{tag}; {event.policy} overridden with --force: {event.reason}")
    if event.policy and event.reason:  # --force, not needed: the reason is on record anyway
        return printable(f"{text}{tag}; passed {event.policy} (--force was not needed; the "
                         f"reason is recorded: {event.reason})")
    if event.policy:
        return printable(f"{text}{tag}; passed {event.policy}")
    return printable(text + tag)


# An annotation is never tagged (so not "untagged", which `ci tag` would fix), and a
# deprecation without a version is of the whole model (its tag says `all`).
_NO_TAG = {Action.ANNOTATE: "-"}
_NO_VERSION = {Action.DEPRECATE: "all"}


def history_table(events: Sequence[Event | Release]) -> str:
    """One row per event; a release (issue 18) is one row naming each of its models."""
    return table(
        ["date", "model", "event", "stage", "version", "previous", "tag", "by"],
        [
            [e.date[:19].replace("T", " "), e.model, e.action.past, e.stage or "-",
             e.version or _NO_VERSION.get(e.action, "-"), e.previous or "-",
             e.tag or _NO_TAG.get(e.action, "(untagged)"), e.author]
            if isinstance(e, Event) else _release_row(e)
            for e in events
        ],
    )


def history_json(events: Sequence[Event | Release]) -> list[dict[str, Any]]:
    return [event_json(e) if isinstance(e, Event) else release_json(e) for e in events]


# -- check ------------------------------------------------------------------------------


def problem_line(problem: Problem) -> str:
    """``FILE: KEY: message``, the form editors and CI logs link to the file by."""
    return f"{problem.file}: {problem.key}: {problem.message}"


def check_text(report: Report) -> str:
    """Notices first (``notice: FILE: KEY: ...``), then a line per problem, or ``ok``."""
    lines = [f"notice: {problem_line(n)}" for n in report.notices]
    if report.ok:
        return _lines([*lines, "ok: no problems found"])
    return _lines([*lines, *(problem_line(p) for p in report.problems)])


def check_json(report: Report) -> dict[str, Any]:
    return {"ok": report.ok, "problems": [asdict(p) for p in report.problems],
            "notices": [asdict(n) for n in report.notices], "warnings": list(report.warnings)}


# -- verify -----------------------------------------------------------------------------


def verify_text(result: Verification) -> str:
    """A heading per version (``churn#production 1.2.0: ok``), then one line per check."""
    if not result.targets:
        return "nothing to verify: no version is in a stage"
    blocks = []
    for target in result.targets:
        where = f"#{target.stage} {target.version}" if target.stage else f"@{target.version}"
        lines = [f"{target.model}{where}: {'ok' if target.ok else 'FAILED'}"]
        lines += [f"  {check_line(check)}" for check in target.checks]
        blocks.append(_lines(lines))
    return "\n".join(blocks)


def check_line(check: Check) -> str:
    ref = check.ref[:12] if check.what.endswith("commit") else check.ref
    text = f"{check.what} {ref or '-'}: {check.status.value}"
    if check.signer or check.key:
        text += f", signed by {check.signer or 'an unknown signer'}"
        text += f" ({check.key})" if check.key else ""
    return text + (f": {check.detail}" if check.detail else "")


def verify_json(result: Verification) -> dict[str, Any]:
    return {"ok": result.ok, "targets": [
        {"model": t.model, "version": t.version, "stage": t.stage, "ok": t.ok,
         "checks": [{**asdict(c), "status": c.status.value} for c in t.checks]}
        for t in result.targets]}


# -- diff -------------------------------------------------------------------------------

NO_CHANGES = "no changes to hyperparameters, features or lineage"


def diff_table(diff: VersionDiff) -> str:
    """For a terminal: a metrics table, model type and weights, then one line per change."""
    old, new = _side(diff.a, diff.old.version), _side(diff.b, diff.new.version)
    lines = [f"{diff.name}: {old} -> {new}", *_deprecated_lines(diff), ""]
    rows = [[m.name, _optional(m.old), _optional(m.new), _delta(m.delta), m.verdict.value]
            for m in diff.metrics]
    lines += [*(table(["metric", old, new, "delta", "verdict"], rows) or "no metrics").split("\n"),
              ""]
    lines += [f"{title}: {text}" for title, text in _diff_summary(diff, code=_plain, arrow="->")]
    sections = _diff_sections(diff, code=_plain, arrow="->")
    for title, items in sections:
        lines += ["", f"{title}:", *(f"  {item}" for item in items)]
    lines += [] if sections else ["", NO_CHANGES]
    return _lines(lines)


def diff_markdown(diff: VersionDiff) -> str:
    """For a pull-request comment: a heading, a metrics table with deltas, lists of changes."""
    from gitreg.core.diff import Verdict

    old, new = _side(diff.a, diff.old.version), _side(diff.b, diff.new.version)
    lines = [f"### `{diff.name}`: {_cell(old)} → {_cell(new)}", ""]
    lines += [f"**{_cell(line)}**" for line in _deprecated_lines(diff)]
    lines += [""] if any(diff.deprecated) else []
    if diff.metrics:
        lines += [f"| metric | {_cell(old)} | {_cell(new)} | delta | |", "|---|---:|---:|---:|---|"]
        for m in diff.metrics:
            verdict = f"**{m.verdict.value}**" if m.verdict is Verdict.WORSE else m.verdict.value
            lines.append(f"| {_cell(m.name)} | {_optional(m.old)} | {_optional(m.new)} | "
                         f"{_delta(m.delta)} | {verdict} |")
    else:
        lines.append("No metrics recorded.")
    lines.append("")
    lines += [f"- **{title.capitalize()}:** {text}"
              for title, text in _diff_summary(diff, code=_code, arrow="→")]
    sections = _diff_sections(diff, code=_code, arrow="→")
    for title, items in sections:
        lines += ["", f"**{title.capitalize()}**", "", *(f"- {item}" for item in items)]
    lines += [] if sections else ["", f"{NO_CHANGES.capitalize()}."]
    return _lines(lines)


def diff_json(diff: VersionDiff) -> dict[str, Any]:
    def change(c: FieldChange) -> dict[str, Any]:
        return {"key": c.key, "change": c.kind.value, "old": c.old, "new": c.new}

    return {
        "model": diff.name,
        "a": {"ref": diff.a, "version": diff.old.version, "deprecated": diff.deprecated[0]},
        "b": {"ref": diff.b, "version": diff.new.version, "deprecated": diff.deprecated[1]},
        "metrics": [{**asdict(m), "verdict": m.verdict.value} for m in diff.metrics],
        "hyperparameters": [change(c) for c in diff.hyperparameters],
        "features": {"added": list(diff.features_added),
                     "removed": list(diff.features_removed)},
        "model_type": change(diff.model_type) if diff.model_type else None,
        "lineage": [change(c) for c in diff.lineage],
        "weights": {"changed": diff.weights_changed, "old_md5": diff.old.artifact.md5,
                    "new_md5": diff.new.artifact.md5},
        "policy": None if diff.gate is None else {
            "stage": diff.gate.stage, "version": diff.gate.version, "applies": diff.gate.policy,
            "held": diff.gate.held, "problems": list(diff.gate.problems)},
    }


def _deprecated_lines(diff: VersionDiff) -> list[str]:
    return [f"{version} is deprecated: {printable(why)}"
            for version, why in zip((diff.old.version, diff.new.version), diff.deprecated,
                                    strict=True) if why is not None]


def _diff_summary(
    diff: VersionDiff, *, code: Callable[[Any], str], arrow: str
) -> list[tuple[str, str]]:
    """Model type and weights, one line each, changed or not."""
    kind = diff.model_type
    if kind is None:
        model_type = f"{code(diff.new.model_type)} (unchanged)" if diff.new.model_type else "-"
    else:
        model_type = f"{code(kind.old or '-')} {arrow} {code(kind.new or '-')}"
    old, new = diff.old.artifact.md5, diff.new.artifact.md5
    weights = (f"changed (md5 {code(old)} {arrow} {code(new)})" if diff.weights_changed
               else f"unchanged (md5 {code(old)})")
    rows = [("model type", model_type), ("weights", weights)]
    gate = diff.gate
    if gate is not None:
        verdict = ("holds it already" if gate.held else
                   "refuses it: " + "; ".join(gate.problems) if gate.problems else "passes")
        rows.append(("policy", f"{code(gate.policy)}, for {gate.version} in {gate.stage}: "
                               f"{printable(verdict)}"))
    return rows


def _diff_sections(
    diff: VersionDiff, *, code: Callable[[Any], str], arrow: str
) -> list[tuple[str, list[str]]]:
    """Hyperparameters, features and lineage: a line per change; sections without any left out."""
    from gitreg.core.diff import Kind

    def line(c: FieldChange) -> str:
        if c.kind is Kind.ADDED:
            return f"added {code(c.key)}: {code(c.new)}"
        if c.kind is Kind.REMOVED:
            return f"removed {code(c.key)} (was {code(c.old)})"
        return f"{code(c.key)}: {code(c.old)} {arrow} {code(c.new)}"

    features = [*(f"added {code(f)}" for f in diff.features_added),
                *(f"removed {code(f)}" for f in diff.features_removed)]
    sections = [
        ("hyperparameters", [line(c) for c in diff.hyperparameters]),
        ("features", features),
        ("lineage", [line(c) for c in diff.lineage]),
    ]
    return [(title, items) for title, items in sections if items]


def _side(asked: str, version: str) -> str:
    """``production (1.2.0)`` for a stage, ``1.2.0`` for a version."""
    return version if asked == version else f"{asked} ({version})"


def _optional(value: float | None) -> str:
    return "-" if value is None else _number(value)


def _delta(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:+d}" if isinstance(value, int) else f"{value:+.4g}"


def _plain(value: Any) -> str:
    """A YAML value as a reader expects it: strings bare, the rest as JSON (true, [1, 2])."""
    return value if isinstance(value, str) else json.dumps(value)


def _code(value: Any) -> str:
    text = _plain(value)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _cell(text: str) -> str:
    """Text from a registry in a markdown table or heading: no column break, and no HTML
    (``<!--`` would hide the rest of a pull request's comment, ``<img>`` would load)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|"))


def proposal(item: Proposal) -> str:
    """What a reviewer needs, and a ready pull-request title and body."""
    from gitreg.core.events import proposal_title

    events, record = item.events or (item.event,), item.record
    body = [" ".join(_proposed(e, i) for i, e in enumerate(events)), ""]
    if record.metrics:
        body += ["| metric | value |", "|---|---|",
                 *(f"| {k} | {_number(v)} |" for k, v in record.metrics.items()), ""]
    body += [
        f"{record.name} {record.version}: registered {record.registered_at} by "
        f"{record.registered_by}; weights md5 `{record.artifact.md5}`.",
        "",
        "After the merge, CI on the main branch runs `gitreg ci tag --push` to tag it.",
    ]
    return _lines([
        f"Pushed branch {item.branch} (commit {events[-1].commit[:12]}); no tag until it is "
        "merged.",
        f"Open a pull request from {item.branch} into {item.base}:",
        "",
        f"Title: {proposal_title(events)}",
        "",
        *body,
    ])


def commit_subject(event: Event) -> str:
    return commit_message(event).splitlines()[0]


def lifecycle_result(result: Sequence[Event] | LifecycleProposal) -> str:
    """What deprecate, restore and annotate did: their events, or the branch proposed."""
    if isinstance(result, Sequence):
        return "\n".join(event_line(e) for e in result)
    event = result.event
    return "\n".join([
        f"Pushed branch {result.branch} (commit {event.commit[:12]}); no tag until it is "
        "merged.",
        f"Open a pull request from {result.branch} into {result.base}: "
        f"{commit_subject(event)}",
    ])


def ci_event_json(event: Event) -> dict[str, Any]:
    """What ``gitreg ci event`` tells a pipeline: ``event`` in words, ``action`` as a verb."""
    return {
        "model": event.model, "event": event.action.past, "action": event.action.value,
        "stage": event.stage, "version": event.version, "previous": event.previous,
        "commit": event.commit, "author": event.author, "date": event.date, "tag": event.tag,
        "reason": event.reason,
    }


def github_output(data: Mapping[str, Any]) -> str:
    """``key=value`` lines to append to ``$GITHUB_OUTPUT``: one line each, None as empty."""
    return "\n".join(
        f"{key}={'' if value is None else ' '.join(str(value).splitlines())}"
        for key, value in data.items()
    )


# -- gc ---------------------------------------------------------------------------------


def gc_text(result: Collection) -> str:
    lines = [f"{'deleted' if result.deleted else 'would delete'} {g.store} {g.md5} "
             f"({g.size} bytes): {printable(g.why)}" for g in result.garbage]
    verb = "deleted" if result.deleted else "would delete"
    lines.append(f"{verb} {len(result.garbage)} objects, {result.size} bytes"
                 + ("" if result.deleted or not result.garbage else "; run with --yes to delete"))
    if result.young:
        lines.append(f"kept {result.young} objects younger than the grace period")
    lines += [f"kept {k.model} {k.version} (deprecated: {printable(k.deprecated)}): "
              f"{printable(k.why)}" for k in result.kept]
    lines += [f"kept folder {md5}: its listing could not be read" for md5 in result.unreadable]
    return "\n".join(lines)


def gc_json(result: Collection) -> dict[str, Any]:
    return {"deleted": result.deleted, "objects": len(result.garbage), "bytes": result.size,
            "young": result.young, "unreadable": list(result.unreadable),
            "garbage": [asdict(g) for g in result.garbage],
            "kept": [asdict(k) for k in result.kept]}


def import_report(report: ImportReport) -> str:
    """What an import wrote, one line per event, then what it skipped and why."""
    lines = [event_line(event) for event in report.events] or ["nothing new to import"]
    lines += [f"skipped: {printable(line)}" for line in report.skipped]
    lines += [f"note: {line}" for line in report.notes]
    return "\n".join(lines)


def pulled(result: Pulled) -> str:
    """``pull``'s one line: what the fetch brought (issue 14: it always said "up to date")."""
    got = result.fetched
    parts = []
    if got.commits:
        parts.append(f"{got.commits} new commit{'s' if got.commits != 1 else ''}")
    if got.tags:
        parts.append(f"{len(got.tags)} new tag{'s' if len(got.tags) != 1 else ''}")
    what = f"fetched {' and '.join(parts)}" if parts else "up to date"
    count = len(result.weights)
    return (f"{result.branch}: {what}; weights present for {count} staged "
            f"version{'s' if count != 1 else ''}")


def pushed(result: Pushed) -> str:
    """``push``'s one line: what origin gained, not every local tag (it said "pushed main
    and 61 gitreg tags" in a fresh clone that pushed nothing)."""
    parts = []
    if result.commits or result.new_branch:
        parts.append(f"{result.commits} new commit{'s' if result.commits != 1 else ''}"
                     + (" as a new branch" if result.new_branch else ""))
    if result.tags:
        parts.append(f"{len(result.tags)} new tag{'s' if len(result.tags) != 1 else ''}")
    what = f"pushed {' and '.join(parts)}" if parts else "up to date, no new commits or tags"
    return f"{result.branch}: {what}"


def _proposed(event: Event, index: int) -> str:
    """One proposed change as a pull request's body says it (the second of a registration:
    its promotion)."""
    replacing = f", replacing {event.previous}" if event.previous else ""
    if event.action is Action.REGISTER:
        return f"Registers **{event.model} {event.version}**."
    if event.action is Action.DEMOTE:
        return f"Demotes **{event.model} {event.previous}** from **{event.stage}**."
    if event.action is Action.ROLLBACK:
        return (f"Rolls **{event.model} {event.stage}** back to **{event.version}**"
                f"{replacing}.")
    if index:
        return f"Promotes it to **{event.stage}**{replacing}."
    return f"Promotes **{event.model} {event.version}** to **{event.stage}**{replacing}."


# -- releases (issue 18) ----------------------------------------------------------------


def _release_row(release: Release) -> list[str]:
    from gitreg.core.release import ReleaseAction

    what = ("release rolled back" if release.action is ReleaseAction.ROLLBACK
            else "released")
    return [release.date[:19].replace("T", " "),
            f"release {release.name} {release.n}: {', '.join(release.models)}", what,
            release.stage,
            ", ".join(f"{m.model} {m.version or '-'}" for m in release.members),
            ", ".join(f"{m.model} {m.previous or '-'}" for m in release.members),
            release.tag or "(untagged)", release.author]


def release_json(release: Release, standing: Standing | None = None) -> dict[str, Any]:
    """A release as ``--json``, ``ci event`` and history print it; with ``standing``,
    whether the stages still hold it (``state``, and ``holds`` per model)."""
    data: dict[str, Any] = {
        "event": "release rolled back" if release.rolls_back else "released",
        "action": "release", "release": release.name, "number": release.n,
        "release_action": release.action.value, "stage": release.stage,
        "rolls_back": release.rolls_back, "reason": release.reason,
        "models": [{"model": m.model, "version": m.version, "previous": m.previous}
                   for m in release.members],
        "commit": release.commit, "author": release.author, "date": release.date,
        "tag": release.tag,
    }
    if standing is not None:
        data["state"] = standing.state
        for entry, member in zip(data["models"], release.members, strict=True):
            entry["holds"] = standing.holds(member)
            entry["now"] = list(standing.now.get(member.model, ()))
    return data


def release_line(release: Release) -> str:
    """``release NAME 3 to production [release/NAME/3]: a 1.0.0 -> 2.0.0, b ...``."""
    from gitreg.core.release import ReleaseAction

    tag = f" [{release.tag}]" if release.tag else ""
    moved = ", ".join(f"{m.model} {m.previous or '-'} -> {m.version or '-'}"
                      for m in release.members)
    if release.action is ReleaseAction.ROLLBACK:
        head = (f"release {release.name} {release.rolls_back} rolled back in "
                f"{release.stage} (as release {release.n})")
    else:
        head = f"release {release.name} {release.n} to {release.stage}"
    return printable(f"{head}{tag}: {moved}")


def release_standing(standing: Standing) -> str:
    """What a release put where, and whether the stage still holds each (``which``,
    ``show release``)."""
    release = standing.release
    lines = [release_line(release), f"state: {standing.state}"]
    for member in release.members:
        now = ", ".join(standing.now.get(member.model, ())) or "nothing"
        said = ("holds it" if standing.holds(member)
                else f"changed since: {release.stage} now holds {now}")
        lines.append(printable(f"  {member.model} {member.version or '-'}: {said}"))
    return "\n".join(lines)


def release_outputs(release: Release) -> dict[str, Any]:
    """``ci event --format github`` of a release: flat keys, one line each; per model
    ``version_<model>`` and ``previous_<model>`` (a model name is a valid output key)."""
    data = {k: v for k, v in release_json(release).items() if k != "models"}
    data["models"] = " ".join(release.models)
    for member in release.members:
        data[f"version_{member.model}"] = member.version
        data[f"previous_{member.model}"] = member.previous
    return data


def release_diff(found: ReleaseDiff, form: str) -> str:
    """``diff --release``: table, markdown (the pull request's comment) or json."""
    release, against = found.release, found.against
    if form == "json":
        return to_json({**release_json(release), "against": (
            release_json(against) if against is not None else None), "diffs": [
            {"model": m.model, "version": m.version, "previous": m.previous,
             "diff": diff_json(d) if d is not None else None} for m, d in found.diffs]})
    markdown = form == "markdown"
    if against is None and release.rolls_back is not None:  # a reviewer sees what it undoes
        head = f"{release.n}: rolls back release {release.rolls_back} in {release.stage}"
    elif against is None:
        head = f"{release.n} to {release.stage}"
    elif against.stage == release.stage:
        head = f"{against.n} → {release.n} in {release.stage}"
    else:
        head = f"{against.n} ({against.stage}) → {release.n} ({release.stage})"
    title = (f"## Release `{release.name}` {head}" if markdown
             else f"release {release.name} {head}")
    parts = [title]
    for member, diff in found.diffs:
        if diff is not None:
            parts.append(diff_markdown(diff) if markdown else diff_table(diff))
            continue
        version, was = _release_change(found, member)
        parts.append(f"### `{member.model}`: {version} ({was})" if markdown
                     else f"{member.model}: {version} ({was})")
    return printable_block("\n\n".join(parts))


def _release_change(found: ReleaseDiff, member: Member) -> tuple[str, str]:
    """A model of a release diff whose versions have no diff: what it holds and why."""
    release, against = found.release, found.against
    if against is None:
        was = ("stays" if member.version == member.previous
               else f"new in {release.stage}" if member.previous is None
               else f"emptied: was {member.previous}")
        return member.version or "nothing", was
    if member.model not in release.models:
        return member.previous or "nothing", f"only in release {against.n}"
    if member.model not in against.models:
        return member.version or "nothing", f"only in release {release.n}"
    if member.version == member.previous:
        return member.version or "nothing", "the same in both"
    if member.previous is None:
        return member.version or "nothing", f"nothing in release {against.n}"
    return "nothing", f"emptied by release {release.n}, {member.previous} in {against.n}"


def printable_block(text: str) -> str:
    return "\n".join(printable(line) for line in text.split("\n"))
