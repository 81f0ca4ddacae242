"""A registry shared through a git remote: publish with replay, proposals, push and pull.

A write with ``--push`` first catches up with the remote, then commits and pushes branch
and tags in one atomic push. If the remote moved on meanwhile, the local change is undone,
the clone fast-forwards to the new tip and the change is replayed there, its stage tag
renumbered. If what the change depends on (its ``guard``: the model's stage) reads
differently on the new tip, someone changed the same thing first: that is a conflict,
and nothing is pushed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from . import config as config_module
from .errors import Conflict
from .events import Event, commit_message, parse_tag
from .git import identity_env
from .records import VersionRecord
from .storage import Progress
from .sync import Rejected, Sync
from .transaction import Transaction

if TYPE_CHECKING:
    from .registry import Registry

PUSH_ATTEMPTS = 12


@dataclass(frozen=True)
class Proposal:
    """A promotion committed on a branch for review (untagged until merged)."""

    event: Event
    branch: str
    base: str
    record: VersionRecord


class Sharing:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.git = registry.git
        self.sync = Sync(registry.git)
        self.sync.require_remote()

    def publish(
        self, change: Callable[[Transaction], list[Event]], guard: Callable[[], object] | None
    ) -> list[Event]:
        branch = self.sync.branch()
        self._catch_up(branch)
        expected = guard() if guard else None
        for attempt in range(PUSH_ATTEMPTS):
            try:
                with self.registry.transaction() as tx:
                    events = change(tx)
                    tags = [e.tag for e in events if e.tag]
                    tx.publishing(self.sync.remote, tags)
                    self.sync.push(branch, tags)
                return events
            except Rejected:
                # Exponential backoff with jitter: writers who collided spread out instead
                # of colliding again in lockstep.
                time.sleep(random.uniform(0.0, min(3.0, 0.05 * 2**attempt)))
                self._catch_up(branch)
                if guard is not None and (now := guard()) != expected:
                    raise Conflict(
                        f"someone changed the same thing on {self.sync.remote} first (it now "
                        f"reads {_show(now)}, was {_show(expected)}); nothing was pushed. "
                        "Check `gitreg history` and run the command again if it still applies"
                    ) from None
        raise Conflict(
            f"{self.sync.remote} kept moving: gave up after {PUSH_ATTEMPTS} attempts; nothing "
            "was pushed, run the command again"
        )

    def _catch_up(self, branch: str) -> None:
        with self.registry.transaction():
            self.sync.fast_forward(branch, self.sync.fetch(branch))
        self.registry.config = config_module.load(self.registry.root)

    def propose(self, record: VersionRecord, stage: str, forced: str | None, *,
                sign: bool = False) -> Proposal:
        """Commit the promotion beside the checkout (plumbing) and push it as a new branch."""
        registry, sync = self.registry, self.sync
        base_branch = sync.branch()
        with registry.transaction():  # the lock: nobody moves the branch while we read it
            sync.fast_forward(base_branch, sync.fetch(base_branch))
            registry.config = config_module.load(registry.root)
            stage_map, event = registry.plan_promotion(record, stage, forced)
            branch = f"gitreg/promote-{record.name}-{record.version}-to-{stage}"
            if self.git.succeeds("ls-remote", "--exit-code", "--heads", "--", sync.remote,
                                 f"refs/heads/{branch}"):
                raise Conflict(f"a proposal branch {branch} already exists on {sync.remote}; "
                               "merge or delete it first")
            env = identity_env(self.git)
            head = self.git.head()
            assert head is not None
            files = {registry.stages_path(record.name): registry.stages_text(stage_map).encode()}
            commit = self.git.commit_beside(head, files, commit_message(event), env, sign)
            rules = registry.config.policies.get(stage)
            if rules is not None and rules.require_signed:  # verify.py; before any push
                from . import verify

                verify.refuse(stage, verify.new_change_problems(self.git, commit))
            sync.push_branch(commit, branch)
        author = self.git.run("var", "GIT_AUTHOR_IDENT", env=env).strip().rsplit(" ", 2)[0]
        return Proposal(replace(event, commit=commit, author=author), branch, base_branch, record)

    def push(self, progress: Progress | None = None) -> tuple[str, list[str]]:
        """Publish the branch, its gitreg tags and any weights the remote lacks."""
        from .weights import Weights

        registry = self.registry
        branch = self.sync.branch()
        weights = Weights(registry.root)
        for model in registry.models():
            for record in registry.versions(model):
                if weights.has_local(record.artifact):
                    weights.push(record.artifact, record.artifact.path + ".dvc", progress)
        tags = [t.name for t in self.git.tags() if parse_tag(t.name) is not None]
        try:
            self.sync.push(branch, tags)
        except Rejected:
            raise Conflict(
                f"{self.sync.remote} has commits this clone lacks; run `gitreg pull` first"
            ) from None
        return branch, tags

    def pull(self, progress: Progress | None = None) -> tuple[str, list[str]]:
        """Fast-forward from the remote and fetch the weights of every version in a stage."""
        from .weights import Weights

        registry = self.registry
        branch = self.sync.branch()
        self._catch_up(branch)
        weights = Weights(registry.root)
        fetched = []
        for model in registry.models():
            stage_map = registry.stage_map(model)
            for version in sorted({v for held in stage_map.stages.values() for v in held}):
                record = registry.record(model, version)
                weights.fetch(record.artifact, record.artifact.path + ".dvc", progress)
                fetched.append(f"{model}@{version}")
        return branch, fetched


def _show(held: object) -> str:
    if isinstance(held, tuple):
        return ", ".join(held) or "nothing"
    return str(held)
