"""Sharing a registry through a git remote: fetch, fast-forward, atomic push.

A push sends the branch and its new tags in one ``git push --atomic``, so the remote never
holds a tag without its commit or the reverse. A push refused because someone else pushed
first is reported as ``Rejected`` so that the writer can replay its change on the new tip.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gitreg.errors import Conflict, NotFound, ToolFailed
from gitreg.git.runner import Git, last_lines


class Rejected(Exception):
    """The remote refused the push because it moved on (not an error: replay and retry)."""


@dataclass(frozen=True)
class Fetched:
    """What a fetch brought: the remote branch's tip (None: no such branch), the tags new to
    this clone, and the local tags that clashed with the remote's and were replaced."""

    tip: str | None
    tags: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pushed:
    """What a push changed on the remote, as ``git push --porcelain`` reported it: the
    commits ``branch`` gained there (``new_branch``: the remote had no such branch), and the
    tags it did not have. Refs it already held are not counted: "pushed main and 61 gitreg
    tags" once counted every local tag, most of which the remote had."""

    branch: str
    commits: int = 0
    new_branch: bool = False
    tags: tuple[str, ...] = ()


class Sync:
    """``ours``: which tag names may be replaced by the remote's when they clash (gitreg's:
    the remote's tag is the one the merged commit carries, issue 14)."""

    def __init__(self, git: Git, remote: str = "origin",
                 ours: Callable[[str], bool] = lambda _: False) -> None:
        self.git, self.remote, self.ours = git, remote, ours

    def require_remote(self) -> None:
        if not self.git.succeeds("remote", "get-url", "--", self.remote):
            raise NotFound(
                f"this registry has no git remote {self.remote!r}; add one with "
                f"`git remote add {self.remote} URL`"
            )

    def branch(self) -> str:
        name = self.git.run("symbolic-ref", "-q", "--short", "HEAD", check=False).strip()
        if not name:
            raise Conflict("HEAD is detached; check out a branch (git switch main) and try again")
        return name

    def main_branch(self) -> str | None:
        """The registry's main branch, whose commits carry the tags: the remote's HEAD
        branch as the clone recorded it, else ``main`` or ``master`` if there is one."""
        ref = self.git.run("symbolic-ref", "-q", f"refs/remotes/{self.remote}/HEAD",
                           check=False).strip()
        if ref.startswith(f"refs/remotes/{self.remote}/"):
            return ref.removeprefix(f"refs/remotes/{self.remote}/")
        for name in ("main", "master"):
            if self.git.succeeds("show-ref", "--verify", "--quiet", f"refs/heads/{name}"):
                return name
        return None

    def has_remote_branch(self, branch: str) -> bool:
        return self.git.succeeds("ls-remote", "--exit-code", "--heads", "--", self.remote,
                                 f"refs/heads/{branch}")

    def tracking_ref(self, branch: str) -> str:
        return f"refs/remotes/{self.remote}/{branch}"

    def fetch(self, branch: str) -> Fetched:
        """Fetch the branch and all tags. A local tag of ``ours`` that names another object
        than the remote's (made on a branch whose commits were then squashed or rebased) is
        replaced by the remote's, or the fetch would fail on it every time (issue 14)."""
        remote: dict[str, str] = {}
        has_branch = False
        for line in self.git.run("ls-remote", "--", self.remote, f"refs/heads/{branch}",
                                 "refs/tags/*").splitlines():
            oid, _, ref = line.partition("\t")
            if ref == f"refs/heads/{branch}":
                has_branch = True
            elif ref.startswith("refs/tags/") and not ref.endswith("^{}"):
                remote[ref.removeprefix("refs/tags/")] = oid
        local = dict(line.split(" ", 1)[::-1] for line in self.git.run(
            "for-each-ref", "--format=%(objectname) %(refname:lstrip=2)", "refs/tags/"
        ).splitlines())
        replaced = tuple(sorted(name for name, oid in remote.items()
                                if local.get(name, oid) != oid and self.ours(name)))
        if replaced:
            self.git.run("tag", "-d", *replaced)
        refspecs = ["refs/tags/*:refs/tags/*"]
        if has_branch:
            refspecs.insert(0, f"+refs/heads/{branch}:{self.tracking_ref(branch)}")
        # Not --quiet: that hides why a ref was refused (issues 13, 14: "failed (exit 1): no
        # message"). gitreg's own tags were replaced above; another tag that clashes is
        # named here.
        proc = self.git.attempt("fetch", "--no-write-fetch-head", "--no-progress", self.remote,
                                *refspecs)
        if proc.returncode != 0:
            said = proc.stderr.decode("utf-8", "replace")
            moved = re.findall(r"\[rejected\]\s+(\S+)\s+->\s+\S+\s+\(would clobber existing tag\)",
                               said)
            if moved:
                tag = moved[0]
                more = f" (and {len(moved) - 1} more)" if len(moved) > 1 else ""
                raise Conflict(
                    f"tag {tag}{more} on {self.remote} is not the one here: it was moved or "
                    f"remade on {self.remote}, and gitreg never moves a tag. Compare them (git "
                    f"ls-remote {self.remote} refs/tags/{tag}; git show {tag}); keep "
                    f"{self.remote}'s with `git fetch --force {self.remote} tag {tag}`, or put "
                    f"yours back with `git push --force {self.remote} tag {tag}`")
            raise ToolFailed(f"git fetch from {self.remote!r} failed (exit {proc.returncode}): "
                             f"{last_lines(said) or 'git printed no reason'}")
        tip = self.git.resolve(self.tracking_ref(branch)) if has_branch else None
        new = tuple(sorted(name for name in remote if name not in local))
        return Fetched(tip, new, replaced)

    def fast_forward(self, branch: str, tip: str | None) -> None:
        """Bring the local branch up to ``tip`` if it is behind; refuse if they diverged."""
        head = self.git.head()
        if tip is None or head == tip:
            return
        if head is not None and self.git.succeeds("merge-base", "--is-ancestor", tip, head):
            return  # local is ahead: its own commits will go out with the push
        if head is None or self.git.succeeds("merge-base", "--is-ancestor", head, tip):
            self.git.run("merge", "--quiet", "--ff-only", tip)
            return
        raise self._diverged(branch, tip)

    def refused(self, branch: str, tip: str | None) -> Conflict:
        """Why the remote refused a push of ``branch``, given its ``tip`` fetched after the
        refusal, and what works from here. A diverged branch gets the way out ``pull``
        gives: sending it to ``pull``, which sent it back, was a circle."""
        head = self.git.head()
        if tip is None or head is None or self.git.succeeds("merge-base", "--is-ancestor",
                                                            tip, head):
            return Conflict(f"{self.remote} moved on while this push ran; run it again")
        if self.git.succeeds("merge-base", "--is-ancestor", head, tip):
            return Conflict(f"{self.remote} has commits this clone lacks; run `gitreg pull` "
                            "first")
        return self._diverged(branch, tip)

    def _diverged(self, branch: str, tip: str) -> Conflict:
        """The way out of a branch with commits the remote's lacks, while the remote moved
        on (docs/gitops.md): the commits are redone on top, so their tags must go too."""
        made = self.git.run("for-each-ref", "--format=%(refname:lstrip=2)", "--merged", "HEAD",
                            "--no-merged", tip, "refs/tags/").split()
        tags = f": git tag -d {' '.join(made)}" if 0 < len(made) <= 5 else ""
        return Conflict(
            f"{branch} has commits that {self.remote}/{branch} lacks, and {self.remote} has "
            f"moved on: redo them on top (delete the local tags they made{tags}; git reset "
            f"--hard {self.remote}/{branch}; remove the files they leave that git status lists "
            "as untracked; run the commands again with --push); see docs/gitops.md"
        )

    def push(self, branch: str, tags: Sequence[str],
             started: Callable[[int], None] | None = None) -> Pushed:
        """Push the branch and ``tags`` atomically; ``Rejected`` if the remote moved on.

        ``started`` gets the pid of the ``git push`` before it is waited for: if gitreg is
        killed meanwhile, that child lives on and may still land the push (issue 13)."""
        refspecs = [f"refs/heads/{branch}:refs/heads/{branch}"]
        refspecs += [f"refs/tags/{tag}:refs/tags/{tag}" for tag in tags]
        child = self.git.start("push", "--atomic", "--porcelain", self.remote, *refspecs)
        if started is not None:
            started(child.pid)
        out, err = child.communicate()
        status = self._statuses(out.decode("utf-8", "replace"))
        if child.returncode == 0:
            return self._pushed(branch, status)
        # A refused ref means someone pushed first (`[rejected] (fetch first)`, a tag that
        # already exists, or the remote's `cannot lock ref` when two pushes meet there):
        # replay. But a hook that declined it (a protected branch: "pre-receive hook
        # declined", "protected branch hook declined") is the remote's answer, and
        # retrying cannot change it: it is reported as it came.
        refused = [summary for flag, summary in status.values() if flag == "!"]
        if refused and not any("declined" in summary for summary in refused):
            raise Rejected(out.decode("utf-8", "replace"))
        said = (last_lines(err.decode("utf-8", "replace"))
                or last_lines(out.decode("utf-8", "replace")) or "git printed no reason")
        raise ToolFailed(f"git push to {self.remote!r} failed: {said}")

    def push_branch(self, local_ref: str, branch: str) -> None:
        """Push one ref to a (new) branch on the remote, for a pull request."""
        self.git.run("push", "--quiet", self.remote, f"{local_ref}:refs/heads/{branch}")

    def _pushed(self, branch: str, status: dict[str, tuple[str, str]]) -> Pushed:
        """What the remote gained, from the porcelain statuses of a push that succeeded
        (flag ``=``: it already had the ref, ``*``: a new ref, space: a fast-forward)."""
        flag, summary = status.get(f"refs/heads/{branch}", ("=", ""))
        commits = 0
        if flag == " " and ".." in summary:
            commits = self._count(summary)
        elif flag == "*":
            # A new branch gained only the commits no other branch of the remote has. The
            # push already moved this branch's remote-tracking ref, which HEAD may name.
            commits = self._count(f"refs/heads/{branch}", "--not",
                                  f"--exclude={self.remote}/{branch}",
                                  f"--exclude={self.remote}/HEAD", f"--remotes={self.remote}")
        tags = tuple(sorted(ref.removeprefix("refs/tags/") for ref, (mark, _) in status.items()
                            if mark == "*" and ref.startswith("refs/tags/")))
        return Pushed(branch, commits, flag == "*", tags)

    def _count(self, *revs: str) -> int:
        """Commits in ``revs``; 0 if git cannot say: the push already succeeded, and only
        its report would be wrong, which must not turn it into a failure."""
        said = self.git.run("rev-list", "--count", *revs, "--", check=False).strip()
        return int(said) if said.isdigit() else 0

    @staticmethod
    def _statuses(porcelain: str) -> dict[str, tuple[str, str]]:
        """``remote ref -> (flag, summary)`` from ``git push --porcelain`` (flag ``!``:
        refused). A line is ``flag TAB from:to TAB summary``."""
        found = {}
        for line in porcelain.splitlines():
            fields = line.split("\t")
            if len(fields) >= 2 and len(fields[0]) == 1:
                ref = fields[1].rpartition(":")[2]
                found[ref] = (fields[0], fields[2] if len(fields) > 2 else "")
        return found
