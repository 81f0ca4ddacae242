"""``gitreg check``: the registry as the work tree holds it, validated file by file.

``validate`` returns every problem it finds (file, key path, what to do) and never
prints, so that CI can gate a pull request on it. It checks:

- ``registry.yaml`` (a broken one is the only problem reported: nothing else can be read);
- every version file: its schema, that its name and place agree, that its weights sit in
  the version's own folder with a ``.dvc`` pointer whose md5, size and path match, that
  each ``lineage.depends_on`` entry names a version registered in this registry, and that
  no field its registration fixed changed since the commit that added it (issue 12;
  repo/registrations.py, one read of history for all; the commit that changed it is named);
- every ``stages.yaml``: its schema, stages known to ``registry.yaml``, one version in an
  exclusive stage, and only registered versions;
- the promotion policies, for every version a stage holds now, as ``promote`` checks them;
  ``require_signed``: the signatures of the commits (and tags, once made) that registered it
  and put it in the stage (repo/signing.py), with no exemption for rollbacks or ``--force``.

How policies are judged for what a stage already holds (promote only ever sees one change):

- A version that is in the stage in the work tree but not at ``HEAD`` is an uncommitted
  hand edit: it is checked as a promotion replacing what ``HEAD``'s ``stages.yaml`` held.
- Otherwise the last history event that put it there says how it came: it is checked as
  that promotion, against the version that event replaced. In CI on a pull request that
  commit is the change under review, so a hand-edited ``stages.yaml`` is gated like
  ``promote``, whether or not the work tree has edits.
- What the entry was is derived from history (repo/history.py ``stage_changes``): a rollback
  only to a version the stage held before, whatever a trailer claims. A version whose entry
  carries a ``Gitreg-Reason`` trailer was forced in: what it breaks is a notice, on record
  and never silent, or a problem when the policy says ``allow_force: false`` (issue 12).
- The stage's history is followed under today's policy (``_Chain``), so that no step of a
  change launders another: a promotion is judged against the last version the stage held
  that passed (what it replaced, unless that came in past the policy), and a rollback passes
  only if a hold it returns to passed.
- The policy is the one that applies to the model (``RegistryConfig.policy``: by name, glob
  or for the whole stage), named by its ``label`` in every message.
- ``from: STAGE`` passes if history shows the version was ever in STAGE, or it is there now.
- A version held legitimately before its policy was tightened is reported: the registry
  then contradicts its own policy, and the way out (promote a version that passes, or
  relax the policy) is a reviewed change like any other.

History needs the whole first-parent chain: a shallow clone (CI's default depth of one)
is refused with how to fetch the rest (issue 14).

How a full check spends its time (issue 19: 100,000 versions, 137,000 commits, a fresh
clone, 2 cores, about 14 s): git walks the history in parts, one git per processor, each
into a file (history.py), while this process reads every model's files and every tag;
``git status`` then runs while the log is parsed, and the models are judged in two
processes (``_judged``: a fork, where one exists, from 2,000 versions), the other of which
also writes the log to the cache. The cyclic garbage collector is off meanwhile.

``validate(base=REF)`` (``gitreg check --base REF``, issue 19) checks what a pull request
changes against its merge base with REF, in the same way: the models whose files it touches
(committed, staged or edited since the merge base, and files not yet added in those models
or in new model folders: version files, ``stages.yaml`` and so
every policy of every stage it moves, ``deprecated.yaml``, weights pointers), each with its
whole history, its tags and its folder, read per model rather than for the registry; and
the files of ``FILE_CHECKS`` it touches (``releases/``). A change that can affect what it
does not touch makes it a full check: ``registry.yaml`` (stages, policies, layout), the DVC
config, or a version file deleted (another model may depend on it). A model whose only
change is a move of stages without a policy (or ``deprecated.yaml``) has no history read at
all, and tags are not checked (a pull request moves none): what the merge base passed
holds. One that moves a gated stage has only its history since the merge base read (``git
log --first-parent BASE..HEAD``), with what the stage's tags prove about before it
(repo/recent.py), and only the stages it moves judged; its whole history only when a
verdict against a version hangs on a fact they cannot prove (issue 19: a gated move in
1.4 s of CPU at 100,000 versions instead of 6). Its verdict is a full check's whenever the
merge base passes a full check, which is what gating every pull request keeps true; a
change pushed around that gate needs a full ``check`` to be seen (tests/test_check_base.py
compares the two on generated histories).
"""

from __future__ import annotations

import collections
import functools
import gc
import itertools
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import suppress
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Literal

from gitreg.core import policy
from gitreg.core.config import CONFIG_FILE, Policy
from gitreg.core.events import Action, Event, TagName, parse_tag
from gitreg.core.layout import VERSIONS_DIR, Kind, Layout
from gitreg.core.names import ModelRef, Version, check_name, safe_basename
from gitreg.core.records import StageMap, VersionRecord
from gitreg.core.release import RELEASES_DIR
from gitreg.errors import CorruptRegistry, GitregError, InvalidInput, NotFound, printable
from gitreg.git.runner import Git, TagRef
from gitreg.repo import parsers, signing, summary, yamlio
from gitreg.repo.history import Been, History
from gitreg.repo.paths import check_real
from gitreg.repo.recent import Recent, held_before, held_since_registered, since
from gitreg.repo.recent import events as recent_events
from gitreg.repo.registrations import edits
from gitreg.service import release_review
from gitreg.service.registry import Registry, check_place


@dataclass(frozen=True)
class Problem:
    """One thing wrong: in which file, at which key path, and what to do about it."""

    file: str
    key: str
    message: str

    def __post_init__(self) -> None:
        # File names and values come from a clone (issue 6): one printable line each.
        for name in ("file", "key", "message"):
            object.__setattr__(self, name, printable(getattr(self, name)))


@dataclass(frozen=True)
class Report:
    problems: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = ()
    # Not problems, but on record for a reviewer: each version a stage holds by an override
    # (``--force --reason``) of the policy it breaks (issue 12).
    notices: tuple[Problem, ...] = ()
    recovered: str | None = None  # what opening the registry recovered from (registry.py)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class FileCheck:
    """A check of the files under ``prefix`` (``releases/``): ``run(registry, paths)``
    returns their problems; ``paths`` are those a pull request touches (``check --base``),
    or None for all of them (a full ``check``). Each is listed in ``FILE_CHECKS`` here, so
    that no check depends on which modules happen to be imported."""

    prefix: str
    run: Callable[[Registry, Sequence[str] | None], list[Problem]]


def _release_files(registry: Registry, paths: Sequence[str] | None) -> list[Problem]:
    return [Problem(*found) for found in release_review.problems(registry, paths)]  # issue 18


FILE_CHECKS: list[FileCheck] = [FileCheck(f"{RELEASES_DIR}/", _release_files)]


@dataclass(frozen=True)
class Scope:
    """What a check covers: ``models`` None is every model; ``files`` the paths changed
    since the merge base (None: a full check)."""

    models: frozenset[str] | None = None
    files: tuple[str, ...] | None = None
    # Models whose history need not be read: only their stages.yaml or deprecated.yaml
    # changed, and no stage they move has a policy (what held at the merge base holds).
    settled: frozenset[str] = frozenset()
    # Models whose only change is also there, but which move a gated stage: their history
    # since the merge base, and the gated stages it moves (read whole only when that is not
    # enough to judge, see _ModelCheck._policies_since).
    recent: Mapping[str, tuple[Recent, frozenset[str]]] = field(default_factory=dict)
    # The paths that differ from HEAD in the work tree (untracked ones where they were
    # looked for), when a scope's diff found them; None: ask git (a full check).
    dirty: tuple[str, ...] | None = None
    # A pull request's (``--base``): the merge base, and the models whose stages.yaml the
    # pull request changes, committed or not (``_landing``).
    merge_base: str | None = None
    landing: tuple[str, ...] = ()
    # Why a pull request's check read the whole registry, when its history gave no start.
    why_whole: str | None = None

    def has(self, name: str) -> bool:
        return self.models is None or name in self.models


