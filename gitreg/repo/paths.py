"""Paths inside a registry, which a cloned registry may have turned into links (issue 6).

git commits a symbolic link as it is, so a registry from elsewhere can hold
``models/churn/versions -> /home/you`` or ``models/churn/artifacts/2.0.0 -> /etc``. gitreg
reads and writes registry files only through real folders: a link anywhere on the way is
refused, naming it, before anything is read or written through it. Files themselves are
opened without following a link (yamlio.read_file), so only folders are walked here.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gitreg.errors import CorruptRegistry, FileSystemRefused, GitregError, InvalidInput
from gitreg.repo.yamlio import LINK_REFUSED


def check_real(root: Path, rel: str, folders: set[str] | None = None) -> Path:
    """``root / rel``, once no part of ``rel`` that exists is a symbolic link.

    ``rel`` is a relative path with ``/`` separators, as the registry's layout spells
    them; a part that does not exist yet (a folder a write will create) is fine, and so is
    everything after it. ``folders``: the folders (relative paths) a caller already found
    real in this way, not looked at again, and where each folder found real is added (a
    full `check` asks this of 100,000 weights pointers, five parts each, in 1,000 model
    folders; issue 19).
    """
    parts = rel.split("/")
    # Strings, not Path objects: pathlib's joins were most of this cost (issue 19).
    path = os.fspath(root)
    for i, part in enumerate(parts):
        if part in ("", ".", ".."):
            raise CorruptRegistry(f"{rel}: not a plain path inside the registry")
        path = os.path.join(path, part)
        here = "/".join(parts[:i + 1])
        if folders is not None and here in folders:
            continue
        try:
            mode = os.lstat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            break
        if stat.S_ISLNK(mode):
            raise CorruptRegistry(f"{here}: {LINK_REFUSED}")
        if folders is not None and stat.S_ISDIR(mode):
            folders.add(here)
    return root / rel


def check_tree(root: Path, rel: str) -> Path:
    """``check_real``, and no link anywhere inside ``rel`` if it is a folder: for a folder
    that a write fills (a version's weights), where a link planted in a clone would take
    the write outside the repository."""
    path = check_real(root, rel)
    for folder, dirs, files in os.walk(path):
        for name in sorted(dirs + files):
            if os.path.islink(os.path.join(folder, name)):
                link = Path(folder, name).relative_to(root).as_posix()
                raise CorruptRegistry(f"{link}: {LINK_REFUSED}")
    return path


def output_refused(exc: OSError, output: Path, param: str = "output") -> GitregError:
    """What to raise when the system refuses to write the user's output path (``-o``): a
    full disk or a read-only folder as ``FileSystemRefused`` says them, anything else (a
    path in /proc, a folder removed meanwhile) as the input it is, one line either way."""
    return FileSystemRefused.of(exc) or InvalidInput(
        f"cannot write {output}: {exc.strerror or exc}; give another {{{param}}}",
        params=(param,))


def written_under(exc: OSError, output: Path) -> bool:
    """Whether ``exc`` is about ``output``: the path itself, a file in it, a folder on the way
    to it, or a temporary file beside it or one of those folders."""
    if not exc.filename:
        return False
    written, target = Path(os.fsdecode(exc.filename)).absolute(), output.absolute()
    return written == target or target in written.parents or \
        written.parent in (target, *target.parents)


def check_output(output: Path, param: str = "output") -> None:
    """Refuse an output path (the user's ``-o``, outside the registry) under a file: its
    folders would be made where a file is (``get -o model.pkl/x``), and the OS's error is
    no answer. The first part of it that exists must be a folder (or a link to one)."""
    for parent in output.absolute().parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise InvalidInput(f"cannot write {output}: {parent} is not a folder; "
                                   f"give another {{{param}}}", params=(param,))
            return
