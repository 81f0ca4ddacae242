"""A registry shared through a git remote: proposals, push and pull.

Every write's ``--push`` goes through repo/publish.py (commit, atomic push, replay); this
module holds the operations that only exist because there is a remote.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gitreg.core.events import Event, commit_message, parse_tag
from gitreg.core.lifecycle import parse_lifecycle_tag
from gitreg.core.records import VersionRecord
from gitreg.errors import Conflict
from gitreg.git.runner import identity_env
from gitreg.git.sync import Rejected, Sync
from gitreg.repo import signing
from gitreg.repo.publish import Publisher
from gitreg.service.registry import Registry
from gitreg.weights.storage import Progress


@dataclass(frozen=True)
class Proposal:
    """A promotion committed on a branch for review (untagged until merged)."""

    event: Event
    branch: str
    base: str
    record: VersionRecord


def propose(registry: Registry, name: str, version: str, stage: str, *, force: bool = False,
            reason: str | None = None, sign: bool = False) -> Proposal:
    """Commit a promotion on a new branch beside the checkout and push it for review; no tag
    until it is merged (``gitreg ci tag``)."""
    record = registry.record(name, version)
    registry.config.check_stage(stage)
    forced = registry.override(force, reason)
    registry.gate_signing(stage, sign, record.name)
    sync = Sync(registry.git)
    sync.require_remote()
    git = registry.git
    base_branch = sync.branch()
    with registry.transaction():  # the lock: nobody moves the branch while we read it
        sync.fast_forward(base_branch, sync.fetch(base_branch))
        registry.reload_config()
        stage_map, event = registry.plan_promotion(record, stage, forced)
        branch = f"gitreg/promote-{record.name}-{record.version}-to-{stage}"
        if git.succeeds("ls-remote", "--exit-code", "--heads", "--", sync.remote,
                        f"refs/heads/{branch}"):
            raise Conflict(f"a proposal branch {branch} already exists on {sync.remote}; "
                           "merge or delete it first")
        env = identity_env(git)
        head = git.head()
        assert head is not None
        files = {registry.stages_path(record.name): registry.stages_text(stage_map).encode()}
        commit = git.commit_beside(head, files, commit_message(event), env, sign)
        if registry.requires_signed(stage, record.name):  # before any push
            signing.refuse(stage, signing.new_change_problems(git, commit))
        sync.push_branch(commit, branch)
    author = git.run("var", "GIT_AUTHOR_IDENT", env=env).strip().rsplit(" ", 2)[0]
    return Proposal(replace(event, commit=commit, author=author), branch, base_branch, record)


def push(registry: Registry, *, progress: Progress | None = None) -> tuple[str, list[str]]:
    """Publish the branch, its gitreg tags and any weights the remote lacks."""
    from gitreg.weights.dvc import Weights

    sync = Sync(registry.git)
    sync.require_remote()
    branch = sync.branch()
    weights = Weights(registry.root)
    for model in registry.models():
        for record in registry.versions(model):
            if weights.has_local(record.artifact):
                weights.push(record.artifact, record.artifact.path + ".dvc", progress)
    tags = [t.name for t in registry.git.tags()
            if parse_tag(t.name) is not None or parse_lifecycle_tag(t.name) is not None]
    try:
        sync.push(branch, tags)
    except Rejected:
        raise Conflict(
            f"{sync.remote} has commits this clone lacks; run `gitreg pull` first"
        ) from None
    return branch, tags


def pull(registry: Registry, *, progress: Progress | None = None) -> tuple[str, list[str]]:
    """Fast-forward from the remote and fetch the weights of every version in a stage."""
    from gitreg.weights.dvc import Weights

    sync = Sync(registry.git)
    branch = sync.branch()
    Publisher(sync, registry.transaction, registry.reload_config).catch_up(branch)
    weights = Weights(registry.root)
    fetched = []
    for model in registry.models():
        stage_map = registry.stage_map(model)
        for version in sorted({v for held in stage_map.stages.values() for v in held}):
            record = registry.record(model, version)
            weights.fetch(record.artifact, record.artifact.path + ".dvc", progress)
            fetched.append(f"{model}@{version}")
    return branch, fetched
