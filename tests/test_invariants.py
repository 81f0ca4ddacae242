"""The registry's invariants under random histories (issue 6, point 3).

A Hypothesis state machine drives random sequences of register, promote, demote and
rollback (each with or without ``--push``) and propose-and-merge (``promote --propose``,
the branch merged into main on a forge-like clone by merge commit, squash or rebase, then
``ci tag --push`` there, at once or some steps later) against a real registry with a bare
``origin``, and keeps a small reference model in memory. The registry has two models and
the stages dev (not exclusive), staging and production (exclusive, and only for versions
that were in staging: ``--force --reason`` overrides). After every step it checks:

- an exclusive stage holds at most one version, and no stage holds a version twice;
- ``which`` says what the reference says;
- history from tags equals history from ``git log``: the n-th commit of the first-parent
  chain that changed a model's stage carries the tag ``name/stage/n`` and vice versa
  (gapless), each ``name@vX`` sits on the commit that added the version file, and
  gitreg's own ``history`` tells the reference's events with those tags;
- ``which --rev`` and ``which --at`` at earlier steps give what the reference gave then
  (after each step: the first and the last three steps, for one model and stage in
  turn; at the end of each run: every step, for every stage that ever changed).

At the end of each run, ``ci tag`` has tagged every merged change, ``ci event`` reads
every stage tag as the reference's event, and ``gitreg check`` finds no problem.

Operations the reference says must fail are run too (unknown versions and stages, nothing
to roll back or demote, a version already there, a policy): they must raise exactly the
``gitreg.errors`` class expected and leave the repository (and ``origin``) unchanged.

The reference states the documented rules on its own (README: "Rollbacks walk back
through promotions: rolling back twice goes two steps back"; a demotion leaves the trail,
so a rollback after it restores the demoted version), rather than calling gitreg's code.

Git's clock is pinned: step k commits at BASE + k hours, so ``--at`` is unambiguous.
``GITREG_INVARIANT_EXAMPLES`` (default 8) runs more examples locally;
``GITREG_INVARIANT_NO_SHRINK=1`` reports a failure as found instead of shrinking it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import pytest
import yaml
from conftest import git, snapshot
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from gitreg.core.events import Action, Event
from gitreg.core.names import Version
from gitreg.errors import (
    Conflict,
    GitregError,
    InvalidInput,
    NotFound,
    PolicyViolation,
)
from gitreg.service import ci, sharing
from gitreg.service.check import validate
from gitreg.service.registry import Registry

MODELS = ("churn", "fraud")
STAGES = ("dev", "staging", "production")
EXCLUSIVE = {"dev": False, "staging": True, "production": True}  # set in the template
POOL = ("0.1.0", "0.1.1", "1.0.0", "1.1.0", "2.0.0")
BASE = datetime(2030, 1, 1, tzinfo=timezone.utc)
EXAMPLES = int(os.environ.get("GITREG_INVARIANT_EXAMPLES", "8"))
STEPS = 14
OUTCOMES: Counter[str] = Counter()  # what the runs did, so a vacuous run fails
# A failure shrinks for minutes; GITREG_INVARIANT_NO_SHRINK=1 reports it as found.
PHASES = [p for p in Phase if p is not Phase.shrink or not os.environ.get(
    "GITREG_INVARIANT_NO_SHRINK")]

Held = tuple[str, ...]
Key = tuple[str, str]  # (model, stage)


# -- the reference model --------------------------------------------------------------------


@dataclass
class Reference:
    """What the registry should hold, by the documented rules alone."""

    versions: dict[str, list[str]] = field(default_factory=dict)
    held: dict[Key, Held] = field(default_factory=dict)
    trail: dict[Key, list[str]] = field(default_factory=dict)  # what rollbacks walk back
    been: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (model, v) -> stages
    events: dict[str, list[Event]] = field(default_factory=dict)  # model -> its events
    changes: dict[Key, int] = field(default_factory=dict)  # stage-change commits

    def known(self, model: str) -> bool:
        return model in self.versions

    def registered(self, model: str, version: str) -> bool:
        return version in self.versions.get(model, ())

    def which(self, model: str, stage: str) -> Held:
        return self.held.get((model, stage), ())

    def state(self) -> dict[Key, Held]:
        return {(m, s): self.which(m, s) for m in MODELS for s in STAGES}

    def next_version(self, model: str) -> str:
        existing = [Version.parse(v) for v in self.versions.get(model, ())]
        if not existing:
            return "0.1.0"
        top = max(existing)
        return f"{top.major}.{top.minor}.{top.patch + 1}"

    # Each plan returns the error gitreg must raise, or the events the change makes.

    def plan_register(
        self, model: str, version: str | None, stage: str | None
    ) -> type[GitregError] | list[Event]:
        version = version or self.next_version(model)
        if self.registered(model, version):
            return Conflict
        events = [Event(model, Action.REGISTER, version)]
        if stage is not None:
            if self._refused_by_policy(model, version, stage, force=False):
                return PolicyViolation
            events.append(self._promotion(model, version, stage))
        return events

    def plan_promote(
        self, model: str, version: str, stage: str, force: bool
    ) -> type[GitregError] | list[Event]:
        if not self.registered(model, version):
            return NotFound
        if version in self.which(model, stage):
            return Conflict
        if self._refused_by_policy(model, version, stage, force=force):
            return PolicyViolation
        return [self._promotion(model, version, stage)]

    def _refused_by_policy(self, model: str, version: str, stage: str, *, force: bool) -> bool:
        # registry.yaml of the template: production takes only versions that were in staging
        been = self.been.get((model, version), set())
        return stage == "production" and "staging" not in been and not force

    def _promotion(self, model: str, version: str, stage: str) -> Event:
        held = self.which(model, stage)
        previous = held[0] if EXCLUSIVE[stage] and held else None
        return Event(model, Action.PROMOTE, version, stage, previous)

    def plan_demote(
        self, model: str, stage: str, version: str | None
    ) -> type[GitregError] | list[Event]:
        if not self.known(model):
            return NotFound
        held = self.which(model, stage)
        if not held or (version is not None and version not in held):
            return NotFound
        if version is None and len(held) > 1:
            return InvalidInput
        return [Event(model, Action.DEMOTE, None, stage, version or held[0])]

    def plan_rollback(
        self, model: str, stage: str, to: str | None
    ) -> type[GitregError] | list[Event]:
        if not self.known(model) or (to is not None and not self.registered(model, to)):
            return NotFound
        held = self.which(model, stage)
        current = held[-1] if held else None
        if to is None:
            # Back along the trail: its newest entry that is not what the stage holds now.
            trail = self.trail.get((model, stage), [])
            while trail and trail[-1] == current:
                trail = trail[:-1]
            if not trail:
                return NotFound
            to = trail[-1]
        if to == current:
            return Conflict
        if stage not in self.been.get((model, to), set()):
            return PolicyViolation  # only back to what the stage held (issue 12)
        return [Event(model, Action.ROLLBACK, to, stage, current)]

    def apply(self, event: Event) -> None:
        model = event.model
        self.events.setdefault(model, []).append(event)
        if event.action is Action.REGISTER:
            assert event.version is not None
            self.versions.setdefault(model, []).append(event.version)
            return
        assert event.stage is not None
        key = (model, event.stage)
        held = self.which(model, event.stage)
        trail = self.trail.setdefault(key, [])
        self.changes[key] = self.changes.get(key, 0) + 1
        if event.action is Action.DEMOTE:
            new = tuple(v for v in held if v != event.previous)  # the trail keeps it
        else:
            assert event.version is not None
            self.been.setdefault((model, event.version), set()).add(event.stage)
            if EXCLUSIVE[event.stage]:
                new = (event.version,)
            elif event.action is Action.PROMOTE:
                new = (*held, event.version)
            elif event.previous is None:
                new = (event.version,)
            else:  # the version rolled back to takes the current one's place, once
                swapped = [event.version if v == event.previous else v for v in held]
                new = tuple(v for i, v in enumerate(swapped) if v not in swapped[:i])
            if event.action is Action.ROLLBACK and event.version in trail:
                # back to it: what came after it on the trail is walked back over
                del trail[len(trail) - trail[::-1].index(event.version):]
            else:
                trail.append(event.version)
        if new:
            self.held[key] = new
        else:
            self.held.pop(key, None)


# -- the machine ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What the reference said after a step that changed the registry."""

    commit: str
    when: datetime
    state: dict[Key, Held]


