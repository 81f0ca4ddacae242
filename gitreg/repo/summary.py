"""What ``gitreg list`` shows of a version, read straight from the text gitreg writes.

A first ``gitreg list`` in a fresh clone read 100,000 version files; building each one's
whole record (blockyaml.py, then ``version_from_dict``'s checks) was ~80% of its 13 s
(issue 19). A table row needs five fields: name, version, registration time, model type and
metrics. So ``read`` matches the whole file, in one regular expression run in C, against the
form ``yamlio.dumps`` gives ``version_to_dict``'s mapping: its keys in that order, one per
line, and every value in a narrow form whose YAML value is known without a YAML parser and
passes ``version_from_dict``'s check of its field (a non-empty string that is no number,
bool, null or date; a decimal integer or float; a relative path; ...). A file that
matches is one the full parse accepts, with the same five fields; anything else (a hand
edit in another style, a comma in a description, a nested hyperparameter, a model name
that starts with a digit, a file naming another place) returns ``None``, and the caller
parses the file in full, which reads it or explains the problem exactly as before.

tests/test_summary.py holds that on generated version files and on edits of them: a
summary read here is the full parse's, and a file refused by the full parse is refused here.
"""

from __future__ import annotations

import functools
import math
import re
from typing import NamedTuple

from gitreg.core.names import Version
from gitreg.core.records import VersionSummary
from gitreg.errors import InvalidInput

# The words YAML 1.1 reads as a bool or null (PyYAML's resolver), and y/n besides: a plain
# scalar that is one of them is no string. Only these words, among plain scalars that start
# with a letter, are typed by the resolver: such a scalar is otherwise a string.
_WORDS = ("yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
          "|null|Null|NULL|y|Y|n|N")
# Inside a plain string (after its first character, a letter): printable ASCII without
# YAML's indicators ("#", ",", flow brackets, '"', "&", "*", "!", "|", "%", "`", "?"), a
# ":" only before another of these characters (md5:9fda...), single spaces between words.
_CHAR = r"[A-Za-z0-9_./@<>()+='-]"
_PLAIN = rf"(?!(?:{_WORDS})\n)[A-Za-z]{_CHAR}*(?::{_CHAR}+)*(?: {_CHAR}+(?::{_CHAR}+)*)*"
_QUOTED = r"'(?:[ -&(-~]|'')+'"  # single-quoted, not empty
# Digits then a letter a-f, then hex digits: no number (a float needs ".", a hex int "0x",
# a date "-"), unless "0b" and binary digits make a binary int. An md5, a commit id.
_HEX = r"(?!0b[01]*\n)[0-9]+[a-f][0-9a-f]*"
# A SemVer version (two dots: no number or date), as a parent is written.
_VERSION = r"[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?"
# Each alternative starts with characters no other one starts with, or fails within its
# first run of digits: a file that does not match fails in time linear in its length.
_TEXT = rf"(?:{_QUOTED}|{_PLAIN}|{_HEX}|{_VERSION})"
_OPTIONAL = rf"(?:{_TEXT}|null)"
_KEY = rf"(?!(?:{_WORDS}):)[A-Za-z_][A-Za-z0-9_./-]*"
# Decimal numbers as blockyaml.py and PyYAML read them (no leading zero: 010 is octal).
_INT = r"(?:0|[1-9][0-9]{0,300})"
_NUMBER = rf"-?{_INT}|-?[0-9]{{1,300}}\.[0-9]*(?:[eE][-+][0-9]{{1,3}})?"
_SCALAR = rf"(?:{_TEXT}|{_NUMBER}|{_WORDS}|\[\]|\{{\}})"
# Parts that are no "", "." or "..": each starts with no dot.
_PATH = rf"(?!(?:{_WORDS})\n)[A-Za-z][A-Za-z0-9_.+@=-]*(?:/[A-Za-z0-9_+@=-][A-Za-z0-9_.+@=-]*)*"


def _strings(key: str, indent: str = "") -> str:
    return rf"{indent}{key}:(?: \[\]\n|\n(?:{indent}- {_TEXT}\n)+)"


def _mapping(key: str, value: str, indent: str = "") -> str:
    return rf"{indent}{key}:(?: \{{\}}\n|\n(?:{indent}  {_KEY}: (?:{value})\n)+)"


