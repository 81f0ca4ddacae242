"""Weights, tracked by DVC: the cache, the ``.dvc`` pointer and the remote, in DVC's formats.

DVC's ``Repo`` operations build an index of every ``.dvc`` file in the repository (about
2.5 ms each), so ``Repo.add``/``Repo.push`` of one version would cost ~25 s in a registry of
10,000. gitreg therefore writes the objects one version needs itself, byte for byte as
``dvc add``/``dvc push`` would (DVC 3, ``hash: md5``): the cost of a version does not grow
with the registry, and ``dvc status``, ``dvc pull`` and ``dvc checkout`` see an ordinary
DVC project (tests/test_weights.py holds them to that). Pushes and fetches move exactly the
objects of one version, through DVC's own filesystem for the remote's URL (storage.py).

Every byte handed out is checked against the md5 in the version file first, and every
object fetched is checked before it enters the cache: by hashing it, or, for an object
gitreg wrote or checked and that has not changed since, by its recorded state (the rule
is in hashes.py), so that the same bytes are not read twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gitreg import faults
from gitreg.core.names import safe_basename
from gitreg.core.records import Artifact
from gitreg.errors import Conflict, CorruptRegistry, GitregError, InvalidInput, NotFound, ToolFailed
from gitreg.repo import paths, yamlio
from gitreg.weights import dvcconfig, hashes, storage
from gitreg.weights.storage import Progress

CHUNK = storage.CHUNK


@dataclass(frozen=True)
class Stored:
    """What storing weights produced: the artifact and the files to commit."""

    artifact: Artifact
    pointer: str  # relative path of the .dvc file
    gitignore: str  # relative path of the .gitignore beside it
    pointer_text: str
    gitignore_text: str


class Weights:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = dvcconfig.read(root)
        self.cache = dvcconfig.cache_dir(root, self.config)

    # -- objects ------------------------------------------------------------------------

    def sweep(self) -> list[Path]:
        """Remove what writers killed part-way left in the cache and a folder remote."""
        removed = storage.sweep(self.cache)
        try:
            remote = dvcconfig.default_remote(self.root, self.config)
        except GitregError:
            return removed  # no usable remote: a write says so where it needs one
        if remote.local_path is not None:
            removed += storage.sweep(remote.local_path)
        return removed

    def object_path(self, md5: str, base: Path | None = None) -> Path:
        return storage.object_path(base or self.cache, md5)

    # -- register -----------------------------------------------------------------------

    def store(self, source: Path, dest: str) -> tuple[Stored, Path]:
        """Put ``source`` (a file or a folder) in the cache and under ``dest`` in the work tree.

        Returns the pointer files to commit and the work-tree copy (git-ignored).
        """
        self.sweep()
        if source.is_symlink() or not (source.is_file() or source.is_dir()):
            raise InvalidInput(f"weights path {source} is not a regular file or folder")
        name = safe_basename(source.name)
        target = self.root / dest / name
        if source.is_file():
            with source.open("rb") as handle:
                md5, size = storage.receive(handle, self.cache)
            self._link(self.object_path(md5), target)
            # After the link, which changes the object's ctime (hashes.py).
            hashes.remember(self.object_path(md5), md5)
            artifact = Artifact(f"{dest}/{name}", "file", md5, size)
        else:
            md5, size, nfiles = self._store_dir(source, target)
            artifact = Artifact(f"{dest}/{name}", "directory", md5, size, nfiles)
        isexec = source.is_file() and bool(source.stat().st_mode & 0o111)
        pointer = pointer_text(artifact.md5, artifact.size, name, artifact.nfiles, isexec)
        return (
            Stored(artifact, f"{dest}/{name}.dvc", f"{dest}/.gitignore", pointer, f"/{name}\n"),
            target,
        )

    def _store_dir(self, source: Path, target: Path) -> tuple[str, int, int]:
        entries: list[tuple[str, str]] = []
        size = 0
        paths = sorted(_walk(source))
        why = unsafe_folder([path.relative_to(source).as_posix() for path in paths])
        if why is not None:  # get would refuse to write it out: said now, nothing stored
            raise InvalidInput(f"weights folder {source} holds {why}; register a folder "
                               "without it")
        for path in paths:
            relpath = path.relative_to(source).as_posix()
            with path.open("rb") as handle:
                md5, file_size = storage.receive(handle, self.cache)
            self._link(self.object_path(md5), target / relpath)
            hashes.remember(self.object_path(md5), md5)
            entries.append((relpath, md5))
            size += file_size
        if not entries:
            raise InvalidInput(f"weights folder {source} holds no files")
        data = tree_bytes(entries)
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest() + ".dir"
        if not self.object_path(md5).exists():
            storage.receive(io.BytesIO(data), self.cache, md5)
            hashes.remember(self.object_path(md5), md5)
        return md5, size, len(entries)

    @staticmethod
    def _link(obj: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        faults.point("link", str(target))  # crash tests only (faults.py)
        try:
            os.link(obj, target)  # no second copy; the object is read-only like DVC's
        except OSError:
            shutil.copyfile(obj, target)

    # -- objects an artifact needs ------------------------------------------------------

    def objects(self, artifact: Artifact) -> list[str]:
        """The md5s an artifact is made of: itself, and for a folder each file in it."""
        if not artifact.md5.endswith(".dir"):
            return [artifact.md5]
        return [artifact.md5, *(md5 for _, md5 in self._tree(artifact))]

    def _tree(self, artifact: Artifact) -> list[tuple[str, str]]:
        data = self._read_verified(artifact.md5)
        try:
            listing = json.loads(data)
            entries = [(str(e["relpath"]), str(e["md5"])) for e in listing]
        except (ValueError, KeyError, TypeError):
            raise ToolFailed(
                f"weights listing {artifact.md5} is not a DVC folder listing"
            ) from None
        for relpath, md5 in entries:
            parts = relpath.split("/")
            # "." and NUL too: a crafted listing must not name the output folder itself
            # or break a path (issue 6).
            if relpath.startswith("/") or {"", ".", ".."} & set(parts) or "\0" in relpath:
                raise ToolFailed(f"weights listing {artifact.md5} has an unsafe path {relpath!r}")
            self.object_path(md5)  # validates the md5
        why = unsafe_folder([relpath for relpath, _ in entries])
        if why is not None:
            raise ToolFailed(f"weights listing {artifact.md5} holds {why}; refused")
        # A name listed twice, or both as a file and as a folder of others ("a" and "a/b"),
        # cannot be written out: refused, not left to fail half-way (issue 6).
        names = [relpath for relpath, _ in entries]
        files = set(names)
        if len(files) != len(names) or any(
            relpath.rsplit("/", depth)[0] in files
            for relpath in names for depth in range(1, relpath.count("/") + 1)
        ):
            raise ToolFailed(f"weights listing {artifact.md5} names a path twice, or as both a "
                             "file and a folder; it is not a DVC folder listing")
        return entries

    def _read_verified(self, md5: str) -> bytes:
        data = self.object_path(md5).read_bytes()
        actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if actual != md5.removesuffix(".dir"):
            raise ToolFailed(f"cached object {md5} is corrupt; delete it and run the command again")
        return data

    def has_local(self, artifact: Artifact) -> bool:
        """Whether the cache holds the artifact's listing or file (so it can be pushed)."""
        return self.object_path(artifact.md5).exists()

    # -- remote -------------------------------------------------------------------------

    def push(self, artifact: Artifact, pointer: str, progress: Progress | None = None) -> None:
        """Copy the objects of ``artifact`` that the default remote lacks to it.

        The files of a folder go first and its listing last, so a remote that has the
        listing has everything it names. ``pointer`` is kept for callers; not needed.
        """
        remote = storage.open_storage(self.root, self.config)
        if isinstance(remote, storage.FolderStorage):
            storage.sweep(remote.path)
        order = self.objects(artifact)
        order = order[1:] + order[:1]
        meter = _Meter(progress, artifact.size)
        for md5 in order:
            source = self.object_path(md5)
            if remote.has(md5):
                meter(0 if md5.endswith(".dir") else source.stat().st_size)
                continue
            remote.upload(source, md5, None if md5.endswith(".dir") else meter)

    def fetch(self, artifact: Artifact, pointer: str, progress: Progress | None = None) -> None:
        """Make sure the cache holds every object of ``artifact``, each verified on arrival.

        Only that version's objects move: the listing (for a folder), then the files it
        names that the cache lacks. ``pointer`` is kept for callers; not needed.
        """
        if self.has_local(artifact) and all(
            self.object_path(md5).exists() for md5 in self.objects(artifact)
        ):
            return
        remote = storage.open_storage(self.root, self.config)
        meter = _Meter(progress, artifact.size)
        files = [artifact.md5]
        if artifact.md5.endswith(".dir"):
            if not self.has_local(artifact):
                self._download(remote, artifact, artifact.md5, None)
            files = [md5 for _, md5 in self._tree(artifact)]
        for md5 in files:
            if self.object_path(md5).exists():
                meter(self.object_path(md5).stat().st_size)
                continue
            self._download(remote, artifact, md5, meter)

    def _download(self, remote: storage.Storage, artifact: Artifact, md5: str,
                  meter: _Meter | None) -> None:
        try:
            remote.download(md5, self.cache, meter)
        except storage.ObjectMissing:
            raise _missing(remote, artifact, md5) from None

    # -- get ----------------------------------------------------------------------------

    def read_file(self, artifact: Artifact) -> bytes:
        """The bytes of a single-file artifact, verified (for deserializing in memory)."""
        if artifact.md5.endswith(".dir"):
            raise InvalidInput(f"{artifact.path} is a folder, not a single file")
        return self._read_verified(artifact.md5)

    @staticmethod
    def destination(artifact: Artifact, output: Path, *, force: bool = False) -> Path:
        """Where ``export`` writes the weights for ``output``; what is there already is
        only replaced with ``force`` (as ``dvc get`` does: issue 14)."""
        output = output.absolute()
        paths.check_output(output)
        if artifact.md5.endswith(".dir"):
            if output.exists() and not output.is_dir():
                if not force:
                    raise Conflict(f"{output} exists and is not a folder; pass {{force}} to "
                                   "replace it", params=("force",))
            elif output.is_dir() and any(output.iterdir()) and not force:
                raise Conflict(f"{output} exists and is not empty; pass {{force}} to replace "
                               "it", params=("force",))
            return output
        if output.is_dir():
            name = Path(artifact.path).name
            if safe_basename(name) != name:
                # A cloned registry chose it: `register` never names weights `.envrc` or
                # `.bashrc`, which a shell or a tool would read from the folder (issue 19).
                raise CorruptRegistry(
                    f"{artifact.path}: the weights' name {name!r} is not one gitreg gives "
                    f"(hidden, or other characters than A-Z a-z 0-9 . _ -); name the file "
                    f"yourself with {{output}}, e.g. {output / safe_basename(name)}",
                    params=("output",))
            output = output / name
        if output.is_dir():
            raise InvalidInput(f"{output} is a folder; give another {{output}}",
                               params=("output",))
        if output.exists() and not force:
            raise Conflict(f"{output} exists; pass {{force}} to overwrite it", params=("force",))
        return output

    def deliver(self, artifact: Artifact, output: Path, *, force: bool = False,
                progress: Progress | None = None) -> Path:
        """``fetch`` then ``export``, except for a single file the cache lacks: that one goes
        from the remote straight to ``output``, checked on the way, and not into the cache.

        One copy of the weights instead of two (remote to cache, cache to ``output``): half
        the bytes written, and no second copy on the disk of a CI job that only deploys
        them (issue 19). The cache fills when a command needs it there (``pull``, loading
        weights in Python, ``verify``).
        """
        target = self.destination(artifact, output, force=force)  # before any download
        if artifact.md5.endswith(".dir") or self.has_local(artifact):
            self.fetch(artifact, artifact.path + ".dvc", progress)
            return self.export(artifact, target, force=force)
        remote = storage.open_storage(self.root, self.config)
        meter = _Meter(progress, artifact.size)

        def fill(out: BinaryIO, path: Path) -> None:
            try:
                actual = remote.read_into(artifact.md5, out, path, meter)
            except storage.ObjectMissing:
                raise _missing(remote, artifact, artifact.md5) from None
            if actual != artifact.md5:
                raise ToolFailed(
                    f"weights object {artifact.md5} is corrupt (its content hashes to "
                    f"{actual}); it was not used. Re-push it from a clone that has a good copy"
                )

        _write_out(target, fill)
        return target

    def export(self, artifact: Artifact, output: Path, *, force: bool = False) -> Path:
        """Write the weights to ``output``, checked against the version file, atomically."""
        target = self.destination(artifact, output, force=force)
        if artifact.md5.endswith(".dir"):
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
            try:
                staging.chmod(0o755)  # as mkdir makes it, like the files' 0o644 (not 0o700)
                for relpath, md5 in self._tree(artifact):
                    self._copy_verified(md5, staging / relpath)
                _replace_with(staging, target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            return target
        self._copy_verified(artifact.md5, target)
        return target

    def _copy_verified(self, md5: str, target: Path) -> None:
        def fill(out: BinaryIO, _: Path) -> None:
            # Hashed while copied, or copied by the kernel if gitreg wrote or checked this
            # object and it has not changed since (the rule is in hashes.py).
            with self.object_path(md5).open("rb") as src:
                actual = hashes.copy(src, out, md5)
            if actual != md5:
                raise ToolFailed(
                    f"weights object {md5} does not match its checksum; nothing was written. "
                    f"Delete {self.object_path(md5)} and run the command again"
                )

        _write_out(target, fill)


def _write_out(target: Path, fill: Callable[[BinaryIO, Path], None]) -> None:
    """Write ``target`` whole or not at all: ``fill`` writes a temporary file beside it
    (open for reading too, see hashes.pour), given as a stream and a path, and raises to
    refuse it; only then is it renamed into place."""
    made = [folder for folder in (target.parent, *target.parent.parents) if not folder.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                fill(out, Path(tmp))
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except BaseException:
        for folder in made:  # the folders made for it go again, innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _missing(remote: storage.Storage, artifact: Artifact, md5: str) -> GitregError:
    """The error for an object the remote lacks: the remote is not there, or the object."""
    if not remote.exists():
        return ToolFailed(
            f"DVC remote {remote.name!r} ({remote.url}) does not exist (no such bucket "
            "or folder); fix its url (gitreg remote list) or create it"
        )
    return NotFound(
        f"weights object {md5} of {artifact.path} is missing from remote "
        f"{remote.name!r} ({remote.url}); push it from a clone that has it "
        "(gitreg push or dvc push)"
    )


class _Meter:
    """Adds up the bytes of one version's transfer for a ``Progress`` callback."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, moved: int) -> None:
        self.done += moved
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)


_NOT_WEIGHTS = frozenset({".git", ".hg", ".dvc"})
_SHORT_NAME = re.compile(r"(git|hg|dvc)~[0-9]+")
# Code points HFS+ ignores in a name, as git's is_hfs_dotgit lists them: ".g\u200cit" is
# ".git" on macOS.
_HFS_IGNORED = dict.fromkeys([0x200C, 0x200D, 0x200E, 0x200F, *range(0x202A, 0x202F),
                              *range(0x206A, 0x2070), 0xFEFF])


def _as_read(part: str) -> str:
    """A path part as the file systems of macOS and Windows read it: case folded, without
    the code points HFS+ ignores, trailing dots and spaces or an NTFS stream
    (``.git::$INDEX_ALLOCATION`` is ``.git``), and an 8.3 short name (``GIT~1``) as the
    folder it may stand for. As git's own ``core.protectNTFS`` and ``core.protectHFS``
    read the paths it checks out."""
    name = part.translate(_HFS_IGNORED).casefold().split(":", 1)[0].rstrip(". ")
    return f".{name.partition('~')[0]}" if _SHORT_NAME.fullmatch(name) else name


def unsafe_folder(relpaths: Sequence[str]) -> str | None:
    """Why a folder of these files must not be written into a user's folder, or None.

    - A backslash or a colon in a path: on Windows a folder separator and a drive or an
      NTFS stream, so the path is not the one it looks like (``.git\\config``, ``..\\x``).
    - A path in a repository's own folder (``.git``, ``.hg``, ``.dvc``, which DVC and
      register leave out, however a file system may spell it): a crafted ``.git/config``
      runs its ``core.fsmonitor`` at the next ``git status`` there, or at a shell prompt
      that shows git's state (found in review).
    - A folder git takes for a repository, whose config it reads from any folder below:
      a ``HEAD`` file with ``objects/`` and ``refs/`` folders (a bare one), or with a
      ``commondir`` file, which sends git to another folder for its objects, refs and
      config (a linked worktree's layout).
    """
    children: dict[str, set[str]] = {}
    for relpath in relpaths:
        if "\\" in relpath or ":" in relpath:
            return (f"a path with a backslash or a colon ({relpath!r}), which Windows reads "
                    "as another path")
        parts = relpath.split("/")
        if {_as_read(part) for part in parts} & _NOT_WEIGHTS:
            return (f"a path in a repository's own folder ({relpath!r}), which register never "
                    "stores")
        for depth in range(len(parts)):
            children.setdefault("/".join(parts[:depth]), set()).add(parts[depth])
    for folder, below in children.items():
        inside = f"{folder}/" if folder else ""
        files = {_as_read(name) for name in below if f"{inside}{name}" not in children}
        folders = {_as_read(name) for name in below if f"{inside}{name}" in children}
        if "head" in files and ({"objects", "refs"} <= folders or "commondir" in files):
            found = "HEAD, commondir" if "commondir" in files else "HEAD, objects, refs"
            return (f"a git repository ({folder or 'its top folder'}: {found}), "
                    "which git would run commands from")
    return None


def _walk(folder: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        # DVC leaves these out of a folder's listing; so must we, for the same md5.
        dirnames[:] = [d for d in dirnames if d not in _NOT_WEIGHTS]
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path.is_symlink():
                raise InvalidInput(
                    f"weights folder contains a symlink ({path}); replace it with the file"
                )
        for name in filenames:
            yield Path(dirpath, name)


def tree_bytes(entries: list[tuple[str, str]]) -> bytes:
    """DVC's ``.dir`` listing (dvc_data ``Tree.as_bytes``): sorted by relpath, keys sorted."""
    listing = [{"md5": md5, "relpath": rel} for rel, md5 in sorted(entries)]
    return json.dumps(listing, sort_keys=True).encode("utf-8")


def pointer_text(
    md5: str, size: int, path: str, nfiles: int | None = None, isexec: bool = False
) -> str:
    """The ``.dvc`` file ``dvc add`` writes for one output (same keys, same order)."""
    out: dict[str, object] = {"md5": md5, "size": size}
    if nfiles is not None:
        out["nfiles"] = nfiles
    if isexec:
        out["isexec"] = True
    out["hash"] = "md5"
    out["path"] = path
    return yamlio.dumps({"outs": [out]})


def init_dvc(root: Path) -> None:
    from dvc.repo import Repo

    dvcconfig.quiet_dvc()
    Repo.init(str(root)).close()


def set_remote(root: Path, url: str, options: Mapping[str, str] | None = None) -> None:
    """Make ``url`` the default remote ``storage``; credentials in ``options`` go to
    ``.dvc/config.local`` (see remotes.py)."""
    from gitreg.weights.remoteconfig import configure

    configure(root, "storage", url, options or {}, default=True, replace=True)


def _replace_with(staging: Path, target: Path) -> None:
    """Put the folder ``staging`` at ``target``, replacing what is there (``force``): the old
    content is moved aside first and removed once the new one is in place."""
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    old = None
    if target.exists() or target.is_symlink():
        old = target.with_name(f".{target.name}.replaced-{os.getpid()}")
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