@dataclass
class Site:
    """Paths of one example: the registry, its bare origin, and a clone where merges and
    CI happen (as on a forge)."""

    root: Path

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def origin(self) -> Path:
        return self.root / "origin.git"

    @property
    def forge(self) -> Path:
        return self.root / "forge"


def moment(when: datetime) -> str:
    return when.isoformat()


def pin_clock(when: datetime) -> None:
    # Set in os.environ (the test's monkeypatch restores it) so that every git process,
    # gitreg's and the forge's, commits at this time.
    os.environ["GIT_COMMITTER_DATE"] = os.environ["GIT_AUTHOR_DATE"] = moment(when)


def build_template(root: Path) -> None:
    """A registry (dev not exclusive; production only from staging), pushed to origin."""
    registry = Registry.init(root / "registry", remote=str(root / "storage"))
    config = registry.root / "registry.yaml"
    data = yaml.safe_load(config.read_text())
    assert [s["name"] for s in data["stages"]] == list(STAGES)
    for spec in data["stages"]:
        spec["exclusive"] = EXCLUSIVE[spec["name"]]
    data["policies"] = {"production": {"from": "staging"}}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    git(registry.root, "commit", "--quiet", "-am", "dev holds several versions; gate production")
    git(root, "init", "--quiet", "--bare", "origin.git")
    git(registry.root, "remote", "add", "origin", str(root / "origin.git"))
    git(registry.root, "push", "--quiet", "origin", "main")
    git(root, "clone", "--quiet", str(root / "origin.git"), "forge")


