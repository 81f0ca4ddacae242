"""The one layer that runs git. It raises by default, showing command, exit code and stderr.

gitreg drives git's own executable rather than GitPython: the reads it needs are bulk
plumbing (``for-each-ref``, ``cat-file --batch``, ``log``) that GitPython would run as the
same subprocesses, and importing GitPython alone costs ~0.18 s per command.
Identity and dates go per call through ``env``; ``os.environ`` is never mutated.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from gitreg import faults
from gitreg.errors import InvalidInput, NotFound, ToolFailed
from gitreg.git import partial

# Separators for `git log --format` output whose fields hold text from the commits (author
# names, trailers): random per process, so that no commit can hold one. A cloned registry
# is untrusted, and a "\x1f" or "\x1e" in a trailer used to split a record and stop
# history, check, ci tag and site with a traceback.
_TOKEN = os.urandom(8).hex()
LOG_RECORD = f"\x1e{_TOKEN}\x1e"
LOG_FIELD = f"\x1f{_TOKEN}\x1f"

if TYPE_CHECKING:
    import subprocess

# subprocess (with selectors, signal, threading, locale), socket and getpass are imported
# where git or a hook is run: `which` and `show` answer from the cache without running git,
# and each millisecond of their start counts (issue 19 point 5).


@dataclass(frozen=True)
class TagRef:
    name: str  # without refs/tags/
    target: str  # the commit it points at (peeled)
    annotated: bool


class Git:
    def __init__(self, root: Path, env: Mapping[str, str] | None = None) -> None:
        self.root = root
        # Never wait for a password prompt: a command must fail, not hang, in CI.
        self.env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
        self.index_behind: set[str] = set()  # see commit(update_index=False)
        self._store: list[Path | None] = []  # the object folder, once looked up

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> str:
        return self.run_bytes(*args, input=input, env=env, check=check).decode(
            "utf-8", "surrogateescape"
        )

    def run_bytes(
        self,
        *args: str,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> bytes:
        proc = self.attempt(*args, input=input, env=env)
        if check and proc.returncode != 0:
            # Some commands (fetch --quiet, push --porcelain) say why on stdout, or not at all.
            raise failed(args, proc.returncode, proc.stderr, proc.stdout)
        return proc.stdout

    def attempt(
        self, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """Run git and hand back whatever happened, for callers that read failures."""
        import subprocess

        faults.point("git", " ".join(args[:2]))  # crash tests only (faults.py)
        try:
            return subprocess.run(
                ["git", *args],
                cwd=self.root,
                input=input,
                capture_output=True,
                env={**self.env, **(env or {})},
                check=False,
            )
        except FileNotFoundError:
            raise ToolFailed("git is not installed or not on PATH; install git") from None

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Start git and return at once (``communicate`` for its outcome): for a caller that
        must note the child's pid before it waits (a push that may outlive gitreg)."""
        import subprocess

        faults.point("git", " ".join(args[:2]))  # crash tests only (faults.py)
        try:
            return subprocess.Popen(["git", *args], cwd=self.root, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=self.env)
        except FileNotFoundError:
            raise ToolFailed("git is not installed or not on PATH; install git") from None

    def spool(self, *args: str) -> Spooled:
        """Start git with its output going to an unnamed temporary file, not a pipe, and
        return at once; ``Spooled.output()`` waits and reads it. Several long reads (the
        parts of a walk of history, history.py) then run on their own cores while this
        process works: read through pipes, each git stalled whenever the thread draining
        its pipe waited for the interpreter lock (issue 19)."""
        import subprocess
        import tempfile

        faults.point("git", " ".join(args[:2]))  # crash tests only (faults.py)
        out = tempfile.TemporaryFile()  # noqa: SIM115 (Spooled owns it, and closes it)
        try:
            proc = subprocess.Popen(["git", *args], cwd=self.root, stdout=out,
                                    stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    env=self.env)
        except FileNotFoundError:
            out.close()
            raise ToolFailed("git is not installed or not on PATH; install git") from None
        except BaseException:
            out.close()
            raise
        return Spooled(args, proc, out)

    def succeeds(self, *args: str) -> bool:
        return self.attempt(*args).returncode == 0

    # -- reads --------------------------------------------------------------------------

    def head(self) -> str | None:
        """The commit HEAD points at, or ``None`` in a repository without commits."""
        out = self.run("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False).strip()
        return out or None

    def _all_tags(self) -> list[TagRef]:
        """Every tag, from ``show-ref -d``: it takes what a tag names from packed-refs' peeled
        lines, where for-each-ref's ``%(*objectname)`` reads every tag object (137,000 at
        100,000 versions: 1.2 s, this 0.14 s; issue 19). A tag that names a tag is peeled to
        what the innermost one names (for-each-ref stops one level in)."""
        proc = self.attempt("show-ref", "--tags", "--dereference")
        if proc.returncode == 1 and not proc.stdout:
            return []  # no tag at all
        if proc.returncode != 0:
            self.run("show-ref", "--tags", "--dereference")  # raises, with git's reason
        found: list[tuple[str, str, bool]] = []  # name, target, annotated
        for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
            obj, _, ref = line.partition(" ")
            if ref.endswith("^{}"):
                # What the tag before it names: an annotated tag (no ref name holds "^").
                found[-1] = (found[-1][0], obj, True)
            else:
                found.append((ref.removeprefix("refs/tags/"), obj, False))
        return [TagRef(*entry) for entry in found]

    def resolve(self, rev: str) -> str | None:
        """The commit ``rev`` names, or None. A range (``A..B``) names no one commit: git
        answers it with two lines, which are not a commit id."""
        out = self.run("rev-parse", "--verify", "-q", "--end-of-options", f"{rev}^{{commit}}",
                       check=False).strip()
        return out if out and "\n" not in out else None

    def tagged(self, name: str) -> str:
        """The commit tag ``name`` marks: the object it names, or (an annotated tag) the object
        its tag object names, one level in and no further. A tag can name a tree or a blob
        (issue 6: a crafted clone), or another tag: ``churn/dev/2`` made of the tag object
        ``churn/dev/1`` is, peeled all the way, on the commit of ``churn/dev/1``, and would be a
        second event of its change."""
        out = self.run("for-each-ref", "--format=%(refname)%00%(objecttype)%00%(objectname)"
                       "%00%(*objecttype)%00%(*objectname)%00%(*tag)", f"refs/tags/{name}")
        for line in out.split("\n"):
            # The inner tag's name last: its tag object says it, and may say anything.
            fields = line.split("\0", 5)
            if len(fields) < 6 or fields[0] != f"refs/tags/{name}":
                continue  # for-each-ref also lists the refs below the one it is given
            _, kind, sha, inner_kind, inner_sha, inner_name = fields
            if kind == "tag":
                kind, sha = inner_kind, inner_sha
                if kind == "tag":
                    raise InvalidInput(f"tag {name} points at another tag ({inner_name}), not a "
                                       "commit: it marks no gitreg event")
            if kind != "commit":
                raise InvalidInput(f"tag {name} points at a {kind}, not a commit: it marks no "
                                   "gitreg event")
            return sha
        raise NotFound(f"no tag {name} in this clone; fetch tags first (git fetch --tags)")

    def require_held(self, tag: str, commit: str) -> str | None:
        """Refuse gitreg tag ``tag`` on a commit the main branch does not hold: a change
        made on a branch never merged (or deleted), tagged by hand and pushed. It never
        passed review or ``check``, and a deploy job triggered by the tag would ship it.

        The main branch is origin's default (``refs/remotes/origin/HEAD``, which ``git
        clone`` sets), or the local branch of that name (a promotion made here, not pushed
        yet). Returns the one that holds the commit; None where this clone cannot tell: no
        ``origin/HEAD`` (a CI checkout at the tag), or a shallow history that may end
        before the commit (the deploy examples fetch the branch's last commits first:
        README "Security"). A commit a merge brought in counts, as ``ci tag`` counts it
        (``brought_in_by`` then names the merge, whose state the caller compares)."""
        branch = self.run("symbolic-ref", "-q", "refs/remotes/origin/HEAD", check=False).strip()
        if not branch or self.resolve(branch) is None:
            return None
        local = "refs/heads/" + branch.removeprefix("refs/remotes/origin/")
        for ref in (branch, local):
            if self.resolve(ref) is not None and self.succeeds(
                    "merge-base", "--is-ancestor", commit, ref):
                return ref
        if self.run("rev-parse", "--is-shallow-repository").strip() == "true":
            return None
        branch = branch.removeprefix("refs/remotes/")
        raise InvalidInput(f"tag {tag} is on commit {commit[:12]}, which {branch} does "
                           "not hold: a gitreg event is a change the main branch holds; "
                           f"fetch it (git fetch origin) if {branch} is behind here, else, "
                           "if nobody made the tag on purpose, delete it (git push origin "
                           f":refs/tags/{tag})")

    def brought_in_by(self, commit: str, ref: str) -> str | None:
        """The commit of ``ref``'s first-parent history that brought ``commit`` in (a merge,
        or a fast-forward past one), if ``commit`` is not on that history itself; None if
        it is."""
        if self.on_chain(commit, ref):
            return None
        # Once brought in, every later first-parent commit descends from it: the oldest of
        # the chain's commits that do. (--first-parent with --ancestry-path lists none.)
        after = set(self.run("rev-list", "--ancestry-path", f"{commit}..{ref}", "--").split())
        found = None
        for sha in self.run("rev-list", "--first-parent", ref, "--").split():
            if sha not in after:
                break
            found = sha
        return found

    def on_chain(self, commit: str, rev: str, reach: int | None = None) -> bool:
        """Whether ``commit`` is ``rev`` or on its first-parent chain (within ``reach``
        commits): the chain is read as git lists it, and left as soon as ``commit`` shows
        (a walk of commits only, ~5 ms per 1,000). Not ``rev-list COMMIT..REV``, whose walk
        goes all the way back to an old ``commit`` however few it prints."""
        if commit == rev:
            return True
        wanted = commit.encode()
        limit = [f"--max-count={reach}"] if reach is not None else []
        proc = self.start("rev-list", "--first-parent", *limit, "--end-of-options", rev, "--")
        assert proc.stdout is not None
        try:
            return any(line.rstrip() == wanted for line in proc.stdout)
        finally:
            proc.kill()
            proc.communicate()

    def chains_meet(self, rev: str, base: str) -> tuple[str | None, set[str]]:
        """Where the first-parent chains of ``rev`` and ``base`` meet: the first commit of
        ``rev``'s chain that is on ``base``'s (from there on they are one chain), or None if
        they never do; and the commits of ``base``'s chain read until then.

        Both chains are read as git lists them, a line of each in turn, and left as soon as
        a commit shows in both: the cost is the two tips' distance to that commit, not the
        length of history. The first commit seen in both is the meeting point: any later
        common commit is as much further down both chains."""
        procs = [self.start("rev-list", "--first-parent", "--end-of-options", tip, "--")
                 for tip in (rev, base)]
        seen: tuple[set[bytes], set[bytes]] = (set(), set())
        try:
            lines = [iter(proc.stdout or ()) for proc in procs]
            open_sides = [0, 1]
            while open_sides:
                for side in list(open_sides):
                    line = next(lines[side], None)
                    if line is None:
                        open_sides.remove(side)
                        continue
                    commit = line.rstrip()
                    seen[side].add(commit)
                    if commit in seen[1 - side]:
                        return commit.decode(), {c.decode() for c in seen[1]}
            return None, {c.decode() for c in seen[1]}
        finally:
            for proc in procs:
                proc.kill()
                proc.communicate()

    def tags(self, *patterns: str) -> list[TagRef]:
        """Tags matching ``patterns`` (for-each-ref globs under refs/tags/), in one call."""
        if not patterns:
            return self._all_tags()
        out = self.run(
            "for-each-ref",
            "--format=%(refname)%00%(objecttype)%00%(objectname)%00%(*objectname)",
            *(f"refs/tags/{p}" for p in patterns or ("",)),
        )
        refs = []
        for line in out.splitlines():
            ref, kind, obj, peeled = line.split("\0")
            refs.append(TagRef(ref.removeprefix("refs/tags/"), peeled or obj, kind == "tag"))
        return refs

    def changed(self, paths: Sequence[str]) -> list[str]:
        """Files under ``paths`` that ``git status`` would list: staged or unstaged changes
        against HEAD, conflicts, and untracked files that are not ignored.

        Reads git's index once (``ls-files``) instead of status's read plus its untracked
        walk: at 100,000 versions the index holds 300,000 entries and status took ~0.2 s
        of every write, this ~0.09 s (issue 5). File content is compared by hashing it as
        git would (``hash-object`` applies the path's filters), never by stat data alone.
        """
        if not paths:
            return []  # no pathspec would mean every file
        wanted = paths
        paths = _collapsed(paths)
        listing = self.run_bytes("ls-files", "-z", "-t", "--stage", "--others",
                                 "--exclude-standard", "--", *paths)
        head = self.head()
        committed = self._tree_files(head, paths) if head else {}
        dirty: set[str] = set()
        indexed: dict[str, tuple[str, str]] = {}
        compare: dict[str, tuple[str, str]] = {}  # what each work-tree file should be
        for item in listing.split(b"\0"):
            tag, _, rest = item.decode("utf-8", "surrogateescape").partition(" ")
            if tag == "?":
                dirty.add(rest)  # untracked, not ignored
            elif rest:
                meta, _, path = rest.partition("\t")
                mode, blob, stage = meta.split()
                indexed[path] = (mode, blob)
                if stage != "0":
                    dirty.add(path)  # a conflict
                elif tag != "S":  # skip-worktree (sparse) entries have no file to compare
                    compare[path] = (mode, blob)
        # Staged: added, deleted or changed in the index against HEAD.
        dirty.update(path for path in indexed.keys() | committed.keys()
                     if indexed.get(path) != committed.get(path))
        if len(compare) > self.HASH_LIMIT:
            # A whole registry (``check``): hashing 300,000 files at 100,000 versions took
            # longer than git's own refresh, which hashes only what its index's stat data
            # and racy-git rule cannot vouch for (issue 19).
            dirty.update(self._worktree_changes(paths))
        else:
            dirty.update(self._unstaged(compare))
        if paths is not wanted:
            kept = frozenset(path.rstrip("/") for path in wanted)
            dirty = {path for path in dirty if _under(path, kept)}
        return sorted(dirty)

    HASH_LIMIT = 2000

    def status(self, paths: Sequence[str]) -> list[str]:
        """``changed`` for a whole registry: what ``git status`` lists under ``paths``, from
        git status itself (its index refresh, diff and untracked walk, all in C). ``changed``
        hashes what it compares and parses two listings of every file in Python: 4 s for a
        full ``check`` at 100,000 versions, against 1 s for this (issue 19). No optional
        lock: a read must not write the index a concurrent write holds."""
        return self.status_started(paths)()

    def status_started(self, paths: Sequence[str]) -> Callable[[], list[str]]:
        """``status`` with git started now, on its own core, and waited for by the call
        returned: a full ``check`` reads history meanwhile (1.5 s of git at 100,000
        versions, issue 19)."""
        if not paths:
            return list
        wanted = paths
        collapsed = _collapsed(paths)
        started = self.spool("--no-optional-locks", "status", "--porcelain=v1", "-z",
                             "--untracked-files=all", "--no-renames", "--", *collapsed)

        def result() -> list[str]:
            # "XY PATH" entries; no renames, so no second path follows one.
            dirty = {entry[3:] for entry in started.output().split("\0") if len(entry) > 3}
            if collapsed is not wanted:
                kept = frozenset(path.rstrip("/") for path in wanted)
                dirty = {path for path in dirty if _under(path, kept)}
            return sorted(dirty)

        return result

    def _worktree_changes(self, paths: Sequence[str]) -> list[str]:
        """Tracked paths under ``paths`` whose work-tree file differs from the index, as
        ``git diff`` finds them: stat data, then content where it cannot tell (it refreshes
        the index in memory; plumbing's diff-files would call a touched file changed)."""
        out = self.run_bytes("diff", "--no-ext-diff", "--no-textconv", "--name-only", "-z",
                             "--no-renames", "--", *paths)
        return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]

    def _unstaged(self, expected: Mapping[str, tuple[str, str]]) -> list[str]:
        """Paths whose work-tree file differs from its index entry (mode, blob id)."""
        dirty, hash_them = [], []
        for path, (mode, blob) in expected.items():
            try:
                found = _mode(self.root / path, follow=False)
            except (FileNotFoundError, NotADirectoryError):
                dirty.append(path)  # deleted
                continue
            if found == mode == "120000":  # hash-object would hash what the link points at
                target = os.fsencode(os.readlink(self.root / path))
                if _blob_id(target, len(blob)) != blob:
                    dirty.append(path)
            elif found == mode or ("120000" not in (found, mode) and not self._file_modes()):
                hash_them.append(path)
            else:
                dirty.append(path)  # a link where a file was, or the other way; or chmod
        if hash_them:
            names = "".join(f"{path}\n" for path in hash_them)
            hashed = self.run("hash-object", "--stdin-paths",
                              input=names.encode("utf-8", "surrogateescape")).split()
            dirty.extend(path for path, blob in zip(hash_them, hashed, strict=True)
                         if blob != expected[path][1])
        return dirty

    def _file_modes(self) -> bool:
        """Whether git heeds the executable bit here (core.fileMode, true unless set)."""
        out = self.run("config", "--type=bool", "--get", "core.fileMode", check=False)
        return out.strip() != "false"

    def _tree_files(self, commit: str, paths: Sequence[str]) -> dict[str, tuple[str, str]]:
        """path -> (mode, blob id) of the files under ``paths`` in ``commit``."""
        out = self.run_bytes("ls-tree", "-r", "-z", "--full-tree", commit, "--", *paths)
        files = {}
        for item in out.split(b"\0"):
            if item:
                meta, _, path = item.decode("utf-8", "surrogateescape").partition("\t")
                mode, _, blob = meta.split()
                files[path] = (mode, blob)
        return files

    def cat_files(self, specs: Sequence[str]) -> list[bytes | None]:
        """Contents of many ``<rev>:<path>`` objects in one ``cat-file --batch``; None if absent."""
        if not specs:
            return []
        self.prefetch(specs)
        out = self.run_bytes("cat-file", "--batch", input="".join(f"{s}\n" for s in specs).encode())
        results: list[bytes | None] = []
        pos = 0
        for _ in specs:
            end = out.index(b"\n", pos)
            header = out[pos:end].split(b" ")
            pos = end + 1
            if header[-1] == b"missing" or len(header) != 3:
                results.append(None)
                continue
            size = int(header[2])
            results.append(out[pos:pos + size])
            pos += size + 1
        return results

    def prefetch(self, specs: Sequence[str]) -> None:
        """In a partial clone, fetch the objects ``specs`` name that it lacks, in one fetch
        (what git does for one missing object, for all at once): ``cat-file --batch`` would
        fetch them one by one, a round trip to the server each (issue 19). Object ids are
        looked up in the pack indexes (partial.py); ``<rev>:<path>`` names are resolved with
        one ``rev-parse``, which reads trees only. Nothing happens in a full clone; if the
        fetch fails (offline), git's own lazy fetch still has its say."""
        objects = self._object_store()
        if objects is None or not partial.is_partial(objects):
            return
        oids = [spec for spec in specs if _is_oid(spec)]
        named = [spec for spec in specs if not _is_oid(spec)]
        if named:
            proc = self.attempt("rev-parse", "--end-of-options", *named)
            if proc.returncode == 0:
                oids += proc.stdout.decode("ascii", "replace").split()
            elif len(named) <= 4:  # one names a missing path (ci event's parent, say)
                for spec in named:
                    one = self.run("rev-parse", "--verify", "-q", "--end-of-options", spec,
                                   check=False).strip()
                    oids += [one] if one else []
        lacking = partial.missing(objects, oids)
        if lacking is None:
            lacking = sorted(set(oids))  # cannot tell: ask for all, the server sends them
        if not lacking:
            return
        remote = self._promisor_remote()
        if remote is None:
            return
        self.attempt("-c", "fetch.negotiationAlgorithm=noop", "fetch", "--quiet", "--no-tags",
                     "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none",
                     "--stdin", remote, input="".join(f"{oid}\n" for oid in lacking).encode())

    def tags_on_disk(self) -> int:
        """About how many tags the repository has, counted in its files (``packed-refs``
        and the loose ones under ``refs/tags``) without running git: a guess to share work
        by (history.py's parts of a walk), never an answer. 0 where it cannot tell."""
        objects = self._object_store()
        if objects is None or "GIT_OBJECT_DIRECTORY" in self.env:
            return 0
        common = objects.parent
        count = 0
        with contextlib.suppress(OSError):
            count = (common / "packed-refs").read_bytes().count(b" refs/tags/")
        for _, _, files in os.walk(common / "refs" / "tags"):
            count += len(files)
        return count

    def _object_store(self) -> Path | None:
        """This repository's object folder (looked up once)."""
        if not self._store:
            dot_git = self.root / ".git"
            if dot_git.is_dir() and not any(
                    key in self.env for key in ("GIT_DIR", "GIT_OBJECT_DIRECTORY")):
                self._store.append(dot_git / "objects")
            else:
                proc = self.attempt("rev-parse", "--git-path", "objects")
                line = proc.stdout.decode("utf-8", "surrogateescape").strip()
                self._store.append(self.root / line if proc.returncode == 0 and line else None)
        return self._store[0]

    def _promisor_remote(self) -> str | None:
        """The remote a partial clone fetches missing objects from."""
        named = self.run("config", "--get", "extensions.partialclone", check=False).strip()
        if named:
            return named
        out = self.run("config", "--type=bool", "--get-regexp", r"^remote\..*\.promisor$",
                       check=False)
        for line in out.splitlines():
            key, _, value = line.partition(" ")
            if value.strip() == "true":
                return key.removeprefix("remote.").removesuffix(".promisor")
        return None

    # -- writes -------------------------------------------------------------------------

    def commit(self, message: str, paths: Sequence[str], env: Mapping[str, str],
               sign: bool = False, *, update_index: bool = True,
               tags: Sequence[tuple[str, str]] = (),
               before_head: Callable[[str], None] | None = None) -> str:
        """Commit HEAD plus the work-tree content of ``paths``, as ``git commit --only`` would,
        whatever else the index holds; its hooks run (pre-commit, commit-msg, post-commit).
        Signed with git's own signing set-up when ``sign`` or ``commit.gpgSign`` says so.

        ``tags`` (name, message): annotated tags of the commit, created in the same ref
        transaction that moves HEAD, and before it (git applies a transaction's updates in
        order). Reads take no lock: one that finds the commit on the branch finds its tags
        too, and a crash leaves both or neither. A signed tag needs ``git tag --sign``, which
        makes its ref at once: it is made just before that transaction. ``before_head`` is
        called with the commit before any of it (to journal what is about to be made).

        The index then follows the commit for ``paths``; with ``update_index=False`` (and no
        post-commit hook, which may look at it) that is left to ``follow_head``, so that
        a change of several commits rewrites git's index once (issue 5: 0.27 s a rewrite
        at 100,000 versions). Until then ``index_behind`` names the paths it lags on.

        Built with plumbing on a temporary index: ``git commit`` refreshes the whole index,
        which at 30,000 tracked files (10,000 versions) costs ~0.3 s a commit and grows with
        the registry (benchmarks/scale.py); this costs ~0.04 s there.
        """
        import tempfile

        head = self.head()
        blobs = self.run("hash-object", "-w", "--", *paths).split()
        files = [(_mode(self.root / path), blob, path)
                 for path, blob in zip(paths, blobs, strict=True)]
        entries = "".join(f"{mode} {blob}\t{path}\n" for mode, blob, path in files).encode()
        hooks = self._hooks("pre-commit", "commit-msg", "post-commit")
        tree = None
        if head is not None and not hooks["pre-commit"] and not hooks["commit-msg"]:
            # No hook needs an index of the whole commit: write just the changed folders.
            tree = self._tree_with(head, files)
        if tree is None:
            with tempfile.TemporaryDirectory(prefix="gitreg-commit-") as tmp:
                index = {**env, "GIT_INDEX_FILE": os.path.join(tmp, "index")}
                if head is not None:
                    self.run("read-tree", head, env=index)
                self.run("update-index", "--add", "--index-info", input=entries, env=index)
                self._hook("pre-commit", env=index, path=hooks["pre-commit"])
                message_file = os.path.join(tmp, "COMMIT_EDITMSG")
                with open(message_file, "w", encoding="utf-8") as handle:
                    handle.write(message)
                self._hook("commit-msg", message_file, env=index, path=hooks["commit-msg"])
                with open(message_file, encoding="utf-8") as handle:
                    message = handle.read()
                tree = self.run("write-tree", env=index).strip()
        parents = ["-p", head] if head is not None else []
        configured = set() if sign else self._signing()
        commit = self._commit_tree(tree, parents, message, env,
                                   sign or "commit.gpgsign" in configured)
        if before_head is not None:
            before_head(commit)
        made = self._tag_objects(commit, tags, env, sign, "tag.gpgsign" in configured)
        subject = message.splitlines()[0] if message else ""
        # Compare-and-swap: if HEAD moved since we read it, fail rather than lose a commit.
        updates = [f"create refs/tags/{name} {tag}\n" for name, tag in made]
        updates.append(f"update HEAD {commit} {head or '0' * 40}\n")
        proc = self.attempt("update-ref", "-m", f"commit: {subject}", "--stdin",
                            input="".join(updates).encode())
        if proc.returncode != 0:  # git names the ref that failed
            raise failed(("update-ref", "--stdin"), proc.returncode, proc.stderr)
        if update_index or hooks["post-commit"]:
            self.run("update-index", "--add", "--index-info", input=entries)  # index follows
            self.index_behind.difference_update(paths)
        else:
            self.index_behind.update(paths)
        self._hook("post-commit", env=env, check=False, path=hooks["post-commit"])
        return commit

    def follow_head(self) -> None:
        """Bring the index up to HEAD for the paths commits left it behind on."""
        if not self.index_behind:
            return
        paths = sorted(self.index_behind)
        listing = self.run_bytes("ls-tree", "-z", "--full-tree", "HEAD", "--", *paths)
        self.run("update-index", "--add", "-z", "--index-info", input=listing)
        self.index_behind.clear()

    def _tree_with(self, head: str, files: Sequence[tuple[str, str, str]]) -> str | None:
        """The tree of ``head`` with ``files`` (mode, blob id, path) in it, written with
        ``mktree`` for the folders on their paths only, deepest first.

        A temporary index holds every file of the commit: reading it costs ~0.25 s at
        10,000 versions and grows with the registry; this reads and writes a few trees
        (issue 5). None when a folder on a path is not a folder at ``head``: the caller
        then builds the tree the long way, which reports what is wrong.
        """
        folders = {"/".join(path.split("/")[:depth])
                   for _, _, path in files for depth in range(path.count("/") + 1)}
        order = sorted(folders, key=lambda f: (f.count("/") + bool(f), f), reverse=True)
        found = self._objects([f"{head}^{{tree}}" if not f else f"{head}:{f}" for f in order])
        trees: dict[str, dict[str, tuple[str, str]]] = {}
        for folder, (kind, data) in zip(order, found, strict=True):
            if kind not in ("tree", "missing"):
                return None
            trees[folder] = _tree_entries(data, len(head) // 2) if kind == "tree" else {}
        for mode, blob, path in files:
            folder, _, name = path.rpartition("/")
            trees[folder][name] = (mode, blob)
        written: dict[str, str] = {}
        for folder in order:  # deepest first, so every subfolder is written before its parent
            entries = trees[folder]
            for child, oid in written.items():
                parent, _, name = child.rpartition("/")
                if parent == folder and child:
                    entries[name] = ("40000", oid)
            listing = "".join(f"{mode.zfill(6)} {_kind(mode)} {oid}\t{name}\0"
                              for name, (mode, oid) in entries.items())
            written[folder] = self.run(
                "mktree", "-z", input=listing.encode("utf-8", "surrogateescape")).strip()
        return written[""]

    def _objects(self, specs: Sequence[str]) -> list[tuple[str, bytes]]:
        """(type, content) of objects named by ``specs``, in one ``cat-file --batch``;
        type "missing" for an object that does not exist."""
        out = self.run_bytes("cat-file", "--batch", input="".join(f"{s}\n" for s in specs)
                             .encode())
        results: list[tuple[str, bytes]] = []
        pos = 0
        for _ in specs:
            end = out.index(b"\n", pos)
            header = out[pos:end].split(b" ")
            pos = end + 1
            if len(header) != 3:
                results.append(("missing", b""))
                continue
            size = int(header[2])
            results.append((header[1].decode(), out[pos:pos + size]))
            pos += size + 1
        return results

    def _hooks(self, *names: str) -> dict[str, Path | None]:
        """The hooks of ``names`` that would run (core.hooksPath honoured), in one call."""
        args = [arg for name in names for arg in ("--git-path", f"hooks/{name}")]
        found: dict[str, Path | None] = {}
        for name, line in zip(names, self.run("rev-parse", *args).splitlines(), strict=True):
            path = Path(line.strip())
            path = path if path.is_absolute() else self.root / path
            found[name] = path if path.is_file() and os.access(path, os.X_OK) else None
        return found

    def _hook(self, name: str, *args: str, env: Mapping[str, str], check: bool = True,
              path: Path | None) -> None:
        """Run a git hook the way ``git commit`` does, if there is one (``path``)."""
        if path is None:
            return
        import subprocess

        command = [str(path), *args]
        try:
            proc = subprocess.run(command, cwd=self.root, capture_output=True,
                                  env={**self.env, **env}, check=False)
        except OSError as exc:
            if exc.errno != errno.ENOEXEC:
                raise ToolFailed(f"the {name} hook could not be run ({exc.strerror}); "
                                 "nothing was committed") from None
            # A script without a #! line: git runs it with the shell; so does gitreg.
            proc = subprocess.run(["/bin/sh", *command], cwd=self.root, capture_output=True,
                                  env={**self.env, **env}, check=False)
        if check and proc.returncode != 0:
            said = last_lines(proc.stderr.decode("utf-8", "replace") +
                              proc.stdout.decode("utf-8", "replace"))
            raise ToolFailed(
                f"the {name} hook rejected the commit (exit {proc.returncode})"
                + (f": {said}" if said else "") + "; nothing was committed"
            )

    def _signing(self) -> set[str]:
        """The signing settings git has on (commit.gpgsign, tag.gpgsign), in one call: `git
        commit` and `git tag --annotate` honour them; plumbing (commit-tree, mktag) does
        not, so gitreg reads them itself, and signs exactly when git's porcelain would
        (tag.forceSignAnnotated is not one: an explicit --annotate overrides it)."""
        listing = self.run("config", "--type=bool", "--get-regexp",
                           r"^(commit|tag)\.gpgsign$", check=False)
        values: dict[str, bool] = {}
        for line in listing.splitlines():
            key, _, value = line.partition(" ")
            values[key.lower()] = value.strip() == "true"  # the last one set wins, as in git
        return {key for key, on in values.items() if on}

    def _tag_objects(self, commit: str, tags: Sequence[tuple[str, str]],
                     env: Mapping[str, str], sign: bool,
                     configured: bool) -> list[tuple[str, str]]:
        """Annotated tag objects of ``commit``, no ref yet: (name, object id). Signed ones
        (``sign``, or tag.gpgSign ``configured``) are made by ``git tag``, which has
        git's signing set-up, ref and all, and are not listed."""
        if not tags:
            return []
        if sign or configured:
            for name, message in tags:
                self.tag(name, commit, message, env, sign)  # as before: git reads its config
            return []
        tagger = self.run("var", "GIT_COMMITTER_IDENT", env=env).strip()
        made = []
        for name, message in tags:
            body = (f"object {commit}\ntype commit\ntag {name}\ntagger {tagger}\n\n"
                    f"{message.rstrip()}\n")
            made.append((name, self.run("mktag", input=body.encode()).strip()))
        return made

    def _commit_tree(self, tree: str, parents: Sequence[str], message: str,
                     env: Mapping[str, str], sign: bool) -> str:
        args = ["commit-tree", tree, *parents, *(["-S"] if sign else []), "-F", "-"]
        if not sign:
            return self.run(*args, input=message.encode(), env=env).strip()
        proc = self.attempt(*args, input=message.encode(), env=env)
        if proc.returncode != 0:
            raise ToolFailed(signing_failed("commit", proc.stderr))
        return proc.stdout.decode().strip()

    def tag(self, name: str, commit: str, message: str, env: Mapping[str, str],
            sign: bool = False) -> None:
        """An annotated tag; signed (``git tag --sign``) when ``sign`` or ``tag.gpgSign``."""
        # "--" ends options: a name is never parsed as a flag (names are allowlisted too).
        args = ["tag", "--annotate", *(["--sign"] if sign else []), "--file=-", "--", name,
                commit]
        if not sign:
            self.run(*args, input=message.encode(), env=env)
            return
        proc = self.attempt(*args, input=message.encode(), env=env)
        if proc.returncode != 0:
            raise ToolFailed(signing_failed("tag", proc.stderr))

    def commit_beside(
        self, base: str, files: Mapping[str, bytes], message: str, env: Mapping[str, str],
        sign: bool = False,
    ) -> str:
        """A commit of ``base`` plus ``files``, made without touching the index or work tree.

        For proposals: the user's checkout stays as it was while a branch is prepared.
        """
        import tempfile

        with tempfile.TemporaryDirectory(prefix="gitreg-index-") as tmp:
            index = {"GIT_INDEX_FILE": f"{tmp}/index"}
            self.run("read-tree", base, env=index)
            for path, content in files.items():
                blob = self.run("hash-object", "-w", "--stdin", input=content).strip()
                self.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}",
                         env=index)
            tree = self.run("write-tree", env=index).strip()
        sign = sign or "commit.gpgsign" in self._signing()
        return self._commit_tree(tree, ["-p", base], message, env, sign)


