"""What a whole-registry read made of each model, in ONE cache file, checked by stat.

``gitreg list`` at 100,000 versions read ~1,000 cache files and rebuilt 100,000 records on
every run (issue 19). What it prints of a model depends only on the model's files
(``versions/*.yaml``, ``stages.yaml``, ``deprecated.yaml``), so this file keeps, per model,
a *signature* of those files as the work tree holds them (each file's name, inode, size,
modification and change times: cache.py's rule, git's rule for its index) beside what the
caller made of them (``payload``: strings, such as the rows of a table). A model whose
signature is the same is not read again; any write to any of its files (by gitreg, git, an
editor), a file added or removed, moves its signature, and only that model is read again.
A file changed within ``SETTLED`` seconds is not vouched for (a second write in the same
clock tick could go unseen): its model is read, and not kept, until it has settled.

So a warm read costs one ``stat`` per file and one small file to load: no YAML, no record
objects. What the caller made of all the payloads together (the whole table,
Registry.joined) is kept too, in a second file (``.whole``), under a key of every model's
signature: a read whose files all have the signatures they had loads that text alone.

The file is JSON, not pickle: it is read as untrusted input (a tampered or damaged file, or
an entry of another shape, is ignored and rebuilt; ``valid`` checks a payload's shape
before anything uses it; the whole text is only printed, as a registry file's text is, and
the command line escapes what is not printable) and can make a command slower, never
wrong about what its files say, never fail. ``GITREG_NO_CACHE=1`` turns it off (cachefile.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat as stat_module
import time
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path

from gitreg.core.layout import VERSIONS_DIR
from gitreg.repo import cachefile
from gitreg.repo.cache import key_of

FORMAT = b"gitreg-catalog 2\n"
WHOLE = b"gitreg-catalog-whole 1\n"
SETTLED = 2.0  # seconds: as cache.ParsedFiles.SETTLED

Payload = tuple[str, ...]
# A model's signature, its version files and its files' stats (``signature``).
Signature = tuple[str, list[str], list[os.stat_result]]


def signature(folder: str, names: Iterable[str]) -> Signature:
    """The signature of ``folder``'s files ``names`` and of the ``*.yaml`` files in its
    ``versions`` folder; the names of those (unsorted: ``stems`` gives the versions); and
    the files' stats, for ``vouched``."""
    versions, stats = _versions(f"{folder}/{VERSIONS_DIR}")
    files = list(versions)
    for name in names:
        # A missing file shows in the names; reading one reports any other problem.
        with contextlib.suppress(OSError):
            stats.append(os.stat(f"{folder}/{name}", follow_symlinks=False))
            files.append(f"../{name}")
    # The names, then each file's device, inode, size and times, hashed: a few calls per
    # model (a warm `gitreg list` makes 1,000 of these of 100 files each), and a short key.
    digest = hashlib.sha1("/".join(files).encode(errors="surrogateescape"),
                          usedforsecurity=False)
    try:
        digest.update(array("q", [n for st in stats for n in (
            st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)]).tobytes())
    except OverflowError:  # an inode number past 2**63 on some file system
        return "", versions, []
    return digest.hexdigest(), versions, stats


def stems(files: list[str]) -> list[str]:
    """The versions of ``signature``'s version files: their names without ``.yaml``, as
    parsers.yaml_stems gives them (only for a model read again: a warm read needs none)."""
    return [name[:-5] if len(name) > 5 else name for name in files]


# A file's stat relative to its folder's descriptor: the kernel walks one name, not the
# whole path, ~15% of a warm `gitreg list`'s 100,000 stats (issue 19).
_RELATIVE = os.stat in os.supports_dir_fd and os.listdir in os.supports_fd


def _versions(folder: str) -> tuple[list[str], list[os.stat_result]]:
    """The ``*.yaml`` files in ``folder`` and their stats (none if it cannot be listed; a
    file removed meanwhile is left out)."""
    if not _RELATIVE:
        try:
            with os.scandir(folder) as entries:
                names = [e.name for e in entries if e.name.endswith(".yaml")]
        except OSError:
            return [], []
        return _each(names, lambda name: os.stat(f"{folder}/{name}", follow_symlinks=False))
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return [], []
    try:
        names = [name for name in os.listdir(fd) if name.endswith(".yaml")]
        try:
            stat = os.stat
            return names, [stat(name, dir_fd=fd, follow_symlinks=False) for name in names]
        except OSError:
            return _each(names, lambda name: os.stat(name, dir_fd=fd, follow_symlinks=False))
    except OSError:
        return [], []
    finally:
        os.close(fd)


def _each(names: list[str], stat: Callable[[str], os.stat_result]
          ) -> tuple[list[str], list[os.stat_result]]:
    found: list[str] = []
    stats: list[os.stat_result] = []
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            stats.append(stat(name))
            found.append(name)
    return found, stats


def vouched(stats: list[os.stat_result], settled: float) -> bool:
    """Whether a signature of files with these stats can be kept: every file a regular
    one, none changed after ``settled`` (a time). A kept signature that matches again is
    of the same files, so only a signature about to be kept is asked."""
    return bool(stats) and all(
        stat_module.S_ISREG(st.st_mode) and max(st.st_mtime_ns, st.st_ctime_ns) / 1e9 < settled
        for st in stats)


