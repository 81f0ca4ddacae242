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
