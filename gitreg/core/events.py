"""Events and the tag grammar that names them.

``<name>@v<semver>`` marks a registration (GTO's grammar, same meaning);
``<name>/<stage>/<n>`` marks the n-th change of that model's stage. Commit trailers repeat
the event in machine-readable form, so it survives squash and rebase merges.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from gitreg.core.names import Version, check_name, check_stage_name
from gitreg.errors import InvalidInput

# Where a release's tags start (core/release.py's TAG_PREFIX, defined here so that reading
# a model's tags does not import the releases' module and its classes: issue 19).
RELEASE_TAG_PREFIX = "release/"


class Action(str, enum.Enum):
    REGISTER = "register"
    PROMOTE = "promote"
    DEMOTE = "demote"
    ROLLBACK = "rollback"
    # End of life and annotations (issue 16): they change no stage (a --demote that goes
    # with a deprecation is read from stages.yaml as a demotion).
    DEPRECATE = "deprecate"
    RESTORE = "restore"
    ANNOTATE = "annotate"

    @property
    def past(self) -> str:
        return {"register": "registered", "promote": "promoted", "demote": "demoted",
                "rollback": "rolled back", "deprecate": "deprecated", "restore": "restored",
                "annotate": "annotated"}[self.value]

    @property
    def moves_stage(self) -> bool:
        return self in (Action.PROMOTE, Action.DEMOTE, Action.ROLLBACK)


@dataclass(frozen=True)
class Event:
    """One change to the registry, as history tells it."""

    model: str
    action: Action
    version: str | None  # the version registered, or the one the stage now holds
    stage: str | None = None
    previous: str | None = None  # what the stage held before
    commit: str = ""
    author: str = ""
    date: str = ""
    tag: str | None = None
    reason: str | None = None
    # The policy that gated a promotion as it was made (``policies.production``, or
    # ``policies.production.models["churn*"]``), and whether ``--force`` overrode it (the
    # version broke it; a ``reason`` alone is only recorded); history records neither.
    policy: str | None = None
    overridden: bool = False


@dataclass(frozen=True)
class TagName:
    """A parsed gitreg tag: a registration (``version`` set) or a stage change (``n`` set)."""

    name: str
    version: str | None = None
    stage: str | None = None
    n: int | None = None


_STAGE_TAG = re.compile(r"(?P<name>[^/@#]+)/(?P<stage>[^/]+)/(?P<n>[1-9][0-9]*)")


def version_tag(name: str, version: str) -> str:
    return f"{name}@v{version}"


def stage_tag(name: str, stage: str, n: int) -> str:
    return f"{name}/{stage}/{n}"


@functools.lru_cache(maxsize=1 << 18)
def parse_tag(tag: str) -> TagName | None:
    """The gitreg meaning of a tag name, or ``None`` for a tag that is not gitreg's.
    Remembered (a ``TagName`` is immutable): a full ``check`` asks it of each of 137,000
    tags twice at 100,000 versions, once for history and once for the tags themselves."""
    tag = tag.removeprefix("refs/tags/")
    if tag.startswith(RELEASE_TAG_PREFIX):
        return None  # a release's (core/release.py), never the model "release"'s stage tag
    try:
        if "@" in tag and "/" not in tag:
            name, _, version = tag.partition("@")
            if not version.startswith("v"):
                return None
            return TagName(check_name(name), version=str(Version.parse(version[1:])))
        match = _STAGE_TAG.fullmatch(tag)
        if match:
            return TagName(
                check_name(match["name"]),
                stage=check_stage_name(match["stage"]),
                n=int(match["n"]),
            )
    except InvalidInput:
        return None
    return None


TRAILER_PREFIX = "Gitreg-"


def trailers(event: Event) -> dict[str, str]:
    fields = {
        "Action": event.action.value,
        "Model": event.model,
        "Version": event.version,
        "Stage": event.stage,
        "Previous": event.previous,
        "Reason": event.reason,
    }
    return {f"{TRAILER_PREFIX}{k}": v for k, v in fields.items() if v}


def commit_message(event: Event) -> str:
    if event.action is Action.REGISTER:
        subject = f"Register {event.model} {event.version}"
    elif event.action is Action.DEMOTE:
        subject = f"Demote {event.model} {event.previous} from {event.stage}"
    elif event.action is Action.ROLLBACK:
        subject = f"Roll back {event.model} {event.stage} to {event.version}"
    elif event.action in (Action.DEPRECATE, Action.RESTORE, Action.ANNOTATE):
        subject = f"{event.action.value.capitalize()} {event.model} {event.version or 'all'}"
    else:
        subject = f"Promote {event.model} {event.version} to {event.stage}"
    body = f"\n\n{event.reason}" if event.reason else ""
    trailer_lines = "\n".join(f"{k}: {v}" for k, v in trailers(event).items())
    return f"{subject}{body}\n\n{trailer_lines}\n"


# Every proposal branch starts so (these below, lifecycle's and release's alike), which tells
# a checkout of one from a branch of work.
PROPOSAL_PREFIX = "gitreg/"


def proposal_branch(event: Event) -> str:
    """The branch a proposed change is pushed to for review, named after what it does."""
    if event.action is Action.REGISTER:
        return f"gitreg/register-{event.model}-{event.version}"
    if event.action is Action.DEMOTE:
        return f"gitreg/demote-{event.model}-{event.previous}-from-{event.stage}"
    if event.action is Action.ROLLBACK:
        return f"gitreg/rollback-{event.model}-{event.stage}-to-{event.version}"
    return f"gitreg/promote-{event.model}-{event.version}-to-{event.stage}"


def proposal_title(events: tuple[Event, ...]) -> str:
    """A pull request's title for a proposal: the commit subject of its first change, and
    the promotion of a registration that goes straight to a stage."""
    first = commit_message(events[0]).split("\n", 1)[0]
    more = [e for e in events[1:] if e.stage]
    return first + "".join(f", to {e.stage}" for e in more)


def tag_message(event: Event) -> str:
    """The annotation, for people; nothing reads it back."""
    if event.action is Action.REGISTER:
        return f"{event.model} {event.version} registered"
    if not event.action.moves_stage:
        return f"{event.model} {event.version or 'all versions'} {event.action.past}"
    moved = f"{event.previous or 'nothing'} -> {event.version or 'nothing'}"
    return f"{event.model} {event.stage}: {event.action.past} ({moved})"


def speaks_for(said: Mapping[str, str], model: str) -> bool:
    """Whether parsed trailers are about ``model``: its ``Gitreg-Model``, or a release's
    ``Gitreg-Models`` list (issue 18). Trailers naming no model (a release made before
    that list) speak for every model of their commit."""
    if "model" in said:
        return said["model"] == model
    if "models" in said:
        return model in said["models"].split()
    return True


def parse_trailers(text: str) -> dict[str, str]:
    """``Gitreg-*`` trailers from the output of ``%(trailers:only,unfold)``."""
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.startswith(TRAILER_PREFIX):
            found[key[len(TRAILER_PREFIX):].lower()] = value.strip()
    return found


# A line of a trailer block as git reads one: a token of letters, digits and "-", then ":"
# (git's find_separator); a line that starts with whitespace continues the one before.
_TRAILER_LINE = re.compile(r"[A-Za-z0-9-]+[ \t]*:")
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")
# git's own squash message (``git merge --squash``, then ``git commit`` keeping it): each
# commit as ``git log`` shows it, newest first, its message indented by four spaces.
_GIT_SQUASH = re.compile(r"^commit [0-9a-f]{40,64}\nAuthor: ", re.MULTILINE)
_GIT_INDENT = "    "


def trailer_blocks(body: str, last: str) -> tuple[dict[str, str], ...]:
    """The ``Gitreg-*`` trailers of a commit message, one dict per trailer paragraph that
    holds some, the newest (the message's last) first.

    ``last`` is git's own reading of the message (``%(trailers:only,unfold)``: its last
    paragraph only) and ``body`` the message without its subject (``%b``). One commit says
    one block; a squash merge's message concatenates the messages of the commits it
    squashed (GitHub: "* subject", body and trailers of each, then maybe "Co-authored-by:"
    lines; GitLab's ``%{all_commits}`` alike; git's own: newest first, indented), so each
    of them left a block, and git's reading keeps only the last one: a forced promotion's
    reason, or a rollback's claim, of an earlier commit would be lost. A paragraph is a
    block when every line, continuation lines unfolded as git does, is a ``Token: value``
    line, and one of them is ``Gitreg-Action``.

    Only a message that mentions ``Gitreg-`` beyond git's block is split into paragraphs
    (history reads 137,000 messages at 100,000 versions). The blocks are claims, as git's
    is: history weighs them against the files (``speaks_for``, ``stage_changes``).
    """
    newest = parse_trailers(last)
    if body.count(TRAILER_PREFIX) <= last.count(TRAILER_PREFIX):
        return (newest,)
    # A block names its action (gitreg writes one per commit): a lone "Gitreg-" line, such
    # as a --reason paragraph that looks like one, is no commit's block.
    blocks = [said for said in map(_block, _BLANK_LINES.split(body.strip("\n")))
              if "action" in said]
    if not _GIT_SQUASH.search(body):
        blocks.reverse()
    if newest and blocks[:1] != [newest]:
        blocks.insert(0, newest)  # git saw a block this reading does not (e.g. cherry-pick -x)
    return tuple(blocks) or (newest,)


def _block(paragraph: str) -> dict[str, str]:
    """A paragraph's ``Gitreg-*`` trailers if it is a trailer block, else nothing."""
    lines: list[str] = []
    given = paragraph.splitlines()
    if all(line.startswith(_GIT_INDENT) for line in given):
        given = [line[len(_GIT_INDENT):] for line in given]  # git's squash message
    for line in given:
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        elif _TRAILER_LINE.match(line):
            lines.append(line)
        else:
            return {}
    return parse_trailers("\n".join(lines))
