"""Publishing a write with replay: commit, then push branch and tags in one atomic push.

A write with ``--push`` first catches up with the remote, then commits and pushes branch
and tags in one atomic push. If the remote moved on meanwhile, the local change is undone,
the clone fast-forwards to the new tip and the change is replayed there, its stage tag
renumbered. If what the change depends on (its ``guard``: the model's stage) reads
differently on the new tip, someone changed the same thing first: that is a conflict, and
nothing is pushed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from gitreg.core.events import PROPOSAL_PREFIX, Event, parse_tag
from gitreg.core.release import parse_release_tag
from gitreg.errors import Conflict
from gitreg.git.runner import Git
from gitreg.git.sync import Rejected, Sync
from gitreg.repo.transaction import Transaction

# A push that loses the race replays and tries again: at least PUSH_ATTEMPTS times, and for
# as long as PUSH_PATIENCE seconds allow, so a busy remote under slow machines (a CI runner
# with many jobs) starves no writer after a dozen quick losses.
PUSH_ATTEMPTS = 12
PUSH_PATIENCE = 120.0


class Publisher:
    """Writes of one clone published to its ``origin``.

    ``transaction`` opens the registry's transaction (its lock); ``caught_up`` is called
    after every fast-forward, so the caller reads what the fetch brought (its config).
    """

    def __init__(self, sync: Sync, transaction: Callable[[], Transaction],
                 caught_up: Callable[[], None],
                 note: Callable[[str], None] = lambda _message: None) -> None:
        sync.require_remote()
        self.sync, self.transaction, self.caught_up = sync, transaction, caught_up
        self.note = note

    def publish(self, change: Callable[[Transaction], list[Event]],
                guard: Callable[[], object] | None = None, *,
                caught_up: bool = False) -> list[Event]:
        """Run ``change`` in a transaction and push what it made, replaying it on the
        remote's new tip while ``guard`` reads the same there. ``caught_up``: the caller
        has just caught up (``catch_up``), so the first fetch is not made again."""
        sync = self.sync
        branch = sync.branch()
        if not caught_up:
            self.catch_up(branch)
        expected = guard() if guard else None
        started, attempt = time.monotonic(), 0
        while True:
            try:
                with self.transaction() as tx:
                    events = change(tx)
                    tags = tx.tags  # every tag it made: a release's own too (issue 18)
                    tx.publishing(sync.remote, tags)
                    sync.push(branch, tags, started=tx.pushing)
                return events
            except Rejected:
                attempt += 1
                waited = time.monotonic() - started
                if attempt >= PUSH_ATTEMPTS and waited >= PUSH_PATIENCE:
                    raise Conflict(
                        f"{sync.remote} kept moving: gave up after {attempt} attempts in "
                        f"{waited:.0f} s; nothing was pushed, run the command again"
                    ) from None
                # Exponential backoff with jitter: writers who collided spread out instead
                # of colliding again in lockstep.
                time.sleep(random.uniform(0.0, min(3.0, 0.05 * 2**min(attempt, 10))))
                self.catch_up(branch)
                if guard is not None and (now := guard()) != expected:
                    raise Conflict(
                        f"someone changed the same thing on {sync.remote} first (it now "
                        f"reads {_show(now)}, was {_show(expected)}); nothing was pushed. "
                        "Check `gitreg history` and run the command again if it still applies"
                    ) from None

    def propose(self, change: Callable[[Transaction], list[Event]],
                branch_of: Callable[[list[Event]], str], *,
                caught_up: bool = False) -> tuple[list[Event], str]:
        """Make ``change`` on top of the caught-up main branch, push that commit to a new
        branch named ``branch_of(events)`` for review, and undo it here: the checkout and
        its branch stay as they were (issue 14: every write can be proposed). ``caught_up``:
        the caller has just run ``start_proposal``."""
        sync = self.sync
        unpushed = unpushed_commits(sync, sync.branch() if caught_up else self.start_proposal())
        proposed: list[tuple[list[Event], str]] = []
        try:
            with self.transaction() as tx:
                events = change(tx)  # first: a change refused anyway says why
                if unpushed is not None:
                    raise unpushed
                branch = branch_of(events)
                if sync.has_remote_branch(branch):
                    raise Conflict(f"a proposal branch {branch} already exists on "
                                   f"{sync.remote}; merge or delete it first")
                head = sync.git.head()
                assert head is not None
                sync.push_branch(head, branch)
                proposed.append((events, branch))
                raise _Proposed  # the transaction undoes the local commit and files
        except _Proposed:
            pass
        return proposed[0]

    def start_proposal(self) -> str:
        """Refuse a proposal off the main branch, and catch up with the remote's: what a
        proposal checks (the version, the stage, the policy) must be read there, before it
        is planned. Returns the branch."""
        branch = self.sync.branch()
        require_main(self.sync, branch)
        self.catch_up(branch)
        return branch

    def catch_up(self, branch: str) -> CaughtUp:
        """Fetch ``branch`` and fast-forward to it, under the registry's lock."""
        git = self.sync.git
        with self.transaction():
            before = git.head()
            fetched = self.sync.fetch(branch)
            self.sync.fast_forward(branch, fetched.tip)
            after = git.head()
        if fetched.replaced:
            self.note(replaced_note(fetched.replaced, self.sync.remote))
        self.caught_up()
        commits = 0
        if after is not None and after != before:
            span = after if before is None else f"{before}..{after}"
            commits = int(git.run("rev-list", "--count", span, "--").strip())
        return CaughtUp(commits, fetched.tags, fetched.replaced)