_MAGIC = frozenset("*?[]\\:!")
_COLLAPSE_FROM = 32


def _collapsed(paths: Sequence[str]) -> Sequence[str]:
    """``paths`` with each group of more than ``_COLLAPSE_FROM`` sharing a parent folder
    asked as that folder (``changed`` then keeps what is under ``paths``): git matches
    every index entry against every pathspec, and a full ``check`` asks for each of 1,000
    model folders, 12 s of git's CPU at 100,000 versions, against 2 s for ``models``
    (issue 19). Paths with pathspec magic are left as they are."""
    if len(paths) <= _COLLAPSE_FROM or any(_MAGIC & set(path) for path in paths):
        return paths
    by_parent: dict[str, list[str]] = {}
    for path in paths:
        parent, _, name = path.rstrip("/").rpartition("/")
        by_parent.setdefault(parent if name else path, []).append(path)
    asked: list[str] = []
    for parent, group in by_parent.items():
        asked += [parent] if parent and len(group) > _COLLAPSE_FROM else group
    return asked if len(asked) < len(paths) else paths


def _under(path: str, wanted: frozenset[str]) -> bool:
    """Whether ``path`` is one of ``wanted`` or inside one of them (as a pathspec matches)."""
    while path:
        if path in wanted:
            return True
        path = path.rpartition("/")[0]
    return False