def example_site(template: Path, into: Path) -> Site:
    shutil.copytree(template, into, symlinks=True)
    site = Site(into)
    git(site.registry, "remote", "set-url", "origin", str(site.origin))
    git(site.forge, "remote", "set-url", "origin", str(site.origin))
    return site


def remote_refs(site: Site) -> str:
    return git(site.origin, "for-each-ref", "--format=%(refname) %(objectname)")


def peeled_tags(root: Path) -> dict[str, str]:
    out = git(root, "for-each-ref", "--format=%(refname:short) %(*objectname) %(objectname)",
              "refs/tags")
    return {f[0]: f[1] for f in (line.split() for line in out.splitlines())}


def cat_files(root: Path, specs: list[str]) -> list[bytes | None]:
    """``git cat-file --batch`` of ``specs``: each object's content, None where missing."""
    if not specs:
        return []
    out = subprocess.run(["git", "cat-file", "--batch"], cwd=root, check=True,
                         input="".join(f"{s}\n" for s in specs).encode(),
                         capture_output=True).stdout
    found: list[bytes | None] = []
    pos = 0
    for _ in specs:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        if header[-1] == b"missing":
            found.append(None)
            pos = end + 1
            continue
        size = int(header[2])
        found.append(out[end + 1:end + 1 + size])
        pos = end + 1 + size + 1
    return found


def stage_changes_from_log(root: Path) -> tuple[dict[Key, list[str]], dict[str, str]]:
    """Straight from git, without gitreg's reading of history: for each (model, stage) the
    first-parent commits that changed what it holds, oldest first; and for each
    ``name@vX`` the first-parent commit that added its version file."""
    chain = git(root, "rev-list", "--first-parent", "--reverse", "HEAD").split()
    changes: dict[Key, list[str]] = {}
    for model in MODELS:
        blobs = cat_files(root, [f"{c}:models/{model}/stages.yaml" for c in chain])
        before: dict[str, list[str]] = {}
        for commit, blob in zip(chain, blobs, strict=True):
            data = yaml.safe_load(blob) if blob else None
            raw = (data or {}).get("stages") or {}
            after = {s: [v] if isinstance(v, str) else list(v) for s, v in raw.items() if v}
            for stage in STAGES:
                if before.get(stage, []) != after.get(stage, []):
                    changes.setdefault((model, stage), []).append(commit)
            before = after
    added = {}
    out = git(root, "log", "--first-parent", "--reverse", "--diff-filter=A", "--name-only",
              "--format=>%H", "--", "models")
    commit = ""
    for line in out.splitlines():
        if line.startswith(">"):
            commit = line[1:]
        elif line.endswith(".yaml") and "/versions/" in line:
            parts = line.split("/")
            added[f"{parts[-3]}@v{parts[-1].removesuffix('.yaml')}"] = commit
    return changes, added


