"""Fuzzing the parsers a cloned registry feeds (issue 6, point 4): they return a value or
raise one of gitreg's own errors, never anything else (which the CLI would report as a bug,
exit 70, with a traceback).

Bounded and derandomized so that CI runs the same examples in a few seconds;
``GITREG_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py`` runs a longer, random campaign.
"""

from __future__ import annotations

import contextlib
import os
from datetime import date, datetime, timezone
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitreg.core import config
from gitreg.core.events import TagName, parse_tag, parse_trailers, stage_tag, version_tag
from gitreg.core.names import ModelRef, Version, check_name, check_stage_name, parse_version
from gitreg.core.records import (
    Artifact,
    VersionRecord,
    stages_from_dict,
    version_from_dict,
    version_to_dict,
)
from gitreg.errors import CorruptRegistry, GitregError, InvalidInput
from gitreg.repo import yamlio
from gitreg.service.check import problem_from
from gitreg.service.remote_registry import _check_pointer

_LONG = int(os.environ.get("GITREG_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=_LONG or 100,
    derandomize=not _LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)

# What YAML can build with the safe loader, and then some (sets, bytes, dates).
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
    st.binary(max_size=8), st.dates(), st.datetimes(),
    st.sampled_from(["1.0.0", "v1.2.0", "churn", "production", "..", "/etc/passwd",
                     "models/churn/artifacts/1.0.0/model.bin", "", "1.0", "01.0.0"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=10), st.integers(), st.booleans()),
                        inner, max_size=4),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=12,
)

VALID_VERSION: dict[str, Any] = version_to_dict(VersionRecord(
    name="churn", version="1.0.0", registered_at="2026-05-01T10:00:00+00:00",
    registered_by="Test <t@example.com>",
    artifact=Artifact("models/churn/artifacts/1.0.0/model.bin", "file",
                      "0123456789abcdef0123456789abcdef", 10),
    metrics={"accuracy": 0.9}, hyperparameters={"depth": 3}, features=("age",),
))
VALID_STAGES: dict[str, Any] = {"model": "churn", "stages": {"production": "1.0.0",
                                                            "staging": ["1.0.0", "1.1.0"]}}
VALID_CONFIG: dict[str, Any] = {**config.default_config_dict(), "policies": {
    "production": {"from": "staging", "min_metrics": {"accuracy": 0.9},
                   "no_regression": ["accuracy"]}}}

# Characters that steer a YAML parser, for text that is nearly YAML.
YAML_TEXT = st.text(
    alphabet=st.sampled_from([*"ab01.-:[]{},&*!|>'\"#%@`?<= \n\t\\", "\x00", "\ufeff",
                              "\udcff", "é"]),
    max_size=80,
)