def validate(start: Path | None = None, *, base: str | None = None) -> Report:
    """Check the registry that ``start`` (default: the current directory) is in; with
    ``base``, only what the work tree changes since its merge base with that revision."""
    try:
        registry = Registry.find(start)
    except CorruptRegistry as exc:
        return Report((problem_from(exc, CONFIG_FILE),))
    # Without the cyclic garbage collector: a full check at 100,000 versions makes millions
    # of objects (commits, events, tags, files) and no cycles among them, and the
    # collector's passes over them were 0.5 to 1 s of its CPU (issue 19). Memory is still
    # freed as it is let go; what the collector would find waits until it runs again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _validate(registry, base)
    finally:
        if collecting:
            gc.enable()


def _validate(registry: Registry, base: str | None) -> Report:
    # Policies look back (from, no_regression) and tags are checked against history: a
    # shallow clone would get a wrong verdict, so it is refused with how to deepen it.
    registry.history.require_full()
    scope = Scope() if base is None else changed_since(registry, base)
    if scope.models is None:
        registry.history.prefetch()  # git walks history while the files are read below
    names = _names(registry, scope)
    problems = _dvc_config(registry) + _model_folders(registry, scope)
    notices: list[Problem] = []
    histories = _Histories(registry, whole=scope.models is None)
    files: dict[str, bytes] = {}  # every readable version file, for _edits
    models = []
    for name in names:
        try:
            registry.require_model(name)
        except CorruptRegistry:
            continue  # a link on the way, reported above: nothing is read through it
        model = _ModelCheck(registry, name, histories, settled=name in scope.settled,
                            tags=scope.models is None, recent=scope.recent.get(name))
        if scope.models is None:
            model.read()  # every model's files first, while git reads history (prefetch)
        models.append(model)
    if scope.models is None:
        histories.indexed()  # and every tag (137,000 at 100,000 versions), as git ends
    watched = [CONFIG_FILE, ".dvc/config", *(registry.config.layout.model(n) for n in names)]
    # A whole registry: git status itself, once git has walked history, on the core left
    # idle while this process parses what it read (Git.status_started); a pull request's:
    # its scope's diff.
    status = None
    if scope.dirty is None:
        registry.history.walked()
        status = registry.git.status_started(watched)

    def others() -> list[Problem]:
        """What is not a model's own: fields fixed at registration, and FILE_CHECKS."""
        for model in models:
            files.update(model.files)
        found = _edits(registry, files, None if scope.models is None else
                       [n for n in names if n not in scope.settled and n not in scope.recent])
        for check in FILE_CHECKS:
            touched = None if scope.files is None else [
                f for f in scope.files if f.startswith(check.prefix)]
            if touched is None or touched:
                found += check.run(registry, touched)
        return found

    judged, rest = _judged(registry, models, histories, others)
    for found, noticed in judged:
        problems += found
        notices += noticed
    problems += rest
    problems += _landing(registry, scope, [*problems, *notices])
    warnings = list(registry.config.warnings)
    if scope.why_whole:
        warnings.append(f"checked the whole registry: {scope.why_whole}")
    dirty = status() if status is not None else [
        path for path in scope.dirty or () if any(path == w or path.startswith(f"{w}/")
                                                  for w in watched)]
    if dirty:
        # check validates the work tree as it is (a pull request's checkout, a hand edit
        # before its commit); say so when that is not what is committed (issue 13).
        more = f" and {len(dirty) - 1} more" if len(dirty) > 1 else ""
        warnings.append(
            f"uncommitted changes to {dirty[0]}{more}: this checked the work tree, not a "
            "commit; commit them, or restore them (git checkout -- FILE) to check what is "
            "committed")
    return Report(tuple(problems), tuple(warnings), recovered=registry.recovered,
                  notices=tuple(notices))


# A full check judges the models in two processes from this many versions (below, a fork
# costs more than it saves), where ``fork`` is there and no other thread runs (an API
# caller's: a fork copies the locks they hold).
PARALLEL_FROM = 2000
_Judged = tuple[list[Problem], list[Problem]]
_half: tuple[_Histories, list[_ModelCheck]] | None = None  # a forked worker's part


def _judged(registry: Registry, models: list[_ModelCheck], histories: _Histories,
            others: Callable[[], list[Problem]]) -> tuple[list[_Judged], list[Problem]]:
    """Each model's problems and notices (``_ModelCheck.run``), in order. For a whole
    registry of ``PARALLEL_FROM`` versions or more, half of the models are judged by a
    forked process, from the history read and parsed here, while this one judges the other
    half; that process also writes the parsed log to the cache. At 100,000 versions the
    judging after the walk of history was 8 s on one core, with the other idle (issue 19).
    And ``others()``, the problems of no model, run here while that process ends."""
    history = registry.history
    if not histories.whole or sum(len(model.readable) for model in models) < PARALLEL_FROM:
        return _judge(models, history), others()
    import concurrent.futures
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    global _half
    history.defer_saves = True
    try:
        # Before the fork, which must find no other thread running (the walk of history's
        # ends with it): the log, parsed once for both. What fails here fails again where
        # the events are read, which reports it as before.
        with suppress(CorruptRegistry, NotFound):
            history.read()
        if not _forkable():
            return _judge(models, history), others()
        ours, theirs = models[0::2], models[1::2]
        _half = (histories, theirs)
        with concurrent.futures.ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("fork"),
                initializer=_worker_start) as pool:
            future = pool.submit(_judge_half)
            histories.only({model.name for model in ours})
            mine = [(model.run(), model.notices) for model in ours]
            rest = others()
            try:
                other: list[_Judged] | None = future.result()
            except BrokenProcessPool:  # killed, out of memory: judged here instead
                other = None
        if other is None:
            histories.only({model.name for model in theirs})
            other = _judge(theirs, history)
        else:
            history.discard()  # written by the other process
    finally:
        _half = None
        history.defer_saves = False
    found = []
    for pair in itertools.zip_longest(mine, other):
        found += [judged for judged in pair if judged is not None]
    return found, rest


def _judge(models: Sequence[_ModelCheck], history: History) -> list[_Judged]:
    """Each model's problems and notices, judged here; then the log to the cache."""
    found = [(model.run(), model.notices) for model in models]
    history.flush()
    return found


def _worker_start() -> None:
    """Ctrl-C (the whole foreground process group gets it) ends the forked process at
    once, quietly: this one reports the interruption. With Python's own handler it printed
    a traceback from inside the pool's machinery."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _judge_half() -> list[_Judged]:
    """In the forked process: ``_judged``'s other half, then the log to the cache."""
    assert _half is not None
    histories, models = _half
    histories.only({model.name for model in models})
    return _judge(models, histories.registry.history)


def _forkable() -> bool:
    import threading

    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return cpus >= 2 and hasattr(os, "fork") and threading.active_count() == 1


