"""YAML in and out: safe loading only, deterministic block-style dumps."""

from __future__ import annotations

import errno
import json
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg import faults
from gitreg.errors import CorruptRegistry, InvalidInput
from gitreg.repo import blockyaml

if TYPE_CHECKING:
    from types import ModuleType


def _yaml() -> ModuleType:
    """PyYAML, imported on first use (~20 ms): reads served by the cache (cache.py) and
    ``gitreg --help`` need none (issue 5)."""
    import yaml

    return yaml


def _loader() -> Any:
    # libyaml's parser when present: the same safe constructor, several times faster.
    yaml = _yaml()
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# A cloned registry is untrusted input (issue 6): aliases may not blow a file up ("billion
# laughs": nine aliases of nine aliases of ... build 10**9 nodes from a few hundred bytes,
# which every walk over the value, such as the cache's or --json, would then expand). The
# nodes aliases add are counted before anything is built; a file without them costs nothing.
MAX_ALIAS_NODES = 100_000
# And the characters they add: 3,000 aliases of one 1 MB string are few nodes, but 3 GB once
# built (a MemoryError in show, diff and site). Expanded, a file may hold this much more text
# than it is long.
MAX_ALIAS_CHARS = 1 << 20


def loads(text: str | bytes, source: str) -> Any:
    """Parse YAML with the safe loader; errors name ``source`` (a file, or file@commit).

    Only ``CorruptRegistry`` leaves: a file that is no YAML, uses Python tags, is not
    UTF-8, nests too deep, expands too far by aliases, or holds a value YAML cannot build
    (``2026-13-01``, a 5,000-digit integer).
    """
    value = blockyaml.loads(text)  # what gitreg writes, read at C-loader speed or better
    if value is not None:
        return value
    yaml = _yaml()
    loader = None
    try:
        loader = _loader()(text)  # libyaml encodes text at once: a surrogate fails here
        node = loader.get_single_node()
        anchors = "&" in text if isinstance(text, str) else b"&" in text
        if node is not None and anchors:
            _check_aliases(node, source, len(text))
        return None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CorruptRegistry.at(
            source, None, f"not valid YAML for gitreg: {problem}; fix or restore the file "
            "(git checkout -- FILE)", line=None if mark is None else mark.line + 1,
        ) from None
    except (UnicodeError, RecursionError) as exc:
        raise CorruptRegistry.at(source, None,
                                 f"unreadable YAML: {exc.__class__.__name__}") from None
    except (ValueError, TypeError, AttributeError, LookupError, OverflowError) as exc:
        # PyYAML's constructors let these through for values that look like a timestamp or
        # a number but are none (month 13, more digits than int() accepts, an empty "!!int",
        # "!!bool maybe"): found by tests/test_fuzz.py.
        raise CorruptRegistry.at(
            source, None, "not valid YAML for gitreg: a value cannot be read as the type its "
            f"form or tag says, such as a date with month 13 or an empty !!int "
            f"({exc.__class__.__name__}: {exc}); fix or restore the file (git checkout -- FILE)"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_aliases(root: Any, source: str, length: int) -> None:
    """Refuse a node graph whose aliases add more than ``MAX_ALIAS_NODES`` nodes, or more
    than ``MAX_ALIAS_CHARS`` characters to the ``length`` of the text, or that contains
    itself; iterative, so that depth cannot exhaust the stack."""
    sizes: dict[int, int] = {}  # node id -> nodes in it once aliases are expanded
    chars: dict[int, int] = {}  # node id -> characters of its scalars, expanded
    open_ids: set[int] = set()  # nodes whose children are being counted
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            open_ids.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            chars[key] = sum(chars[id(c)] for c in children) if children else \
                len(node.value) if isinstance(node.value, str) else 0
            if sizes[key] - len(sizes) > MAX_ALIAS_NODES:
                raise CorruptRegistry.at(
                    source, None, "not valid YAML for gitreg: its aliases (*name) expand to "
                    f"more than {MAX_ALIAS_NODES} values; write the values out"
                )
            if chars[key] > length + MAX_ALIAS_CHARS:
                raise CorruptRegistry.at(
                    source, None, "not valid YAML for gitreg: its aliases (*name) expand to "
                    f"more than {MAX_ALIAS_CHARS} characters beyond the file's own; write the "
                    "values out"
                )
            continue
        if key in sizes:
            continue
        open_ids.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in open_ids:
                raise CorruptRegistry.at(
                    source, None, "not valid YAML for gitreg: an alias (*name) refers to a "
                    "value that contains it; write the values out"
                )
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: Any) -> list[Any]:
    value = node.value
    if not isinstance(value, list):
        return []  # a scalar
    if value and isinstance(value[0], tuple):  # a mapping: (key, value) pairs
        return [part for pair in value for part in pair]
    return value


def load_file(path: Path, source: str, *, follow_links: bool = False) -> Any:
    return loads(read_file(path, source, follow_links=follow_links), source)


def load_input(path: Path) -> Any:
    """A YAML file the user named on the command line (``--meta``): links followed, and a
    problem with it is the user's input (exit 3), not a corrupt registry."""
    if not path.is_file():
        raise InvalidInput(f"metadata file {path} does not exist")
    try:
        return load_file(path, str(path), follow_links=True)
    except CorruptRegistry as exc:
        raise InvalidInput(str(exc)) from None


