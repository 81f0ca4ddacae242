"""The values of repeatable ``KEY=VALUE`` options (``--metric``, ``--param``, ``--label``...),
typed as the service wants them. Without typer, for the commands console.py runs directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitreg.errors import InvalidInput


def pairs(values: list[str], what: str, convert: Callable[[str, str], Any]) -> dict[str, Any]:
    """``k=v`` options as a mapping; ``convert`` types each value."""
    result = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"invalid {what} {item!r}: expected KEY=VALUE")
        result[key.strip()] = convert(key.strip(), value.strip())
    return result


def metric(key: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"metric {key}={value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidInput(f"metric {key}={value!r} is not a finite number")
    return int(number) if value.lstrip("-").isdigit() else number


def param(key: str, value: str) -> Any:
    """Numbers and booleans stay what they are; everything else is a string."""
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value