class _Proposed(Exception):
    """Raised inside the transaction once the proposal is pushed, so that it is undone."""


@dataclass(frozen=True)
class CaughtUp:
    """What catching up brought: commits the branch moved by, tags new to the clone, and
    local tags replaced by the remote's because they clashed."""

    commits: int
    tags: tuple[str, ...]
    replaced: tuple[str, ...]


def registry_sync(git: Git, remote: str = "origin") -> Sync:
    """``Sync`` that lets the remote's gitreg tags replace clashing local ones: a tag made
    on a branch that was then squashed or rebased names a commit main never got."""
    return Sync(git, remote, ours=lambda name: parse_tag(name) is not None
                or parse_release_tag(name) is not None)


def require_main(sync: Sync, branch: str) -> None:
    """A proposal is one commit on top of the remote's main branch, which any merge keeps
    whole. Made on another branch it carried that branch's commits too: on a proposal
    branch already squash-merged, the stale commit, which conflicts with main, and
    without main's newer versions ("no version 5.0.0" although main has it)."""
    main = sync.main_branch()
    if main is None or branch == main:
        return
    remote = sync.remote
    if branch.startswith(PROPOSAL_PREFIX):
        why = (f"{branch}, a proposal branch (once merged, done with): a proposal made "
               "here would carry that proposal's commit again")
    else:
        why = (f"{branch}: a proposal made here would carry {branch}'s own commits too "
               f"(to propose those, push {branch} and open a pull request for it)")
    raise Conflict(f"a proposal is one commit on top of {remote}/{main}, but this checkout "
                   f"is on {why}; switch to {main} (git switch {main}) and run it again")


def unpushed_commits(sync: Sync, branch: str) -> Conflict | None:
    """The refusal of a proposal from a caught-up main branch that holds commits the
    remote's lacks: the proposal would carry them (and their tags name commits a squash
    replaces). None if there are none."""
    tracking = sync.tracking_ref(branch)
    if sync.git.resolve(tracking) is None:
        return None  # the remote has no such branch yet: nothing to compare with
    ahead = int(sync.git.run("rev-list", "--count", f"{tracking}..HEAD", "--").strip())
    if not ahead:
        return None
    remote = sync.remote
    return Conflict(
        f"{branch} has {ahead} commit{'s' if ahead != 1 else ''} that {remote}/{branch} "
        f"lacks, which a proposal made here would carry too; push them first (gitreg push), "
        "or see docs/gitops.md to redo them")


def replaced_note(tags: tuple[str, ...], remote: str) -> str:
    shown = ", ".join(tags[:5]) + (f" and {len(tags) - 5} more" if len(tags) > 5 else "")
    return (f"kept {remote}'s tags {shown}: the local ones named commits of a branch that "
            "was merged as other commits (squash or rebase), and were replaced")


def _show(held: object) -> str:
    if isinstance(held, tuple):
        return ", ".join(held) or "nothing"
    return str(held)