def identity_env(git: Git) -> dict[str, str]:
    """The environment a commit is made with.

    git's configured identity when there is one; otherwise (a fresh machine where
    ``git commit`` would refuse) the login name at this host, so that the exercise's usage
    example runs anywhere. ``registered_by`` then says who it was.
    """
    if git.succeeds("var", "GIT_AUTHOR_IDENT") and git.succeeds("var", "GIT_COMMITTER_IDENT"):
        return {}
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "gitreg"
    email = f"{user}@{socket.gethostname() or 'localhost'}"
    return {
        "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", user),
        "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", email),
        "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", user),
        "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", email),
    }


@dataclass(frozen=True)
class Authorship:
    """Who made a change and when, for a change replayed from another registry (issue 17):
    the commit's author and both its dates; the committer stays whoever runs the import."""

    name: str
    email: str
    date: str  # ISO 8601 with a time zone


def authored_env(git: Git, authorship: Authorship | None) -> dict[str, str]:
    """``identity_env`` with the author and dates of ``authorship``, when there is one."""
    env = identity_env(git)
    if authorship is not None:
        env.update({
            "GIT_AUTHOR_NAME": authorship.name,
            "GIT_AUTHOR_EMAIL": authorship.email,
            "GIT_AUTHOR_DATE": authorship.date,
            "GIT_COMMITTER_DATE": authorship.date,
        })
    return env


