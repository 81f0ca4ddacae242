"""Object stores for weights: the DVC cache folder and a registry's DVC remote.

Both hold DVC's layout, ``files/md5/<first two hex digits>/<rest>``. A remote is either a
folder on this machine (plain file copies) or anything DVC has a filesystem for (S3 and
S3-compatible stores through dvc-s3, SSH through dvc-ssh, ...), built from the DVC config the
way DVC builds it (``dvc.fs.get_cloud_fs``) but without a ``dvc.repo.Repo``: a ``Repo``
operation indexes every ``.dvc`` file in the registry, and one version's transfer must not
cost more in a registry of 10,000 versions than in one of ten.

Every object that comes in, from a remote or a user's file, is hashed while it is written
to a temporary file (or, from an object file that hashes.py knows to hold those bytes,
copied by the kernel), and only renamed into place if its md5 is the one expected: nothing
half-written or corrupt ever carries an object's name. Uploads are atomic too: a local
remote gets a temporary file and a rename, SSH the same (dvc-ssh), S3 a single PUT or a
completed multipart upload.

A writer killed part-way leaves its temporary file (``.tmp-HOST-PID-*``, beside the object
folders): ``sweep`` removes those whose process is gone (on this host; a day old, from
another), and every write of weights runs it first (issue 14).
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from gitreg import faults
from gitreg.errors import CorruptRegistry, InvalidInput, ToolFailed
from gitreg.weights import dvcconfig, hashes

CHUNK = hashes.CHUNK
MD5 = re.compile(r"[0-9a-f]{32}(\.dir)?")

Progress = Callable[[int, int], None]
"""Called as ``progress(bytes_done, bytes_total)`` while weights move; rendered by the CLI."""
Report = Callable[[int], None]
"""Called with the number of bytes just moved."""

_TMP = ".tmp-"
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"
FOREIGN_AGE = 24 * 3600  # a temporary file of another host's writer is left alone a day


def temp_prefix() -> str:
    """The name a writer's temporary objects start with: whose they are, so that ``sweep``
    can tell a dead writer's from a live one's (mkstemp adds letters, digits and ``_``)."""
    return f"{_TMP}{_HOST}-{os.getpid()}-"


def sweep(base: Path) -> list[Path]:
    """Remove the temporary objects that writers killed part-way left in the store at
    ``base``: this host's whose process is gone, another host's (or an older gitreg's,
    without a process id) a day after they were last written."""
    removed = []
    try:
        entries = list(os.scandir(base / "files" / "md5"))
    except OSError:
        return []
    for entry in entries:
        if entry.name.startswith(_TMP) and entry.is_file(follow_symlinks=False) and _stale(entry):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue  # another sweep was first
            removed.append(Path(entry.path))
    return removed


def _stale(entry: os.DirEntry[str]) -> bool:
    host, _, rest = entry.name.removeprefix(_TMP).rpartition("-")
    host, _, pid = host.rpartition("-")
    if host == _HOST and pid.isdigit() and rest:
        return int(pid) != os.getpid() and not _alive(int(pid))
    try:
        return time.time() - entry.stat(follow_symlinks=False).st_mtime > FOREIGN_AGE
    except FileNotFoundError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


class ObjectMissing(Exception):
    """The remote has no object of that md5 (the caller says which weights need it)."""


def object_path(base: Path, md5: str) -> Path:
    if not MD5.fullmatch(md5):
        raise InvalidInput(f"invalid md5 {md5!r} in a version file")
    return base / "files" / "md5" / md5[:2] / md5[2:]


def receive(source: BinaryIO, base: Path, expect: str | None = None,
            report: Report | None = None) -> tuple[str, int]:
    """Copy a stream into the object store at ``base`` and hash what was written (for a file,
    the kernel copies it and the copy is hashed from the page cache: hashes.pour).

    With ``expect`` (an md5, ``.dir`` suffix allowed), content that hashes differently is
    refused and nothing is left behind. Returns the md5 of the content and its size.
    """
    folder = base / "files" / "md5"
    folder.mkdir(parents=True, exist_ok=True)
    faults.point("object write", str(base))  # crash tests only (faults.py)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=temp_prefix())
    try:
        with os.fdopen(fd, "wb") as out:
            md5, size = hashes.pour(source, out, report)
        _settle(Path(tmp), base, md5, expect)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return md5, size


def put(source: BinaryIO, base: Path, md5: str, report: Report | None = None) -> None:
    """Copy the object ``md5`` from the open file ``source`` into the object store at ``base``.

    The bytes are checked against ``md5`` on the way, by hashes.py: a kernel copy when the
    source is known to hold them (gitreg wrote or checked it, and it has not changed since),
    else hashed while copied; anything else is refused as ``receive`` refuses it.
    """
    folder = base / "files" / "md5"
    folder.mkdir(parents=True, exist_ok=True)
    faults.point("object write", str(base))  # crash tests only (faults.py)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=temp_prefix())
    try:
        with os.fdopen(fd, "wb") as out:
            actual = hashes.copy(source, out, md5, report)
        _settle(Path(tmp), base, actual, md5)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    hashes.remember(object_path(base, md5), md5)


def _settle(tmp: Path, base: Path, md5: str, expect: str | None) -> None:
    """Give a fully written, hashed temporary file its object name (or refuse it)."""
    name = md5
    if expect is not None:
        if md5 != expect.removesuffix(".dir"):
            raise ToolFailed(
                f"weights object {expect} is corrupt (its content hashes to {md5}); "
                "it was not used. Re-push it from a clone that has a good copy"
            )
        name = expect
    final = object_path(base, name)
    final.parent.mkdir(exist_ok=True)
    os.chmod(tmp, 0o444)  # DVC keeps cache objects read-only too
    faults.point("object rename", name)
    os.replace(tmp, final)


class Storage(Protocol):
    """A DVC remote, one object at a time."""

    name: str
    url: str

    def has(self, md5: str) -> bool: ...

    def upload(self, source: Path, md5: str, report: Report | None) -> None:
        """Copy a (verified) cache object to the remote, atomically."""

    def download(self, md5: str, cache: Path, report: Report | None) -> None:
        """Copy an object into the cache, verified; ``ObjectMissing`` if there is none."""

    def read_into(self, md5: str, out: BinaryIO, path: Path, report: Report | None) -> str:
        """Write the object to ``out``, the empty file open at ``path``, and return the md5
        of what was written (the caller compares); ``ObjectMissing`` if there is none."""

    def exists(self) -> bool:
        """Whether the remote's bucket or folder is there at all."""


