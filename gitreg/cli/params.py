"""Arguments and options of the command line, declared once for typer and the fast lane.

``Argument`` and ``Option`` return what ``typer.Argument``/``typer.Option`` return, and
remember what they were given, so the fast lane (fastlane.py) reads the same declarations
without looking inside typer's own objects (STYLE.md 14: GTO broke when typer changed its
internals).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import typer

# Keywords that change how a value is read: typer applies them, so the fast lane steps aside.
_TYPER_ONLY = frozenset({"callback", "envvar", "parser", "click_type", "default_factory",
                         "is_eager", "prompt", "expose_value", "count", "hidden",
                         # checks typer makes of a path, a number or a choice
                         "exists", "file_okay", "dir_okay", "readable", "writable",
                         "resolve_path", "allow_dash", "path_type", "case_sensitive", "min",
                         "max", "clamp", "formats"})


@dataclass(frozen=True)
class Declared:
    """What a parameter was declared with: ``flags`` of an option (none: ``--name``),
    and whether the fast lane may read it (``plain``)."""

    option: bool
    flags: tuple[str, ...]
    plain: bool


_DECLARED: dict[int, Declared] = {}
_KEEP: list[Any] = []  # the declared objects stay alive, so their ids stay theirs


def Argument(**kwargs: Any) -> Any:
    return _remember(typer.Argument(**kwargs), Declared(False, (), _plain(kwargs)))


def Option(*flags: str, **kwargs: Any) -> Any:
    return _remember(typer.Option(*flags, **kwargs), Declared(True, flags, _plain(kwargs)))


def declared(info: object) -> Declared | None:
    """How ``info`` (an ``Annotated`` extra) was declared here, if it was."""
    return _DECLARED.get(id(info))


def _remember(info: Any, declaration: Declared) -> Any:
    _KEEP.append(info)
    _DECLARED[id(info)] = declaration
    return info


def _plain(kwargs: dict[str, Any]) -> bool:
    return not (_TYPER_ONLY & kwargs.keys())