def changed_since(registry: Registry, base: str) -> Scope:
    """The models and files the work tree changes since its merge base with ``base``; a
    full scope when a change can affect files it does not touch."""
    git = registry.git
    commit = git.resolve(base)
    if commit is None:
        raise InvalidInput(f"unknown git revision {base!r} for --base; fetch it first (in "
                           "CI: git fetch origin main, then --base origin/main)")
    found = git.attempt("merge-base", "--all", commit, "HEAD")
    if found.returncode != 0:
        raise NotFound(f"{base} and HEAD have no common history, so there is no pull request "
                       "to check against it; run a full `gitreg check`")
    merge_base, *more_bases = found.stdout.decode().split()
    # What the pull request adds is read from the merge base, when that is a state the
    # base's own check judged (on its first-parent chain) and the only merge base: a branch
    # made from main, or one that merged main in since ("Update branch": its own changes,
    # on main's tip, as a merge commit or a squash lands them; not main's moves again, as
    # that one merge, which a full check of the branch reads). Otherwise from where HEAD's
    # first-parent chain meets the base's: a branch grown from a commit inside a branch
    # the base merged (nothing judged that commit: a regression made and undone there
    # passed), or criss-cross merges (two merge bases, neither what the branch adds to).
    meets, base_chain = git.chains_meet("HEAD", commit)
    lands_on = merge_base if merge_base in base_chain and not more_bases else None
    start = lands_on or meets
    if start is None:
        return Scope(why_whole=f"HEAD's first-parent history never meets {base}'s")
    # The commits since that start (trees only: cheap), then the work tree against
    # HEAD (staged and unstaged edits: a stat of every file, the cost of any status), which
    # is also what the warning about uncommitted changes needs, without another read of
    # git's index (issue 19). A path in both is read as changed, even if an edit undid the
    # commit: that only checks its model.
    changes = _name_status(git, "diff-tree", "-r", start, "HEAD")
    # And each commit's own change on the way: a stage moved and moved back is no net
    # change, but a full check judges each step (a regression made and undone, found by
    # the property test of branches off main's line).
    # (Merges are left to the net change: one that brought main in would bring all of
    # main's changes since the branch began.)
    changes += _name_status(git, "log", "--first-parent", "--no-merges", "--format=",
                            f"{start}..HEAD")
    uncommitted = _name_status(git, "diff", "HEAD")
    changes += uncommitted
    layout = registry.config.layout
    prefix = f"{layout.models_dir}/"
    # And files git does not track yet, where they can matter: in the models the diff
    # touches, in new model folders, under FILE_CHECKS' prefixes. Asked for everywhere,
    # git walked every folder of the work tree (8 s at 100,000 versions).
    touched = {path[len(prefix):].split("/", 1)[0] for _, path in changes
               if path.startswith(prefix)}
    base_dir = registry.root / layout.models_dir
    known = set(git.run_bytes("ls-tree", "-z", "--name-only", "HEAD", "--", prefix)
                .decode("utf-8", "surrogateescape").split("\0")) if git.head() else set()
    new = {entry.name for entry in (base_dir.iterdir() if base_dir.is_dir() else ())
           if f"{prefix}{entry.name}" not in known}
    where = [f"{prefix}{name}" for name in sorted(touched | new)]
    where += [check.prefix for check in FILE_CHECKS]
    if where:
        others = untracked(git, registry.root, where, uncommitted)
        if others is None:
            listed = git.run_bytes("ls-files", "--others", "--exclude-standard", "-z", "--",
                                   *(f":(literal){path}" for path in where))
            others = [p for p in listed.decode("utf-8", "surrogateescape").split("\0") if p]
        new_files = [("A", path) for path in others]
        changes += new_files
        uncommitted += new_files
    models: dict[str, set[str]] = {}  # model -> its paths that changed
    landing = tuple(sorted({place.model for _, path in changes
                            if (place := layout.place(path)) is not None
                            and place.kind is Kind.STAGES}))
    for status, path in changes:
        if path == CONFIG_FILE or path.startswith(".dvc/"):
            # stages, policies, layout or remotes: everything may change
            return Scope(merge_base=lands_on, landing=landing)
        place = layout.place(path)
        if status.startswith("D") and place is not None and place.version is not None:
            return Scope()  # a version another model's depends_on may name
        if path.startswith(prefix):
            models.setdefault(path[len(prefix):].split("/", 1)[0], set()).add(path)
    settled, judged = _stage_moves(registry, start, models, along=meets == start)
    return Scope(frozenset(models), tuple(dict.fromkeys(path for _, path in changes)),
                 settled, judged, tuple(sorted({path for _, path in uncommitted})),
                 lands_on, landing)


def untracked(git: Git, root: Path, where: Sequence[str],
              uncommitted: Sequence[tuple[str, str]]) -> list[str] | None:
    """The files under ``where`` that git neither tracks nor ignores, as ``git ls-files
    --others --exclude-standard`` lists them, without its read of git's index (36 MB at
    100,000 versions, issue 19): the files on disk, less those in HEAD and staged
    (``uncommitted``: the work tree's diff against HEAD; "D" there and on disk is untracked),
    less what ``git check-ignore --no-index`` says is ignored. None where git would list
    something else (a link or another repository in a folder): then ask git."""
    on_disk: set[str] = set()
    for place in where:
        top = root / place
        if top.is_symlink():
            return None
        if top.is_file():
            on_disk.add(place.rstrip("/"))
            continue
        for folder, dirs, files in os.walk(top):
            if ".git" in dirs or ".git" in files or any(
                    os.path.islink(os.path.join(folder, d)) for d in dirs):
                return None
            rel = Path(folder).relative_to(root).as_posix()
            on_disk.update(f"{rel}/{name}" for name in files)
    if not on_disk:
        return []
    listed = git.run_bytes("ls-tree", "-r", "-z", "--name-only", "HEAD", "--",
                           *(p.rstrip("/") for p in where))
    tracked = set(listed.decode("utf-8", "surrogateescape").split("\0"))
    tracked -= {path for status, path in uncommitted if status.startswith("D")}
    tracked |= {path for status, path in uncommitted if not status.startswith("D")}
    candidates = sorted(on_disk - tracked)
    if not candidates:
        return []
    proc = git.attempt("check-ignore", "--no-index", "--stdin", "-z",
                       input=b"\0".join(c.encode("utf-8", "surrogateescape")
                                         for c in candidates) + b"\0")
    if proc.returncode not in (0, 1):
        return None
    ignored = set(proc.stdout.decode("utf-8", "surrogateescape").split("\0"))
    return [path for path in candidates if path not in ignored]


def _name_status(git: Git, *args: str) -> list[tuple[str, str]]:
    out = git.run_bytes(*args[:1], "--name-status", "--no-renames", "-z", *args[1:], "--")
    fields = out.decode("utf-8", "surrogateescape").split("\0")
    return list(zip(fields[0::2], fields[1::2], strict=False))


def _stage_moves(registry: Registry, start: str, models: dict[str, set[str]], *,
                 along: bool = True) -> tuple[
        frozenset[str], dict[str, tuple[Recent, frozenset[str]]]]:
    """Of the models among ``models`` whose only changes are to stages.yaml or
    deprecated.yaml: those whose history a check need not read (no stage with a policy
    moved), and those whose history since the merge base is enough, with the gated stages
    they move. Version files, tags and the stages no change moved are as they were at
    ``start`` (the merge base, or where HEAD's first-parent chain meets the base's: see
    ``changed_since``), and what the base's check passed there still passes (issue 19: a
    stage move's check without a walk of the model's whole history).

    A stage moved if any state of it along the pull request differs from the one before
    (each commit's on HEAD's first-parent chain since ``start``, then the work tree's), or
    the work tree's from ``start``'s.

    ``along``: whether ``start`` is on HEAD's first-parent chain. It is not when the branch
    merged main in: its steps then began from a state of its own line, not ``start``'s,
    and what held there was never judged; a model that moves a gated stage is read whole
    (as a full check reads it), not from there.
    """
    layout, config, git = registry.config.layout, registry.config, registry.git
    head = git.head()
    candidates = sorted(name for name, paths in models.items()
                        if paths <= {layout.stages_file(name), layout.deprecated_file(name)})
    if head is None or not candidates:
        return frozenset(), {}
    settled: set[str] = set()
    judged: dict[str, tuple[Recent, frozenset[str]]] = {}
    # And ``start``'s own stages (when HEAD merged the base branch in, they are not on
    # HEAD's first-parent chain): what differs from them moved too.
    at_base = git.cat_files([f"{start}:{layout.stages_file(n)}" for n in candidates])
    found_since = since(git, layout, candidates, start, head)
    for name, blob in zip(candidates, at_base, strict=True):
        found = found_since[name]
        try:
            now = registry.stage_map(name)
            based = StageMap(name) if blob is None else parsers.STAGES.parse(
                blob, layout.stages_file(name))
        except (CorruptRegistry, NotFound, InvalidInput):
            continue  # read the usual way, which reports it
        if found.before is None:
            continue  # unreadable where the pull request starts: read the whole history
        states = [*found.maps(), now]
        moved = {stage for before, after in [*pairwise(states), (based, now)]
                 for stage in {*before.stages, *after.stages}
                 if before.versions_in(stage) != after.versions_in(stage)}
        gated = frozenset(s for s in moved if config.policy(s, name) is not None)
        if not gated:
            settled.add(name)
        elif along:
            judged[name] = (found, gated)
    return frozenset(settled), judged


