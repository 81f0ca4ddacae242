"""A fast lane for the command line's everyday calls, read from the commands' own signatures.

typer 0.29 converts every option value through a pydantic ``TypeAdapter``, and importing
pydantic alone costs ~0.15 s of CPU per command: half of the 0.3 s that ``which`` may take
(issue 5), and ~30% of a ``register``'s CPU time (issue 19). So a well-formed call of one of
the commands ``cli.py`` lists as fast (its arguments and options exactly as their
``Annotated`` declarations say, values that are plain strings, paths, flags, repeated
strings or one of an ``Enum``'s values) is parsed here, from the same declarations typer
reads, and calls the same function with the same values. Anything else (``--help``, ``--``,
an unknown or misspelled option, a missing or extra argument, an empty path, a value that is
not one of the choices, an option whose value is a number) returns ``None`` and goes to
typer, which parses it or explains the mistake exactly as before.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitreg.cli.params import Declared


@dataclass(frozen=True)
class Param:
    name: str
    kind: type  # str, Path, an Enum, bool or list (of str)
    required: bool
    default: Any

    def convert(self, value: str) -> Any:
        """The value typer would pass for ``value``, or ``_REFUSED`` (typer then explains)."""
        if self.kind is Path:
            # typer's Path("") would be the current folder; it is left to typer to say so.
            return Path(value) if value else _REFUSED
        if issubclass(self.kind, enum.Enum):
            # typer matches a choice's value, case-sensitively by default (its `Choice`).
            for member in self.kind:
                if member.value == value:
                    return member
            return _REFUSED
        return value


_REFUSED = object()

# A command's arguments in order, and its options by flag (with the value a flag gives).
Declarations = tuple[list[Param], dict[str, tuple[Param, bool]]]


def parse(func: Callable[..., Any], argv: Sequence[str]) -> dict[str, Any] | None:
    """The keyword arguments typer would call ``func`` with for ``argv``, or ``None`` when
    this lane does not handle ``argv`` (typer then will)."""
    found = declarations(func)
    return None if found is None else parse_declared(found, argv)


def parse_declared(declared: Declarations, argv: Sequence[str]) -> dict[str, Any] | None:
    """``parse`` on declarations already read (reads.py keeps them, to run without typer)."""
    positional, options = declared
    values: dict[str, Any] = {}
    given: list[str] = []
    tokens = list(argv)
    while tokens:
        token = tokens.pop(0)
        if token == "--":
            return None
        if not token.startswith("-") or token == "-":
            given.append(token)
            continue
        flag, eq, inline = token.partition("=")
        if flag not in options:
            return None
        param, flag_value = options[flag]
        if param.kind is bool:
            if eq:
                return None
            values[param.name] = flag_value
            continue
        if eq:
            value = inline
        elif tokens and not tokens[0].startswith("-"):
            value = tokens.pop(0)
        else:
            return None
        if param.kind is list:
            values.setdefault(param.name, []).append(value)
        else:
            values[param.name] = param.convert(value)
    required = sum(1 for p in positional if p.required)
    if not required <= len(given) <= len(positional):
        return None
    for param, value in zip(positional, given, strict=False):
        values[param.name] = param.convert(value)
    if any(p.required and p.name not in values for p, _ in options.values()):
        return None  # a required option left out: typer says which
    if any(value is _REFUSED for value in values.values()):
        return None
    for param in (*positional, *(p for p, _ in options.values())):
        values.setdefault(param.name, param.default)
    return values


def declarations(func: Callable[..., Any]) -> Declarations | None:
    """``func``'s arguments in order and its options by flag (with a flag's value)."""
    import inspect  # ~10 ms: only when declarations are read from a signature

    hints = typing.get_type_hints(func, include_extras=True)
    positional: list[Param] = []
    options: dict[str, tuple[Param, bool]] = {}
    for name, signature in inspect.signature(func).parameters.items():
        annotation, info = _unwrap(hints[name])
        required = signature.default is inspect.Parameter.empty
        default = None if required else signature.default
        if info is not None and not info.plain:
            return None
        kind = _kind(annotation)
        if kind is None:
            if required or (info is not None and not info.option):
                return None
            # A value the lane cannot convert (a number): it keeps its default, and using
            # the option goes to typer (its flag is unknown here).
            continue
        param = Param(name, kind, required, list(default or ()) if kind is list else default)
        if (info is not None and info.option) or (info is None and not required):
            flags = [d for d in (info.flags if info else ()) if d.startswith("-")]
            if any("/" in flag for flag in flags):
                return None
            if not flags:
                flags = [f"--{name.replace('_', '-')}"]
                if kind is bool:
                    options[f"--no-{name.replace('_', '-')}"] = (param, False)
            for flag in flags:
                options[flag] = (param, True)
        elif kind in (str, Path):
            positional.append(param)
        else:
            return None
    return positional, options


def _unwrap(hint: Any) -> tuple[Any, Declared | None]:
    """The type of an ``Annotated`` hint and its declaration; a parameter declared with
    typer directly (unknown here) is not plain, so the lane leaves the command to typer."""
    from gitreg.cli.params import Declared, declared  # typer: not for reads.py's commands

    if typing.get_origin(hint) is typing.Annotated:
        base, *extras = typing.get_args(hint)
        for extra in extras:
            found = declared(extra)
            if found is not None:
                return base, found
        return base, Declared(option=False, flags=(), plain=False) if extras else None
    return hint, None


def _kind(annotation: Any) -> type | None:
    """str, Path, an Enum, bool or list (of str) for the annotations the lane converts;
    else None."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union and len(args) == 1:
        annotation = args[0]
    if annotation in (str, bool, Path) or (
            isinstance(annotation, type) and issubclass(annotation, enum.Enum)):
        return typing.cast(type, annotation)
    if typing.get_origin(annotation) is list and typing.get_args(annotation) == (str,):
        return list
    return None
