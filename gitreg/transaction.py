"""All-or-nothing writes: files, commit(s) and tag(s) land together or not at all.

A write takes the registry's lock, checks the files it will touch carry no uncommitted
edits, then writes, commits and tags. If anything fails part-way (a DVC error, a hook
that rejects the commit, Ctrl-C), ``__exit__`` deletes the tags it made, moves the
branch back, restores the index entries and the files, and releases the lock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from . import yamlio
from .errors import Conflict, GitregError
from .git import Git

LOCK_WAIT_SECONDS = 30.0


class Lock:
    """An exclusive lock file in ``.git``; a lock whose process has died is taken over."""

    def __init__(self, path: Path, wait: float = LOCK_WAIT_SECONDS) -> None:
        self.path, self.wait = path, wait
        self.owner = f"{os.getpid()} {socket.gethostname()}"

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._is_stale():
                    # Rename first: of two processes that both saw it stale, one wins.
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(self.path, f"{self.path}.stale")
                    continue
                if time.monotonic() > deadline:
                    raise Conflict(
                        f"another gitreg process holds {self.path} ({self._holder()}); "
                        "wait for it to finish, or delete the file if that process is gone"
                    ) from None
                time.sleep(0.05)
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(self.owner + "\n")
            return

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self._holder() == self.owner:
                self.path.unlink()

    def _holder(self) -> str:
        try:
            return self.path.read_text().strip()
        except (FileNotFoundError, UnicodeDecodeError):
            return ""

    def _is_stale(self) -> bool:
        pid_text, _, host = self._holder().partition(" ")
        if not pid_text.isdigit() or host != socket.gethostname():
            # Unreadable (being written this instant) or another host's: not ours to judge.
            return False
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


class Transaction:
    def __init__(self, git: Git, git_dir: Path) -> None:
        self.git = git
        self.root = git.root
        self.lock = Lock(git_dir / "gitreg.lock")
        self.old_head: str | None = None
        self._files: dict[str, bytes | None] = {}  # path -> content before, None if absent
        self._created_dirs: list[Path] = []
        self._tags: list[str] = []
        self.commits: list[str] = []

    def __enter__(self) -> Transaction:
        self.lock.acquire()
        try:
            self.old_head = self.git.head()
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                with _no_interrupts():
                    self._undo()
        finally:
            self.lock.release()

    # -- what a write does --------------------------------------------------------------

    def require_clean(self, paths: Sequence[str]) -> None:
        """Refuse to build on uncommitted edits of files this change would commit."""
        out = self.git.run("status", "--porcelain", "--untracked-files=all", "--", *paths)
        dirty = [line[3:] for line in out.splitlines() if line.strip()]
        if dirty:
            raise Conflict(
                f"{dirty[0]} has uncommitted changes; commit or discard them "
                f"(git checkout -- {dirty[0]}) and try again"
            )

    def write(self, path: str, text: str) -> None:
        """Write a file under the registry root, remembering what was there."""
        target = self.root / path
        if path not in self._files:
            self._files[path] = target.read_bytes() if target.exists() else None
            self._note_new_dirs(target.parent)
        yamlio.write_atomic(target, text)

    def created(self, path: Path) -> None:
        """Note a file or folder made by other means (the weights), removed on failure."""
        self._note_new_dirs(path.parent)
        self._created_dirs.append(path)

    def commit(self, message: str, paths: Sequence[str], env: Mapping[str, str]) -> str:
        commit = self.git.commit(message, paths, env)
        self.commits.append(commit)
        return commit

    def tag(self, name: str, commit: str, message: str, env: Mapping[str, str]) -> None:
        self.git.tag(name, commit, message, env)
        self._tags.append(name)

    # -- undo ---------------------------------------------------------------------------

    def _note_new_dirs(self, folder: Path) -> None:
        # The outermost folder this change creates, so undo leaves no empty folders.
        missing = None
        while not folder.exists() and folder != self.root:
            missing, folder = folder, folder.parent
        if missing is not None:
            self._created_dirs.append(missing)

    def _undo(self) -> None:
        errors: list[str] = []

        def attempt(step: str, *args: str) -> None:
            try:
                self.git.run(*args)
            except GitregError as exc:
                errors.append(f"{step}: {exc}")

        for tag in reversed(self._tags):
            attempt("delete tag", "tag", "-d", "--", tag)
        paths = list(self._files)
        if self.git.head() != self.old_head:
            if self.old_head is None:
                attempt("unborn HEAD", "update-ref", "-d", "HEAD")
            else:
                attempt("reset HEAD", "update-ref", "-m", "gitreg: undo", "HEAD", self.old_head)
        if paths:
            if self.old_head is None:
                attempt("unstage", "rm", "--cached", "-q", "--ignore-unmatch", "--", *paths)
            else:
                attempt("unstage", "reset", "-q", self.old_head, "--", *paths)
        for path, content in self._files.items():
            target = self.root / path
            if content is None:
                target.unlink(missing_ok=True)
            else:
                yamlio.write_atomic(target, content)
        for created in reversed(self._created_dirs):
            if created.is_dir() and not created.is_symlink():
                shutil.rmtree(created, ignore_errors=True)
            else:
                created.unlink(missing_ok=True)
        if errors:
            # The original exception still propagates; this note says what to check.
            raise GitregError("could not fully undo a failed change: " + "; ".join(errors))


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Let an undo finish even if Ctrl-C is pressed again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