def _landing(registry: Registry, scope: Scope, said: Sequence[Problem]) -> list[Problem]:
    """What a pull request (``--base``) is judged by as it will land: its net change on the
    merge base, which is all a squash or a merge commit keeps on the main branch (its first
    parent's history). The steps of the branch are judged as a full check judges them, and
    two things pass there that the landed change would not (issue 19, found in review):

    - a policy this pull request changes, for a stage it also moves: the change would be
      judged by the policy it brings. A policy is changed in a pull request of its own.
    - a version that entered a stage with ``from`` while it was in the earlier stage only
      within the pull request (in staging, then production, then staging moved back): the
      main branch never holds it in staging. It must have been there at the merge base or
      before (the stage's tags prove it, else its history up to the merge base), or be there
      still.

    ``said``: what the check already reported; a version it reported for the stage (a
    problem, or a forced one on record) is not reported again."""
    merge_base = scope.merge_base
    if merge_base is None or not scope.landing:
        return []
    git, config = registry.git, registry.config
    layout = config.layout
    base_text, *at_base = git.cat_files([f"{merge_base}:{CONFIG_FILE}",
                                         *(f"{merge_base}:{layout.stages_file(name)}"
                                           for name in scope.landing)])
    try:
        base_config = parsers.CONFIG.parse(base_text, f"{CONFIG_FILE} at {merge_base[:12]}") \
            if base_text is not None else None
    except CorruptRegistry:
        base_config = None  # unreadable there: the merge base's own check failed
    found: list[Problem] = []
    policy_moves: dict[str, list[str]] = {}  # stage -> models it moves under a new policy
    for name, blob in zip(scope.landing, at_base, strict=True):
        rel = layout.stages_file(name)
        try:
            now = registry.stage_map(name)
            before = registry.history.stage_map_of(name, blob, merge_base)
        except (CorruptRegistry, NotFound, InvalidInput):
            continue  # reported by the check itself
        for stage in sorted({*before.stages, *now.stages}):
            if before.versions_in(stage) == now.versions_in(stage) or stage not in config.stages:
                continue
            rule = config.policy(stage, name)
            if base_config is not None and rule != base_config.policy(stage, name):
                policy_moves.setdefault(stage, []).append(name)
            wanted = rule.from_stage if rule is not None else None
            if wanted is None:
                continue
            for version in now.versions_in(stage):
                if version in before.versions_in(stage) or version in now.versions_in(wanted):
                    continue
                if version in before.versions_in(wanted) and (merge_base, version) in \
                        _registered_at(git, layout, name, [(merge_base, version)]):
                    continue  # there at the merge base, registered (history.Been)
                if any(p.file == rel and p.key == f"stages.{stage}" and
                       f" {version} " in f" {p.message} " for p in said):
                    continue  # reported, or forced on record
                if held_before(git, layout, name, wanted, version, merge_base, registered=True):
                    continue
                held = held_since_registered(git, layout, name, wanted, version, merge_base)
                if held is None:  # the registration is not proved: the whole history
                    held = version in registry.history.held(
                        name, merge_base, registered=True).get(wanted, ())
                if held:
                    continue
                assert rule is not None
                found.append(Problem(rel, f"stages.{stage}", (
                    f"{name} {version} was in {wanted} only within this pull request, which a "
                    f"squash or a merge commit does not keep, so the main branch would hold it "
                    f"in {stage} without its ever being in {wanted} ({rule.label} in "
                    f"{CONFIG_FILE}); put it in {wanted} in a pull request of its own, merged "
                    "first")))
    for stage, names in sorted(policy_moves.items()):
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        found.append(Problem(CONFIG_FILE, f"policies.{stage}", (
            f"changes in this pull request, which also moves {names[0]}{more} in {stage}: "
            f"the move would be judged by the policy it brings; change the policy in a pull "
            f"request of its own, and move stages once it is merged")))
    return found


def _edits(registry: Registry, files: dict[str, bytes],
           names: Sequence[str] | None = None) -> list[Problem]:
    """Version files whose registration-fixed fields changed (repo/registrations.py), of
    the models ``names`` (None: all)."""
    try:
        if names is None:
            log = registry.history.file_log()
        else:
            log = {}
            for name in names:
                log.update(registry.history.file_log(name))
    except (CorruptRegistry, NotFound):
        return []
    problems = []
    for found in edits(registry.git, log, files):
        when = (f"in commit {found.commit[:12]}" if found.commit
                else "in the work tree (not committed)")
        problems.append(Problem(found.file, found.fields[0], (
            f"{', '.join(found.fields)} changed {when} since the registration at "
            f"{found.registered[:12]}: a registration's fields are fixed (only description "
            f"and labels may change); restore them (git show {found.registered[:12]}:"
            f"{found.file}) and register a new version instead")))
    return problems


def _dvc_config(registry: Registry) -> list[Problem]:
    """DVC's config as the commands that move weights read it (weights/dvcconfig.py): what
    a clone's config sets that could run a command or write outside the repository is a
    problem here too, not only once weights move."""
    from gitreg.weights import dvcconfig

    try:
        dvcconfig.read(registry.root)
    except CorruptRegistry as exc:
        return [problem_from(exc, exc.file or f"{dvcconfig.DVC_DIR}/config")]
    return []


def problem_from(error: CorruptRegistry, file: str) -> Problem:
    """A reader's error about ``file`` as a ``Problem``, from the data it carries (file,
    key path, line); an error without them is a problem of the file as a whole."""
    if error.problem is not None and error.file == file:
        where = error.key or (f"line {error.line}" if error.line is not None else "top level")
        return Problem(file, where, error.problem)
    text = str(error)
    return Problem(file, "top level", text.removeprefix(f"{file}: ") if
                   text.startswith(f"{file}: ") else text)


def _model_folders(registry: Registry, scope: Scope) -> list[Problem]:
    """Folders under models/ that ``registry.models()`` skips: bad names, no versions/ (of
    the models in ``scope``)."""
    layout = registry.config.layout
    models_dir = layout.models_dir
    base = registry.root / models_dir
    if not base.is_dir():
        return []
    try:
        check_real(registry.root, models_dir)
    except CorruptRegistry as exc:
        return [_link_problem(exc)]
    problems = []
    for entry in _folders(registry, scope).values():
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        rel = layout.model(entry.name)
        try:
            check_real(registry.root, layout.versions(entry.name))
        except CorruptRegistry as exc:
            problems.append(_link_problem(exc))
            continue
        try:
            check_name(entry.name)
        except InvalidInput as exc:
            problems.append(Problem(rel, "folder name", f"{exc}; rename the folder"))
            continue
        if not (entry / VERSIONS_DIR).is_dir():
            problems.append(Problem(
                rel, "versions", "model folder without a versions/ folder; register a version "
                "(gitreg register) or remove the folder"))
    return problems


def _names(registry: Registry, scope: Scope) -> list[str]:
    """``registry.models()`` in ``scope``, looking only at the folders it names."""
    if scope.models is None:
        return registry.models()
    found = []
    for name, entry in _folders(registry, scope).items():
        with suppress(InvalidInput):
            check_name(name)
            if (entry / VERSIONS_DIR).is_dir():
                found.append(name)
    return found


def _folders(registry: Registry, scope: Scope) -> dict[str, Path]:
    """The entries of models/ in ``scope``, by name: with --base, only those of the models
    it names are looked at (each of 1,000 folders costs a few stats, issue 19)."""
    base = registry.root / registry.config.layout.models_dir
    if scope.models is None:
        entries = sorted(base.iterdir()) if base.is_dir() else []
    else:
        entries = [base / name for name in sorted(scope.models)
                   if "/" not in name and (base / name).is_dir()]
    return {entry.name: entry for entry in entries}


def _link_problem(error: CorruptRegistry) -> Problem:
    """A folder that is a link, maybe out of the repository (issue 6), from paths.py."""
    link, _, message = str(error).partition(": ")
    return Problem(link, "link", message)