def open_storage(root: Path, config: dict[str, dict[str, str]]) -> Storage:
    """The registry's default DVC remote."""
    remote = dvcconfig.default_remote(root, config)
    if remote.local_path is not None:
        return FolderStorage(remote.name, remote.url, remote.local_path)
    return FsStorage.open(root, remote)


class FolderStorage:
    """A remote that is a folder on this machine (or a mounted share)."""

    def __init__(self, name: str, url: str, path: Path) -> None:
        self.name, self.url, self.path = name, url, path

    def has(self, md5: str) -> bool:
        return object_path(self.path, md5).exists()

    def exists(self) -> bool:
        return self.path.is_dir()

    def upload(self, source: Path, md5: str, report: Report | None) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ToolFailed(
                f"DVC remote {self.name!r} ({self.url}) is not a usable folder: "
                f"{exc.strerror or exc}; fix the url in .dvc/config "
                f"(gitreg remote add {self.name} URL --force)"
            ) from None
        try:
            with source.open("rb") as handle:
                put(handle, self.path, md5, report)
        except OSError as exc:
            # A full disk, a read-only mount, a file where a folder should be: storage
            # failures, not bugs.
            raise ToolFailed(
                f"could not write weights to DVC remote {self.name!r} ({self.url}): "
                f"{exc.strerror or exc}; check that folder and run the command again"
            ) from None

    def _open(self, md5: str) -> BinaryIO:
        """The remote's object ``md5``, open for reading."""
        try:
            handle = object_path(self.path, md5).open("rb")
        except FileNotFoundError:
            raise ObjectMissing(md5) from None
        except OSError as exc:
            raise ToolFailed(
                f"could not read weights from DVC remote {self.name!r} ({self.url}): "
                f"{exc.strerror or exc}"
            ) from None
        return handle

    def download(self, md5: str, cache: Path, report: Report | None) -> None:
        with self._open(md5) as handle:
            put(handle, cache, md5, report)

    def read_into(self, md5: str, out: BinaryIO, path: Path, report: Report | None) -> str:
        with self._open(md5) as handle:
            # A kernel copy if this object is known to hold md5 (hashes.py), else hashed as
            # it is copied: one pass over the bytes either way.
            return hashes.copy(handle, out, md5, report)


