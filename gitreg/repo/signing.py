"""The signing gate: ``require_signed`` in a stage's policy (README, Signed promotions).

A stage that requires signed changes takes only changes whose commit and tag git verifies
against a trusted key, and only versions whose registration was signed the same way. The
writes call this gate before (``require_sign``) and after (``new_change_problems``) they
commit; ``gitreg verify`` and ``gitreg check`` read the same specs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from gitreg.core.events import Action, Event, version_tag
from gitreg.errors import PolicyViolation
from gitreg.git.runner import Git
from gitreg.git.signatures import Check, Status, commit_signatures, tag_signature


@dataclass(frozen=True)
class Spec:
    """A signature to check: of a commit or of a tag (``ref`` empty: there is none)."""

    what: str
    kind: str  # "commit" or "tag"
    ref: str
    missing: str = ""


def registration(events: Sequence[Event], model: str, version: str) -> list[Spec]:
    added = [e for e in events if e.action is Action.REGISTER and e.version == version]
    if not added:
        why = (f"no commit on this branch's history added {model} {version}'s version file "
               "(not committed yet, or a shallow clone: fetch the full history)")
        return [Spec("registration commit", "commit", "", why),
                Spec("registration tag", "tag", "", why)]
    event = added[-1]
    tag = version_tag(model, version)
    return [Spec("registration commit", "commit", event.commit),
            Spec("registration tag", "tag", event.tag or "",
                  f"no tag {tag} on commit {event.commit[:12]}; tag it (gitreg ci tag)")]


def entry(events: Sequence[Event], model: str, version: str, stage: str,
           in_head: bool) -> list[Spec]:
    """The commit and tag of the last change that put ``version`` in ``stage`` (none when
    it is there by an uncommitted edit: not ``in_head``)."""
    entered = [e for e in events if e.stage == stage and e.version == version
               and e.action in (Action.PROMOTE, Action.ROLLBACK)]
    if not entered or not in_head:
        why = (f"no commit put {model} {version} in {stage}: " + (
            "stages.yaml was edited and not committed; promote it with gitreg promote --sign"
            if not in_head else "not in this branch's history (a shallow clone: fetch the "
            "full history)"))
        return [Spec("stage commit", "commit", "", why), Spec("stage tag", "tag", "", why)]
    event = entered[-1]
    noun = "promotion" if event.action is Action.PROMOTE else "rollback"
    return [Spec(f"{noun} commit", "commit", event.commit),
            Spec("stage tag", "tag", event.tag or "",
                  f"no {model}/{stage}/N tag on commit {event.commit[:12]}; tag it "
                  "(gitreg ci tag)")]


# -- signatures -------------------------------------------------------------------------


def seals(git: Git, specs: Iterable[Spec]) -> dict[Spec, Check]:
    """Each spec's check: commits in one ``cat-file`` and one ``git log``, tags one by one."""
    specs = list(specs)
    commits = sorted({s.ref for s in specs if s.kind == "commit" and s.ref})
    commit_seals = commit_signatures(git, commits)
    tag_seals = {name: tag_signature(git, name)
                 for name in sorted({s.ref for s in specs if s.kind == "tag" and s.ref})}
    found = {}
    for spec in specs:
        if not spec.ref:
            seal = Check(spec.what, "", Status.MISSING, detail=spec.missing)
        else:
            seal = (commit_seals if spec.kind == "commit" else tag_seals)[spec.ref]
        found[spec] = replace(seal, what=spec.what, ref=spec.ref)
    return found


# -- the require_signed policy ----------------------------------------------------------


def signed_problems(git: Git, events: Sequence[Event], model: str, version: str,
                    stage: str | None, *, in_head: bool = True) -> list[str]:
    """What keeps ``version`` (in ``stage``) from passing ``require_signed``: each of its
    registration's and its last stage change's commit and tag not signed by a trusted key
    (``in_head``: the version is in the stage at HEAD, not by an uncommitted edit).

    A commit without its tag yet passes: in a pull request, and until ``gitreg ci tag``
    runs after the merge, there is none (``verify`` reports it missing).
    """
    specs = registration(events, model, version)
    if stage is not None:
        specs += entry(events, model, version, stage, in_head)
    specs = [s for s in specs if s.ref or s.kind == "commit"]
    return [_problem(check) for check in seals(git, specs).values() if not check.ok]


def new_change_problems(git: Git, commit: str, tag: str = "") -> list[str]:
    """What is wrong with the signatures just made for a stage change (a proposal has no
    tag yet)."""
    specs = [Spec("stage commit", "commit", commit)]
    specs += [Spec("stage tag", "tag", tag)] if tag else []
    return [_problem(check) for check in seals(git, specs).values() if not check.ok]


def _problem(check: Check) -> str:
    name = check.ref[:12] if check.what.endswith("commit") else check.ref
    label = f"{check.what} {name}".rstrip()
    return f"{label}: {check.status.value}" + (f" ({check.detail})" if check.detail else "")


def require_sign(stage: str, sign: bool) -> None:
    """``require_signed`` refuses an unsigned change outright: --force does not override it."""
    if not sign:
        raise PolicyViolation(
            f"{stage} requires signed changes (require_signed in registry.yaml): run it again "
            "with {sign}, with git's signing set up (see README, Signed promotions)",
            params=("sign",))


def refuse(stage: str, problems: Sequence[str]) -> None:
    if problems:
        raise PolicyViolation(
            f"{problems[0]}; {stage} requires good signatures (require_signed in "
            "registry.yaml); nothing was changed"
        )