class _Histories:
    """Every model's events and gitreg tags, each read once for the whole registry: read
    per model, ``check`` ran git log once per model, minutes at 10,000 versions."""

    def __init__(self, registry: Registry, *, whole: bool = True) -> None:
        """``whole``: read the whole registry's at once; else (``check --base``, a few
        models) each model's on its own, as git finds them in one path's history."""
        self.registry, self.whole = registry, whole
        self._events: dict[str, list[Event]] | None = None if whole else {}
        self._tags: dict[str, list[TagRef]] | None = None
        self._parsed: dict[str, TagName] = {}
        self._every: list[TagRef] | None = None
        self._models: frozenset[str] | None = None  # those whose events are wanted (only)
        self._head: str | None = None
        self._committed: dict[str, bytes | None] = {}  # stages.yaml at HEAD, by model

    def only(self, names: AbstractSet[str]) -> None:
        """Read the events of ``names`` alone (``_judged``: this process's half)."""
        self._models = frozenset(names)
        if self.whole:
            self._events = None

    def every_tag(self) -> list[TagRef]:
        """Every tag of the repository, read once for history's events and ``tags``."""
        if self._every is None:
            self._every = self.registry.git.tags()
        return self._every

    def events(self, name: str) -> list[Event]:
        if self._events is None:
            try:
                every = self.registry.history.events(tags=self.every_tag(),
                                                     models=self._models)
            except (CorruptRegistry, NotFound):
                self._events = {}  # one model's history is unreadable: read each on its own
            else:
                self._events = {model: [] for model in (
                    self.registry.models() if self._models is None else self._models)}
                for event in every:
                    self._events.setdefault(event.model, []).append(event)
        if name not in self._events:
            found = self.registry.history_events(name)
            if not self.whole:
                self._events[name] = found
            return found
        return self._events[name]

    def committed(self, name: str) -> StageMap:
        """``name``'s stages at ``HEAD`` (``which --rev HEAD``); for a whole registry, every
        model's file read in one ``cat-file --batch`` on first use: ``which`` runs two gits
        a call, 7 s of a full check at 100,000 versions where every model has a policy."""
        registry = self.registry
        if self._head is None:
            self._head = registry.git.head()
            if self._head is None:
                raise NotFound("unknown git revision 'HEAD'")
            if self.whole:
                self._read_committed(registry.models())
        if name not in self._committed:
            self._read_committed([name])
        return registry.history.stage_map_of(name, self._committed[name], self._head)

    def _read_committed(self, names: Sequence[str]) -> None:
        assert self._head is not None
        layout = self.registry.config.layout
        found = self.registry.git.cat_files([f"{self._head}:{layout.stages_file(name)}"
                                             for name in names])
        self._committed.update(zip(names, found, strict=True))

    def tags(self, name: str) -> list[TagRef]:
        if not self.whole:  # by prefix, as history.py asks: NAME@v*, NAME/...
            return [ref for ref in self.registry.git.tags(f"{name}@v*", name)
                    if (tag := parse_tag(ref.name)) is not None and tag.name == name]
        return self.indexed().get(name, [])

    def indexed(self) -> dict[str, list[TagRef]]:
        """Every gitreg tag of the repository by model, each parsed once (``parse_tag``
        remembers them for history's events too): 1.4 s at 100,000 versions, which a full
        check spends while git walks history, once for both of its processes."""
        if self._tags is None:
            self._tags = {}
            for ref in self.every_tag():
                tag = parse_tag(ref.name)
                if tag is not None:
                    self._tags.setdefault(tag.name, []).append(ref)
                    self._parsed[ref.name] = tag
            self.registry.history.tags_by_commit(self.every_tag())  # for the events
        return self._tags

    def parsed(self, name: str) -> TagName | None:
        """``parse_tag(name)``, read once for the whole registry's 137,000 tags."""
        found = self._parsed.get(name)
        return found if found is not None else parse_tag(name)


