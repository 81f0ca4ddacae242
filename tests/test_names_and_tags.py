"""Pure pairs: parse/format of names, versions, tags and records round-trip."""

from __future__ import annotations

import pytest

from gitreg.core.events import (
    Action,
    Event,
    parse_tag,
    parse_trailers,
    stage_tag,
    trailers,
    version_tag,
)
from gitreg.core.names import ModelRef, Version, check_name, parse_version
from gitreg.core.records import (
    Artifact,
    Lineage,
    StageMap,
    VersionRecord,
    stages_from_dict,
    stages_to_dict,
    version_from_dict,
    version_to_dict,
)
from gitreg.errors import CorruptRegistry, InvalidInput
from gitreg.repo import yamlio


@pytest.mark.parametrize("name", ["churn", "a", "model-2.v1", "x_y", "9lives"])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "a/b", "..", "a..b", ".a", "-a", "a b", "a@b", "a#b",
                                  "a;b", "a$b", "a.lock", "a.", "x" * 101])
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_name(name)


def test_semver_parse_normalise_and_order() -> None:
    assert parse_version("v1.2.0") == "1.2.0"
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.10.0", "2.0.0"]
    assert sorted(ordered[::-1], key=Version.parse) == ordered
    assert Version.parse("1.0.0+build.5") == Version.parse("1.0.0+build.5")
    assert str(Version.parse("1.2.3").bump("minor")) == "1.3.0"
    assert str(Version.parse("1.3.0-rc.1").bump("patch")) == "1.3.0"
    for bad in ("1.0", "01.0.0", "1.0.0-", "abc", "v"):
        with pytest.raises(InvalidInput):
            Version.parse(bad)


@pytest.mark.parametrize("text", ["1\u0661.0.0", "1.0.0-\u0661a", "1.0.0-rc.1\u0661"])
def test_versions_are_ascii_as_semver_says(text: str) -> None:
    # Python's \d matches digits of every script, and int() reads them: "1\u0661.0.0" was
    # read as 11.0.0, so a file or tag spelled one way stood for a version spelled another.
    with pytest.raises(InvalidInput):
        Version.parse(text)


@pytest.mark.parametrize("name,version", [("churn", "1.3.0"), ("a.b-c", "2.0.0-rc.1+b7")])
def test_version_tag_round_trip(name: str, version: str) -> None:
    parsed = parse_tag(version_tag(name, version))
    assert parsed is not None and (parsed.name, parsed.version) == (name, version)


def test_stage_tag_round_trip_and_foreign_tags() -> None:
    parsed = parse_tag("refs/tags/" + stage_tag("churn", "production", 7))
    assert parsed is not None
    assert (parsed.name, parsed.stage, parsed.n) == ("churn", "production", 7)
    for foreign in ("v1.0.0", "churn#production#3", "churn/production/0", "churn/prod/x",
                    "churn@1.0.0", "Churn@v1.0.0", "a/b/c/d"):
        assert parse_tag(foreign) is None


def test_trailers_round_trip() -> None:
    event = Event("churn", Action.ROLLBACK, "1.2.0", "production", "1.3.0", reason="bad p99")
    text = "\n".join(f"{k}: {v}" for k, v in trailers(event).items())
    assert parse_trailers(text) == {"action": "rollback", "model": "churn", "version": "1.2.0",
                                    "stage": "production", "previous": "1.3.0",
                                    "reason": "bad p99"}


def test_model_ref() -> None:
    assert ModelRef.parse("churn@v1.0.0") == ModelRef("churn", version="1.0.0")
    assert ModelRef.parse("churn#production") == ModelRef("churn", stage="production")
    with pytest.raises(InvalidInput):
        ModelRef.parse("churn@latest")


RECORD = VersionRecord(
    name="churn", version="1.10.0", registered_at="2026-01-01T00:00:00+00:00",
    registered_by="A <a@b>", artifact=Artifact("models/churn/artifacts/1.10.0/m.pkl", "pickle",
                                                "0" * 32, 10),
    trained_at="2025-12-31T23:00:00+00:00", model_type="no", description="1.10",
    hyperparameters={"depth": 3, "crit": "gini", "bootstrap": True, "lr": 0.1, "ver": "1.10"},
    metrics={"accuracy": 0.9, "n": 3}, features=("yes", "on", "2024-01-01"), labels=("null",),
    lineage=Lineage("abc", {"train": "md5:1"}, ("features@2.1.0",), "1.9.0"),
)


def test_version_record_round_trips_through_yaml_with_tricky_strings() -> None:
    text = yamlio.dumps(version_to_dict(RECORD))
    assert version_from_dict(yamlio.loads(text, "f"), "f") == RECORD
    assert yamlio.dumps(version_to_dict(RECORD)) == text  # deterministic
    assert "ver: '1.10'" in text and "- 'yes'" in text


def test_stage_map_round_trip_and_one_line_per_exclusive_stage() -> None:
    stage_map = StageMap("churn", {"production": ("1.2.0",), "canary": ("1.3.0", "1.4.0")})
    data = stages_to_dict(stage_map, ["dev", "production", "canary"],
                          {"production": True, "canary": False})
    text = yamlio.dumps(data)
    assert "  production: 1.2.0\n" in text
    assert stages_from_dict(yamlio.loads(text, "s"), "s") == stage_map


def test_stages_by_version_is_stages_of_every_version_at_once() -> None:
    stage_map = StageMap("churn", {"production": ("1.2.0",), "canary": ("1.3.0", "1.2.0"),
                                   "dev": ("1.3.0", "1.3.0")})
    held = stage_map.by_version()
    for version in ("1.2.0", "1.3.0", "9.9.9"):
        assert held.get(version, ()) == stage_map.stages_of(version)
    assert held == {"1.2.0": ("production", "canary"), "1.3.0": ("canary", "dev")}


def test_validation_names_file_and_key() -> None:
    data = version_to_dict(RECORD)
    data["metrics"]["accuracy"] = "high"
    with pytest.raises(CorruptRegistry, match=r"^v\.yaml: metrics\.accuracy: expected a number"):
        version_from_dict(data, "v.yaml")
    with pytest.raises(CorruptRegistry, match="python/object"):
        yamlio.loads("a: !!python/object/apply:os.system ['true']", "evil.yaml")