def read_file(path: str | Path, source: str, *, follow_links: bool = False) -> bytes:
    """A registry file's bytes; a missing file or a folder in its place is ``CorruptRegistry``.

    A symbolic link is refused unless ``follow_links`` (a user's own file, such as --meta): a
    cloned registry is untrusted, and a link committed in place of a registry file could
    make gitreg read, and show, a file from outside the repository (issue 6).
    """
    try:
        fd = os.open(path, _FOLLOW if follow_links else _NO_FOLLOW)
    except FileNotFoundError:
        raise CorruptRegistry.at(source, None, "file is missing") from None
    except IsADirectoryError:
        raise CorruptRegistry.at(source, None, "expected a file, found a directory") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(path):
            raise CorruptRegistry.at(source, None, LINK_REFUSED) from None
        raise CorruptRegistry.at(source, None, f"cannot be read: {exc.strerror}") from None
    try:
        # Reading a folder's descriptor fails (issue 13: a registry file committed as a
        # folder). os.read, not a file object: a third of the cost of reading 100,000
        # version files in a fresh clone's first `gitreg list` (issue 19).
        chunks = []
        while chunk := os.read(fd, _CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)
    except IsADirectoryError:
        raise CorruptRegistry.at(source, None, "expected a file, found a directory") from None
    finally:
        os.close(fd)


_FOLLOW = os.O_RDONLY | getattr(os, "O_BINARY", 0)
_NO_FOLLOW = _FOLLOW | getattr(os, "O_NOFOLLOW", 0)
_CHUNK = 1 << 16  # a version file's size is ~1 KB; not so large that each read maps memory

LINK_REFUSED = (
    "is a symbolic link; a registry's files and folders must be real ones, not links that "
    "could point outside the repository: replace it with the file (or folder) it stands for"
)


def dumps(data: Any) -> str:
    """Block style, keys in the order given, strings quoted where YAML would coerce them."""
    yaml = _yaml()
    text: str = yaml.dump(
        data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False,
        default_flow_style=False, allow_unicode=True, width=1000,
    )
    return text


# Strings written bare by ``dumps_plain``: a letter first, then letters, digits and a few
# marks, never a word YAML 1.1 reads as a boolean or null; or a version such as 1.9.8 (two
# dots: no number or date). Anything else is double-quoted.
_BARE = re.compile(r"(?:[A-Za-z][A-Za-z0-9_./@=+-]*|[0-9]+(?:\.[0-9]+){2,})\Z")
_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


class _NotPlain(Exception):
    """A value ``dumps_plain`` leaves to PyYAML."""


def dumps_plain(data: Any) -> str:
    """``dumps`` for plain data (dicts of strings, numbers, booleans, None and lists of
    those), written here rather than through PyYAML's Python representer, which cost a
    quarter of ``gitreg site`` at 10,000 model cards (issue 15). The text loads back to
    ``data`` with any YAML parser; a string with control characters, a list in a list or
    any other type goes through ``dumps`` instead."""
    try:
        lines: list[str] = []
        _block(data, 0, lines)
    except _NotPlain:
        return dumps(data)
    return "".join(lines)


def _block(data: Any, indent: int, out: list[str], first: str = "") -> None:
    """``data`` (a non-empty dict or list) in block style at ``indent``; ``first`` is put
    before its first line instead of the indentation (``- `` of the item holding it)."""
    pad = " " * indent
    if isinstance(data, dict) and data:
        for i, (key, value) in enumerate(data.items()):
            if not isinstance(key, str):
                raise _NotPlain
            lead = first if i == 0 and first else pad
            if isinstance(value, dict) and value:
                out.append(f"{lead}{_scalar(key)}:\n")
                _block(value, indent + 2, out)
            elif isinstance(value, list) and value:
                out.append(f"{lead}{_scalar(key)}:\n")
                _block(value, indent, out)  # PyYAML's layout: "- " under the key
            else:
                out.append(f"{lead}{_scalar(key)}: {_scalar(value)}\n")
    elif isinstance(data, list) and data:
        for i, item in enumerate(data):
            lead = first if i == 0 and first else pad
            if isinstance(item, dict) and item:
                _block(item, indent + 2, out, f"{lead}- ")
            elif isinstance(item, list):
                raise _NotPlain
            else:
                out.append(f"{lead}- {_scalar(item)}\n")
    else:
        raise _NotPlain


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:  # as PyYAML's representer writes floats
        if value != value:
            return ".nan"
        if value in (math.inf, -math.inf):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value).lower()
        return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text
    if type(value) is str:
        if _BARE.match(value) and value.lower() not in _WORDS:
            return value
        if value.isprintable():  # JSON's escapes ("\"", "\\") are YAML's too
            return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (dict, list)) and not value:
        return "{}" if isinstance(value, dict) else "[]"
    raise _NotPlain


def write_atomic(path: Path, text: str | bytes) -> None:
    """Replace ``path`` in one step, so that a reader never sees half a file."""
    import tempfile  # with shutil and random: only writes need it (issue 19)

    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        faults.point("rename", str(path))  # crash tests only (faults.py)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