class _ModelCheck:
    """The problems of one model's files; ``run`` once."""

    def __init__(self, registry: Registry, name: str, histories: _Histories, *,
                 settled: bool = False, tags: bool = True,
                 recent: tuple[Recent, frozenset[str]] | None = None) -> None:
        """``settled``: skip the policies (``Scope.settled``); ``tags``: check the tags
        (not with --base: a pull request moves no tag, and the merge base's were checked);
        ``recent``: judge the policies of the stages it names from the history it holds
        (``Scope.recent``), where that is enough."""
        self.registry, self.name, self.histories = registry, name, histories
        self.settled, self.check_tags, self.recent = settled, tags, recent
        self.layout = layout = registry.config.layout
        self.base = layout.model(name)
        self.root = os.fspath(registry.root)
        self.under = os.path.join(self.root, "")  # + a relative path: its absolute path
        self.records: dict[str, VersionRecord] = {}  # those parsed in full (self.record)
        self.readable: dict[str, str] = {}  # version -> its version file, readable and valid
        self.files: dict[str, bytes] = {}  # their content, by path
        self.problems: list[Problem] = []
        self.notices: list[Problem] = []
        self.stage_map: StageMap | Literal[False] | None = False  # False: not read yet
        self.real: set[str] = set()  # folders found to be no link (paths.check_real)

    def add(self, file: str, key: str, message: str) -> None:
        self.problems.append(Problem(file, key, message))

    def read(self) -> None:
        """The part of ``run`` that reads no history: version files and ``stages.yaml``."""
        if self.stage_map is False:
            self._versions()
            self.stage_map = self._stages()

    def run(self) -> list[Problem]:
        self.read()
        stage_map = self.stage_map
        assert stage_map is not False
        if stage_map is not None and not self.settled and not (
                self.recent is not None and self._policies_since(stage_map, *self.recent)):
            self._policies(stage_map)
        self._deprecations(stage_map)
        if self.check_tags:
            self._tags()
        return self.problems

    # -- version files ------------------------------------------------------------------

    def _versions(self) -> None:
        """Each version file read once and parsed here, as ``Registry.record`` reads it,
        but not through the per-model cache: a check in a fresh clone has none, and
        writing one for 100,000 versions was a tenth of its time (issue 19)."""
        folder = self.registry.root / self.layout.versions(self.name)
        # Directory entries, not paths: their type comes with the listing (no stat each).
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=_version_order)
        self._artifact_folders()
        for path in entries:
            if path.name.startswith("."):
                continue
            rel = f"{self.layout.versions(self.name)}/{path.name}"
            stem = path.name.removesuffix(".yaml")
            if not path.is_file() or stem == path.name or _normal(stem) != stem:
                self.add(rel, "file name", "not a version file: version files are named "
                         "<semver>.yaml, e.g. 1.2.0.yaml; rename or remove it")
                continue
            try:  # no link (read_file), the schema, and the name and version it says
                data = yamlio.read_file(self.under + rel, rel)
                # A file in the form gitreg writes is valid as it matches (summary.py): its
                # record is built only if a policy asks about it (self.record), ~70 us a file
                # saved at 100,000 versions (issue 19). Any other form: the full parse.
                fields = summary.checked(data, self.name, stem)
                if fields is None:
                    record = parsers.VERSIONS.parse(data, rel)[0]
                    check_place(record, self.name, stem, rel)
                    self.records[stem] = record
                    artifact = record.artifact
                    fields = summary.Checked(artifact.path, artifact.md5, artifact.size,
                                             artifact.nfiles, tuple(record.lineage.depends_on))
            except CorruptRegistry as exc:
                self.problems.append(problem_from(exc, rel))
                continue
            self.readable[stem] = rel
            self.files[rel] = data
            self._weights(rel, stem, fields)
            self._depends_on(rel, fields.depends_on)

    def _artifact_folders(self) -> None:
        """The model's weights folders that are real (no link), found by one listing of
        its artifacts folder (an entry's type comes with it) into ``self.real``: a check of
        each weights pointer's five folders was a tenth of a full check's CPU at 100,000
        versions (issue 19). A link among them is then reported by ``paths.check_real``."""
        artifacts = self.layout.artifacts_dir(self.name)
        try:
            check_real(self.registry.root, artifacts, self.real)
            listing = os.scandir(os.path.join(self.root, artifacts))
        except (CorruptRegistry, OSError):
            return  # a link on the way, or no such folder: each pointer says so
        with listing:
            for entry in listing:
                if entry.is_dir(follow_symlinks=False):
                    self.real.add(f"{artifacts}/{entry.name}")

    def record(self, version: str) -> VersionRecord | None:
        """The record of the readable version file of ``version`` (None if there is none),
        parsed in full on first ask (``_versions`` checked it without a record)."""
        found = self.records.get(version)
        rel = self.readable.get(version)
        if found is None and rel is not None:
            try:  # summary.checked took it: the full parse does (tests/test_summary.py)
                found = self.records[version] = parsers.VERSIONS.parse(self.files[rel], rel)[0]
            except CorruptRegistry as exc:  # were they ever to disagree: said, not raised
                self.problems.append(problem_from(exc, rel))
                del self.readable[version]
        return found

    def _weights(self, rel: str, version: str, artifact: summary.Checked) -> None:
        folder = f"{self.layout.artifacts(self.name, version)}/"
        file_name = artifact.path.removeprefix(folder)
        if file_name == artifact.path or "/" in file_name or file_name in ("", ".", ".."):
            self.add(rel, "artifact.path", f"{artifact.path!r} is not in the version's own "
                     f"folder {folder}; restore the version file (git checkout -- {rel})")
            return
        if safe_basename(file_name) != file_name:
            self.add(rel, "artifact.path", f"the weights' name {file_name!r} is not one gitreg "
                     "gives (hidden, or other characters than A-Z a-z 0-9 . _ -), and `get` "
                     f"would write it into the user's folder; restore the version file "
                     f"(git checkout -- {rel})")
            return
        pointer = f"{artifact.path}.dvc"
        restore = f"restore it (git checkout -- {pointer})"
        path = self.under + pointer  # strings: 100,000 of them (issue 19)
        try:
            if folder.rstrip("/") not in self.real:  # else it and its parents are real
                check_real(self.registry.root, pointer, self.real)
            try:  # the pointer itself: never through a link (read_file)
                text = yamlio.read_file(path, pointer)
            except CorruptRegistry:
                if not os.path.isfile(path):
                    self.add(rel, "artifact.path",
                             f"the weights pointer {pointer} is missing; {restore}")
                    return
                raise
            if text == _pointer_text(artifact.md5, artifact.size, artifact.nfiles, file_name):
                return  # what `dvc add` writes for the registered weights: nothing to parse
            data = yamlio.loads(text, pointer)
        except CorruptRegistry as exc:
            self.problems.append(problem_from(exc, pointer))
            return
        outs = data.get("outs") if isinstance(data, dict) else None
        if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict):
            self.add(pointer, "outs", f"expected one output, as `dvc add` writes it; {restore}")
            return
        expected: dict[str, object] = {"path": file_name, "md5": artifact.md5,
                                       "size": artifact.size}
        if artifact.nfiles is not None:
            expected["nfiles"] = artifact.nfiles
        for key, want in expected.items():
            found = outs[0].get(key)
            if found != want:
                self.add(pointer, f"outs[0].{key}", f"is {found!r}, but {rel} records {want!r}: "
                         f"the pointer no longer names the registered weights; {restore}, and "
                         "register new weights as a new version")

    def _depends_on(self, rel: str, depends_on: Sequence[str]) -> None:
        for i, entry in enumerate(depends_on):
            key = f"lineage.depends_on[{i}]"
            try:
                ref: ModelRef | None = ModelRef.parse(entry)
            except InvalidInput:
                ref = None
            if ref is None or ref.version is None:
                self.add(rel, key, f"{entry!r} does not name a version; expected NAME@VERSION, "
                         "e.g. customer-features@2.1.0")
                continue
            target = self.layout.version_file(ref.name, ref.version)
            if not (self.registry.root / target).is_file():
                self.add(rel, key, f"{entry} is not registered in this registry (no {target}); "
                         f"register it (gitreg register {ref.name} PATH --version {ref.version})")

    # -- stages.yaml --------------------------------------------------------------------

    def _stages(self) -> StageMap | None:
        rel = self.layout.stages_file(self.name)
        try:
            # Read once here: the per-file cache would write a file per model (issue 19).
            stage_map = self.registry.stage_map(self.name, cached=False)
        except CorruptRegistry as exc:
            self.problems.append(problem_from(exc, rel))
            return None
        config = self.registry.config
        for stage, held in stage_map.stages.items():
            key = f"stages.{stage}"
            if stage not in config.stages:
                self.add(rel, key, f"unknown stage {stage!r}: {CONFIG_FILE} lists "
                         f"{', '.join(config.stages)}; add it there or remove it here")
                continue
            if config.is_exclusive(stage) and len(held) > 1:
                self.add(rel, key, f"{stage} is exclusive but holds {', '.join(held)}; keep one "
                         f"(gitreg promote), or set exclusive: false for it in {CONFIG_FILE}")
            if len(set(held)) < len(held):
                self.add(rel, key, "lists a version twice; list it once")
            for version in held:
                if _normal(version) != version:
                    self.add(rel, key, f"{version!r}: write the version as {_normal(version)}")
                elif version not in self.readable and not (
                    self.registry.root / self.layout.version_file(self.name, version)
                ).is_file():
                    self.add(rel, key, f"{self.name} {version} is not registered (no "
                             f"{self.layout.version_file(self.name, version)}); register it "
                             "or remove it here")
        return stage_map

    # -- tags ---------------------------------------------------------------------------

    def _tags(self) -> None:
        """Tags in gitreg's grammar that mark no event of this model: made by hand, or in a
        crafted clone (issue 6). History and ``which`` ignore them (a tag is only shown
        with the change its commit made); ``ci event`` refuses them; here they are named.
        A tag on the commit of its event is read no further, unless another marks the same
        change (a tag made of that tag is, peeled, on its commit); any other gets ``ci
        event``'s verdict, which reads the tag's commit and its first parent."""
        from gitreg.service import ci

        refs = self.histories.tags(self.name)
        if not refs:
            return
        try:
            events = self.histories.events(self.name)
        except (CorruptRegistry, NotFound):
            return  # the files are broken: reported above
        marked = {(e.version if e.action is Action.REGISTER else e.stage, e.commit)
                  for e in events}
        marks = {ref.name: (tag.version or tag.stage, ref.target) for ref in refs
                 if (tag := self.histories.parsed(ref.name)) is not None}
        twice = {mark for mark, n in collections.Counter(marks.values()).items() if n > 1}
        for ref in refs:
            mark = marks.get(ref.name)
            if mark is None or (mark in marked and mark not in twice):
                continue
            try:
                ci.event(self.registry, ref.name)
            except GitregError as exc:
                self.add(f"refs/tags/{ref.name}", "target", f"{exc}; history ignores it: if "
                         f"nobody made it on purpose, delete it (git tag -d {ref.name})")

    # -- deprecations (issue 16) ---------------------------------------------------------

    def _deprecations(self, stage_map: StageMap | None) -> None:
        """``deprecated.yaml`` reads, names registered versions only, and no stage holds a
        deprecated version (a hand edit of either file; ``promote`` refuses it)."""
        rel = self.layout.deprecated_file(self.name)
        try:
            deprecations = self.registry.deprecations(self.name)
        except CorruptRegistry as exc:
            self.problems.append(problem_from(exc, rel))
            return
        for version, reason in deprecations.versions.items():
            if version not in self.readable:
                self.add(rel, f"versions.{version}", f"{self.name} has no version {version}; "
                         "remove the entry")
            held = stage_map.stages_of(version) if stage_map is not None else ()
            for stage in held:
                self.add(self.layout.stages_file(self.name), stage,
                         f"holds {version}, which is deprecated ({reason}); promote another "
                         f"version, or restore it (gitreg restore {self.name}@{version})")

    # -- policies -----------------------------------------------------------------------

    def _policies(self, stage_map: StageMap) -> None:
        config = self.registry.config
        rules = {s: config.policy(s, self.name) for s in stage_map.stages}
        gated = [s for s, p in rules.items() if p is not None]
        if not gated:
            return
        rel = self.layout.stages_file(self.name)
        try:
            events = self.histories.events(self.name)
            at_head = self.histories.committed(self.name)
            committed = {s: at_head.versions_in(s) for s in gated}
        except (CorruptRegistry, NotFound) as exc:
            self.add(rel, "history", f"policies not checked: cannot read this model's history "
                     f"({exc})")
            return
        been = Been(self.registry.history, self.name, events)
        for stage in gated:
            rule = rules[stage]
            assert rule is not None
            exclusive = config.is_exclusive(stage)
            chain = _Chain(self._violations(stage, stage_map, functools.partial(
                _been_for, been, rule.from_stage)), rule, exclusive)
            chain.follow(e for e in events if e.stage == stage)
            for version in stage_map.versions_in(stage):
                record = self.record(version)
                if record is None:
                    continue  # reported above
                if rule.require_signed:  # no exemption: forced ones too
                    self._signatures(rel, stage, version, events, version in committed[stage],
                                    rule.label)
                entry = _entry(stage, version, committed[stage], events, exclusive=exclusive)
                self._judge_entry(rel, stage, version, entry, chain, committed[stage], rule)

    def _violations(self, stage: str, stage_map: StageMap,
                    been: Callable[[str], frozenset[str] | None],
                    ) -> Callable[[str, str | None], list[str] | None]:
        """What keeps a version out of ``stage`` under today's policy, replacing ``base``
        (for ``_Chain``); None where its version file does not read (nothing can show it
        passed)."""
        config = self.registry.config

        def violations(version: str, base: str | None) -> list[str] | None:
            record = self.record(version)
            if record is None:
                return None
            previous = self.record(base) if base else None
            return policy.violations(config, stage, record, previous, stage_map,
                                     been(version) or frozenset())
        return violations

    def _judge_entry(self, rel: str, stage: str, version: str, entry: Event, chain: _Chain,
                     committed: tuple[str, ...], rule: Policy) -> None:
        """Judge how ``version`` came into ``stage`` (``entry``), with the stage's history
        followed by ``chain``: a rollback passes if it returns to a hold that passed; a
        promotion is judged against the version the stage last held that passed (what it
        replaced, unless that came in past the policy: then no step of a change can make the
        next one look better than it is)."""
        verdict = chain.verdicts.get((entry.commit, version)) if entry.commit else None
        if entry.action is Action.ROLLBACK:
            if verdict is None or verdict.passed:
                return
            self.add(rel, f"stages.{stage}", f"{self.name} {version} came back into {stage} "
                     f"by a rollback at {entry.commit[:12]}, but no time {stage} held it before "
                     f"passed {rule.label} in {CONFIG_FILE}; a rollback returns only to a "
                     f"version that came in within the policy: promote a version that passes"
                     f"{self._override(rule, version, stage)}")
            return
        if version not in committed:  # an uncommitted edit, replacing what HEAD holds
            base = chain.holder if chain.exclusive else None
        else:
            base = verdict.base if verdict is not None else None
        found = chain.violations(version, base) or []  # (its file reads: the caller asked)
        if found and base is not None and entry.previous not in (None, base):
            found = [f"{text} (the last version {stage} held that passed {rule.label}: "
                     f"{entry.previous}, which it replaced, came in past it)" for text in found]
        self._judge(rel, stage, version, entry, found, rule)

    def _policies_since(self, stage_map: StageMap, found: Recent,
                        moved: frozenset[str]) -> bool:
        """The policies of the gated stages ``moved`` since the merge base, judged as
        ``_policies`` judges them, from the history since then (``found``) and what the
        stages' tags prove about before (repo/recent.py); False, with nothing reported,
        where that is not enough: a version that came into the stage before the merge base
        (a stage of several), ``require_signed`` (the registration's commit), a rollback to a
        version the stage did not hold at the merge base or since (whether the hold it
        returns to passed is in the history before), or a verdict that a fact not proved
        could turn (a rollback's claim, an earlier stage for ``from``): then ``_policies``
        reads the whole history.

        What each moved stage held at the merge base passed there (a full check judges the
        history before it as ``_Chain`` does here), so the history since is followed from
        it. The stages no commit or edit moved are not judged again: their versions came in
        as at the merge base, where they passed, and ``from`` only finds more history since.
        """
        config, git = self.registry.config, self.registry.git
        rel = self.layout.stages_file(self.name)
        problems, notices = len(self.problems), len(self.notices)
        events, held = recent_events(git, found, self.layout)
        try:
            at_head = self.histories.committed(self.name)
        except (CorruptRegistry, NotFound):
            return False
        committed = {s: at_head.versions_in(s) for s in moved}
        if found.before is None:
            return False  # what the stages held at the merge base does not read
        # Each state since the merge base (its own included), by the commit it is at; a
        # version counts in it once registered there (history.Been).
        states = [(found.start, found.before),
                  *((commit.sha, after) for commit, after in found.states if after is not None)]
        present = _registered_at(git, self.layout, self.name, (
            *((at, version) for at, state in states for version in state.by_version()),
            *((e.commit, e.version) for e in events if e.version and e.stage)))
        # version -> stages: since the merge base, and now
        known = {version: set(stages) for version, stages in _stages_been(
            events, lambda e: (e.commit, e.version) in present).items()}
        for at, state in states:
            for stage, versions in state.stages.items():
                for version in versions:
                    if (at, version) in present:
                        known.setdefault(version, set()).add(stage)
        unsure = False
        # (stage, version) -> whether it was held before the range (None: not proved)
        proofs: dict[tuple[str, str], bool | None] = {}

        def held_earlier(wanted: str, version: str) -> bool | None:
            """From the tags, else from the version's registration on (repo/recent.py)."""
            if (wanted, version) not in proofs:
                proofs[wanted, version] = held_before(
                    git, self.layout, self.name, wanted, version, found.start,
                    registered=True) or held_since_registered(
                    git, self.layout, self.name, wanted, version, found.start)
            return proofs[wanted, version]

        def been(version: str) -> frozenset[str]:
            """The stages ``version`` has been in, as far as ``rule.from_stage`` asks: an
            earlier one the tags or the history since its registration prove, else the
            whole history decides (``unsure``)."""
            nonlocal unsure
            stages = known.setdefault(version, set())
            wanted = rule.from_stage if rule is not None else None
            if unsure:
                return frozenset(stages)  # the whole history decides: no more proofs
            if wanted is not None and wanted not in stages | set(stage_map.stages_of(version)):
                held = held_earlier(wanted, version)
                if held:
                    stages.add(wanted)
                elif held is None:
                    unsure = True
            return frozenset(stages)

        for stage in sorted(moved):
            rule = config.policy(stage, self.name)
            if rule is None or stage not in stage_map.stages:
                continue
            if rule.require_signed or any(s == stage for s, _ in held.unsure):
                return self._undo(problems, notices)
            exclusive = config.is_exclusive(stage)
            start = found.before.versions_in(stage)
            chain = _Chain(self._violations(stage, stage_map, been), rule, exclusive,
                           holder=start[-1] if exclusive and start else None, held=start)
            unsure = False
            chain.follow(e for e in events if e.stage == stage)
            if unsure or chain.unknown:
                return self._undo(problems, notices)
            for version in stage_map.versions_in(stage):
                record = self.record(version)
                if record is None:
                    continue  # reported above
                entered = [e for e in events if e.stage == stage and e.version == version
                           and e.action in (Action.PROMOTE, Action.ROLLBACK)]
                if version in committed[stage] and not entered:
                    return self._undo(problems, notices)
                entry = _entry(stage, version, committed[stage], entered, exclusive=exclusive)
                self._judge_entry(rel, stage, version, entry, chain, committed[stage], rule)
                if unsure:
                    return self._undo(problems, notices)
        return True

    def _undo(self, problems: int, notices: int) -> bool:
        """Forget what ``_policies_since`` reported: ``_policies`` judges it all again."""
        del self.problems[problems:], self.notices[notices:]
        return False

    def _judge(self, rel: str, stage: str, version: str, entry: Event, found: list[str],
               rule: Policy) -> None:
        where = f"({rule.label} in {CONFIG_FILE})"
        if found and entry.reason is not None:
            self._forced(rel, stage, entry, found, where, allowed=rule.allow_force)
            return
        for text in found:
            self.add(rel, f"stages.{stage}", f"{text} {where}; promote a version that "
                     f"passes{self._override(rule, version, stage)}")

    def _override(self, rule: Policy, version: str, stage: str) -> str:
        """The end of a problem's advice: how to override on record, where the policy
        allows it (with ``allow_force: false``, ``promote --force`` is refused)."""
        if not rule.allow_force:
            return f" ({rule.label}.allow_force is false: nothing overrides it)"
        return (f", or override on record with `gitreg promote {self.name} {version} {stage} "
                "--force --reason TEXT` rather than editing stages.yaml by hand")

    def _forced(self, rel: str, stage: str, entry: Event, found: list[str], where: str, *,
                allowed: bool) -> None:
        """A version forced into ``stage`` past its policy: a notice, on record; a problem
        where the policy allows no override."""
        said = f"{entry.version} was forced into {stage} at {entry.commit[:12]} " \
               f"(reason: {entry.reason}) although {'; '.join(found)} {where}"
        if allowed:
            self.notices.append(Problem(rel, f"stages.{stage}", said))
        else:
            self.add(rel, f"stages.{stage}", f"{said}, and its allow_force is false: promote "
                     "a version that passes")

    def _signatures(self, rel: str, stage: str, version: str, events: list[Event],
                    in_head: bool, label: str) -> None:
        for text in signing.signed_problems(self.registry.git, events, self.name, version,
                                           stage, in_head=in_head):
            self.add(rel, f"stages.{stage}", f"{self.name} {version}: {text}; "
                     f"{label}.require_signed in {CONFIG_FILE} asks for good "
                     f"signatures: promote it with --sign (gitreg verify {self.name}#{stage} "
                     "shows each)")


