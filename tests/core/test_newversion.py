"""core/newversion.py: what a registration says, from options and a --meta mapping."""

from __future__ import annotations

import pytest

from gitreg.core.names import Version
from gitreg.core.newversion import NewVersion, check_meta, draft
from gitreg.core.records import Lineage
from gitreg.errors import InvalidInput


def test_options_win_over_the_meta_mapping_and_mappings_merge() -> None:
    info = NewVersion.from_options(
        meta={"metrics": {"accuracy": 0.8, "f1": 0.7}, "model_type": "Tree",
              "lineage": {"parent": "1.0.0", "depends_on": ["features@1.0.0"]}},
        metrics={"accuracy": 0.9}, model_type="Forest")
    assert dict(info.metrics) == {"accuracy": 0.9, "f1": 0.7}
    assert info.model_type == "Forest"
    assert info.lineage.parent == "1.0.0"
    assert info.lineage.depends_on == ("features@1.0.0",)


@pytest.mark.parametrize(("meta", "says"), [
    ({"owner": "x"}, "unknown key 'owner'"),
    ({"metrics": [1]}, "metrics: expected a mapping"),
    ({"features": "age"}, "features: expected a list"),
    (["x"], "expected a mapping"),
])
def test_a_bad_meta_mapping_names_the_file_and_key(meta: object, says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as raised:
        check_meta(meta, "meta.yaml")
    assert str(raised.value).startswith("meta.yaml")


def test_a_draft_is_a_validated_record() -> None:
    record = draft("churn", "1.2.0", NewVersion(metrics={"accuracy": 0.9}))
    assert record.name == "churn" and record.semver == Version.parse("1.2.0")
    with pytest.raises(InvalidInput, match=r"metrics\.accuracy"):
        draft("churn", "1.2.0", NewVersion(metrics={"accuracy": "high"}))  # type: ignore[dict-item]
    with pytest.raises(InvalidInput, match="must name a version"):
        draft("churn", "1.2.0", NewVersion(lineage=Lineage(depends_on=("features",))))
    with pytest.raises(InvalidInput):
        NewVersion.from_options(trained_at="not a date")
