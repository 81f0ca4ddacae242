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

from gitreg.core.events import Event
from gitreg.errors import Conflict
from gitreg.git.sync import Rejected, Sync
from gitreg.repo.transaction import Transaction

PUSH_ATTEMPTS = 12


class Publisher:
    """Writes of one clone published to its ``origin``.

    ``transaction`` opens the registry's transaction (its lock); ``caught_up`` is called
    after every fast-forward, so the caller reads what the fetch brought (its config).
    """

    def __init__(self, sync: Sync, transaction: Callable[[], Transaction],
                 caught_up: Callable[[], None]) -> None:
        sync.require_remote()
        self.sync, self.transaction, self.caught_up = sync, transaction, caught_up

    def publish(self, change: Callable[[Transaction], list[Event]],
                guard: Callable[[], object] | None = None) -> list[Event]:
        """Run ``change`` in a transaction and push what it made, replaying it on the
        remote's new tip while ``guard`` reads the same there."""
        sync = self.sync
        branch = sync.branch()
        self.catch_up(branch)
        expected = guard() if guard else None
        for attempt in range(PUSH_ATTEMPTS):
            try:
                with self.transaction() as tx:
                    events = change(tx)
                    tags = [e.tag for e in events if e.tag]
                    tx.publishing(sync.remote, tags)
                    sync.push(branch, tags, started=tx.pushing)
                return events
            except Rejected:
                # Exponential backoff with jitter: writers who collided spread out instead
                # of colliding again in lockstep.
                time.sleep(random.uniform(0.0, min(3.0, 0.05 * 2**attempt)))
                self.catch_up(branch)
                if guard is not None and (now := guard()) != expected:
                    raise Conflict(
                        f"someone changed the same thing on {sync.remote} first (it now "
                        f"reads {_show(now)}, was {_show(expected)}); nothing was pushed. "
                        "Check `gitreg history` and run the command again if it still applies"
                    ) from None
        raise Conflict(
            f"{sync.remote} kept moving: gave up after {PUSH_ATTEMPTS} attempts; nothing "
            "was pushed, run the command again"
        )

    def catch_up(self, branch: str) -> None:
        """Fetch ``branch`` and fast-forward to it, under the registry's lock."""
        with self.transaction():
            self.sync.fast_forward(branch, self.sync.fetch(branch))
        self.caught_up()


def _show(held: object) -> str:
    if isinstance(held, tuple):
        return ", ".join(held) or "nothing"
    return str(held)