@dataclass(frozen=True)
class _Verdict:
    passed: bool  # came in within the policy (or forced where it allows that)
    base: str | None  # what a promotion is judged against: the last hold that passed


class _Chain:
    """A stage's history followed under today's policy, each change judged against what the
    stage last held that passed: so that no step of a change can launder another. A version
    put in past the policy and then replaced does not become the yardstick of the next one
    (``no_regression``), and a rollback to it does not pass as a return to a version that
    once passed (a security review: both got a failing version into production through
    several commits, each of which ``check`` judged by itself).

    ``holder`` and ``held``: where the history given starts (``check --base``: what the
    stage held at the merge base, which passed there); ``unknown``: a rollback to a version
    outside them, whose earlier hold only the history before can judge."""

    def __init__(self, violations: Callable[[str, str | None], list[str] | None],
                 rule: Policy, exclusive: bool, *, holder: str | None = None,
                 held: Sequence[str] = ()) -> None:
        self.violations, self.rule, self.exclusive = violations, rule, exclusive
        self.holder = holder  # the version the stage last held that passed (exclusive)
        self.passed = set(held)  # every version the stage held within the policy
        self.verdicts: dict[tuple[str, str], _Verdict] = {}
        self.unknown = False

    def follow(self, events: Iterable[Event]) -> None:
        for event in events:
            version = event.version
            if event.action is Action.DEMOTE:
                # Emptied, the stage compares the next one with nothing, as `promote` does
                # (and a demotion needs no policy: judging it against an older hold would
                # stop nothing).
                self.holder = None
                continue
            if version is None or event.action not in (Action.PROMOTE, Action.ROLLBACK):
                continue
            base = self.holder if self.exclusive else None
            if event.action is Action.ROLLBACK:
                # Without no_regression, any promotion of the version was judged as it
                # would be now (its numbers and stages, nothing it replaced): if it passes
                # today, the hold the rollback returns to passed, wherever that is.
                passed = version in self.passed or (
                    not self.rule.no_regression and self.violations(version, None) == [])
                self.unknown |= not passed  # (a hold before ``held`` may have passed)
            else:
                found = self.violations(version, base)
                passed = found is not None and (
                    not found or (event.reason is not None and self.rule.allow_force))
            self.verdicts[(event.commit, version)] = _Verdict(passed, base)
            if passed:
                self.passed.add(version)
                if self.exclusive:
                    self.holder = version


