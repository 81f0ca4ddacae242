"""core/layout.py: the paths of a registry's files, and back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gitreg.core.layout import Kind, Layout, Place

NAMES = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True).filter(
    lambda n: ".." not in n)
VERSIONS = st.builds(lambda a, b, c: f"{a}.{b}.{c}", *(st.integers(0, 999),) * 3)


def test_the_documented_layout() -> None:
    layout = Layout()
    assert layout.stages_file("churn") == "models/churn/stages.yaml"
    assert layout.version_file("churn", "1.2.0") == "models/churn/versions/1.2.0.yaml"
    assert layout.artifacts("churn", "1.2.0") == "models/churn/artifacts/1.2.0"
    assert layout.patterns() == ("models/*/stages.yaml", "models/*/versions/*.yaml",
                                 "models/*/deprecated.yaml")
    assert layout.place("models/a/deprecated.yaml") == Place(Kind.DEPRECATIONS, "a")
    assert Layout("registry/m").stages_file("a") == "registry/m/a/stages.yaml"


@given(NAMES, VERSIONS, st.sampled_from(["models", "m", "deep/er"]))
def test_a_file_is_placed_back_where_it_came_from(name: str, version: str, top: str) -> None:
    layout = Layout(top)
    assert layout.place(layout.stages_file(name)) == Place(Kind.STAGES, name)
    assert layout.place(layout.version_file(name, version)) == Place(Kind.VERSION, name, version)


def test_other_paths_are_no_registry_file() -> None:
    layout = Layout()
    for path in ["registry.yaml", "models/churn", "models/churn/versions/1.0.0.yml",
                 "models/churn/artifacts/1.0.0/model.pkl", "other/churn/stages.yaml",
                 "models/churn/sub/stages.yaml", "models/stages.yaml"]:
        assert layout.place(path) is None, path
