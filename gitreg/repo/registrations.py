"""Version files as they were registered: which fixed fields changed since, and in which
commit (issue 12: version files are written once).

A registration fixes every field of its version file but ``description`` and ``labels``
(``records.MUTABLE_FIELDS``). A file whose content is still the blob its registration
commit added is read no further (its blob id is hashed here, as git would); the others
are compared, field by field, with that blob and with each later version of the file
that first-parent history holds: all read in one ``cat-file --batch``.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitreg.core.records import MUTABLE_FIELDS
from gitreg.errors import CorruptRegistry
from gitreg.git.runner import Git
from gitreg.repo import yamlio


@dataclass(frozen=True)
class Edit:
    """A version file whose registration-fixed fields differ from what was registered."""

    file: str
    fields: tuple[str, ...]  # key paths, e.g. ("metrics.accuracy",)
    registered: str  # the commit that added the file
    commit: str | None  # the first commit that changed them; None: an uncommitted edit


def edits(git: Git, log: Mapping[str, list[tuple[str, str, str]]],
          files: Mapping[str, bytes]) -> list[Edit]:
    """The files among ``files`` (path -> content now) whose fixed fields changed since
    the commit that added them; ``log`` is ``History.file_log``. Files history does not
    show being added (not committed yet) and files that do not parse (check reports them)
    are left out."""
    todo = []
    for path, content in files.items():
        entries = log.get(path, [])
        start = next((i for i, (_, status, _) in enumerate(entries) if status == "A"), None)
        if start is None:
            continue
        blob = entries[start][2]
        if blob and _blob_id(content, len(blob)) == blob:
            continue
        todo.append((path, content, entries[start:]))
    wanted = sorted({blob for *_, entries in todo for _, _, blob in entries if blob})
    texts = dict(zip(wanted, git.cat_files(wanted), strict=True))
    found = []
    for path, content, entries in todo:
        registered = _fixed(texts.get(entries[0][2]), path)
        now = _fixed(content, path)
        if registered is None or now is None or now == registered:
            continue
        changed_in = next((sha for sha, _, blob in entries[1:]
                           if _fixed(texts.get(blob), path) != registered), None)
        found.append(Edit(path, _changed(registered, now), entries[0][0], changed_in))
    return found


def _blob_id(content: bytes, length: int) -> str:
    """The id git gives ``content`` as a blob (SHA-1, or SHA-256 in such a repository)."""
    digest = hashlib.sha256 if length == 64 else hashlib.sha1
    return digest(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def _fixed(data: bytes | None, source: str) -> dict[str, Any] | None:
    """The fields a registration fixes, as parsed YAML; None if unreadable."""
    if data is None:
        return None
    with contextlib.suppress(CorruptRegistry):
        parsed = yamlio.loads(data, source)
        if isinstance(parsed, dict):
            return {k: v for k, v in parsed.items() if k not in MUTABLE_FIELDS}
    return None


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    """Key paths that differ, one level into mappings (``metrics.accuracy``)."""
    keys = []
    for key in sorted(old.keys() | new.keys(), key=str):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            keys += [f"{key}.{sub}" for sub in sorted(a.keys() | b.keys(), key=str)
                     if a.get(sub) != b.get(sub)]
        else:
            keys.append(str(key))
    return tuple(keys)