class RegistryMachine(RuleBasedStateMachine):
    template: Path
    workdir: Path
    runs = 0

    def __init__(self) -> None:
        super().__init__()
        RegistryMachine.runs += 1
        self.site = example_site(self.template, self.workdir / f"run{RegistryMachine.runs}")
        self.registry = Registry(self.site.registry)
        self.ref = Reference()
        self.clock = BASE
        self.steps: list[Step] = []
        self.pending: list[tuple[str, str]] = []  # merged stage changes waiting for ci tag
        self.checks = 0

    # -- helpers ----------------------------------------------------------------------------

    def tick(self) -> None:
        self.clock += timedelta(hours=1)
        pin_clock(self.clock)
        self.registry = Registry(self.site.registry)  # its git layer reads the clock once

    def record_step(self) -> None:
        OUTCOMES[f"{_caller()} ok"] += 1
        head = git(self.site.registry, "rev-parse", "HEAD").strip()
        self.steps.append(Step(head, self.clock, self.ref.state()))

    def expect_failure(self, error: type[GitregError], action: Callable[[], object]) -> None:
        """``action`` raises exactly ``error`` and changes nothing, here or on origin."""
        OUTCOMES[f"{_caller()} refused: {error.__name__}"] += 1
        before, remote = snapshot(self.site.registry), remote_refs(self.site)
        with pytest.raises(GitregError) as raised:
            action()
        assert type(raised.value) is error, f"expected {error.__name__}: {raised.value!r}"
        assert snapshot(self.site.registry) == before
        assert remote_refs(self.site) == remote

    def made(self, event: Event, expected: Event) -> None:
        """The event gitreg returned is the one the reference planned, with its tag."""
        said = (event.model, event.action, event.version, event.stage, event.previous)
        assert said == (expected.model, expected.action, expected.version, expected.stage,
                        expected.previous)
        if expected.action is Action.REGISTER:
            assert event.tag == f"{expected.model}@v{expected.version}"
        else:
            assert expected.stage is not None
            n = self.ref.changes.get((expected.model, expected.stage), 0) + 1
            assert event.tag == f"{expected.model}/{expected.stage}/{n}"
        self.ref.apply(expected)

    def weights(self, model: str) -> Path:
        path = self.site.root / "weights.bin"
        path.write_bytes(f"{model} weights, step {len(self.steps)} {self.clock}".encode())
        return path

    def model_of(self, data: st.DataObject, likely: list[str] | None = None) -> str:
        """Mostly one of ``likely`` (default: the models with versions), now and then any."""
        return pick(data, sorted(set(self.ref.versions if likely is None else likely)), MODELS)

    def stage_of(self, data: st.DataObject, likely: list[str]) -> str:
        return pick(data, likely, STAGES)

    def version_of(self, data: st.DataObject, model: str, among: tuple[str, ...] = ()) -> str:
        """Mostly one of ``among`` (default: the model's versions), now and then any."""
        return pick(data, among or self.ref.versions.get(model, ()), POOL)

    # -- rules ------------------------------------------------------------------------------

    @initialize(data=st.data())
    def seed(self, data: st.DataObject) -> None:
        """A few versions of each model to start from (registering is a rule too)."""
        for model in MODELS:
            for version in data.draw(st.lists(st.sampled_from(POOL), unique=True, max_size=3),
                                     label=f"{model} versions"):
                stage = data.draw(st.sampled_from((None, "dev", "staging")), label="stage")
                self._register(model, version, stage, push=False)

    @rule(data=st.data(), model=st.sampled_from(MODELS), push=st.booleans(),
          stage=st.sampled_from((None, None, None, *STAGES)))
    def register(self, data: st.DataObject, model: str, push: bool, stage: str | None) -> None:
        version = data.draw(st.sampled_from((None, *POOL)), label="version")
        self._register(model, version, stage, push)

    def _register(self, model: str, version: str | None, stage: str | None, push: bool) -> None:
        self.tick()
        plan = self.ref.plan_register(model, version, stage)
        call = partial(self.registry.register, model, self.weights(model), version=version,
                       stage=stage, push=push)
        if not isinstance(plan, list):
            self.expect_failure(plan, call)
            return
        result = call()
        assert result.record.version == plan[0].version
        assert len(result.events) == len(plan)
        for event, expected in zip(result.events, plan, strict=True):
            self.made(event, expected)
        self.record_step()

    @rule(data=st.data(), stage=st.sampled_from(STAGES), force=st.booleans(),
          push=st.booleans())
    def promote(self, data: st.DataObject, stage: str, force: bool, push: bool) -> None:
        self.tick()
        model = self.model_of(data)
        version = self.version_of(data, model)
        plan = self.ref.plan_promote(model, version, stage, force)
        reason = "hotfix approved" if force else None
        call = partial(self.registry.promote, model, version, stage, force=force,
                       reason=reason, push=push)
        if not isinstance(plan, list):
            self.expect_failure(plan, call)
            return
        self.made(call(), plan[0])
        self.record_step()

    @rule(data=st.data(), push=st.booleans())
    def demote(self, data: st.DataObject, push: bool) -> None:
        self.tick()
        model = self.model_of(data, [m for m in MODELS for s in STAGES if self.ref.which(m, s)])
        stage = self.stage_of(data, [s for s in STAGES if self.ref.which(model, s)])
        version = None if data.draw(st.booleans(), label="whole stage") else self.version_of(
            data, model, self.ref.which(model, stage))
        plan = self.ref.plan_demote(model, stage, version)
        call = partial(self.registry.demote, model, stage, version=version, push=push)
        if not isinstance(plan, list):
            self.expect_failure(plan, call)
            return
        self.made(call(), plan[0])
        self.record_step()

    @rule(data=st.data(), push=st.booleans())
    def rollback(self, data: st.DataObject, push: bool) -> None:
        self.tick()
        # mostly a stage that has something to roll back to, now and then any
        can = [(m, s) for m in MODELS for s in STAGES
               if isinstance(self.ref.plan_rollback(m, s, None), list)]
        model = self.model_of(data, [m for m, _ in can])
        stage = self.stage_of(data, [s for m, s in can if m == model])
        to = None if data.draw(st.integers(0, 2), label="to?") else self.version_of(data, model)
        plan = self.ref.plan_rollback(model, stage, to)
        call = partial(self.registry.rollback, model, stage, to=to, push=push)
        if not isinstance(plan, list):
            self.expect_failure(plan, call)
            return
        self.made(call(), plan[0])
        self.record_step()

    @rule(data=st.data(), stage=st.sampled_from(STAGES), force=st.booleans(),
          how=st.sampled_from(("merge", "squash", "rebase")), advance=st.booleans(),
          tag_now=st.booleans())
    def propose_and_merge(
        self, data: st.DataObject, stage: str, force: bool, how: str, advance: bool,
        tag_now: bool,
    ) -> None:
        """``promote --propose``, the pull request merged on the forge, the registry pulls;
        ``ci tag`` runs on the forge now or in a later step."""
        self.tick()
        model = self.model_of(data)
        version = self.version_of(data, model)
        plan = self.ref.plan_promote(model, version, stage, force)
        reason = "approved in review" if force else None
        call = partial(sharing.propose, self.registry, model, version, stage, force=force,
                       reason=reason)
        if not isinstance(plan, list):
            self.expect_failure(plan, call)
            return
        sharing.push(self.registry)  # the branch is made from what origin has
        head = git(self.site.registry, "rev-parse", "HEAD").strip()
        proposal = call()
        assert proposal.branch == f"gitreg/promote-{model}-{version}-to-{stage}"
        assert git(self.site.registry, "rev-parse", "HEAD").strip() == head  # checkout stays
        assert (proposal.event.action, proposal.event.version, proposal.event.previous) == (
            Action.PROMOTE, plan[0].version, plan[0].previous)
        assert proposal.event.tag is None and not git(
            self.site.origin, "tag", "--points-at", proposal.event.commit)
        self.merge_on_forge(proposal.branch, how, advance)
        sharing.pull(self.registry)
        assert git(self.site.registry, "rev-parse", "HEAD") == git(
            self.site.origin, "rev-parse", "main")
        self.ref.apply(plan[0])
        self.pending.append((model, stage))
        self.record_step()
        if tag_now:
            self.ci_tag()

    def merge_on_forge(self, branch: str, how: str, advance: bool) -> None:
        forge = self.site.forge
        git(forge, "fetch", "--quiet", "--prune", "origin")
        git(forge, "reset", "--quiet", "--hard", "origin/main")
        if advance:  # someone else's change on main, so that the merge is a real one
            notes = forge / "NOTES.md"
            notes.write_text((notes.read_text() if notes.exists() else "") + "more\n")
            git(forge, "add", "NOTES.md")
            git(forge, "commit", "--quiet", "-m", "Update notes")
        ref = f"origin/{branch}"
        if how == "merge":
            git(forge, "merge", "--quiet", "--no-ff", "--no-edit", ref)
        elif how == "squash":
            message = git(forge, "log", "--reverse", "--format=%B", f"HEAD..{ref}")
            subject, _, body = message.partition("\n")
            git(forge, "merge", "--quiet", "--squash", ref)
            git(forge, "commit", "--quiet", "-m", f"{subject} (#7)", "-m", body.strip())
        else:
            for sha in git(forge, "rev-list", "--reverse", f"HEAD..{ref}").split():
                git(forge, "cherry-pick", "--quiet", sha)
        git(forge, "push", "--quiet", "origin", "main", f":refs/heads/{branch}")

    @precondition(lambda self: bool(self.pending))
    @rule()
    def ci_tag(self) -> None:
        """CI on main: ``ci tag --push`` in the forge's checkout tags exactly what waited."""
        forge = self.site.forge
        git(forge, "fetch", "--quiet", "origin", "refs/tags/*:refs/tags/*")
        git(forge, "reset", "--quiet", "--hard", "origin/main")
        expected = self._pending_tags()
        created = ci.tag(Registry(forge), push=True)
        assert sorted(created) == sorted(expected)
        self.pending.clear()
        OUTCOMES["ci_tag ok"] += 1
        git(self.site.registry, "fetch", "--quiet", "origin", "refs/tags/*:refs/tags/*")
        assert ci.tag(Registry(forge)) == []  # idempotent
        assert ci.tag(Registry(self.site.registry)) == []

    def _pending_tags(self) -> list[str]:
        """The numbers the merged changes take: their positions along main's history,
        which tags made since by direct writes did not take."""
        changes, _ = stage_changes_from_log(self.site.forge)
        tags = peeled_tags(self.site.forge)
        names = []
        for model, stage in set(self.pending):
            for n, commit in enumerate(changes[(model, stage)], start=1):
                name = f"{model}/{stage}/{n}"
                if tags.get(name) != commit:
                    assert name not in tags
                    names.append(name)
        return names

    def unknown_stages(self) -> None:
        """Every command refuses a stage registry.yaml does not list, changing nothing."""
        if not self.ref.versions:
            return
        model, versions = next(iter(self.ref.versions.items()))
        version = versions[0]
        self.tick()
        for call in (lambda: self.registry.promote(model, version, "qa"),
                     lambda: sharing.propose(self.registry, model, version, "qa"),
                     lambda: self.registry.demote(model, "qa"),
                     lambda: self.registry.rollback(model, "qa")):
            self.expect_failure(NotFound, call)
        for read in (lambda: self.registry.which(model, "qa"),
                     lambda: self.registry.history_events(model, "qa")):
            with pytest.raises(NotFound):
                read()

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def stages_hold_what_the_reference_says(self) -> None:
        for model in MODELS:
            if not self.ref.known(model):
                with pytest.raises(NotFound):
                    self.registry.which(model, "dev")
                continue
            stage_map = self.registry.stage_map(model)
            for stage in STAGES:
                held = stage_map.versions_in(stage)
                assert len(set(held)) == len(held), f"{model} {stage} holds {held}"
                if EXCLUSIVE[stage]:
                    assert len(held) <= 1, f"exclusive {model} {stage} holds {held}"
                assert self.registry.which(model, stage) == self.ref.which(model, stage)

    @invariant()
    def history_from_tags_equals_history_from_git_log(self) -> None:
        root = self.site.registry
        changes, added = stage_changes_from_log(root)
        tags = peeled_tags(root)
        untagged = set(self.pending)
        for model in MODELS:
            for stage in STAGES:
                commits = changes.get((model, stage), [])
                assert len(commits) == self.ref.changes.get((model, stage), 0)
                prefix = f"{model}/{stage}/"
                numbered = {int(t[len(prefix):]): c for t, c in tags.items()
                            if t.startswith(prefix)}
                for n, commit in numbered.items():
                    assert 1 <= n <= len(commits) and commits[n - 1] == commit, (
                        f"{prefix}{n} -> {commit[:12]}, changes: {commits}")
                if (model, stage) not in untagged:
                    assert sorted(numbered) == list(range(1, len(commits) + 1))  # gapless
        registrations = {t: c for t, c in tags.items() if "@v" in t}
        assert registrations == added
        assert set(added) == {f"{m}@v{v}" for m, vs in self.ref.versions.items() for v in vs}

        for model in self.ref.versions:
            told = self.registry.history_events(model)
            expected = self.ref.events[model]
            assert [describe(e) for e in told] == [describe(e) for e in expected]
            counts: dict[str, int] = {}
            for event in told:
                if event.action is Action.REGISTER:
                    assert event.tag == f"{model}@v{event.version}"
                    assert event.commit == added[event.tag]
                    continue
                assert event.stage is not None
                counts[event.stage] = counts.get(event.stage, 0) + 1
                n = counts[event.stage]
                assert event.commit == changes[(model, event.stage)][n - 1]
                tag = f"{model}/{event.stage}/{n}"
                assert event.tag == (tag if tag in tags else None)

    @invariant()
    def which_at_earlier_steps(self) -> None:
        """Here the first and the last few steps, for one stage in turn; every step and
        stage at the end (``teardown``)."""
        self.checks += 1
        pairs = [(m, s) for m in MODELS for s in STAGES if self.ref.known(m)]
        if pairs:
            steps = self.steps[:1] + self.steps[1:][-3:]
            self.check_steps([pairs[self.checks % len(pairs)]], steps)

    def check_steps(self, pairs: list[Key], steps: list[Step]) -> None:
        if not self.steps:
            return
        before = moment(self.steps[0].when - timedelta(minutes=30))
        for model, stage in pairs:
            assert self.registry.which(model, stage, at=before) == (), "before any step"
            for step in steps:
                want = step.state[(model, stage)]
                assert self.registry.which(model, stage, rev=step.commit) == want
                later = moment(step.when + timedelta(minutes=30))
                assert self.registry.which(model, stage, at=later) == want, (
                    f"{model} {stage} at {later}")

    def tags_tell_the_events(self) -> None:
        """``ci event`` reads each stage tag (its name and commit, not its annotation) as
        the reference's n-th change of that model's stage."""
        for model, events in self.ref.events.items():
            for stage in STAGES:
                changes = [e for e in events if e.stage == stage]
                for n, expected in enumerate(changes, start=1):
                    told = ci.event(self.registry, f"{model}/{stage}/{n}")
                    assert describe(told) == describe(expected), f"{model}/{stage}/{n}"

    def teardown(self) -> None:
        try:
            self.check_steps(list(self.ref.changes), self.steps)
            if self.pending:  # CI catches up: then every change has its tag, gapless
                self.ci_tag()
                self.history_from_tags_equals_history_from_git_log()
            self.tags_tell_the_events()
            self.unknown_stages()
            report = validate(self.site.registry)
            assert report.ok, report.problems
        finally:
            shutil.rmtree(self.site.root, ignore_errors=True)


