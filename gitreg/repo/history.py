"""Stage and registration history, read from git in bulk.

One ``git log`` lists the commits that touched the model files on the first-parent chain
(the main branch's own view, where a merged pull request is one change), and one
``cat-file --batch`` reads every ``stages.yaml`` they wrote. Events are ordered by that
chain, never by clock time.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from fnmatch import translate
from typing import Any, NamedTuple

from gitreg.core.events import (
    Action,
    Event,
    parse_tag,
    speaks_for,
    stage_tag,
    trailer_blocks,
    version_tag,
)
from gitreg.core.layout import Kind, Layout, Place
from gitreg.core.lifecycle import (
    DEPRECATED,
    RESTORED,
    WHOLE_MODEL,
    Deprecations,
    deprecations_from_dict,
    parse_lifecycle_tag,
)
from gitreg.core.records import StageMap, named, stages_from_dict
from gitreg.errors import CorruptRegistry, NotFound, ToolFailed
from gitreg.git.runner import LOG_FIELD, LOG_RECORD, Git, Spooled, TagRef
from gitreg.repo import parsers, yamlio
from gitreg.repo.cache import Store, key_of
from gitreg.repo.cache import schema as cache_schema

_RECORD, _FIELD = LOG_RECORD, LOG_FIELD
_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class Commit(NamedTuple):
    """A first-parent commit as history reads it. A tuple, not a frozen dataclass: 137,000
    of them are built for a full check at 100,000 versions, and each frozen field set was a
    third of reading the log (issue 19)."""

    sha: str
    date: str
    author: str
    trailers: dict[str, str]  # the message's last trailer block, as git reads it
    files: tuple[tuple[str, str], ...] = ()  # (status letter, path)
    parents: tuple[str, ...] = ()
    blobs: tuple[str, ...] = ()  # each file's blob id after the commit ("" if deleted)
    # The blocks of earlier paragraphs, newest first: a squash merge's message holds one
    # per commit it squashed (core/events.trailer_blocks).
    earlier: tuple[dict[str, str], ...] = ()

    @property
    def said(self) -> tuple[dict[str, str], ...]:
        """Every trailer block of the message, newest first."""
        return (self.trailers, *self.earlier)


def commit_of(sha: str, date: str, author: str, trailer_text: str, body: str, *,
              files: tuple[tuple[str, str], ...] = (), parents: tuple[str, ...] = (),
              blobs: tuple[str, ...] = ()) -> Commit:
    """A ``Commit`` from git's ``%(trailers:only,unfold)`` and ``%b`` of its message."""
    newest, *earlier = trailer_blocks(body, trailer_text)
    return Commit(sha, date, author, newest, files, parents, blobs, tuple(earlier))


def claims(commit: Commit, merged: Mapping[str, Sequence[Commit]]) -> list[dict[str, str]]:
    """The trailers that speak for a first-parent ``commit``, as ``stage_changes`` weighs
    them: its own blocks, newest first (several for a squash merge), then, for a merge
    (whose own message has none), those of the commits it brought in (``brought_in``)."""
    return [*commit.said, *(said for c in merged.get(commit.sha, ()) for said in c.said)]


