"""How a command's outcome reaches the terminal, without importing typer: what it prints,
the notes of opening a registry, and the one funnel that turns every error into a line on
stderr and a documented exit code.

typer (and click, and pydantic behind them) cost more than half of what `which` may take
(issue 19 point 5), so the read commands console.py answers itself (reads.py) use this
module, and the typer commands (app.py) use the same, so both print the same bytes.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING

from gitreg.errors import EXIT_BUG, EXIT_INTERRUPTED, FileSystemRefused, GitregError, printable

if TYPE_CHECKING:
    from gitreg.cli.fastlane import Declarations
    from gitreg.service.registry import Registry

# What click.echo strips when the stream is not a terminal (click's `_compat._ansi_re`).
_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")

# How an error's parameters (their Python API names, errors.py) read on the command line.
FLAGS = {"reason": "--reason TEXT", "to": "--to VERSION", "label": "--label KEY=VALUE",
         "remove_label": "--remove-label KEY", "description": "--description TEXT",
         "limit": "--limit N", "keep_days": "--keep-days N", "output": "-o PATH",
         "rev": "--rev REV", "model": "--model MODEL@VERSION", "base": "--base REF",
         "labels": "--label KEY=VALUE", "model_type": "--type TYPE", "sort": "--sort METRIC",
         "by": "--by PERSON"}


def flag(param: str) -> str:
    return FLAGS.get(param, f"--{param.replace('_', '-')}")


def echo(message: str, *, err: bool = False) -> None:
    """``message`` and a line break, as ``typer.echo`` writes a text (click's ``echo``):
    escape sequences stripped when the stream is no terminal, flushed at once."""
    stream: IO[str] | None = sys.stderr if err else sys.stdout
    if stream is None:  # no standard stream to write to, as click allows
        return
    if _misconfigured(stream):  # click writes UTF-8 to its bytes instead: leave it to click
        import typer

        typer.echo(message, err=err)
        return
    out = message + "\n"
    if "\033" in out and not _is_terminal(stream):  # a scan in C first: a list is ~12 MB
        out = _ANSI.sub("", out)
    stream.write(out)
    stream.flush()


def _misconfigured(stream: IO[str]) -> bool:
    """A stream click would not write to as it is: no encoding, or ASCII (click's
    ``_stream_is_misconfigured``)."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        return codecs.lookup(encoding).name == "ascii"
    except LookupError:
        return False


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except Exception:  # a closed or odd stream: click then strips, as here
        return False


def echo_text(text: str) -> None:
    """A command's result on stdout, fit for a terminal (render.terminal); nothing if empty."""
    from gitreg.cli import render

    if text:
        echo(render.terminal(text))


def said_recovery(note: str | None) -> None:
    """Opening a registry undoes (or keeps, if it was pushed) a write that was killed
    part-way (service/registry.py); say what it did."""
    if note:
        echo(f"gitreg: {note}", err=True)


def warn(registry: Registry) -> None:
    for warning in registry.config.warnings:
        echo(f"gitreg: warning: {printable(warning)}", err=True)


def open_registry() -> Registry:
    """The registry the current directory is in, its notes and warnings said on stderr."""
    from gitreg.service.registry import Registry

    registry = Registry.find()
    said_recovery(registry.recovered)
    registry.note = said_recovery
    warn(registry)
    return registry


def run(command: Callable[..., None], declared: Declarations, argv: Sequence[str]) -> int | None:
    """Run ``command`` with ``argv`` read by the fast lane from ``declared``, without typer,
    and return its exit code; or None, having run nothing, if the lane does not read
    ``argv`` (typer's command line then takes it: --help, a mistake)."""
    from gitreg.cli.fastlane import parse_declared

    values = parse_declared(declared, argv)
    if values is None:
        return None

    def call() -> int:
        command(**values)
        return 0

    return funnel(call)


def funnel(call: Callable[[], int]) -> int:
    """Run ``call`` and return its exit code, or the documented one of what it raised: a
    ``GitregError``'s, 1 for a closed pipe (``gitreg list | head``), 130 for Ctrl-C, and
    ``EXIT_BUG`` with the traceback for anything else (a bug)."""
    try:
        return call()
    except BrokenPipeError:  # `gitreg list | head` stops reading: exit 1, as typer does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into a silent exit 130
            echo("gitreg: interrupted; nothing was changed", err=True)
        return code
    except GitregError as exc:
        echo(f"gitreg: error: {exc.worded(flag)}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        echo("gitreg: interrupted; nothing was changed", err=True)
        return EXIT_INTERRUPTED
    except Exception as exc:
        refused = FileSystemRefused.of(exc)  # a full disk, a read-only checkout (issue 13)
        if refused is not None:
            echo(f"gitreg: error: {refused}", err=True)
            return refused.exit_code
        import traceback

        traceback.print_exc()
        echo("gitreg: internal error: this is a bug, please report it with the "
             "traceback above", err=True)
        return EXIT_BUG