def _tree_entries(data: bytes, hash_size: int) -> dict[str, tuple[str, str]]:
    """A raw tree object's entries: name -> (mode, object id), in the tree's order."""
    entries: dict[str, tuple[str, str]] = {}
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        name = data[space + 1:nul].decode("utf-8", "surrogateescape")
        entries[name] = (data[pos:space].decode(), data[nul + 1:nul + 1 + hash_size].hex())
        pos = nul + 1 + hash_size
    return entries


def _blob_id(data: bytes, hex_size: int) -> str:
    """The id git gives a blob of ``data``, in a SHA-1 (40 hex digits) or SHA-256 repo."""
    import hashlib

    digest = hashlib.sha1 if hex_size == 40 else hashlib.sha256
    return digest(b"blob %d\0" % len(data) + data).hexdigest()


def _kind(mode: str) -> str:
    return {"40000": "tree", "040000": "tree", "160000": "commit"}.get(mode, "blob")


def _mode(path: Path, follow: bool = True) -> str:
    """The git file mode of ``path``: executable or not, or (``follow=False``) a link."""
    info = os.stat(path, follow_symlinks=follow)
    if stat.S_ISLNK(info.st_mode):
        return "120000"
    return "100755" if info.st_mode & 0o111 else "100644"


def signing_failed(what: str, stderr: bytes) -> str:
    said = last_lines(stderr.decode("utf-8", "replace")) or "git printed no reason"
    return (f"signing the {what} failed ({said}); set up git's signing (gpg.format, "
            "user.signingkey; see README, Signed promotions) or do not sign (no --sign, "
            "commit.gpgSign and tag.gpgSign off); nothing was changed")