class History:
    def __init__(self, git: Git, layout: Layout, store: Store | None = None) -> None:
        self.git, self.layout = git, layout
        self.store = store or Store(None)
        self._shallow: bool | None = None
        # The logs read in this process, by cache key: (head, commits). ``check`` asks for
        # the same one twice (events, then file_log): unpickling 137,000 commits again
        # from the cache file took seconds (issue 19).
        self._logs: dict[str, tuple[str, list[Commit]]] = {}
        self._ahead: _Ahead | None = None  # a log being read in the background (prefetch)
        # With ``defer_saves``, the logs read are kept for ``flush`` rather than written to
        # the cache at once: ``check`` has another process write them (1 s at 100,000
        # versions) while it judges the registry.
        self.defer_saves = False
        self._by_commit: tuple[Sequence[TagRef], dict[str, list[str]]] | None = None
        self._unsaved: list[tuple[str, tuple[str, list[Commit]]]] = []
        # The paths of the whole registry's log that place no registry file (a model name or
        # version gitreg refuses), as the last ``events()`` of all found them (``ci tag``).
        self.unplaced: list[str] | None = None

    def next_tag(self, name: str, stage: str) -> str:
        """The tag of a commit about to change ``stage`` of model ``name`` on top of HEAD:
        the stage's next change along the first-parent chain, as ``ci tag`` numbers it, and
        past every tag there is (``next_stage_tag``). Named before the commit, which is
        made with its tags (Git.commit)."""
        position = len({e.commit for e in self.events(name, stage)}) + 1
        return next_stage_tag(self.git, name, stage, position)

    def events(self, name: str | None = None, stage: str | None = None, *,
               tags: Sequence[TagRef] | None = None,
               models: AbstractSet[str] | None = None) -> list[Event]:
        """Registrations and stage changes, oldest first; tags attached where they exist.
        ``tags``: every tag of the repository, when the caller has read them (``check``
        reads them too: 137,000 at 100,000 versions); else they are read here. ``models``:
        only the events of these (of all, ``name`` None), each as the whole history tells
        it (``check`` judges half of the models in each of two processes, issue 19)."""
        head = self.git.head()
        if head is None:
            return []
        self.require_full()
        layout = self.layout
        prefix = layout.model(name or "*")
        commits = self._log(layout.model(name) if name else layout.models_dir,
                            list(layout.patterns(name)), head)
        if models is not None:
            start = len(layout.models_dir) + 1
            commits = [c for c in commits if any(
                path[start:].partition("/")[0] in models for _, path in c.files)]
        # Each path's place, read once: a stages.yaml is changed by many commits, and each
        # change is looked at three times below (137,000 commits at 100,000 versions).
        places = {path: layout.place(path) for c in commits for _, path in c.files}
        if name is None and models is None:
            self.unplaced = sorted(path for path, place in places.items() if place is None)
        if models is not None:  # another model's file, in a commit that touched both
            places = {path: place if place is not None and place.model in models else None
                      for path, place in places.items()}
        maps = self._stage_maps(
            {blob for c in commits for (_, path), blob in zip(c.files, c.blobs, strict=True)
             if blob and _is_stages(places[path])}, prefix, save=models is None)
        merged = brought_in(self.git, commits)
        retired = self._deprecations(
            {blob for c in commits for (_, path), blob in zip(c.files, c.blobs, strict=True)
             if blob and _is_kind(places[path], Kind.DEPRECATIONS)})
        last_retired: dict[str, Deprecations] = {}

        events: list[Event] = []
        last: dict[str, StageMap] = {}  # model -> its stage map after the previous change
        ever: dict[str, dict[str, set[str]]] = {}  # model -> stage -> versions it has held
        for commit in commits:
            # One commit (a squash merge) may register a version and promote it: git lists
            # stages.yaml before versions/, but the registration happened first (issue 14).
            changed = sorted(
                ((status, blob, places[path]) for (status, path), blob
                 in zip(commit.files, commit.blobs, strict=True)),
                key=lambda change: _is_stages(change[2]))
            for status, blob, place in changed:
                if place is None:
                    continue
                model = place.model
                if place.kind is Kind.STAGES:
                    if blob and blob not in maps:
                        # A hand edit that broke the file and a later commit that fixed it:
                        # the broken state held nothing readable; the fix is compared with
                        # the last state that was (gitreg check reports today's file).
                        continue
                    after = maps.get(blob) or StageMap(model)  # deleted or absent: empty
                    if after.name != model:
                        continue  # names another model: unreadable, as `which` reads it
                    before = last.get(model, StageMap(model))
                    last[model] = after
                    said = claims(commit, merged)
                    held = ever.setdefault(model, {})
                    events += stage_changes(before, after, commit, said, held=held)
                    for held_stage, versions in after.stages.items():
                        held.setdefault(held_stage, set()).update(versions)
                elif status == "A" and place.version is not None:
                    events.append(_event(commit, model, Action.REGISTER, place.version))
                elif status == "M" and place.version is not None:
                    # The one edit of a version file allowed: description and labels
                    # (`gitreg annotate`, issue 16); a hand edit shows the same way.
                    events.append(_event(commit, model, Action.ANNOTATE, place.version))
                elif place.kind is Kind.DEPRECATIONS:
                    if blob and blob not in retired:
                        continue  # unreadable (gitreg check reports today's file)
                    after_r = retired.get(blob) or Deprecations(model)
                    before_r = last_retired.get(model, Deprecations(model))
                    last_retired[model] = after_r
                    said = claims(commit, merged)
                    events += _lifecycle(commit, model, before_r, after_r, said)
        if stage is not None:
            events = [e for e in events if e.stage == stage]
        return self._with_tags(events, name, tags)

    def require_full(self) -> None:
        """Refuse to read history in a shallow clone: its oldest commit looks like the one
        that added every file, so events would be misattributed and dates miss (issue 14)."""
        if self._shallow is None:
            self._shallow = self.git.run(
                "rev-parse", "--is-shallow-repository").strip() == "true"
        if self._shallow:
            raise NotFound(
                "this command reads the registry's history, and this clone is shallow "
                "(part of it is missing); fetch it all with `git fetch --unshallow --tags` (in "
                "CI: actions/checkout with fetch-depth: 0, GIT_DEPTH: 0 on GitLab)")

    def _stage_maps(self, blobs: set[str], group: str,
                    save: bool = True) -> dict[str, StageMap | None]:
        """``stages.yaml`` blobs as stage maps, by blob id: from the cache, the rest read in
        one ``cat-file --batch``. None: the object is not in this clone (as an absent file);
        left out: a blob that is no valid ``stages.yaml``. ``save``: keep what was read in
        the cache (not for a part of the models: it holds what its group's history names)."""
        key = key_of("stage maps", cache_schema(StageMap), group)
        stored = self.store.load("blobs", key)
        known: dict[str, Any] = stored if isinstance(stored, dict) else {}
        maps: dict[str, StageMap | None] = {}
        for blob in blobs & known.keys():
            with contextlib.suppress(TypeError, ValueError, KeyError, IndexError,
                                     AttributeError):  # an entry of another shape: read again
                maps[blob] = parsers.STAGES.unpack(known[blob])
        missing = sorted(blobs - maps.keys())
        for blob, data in zip(missing, self.git.cat_files(missing), strict=True):
            if data is None:
                maps[blob] = None
                continue
            with contextlib.suppress(CorruptRegistry):
                maps[blob] = parsers.STAGES.parse(data, f"{group}/stages.yaml blob {blob}")
        parsed = {b: parsers.STAGES.pack(m) for b, m in maps.items() if m is not None}
        if save and parsed.keys() != known.keys():
            self.store.save("blobs", key, parsed)
        return maps

    def read(self) -> None:
        """Read (and parse) the whole registry's log now, as ``events`` and ``file_log``
        would on first use: the walk ``prefetch`` started ends here, with its thread."""
        head = self.git.head()
        if head is not None:
            layout = self.layout
            self._log(layout.models_dir, list(layout.patterns()), head)

    def file_log(self, name: str | None = None) -> dict[str, list[tuple[str, str, str]]]:
        """The model files (of model ``name``, or of all) as first-parent history changed
        them: path -> (commit, status letter, blob id after it, "" if deleted), oldest
        first. The same cached ``git log`` as ``events``."""
        head = self.git.head()
        if head is None:
            return {}
        layout = self.layout
        found: dict[str, list[tuple[str, str, str]]] = {}
        for commit in self._log(layout.model(name) if name else layout.models_dir,
                                list(layout.patterns(name)), head):
            for (status, path), blob in zip(commit.files, commit.blobs, strict=True):
                found.setdefault(path, []).append((commit.sha, status, blob))
        return found

    def held(self, name: str, rev: str, *, registered: bool = False,
             since: str | None = None) -> dict[str, set[str]]:
        """Every version each stage of model ``name`` has held along the first-parent chain
        up to ``rev`` (included): one ``git log`` and one ``cat-file --batch``.
        ``registered``: only once the version's file was added, as ``from`` counts a hold
        (``Been``). ``since``: from that commit of the chain on (its own state included)."""
        path = self.layout.stages_file(name)
        paths = [path, self.layout.versions(name)] if registered else [path]
        out = self.git.run("log", "--first-parent", "--reverse", "--no-renames", "--raw",
                           "--no-abbrev", "--format=%x00",
                           rev if since is None else f"{since}..{rev}", "--", *paths)
        states: list[tuple[str, frozenset[str] | None]] = []  # blob, versions registered
        known: set[str] = set()
        if since is not None:  # what it held at ``since``, which the range leaves out
            start = self.git.run("rev-parse", "--verify", "-q", "--end-of-options",
                                 f"{since}:{path}", check=False).strip()
            if start:
                states.append((start, None))
        for chunk in out.split("\0")[1:]:
            blob = None
            for line in chunk.splitlines():
                fields = line.partition("\t")[0].split()
                if len(fields) != 5 or fields[1] in ("000000", "160000"):
                    continue
                file = line.partition("\t")[2]
                if file == path:
                    blob = fields[3]
                elif fields[4] == "A" and (place := self.layout.place(file)) is not None \
                        and place.kind is Kind.VERSION and place.version is not None:
                    known.add(place.version)  # before the same commit's stages (events)
            if blob is not None:
                states.append((blob, frozenset(known) if registered else None))
        maps = self._stage_maps({blob for blob, _ in states}, self.layout.model(name))
        held: dict[str, set[str]] = {}
        for blob, versions_then in states:
            stage_map = maps.get(blob)
            if stage_map is None or stage_map.name != name:
                continue  # absent, or names another model: it held nothing here (events)
            for stage, versions in stage_map.stages.items():
                held.setdefault(stage, set()).update(
                    versions if versions_then is None else versions_then.intersection(versions))
        return held

    def _deprecations(self, blobs: set[str]) -> dict[str, Deprecations]:
        """``deprecated.yaml`` blobs by id, read in one ``cat-file --batch`` (few: one per
        deprecation or restore); left out: absent or unreadable."""
        found: dict[str, Deprecations] = {}
        wanted = sorted(blobs)
        for blob, data in zip(wanted, self.git.cat_files(wanted), strict=True):
            if data is None:
                continue
            with contextlib.suppress(CorruptRegistry):
                source = f"deprecated.yaml blob {blob}"
                found[blob] = deprecations_from_dict(yamlio.loads(data, source), source)
        return found

    def stage_map_at(self, name: str, rev: str) -> StageMap:
        return self.stage_maps_at([(name, rev)])[0]

    def stage_maps_at(self, wanted: Sequence[tuple[str, str]]) -> list[StageMap]:
        """``stage_map_at`` of many (model, revision) pairs, in one ``cat-file --batch``."""
        blobs = self.git.cat_files([f"{rev}:{self.layout.stages_file(name)}"
                                    for name, rev in wanted])
        return [self.stage_map_of(name, blob, rev)
                for (name, rev), blob in zip(wanted, blobs, strict=True)]

    def commit_before(self, when: str) -> str | None:
        """The last first-parent commit made at or before ``when`` (ISO 8601)."""
        if self.git.head() is None:
            return None
        self.require_full()
        # In git's raw form (seconds since 1970, then an offset): its parser of other forms
        # reads a year past 2099 as some other date (--before=2100-01-01 found a commit of
        # 2024, not the newest), and a bare "@N" of fewer than nine digits likewise.
        seconds = math.floor(datetime.fromisoformat(when).timestamp())
        if seconds < 0:
            return None  # before 1970: git keeps no commit times before it
        out = self.git.run("rev-list", "-1", "--first-parent", f"--before=@{seconds} +0000",
                           "HEAD")
        return out.strip() or None

    def _log(self, folder: str, patterns: Sequence[str], head: str) -> list[Commit]:
        """The first-parent commits up to ``head`` that changed files matching ``patterns``
        (git pathspecs: ``*`` crosses ``/``) in ``folder``, with those files, oldest first.

        git is asked for ``folder``, one literal path, and the files are matched here: git
        then uses the changed-path Bloom filters of a commit-graph when there is one (it
        does not for wildcards, or for several paths), and even without one a literal path
        walks ~6x faster than the wildcards (issue 5: 100,000 versions).

        Cached by the commit read up to (cache.py): when ``head`` descends from it along the
        first-parent chain, only the commits since are read, so the cost follows what changed
        rather than the length of history. Anything else (a rewritten or switched branch)
        reads it all again.
        """
        key = _log_key(folder, patterns)
        memo = self._logs.get(key)
        if memo is not None and memo[0] == head:
            return list(memo[1])
        cached = self.store.load_plain("log", key)
        commits: list[Commit] | None = None
        known = _unpacked(cached[1]) if isinstance(cached, tuple) and len(cached) == 2 and \
            _is_commit_id(cached[0]) else None
        if known is not None:
            tip = cached[0]
            if tip == head:
                self._logs[key] = (head, list(known))
                return list(known)
            if self._extends(tip, head):
                commits = [*known, *self._read_log(folder, patterns, f"{tip}..{head}")]
        if commits is None:
            commits = self._read_log(folder, patterns, head)
        if self.defer_saves:
            self._unsaved.append((key, (head, commits)))
        else:
            self.store.save_plain("log", key, (head, _packed(commits)))
        self._logs[key] = (head, list(commits))
        return commits

    def flush(self) -> None:
        """Write the logs that ``defer_saves`` kept back to the cache."""
        while self._unsaved:
            key, (head, commits) = self._unsaved.pop()
            self.store.save_plain("log", key, (head, _packed(commits)))

    def discard(self) -> None:
        """Forget the logs that ``defer_saves`` kept back (another process wrote them)."""
        self._unsaved.clear()

    def prefetch(self) -> None:
        """Start reading the whole registry's log (what ``events()`` and ``file_log()``
        read) in the background, when the cache does not hold it: ``git log`` then walks
        history on one core while the caller reads the work tree on another. At 100,000
        versions that walk is ~40 s of git's CPU in a fresh clone, the most of a full
        ``check`` (issue 19)."""
        head = self.git.head()
        if head is None or self._ahead is not None:
            return
        folder, patterns = self.layout.models_dir, list(self.layout.patterns())
        key = _log_key(folder, patterns)
        if key in self._logs or (self.store.folder is not None and self.store.exists("log", key)):
            return  # read from the cache, or only what is new since it: not worth a thread
        self._ahead = _Ahead(self._log_args(head, folder), lambda: self._walk(head, folder))

    def walked(self) -> None:
        """Wait for the walk ``prefetch`` started, if one runs (its output is kept)."""
        if self._ahead is not None:
            self._ahead.wait()

    def _extends(self, tip: str, head: str) -> bool:
        """Whether ``tip`` is on ``head``'s first-parent chain (walking only what is new)."""
        proc = self.git.attempt("rev-list", "--first-parent", "--parents", f"{tip}..{head}",
                                "--")
        lines = proc.stdout.split(b"\n") if proc.returncode == 0 else []
        last = [line for line in lines if line.strip()][-1:]
        return bool(last) and last[0].split()[1:2] == [tip.encode()]

    def _log_args(self, revs: str, folder: str, share: int = 1,
                  part: tuple[str, ...] = ()) -> tuple[str, ...]:
        """``log_args`` for ``folder``; for the whole registry, no path at all (every path
        matched here) and a delta cache sized for a walk of all history (whole_walk), of
        which this run walks one of ``share`` parts (``part``: its --skip and --max-count,
        from ``_parts``)."""
        if folder != self.layout.models_dir:
            return log_args(revs, folder)
        return whole_walk(log_args(revs, limits=part), share)

    def _walk(self, revs: str, folder: str) -> str:
        """The output of ``git log`` (``_log_args``) for ``revs``. A walk of all the
        registry's history up to a commit is split into as many parts as this machine has
        processors (up to 4), each walked by its own git at the same time: git diffs one
        commit at a time, on one core, and that diff of each commit's trees is what a full
        `check` in a fresh clone waits for longest (~12 s of CPU at 100,000 versions,
        issue 19). The parts are runs of the first-parent chain (``_parts``), so their
        outputs, oldest first, are exactly the one walk's."""
        if ".." not in revs and folder != self.layout.models_dir:
            return self._walk_path(revs, folder)
        parts: list[tuple[str, ...]] = [()]
        if folder == self.layout.models_dir and ".." not in revs:
            parts = _parts(self.git, revs, _processors())
        if len(parts) == 1:
            return self.git.run(*self._log_args(revs, folder))
        # Each part's git writes to a file of its own: through pipes, each stalled whenever
        # the thread draining it waited for the interpreter lock (git.Spooled).
        walks: list[Spooled] = []
        try:
            for part in parts:
                walks.append(self.git.spool(*self._log_args(revs, folder, len(parts), part)))
            return "".join([walk.output() for walk in walks])
        finally:
            for walk in walks:
                walk.close()

    def _walk_path(self, head: str, folder: str) -> str:
        """The output of ``git log`` (``log_args``) of ``folder``'s history up to the commit
        ``head``, in two parts walked at once where there are two processors: git diffs
        each commit's trees to find those that touch the folder (~2.9 s of one core at
        137,000 commits without a commit-graph, what ``check --base`` waits for when a
        stage's tags cannot prove a fact, issue 19). A path's walk cannot be cut by count
        (``--skip`` counts the commits shown), so it is cut at a commit, ``head~N``
        (``_cut``): the older part is ``head~N``'s history, the newer what follows it.

        The chain's length is a guess (``Git.tags_on_disk``); where ``head~N`` is past its
        root, ``--ignore-missing`` turns the newer part into the whole walk, and the older
        part's failure only says so."""
        cut = _cut(self.git.tags_on_disk()) if _processors() > 1 else 0
        if not cut:
            return self.git.run(*log_args(head, folder))
        boundary = f"{head}~{cut}"
        older = self.git.spool(*log_args(boundary, folder))
        try:
            newer = self.git.spool(*log_args(head, folder,
                                             limits=("--ignore-missing", f"^{boundary}")))
        except BaseException:
            older.close()
            raise
        try:
            after = newer.output()
            try:
                return older.output() + after
            except ToolFailed:
                if self.git.succeeds("rev-parse", "--verify", "-q", f"{boundary}^{{commit}}"):
                    raise  # a failure of its own, not a cut past the root
                return after
        finally:
            older.close()
            newer.close()

    def _read_log(self, folder: str, patterns: Sequence[str], revs: str) -> list[Commit]:
        args = self._log_args(revs, folder)
        ahead = self._ahead
        if ahead is not None and ahead.args == args:
            self._ahead = None
            out = ahead.output()
        else:
            out = self._walk(revs, folder)
        # The patterns as one expression: fnmatchcase per path and pattern was a tenth of
        # reading 137,000 commits (issue 19). translate() is what fnmatchcase matches with.
        wanted = re.compile("|".join(translate(p) for p in patterns))
        return parse_log(out, lambda path: wanted.match(path) is not None)

    def stage_map_of(self, model: str, blob: bytes | None, rev: str) -> StageMap:
        """``model``'s ``stages.yaml`` at ``rev`` from its content (None: no such file)."""
        if blob is None:
            return StageMap(model)
        source = f"{self.layout.stages_file(model)} at {rev[:12]}"
        return named(stages_from_dict(yamlio.loads(blob, source), source), model, source)

    def tags_by_commit(self, tags: Sequence[TagRef]) -> dict[str, list[str]]:
        """The gitreg tags among ``tags`` by the commit each is on; remembered for the last
        ``tags`` asked about (the same list object), which ``check`` reads once for its two
        processes (137,000 tags at 100,000 versions, issue 19)."""
        if self._by_commit is not None and self._by_commit[0] is tags:
            return self._by_commit[1]
        at: dict[str, list[str]] = {}
        for ref in tags:
            if parse_tag(ref.name) is not None or parse_lifecycle_tag(ref.name) is not None:
                at.setdefault(ref.target, []).append(ref.name)
        self._by_commit = (tags, at)
        return at

    def _with_tags(self, events: list[Event], name: str | None,
                   tags: Sequence[TagRef] | None) -> list[Event]:
        # A literal pattern matches refs below it ("churn" -> churn/dev/1), a glob's "*"
        # does not cross "/": so the stage tags are asked for by prefix.
        patterns = [f"{name}@v*", name] if name else []
        at = self.tags_by_commit(self.git.tags(*patterns) if tags is None else tags)
        for event in events:
            on = at.get(event.commit)
            if not on:
                continue
            if event.action is Action.REGISTER and event.version:
                wanted = version_tag(event.model, event.version)
                tag = wanted if wanted in on else None
            elif event.action is Action.ANNOTATE:
                continue
            else:
                prefix = lifecycle_prefix(event) if event.action in (
                    Action.DEPRECATE, Action.RESTORE) else f"{event.model}/{event.stage}/"
                # Only a tag on the event's own commit names it: one in gitreg's grammar on
                # any other commit (by hand, or a crafted clone) is ignored here, refused by
                # `ci event` and reported by `gitreg check` (issue 6). Looked up by commit:
                # the events of every model against every tag would be quadratic.
                # Of several (a second tag made on an old change's commit), the lowest
                # number: the one its change was given, as `ci event` reads it.
                tag = min((t for t in on if t.startswith(prefix)), default=None,
                          key=lambda t: (len(t), t))
            if tag:
                # Set on the event just made by ``events``, which nothing else holds yet:
                # ``replace`` built 137,000 copies, a tenth of the events' cost (issue 19).
                object.__setattr__(event, "tag", tag)
        return events


