"""A transaction's write-ahead journal, and the recovery that reads it (rule: transaction.py).

``<git dir>/gitreg-journal`` holds one JSON object per line, each appended *before* the
step it announces:

    {"begin": 1, "owner": "PID HOST", "head": OLD_HEAD or null, "ref": "ref: refs/heads/main"}
    {"file": PATH, "before": BASE64 or null}   # before a file is first written
    {"created": PATH}                          # before a folder or file is made by other means
    {"commit": SUBJECT}                        # before a commit moves HEAD
    {"tag": NAME, "target": COMMIT}            # before a tag is created
    {"push": REMOTE, "tags": [NAME, ...]}      # before the atomic push of those tags

The first line goes out with the first step, so a write that changes nothing (a catch-up
under the lock) leaves no journal. A last line cut short by a crash announced a step that
never started, and is ignored. The journal is removed when the transaction ends, whether
it committed or undid itself; one that is still there belongs to a dead process.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitreg import faults
from gitreg.errors import Conflict, ToolFailed
from gitreg.git.runner import Git, last_lines
from gitreg.repo import yamlio

# json and base64 are imported where used: every command calls `pending` (issue 5).
JOURNAL = "gitreg-journal"
Entry = dict[str, Any]


class Recovered(UserWarning):
    """A write killed part-way was recovered from; the message says how."""


def pending(start: Path) -> Path | None:
    """The registry root above ``start`` whose git folder holds a journal, if any (stat
    calls only: every command asks, and almost always the answer is no)."""
    here = start.absolute()
    for folder in (here, *here.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return folder if (dot_git / JOURNAL).exists() else None
        if dot_git.is_file():  # a linked worktree: its own git folder keeps its journal
            git_dir = _linked_git_dir(dot_git)
            return folder if git_dir is not None and (git_dir / JOURNAL).exists() else None
    return None


def _linked_git_dir(dot_git: Path) -> Path | None:
    """The git folder a worktree's ``.git`` file names (``gitdir: PATH``)."""
    try:
        text = dot_git.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if not text.startswith("gitdir: "):
        return None
    path = Path(text[len("gitdir: "):].strip())
    return path if path.is_absolute() else (dot_git.parent / path)


class Journal:
    """The journal a transaction writes as it goes."""

    def __init__(self, git_dir: Path, owner: str, head: str | None) -> None:
        self.path = git_dir / JOURNAL
        # "made": each commit is noted (``made``) before HEAD moves to it.
        self._begin: Entry | None = {"begin": 1, "owner": owner, "head": head,
                                     "ref": head_ref(git_dir), "commits": "made"}

    def note(self, **entry: Any) -> None:
        """Announce the next step; returns once the line is on disk (in the page cache,
        which a killed process cannot lose)."""
        import json

        lines = [entry] if self._begin is None else [self._begin, entry]
        faults.point("journal", next(iter(entry)))  # crash tests only (faults.py)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(line) + "\n" for line in lines))
        self._begin = None

    def file(self, path: str, before: bytes | None) -> None:
        import base64

        self.note(file=path, before=None if before is None else
                  base64.b64encode(before).decode("ascii"))

    def close(self) -> None:
        """The transaction is over (done or undone): nothing is left to recover."""
        if self._begin is None:
            faults.point("journal close")
            self.path.unlink(missing_ok=True)