class FsStorage:
    """A remote reached through DVC's filesystem for its URL scheme (s3://, ssh://, ...)."""

    def __init__(self, name: str, url: str, fs: Any, path: str) -> None:
        self.name, self.url, self.fs, self.path = name, url, fs, path

    @classmethod
    def open(cls, root: Path, remote: dvcconfig.Remote) -> FsStorage:
        # Imported here only: read commands never pay for DVC (see weights.py).
        from dvc.config import Config, ConfigError
        from dvc.fs import get_cloud_fs

        try:
            # All of DVC's levels, as DVC merges them: system, global, .dvc/config and the
            # git-ignored .dvc/config.local with the credentials.
            config = Config(dvc_dir=str(root / dvcconfig.DVC_DIR))
            fs_cls, fs_config, path = get_cloud_fs(config, name=remote.name)
        except ConfigError as exc:
            raise CorruptRegistry(f"{dvcconfig.DVC_DIR}/config: {exc}") from None
        except ImportError as exc:
            scheme = remote.url.split("://", 1)[0]
            extra = f" (pip install 'gitreg[{scheme}]')" if scheme in ("s3", "ssh") else ""
            raise ToolFailed(
                f"DVC remote {remote.name!r} ({remote.url}): {exc}{extra}"
            ) from None
        keyfile = fs_config.get("keyfile")
        if keyfile and not Path(os.path.expanduser(keyfile)).is_file():
            raise ToolFailed(
                f"DVC remote {remote.name!r}: key file {keyfile} does not exist; fix it with "
                f"`gitreg remote modify {remote.name} keyfile PATH --local`"
            )
        return cls(remote.name, remote.url, fs_cls(**fs_config), path)

    def _remote_path(self, md5: str) -> str:
        object_path(Path(), md5)  # validates the md5
        return str(self.fs.join(self.path, "files", "md5", md5[:2], md5[2:]))

    def has(self, md5: str) -> bool:
        return bool(self._call("read from", self.fs.exists, self._remote_path(md5)))

    def exists(self) -> bool:
        from dvc_objects.fs.base import ObjectFileSystem

        # In an object store a prefix exists only while objects are under it: ask for
        # the bucket.
        root = self.path.split("/", 1)[0] if isinstance(self.fs, ObjectFileSystem) else self.path
        return bool(self._call("read from", self.fs.exists, root))

    def upload(self, source: Path, md5: str, report: Report | None) -> None:
        # The client reads the file itself: check it first (without reading it again when
        # gitreg has just written it, see hashes.py), so that no corrupt object leaves.
        if hashes.md5_of(source) != md5.removesuffix(".dir"):
            raise ToolFailed(f"cached object {md5} is corrupt; delete {source} and run the "
                             "command again")
        # A path rather than a stream: dvc-ssh then writes a temporary file and renames it,
        # and s3fs completes a multipart upload only once every part is in.
        self._call("write weights to", self.fs.put_file, str(source), self._remote_path(md5),
                   callback=_callback(report), size=source.stat().st_size)

    def download(self, md5: str, cache: Path, report: Report | None) -> None:
        if not self.has(md5):
            raise ObjectMissing(md5)
        folder = cache / "files" / "md5"
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=temp_prefix())
        os.close(fd)
        tmp = Path(name)
        try:
            self._call("read weights from", self.fs.get_file, self._remote_path(md5), name,
                       callback=_callback(report))
            _settle(tmp, cache, hashes.md5_read(tmp), md5)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        hashes.remember(object_path(cache, md5), md5)

    def read_into(self, md5: str, out: BinaryIO, path: Path, report: Report | None) -> str:
        if not self.has(md5):
            raise ObjectMissing(md5)
        # The client writes the file by its path (s3fs and asyncssh fetch parts in
        # parallel); it is hashed once whole, from the page cache.
        self._call("read weights from", self.fs.get_file, self._remote_path(md5), str(path),
                   callback=_callback(report))
        return hashes.md5_read(path)

    def _call(self, doing: str, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return operation(*args, **kwargs)
        except Exception as exc:
            # The boundary with the remote's client library (botocore, asyncssh, ...): each
            # raises its own classes, and any failure here is the storage's, not a bug.
            raise self._failure(doing, exc) from None

    def _failure(self, doing: str, exc: Exception) -> ToolFailed:
        kinds = {cls.__name__ for cls in type(exc).__mro__}
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, PermissionError) or kinds & {"NoCredentialsError", "PermissionDenied"}:
            hint = (f"the server refused the credentials; check them (gitreg remote list) and "
                    f"set them with `gitreg remote modify {self.name} KEY VALUE --local`")
        elif isinstance(exc, TimeoutError) or kinds & {"ConnectionError", "ConnectTimeoutError"}:
            # builtins' ConnectionRefusedError and botocore's EndpointConnectionError both
            hint = ("could not reach the server; check that it is up, and the remote's url, "
                    "endpointurl and port (gitreg remote list)")
        elif isinstance(exc, FileNotFoundError):
            hint = ("the bucket or folder does not exist or could not be created; create it, "
                    "or fix the url (gitreg remote list)")
        else:
            hint = "check the remote (gitreg remote list) and run the command again"
        return ToolFailed(f"could not {doing} DVC remote {self.name!r} ({self.url}): "
                          f"{detail}; {hint}")


def _callback(report: Report | None) -> Any:
    from dvc.fs import Callback

    done = 0

    def relay(size: int | None, value: int, **_: Any) -> None:
        nonlocal done
        if report is not None and value > done:
            report(value - done)
            done = value

    # fsspec's Callback with a hook rather than a subclass (fsspec ships no type information).
    return Callback(hooks={"gitreg": relay})
