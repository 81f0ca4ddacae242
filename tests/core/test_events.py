"""core/events.py: tags and commit messages, formatted and parsed back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitreg.core.events import (
    Action,
    Event,
    TagName,
    commit_message,
    parse_tag,
    parse_trailers,
    stage_tag,
    trailer_blocks,
    trailers,
    version_tag,
)

NAMES = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,15}", fullmatch=True)
STAGES = st.sampled_from(["dev", "staging", "production", "qa"])
VERSIONS = st.builds(lambda a, b, c: f"{a}.{b}.{c}", *(st.integers(0, 99),) * 3)


@given(NAMES, VERSIONS)
def test_registration_tags_round_trip(name: str, version: str) -> None:
    assert parse_tag(version_tag(name, version)) == TagName(name, version=version)


@given(NAMES, STAGES, st.integers(1, 10_000))
def test_stage_tags_round_trip(name: str, stage: str, n: int) -> None:
    assert parse_tag(stage_tag(name, stage, n)) == TagName(name, stage=stage, n=n)


@pytest.mark.parametrize("tag", ["v1.0.0", "churn#production#1", "churn/production/0",
                                 "churn/production/01", "churn@1.0.0", "", "a/b"])
def test_other_tags_are_no_gitreg_event(tag: str) -> None:
    assert parse_tag(tag) is None


@given(NAMES, VERSIONS, STAGES, st.one_of(st.none(), VERSIONS))
def test_trailers_say_the_event(name: str, version: str, stage: str, previous: str | None) -> None:
    event = Event(name, Action.PROMOTE, version, stage, previous)
    message = commit_message(event)
    said = parse_trailers(message.split("\n\n")[-1])
    assert said["action"] == "promote" and said["model"] == name
    assert said["version"] == version and said["stage"] == stage
    assert said.get("previous") == previous


def _read(message: str) -> tuple[dict[str, str], ...]:
    """``trailer_blocks`` as history calls it: git's ``%b`` (the message without its
    subject) and git's reading of the last paragraph (here: when it is all trailers)."""
    body = message.partition("\n\n")[2]
    last = message.rstrip("\n").rpartition("\n\n")[2]
    return trailer_blocks(body, last if all(":" in line for line in last.splitlines()) else "")


def _said(event: Event) -> dict[str, str]:
    return parse_trailers("\n".join(f"{k}: {v}" for k, v in trailers(event).items()))


EVENTS = st.builds(
    Event, NAMES, st.sampled_from([Action.REGISTER, Action.PROMOTE, Action.ROLLBACK]),
    VERSIONS, st.one_of(st.none(), STAGES), st.one_of(st.none(), VERSIONS),
    reason=st.one_of(st.none(), st.from_regex(r"[A-Za-z][A-Za-z :,.-]{0,30}", fullmatch=True)))


@given(st.lists(EVENTS, min_size=1, max_size=4), st.booleans())
def test_a_squash_message_keeps_every_commits_trailers(events: list[Event],
                                                       github: bool) -> None:
    """A squash merge's message, as GitHub writes it ("* " before each subject, then
    Co-authored-by after a rule) or plain (the messages one after the other), reads back
    as one block per squashed commit, the newest first."""
    bullet = "* " if github else ""
    message = "Train churn (#12)\n\n" + "\n".join(
        bullet + commit_message(e) for e in events)
    if github:
        message += "\n---------\n\nCo-authored-by: Ann <ann@example.com>\n"
    assert list(_read(message)) == [_said(e) for e in reversed(events)]


def test_one_commits_message_is_read_as_git_reads_it() -> None:
    message = commit_message(Event("churn", Action.PROMOTE, "1.0.0", "production",
                                   reason="Gitreg-Model: fraud"))
    # The reason is its own paragraph, one line: it never makes a second block.
    assert _read(message) == (
        {"action": "promote", "model": "churn", "version": "1.0.0", "stage": "production",
         "reason": "Gitreg-Model: fraud"},)
    assert trailer_blocks("", "") == ({},)


def test_only_paragraphs_of_trailers_are_blocks() -> None:
    body = ("Gitreg-Action: rollback\nGitreg-Model: churn\nGitreg-Stage: production\n"
            "  and more\n\n"  # a continuation line, unfolded as git does
            "Gitreg-Action: promote\nGitreg-Model: fraud\nnot a trailer line\n\n"
            " Gitreg-Action: demote\n\n"  # indented: no trailer (git: a continuation)
            "Gitreg-Action: register\nGitreg-Model: fraud\n")
    assert trailer_blocks(body, "Gitreg-Action: register\nGitreg-Model: fraud\n") == (
        {"action": "register", "model": "fraud"},
        {"action": "rollback", "model": "churn", "stage": "production and more"})


def test_gits_reading_of_the_last_paragraph_stays_the_newest() -> None:
    # git takes a block this reading would not (cherry-pick -x appends its line to it).
    body = ("Gitreg-Action: register\nGitreg-Model: churn\n\n* Promote\n\n"
            "Gitreg-Action: promote\nGitreg-Model: churn\n"
            "(cherry picked from commit 0123456789abcdef0123456789abcdef01234567)\n")
    last = "Gitreg-Action: promote\nGitreg-Model: churn\n"
    assert trailer_blocks(body, last) == ({"action": "promote", "model": "churn"},
                                          {"action": "register", "model": "churn"})


def test_gits_own_squash_message_is_read_newest_first() -> None:
    """``git merge --squash`` then ``git commit`` keeping git's message: each commit as
    ``git log`` shows it, newest first, the message indented (git's reading finds none)."""
    sha = "0123456789abcdef0123456789abcdef01234567"
    body = "".join(
        f"commit {sha}\nAuthor: Ann <ann@example.com>\nDate:   Fri Dec 4 20:33:13 2026 +0000"
        f"\n\n    {subject}\n\n" + "\n".join(f"    {line}" for line in trailer_lines) + "\n\n"
        for subject, trailer_lines in (
            ("Roll back churn staging to 1.0.0",
             ["Gitreg-Action: rollback", "Gitreg-Model: churn", "Gitreg-Stage: staging",
              "Gitreg-Reason: a long", "     reason"]),
            ("Register churn 2.0.0", ["Gitreg-Action: register", "Gitreg-Model: churn"])))
    assert trailer_blocks(body, "") == (
        {"action": "rollback", "model": "churn", "stage": "staging",
         "reason": "a long reason"},
        {"action": "register", "model": "churn"})
