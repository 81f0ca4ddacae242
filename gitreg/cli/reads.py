"""``which``, ``show``, ``list`` and ``check``, answered without importing typer (issue 19
points 1, 2 and 5).

Importing typer and click is ~0.05 s of the ~0.14 s these everyday reads took at 10,000
versions, only to declare commands that were not going to be parsed by them: the fast lane
(fastlane.py) already read the arguments. So console.py hands ``gitreg which ...``,
``show``, ``list`` and ``check`` calls here first; a call this lane reads (the same lane,
on the declarations below) runs the same function the typer command runs (app.py's
commands call these) through the same error funnel (outcome.run).
Anything else (``--help``, a mistake, an unknown option) returns ``None`` and goes to
typer, which answers as before.

The declarations repeat what app.py's ``Annotated`` parameters say, as the lane reads them;
tests/test_argv.py holds that they are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gitreg.cli.fastlane import Declarations, Param
from gitreg.cli.outcome import echo_text, open_registry
from gitreg.core.names import ModelRef
from gitreg.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from gitreg.service.registry import Registry


def which(*, name: str | None, stage: str | None, at: str | None, rev: str | None,
          release: str | None, json: bool) -> None:
    """``gitreg which``: the version in a stage (now, at a date, at a revision), or what a
    release holds."""
    from gitreg.cli import render

    if release is not None:
        if name is not None or stage is not None or at is not None or rev is not None:
            raise InvalidInput("--release names the release: give no NAME, STAGE, --at or "
                               "--rev with it")
        show_release(open_registry(), release, json)
        return
    if name is None or stage is None:
        raise InvalidInput("give NAME and STAGE (or --release RELEASE)")
    held = open_registry().which(name, stage, at=at, rev=rev)
    if json:
        echo_text(render.to_json({"model": name, "stage": stage, "versions": list(held),
                                  "version": held[-1] if held else None}))
    elif held:
        echo_text("\n".join(held))
    else:
        when = f" at {at or rev}" if at or rev else ""
        raise NotFound(f"{name} has no version in {stage}{when}")


def show(*, ref: str, release: str | None, json: bool) -> None:
    """``gitreg show``: a model, a version, what a stage holds, or a release."""
    from gitreg.cli import render

    registry = open_registry()
    if release is not None or ref == "release":
        if ref != "release" or release is None:
            raise InvalidInput("to show a release, run `gitreg show release NAME`")
        show_release(registry, release, json)
        return
    target = ModelRef.parse(ref, latest=True)
    if target.version is None and target.stage is None:
        stage_map = registry.stage_map(target.name)
        gone = {(target.name, v): why for v, why in
                registry.deprecations(target.name).versions.items()}
        rows = [(r, stage_map.stages_of(r.version)) for r in registry.versions(target.name)]
        stages = render.stage_map_json(stage_map, registry.config.stages)
        if json:
            echo_text(render.to_json({"model": target.name, "stages": stages, "versions": [
                render.version_json(r, s, gone) for r, s in rows]}))
            return
        echo_text("\n".join(f"{s}: {', '.join(v) or '-'}" for s, v in stages.items()))
        echo_text("\n" + render.versions_table(rows, gone))
        return
    version = target.version or registry.version_in(target.name, target.stage or "")
    record = registry.record(target.name, version)
    stages_of = registry.stage_map(target.name).stages_of(record.version)
    why = registry.deprecations(target.name).reason(record.version)
    echo_text(render.to_json(render.version_json(record, stages_of, {
        (record.name, record.version): why} if why else {})) if json
        else render.version_detail(record, stages_of, why))


def check(*, base: str | None, json: bool) -> None:
    """``gitreg check``: validate the registry, or what a pull request changes (``--base``),
    as CI runs it on every pull request; exits 10 with one line per problem."""
    from pathlib import Path

    from gitreg.cli import render
    from gitreg.cli.outcome import echo, said_recovery
    from gitreg.errors import EXIT_CHECK_FAILED, printable
    from gitreg.service import check as checks

    report = checks.validate(Path.cwd(), base=base)
    said_recovery(report.recovered)
    for warning in report.warnings:
        echo(f"gitreg: warning: {printable(warning)}", err=True)
    echo_text(render.to_json(render.check_json(report)) if json else render.check_text(report))
    if not report.ok:
        echo(f"gitreg: check found {len(report.problems)} problem(s)", err=True)
        raise SystemExit(EXIT_CHECK_FAILED)


def list_versions(*, name: str | None, stage: str | None, min_metric: list[str],
                  max_metric: list[str], label: list[str], type: str | None,
                  registered_after: str | None, registered_before: str | None, by: str | None,
                  all: bool, sort: str | None, limit: str | None, json: bool) -> None:
    """``gitreg list``: versions with their stages and metrics, filtered."""
    from gitreg.cli import render
    from gitreg.cli.values import metric, pairs
    from gitreg.core.query import query, unfiltered

    wanted = query(
        stage=stage, min_metrics=pairs(min_metric, "--min-metric", metric),
        max_metrics=pairs(max_metric, "--max-metric", metric), labels=tuple(label),
        model_type=type, registered_after=registered_after,
        registered_before=registered_before, by=by, include_deprecated=all, sort=sort,
        limit=_count(limit, "--limit"))
    registry = open_registry()
    if not json and unfiltered(wanted) and wanted.sort is None:
        # Rows kept per model in one cache file, and the table whole: a warm list reads
        # no YAML, and only one file when no model changed (issue 19).
        shown = render.Listed(include_deprecated=all, limit=wanted.limit)
        echo_text(registry.joined(render.LIST_ROWS, render.list_rows, render.list_rows_valid,
                                  shown.join, variant=shown.variant, name=name)
                  or "no versions match")
        return
    rows = registry.catalog(name, query=wanted)
    retired = {model: registry.deprecations(model) for model in {r.name for r, _ in rows}}
    gone = {(r.name, r.version): why for r, _ in rows
            if (why := retired[r.name].reason(r.version)) is not None}
    if json:
        echo_text(render.to_json([render.version_json(r, s, gone) for r, s in rows]))
    else:
        echo_text(render.versions_table(rows, gone) or "no versions match")


def _count(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise InvalidInput(f"{flag} {value!r}: expected a whole number of at least 1")
    return int(value)


def show_release(registry: Registry, name: str, json: bool) -> None:
    from gitreg.cli import render
    from gitreg.service import release_history

    standing = release_history.standing(registry, name)
    echo_text(render.to_json(render.release_json(standing.release, standing)) if json
              else render.release_standing(standing))


def _optional(name: str) -> Param:
    return Param(name, str, False, None)


_JSON = {"--json": (Param("json", bool, False, False), True)}

# What app.py declares for each command, as fastlane.declarations reads it there.
def _strings(name: str) -> Param:
    return Param(name, list, False, [])


DECLARED: dict[str, tuple[Callable[..., None], Declarations]] = {
    "which": (which, ([_optional("name"), _optional("stage")], {
        "--at": (_optional("at"), True), "--rev": (_optional("rev"), True),
        "--release": (_optional("release"), True), **_JSON})),
    "show": (show, ([Param("ref", str, True, None), _optional("release")], _JSON)),
    "list": (list_versions, ([_optional("name")], {
        "--stage": (_optional("stage"), True), "--min-metric": (_strings("min_metric"), True),
        "--max-metric": (_strings("max_metric"), True), "--label": (_strings("label"), True),
        "--type": (_optional("type"), True),
        "--registered-after": (_optional("registered_after"), True),
        "--registered-before": (_optional("registered_before"), True),
        "--by": (_optional("by"), True), "--all": (Param("all", bool, False, False), True),
        "--sort": (_optional("sort"), True), "--limit": (_optional("limit"), True), **_JSON})),
    "check": (check, ([], {"--base": (_optional("base"), True), **_JSON})),
}

