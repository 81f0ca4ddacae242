"""A model's stage history since a merge base, read without walking the whole history.

``check --base`` (issue 19) gates the stages a pull request moves. ``History.events``
would read the model's whole first-parent history for that (4 s of CPU at 100,000
versions in a fresh clone); the pull request's own changes are a few commits, found by a
``git log --first-parent BASE..HEAD`` that stops at the merge base. What they need from
before it is one kind of fact: that a stage held a version at some earlier commit (a
rollback returns only to such a version, ``from: STAGE`` asks whether it was ever there).

``held_before`` proves such a fact from the stage's tags, without trusting them: a tag only
says where to look. The ``stages.yaml`` at the tagged commit must hold the version in the
stage, and that commit must be on the first-parent chain of the commit asked about, found
by a walk that stops there (``rev-list --first-parent TAGGED..REV``, bounded). A fact it
cannot prove is not denied: the caller reads the whole history instead, so the answer is
always the one ``History`` gives.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from gitreg.core.events import Event, parse_tag, version_tag
from gitreg.core.layout import Layout
from gitreg.core.records import StageMap
from gitreg.errors import CorruptRegistry, GitregError
from gitreg.git.runner import Git
from gitreg.repo import parsers
from gitreg.repo.history import (
    Commit,
    History,
    brought_in,
    claims,
    log_args,
    parse_log,
    stage_changes,
)

# How far back a tag's commit may be on the first-parent chain for a proof (a walk of
# commits only: ~10 ms per 1,000); further back, the caller reads the whole history.
REACH = 40_000
TRIES = 3  # tags tried, newest first, before giving up
# How far back a registration may be for ``held_since_registered``: the stages.yaml changes
# since it are read next (a path walk, ~33 us a commit at 100,000 versions), so a version
# registered further back costs about what the whole history costs, which the caller reads.
REGISTERED_REACH = 10_000


@dataclass
class Recent:
    """One model's stages from ``start`` (the first-parent commit the range leaves from,
    whose ``stages.yaml`` is ``before``) through each change of the range (``states``: the
    commit and what the file held after it; None where it did not read, which history
    skips as well)."""

    name: str
    start: str
    before: StageMap | None  # None: unreadable at the start
    states: list[tuple[Commit, StageMap | None]] = field(default_factory=list)

    def maps(self) -> list[StageMap]:
        """Every readable state, the start's first."""
        found = [self.before] if self.before is not None else []
        return found + [m for _, m in self.states if m is not None]


def since(git: Git, layout: Layout, names: Sequence[str], merge_base: str,
          head: str) -> dict[str, Recent]:
    """The stage histories of models ``names`` along ``head``'s first-parent chain after
    ``merge_base``: one ``git log`` that stops at the merge base, one ``cat-file --batch``."""
    if not names:
        return {}
    paths = {layout.stages_file(name): name for name in names}
    out = git.run(*log_args(f"{merge_base}..{head}", *sorted(paths)))
    changes: dict[str, list[tuple[Commit, str]]] = {name: [] for name in names}
    for commit in parse_log(out, paths.__contains__):
        for (_, path), blob in zip(commit.files, commit.blobs, strict=True):
            changes[paths[path]].append((commit, blob))
    starts = {name: (found[0][0].parents[0] if found and found[0][0].parents else head)
              for name, found in changes.items()}
    specs = [f"{starts[name]}:{layout.stages_file(name)}" for name in names]
    blobs = sorted({blob for found in changes.values() for _, blob in found if blob})
    data = git.cat_files(specs + blobs)
    texts = dict(zip(blobs, data[len(specs):], strict=True))
    result = {}
    for name, text in zip(names, data[:len(specs)], strict=True):
        recent = Recent(name, starts[name], _parse(name, text))
        for commit, blob in changes[name]:
            # As History.events: a deleted file, or a blob this clone lacks, held nothing.
            state = _parse(name, texts[blob]) if blob else StageMap(name)
            recent.states.append((commit, state))
        result[name] = recent
    return result


def _parse(name: str, text: bytes | None) -> StageMap | None:
    """A ``stages.yaml`` as history reads it: absent, an empty map; None if it does not
    read (history skips such a state)."""
    if text is None:
        return StageMap(name)
    with contextlib.suppress(CorruptRegistry):
        return parsers.STAGES.parse(text, f"models/{name}/stages.yaml")
    return None


class Held(Mapping[str, AbstractSet[str]]):
    """What each stage of a model held before a commit, as ``stage_changes`` asks it (only
    for a version a trailer says the stage is rolled back to): ``known`` (states read), then
    what ``held_before`` proves from the tags, then, if given, the whole history
    (``everything``, e.g. ``History.held``), read once and only if needed. Without it,
    ``unsure`` collects the (stage, version) not proved: an event derived from them may be
    a rollback that the whole history would show."""

    def __init__(self, known: dict[str, set[str]], prove: Prover,
                 everything: Callable[[], Mapping[str, AbstractSet[str]]] | None = None,
                 ) -> None:
        self.known, self.prove, self.everything = known, prove, everything
        self.unsure: set[tuple[str, str]] = set()
        self._all: Mapping[str, AbstractSet[str]] | None = None

    def whole(self) -> Mapping[str, AbstractSet[str]]:
        if self.everything is None:
            return self.known
        if self._all is None:
            self._all = self.everything()
        return self._all

    def __getitem__(self, stage: str) -> AbstractSet[str]:
        return _Stage(self, stage)

    def __iter__(self) -> Iterator[str]:
        return iter({*self.known, *self.whole()})

    def __len__(self) -> int:
        return len({*self.known, *self.whole()})