def _log_key(folder: str, patterns: Sequence[str]) -> str:
    return key_of("log", cache_schema(Commit), "marshal", folder, *patterns)


def _packed(commits: Sequence[Commit]) -> list[tuple[Any, ...]]:
    """``commits`` as plain tuples of their fields, for ``Store.save_plain``."""
    return [tuple(commit) for commit in commits]


def _unpacked(value: object) -> list[Commit] | None:
    """``_packed``'s commits again; None if ``value`` is not of that shape."""
    if not isinstance(value, list):
        return None
    try:
        return [Commit(*fields) for fields in value]
    except TypeError:  # another shape: as good as no entry
        return None


def log_args(revs: str, *paths: str, limits: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The ``git log`` of the first-parent commits in ``revs`` that change ``paths``, oldest
    first, with each file's blob ids, as ``parse_log`` reads it; ``limits``: a part of the
    walk (``_parts``)."""
    fmt = (f"{_RECORD}%H{_FIELD}%cI{_FIELD}%an <%ae>{_FIELD}%(trailers:only,unfold){_FIELD}"
           f"%b{_FIELD}%P{_FIELD}")
    return ("log", "--first-parent", "--reverse", "--no-renames", "--raw", "--no-abbrev",
            f"--format={fmt}", *limits, revs, "--", *paths)


def whole_walk(args: tuple[str, ...], share: int = 1) -> tuple[str, ...]:
    """git ``args`` (a ``log_args``) run with a delta cache large enough for a walk of the
    whole history. Without a path, git diffs each commit's trees once; with one, it diffs
    them once to decide whether the commit touched the path and again for ``--raw``. And each
    commit rewrites the registry's large trees (``models/``: one entry per model, stored as
    deltas of each other). Where each is a delta of the one before (packs as pushes and
    ``fast-import`` build them, until the origin repacks), git's default 96 MB cache
    rebuilds them from their deltas over and over. At 100,000 versions in a fresh clone
    of such a pack (the benchmarks'): 45 s of git's CPU with the path and the default cache,
    25 s without the path, 15 s with a 2 GiB cache; of the same history repacked (``git
    repack -adf``, as a forge serves it): 34 s with the path, 13 s without, with either
    cache (issue 19). The cache is an eighth of the machine's memory, from 96 MiB (git's
    default) to 2 GiB, shared by the ``share`` gits that walk parts of it at once."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not on this system: git's default
        return args
    size = min(max(memory // 8 // max(share, 1), 96 << 20), 2 << 30)
    return ("-c", f"core.deltaBaseCacheLimit={size}", *args)


# A part of a split walk is at least this many commits: below, a second git costs more than
# it saves (a process, and the walk of the commits before its part).
_PART = 5000


def _processors() -> int:
    """The processors this process may run on, up to 4 (a walk's parts, ``_parts``)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    return max(1, min(count, 4))


def _parts(git: Git, head: str, wanted: int) -> list[tuple[str, ...]]:
    """``head``'s first-parent history as up to ``wanted`` runs of about as many commits
    each, oldest first, as the ``--skip`` and ``--max-count`` of a ``git log --first-parent
    --reverse``: git limits the walk's commits, newest first, before it reverses them, so
    that each commit of the chain is in exactly one run, and ``git log`` of each, in turn,
    lists what the one walk would. Counting the chain costs git a walk without diffs (0.7 s
    at 137,000 commits); cutting it at listed commits also cost reading the list.

    Any count gives the one walk's commits: it only shares them out. So the chain's length
    is guessed from the number of tags, one for each registration and stage change
    (``Git.tags_on_disk``: a read of ``packed-refs``), and counted only where there are too
    few for that to say (the count was 0.7 s at 137,000 commits before any git could start).
    """
    if wanted < 2:
        return [()]
    length = git.tags_on_disk()
    if length < 2 * _PART:
        found = git.attempt("rev-list", "--first-parent", "--count", head, "--")
        length = int(found.stdout) if found.returncode == 0 and \
            found.stdout.strip().isdigit() else 0
    count = min(wanted, length // _PART)
    if count < 2:
        return [()]
    size = -(-length // count)  # rounded up: the oldest run ends the chain
    runs = []
    for i in range(count - 1, -1, -1):  # the oldest first: it skips the most
        skip = (f"--skip={i * size}",) if i else ()
        runs.append((*skip, f"--max-count={size}") if i < count - 1 else skip)
    return runs


def _cut(length: int) -> int:
    """Where ``_walk_path`` cuts a first-parent chain of about ``length`` commits: ``N``
    commits back from its head, 0 for no cut (under two parts of ``_PART``). The older
    part first reads the ``N`` newer commits to find ``head~N``, and git reads a commit in
    about a third of the time it takes to read and diff it; so the newer part diffs more
    commits, and the two take about as long when it has 3/5 of them (1.6 s and 1.7 s, for
    2.9 s in one walk, at 137,000 commits)."""
    if length < 2 * _PART:
        return 0
    return length * 3 // 5


# A line of ``--raw``: ":<old mode> <new mode> <old blob> <new blob> <status>\t<path>". git
# quotes a path with control characters (or, by default, any byte past ASCII) in C style, so
# a path is the rest of its line.
_RAW_LINE = re.compile(r"^:\S+ (\S+) \S+ (\S+) (\S)\S*\t(.*)$", re.MULTILINE)
_NO_FILE = ("000000", "160000")  # deleted, or a submodule


def parse_log(out: str, wanted: Callable[[str], bool]) -> list[Commit]:
    """The commits of a ``log_args`` output that change a ``wanted`` path, each with those
    files (status, path) and their blob ids after it (\"\" if deleted). Each commit's lines
    are read by one regular expression (splitting each in Python was two thirds of reading
    137,000 commits, issue 19)."""
    commits = []
    for record in out.split(_RECORD)[1:]:
        sha, date, author, trailer_text, body, parents, changes = record.split(_FIELD)
        files, blobs = [], []
        for mode, blob, status, path in _RAW_LINE.findall(changes):
            if wanted(path):
                files.append((status, path))
                blobs.append("" if mode in _NO_FILE else blob)
        if files:
            commits.append(commit_of(sha, date, author, trailer_text, body, files=tuple(files),
                                     parents=tuple(parents.split()), blobs=tuple(blobs)))
    return commits


class _Ahead:
    """``read()``, the ``git log`` that ``args`` names, run in a thread that drains git's
    output so that git never waits on a full pipe; ``output()`` waits for it and raises
    what the run raised."""

    def __init__(self, args: tuple[str, ...], read: Callable[[], str]) -> None:
        self.args = args
        self._out: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(read,), daemon=True)
        self._thread.start()

    def _run(self, read: Callable[[], str]) -> None:
        try:
            self._out = read()
        except BaseException as exc:  # handed to the reader, raised there
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def output(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._out is not None
        return self._out


def _lifecycle(commit: Commit, model: str, before: Deprecations, after: Deprecations,
               said: Sequence[Mapping[str, str]]) -> list[Event]:
    """The deprecations and restores one commit made, from ``deprecated.yaml`` before and
    after it; several versions deprecated at once by ``deprecate NAME`` (its trailers name
    no version) are one event of the whole model."""
    added = [v for v in after.versions if before.reason(v) is None]
    removed = [v for v in before.versions if after.reason(v) is None]
    whole = any(t.get("action") == Action.DEPRECATE.value and t.get("model") == model
                and not t.get("version") for t in said)
    def event(action: Action, version: str | None, reason: str | None = None) -> Event:
        return Event(model, action, version, commit=commit.sha, author=commit.author,
                     date=commit.date, reason=reason)

    if added and whole:
        events = [event(Action.DEPRECATE, None, after.reason(added[0]))]
    else:
        events = [event(Action.DEPRECATE, v, after.reason(v)) for v in added]
    return events + [event(Action.RESTORE, v) for v in removed]


def lifecycle_prefix(event: Event) -> str:
    what = DEPRECATED if event.action is Action.DEPRECATE else RESTORED
    return f"{event.model}/{what}/{event.version or WHOLE_MODEL}/"


def _is_commit_id(text: object) -> bool:
    return isinstance(text, str) and _COMMIT_ID.fullmatch(text) is not None


def _event(
    commit: Commit, model: str, action: Action, version: str | None,
    said: Mapping[str, str] | None = None, *, stage: str | None = None,
    previous: str | None = None,
) -> Event:
    return Event(
        model=model, action=action, version=version, stage=stage, previous=previous,
        commit=commit.sha, author=commit.author, date=commit.date,
        reason=(said or commit.trailers).get("reason"),
    )


class Been:
    """The stages each version of model ``name`` has been in since it was registered, what
    ``from: STAGE`` asks (issue 19): a hold before the version's file was added names no
    registered version. ``events``: the model's whole history, oldest first. A version was
    in a stage if it entered it at or after its (first) registration, or if the stage held
    it right after the registering commit (a hand edit that named it first): ``check
    --base`` reads the stage files from the registration on (repo/recent.py), and counts
    the same holds. The second is read only where the first does not answer, one
    ``stages.yaml`` at a time: a registry whose versions go through the stages never asks.
    Where the registering commit's ``stages.yaml`` does not read, no event shows such a
    hold: every readable state since is read then (``History.held``, found in review)."""

    def __init__(self, history: History, name: str, events: Sequence[Event]) -> None:
        self.history, self.name = history, name
        self.registered: dict[str, str] = {}  # version -> the commit that first added it
        entered: dict[str, set[str]] = {}
        for event in events:
            if event.version is None or event.model != name:
                continue
            if event.action is Action.REGISTER:
                self.registered.setdefault(event.version, event.commit)
            elif event.stage and event.version in self.registered:
                entered.setdefault(event.version, set()).add(event.stage)
        self.entered = {version: frozenset(stages) for version, stages in entered.items()}
        self._at_registration: dict[str, StageMap | None] = {}
        self._held: Mapping[str, AbstractSet[str]] | None = None

    def __call__(self, version: str, wanted: str | None = None) -> frozenset[str]:
        """The stages ``version`` has been in, as far as ``wanted`` (a ``from`` stage) asks."""
        stages = self.entered.get(version, frozenset())
        if wanted is None or wanted in stages or version not in self.registered:
            return stages
        at = self._registered_with(version)
        if at is not None:
            return stages | {wanted} if version in at.versions_in(wanted) else stages
        head = self.history.git.head()
        if head is None:
            return stages
        if self._held is None:
            self._held = self.history.held(self.name, head, registered=True)
        return stages | {wanted} if version in self._held.get(wanted, ()) else stages

    def _registered_with(self, version: str) -> StageMap | None:
        """The ``stages.yaml`` right after the commit that registered ``version`` (None:
        it does not read, or names another model)."""
        if version not in self._at_registration:
            commit = self.registered[version]
            (text,) = self.history.git.cat_files(
                [f"{commit}:{self.history.layout.stages_file(self.name)}"])
            found = None
            with contextlib.suppress(CorruptRegistry):
                found = self.history.stage_map_of(self.name, text, commit)
            self._at_registration[version] = found
        return self._at_registration[version]


def stage_changes(
    before: StageMap, after: StageMap, commit: Commit, said: Sequence[Mapping[str, str]] = (),
    *, held: Mapping[str, AbstractSet[str]],
) -> list[Event]:
    """The stage events one commit made, derived from the files and the stage's history.

    ``held``: every version each stage held before this commit (along the first-parent
    chain). A version a stage gains is a rollback only if the stage held it before and the
    change says it is one; otherwise it is a promotion, and policies gate it (issue 12:
    derive, never trust). A stage that only loses versions is demoted.

    ``said`` is the trailers to consult, first match wins (``claims``): the commit's own
    blocks, newest first (a squash merge's message holds one per commit it squashed), then
    (for a merge, whose own message has none) those of the commits it brought in, newest
    first. They name the action and carry a ``--force`` reason, for people and for squash and
    rebase merges; no gate opens on them alone.
    """
    said = said or commit.said
    events = []
    for stage in sorted(set(before.stages) | set(after.stages)):
        old, new = before.versions_in(stage), after.versions_in(stage)
        if old == new:
            continue
        added = [v for v in new if v not in old]
        removed = [v for v in old if v not in new]
        previous = old[-1] if len(old) == 1 or removed else None
        told = next((t for t in said if t.get("stage") == stage
                     and speaks_for(t, after.name)
                     and t.get("action") in {a.value for a in Action if a.moves_stage}),
                     None)
        says_rollback = told is not None and told["action"] == Action.ROLLBACK
        if removed and not added:
            back = told.get("version") if told and says_rollback else None
            if back in new:  # a stage of several rolled back to a version it also held
                events.append(_event(commit, after.name, Action.ROLLBACK, back, told,
                                     stage=stage, previous=removed[0]))
                continue
            for version in removed:
                events.append(_event(commit, after.name, Action.DEMOTE, None,
                                     stage=stage, previous=version))
            continue
        for version in added:
            returned = says_rollback and version in held.get(stage, ())
            action = Action.ROLLBACK if returned else Action.PROMOTE
            events.append(_event(commit, after.name, action, version, told, stage=stage,
                                 previous=removed[0] if removed else previous))
    return events


def brought_in(git: Git, chain: Sequence[Commit]) -> dict[str, list[Commit]]:
    """For each merge in ``chain`` (first-parent commits, oldest first): what it merged.

    That is ``git log MERGE^1..MERGE`` of each merge, newest first, read in one ``git log``
    over the whole span and split by walking the first-parent chain oldest first.
    """
    merges = [c for c in chain if len(c.parents) > 1]
    if not merges:
        return {}
    fmt = (f"{_RECORD}%H{_FIELD}%P{_FIELD}%cI{_FIELD}%an <%ae>{_FIELD}%(trailers:only,unfold)"
           f"{_FIELD}%b")
    out = git.run("log", "--topo-order", f"--format={fmt}", merges[-1].sha,
                  "--not", merges[0].parents[0], "--")
    graph: dict[str, Commit] = {}
    for record in out.split(_RECORD)[1:]:
        sha, parents, date, author, trailer_text, body = record.split(_FIELD)
        graph[sha] = commit_of(sha, date, author, trailer_text, body,
                               parents=tuple(parents.split()))
    order = {sha: i for i, sha in enumerate(graph)}  # topological, newest first
    spine = []
    sha = merges[-1].sha
    while sha in graph:
        spine.append(sha)
        sha = next(iter(graph[sha].parents), "")
    seen: set[str] = set()
    result: dict[str, list[Commit]] = {}
    for sha in reversed(spine):
        seen.add(sha)
        found, todo = [], list(graph[sha].parents[1:])
        while todo:
            parent = todo.pop()
            if parent in seen or parent not in graph:
                continue
            seen.add(parent)
            found.append(graph[parent])
            todo += graph[parent].parents
        if found:
            result[sha] = sorted(found, key=lambda c: order[c.sha])
    return result


def rollback_target(events: Sequence[Event], stage: str, current: str | None) -> str:
    """Where ``rollback`` returns ``stage``: the version before the current one.

    Promotions stack up, a rollback pops them, so that rolling back twice goes two steps
    back rather than bouncing between the last two versions.
    """
    stack: list[str] = []
    for event in events:
        if event.stage != stage or event.version is None:
            continue  # a demotion empties the stage; rolling back restores what it held
        if event.action is Action.ROLLBACK and event.version in stack:
            while stack[-1] != event.version:
                stack.pop()
        else:
            stack.append(event.version)
    while stack and stack[-1] == current:
        stack.pop()
    if not stack:
        raise NotFound(
            f"nothing to roll back to: {stage} has held no other version before "
            f"{current or 'now'}; promote a version instead (gitreg promote)"
        )
    return stack[-1]


def next_stage_tag(git: Git, name: str, stage: str, position: int) -> str:
    """The tag for a change that is the ``position``-th of its model and stage along
    first-parent history (as ``ci tag`` numbers them), and past every existing tag: so
    numbers stay gapless and in order, and are never reused."""
    numbers = [0]
    for ref in git.tags(f"{name}/{stage}/*"):
        parsed = parse_tag(ref.name)
        if parsed is not None and parsed.n is not None:
            numbers.append(parsed.n)
    return stage_tag(name, stage, max(max(numbers) + 1, position))


def _is_kind(place: Place | None, kind: Kind) -> bool:
    return place is not None and place.kind is kind


def _is_stages(place: Place | None) -> bool:
    return place is not None and place.kind is Kind.STAGES