def _only_gitreg_errors(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except GitregError:
        return None


def _mutate(data: Any, path: list[Any], value: Any) -> Any:
    """``data`` with the value at ``path`` (keys or indexes, as far as they go) replaced."""
    if not path or not isinstance(data, (dict, list)) or not data:
        return value
    if isinstance(data, dict):
        key = list(data)[path[0] % len(data)]
        return {**data, key: _mutate(data[key], path[1:], value)}
    index = path[0] % len(data)
    return [*data[:index], _mutate(data[index], path[1:], value), *data[index + 1:]]


paths = st.lists(st.integers(min_value=0, max_value=50), max_size=4)


# -- YAML ----------------------------------------------------------------------------------


@FUZZ
@given(st.one_of(st.binary(max_size=200), YAML_TEXT))
def test_yaml_loader_raises_only_corrupt_registry(data: bytes | str) -> None:
    try:
        yamlio.loads(data, "models/churn/versions/1.0.0.yaml")
    except CorruptRegistry as exc:
        assert str(exc).startswith("models/churn/versions/1.0.0.yaml")
        assert "\n" not in str(exc)


@FUZZ
@given(st.one_of(st.binary(max_size=200), YAML_TEXT, st.just("[" * 3000 + "]" * 3000)))
def test_the_pure_python_yaml_loader_raises_only_corrupt_registry(data: bytes | str) -> None:
    # Where PyYAML was built without libyaml: its parser recurses, its errors differ.
    with mock.patch.object(yamlio, "_loader", lambda: yaml.SafeLoader):
        _only_gitreg_errors(yamlio.loads, data, "f.yaml")


@FUZZ
@given(values)
def test_what_gitreg_dumps_it_loads_back(value: Any) -> None:
    try:
        text = yamlio.dumps(value)
    except yaml.YAMLError:
        return  # not every Python value has a YAML form (a set of mixed keys...)
    _only_gitreg_errors(yamlio.loads, text, "f.yaml")


@FUZZ
@given(values, st.text(alphabet="&*ab !:[]{}<", max_size=30))
def test_yaml_with_anchors_and_aliases_raises_only_corrupt_registry(
    value: Any, noise: str
) -> None:
    text = f"a: &a {noise}\nb: [*a, *a, {{<<: *a}}]\nc: *a\n"
    with contextlib.suppress(yaml.YAMLError):
        text += yamlio.dumps({"d": value})
    _only_gitreg_errors(yamlio.loads, text, "f.yaml")


# -- records, stage maps, registry.yaml, weights pointers -----------------------------------


@FUZZ
@given(st.one_of(values, st.builds(_mutate, st.just(VALID_VERSION), paths, values)))
def test_version_records_raise_only_gitreg_errors(data: Any) -> None:
    record = _only_gitreg_errors(version_from_dict, data, "v.yaml")
    if record is not None:  # what is accepted is what a version file holds
        assert isinstance(record, VersionRecord)
        parts = record.artifact.path.split("/")
        assert not {"", ".", ".."} & set(parts)
        version_from_dict(yamlio.loads(yamlio.dumps(version_to_dict(record)), "v"), "v")


@FUZZ
@given(st.one_of(values, st.builds(_mutate, st.just(VALID_STAGES), paths, values)))
def test_stage_maps_raise_only_gitreg_errors(data: Any) -> None:
    _only_gitreg_errors(stages_from_dict, data, "stages.yaml")


@FUZZ
@given(st.one_of(values, st.builds(_mutate, st.just(VALID_CONFIG), paths, values)))
def test_registry_config_raises_only_gitreg_errors(data: Any) -> None:
    _only_gitreg_errors(config.from_dict, data, "registry.yaml")


@FUZZ
@given(st.one_of(values, st.builds(
    _mutate, st.just({"outs": [{"md5": "0123456789abcdef0123456789abcdef", "size": 10,
                                "hash": "md5", "path": "model.bin"}]}), paths, values)))
def test_weights_pointers_raise_only_gitreg_errors(data: Any) -> None:
    record = version_from_dict(VALID_VERSION, "v.yaml")
    _only_gitreg_errors(_check_pointer, data, "model.bin.dvc", record)


@FUZZ
@given(YAML_TEXT)
def test_text_to_records_raises_only_gitreg_errors(text: str) -> None:
    for parse in (version_from_dict, stages_from_dict, config.from_dict):
        data = _only_gitreg_errors(yamlio.loads, text, "f.yaml")
        _only_gitreg_errors(parse, data, "f.yaml")


# Scalars as a hand edit writes them: YAML resolves many to ints, floats and timestamps by
# their look, and explicit tags ask for a type whatever the text.
hand_written = st.builds(
    lambda tag, text: f"{tag} {text}".strip(),
    st.sampled_from(["", "", "", "!!int", "!!float", "!!timestamp", "!!binary", "!!bool",
                     "!!str", "!!null", "!!set", "!!omap", "!!pairs", "!!seq", "!!map",
                     "!!python/object:os.system", "!foo", "&x", "*x"]),
    st.one_of(
        st.from_regex(r"[0-9]{1,4}-[0-9]{1,2}-[0-9]{1,2}([Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}"
                      r"(\.[0-9]{0,9})?( ?(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)?", fullmatch=True),
        st.from_regex(r"[-+]?(0x[0-9a-fA-F_]{0,8}|0o?[0-7_]{0,8}|0b[01_]{0,8}|[0-9_:]{1,12}"
                      r"|[0-9]{4400,4500}|\.(inf|nan|NaN)|[0-9]*\.[0-9]*([eE][-+]?[0-9]+)?)",
                      fullmatch=True),
        YAML_TEXT.map(lambda t: t.replace("\n", " ")),
    ),
)


@FUZZ
@given(st.sampled_from(["version", "stages", "config"]), st.integers(min_value=0),
       hand_written)
def test_hand_edited_values_raise_only_gitreg_errors(which: str, line: int, value: str) -> None:
    template, parse = {
        "version": (VALID_VERSION, version_from_dict),
        "stages": (VALID_STAGES, stages_from_dict),
        "config": (VALID_CONFIG, config.from_dict),
    }[which]
    lines = yamlio.dumps(template).splitlines()
    index = line % len(lines)
    key, sep, _ = lines[index].partition(": ")
    lines[index] = f"{key}{sep or ': '}{value}"
    data = _only_gitreg_errors(yamlio.loads, "\n".join(lines), "f.yaml")
    _only_gitreg_errors(parse, data, "f.yaml")


@FUZZ
@given(st.text(max_size=60), st.sampled_from(["registry.yaml", "models/m/stages.yaml"]))
def test_problem_lines_are_parsed_from_any_message(text: str, file: str) -> None:
    problem = problem_from(CorruptRegistry(f"{file}{text}"), file)
    assert problem.file == file or problem.file.startswith(file)
    assert all(part.isprintable() for part in (problem.file, problem.key, problem.message))


# -- tags, names, versions, trailers ---------------------------------------------------------

tag_like = st.one_of(
    st.text(max_size=40),
    st.builds(lambda a, b, c: f"{a}{b}{c}", st.text(max_size=10),
              st.sampled_from(["@v", "@", "/", "/production/", "#", "refs/tags/"]),
              st.text(max_size=10)),
    st.from_regex(r"[a-z0-9._-]{1,12}@v[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(-[a-z0-9.]{1,6})?",
                  fullmatch=True),
    st.from_regex(r"[a-z0-9._-]{1,12}/[a-z][a-z0-9_-]{0,8}/[0-9]{1,4}", fullmatch=True),
)


@FUZZ
@given(tag_like)
def test_tag_parser_never_raises_and_round_trips(text: str) -> None:
    parsed = parse_tag(text)
    if parsed is None:
        return
    assert isinstance(parsed, TagName)
    check_name(parsed.name)
    if parsed.version is not None:
        assert parse_tag(version_tag(parsed.name, parsed.version)) == parsed
    else:
        assert parsed.stage is not None and parsed.n is not None and parsed.n >= 1
        assert parse_tag(stage_tag(parsed.name, parsed.stage, parsed.n)) == parsed


@FUZZ
@given(st.one_of(st.text(max_size=40), tag_like, st.integers(), st.none(), st.lists(
    st.text(max_size=3), max_size=2)))
def test_name_and_version_validators_raise_only_invalid_input(text: Any) -> None:
    for check in (check_name, check_stage_name, Version.parse, parse_version):
        with contextlib.suppress(InvalidInput):
            check(text)
    if isinstance(text, str):  # command-line text, or a depends_on entry read as a string
        _only_gitreg_errors(ModelRef.parse, text)


@FUZZ
@given(st.from_regex(r"v?(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})"
                     r"(-[0-9A-Za-z-]{1,5}(\.[0-9A-Za-z-]{1,5}){0,2})?(\+[0-9A-Za-z-]{1,5})?",
                     fullmatch=True))
def test_versions_round_trip(text: str) -> None:
    try:
        version = Version.parse(text)
    except InvalidInput:
        return  # e.g. a numeric pre-release identifier with a leading zero
    assert Version.parse(str(version)) == version
    assert parse_version(str(version)) == str(version)


@FUZZ
@given(st.text(max_size=200))
def test_trailer_parser_never_raises(text: str) -> None:
    found = parse_trailers(text)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in found.items())


@pytest.mark.parametrize("value", [
    date(2026, 1, 1), datetime(2026, 1, 1, tzinfo=timezone.utc), b"\xff", {1, 2}, float("nan"),
])
def test_odd_yaml_values_in_every_field_are_refused_or_kept_as_text(value: Any) -> None:
    for key in VALID_VERSION:
        data = {**VALID_VERSION, key: value}
        _only_gitreg_errors(version_from_dict, data, "v.yaml")