class _Stage(AbstractSet[str]):
    def __init__(self, held: Held, stage: str) -> None:
        self.held, self.stage = held, stage

    def __contains__(self, version: object) -> bool:
        held = self.held
        if not isinstance(version, str):
            return False
        if version in held.known.get(self.stage, ()) or held.prove(self.stage, version):
            return True
        if held.everything is not None:
            return version in held.whole().get(self.stage, ())
        held.unsure.add((self.stage, version))
        return False

    def __iter__(self) -> Iterator[str]:
        return iter({*self.held.known.get(self.stage, ()),
                     *self.held.whole().get(self.stage, ())})

    def __len__(self) -> int:
        return len(set(self))


class Prover:
    """``held_before`` for one model and commit, each answer asked once."""

    def __init__(self, git: Git, layout: Layout, name: str, rev: str) -> None:
        self.git, self.layout, self.name, self.rev = git, layout, name, rev
        self.answers: dict[tuple[str, str], bool] = {}

    def __call__(self, stage: str, version: str) -> bool:
        key = (stage, version)
        if key not in self.answers:
            self.answers[key] = held_before(self.git, self.layout, self.name, stage, version,
                                            self.rev)
        return self.answers[key]


def events(git: Git, recent: Recent, layout: Layout) -> tuple[list[Event], Held]:
    """The range's stage events, derived as ``History.events`` derives them; the ``Held``
    says which rollbacks it could not prove (see there)."""
    known: dict[str, set[str]] = {}
    for stage, versions in (recent.before.stages.items() if recent.before else ()):
        known.setdefault(stage, set()).update(versions)
    held = Held(known, Prover(git, layout, recent.name, recent.start))
    merged = brought_in(git, [commit for commit, _ in recent.states])
    last = recent.before or StageMap(recent.name)
    found: list[Event] = []
    for commit, after in recent.states:
        if after is None:
            continue  # unreadable: the next readable state is compared with the last
        found += stage_changes(last, after, commit, claims(commit, merged), held=held)
        for stage, versions in after.stages.items():
            known.setdefault(stage, set()).update(versions)
        last = after
    return found, held


# What held_before proved: (repository, file, stage, version, rev, registered). A proof
# stays true (the commits it read cannot change), so `check --base`, which asks twice (its
# judgement of the stage's history, then of the pull request as it lands), reads the tags once.
_PROVED: set[tuple[str, str, str, str, str, bool]] = set()


def held_before(git: Git, layout: Layout, name: str, stage: str, version: str,
                rev: str, *, registered: bool = False) -> bool:
    """Whether ``stage`` of model ``name`` held ``version`` at some commit of ``rev``'s
    first-parent chain (``rev`` included), proved from the stage's tags (see the module's
    docstring); False: not proved, which is not "never". ``registered``: only at a commit
    that has the version's file, as ``from`` counts a hold (``held_since_registered``)."""
    key = (str(git.root), layout.stages_file(name), stage, version, rev, registered)
    if key in _PROVED:
        return True
    if _held_before(git, layout, name, stage, version, rev, registered):
        _PROVED.add(key)
        return True
    return False


def _held_before(git: Git, layout: Layout, name: str, stage: str, version: str,
                 rev: str, registered: bool) -> bool:
    tagged = []
    for ref in git.tags(f"{name}/{stage}/*"):
        parsed = parse_tag(ref.name)
        if parsed is not None and parsed.name == name and parsed.stage == stage and parsed.n:
            tagged.append((parsed.n, ref.target))
    targets = list(dict.fromkeys(target for _, target in sorted(tagged, reverse=True)))
    path = layout.stages_file(name)
    holding = [target for target, text in zip(
        targets, git.cat_files([f"{t}:{path}" for t in targets]), strict=True)
        # one that names another model holds nothing (History.held)
        if (found := _parse(name, text)) is not None and found.name == name
        and version in found.versions_in(stage)][:TRIES]
    if registered:
        present = git.cat_files([f"{t}:{layout.version_file(name, version)}" for t in holding])
        holding = [t for t, text in zip(holding, present, strict=True) if text is not None]
    return any(git.on_chain(target, rev, REACH) for target in holding)


def held_since_registered(git: Git, layout: Layout, name: str, stage: str, version: str,
                          rev: str) -> bool | None:
    """Whether ``stage`` of model ``name`` held ``version`` at a commit of ``rev``'s
    first-parent chain from the version's registration on: the hold ``from: STAGE`` asks
    for (a stages file naming a version before it is registered names no version:
    ``history.Been``). None where the registration is not proved: the caller reads the
    whole history.

    The registration tag ``NAME@vVERSION`` says where to look, and is not trusted: its
    commit must add the version's file (there, and not in its first parent) and be on
    ``rev``'s first-parent chain within ``REGISTERED_REACH``. Then only the ``stages.yaml``
    changes since are read: a handful for a version registered lately, the one a pull
    request most often takes past a stage (issue 19: 0.46 s where the whole history was
    3.6 s)."""
    try:
        commit = git.tagged(version_tag(name, version))
    except GitregError:
        return None  # no such tag, or not on a commit
    rel = layout.version_file(name, version)
    here, parent = git.cat_files([f"{commit}:{rel}", f"{commit}^1:{rel}"])
    if here is None or parent is not None or not git.on_chain(commit, rev, REGISTERED_REACH):
        return None
    held = History(git, layout).held(name, rev, since=commit)
    return version in held.get(stage, ())
