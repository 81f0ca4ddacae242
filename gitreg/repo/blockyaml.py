"""The block-style YAML that gitreg writes, read without PyYAML's Python constructor.

PyYAML's C loader (libyaml) parses fast, but every node is then built by the Python
constructor: at 100,000 versions that was most of a first ``check`` or ``list`` in a fresh
clone (issue 19). The files gitreg writes (yamlio.dumps: block style, ASCII keys, plain or
single-quoted scalars) use a small part of YAML, which ``loads`` reads here directly.

Anything outside that part returns ``None`` and the caller parses the text with PyYAML,
which builds the value (or explains the error) as before: double quotes, comments, anchors,
aliases, tags, flow collections other than ``[]`` and ``{}``, multi-line or block scalars,
document markers, tabs, non-ASCII or control characters, a plain scalar that YAML would
read as anything but a string, a decimal integer, a plain float, a bool or a null (dates,
``0x1F``, ``1_000``, ``1:30``, ``.inf``). So a value read here is the value PyYAML's safe
loader builds for the same text (tests/test_blockyaml.py compares them on generated input).
"""

from __future__ import annotations

import re
from typing import Any

# YAML 1.1's implicit types (PyYAML's resolver), for plain scalars. A scalar that matches
# one of the types below but not the narrow form this module converts is left to PyYAML.
_BOOL = {"yes": True, "Yes": True, "YES": True, "no": False, "No": False, "NO": False,
         "true": True, "True": True, "TRUE": True, "false": False, "False": False,
         "FALSE": False, "on": True, "On": True, "ON": True, "off": False, "Off": False,
         "OFF": False}
_NULL = {"", "~", "null", "Null", "NULL"}
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:[0-9][0-9]*)?\.[0-9]*(?:[eE][-+][0-9]+)?")
# PyYAML's resolver keys its implicit types by first character: besides bools and nulls
# (the words above), only a scalar starting with one of these may be anything but a string.
_MAYBE_TYPED = re.compile(r"[-+.0-9<=]")
# Characters a plain scalar may hold here (printable ASCII without YAML's indicators that
# matter inside one: '#' starts a comment, and flow indicators are left to PyYAML).
_PLAIN = re.compile(r"[^\s\-?:,\[\]{}#&*!|>'\"%@`][^#,\[\]{}\t]*")
_QUOTED = re.compile(r"'(?:[^']|'')*'")


class _Fallback(Exception):
    """The text uses more of YAML than this module reads: PyYAML will."""


def loads(data: str | bytes) -> Any:
    """The value of ``data`` if it is in gitreg's subset of YAML, else ``None`` (parse it
    with PyYAML: ``None`` is never a value this returns, as an empty document is left to it)."""
    if isinstance(data, bytes):
        if not data.isascii():
            return None
        text = data.decode("ascii")
    else:
        if not data.isascii():
            return None
        text = data
    lines = [(len(line) - len(line.lstrip(" ")), line.lstrip(" "))
             for line in text.split("\n") if line.strip(" ")]
    if not lines or lines[0][0] != 0:
        return None
    for _, content in lines:
        # Control characters (tab, CR, DEL, ...) and document markers: PyYAML's business.
        if not content.isprintable() or content.startswith(("---", "...", "%")):
            return None
    try:
        value, end = _block(lines, 0, 0)
    except _Fallback:
        return None
    if end != len(lines):
        return None
    return value