def head_ref(git_dir: Path) -> str:
    """What ``HEAD`` names (``ref: refs/heads/main``, or a commit when detached)."""
    try:
        return (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def read(path: Path) -> list[Entry] | None:
    """The journal's entries up to the first line that is not whole; None if there is none."""
    import json

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            break
        if not isinstance(entry, dict):
            break
        entries.append(entry)
    return entries


def recover(git: Git, git_dir: Path) -> str | None:
    """Finish what a dead writer's journal describes: keep it if it reached the remote,
    else undo it. Returns one line saying which, or None if there was no journal.

    The caller holds the registry's lock, so the journal's writer is gone or was this
    process (an earlier transaction whose undo failed).
    """
    path = git_dir / JOURNAL
    entries = read(path)
    if entries is None:
        return None
    if not entries or "begin" not in entries[0]:
        path.unlink(missing_ok=True)  # cut short in its first line: nothing was done
        return None
    begin = entries[0]
    if owner_alive(str(begin.get("owner", ""))):
        raise Conflict(f"another gitreg process (pid {begin['owner']}) is writing, although "
                       f"it holds no lock; wait for it, or stop it")
    who = str(begin.get("owner", "?")).split(" ")[0]
    what = describe(entries)
    pushes = [e for e in entries if "push" in e]
    if pushes:
        _wait_for_push(pushes[-1], git.root)
    if pushes and _published(git, pushes[-1]):
        path.unlink()
        return (f"a write interrupted by a crash (pid {who}: {what}) had reached "
                f"{pushes[-1]['push']}; kept it")
    _roll_back(git, git_dir, begin, entries)
    path.unlink()
    return (f"rolled back a write interrupted by a crash (pid {who}: {what}); nothing of it "
            "is left, run it again if it is still wanted")


def describe(entries: Sequence[Entry]) -> str:
    subjects = [str(e["commit"]) for e in entries if "commit" in e]
    if subjects:
        return "; ".join(subjects)
    tags = [str(e["tag"]) for e in entries if "tag" in e]
    if tags:
        return "tags " + ", ".join(tags)
    files = [str(e.get("file") or e.get("created")) for e in entries[1:]]
    return "uncommitted changes to " + ", ".join(files) if files else "nothing changed yet"


PUSH_WAIT_SECONDS = 60.0


def _wait_for_push(push: Entry, root: Path, wait: float = PUSH_WAIT_SECONDS) -> None:
    """Wait for the dead writer's ``git push``, which outlives it (a slow server, a
    pre-receive hook), to end: asking the remote before it has would roll back a change
    that then lands there (issue 13). Still running after ``wait``: refuse, keeping the
    journal, rather than race it."""
    import time

    pid = push.get("pid")
    # Killed between starting `git push` and noting its pid: find that child by what it is
    # (a `git push --atomic` run in this clone), or the change could be rolled back here and
    # then land on origin (found by issue 18's crash tests, at the pid's journal write).
    pids = [pid] if isinstance(pid, int) else _orphan_pushes(root)
    deadline = time.monotonic() + wait
    while any(_is_git(p) for p in pids):
        if time.monotonic() >= deadline:
            raise Conflict(
                f"a write interrupted by a crash left its push to {push['push']} running (git, "
                f"pid {', '.join(map(str, pids))}); run the command again when it has ended, "
                "to learn whether the change reached it")
        time.sleep(0.1)


def _orphan_pushes(root: Path) -> list[int]:
    """Live ``git push --atomic`` processes working in ``root`` (Linux: ``/proc``; elsewhere
    none are found, and the pid the journal notes is all there is)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    command = handle.read().split(b"\0")
                cwd = os.readlink(f"/proc/{entry.name}/cwd")
            except OSError:
                continue
            if (command and os.path.basename(command[0]) == b"git" and b"push" in command
                    and b"--atomic" in command and os.path.realpath(cwd) == str(
                        os.path.realpath(root))):
                found.append(int(entry.name))
    return found


def _is_git(pid: int) -> bool:
    """Whether ``pid`` is a live git process (not a later process given the same pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)  # no /proc: a live process of that pid is taken to be it
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return bool(command) and os.path.basename(command[0]) == b"git" and b"push" in command


def _published(git: Git, push: Entry) -> bool:
    """Whether the atomic push the journal announced went through: the remote holds every
    one of its tags as the very tag objects this clone has."""
    remote, tags = str(push["push"]), [str(t) for t in push.get("tags", [])]
    if not tags:
        return False
    refs = [f"refs/tags/{tag}" for tag in tags]
    proc = git.attempt("ls-remote", "--", remote, *refs)
    if proc.returncode != 0:
        said = last_lines(proc.stderr.decode("utf-8", "replace")) or "git printed no reason"
        raise ToolFailed(
            f"a write interrupted by a crash was pushing to {remote}, which cannot be reached "
            f"to tell whether that push arrived ({said}); run the command again once it can"
        )
    there = dict(_pairs(proc.stdout.decode()))
    here = dict(_pairs(git.run("for-each-ref", "--format=%(objectname) %(refname)", *refs)))
    return all(ref in here and there.get(ref) == here[ref] for ref in refs)


def _pairs(listing: str) -> list[tuple[str, str]]:
    """``(ref, object id)`` from ``OID<space or tab>REF`` lines."""
    found = []
    for line in listing.splitlines():
        oid, _, ref = line.replace("\t", " ").partition(" ")
        found.append((ref.strip(), oid))
    return found


def _roll_back(git: Git, git_dir: Path, begin: Entry, entries: Sequence[Entry]) -> None:
    """Tags, then HEAD, then index entries, then files (last written first), then what was
    created: the order in which a reader never meets a name without what it names."""
    import base64

    old = begin.get("head")
    head = git.head()
    if head != old:  # first of all: is it safe to move HEAD back at all?
        _check_ours(git, git_dir, begin, head, entries)
    tags = [(str(e["tag"]), str(e.get("target"))) for e in entries if "tag" in e]
    if tags:
        names = dict(_pairs(git.run(
            "for-each-ref", "--format=%(*objectname)%(objectname) %(refname)",
            *(f"refs/tags/{name}" for name, _ in tags))))
        for name, commit in reversed(tags):
            # The peeled target (first on the line for an annotated tag) must be the commit
            # the journal named: a tag of that name on anything else is someone else's.
            if names.get(f"refs/tags/{name}", "")[:len(commit)] == commit:
                git.run("tag", "-d", "--", name)
    if head != old:
        if old is None:
            git.run("update-ref", "-d", "HEAD")
        else:
            git.run("update-ref", "-m", "gitreg: undo a write interrupted by a crash", "HEAD",
                    old, head or "0" * 40)
    files = [str(e["file"]) for e in entries if "file" in e]
    if files and old is None:
        git.run("rm", "--cached", "-q", "--ignore-unmatch", "--", *files)
    elif files:
        git.run("reset", "-q", str(old), "--", *files)
    for entry in reversed([e for e in entries if "file" in e]):
        target = git.root / str(entry["file"])
        if entry.get("before") is None:
            target.unlink(missing_ok=True)
        else:
            yamlio.write_atomic(target, base64.b64decode(str(entry["before"])))
        # write_atomic's temporary file, if the crash came between writing and renaming it
        for leftover in target.parent.glob(f".{target.name}.*.tmp"):
            leftover.unlink(missing_ok=True)
    for entry in reversed([e for e in entries if "created" in e]):
        created = git.root / str(entry["created"])
        if created.is_dir() and not created.is_symlink():
            import shutil  # only to undo a killed write: reads start without it

            shutil.rmtree(created, ignore_errors=True)
        else:
            created.unlink(missing_ok=True)


def _check_ours(git: Git, git_dir: Path, begin: Entry, head: str | None,
                entries: Sequence[Entry]) -> None:
    """Refuse to move HEAD back over anything but the dead writer's own commits: those it
    noted (``made``) before moving HEAD to them; by their number, for a journal written
    before gitreg noted them. Else another process's commit, made after the writer died
    and before this recovery, would be thrown away with the writer's change."""
    old = begin.get("head")
    commits = sum("commit" in e for e in entries)
    noted = begin.get("commits") == "made"
    made = {str(e["made"]) for e in entries if "made" in e}
    reason = None
    if head_ref(git_dir) != begin.get("ref"):
        reason = f"HEAD now names {head_ref(git_dir)!r}, not {begin.get('ref')!r}"
    elif head is None:
        reason = "the branch is gone"
    elif old is not None and not git.succeeds("merge-base", "--is-ancestor", str(old), head):
        reason = f"{head[:12]} does not descend from {str(old)[:12]}"
    else:
        span = head if old is None else f"{old}..{head}"
        since = git.run("rev-list", span, "--").split()
        strangers = [commit for commit in since if commit not in made]
        if noted and strangers:
            reason = (f"{len(strangers)} commit(s) since are not its own, such as "
                      f"{strangers[0][:12]}")
        elif len(since) > commits:
            reason = f"{len(since)} commits were made since, more than its {commits}"
    if reason is not None:
        raise Conflict(
            f"a write interrupted by a crash left {JOURNAL} in the git folder, but it cannot "
            f"be undone safely ({reason}); check `git status` and `git log`, repair by hand, "
            f"then delete {git_dir / JOURNAL}"
        )


def owner_alive(owner: str) -> bool:
    """Whether the journal's writer (``PID HOST``) is another live process on this host."""
    import socket

    pid_text, _, host = owner.partition(" ")
    if not pid_text.isdigit() or host != socket.gethostname() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
