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
_PLAIN_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")
# PyYAML's resolver keys its implicit types by first character: besides bools and nulls
# (the words above), only a scalar starting with one of these may be anything but a string.
_MAYBE_TYPED = re.compile(r"[-+.0-9<=]")
# A hash (an md5, a commit id) that starts with a digit: digits and a-f with a letter, so
# no number (a float needs ".", a hex int "0x", a sexagesimal ":", a date "-"), unless
# "0b" makes it a binary int. A string, without asking PyYAML's resolver (~10 us each, two
# or three per version file: a fifth of a fresh clone's first `gitreg list`, issue 19).
_HEX_WORD = re.compile(r"[0-9][0-9a-f]*[a-f][0-9a-f]*")
# Characters a plain scalar may hold here (printable ASCII without YAML's indicators that
# matter inside one: '#' starts a comment, and flow indicators are left to PyYAML).
_PLAIN = re.compile(r"[^\s\-?:,\[\]{}#&*!|>'\"%@`][^#,\[\]{}\t]*")
_QUOTED = re.compile(r"'(?:[^']|'')*'")


class _Fallback(Exception):
    """The text uses more of YAML than this module reads: PyYAML will."""


class _Marker:
    """A line's part that is no value: no key (a sequence item), no value (``key:``)."""


_NO_KEY, _NO_VALUE, _EMPTY_LIST, _EMPTY_DICT = _Marker(), _Marker(), _Marker(), _Marker()
Line = tuple[int, bool, Any, Any]  # indent, "- " item, key (or _NO_KEY), value (or _NO_VALUE)


def loads(data: str | bytes) -> Any:
    """The value of ``data`` if it is in gitreg's subset of YAML, else ``None`` (parse it
    with PyYAML: ``None`` is never a value this returns, as an empty document is left to it)."""
    if not data.isascii():
        return None
    text = data.decode("ascii") if isinstance(data, bytes) else data
    try:
        lines = []
        for raw in text.split("\n"):
            line = _lines.get(raw)
            if line is None:
                line = _line(raw)
                if line is None:
                    continue  # blank
                if len(_lines) >= 200_000:
                    _lines.clear()
                _lines[raw] = line
            lines.append(line)
        if not lines or lines[0][0] != 0:
            return None
        value, end = _block(lines, 0, 0)
    except _Fallback:
        return None
    return value if end == len(lines) else None


# Lines already read, by their text: a registry's files repeat most of theirs (keys with
# their indent, authors, formats), so most lines of a big registry are read once.
_lines: dict[str, Line] = {}


def _line(raw: str) -> Line | None:
    content = raw.lstrip(" ")
    if not content:
        return None
    # Control characters (tab, CR, DEL, ...) and document markers: PyYAML's business.
    if not content.isprintable() or content.startswith(("---", "...", "%")):
        raise _Fallback
    indent = len(raw) - len(content)
    if content.startswith("- "):
        item = content[2:]
        if not item or item[0] in " -":
            raise _Fallback  # nested sequences, odd spacing
        if _is_mapping_line(item):  # "- key: value" opens a mapping two columns in
            return (indent, True, *_split_key(item))
        return (indent, True, _NO_KEY, _scalar(item))
    if content == "-":
        raise _Fallback  # an item whose value is a block below it
    return (indent, False, *_split_key(content))


def _fresh(value: Any) -> Any:
    if value is _EMPTY_LIST:
        return []
    if value is _EMPTY_DICT:
        return {}
    return value


def _block(lines: list[Line], i: int, indent: int) -> tuple[Any, int]:
    """The mapping or sequence whose lines start at ``i``, indented by ``indent``."""
    if lines[i][1]:
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _mapping(lines: list[Line], i: int, indent: int,
             first: Line | None = None) -> tuple[dict[Any, Any], int]:
    """``first``: line ``i`` read as this one (the first pair of a sequence's item)."""
    result: dict[Any, Any] = {}
    end = len(lines)
    while i < end:
        at, item, key, value = first or lines[i]
        first = None
        if at != indent or item:
            break
        i += 1
        if value is not _NO_VALUE:
            result[key] = _fresh(value)
            continue
        if i < end:
            below, below_item = lines[i][0], lines[i][1]
            if below > indent or (below == indent and below_item):
                result[key], i = _block(lines, i, below)
                continue
        result[key] = None  # "key:" and nothing under it
    if i < end and lines[i][0] > indent:
        raise _Fallback  # an indentation this module does not follow
    return result, i


def _sequence(lines: list[Line], i: int, indent: int) -> tuple[list[Any], int]:
    result: list[Any] = []
    end = len(lines)
    while i < end:
        at, item, key, value = lines[i]
        if at != indent or not item:
            break
        if key is _NO_KEY:
            result.append(_fresh(value))
            i += 1
            continue
        # The item's mapping: its first line read as one two columns in.
        mapping, i = _mapping(lines, i, indent + 2, (indent + 2, False, key, value))
        result.append(mapping)
    if i < end and lines[i][0] > indent:
        raise _Fallback
    return result, i


def _is_mapping_line(content: str) -> bool:
    if content.startswith("'"):
        match = _QUOTED.match(content)
        rest = content[match.end():] if match else ""
        return rest == ":" or rest.startswith(": ")
    return ": " in content or content.endswith(":")


def _split_key(content: str) -> tuple[str, Any]:
    """``key: value`` as the key and the value (``_NO_VALUE`` if none)."""
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
        return key, _NO_VALUE
    if not rest.startswith(": "):
        raise _Fallback
    value = rest[2:]
    if value.startswith(" ") or not value:
        raise _Fallback
    return key, _scalar(value)


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
        return _EMPTY_LIST
    if text == "{}":
        return _EMPTY_DICT
    if text.endswith((" ", ":")) or ": " in text or " #" in text \
            or _PLAIN.fullmatch(text) is None:
        raise _Fallback
    if text in _BOOL:
        return _BOOL[text]
    if text in _NULL:
        return None
    if _MAYBE_TYPED.match(text) is None or (_HEX_WORD.fullmatch(text) and text[:2] != "0b"):
        return text
    # The numbers gitreg writes (sizes, metrics): a decimal integer without leading zeros
    # is an int, digits with one "." (and an exponent with a sign) a float, for PyYAML's
    # resolver too (its float rule comes first and needs the "."; its int rules take these
    # digits as decimal). Without asking it: ~10 us each, a metric or two in every version
    # file (issue 19).
    if _INT.fullmatch(text):
        return int(text)
    if _PLAIN_FLOAT.fullmatch(text):
        return float(text)
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
