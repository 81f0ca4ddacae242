"""``gitreg register`` and ``gitreg get``, run without importing typer (issue 19 points 4
and 5).

Importing typer and click costs ~0.05 s of CPU, which a register pays on top of moving its
weights: with the other fixed costs of a register, the difference between 1.18 and 1.15
times (md5 + copy) of a 1 GiB file. So, as for ``which`` and ``show`` (reads.py), console.py
hands a well-formed ``gitreg register ...`` here first: parsed by the fast lane from the
declarations below (tests/test_argv.py holds them equal to app.py's), run through the same
error funnel; anything else goes to typer. app.py's ``register`` calls ``register`` here.
``get`` alike: typer was ~0.1 s of a 1 GiB get's 1.2 s, against 1.2x a copy (0.9 s).
"""

from __future__ import annotations

from pathlib import Path

from gitreg.cli import progress
from gitreg.cli.fastlane import Declarations, Param
from gitreg.cli.outcome import echo_text, open_registry
from gitreg.cli.values import metric as metric_value
from gitreg.cli.values import pairs
from gitreg.cli.values import param as param_value
from gitreg.core.newversion import Bump, NewVersion


def register(*, name: str, path: Path, version: str | None, bump: Bump | None,
             metric: list[str], param: list[str], feature: list[str], type: str | None,
             trained_at: str | None, meta: Path | None, stage: str | None, push: bool,
             propose: bool, quiet: bool, sign: bool) -> None:
    """``gitreg register``: version file, weights in DVC, tagged commit."""
    from gitreg.cli import render
    from gitreg.repo import yamlio
    from gitreg.service import sharing

    registry = open_registry()
    info = NewVersion.from_options(
        meta=None if meta is None else yamlio.load_input(meta), meta_source=str(meta),
        metrics=pairs(metric, "--metric", metric_value),
        hyperparameters=pairs(param, "--param", param_value), features=tuple(feature),
        model_type=type, trained_at=trained_at,
    )
    with progress.meter(f"{name}: pushing weights", quiet) as meter:
        if propose and not push:
            echo_text(render.proposal(sharing.propose_registration(
                registry, name, path, version=version, bump=bump, info=info, stage=stage,
                progress=meter, sign=sign)))
            return
        result = registry.register(name, path, version=version, bump=bump, info=info,
                                   stage=stage, push=push, progress=meter, sign=sign,
                                   propose=propose)
    for event in result.events:
        echo_text(render.event_line(event))


def get(*, name: str, version: str | None, stage: str | None, output: str | None,
        repo: str | None, rev: str | None, force: bool, quiet: bool) -> None:
    """``gitreg get``: a version's weights, checked against their md5, to -o PATH."""
    from gitreg.errors import InvalidInput
    from gitreg.repo import paths
    from gitreg.service import remote_registry

    target = Path(output) if output else None
    # `-o model/` means "into the folder model", as with cp; Path() drops the slash, and
    # the weights would become a file named model. Made here, removed again on failure.
    folder = target if target and str(output).endswith("/") and not target.exists() else None
    if folder is not None:
        paths.check_output(folder)
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            raise paths.output_refused(exc, folder) from None
    try:
        with progress.meter(f"{name}: fetching weights", quiet) as meter:
            if repo is not None:
                record, path = remote_registry.get(repo, name, version=version, stage=stage,
                                                   output=target, progress=meter, rev=rev,
                                                   force=force)
            elif rev is not None:
                raise InvalidInput("{rev} reads another registry: give it with {repo}",
                                   params=("rev", "repo"))
            else:
                record, path = open_registry().get(name, version=version, stage=stage,
                                                   output=target, progress=meter, force=force)
    except BaseException:
        if folder is not None:
            folder.rmdir()
        raise
    echo_text(f"{record.name} {record.version} -> {path}")


def _option(name: str, kind: type = str, default: object = None) -> tuple[Param, bool]:
    return Param(name, kind, False, default), True


# What app.py declares for `register`, as fastlane.declarations reads it there.
DECLARED: Declarations = (
    [Param("name", str, True, None), Param("path", Path, True, None)], {
        "--version": _option("version"), "--bump": _option("bump", Bump),
        "--metric": _option("metric", list, []), "--param": _option("param", list, []),
        "--feature": _option("feature", list, []), "--type": _option("type"),
        "--trained-at": _option("trained_at"), "--meta": _option("meta", Path),
        "--stage": _option("stage"), "--push": _option("push", bool, False),
        "--propose": _option("propose", bool, False),
        "--quiet": _option("quiet", bool, False), "-q": _option("quiet", bool, False),
        "--sign": _option("sign", bool, False)})

# What app.py declares for `get`, as fastlane.declarations reads it there.
GET_DECLARED: Declarations = (
    [Param("name", str, True, None)], {
        "--version": _option("version"), "--stage": _option("stage"),
        "-o": _option("output"), "--output": _option("output"), "--repo": _option("repo"),
        "--rev": _option("rev"), "--force": _option("force", bool, False),
        "--quiet": _option("quiet", bool, False), "-q": _option("quiet", bool, False)})