class Catalog:
    """One cache file of per-model payloads of one ``kind`` (what made them, and how)."""

    def __init__(self, folder: Path | None, kind: str,
                 valid: Callable[[Payload], bool]) -> None:
        self.path = (None if folder is None or not cachefile.enabled()
                     else folder / "catalog" / key_of(kind))
        self.kind, self.valid = kind, valid
        self._loaded: dict[str, tuple[str, Payload]] | None = None  # on first use
        self._kept: dict[str, tuple[str, Payload]] = {}
        self._changed = False
        self._whole: tuple[str, str] | None = None  # (key, text) to write
        self.settled = time.time() - SETTLED

    @property
    def _stored(self) -> dict[str, tuple[str, Payload]]:
        if self._loaded is None:
            self._loaded = self._load()
        return self._loaded

    def _whole_path(self) -> Path | None:
        return None if self.path is None else self.path.with_name(f"{self.path.name}.whole")

    def whole(self, key: str) -> str | None:
        """The text kept whole under ``key`` (``whole_key``), if it is."""
        path = self._whole_path()
        data = None if path is None else cachefile.read(path, WHOLE)
        if data is None:
            return None
        head, _, body = data.partition(b"\n")
        if head != key.encode():
            return None
        try:
            return body.decode()
        except UnicodeDecodeError:
            return None

    def keep_whole(self, key: str, text: str) -> None:
        """Keep ``text`` under ``key`` when the catalog is saved, if every model's payload
        in it is kept (its files settled)."""
        self._whole = (key, text)

    def whole_key(self, variant: str, signatures: Iterable[tuple[str, str]]) -> str:
        """The key of a whole text of ``variant`` made of the payloads of these models
        (model, signature) in this order."""
        digest = hashlib.sha1(f"{self.kind}\0{variant}".encode(errors="surrogateescape"),
                              usedforsecurity=False)
        for model, sign in signatures:
            digest.update(f"\0{model}\0{sign}".encode(errors="surrogateescape"))
        return digest.hexdigest()

    def _load(self) -> dict[str, tuple[str, Payload]]:
        """The file: a line of JSON, ``{"kind": ..., "models": {model: [signature, [length
        of each payload string]]}}``, then the strings one after the other (UTF-8), so that
        12 MB of rows are one decode and a few slices, not a JSON string each."""
        data = None if self.path is None else cachefile.read(self.path, FORMAT)
        if data is None:
            return {}
        head, _, body = data.partition(b"\n")
        try:
            header, text = json.loads(head), body.decode()
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return {}
        if not isinstance(header, dict) or header.get("kind") != self.kind:
            return {}
        models = header.get("models")
        if not isinstance(models, dict):
            return {}
        stored: dict[str, tuple[str, Payload]] = {}
        at = 0
        for model, entry in models.items():
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                    and isinstance(entry[1], list)
                    and all(type(n) is int and n >= 0 for n in entry[1])):
                return {}
            parts = []
            for length in entry[1]:
                parts.append(text[at:at + length])
                at += length
            stored[model] = (entry[0], tuple(parts))
        return stored if at == len(text) else {}

    def get(self, model: str, sign: str) -> Payload | None:
        """The payload kept for ``model`` if its files' signature is still ``sign``."""
        entry = self._stored.get(model)
        if entry is None or entry[0] != sign or not self.valid(entry[1]):
            return None
        self._kept[model] = entry
        return entry[1]

    def put(self, model: str, sign: str, stats: list[os.stat_result], payload: Payload) -> None:
        """Keep ``payload`` for ``model``'s files of this signature, if it can be."""
        if sign and vouched(stats, self.settled):
            self._kept[model] = (sign, payload)
        self._changed = True

    def save(self, *, whole: bool, models: Iterable[str] = ()) -> None:
        """Write the file again if this read changed it. ``whole``: every model was read,
        so models no longer there leave it; else the others are kept as they were. A text
        to keep whole (``keep_whole``) of ``models`` is written if all of theirs are kept."""
        if self.path is None:
            return
        if self._whole is not None and all(m in self._kept for m in models):
            key, text = self._whole
            with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate: not kept
                cachefile.write(self._whole_path() or self.path, WHOLE,
                                key.encode() + b"\n" + text.encode())
        if not (self._changed or (whole and self._kept.keys() != self._stored.keys())):
            return
        models = {} if whole else dict(self._stored)
        models.update(self._kept)
        header = {"kind": self.kind, "models": {
            m: [sign, [len(part) for part in payload]] for m, (sign, payload) in models.items()}}
        body = "".join(part for _, payload in models.values() for part in payload)
        try:
            data = json.dumps(header, separators=(",", ":")).encode() + b"\n" + body.encode()
        except UnicodeEncodeError:  # a lone surrogate (a name from a non-UTF-8 file name)
            return
        if cachefile.write(self.path, FORMAT, data):
            # A catalog of another kind (made by another gitreg) is ~10 MB at 100,000
            # versions: only the current one is kept.
            with contextlib.suppress(OSError), os.scandir(self.path.parent) as entries:
                for entry in list(entries):
                    if (not entry.name.startswith(self.path.name)
                            and not entry.name.startswith(".")):
                        os.unlink(entry.path)