def _block(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[Any, int]:
    """The mapping or sequence whose lines start at ``i``, indented by ``indent``."""
    if lines[i][1].startswith("- ") or lines[i][1] == "-":
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _mapping(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[dict[Any, Any], int]:
    result: dict[Any, Any] = {}
    while i < len(lines) and lines[i][0] == indent:
        content = lines[i][1]
        if content.startswith("- ") or content == "-":
            break
        key, value_text = _split_key(content)
        i += 1
        if value_text:
            result[key] = _scalar(value_text)
            continue
        if i < len(lines):
            below, below_content = lines[i]
            is_item = below_content.startswith("- ") or below_content == "-"
            if below > indent or (below == indent and is_item):
                result[key], i = _block(lines, i, below)
                continue
        result[key] = None  # "key:" and nothing under it
    if i < len(lines) and lines[i][0] > indent:
        raise _Fallback  # an indentation this module does not follow
    return result, i


def _sequence(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[list[Any], int]:
    result: list[Any] = []
    while i < len(lines) and lines[i][0] == indent:
        content = lines[i][1]
        if not content.startswith("- "):
            break  # "-" alone (a nested block under it) is left to PyYAML below
        item = content[2:]
        if item.startswith(" ") or item.startswith("-") or not item:
            raise _Fallback  # nested sequences, odd spacing
        if _is_mapping_line(item):
            # "- key: value" opens a mapping whose lines sit two columns in.
            nested = [(indent + 2, item), *lines[i + 1:]]
            value, used = _mapping(nested, 0, indent + 2)
            result.append(value)
            i += used
            continue
        result.append(_scalar(item))
        i += 1
    if i < len(lines) and lines[i][0] > indent:
        raise _Fallback
    if i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- ") \
            and lines[i][1].startswith("-"):
        raise _Fallback
    return result, i


def _is_mapping_line(content: str) -> bool:
    if content.startswith("'"):
        match = _QUOTED.match(content)
        rest = content[match.end():] if match else ""
        return rest == ":" or rest.startswith(": ")
    return ": " in content or content.endswith(":")


def _split_key(content: str) -> tuple[str, str]:
    """``key: value`` as the key and the value's text ("" if none)."""
    if content.startswith("'"):
        match = _QUOTED.match(content)
        if match is None:
            raise _Fallback
        key, rest = _unquote(match.group()), content[match.end():]
    else:
        key, sep, after = content.partition(": ")
        if not sep:
            if not content.endswith(":"):
                raise _Fallback
            key, after = content[:-1], ""
        rest = ":" + (" " + after if sep else "")
        key = _plain_key(key)
    if rest == ":":
        return key, ""
    if not rest.startswith(": "):
        raise _Fallback
    value = rest[2:]
    if value.startswith(" ") or not value:
        raise _Fallback
    return key, value


def _plain_key(text: str) -> str:
    value = _scalar(text)
    if not isinstance(value, str):
        raise _Fallback  # a key YAML reads as a number, bool or null
    return value


def _scalar(text: str) -> Any:
    """A one-line scalar as the safe loader builds it, or ``_Fallback``; remembered, as
    a registry's files repeat most of theirs (keys, authors, formats)."""
    try:
        return _seen[text]
    except KeyError:
        pass
    value = _convert(text)
    if isinstance(value, (list, dict)):
        return value  # mutable: a new one each time
    if len(_seen) >= 100_000:
        _seen.clear()
    _seen[text] = value
    return value


_seen: dict[str, Any] = {}


def _convert(text: str) -> Any:
    if text.startswith("'"):
        if _QUOTED.fullmatch(text) is None:
            raise _Fallback
        return _unquote(text)
    if text == "[]":
        return []
    if text == "{}":
        return {}
    if text.endswith((" ", ":")) or ": " in text or " #" in text \
            or _PLAIN.fullmatch(text) is None:
        raise _Fallback
    if text in _BOOL:
        return _BOOL[text]
    if text in _NULL:
        return None
    if _MAYBE_TYPED.match(text) is None:
        return text
    tag = _resolve(text)
    if tag == "tag:yaml.org,2002:str":
        return text
    if tag == "tag:yaml.org,2002:int" and _INT.fullmatch(text):
        return int(text)
    if tag == "tag:yaml.org,2002:float" and _FLOAT.fullmatch(text):
        return float(text)
    raise _Fallback  # a date, 0x1F, 1_000, 1:30, .inf, "<<", "=": PyYAML builds those


def _resolve(text: str) -> str:
    """The tag PyYAML's resolver gives a plain scalar (imported only for scalars that
    start like a number: the same rules, not a copy of them)."""
    global _resolver
    from yaml.nodes import ScalarNode

    if _resolver is None:
        from yaml.resolver import Resolver

        _resolver = Resolver()
    tag: str = _resolver.resolve(ScalarNode, text, (True, False))
    return tag


_resolver: Any = None


def _unquote(text: str) -> str:
    return text[1:-1].replace("''", "'")