def failed(args: Sequence[str], code: int, stderr: bytes, stdout: bytes = b"") -> ToolFailed:
    """The error of a git that exited ``code``: the command, and the last lines it said
    (some commands, such as fetch --quiet and push --porcelain, say why on stdout)."""
    said = (last_lines(stderr.decode("utf-8", "replace"))
            or last_lines(stdout.decode("utf-8", "replace")) or "git printed no reason")
    return ToolFailed(f"git {' '.join(args[:3])} failed (exit {code}): {said}")


def last_lines(text: str, count: int = 3) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("hint:")]
    return " | ".join(lines[-count:])


def _is_oid(spec: str) -> bool:
    """A full object id (SHA-1 or SHA-256), as history hands ``cat_files`` blob ids."""
    return len(spec) in (40, 64) and all(c in "0123456789abcdef" for c in spec)


class Spooled:
    """A git started by ``Git.spool``: ``output()`` waits for it and returns what it printed,
    raising as ``Git.run`` does if it failed; ``close()`` stops it (a caller that gave up)."""

    def __init__(self, args: Sequence[str], proc: subprocess.Popen[bytes],
                 out: BinaryIO) -> None:
        self.args, self._proc, self._out = tuple(args), proc, out

    def output(self) -> str:
        try:
            _, err = self._proc.communicate()
            if self._proc.returncode != 0:
                raise failed(self.args, self._proc.returncode, err)
            self._out.seek(0)
            return self._out.read().decode("utf-8", "surrogateescape")
        finally:
            self._out.close()

    def close(self) -> None:
        if self._proc.returncode is None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.communicate()
        self._out.close()
