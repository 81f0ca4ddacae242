"""``gitreg register``, run without importing typer (issue 19 points 4 and 5).

Importing typer and click costs ~0.05 s of CPU, which a register pays on top of moving its
weights: with the other fixed costs of a register, the difference between 1.18 and 1.15
times (md5 + copy) of a 1 GiB file. So, as for ``which`` and ``show`` (reads.py), console.py
hands a well-formed ``gitreg register ...`` here first: parsed by the fast lane from the
declarations below (tests/test_argv.py holds them equal to app.py's), run through the same
error funnel; anything else goes to typer. app.py's ``register`` calls ``register`` here.
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
