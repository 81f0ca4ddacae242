"""Stage and registration history, read from git in bulk.

One ``git log`` lists the commits that touched the model files on the first-parent chain
(the main branch's own view, where a merged pull request is one change), and one
``cat-file --batch`` reads every ``stages.yaml`` they wrote. Events are ordered by that
chain, never by clock time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from . import yamlio
from .errors import NotFound
from .events import Action, Event, parse_tag, parse_trailers, stage_tag, version_tag
from .git import Git
from .records import StageMap, stages_from_dict

_RECORD, _FIELD = "\x1e", "\x1f"


@dataclass(frozen=True)
class _Commit:
    sha: str
    date: str
    author: str
    trailers: dict[str, str]
    files: tuple[tuple[str, str], ...]  # (status letter, path)


class History:
    def __init__(self, git: Git, models_dir: str) -> None:
        self.git, self.models_dir = git, models_dir

    def events(self, name: str | None = None, stage: str | None = None) -> list[Event]:
        """Registrations and stage changes, oldest first; tags attached where they exist."""
        if self.git.head() is None:
            return []
        prefix = f"{self.models_dir}/{name or '*'}"
        commits = self._log([f"{prefix}/stages.yaml", f"{prefix}/versions/*.yaml"])
        stage_files = [
            (c.sha, path) for c in commits for _, path in c.files if path.endswith("/stages.yaml")
        ]
        blobs = self.git.cat_files([f"{sha}:{path}" for sha, path in stage_files])
        content = dict(zip(stage_files, blobs, strict=True))

        events: list[Event] = []
        last: dict[str, StageMap] = {}  # model -> its stage map after the previous change
        for commit in commits:
            for status, path in commit.files:
                parts = path.split("/")
                if len(parts) < 3:
                    continue
                model = parts[-2] if parts[-1] == "stages.yaml" else parts[-3]
                if parts[-1] == "stages.yaml":
                    after = self._stage_map(model, content.get((commit.sha, path)), commit.sha)
                    before = last.get(model, StageMap(model))
                    last[model] = after
                    events += _stage_changes(before, after, commit)
                elif status == "A" and parts[-2] == "versions" and parts[-1].endswith(".yaml"):
                    events.append(
                        _event(commit, model, Action.REGISTER, parts[-1].removesuffix(".yaml"))
                    )
        if stage is not None:
            events = [e for e in events if e.stage == stage]
        return self._with_tags(events, name)

    def stage_map_at(self, name: str, rev: str) -> StageMap:
        path = f"{self.models_dir}/{name}/stages.yaml"
        (blob,) = self.git.cat_files([f"{rev}:{path}"])
        return self._stage_map(name, blob, rev)

    def commit_before(self, when: str) -> str | None:
        """The last first-parent commit made at or before ``when`` (ISO 8601)."""
        if self.git.head() is None:
            return None
        out = self.git.run("rev-list", "-1", "--first-parent", f"--before={when}", "HEAD")
        return out.strip() or None

    def _log(self, pathspecs: Sequence[str]) -> list[_Commit]:
        fmt = f"{_RECORD}%H{_FIELD}%cI{_FIELD}%an <%ae>{_FIELD}%(trailers:only,unfold){_FIELD}"
        out = self.git.run(
            "log", "--first-parent", "--reverse", "--no-renames", "--name-status",
            f"--format={fmt}", "--", *pathspecs,
        )
        commits = []
        for record in out.split(_RECORD)[1:]:
            sha, date, author, trailer_text, changes = record.split(_FIELD)
            files = []
            for line in changes.strip("\n").splitlines():
                status, _, path = line.partition("\t")
                if path:
                    files.append((status[:1], path))
            commits.append(_Commit(sha, date, author, parse_trailers(trailer_text), tuple(files)))
        return commits

    def _stage_map(self, model: str, blob: bytes | None, rev: str) -> StageMap:
        if blob is None:
            return StageMap(model)
        source = f"{self.models_dir}/{model}/stages.yaml at {rev[:12]}"
        return stages_from_dict(yamlio.loads(blob, source), source)

    def _with_tags(self, events: list[Event], name: str | None) -> list[Event]:
        # A literal pattern matches refs below it ("churn" -> churn/dev/1), a glob's "*"
        # does not cross "/": so the stage tags are asked for by prefix.
        patterns = [f"{name}@v*", name] if name else []
        tags = {}
        for ref in self.git.tags(*patterns):
            parsed = parse_tag(ref.name)
            if parsed is not None:
                tags[ref.name] = ref.target
        result = []
        for event in events:
            if event.action is Action.REGISTER and event.version:
                candidates: Iterable[str] = [version_tag(event.model, event.version)]
            else:
                prefix = f"{event.model}/{event.stage}/"
                candidates = [t for t in tags if t.startswith(prefix)]
            tag = next((t for t in candidates if tags.get(t) == event.commit), None)
            result.append(replace(event, tag=tag) if tag else event)
        return result


def _event(
    commit: _Commit, model: str, action: Action, version: str | None, **kw: str | None
) -> Event:
    return Event(
        model=model, action=action, version=version, commit=commit.sha,
        author=commit.author, date=commit.date, reason=commit.trailers.get("reason"), **kw,
    )


def _stage_changes(before: StageMap, after: StageMap, commit: _Commit) -> list[Event]:
    """The stage events one commit made, named by its trailers where it has them."""
    said = commit.trailers
    events = []
    for stage in sorted(set(before.stages) | set(after.stages)):
        old, new = before.versions_in(stage), after.versions_in(stage)
        if old == new:
            continue
        added = [v for v in new if v not in old]
        removed = [v for v in old if v not in new]
        previous = old[-1] if len(old) == 1 or removed else None
        if removed and not added:
            for version in removed:
                events.append(_event(commit, after.name, Action.DEMOTE, None,
                                     stage=stage, previous=version))
            continue
        action = Action.PROMOTE
        if said.get("stage") == stage and said.get("action") in {a.value for a in Action}:
            action = Action(said["action"])
        for version in added:
            events.append(_event(commit, after.name, action, version, stage=stage,
                                 previous=removed[0] if removed else previous))
    return events


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


def next_stage_tag(git: Git, name: str, stage: str) -> str:
    """``name/stage/n`` with ``n`` one past the highest existing: gapless, never reused."""
    numbers = [0]
    for ref in git.tags(f"{name}/{stage}/*"):
        parsed = parse_tag(ref.name)
        if parsed is not None and parsed.n is not None:
            numbers.append(parsed.n)
    return stage_tag(name, stage, max(numbers) + 1)
