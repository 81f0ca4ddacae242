"""All-or-nothing writes: files, commit(s) and tag(s) land together or not at all.

A write takes the registry's lock, checks the files it will touch carry no uncommitted
edits, then writes, commits and tags. If anything fails part-way (a DVC error, a hook
that rejects the commit, Ctrl-C), ``__exit__`` deletes the tags it made, moves the
branch back, restores the index entries and the files, and releases the lock.

A process killed part-way (SIGKILL, the OOM killer, a power cut) runs no ``__exit__``. For
that, a transaction keeps a write-ahead journal in the git folder (journal.py): before each
step (the first write of a file, a folder made for weights, a commit, a tag, a push) it
appends what it is about to do, with the old ``HEAD`` and each file's previous content, and
the journal goes when the transaction ends. The next command that finds a journal while no
live process holds the lock recovers from it, under the lock, and says so in one line on
stderr. The rule:

- **Kept** if the journal announced a push and the remote holds every one of its tags as
  the very tag objects of this clone: the change was published (and it was complete
  locally, since the push is its last step).
- **Rolled back** otherwise, whatever step it reached: the tags it announced are deleted
  if they point at the commits it named for them; ``HEAD`` goes back to the old ``HEAD``,
  but only over the dead writer's own commits (on the same branch, descending from the
  old ``HEAD``, no more than it announced; anything else is left for a person, and writes
  stop until the journal is deleted); index entries and files get their previous content
  (the last written first, so ``stages.yaml`` never names a version file that is gone);
  temporary files of an interrupted rename and the folders it created are removed.

So a killed write has happened completely or not at all, and running it again does it
(or says, as for any repeated command, that it is done). Weights objects it put in the DVC
cache or remote stay: they are named by their content, so they are correct, and the next
registration of the same weights reuses them. A lock whose process has died is taken
over, under an ``flock`` so that of two processes finding it, one takes it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from gitreg import faults
from gitreg.errors import Conflict, GitregError
from gitreg.git.runner import Git
from gitreg.repo import journal, paths, yamlio

LOCK_WAIT_SECONDS = 30.0
INDEX_LOCK_WAIT_SECONDS = 2.0


def _wait_for_index(git_dir: Path, wait: float = INDEX_LOCK_WAIT_SECONDS) -> None:
    """Wait a little for a git process that holds the index (``index.lock``), then refuse
    before the first change, naming the lock: a write that started would fail at its
    commit and leave its undo, and a journal, half done (issue 13)."""
    lock = git_dir / "index.lock"
    deadline = time.monotonic() + wait
    while lock.exists():
        if time.monotonic() >= deadline:
            raise Conflict(
                f"git's index is locked ({lock}): another git process is working in this "
                "repository; run the command again when it is done, or, if no git process "
                "is running, remove that file")
        time.sleep(0.05)


class Lock:
    """An exclusive lock file in ``.git``; a lock whose process has died is taken over."""

    def __init__(self, path: Path, wait: float = LOCK_WAIT_SECONDS) -> None:
        self.path, self.wait = path, wait
        self.owner = f"{os.getpid()} {socket.gethostname()}"

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        while not self._create():
            holder = self._holder()
            if self._is_stale(holder):
                self._remove_stale(holder)
                continue
            if time.monotonic() > deadline:
                raise Conflict(
                    f"another gitreg process holds {self.path} ({self._holder()}); "
                    "wait for it to finish, or delete the file if that process is gone"
                ) from None
            time.sleep(0.05)

    def _create(self) -> bool:
        """Make the lock file, owner and all, in one step: linked into place from a file
        that already holds the owner. A lock made empty and then written could be left
        empty by a crash in between, and an empty lock can never be judged stale."""
        faults.point("lock")  # crash tests only (faults.py)
        draft = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        draft.write_text(self.owner + "\n")
        try:
            os.link(draft, self.path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as handle:
                handle.write(self.owner + "\n")
        finally:
            draft.unlink(missing_ok=True)
        return True

    def _remove_stale(self, holder: str) -> None:
        """Remove the lock of ``holder``, found dead, unless someone else got there first.

        Under a second lock that the kernel holds for us (``flock``, dropped when its
        process dies, however it dies): of two processes that both found the same dead
        holder, the second sees the first one's new lock and leaves it alone.
        """
        with _guard(self.path.with_name(self.path.name + ".guard")):
            if self._holder() == holder:  # else taken over meanwhile: try again
                with contextlib.suppress(FileNotFoundError):
                    os.replace(self.path, f"{self.path}.stale")

    def release(self) -> None:
        faults.point("unlock")
        with contextlib.suppress(FileNotFoundError):
            if self._holder() == self.owner:
                self.path.unlink()

    def _holder(self) -> str:
        try:
            return self.path.read_text().strip()
        except (FileNotFoundError, UnicodeDecodeError):
            return ""

    @staticmethod
    def _is_stale(holder: str) -> bool:
        pid_text, _, host = holder.partition(" ")
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
        self.git_dir = git_dir
        self.lock = Lock(git_dir / "gitreg.lock")
        self.old_head: str | None = None
        self.recovered: str | None = None  # what recovering a crashed write did, if any
        self.journal: journal.Journal | None = None
        self._files: dict[str, bytes | None] = {}  # path -> content before, None if absent
        self._checked: set[str] = set()  # paths require_clean found clean
        self._created_dirs: list[Path] = []
        self._tags: list[tuple[str, str]] = []  # (name, commit it tags)
        self.commits: list[str] = []
        self._push: tuple[str, list[str]] = ("", [])

    def __enter__(self) -> Transaction:
        self.lock.acquire()
        try:
            self.recovered = journal.recover(self.git, self.git_dir)
            if self.recovered is not None:
                warnings.warn(self.recovered, journal.Recovered, stacklevel=2)
            _wait_for_index(self.git_dir)
            self.old_head = self.git.head()
            self.journal = journal.Journal(self.git_dir, self.lock.owner, self.old_head)
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
            if exc_type is None:
                try:
                    self.git.follow_head()  # the one index rewrite of the change (issue 5)
                except BaseException:
                    self._undo_and_close()
                    raise
            else:
                self._undo_and_close()
                return
            self._journal().close()  # done: nothing for a later command to recover
        finally:
            self.lock.release()

    def _undo_and_close(self) -> None:
        with _no_interrupts():
            self._undo()
        self._journal().close()  # undone (kept, for the next command, if undo failed)

    # -- what a write does --------------------------------------------------------------

    def require_clean(self, paths: Sequence[str]) -> None:
        """Refuse to build on uncommitted edits of files this change would commit."""
        # Once found clean, a path changes only by this transaction's own writes, which a
        # second look would take for a user's edit (register --stage checks stages.yaml,
        # then promotes); and each look reads git's whole index (0.09 s at 100,000 versions).
        todo = [path for path in paths if path not in self._checked]
        if todo:
            self.git.follow_head()  # else this change's own commits would look staged
        dirty = self.git.changed(todo)
        self._checked.update(todo)
        if not dirty:
            return
        if not self.git.succeeds("ls-files", "--error-unmatch", "--", dirty[0]):
            # Not in git at all: often a file of a commit thrown away since (a reset after
            # a push that was refused), which git checkout cannot restore.
            raise Conflict(f"{dirty[0]} has uncommitted changes: it is in the work tree but "
                           "not in git (left by a change that was never committed, or undone "
                           f"since); remove it (git clean -f -- {dirty[0]}) or commit it, and "
                           "try again")
        raise Conflict(f"{dirty[0]} has uncommitted changes; commit or discard them "
                       f"(git checkout -- {dirty[0]}) and try again")

    def write(self, path: str, text: str) -> None:
        """Write a file under the registry root, remembering what was there."""
        target = paths.check_real(self.root, path)  # never through a link (issue 6)
        if path not in self._files:
            before = target.read_bytes() if target.exists() else None
            self._note_new_dirs(target.parent)
            self._journal().file(path, before)
            self._files[path] = before
        faults.point("write", path)  # crash tests only (faults.py)
        yamlio.write_atomic(target, text)

    def created(self, path: Path) -> None:
        """Note a file or folder made by other means (the weights), removed on failure."""
        self._note_new_dirs(path.parent)
        self._journal().note(created=path.relative_to(self.root).as_posix())
        self._created_dirs.append(path)

    def commit(self, message: str, paths: Sequence[str], env: Mapping[str, str],
               sign: bool = False, tags: Sequence[tuple[str, str]] = ()) -> str:
        """Commit ``paths``; ``tags`` (name, message) are made on the commit before the
        branch moves to it. Reads take no lock: one that finds the commit on the branch
        must find its tags as well, not show the change untagged (tests/test_visibility.py).
        """
        self._journal().note(commit=message.partition("\n")[0])

        def before_head(commit: str) -> None:
            # Noted before HEAD moves: undo and recovery move HEAD back over this commit
            # only, and over it even if what follows the move fails (the index, a hook).
            self._journal().note(made=commit)
            self.commits.append(commit)
            for name, _ in tags:  # noted first: undo and recovery remove what was made
                self._journal().note(tag=name, target=commit)
                self._tags.append((name, commit))

        return self.git.commit(message, paths, env, sign, update_index=False,  # see __exit__
                               tags=tags, before_head=before_head)

    def tag(self, name: str, commit: str, message: str, env: Mapping[str, str],
            sign: bool = False) -> None:
        """Tag a commit already on the branch (``ci tag``); a new commit is tagged by
        ``commit``, in the ref transaction that moves the branch."""
        self._journal().note(tag=name, target=commit)
        self._tags.append((name, commit))
        self.git.tag(name, commit, message, env, sign)

    @property
    def tags(self) -> list[str]:
        """The tags this transaction made, in order."""
        return [name for name, _ in self._tags]

    def publishing(self, remote: str, tags: Sequence[str]) -> None:
        """Say that the change is about to be pushed with ``tags``: once the push is through,
        recovering from a crash keeps the change instead of undoing it."""
        self.git.follow_head()  # a published change is kept: its index must be right
        self._journal().note(push=remote, tags=list(tags))
        self._push = (remote, list(tags))

    def pushing(self, pid: int) -> None:
        """Note the pid of the ``git push`` under way: recovering from a crash waits for it
        rather than race it (it outlives a killed gitreg, and may yet land the change)."""
        remote, tags = self._push
        self._journal().note(push=remote, tags=tags, pid=pid)

    def _journal(self) -> journal.Journal:
        assert self.journal is not None, "a Transaction is used inside its with-block"
        return self.journal

    # -- undo ---------------------------------------------------------------------------

    def _note_new_dirs(self, folder: Path) -> None:
        # The outermost folder this change creates, so undo leaves no empty folders.
        missing = None
        while not folder.exists() and folder != self.root:
            missing, folder = folder, folder.parent
        if missing is not None:
            self._journal().note(created=missing.relative_to(self.root).as_posix())
            self._created_dirs.append(missing)

    def _undo(self) -> None:
        errors: list[str] = []

        def attempt(step: str, *args: str) -> None:
            try:
                self.git.run(*args)
            except GitregError as exc:
                errors.append(f"{step}: {exc}")

        head = self.git.head()
        if (head not in self.commits and head != self.old_head and head is not None
                and self.commits and self.git.succeeds(
                    "merge-base", "--is-ancestor", self.commits[0], head)):
            # Another process committed on top of this change: undoing it would take theirs
            # along, or leave theirs naming files that are gone. Nothing is touched; the
            # journal stays, and the next command's recovery refuses as well.
            raise Conflict(f"another process committed {head[:12]} on top of this change's "
                           f"commit {self.commits[0][:12]} while it was being made, so it was "
                           "not undone; check `git log` and repair by hand, then delete "
                           f"{self.git_dir / journal.JOURNAL}")
        self.git.index_behind.clear()  # the reset below puts the index back as it was
        if self._tags:
            # Only a tag on this change's commit is ours: one of the same name on anything
            # else was there first (then ours was never made), and is left alone.
            refs = [f"refs/tags/{name}" for name, _ in self._tags]
            listing = self.git.run("for-each-ref", "--format=%(refname) %(*objectname)",
                                   *refs, check=False)
            targets = dict(line.partition(" ")[::2] for line in listing.splitlines())
            for name, commit in reversed(self._tags):
                if targets.get(f"refs/tags/{name}") == commit:
                    attempt("delete tag", "tag", "-d", "--", name)
        paths = list(self._files)
        after = head
        if head in self.commits:  # this change's own commit: back to where it began
            after = self.old_head
            if self.old_head is None:
                attempt("unborn HEAD", "update-ref", "-d", "HEAD", head)
            else:
                attempt("reset HEAD", "update-ref", "-m", "gitreg: undo", "HEAD",
                        self.old_head, head)
        # Else HEAD is where the change began, or someone else's commit made while it was
        # under way (its compare-and-swap failed): theirs, never moved back over.
        if paths:
            if after is None:
                attempt("unstage", "rm", "--cached", "-q", "--ignore-unmatch", "--", *paths)
            else:
                attempt("unstage", "reset", "-q", after, "--", *paths)
        # Last written first: stages.yaml goes back before the version file it names goes.
        for path, content in reversed(self._files.items()):
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


@contextlib.contextmanager
def _guard(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` while the block runs (no guard where there is no
    ``fcntl``: Windows)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def recover_interrupted(root: Path) -> str | None:
    """For every command as it starts: if a write in the registry at ``root`` was killed
    part-way and no live gitreg process holds the lock, recover from it now (see the
    module docstring) and say what was done. None when there was nothing to do."""
    git = Git(root)
    dot_git = root / ".git"
    git_dir = dot_git if dot_git.is_dir() else Path(
        git.run("rev-parse", "--absolute-git-dir").strip())
    lock = Lock(git_dir / "gitreg.lock", wait=0)
    try:
        lock.acquire()
    except Conflict:
        return None  # a live writer: its journal is no crash's
    try:
        return journal.recover(git, git_dir)
    finally:
        lock.release()
