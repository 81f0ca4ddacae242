"""The ``gitreg`` command line: options in, one service call, output rendered. Nothing else."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, Optional

import click
import typer

from . import render
from .errors import (
    EXIT_BUG,
    EXIT_CODES,
    EXIT_INTERRUPTED,
    GitregError,
    InvalidInput,
    NotFound,
)
from .names import ModelRef
from .registry import Bump, NewVersion, Registry

app = typer.Typer(
    help="gitreg: a Git-native model registry. Metadata in YAML, weights in DVC, "
    "every registration and promotion a tagged commit.",
    no_args_is_help=True,
    add_completion=False,
    epilog="Exit codes: " + "; ".join(f"{c} {t}" for c, t in EXIT_CODES.items()),
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
# typer needs Optional[...] rather than X | None on Python 3.10 for option types.
OptStr = Optional[str]  # noqa: UP045
OptPath = Optional[Path]  # noqa: UP045


def _echo(text: str) -> None:
    if text:
        typer.echo(text)


def _warn(registry: Registry) -> None:
    for warning in registry.config.warnings:
        typer.echo(f"gitreg: warning: {warning}", err=True)


def _open() -> Registry:
    registry = Registry.find()
    _warn(registry)
    return registry


def _pairs(values: list[str], what: str, convert: Any) -> dict[str, Any]:
    """``k=v`` options as a mapping; ``convert`` types each value."""
    result = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"invalid {what} {item!r}: expected KEY=VALUE")
        result[key.strip()] = convert(key.strip(), value.strip())
    return result


def _metric(key: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"metric {key}={value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidInput(f"metric {key}={value!r} is not a finite number")
    return int(number) if value.lstrip("-").isdigit() else number


def _param(key: str, value: str) -> Any:
    """Numbers and booleans stay what they are; everything else is a string."""
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


@app.command()
def init(
    remote: Annotated[OptStr, typer.Option(
        help="DVC remote URL for the weights (default: ~/.local/share/gitreg/storage).")] = None,
) -> None:
    """Make the current folder a registry (git init and DVC set-up when needed)."""
    registry = Registry.init(Path.cwd(), remote=remote)
    _echo(f"Initialized gitreg registry in {registry.root}")


@app.command()
def register(
    name: str,
    path: Annotated[Path, typer.Argument(help="A file or folder of weights.")],
    version: Annotated[OptStr, typer.Option(help="SemVer, e.g. 1.2.0.")] = None,
    bump: Annotated[Optional[Bump], typer.Option(help="Bump the latest version.")] = None,  # noqa: UP045
    metric: Annotated[list[str], typer.Option(help="KEY=NUMBER, repeatable.")] = [],  # noqa: B006
    param: Annotated[list[str], typer.Option(help="Hyperparameter KEY=VALUE, repeatable.")] = [],  # noqa: B006
    feature: Annotated[list[str], typer.Option(help="Input feature, repeatable.")] = [],  # noqa: B006
    type: Annotated[OptStr, typer.Option("--type", help="Model type, e.g. RandomForest.")] = None,
    trained_at: Annotated[OptStr, typer.Option(help="ISO 8601 time of training.")] = None,
    meta: Annotated[OptPath, typer.Option(help="YAML file with more metadata.")] = None,
    stage: Annotated[OptStr, typer.Option(help="Also promote to this stage.")] = None,
) -> None:
    """Register a new version of a model: version file, weights in DVC, tagged commit."""
    registry = _open()
    info = NewVersion.from_options(
        meta=meta, metrics=_pairs(metric, "--metric", _metric),
        hyperparameters=_pairs(param, "--param", _param), features=tuple(feature),
        model_type=type, trained_at=trained_at,
    )
    result = registry.register(name, path, version=version, bump=bump, info=info, stage=stage)
    for event in result.events:
        _echo(render.event_line(event))


@app.command()
def promote(
    name: str,
    version: str,
    stage: str,
    force: Annotated[bool, typer.Option(help="Override the stage's policy.")] = False,
    reason: Annotated[OptStr, typer.Option(help="Why (required with --force).")] = None,
) -> None:
    """Put VERSION in STAGE, replacing the version there if the stage is exclusive."""
    _echo(render.event_line(_open().promote(name, version, stage, force=force, reason=reason)))


@app.command()
def demote(
    name: str,
    stage: str,
    version: Annotated[OptStr, typer.Option(help="For a non-exclusive stage: which one.")] = None,
) -> None:
    """Take the version out of STAGE."""
    _echo(render.event_line(_open().demote(name, stage, version=version)))


@app.command()
def rollback(
    name: str,
    stage: str,
    to: Annotated[OptStr, typer.Option(help="Version to return to (default: previous).")] = None,
) -> None:
    """Return STAGE to the version it held before the current one."""
    _echo(render.event_line(_open().rollback(name, stage, to=to)))


@app.command("list")
def list_(
    name: Annotated[OptStr, typer.Argument(help="Only this model.")] = None,
    stage: Annotated[OptStr, typer.Option(help="Only versions in this stage.")] = None,
    min_metric: Annotated[list[str], typer.Option(help="KEY=NUMBER floor, repeatable.")] = [],  # noqa: B006
    json: JsonOpt = False,
) -> None:
    """List versions, with their stages and metrics."""
    floors = _pairs(min_metric, "--min-metric", _metric)
    rows = _open().catalog(name, stage=stage, min_metrics=floors)
    if json:
        _echo(render.to_json([render.version_json(r, s) for r, s in rows]))
    else:
        _echo(render.versions_table(rows) or "no versions match")


@app.command()
def show(
    ref: Annotated[str, typer.Argument(metavar="NAME[@VERSION|#STAGE]")],
    json: JsonOpt = False,
) -> None:
    """Show a model, a version (NAME@1.2.0) or what a stage holds (NAME#production)."""
    registry = _open()
    target = ModelRef.parse(ref)
    if target.version is None and target.stage is None:
        stage_map = registry.stage_map(target.name)
        rows = [(r, stage_map.stages_of(r.version)) for r in registry.versions(target.name)]
        stages = render.stage_map_json(stage_map, registry.config.stages)
        if json:
            _echo(render.to_json({"model": target.name, "stages": stages,
                                  "versions": [render.version_json(r, s) for r, s in rows]}))
            return
        _echo("\n".join(f"{s}: {', '.join(v) or '-'}" for s, v in stages.items()))
        _echo("\n" + render.versions_table(rows))
        return
    version = target.version or registry.version_in(target.name, target.stage or "")
    record = registry.record(target.name, version)
    stages_of = registry.stage_map(target.name).stages_of(version)
    _echo(render.to_json(render.version_json(record, stages_of)) if json
          else render.version_detail(record, stages_of))


@app.command()
def which(
    name: str,
    stage: str,
    at: Annotated[OptStr, typer.Option(help="A past date or time (ISO 8601).")] = None,
    rev: Annotated[OptStr, typer.Option(help="A git revision.")] = None,
    json: JsonOpt = False,
) -> None:
    """Print the version in STAGE (now, at a date, or at a git revision)."""
    held = _open().which(name, stage, at=at, rev=rev)
    if json:
        _echo(render.to_json({"model": name, "stage": stage, "versions": list(held),
                              "version": held[-1] if held else None}))
    elif held:
        _echo("\n".join(held))
    else:
        when = f" at {at or rev}" if at or rev else ""
        raise NotFound(f"{name} has no version in {stage}{when}")


@app.command()
def history(
    name: Annotated[OptStr, typer.Argument(help="Only this model.")] = None,
    stage: Annotated[OptStr, typer.Option(help="Only this stage.")] = None,
    json: JsonOpt = False,
) -> None:
    """Registrations and stage changes, oldest first, from git history."""
    events = _open().history_events(name, stage)
    if json:
        _echo(render.to_json([render.event_json(e) for e in events]))
    else:
        _echo(render.history_table(events) or "no history yet")


@app.command()
def get(
    name: str,
    version: Annotated[OptStr, typer.Option(help="This version.")] = None,
    stage: Annotated[OptStr, typer.Option(help="The version in this stage.")] = None,
    output: Annotated[OptPath, typer.Option("-o", "--output", help="Where to write.")] = None,
) -> None:
    """Write a version's weights, checked against their md5, to -o PATH."""
    record, path = _open().get(name, version=version, stage=stage, output=output)
    _echo(f"{record.name} {record.version} -> {path}")


@app.command()
def demo(
    folder: Annotated[OptPath, typer.Argument(help="Where (default: a new temp folder).")] = None,
) -> None:
    """Run the whole lifecycle on a local registry, printing each step."""
    from .demo import run

    run(folder, echo=typer.echo)


# Newer typer vendors click (typer._click) and no longer depends on it: its usage errors
# derive from typer.TyperException, not click.ClickException. Older typer raises click's.
_USAGE_ERRORS: tuple[type[Exception], ...] = (
    click.ClickException, getattr(typer, "TyperException", click.ClickException)
)


def main(argv: list[str] | None = None) -> int:
    """Entry point: one funnel turning every outcome into a documented exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="gitreg", standalone_mode=False)
    except GitregError as exc:
        typer.echo(f"gitreg: error: {exc}", err=True)
        return exc.exit_code
    except (click.exceptions.Abort, typer.Abort):
        typer.echo("gitreg: interrupted; nothing was changed", err=True)
        return EXIT_INTERRUPTED
    except _USAGE_ERRORS as exc:
        exc.show()
        return int(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("gitreg: interrupted; nothing was changed", err=True)
        return EXIT_INTERRUPTED
    except Exception:
        traceback.print_exc()
        typer.echo("gitreg: internal error: this is a bug, please report it with the "
                   "traceback above", err=True)
        return EXIT_BUG
    if result == EXIT_INTERRUPTED:  # newer typer turns Ctrl-C into Exit(130), silently
        typer.echo("gitreg: interrupted; nothing was changed", err=True)
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())
