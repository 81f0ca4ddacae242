"""core/records.py: version files and stage maps to and from dicts, with errors as data."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitreg.core.records import (
    Artifact,
    Lineage,
    StageMap,
    VersionRecord,
    iso_timestamp,
    stages_from_dict,
    stages_to_dict,
    version_from_dict,
    version_to_dict,
)
from gitreg.errors import CorruptRegistry, InvalidInput

SOURCE = "models/churn/versions/1.2.0.yaml"


def record(**changes: Any) -> VersionRecord:
    base = VersionRecord(
        name="churn", version="1.2.0", registered_at="2026-05-01T10:00:00+00:00",
        registered_by="Ada <ada@example.com>",
        artifact=Artifact("models/churn/artifacts/1.2.0/model.pkl", "pickle", "a" * 32, 10),
        metrics={"accuracy": 0.9}, features=("age",), labels=("team=risk",),
        lineage=Lineage("9a8b7c6", {"train.csv": "md5:1"}, ("features@2.1.0",), "1.1.0"),
    )
    fields = {**base.__dict__, **changes}
    return VersionRecord(**fields)


def test_a_record_survives_the_round_trip() -> None:
    assert version_from_dict(version_to_dict(record()), SOURCE) == record()


@given(st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True),
                       st.floats(allow_nan=False, allow_infinity=False), max_size=5))
def test_any_metrics_survive_the_round_trip(metrics: dict[str, float]) -> None:
    assert version_from_dict(version_to_dict(record(metrics=metrics)), SOURCE).metrics == metrics


@pytest.mark.parametrize(("edit", "key"), [
    (lambda d: d["metrics"].update(accuracy="high"), "metrics.accuracy"),
    (lambda d: d["artifact"].update(size="big"), "artifact.size"),
    (lambda d: d["artifact"].update(path="/etc/passwd"), "artifact.path"),
    (lambda d: d["artifact"].update(path="models/../../x"), "artifact.path"),
    (lambda d: d["lineage"].update(data={"train.csv": 3}), "lineage.data.train.csv"),
    (lambda d: d.update(version="1.02.0"), "name/version"),
    (lambda d: d.update(name="Bad Name"), "name/version"),
    (lambda d: d.pop("registered_by"), "registered_by"),
])
def test_a_bad_field_is_reported_with_its_key_path(edit: Any, key: str) -> None:
    data = version_to_dict(record())
    edit(data)
    with pytest.raises(CorruptRegistry) as raised:
        version_from_dict(data, SOURCE)
    assert (raised.value.file, raised.value.key) == (SOURCE, key)
    assert str(raised.value).startswith(f"{SOURCE}: {key}: ")


def test_a_file_that_is_no_mapping_is_a_top_level_problem() -> None:
    with pytest.raises(CorruptRegistry) as raised:
        version_from_dict(["a list"], SOURCE)
    assert raised.value.key == "top level"


def test_stage_maps_round_trip_in_the_registrys_order() -> None:
    stage_map = StageMap("churn", {"production": ("1.0.0",), "dev": ("1.1.0", "1.2.0")})
    data = stages_to_dict(stage_map, ["dev", "staging", "production"], {"dev": False})
    assert list(data["stages"]) == ["dev", "production"]
    assert data["stages"]["production"] == "1.0.0"  # an exclusive stage is one line
    assert stages_from_dict(data, "s.yaml") == stage_map


def test_stage_map_queries() -> None:
    stage_map = StageMap("churn", {"dev": ("1.1.0", "1.2.0"), "staging": ("1.1.0",)})
    assert stage_map.versions_in("dev") == ("1.1.0", "1.2.0")
    assert stage_map.versions_in("production") == ()
    assert stage_map.stages_of("1.1.0") == ("dev", "staging")
    assert stage_map.with_stage("dev", ()).versions_in("dev") == ()


@pytest.mark.parametrize("stages", [{"dev": 3}, {"dev": ["x.y"]}, {"Bad Stage": "1.0.0"}])
def test_a_bad_stage_entry_is_refused(stages: dict[str, Any]) -> None:
    with pytest.raises(CorruptRegistry):
        stages_from_dict({"model": "churn", "stages": stages}, "s.yaml")


def test_an_emptied_stages_file_is_a_model_with_no_stages_but_needs_a_name() -> None:
    with pytest.raises(CorruptRegistry) as raised:
        stages_from_dict(None, "s.yaml")
    assert raised.value.key == "model"


def test_timestamps() -> None:
    assert iso_timestamp("2026-05-01T10:00:00Z", "when").startswith("2026-05-01T10:00:00")
    with pytest.raises(InvalidInput):
        iso_timestamp("yesterday", "when")
