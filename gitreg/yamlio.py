"""YAML in and out: safe loading only, deterministic block-style dumps."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CorruptRegistry

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


def loads(text: str | bytes, source: str) -> Any:
    """Parse YAML with the safe loader; errors name ``source`` (a file, or file@commit)."""
    yaml = _yaml()
    try:
        return yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CorruptRegistry(
            f"{source}{where}: not valid YAML for gitreg: {problem}; fix or restore the file "
            "(git checkout -- FILE)"
        ) from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise CorruptRegistry(f"{source}: unreadable YAML: {exc.__class__.__name__}") from None


def load_file(path: Path, source: str) -> Any:
    return loads(read_file(path, source), source)


def read_file(path: str | Path, source: str) -> bytes:
    """A registry file's bytes; a missing file or a folder in its place is ``CorruptRegistry``."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise CorruptRegistry(f"{source}: file is missing") from None
    except IsADirectoryError:
        raise CorruptRegistry(f"{source}: expected a file, found a directory") from None


def dumps(data: Any) -> str:
    """Block style, keys in the order given, strings quoted where YAML would coerce them."""
    yaml = _yaml()
    text: str = yaml.dump(
        data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False,
        default_flow_style=False, allow_unicode=True, width=1000,
    )
    return text


def write_atomic(path: Path, text: str | bytes) -> None:
    """Replace ``path`` in one step, so that a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
