"""Objects in the weights stores as `gitreg gc` sees them: present or not, how big, how old,
and deleted one at a time (issue 16).

A store is the local DVC cache or the registry's default remote (a folder, or S3, SSH, ...
through DVC's filesystem). Deleting an object touches nothing else: pointers live in git and
are never edited, so a run cut short has deleted some objects and kept the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from gitreg.weights import dvcconfig
from gitreg.weights.storage import FolderStorage, FsStorage, object_path, open_storage


@dataclass(frozen=True)
class Present:
    size: int
    age: float | None  # seconds since it was written; None: the store does not say


class ObjectStore(Protocol):
    label: str

    def stat(self, md5: str) -> Present | None: ...

    def read(self, md5: str) -> bytes | None: ...

    def delete(self, md5: str) -> None: ...


class FolderObjects:
    """The local DVC cache, or a remote that is a folder on this machine."""

    def __init__(self, label: str, base: Path) -> None:
        self.label, self.base = label, base

    def stat(self, md5: str) -> Present | None:
        try:
            info = object_path(self.base, md5).stat()
        except FileNotFoundError:
            return None
        return Present(info.st_size, time.time() - info.st_mtime)

    def read(self, md5: str) -> bytes | None:
        try:
            return object_path(self.base, md5).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, md5: str) -> None:
        object_path(self.base, md5).unlink(missing_ok=True)


class FsObjects:
    """A remote reached through DVC's filesystem (S3, SSH, ...)."""

    def __init__(self, storage: FsStorage) -> None:
        self.storage, self.label = storage, f"remote {storage.name}"

    def stat(self, md5: str) -> Present | None:
        path = self.storage._remote_path(md5)
        fs = self.storage.fs
        if not self.storage.has(md5):
            return None
        info: dict[str, Any] = self.storage._call("read from", fs.info, path)
        return Present(int(info.get("size") or 0), _age(info))

    def read(self, md5: str) -> bytes | None:
        if not self.storage.has(md5):
            return None
        data: bytes = self.storage._call("read from", self.storage.fs.cat_file,
                                         self.storage._remote_path(md5))
        return data

    def delete(self, md5: str) -> None:
        self.storage._call("delete from", self.storage.fs.rm_file, self.storage._remote_path(md5))


def stores(root: Path) -> list[ObjectStore]:
    """The local cache, then the default remote (when there is one)."""
    config = dvcconfig.read(root)
    found: list[ObjectStore] = [FolderObjects("local cache", dvcconfig.cache_dir(root, config))]
    if config.get("core", {}).get("remote"):
        remote = open_storage(root, config)
        if isinstance(remote, FolderStorage):
            found.append(FolderObjects(f"remote {remote.name}", remote.path))
        elif isinstance(remote, FsStorage):
            found.append(FsObjects(remote))
    return found


def _age(info: dict[str, Any]) -> float | None:
    """Seconds since the object was written, from what the filesystem reports (S3:
    LastModified, SSH: mtime); None if it says nothing we can read."""
    stamp = info.get("LastModified", info.get("mtime", info.get("created")))
    if isinstance(stamp, datetime):
        return time.time() - stamp.timestamp()
    if isinstance(stamp, int | float):
        return time.time() - float(stamp)
    return None