_FILE = (
    rf"name: (?P<name>{_TEXT})\n"
    rf"version: (?P<version>{_VERSION})\n"
    rf"registered_at: (?P<registered_at>{_TEXT})\n"
    rf"registered_by: {_TEXT}\n"
    rf"trained_at: {_OPTIONAL}\n"
    rf"model_type: (?P<model_type>{_OPTIONAL})\n"
    rf"description: {_OPTIONAL}\n"
    rf"metrics:(?: \{{\}}\n|\n(?P<metrics>(?:  {_KEY}: (?:{_NUMBER})\n)+))"
    + _mapping("hyperparameters", _SCALAR) + _strings("features") + _strings("labels")
    + rf"artifact:\n  path: (?P<path>{_PATH})\n  format: {_TEXT}\n  md5: (?P<md5>{_TEXT})\n"
    rf"  size: (?P<size>{_INT})\n(?:  nfiles: (?P<nfiles>{_INT})\n)?"
    rf"lineage:\n  code_commit: {_OPTIONAL}\n" + _mapping("data", _TEXT, "  ")
    + rf"  depends_on:(?: \[\]\n|\n(?P<depends_on>(?:  - {_TEXT}\n)+))"
    + rf"  parent: {_OPTIONAL}\n")
_ITEM = re.compile(r"  - ([^\n]+)\n")
_METRIC = re.compile(r"  ([^:]+): ([^\n]+)\n")


@functools.lru_cache(maxsize=1)
def _compiled() -> re.Pattern[str]:
    """``_FILE``, compiled on first use (~10 ms: not for reads that parse no version file,
    such as a warm list, which or show)."""
    return re.compile(_FILE)


def read(data: bytes, name: str, version: str) -> VersionSummary | None:
    """The summary of the version file ``data`` of ``name``'s ``version`` (a valid model
    name, which the caller checked), or ``None``: parse the file in full, it is not in
    gitreg's form or does not name this place (the full parse says why, if it is wrong)."""
    matched = _matched(data, name, version)
    if matched is None:
        return None
    match, metrics = matched
    registered_at, model_type = match.group("registered_at", "model_type")
    return VersionSummary(name, version, _unquoted(registered_at),
                          None if model_type == "null" else _unquoted(model_type), metrics)


class Checked(NamedTuple):
    """What ``gitreg check`` asks of a version file besides its validity: where its weights
    are and what they are, and what it depends on."""

    path: str
    md5: str
    size: int
    nfiles: int | None
    depends_on: tuple[str, ...]


def checked(data: bytes, name: str, version: str) -> Checked | None:
    """``read``'s verdict for ``check``: None where ``read`` says None (parse the file in
    full); else the file is one the full parse accepts, for this place, and these are its
    fields. So a check builds no record for a version no policy asks about (issue 19)."""
    matched = _matched(data, name, version)
    if matched is None:
        return None
    path, md5, size, nfiles, depends_on = matched[0].group("path", "md5", "size", "nfiles",
                                                           "depends_on")
    return Checked(path, _unquoted(md5), int(size), None if nfiles is None else int(nfiles),
                   tuple(_unquoted(item) for item in _ITEM.findall(depends_on or "")))


def _matched(data: bytes, name: str,
             version: str) -> tuple[re.Match[str], dict[str, float]] | None:
    """The match of ``data`` in gitreg's form for this place, with its metrics; or None."""
    # Latin-1 maps each byte to one character: anything but printable ASCII fails to match.
    match = _compiled().fullmatch(data.decode("latin-1"))
    if match is None:
        return None
    said, said_version, metrics = match.group("name", "version", "metrics")
    if _unquoted(said) != name or said_version != version or not _normal(version):
        return None
    found: dict[str, float] = {}
    for key, text in _METRIC.findall(metrics or ""):
        if "." in text:
            number = float(text)
            if not math.isfinite(number):  # 1.0e+999: not a number for gitreg
                return None
            found[key] = number
        else:
            found[key] = int(text)
    return match, found


def _unquoted(text: str) -> str:
    return text[1:-1].replace("''", "'") if text.startswith("'") else text


def _normal(version: str) -> bool:
    """Whether ``version`` is a SemVer version in its normal form (version_from_dict's
    check; Version.parse remembers the versions it has read)."""
    try:
        return str(Version.parse(version)) == version
    except InvalidInput:
        return False