def _been_for(been: Been, wanted: str | None, version: str) -> frozenset[str]:
    return been(version, wanted)


def _stages_been(events: Sequence[Event], registered: Callable[[Event], bool],
                 ) -> dict[str, frozenset[str]]:
    """The stages each version entered in ``events`` (a pull request's) at a commit where
    it was registered (``registered``), as ``from`` counts a hold (repo/history.py
    ``Been``, which the whole history's judgement uses)."""
    been: dict[str, set[str]] = {}
    for event in events:
        if event.version is not None and event.stage and registered(event):
            been.setdefault(event.version, set()).add(event.stage)
    return {version: frozenset(stages) for version, stages in been.items()}


def _registered_at(git: Git, layout: Layout, name: str,
                   pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (commit, version) of ``pairs`` whose commit has the version's file, in one
    ``cat-file --batch``: a few states of a pull request, at most."""
    wanted = sorted(set(pairs))
    found = git.cat_files([f"{commit}:{layout.version_file(name, version)}"
                           for commit, version in wanted])
    return {pair for pair, text in zip(wanted, found, strict=True) if text is not None}


def _entry(
    stage: str, version: str, committed: tuple[str, ...], events: list[Event], *, exclusive: bool
) -> Event:
    """How ``version`` came into ``stage``: a promotion (replacing ``previous``), possibly
    forced (``reason``), or a rollback, as history derives it (never from trailers alone)."""
    if version not in committed:  # an uncommitted edit replacing what HEAD holds
        return Event("", Action.PROMOTE, version, stage,
                     committed[-1] if exclusive and committed else None)
    entered = [e for e in events if e.stage == stage and e.version == version
               and e.action in (Action.PROMOTE, Action.ROLLBACK)]
    if not entered:
        return Event("", Action.PROMOTE, version, stage)
    last = entered[-1]
    return last if exclusive else replace(last, previous=None)


# What `dvc add` writes in a pointer (DVC 3: md5, size, nfiles for a folder, hash, path).
# A pointer with exactly these bytes holds what the version file records, with no need to
# parse it, as long as YAML reads each value back as the string or number written: an md5
# (of hex digits with a letter, maybe ``.dir``) and a file name that no YAML type claims.
_MD5 = re.compile(r"(?=[0-9a-f.dir]*[a-f])[0-9a-f]{32}(?:\.dir)?")
_FILE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null"})


def _pointer_text(md5: str, size: int, nfiles: int | None, file_name: str) -> bytes | None:
    """The bytes of the pointer `dvc add` writes for these weights; None where YAML might
    read them back as something else (then the pointer is parsed)."""
    if (_MD5.fullmatch(md5) is None or _FILE_NAME.fullmatch(file_name) is None
            or file_name.lower() in _YAML_WORDS):
        return None
    count = "" if nfiles is None else f"  nfiles: {nfiles}\n"
    return (f"outs:\n- md5: {md5}\n  size: {size}\n{count}  hash: md5\n"
            f"  path: {file_name}\n").encode()


@functools.lru_cache(maxsize=1 << 16)
def _normal(text: str) -> str | None:
    """``text`` as a normal SemVer string, or None if it is no version at all (remembered:
    a full check asks it twice of each version file, and versions repeat across models)."""
    try:
        return str(Version.parse(text))
    except InvalidInput:
        return None


def _version_order(path: os.DirEntry[str]) -> tuple[int, tuple[object, ...], str]:
    # Plain tuples: a sort by Version objects compared each pair in Python (issue 19).
    version = _normal(path.name.removesuffix(".yaml"))
    if version is None:
        return (1, (), path.name)
    return (0, Version.parse(version).precedence(), path.name)