def pick(data: st.DataObject, likely: Sequence[str], anything: Sequence[str]) -> str:
    """Mostly (4 in 5) one of ``likely``, so that most operations can succeed; else any
    of ``anything``, so that some are refused."""
    choice = st.sampled_from(anything)
    if likely:
        choice = st.one_of(*[st.sampled_from(likely)] * 4, choice)
    return data.draw(choice)


def _caller() -> str:
    """The rule that called (two frames up), to count what the runs exercised."""
    return sys._getframe(2).f_code.co_name.lstrip("_")


def describe(event: Event) -> tuple[object, ...]:
    """What history must agree on. A promotion into a stage that holds several versions
    has no single "previous": it is compared without one."""
    several = event.stage is not None and not EXCLUSIVE[event.stage]
    previous = None if several and event.action is Action.PROMOTE else event.previous
    return (event.action, event.stage, event.version, previous)


@pytest.fixture
def template(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The clock is pinned through monkeypatch, which restores it after the test (the
    # machine moves it on through os.environ).
    monkeypatch.setenv("GIT_COMMITTER_DATE", moment(BASE))
    monkeypatch.setenv("GIT_AUTHOR_DATE", moment(BASE))
    root = tmp_path_factory.mktemp("invariants-template")
    build_template(root)
    return root


@pytest.mark.slow
def test_random_histories_keep_the_invariants(template: Path, tmp_path: Path) -> None:
    RegistryMachine.template, RegistryMachine.workdir = template, tmp_path
    OUTCOMES.clear()
    run_state_machine_as_test(RegistryMachine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
        derandomize=True, suppress_health_check=list(HealthCheck), print_blob=True,
        phases=PHASES,
    ))
    print(sorted(OUTCOMES.items()))  # pytest -s shows what the runs did
    done = {key.removesuffix(" ok") for key in OUTCOMES if key.endswith(" ok")}
    assert done >= {"register", "promote", "demote", "rollback", "propose_and_merge", "ci_tag"}
    refused = {key.partition(" refused: ")[2] for key in OUTCOMES if " refused: " in key}
    assert refused >= {"NotFound", "Conflict", "PolicyViolation"}


def test_rollback_of_a_stage_of_several_to_a_version_it_holds(template: Path,
                                                                tmp_path: Path) -> None:
    # Found by the machine: dev (not exclusive) held 1.0.0 and 1.1.0, and a rollback
    # wrote "dev: [1.0.0, 1.0.0]", which history then read as a demotion of 1.1.0 (so
    # a second rollback bounced back to it).
    site = example_site(template, tmp_path / "site")
    registry = Registry(site.registry)
    for version in ("1.0.0", "1.1.0"):
        (tmp_path / "w.bin").write_bytes(version.encode())
        registry.register("churn", tmp_path / "w.bin", version=version, stage="dev")
    assert registry.which("churn", "dev") == ("1.0.0", "1.1.0")
    before = snapshot(site.registry)
    with pytest.raises(InvalidInput, match="say which with version"):
        registry.demote("churn", "dev")
    assert snapshot(site.registry) == before

    event = registry.rollback("churn", "dev")
    assert (event.version, event.previous, event.tag) == ("1.0.0", "1.1.0", "churn/dev/3")
    assert registry.which("churn", "dev") == ("1.0.0",)
    last = registry.history_events("churn", "dev")[-1]
    assert (last.action, last.version, last.previous, last.tag) == (
        Action.ROLLBACK, "1.0.0", "1.1.0", "churn/dev/3")
    said = ci.event(registry, "churn/dev/3")
    assert (said.action, said.version, said.previous) == (Action.ROLLBACK, "1.0.0", "1.1.0")
    with pytest.raises(NotFound, match="nothing to roll back to"):
        registry.rollback("churn", "dev")  # two steps back, not back and forth
