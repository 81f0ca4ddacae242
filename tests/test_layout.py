"""core/layout.py: the paths of a registry's files, and back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitreg.core.layout import Kind, Layout, Place
from gitreg.core.names import MAX_VERSION_LENGTH, Version, check_name
from gitreg.errors import InvalidInput

NAMES = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True).filter(
    lambda n: ".." not in n and not n.endswith((".", ".lock")))
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



def accepted(name: str, version: str | None = None) -> bool:
    """names.py's verdict: gitreg would make ``name`` (and ``version``) a tag and a path."""
    try:
        check_name(name)
        return version is None or (
            len(version) <= MAX_VERSION_LENGTH and str(Version.parse(version)) == version)
    except InvalidInput:
        return False


# Names and versions a cloned registry's history may hold that gitreg refuses: whatever
# place() returns becomes a tag (ci tag) or a path.
REFUSED = ["models/A/versions/1.0.0.yaml", "models/-rf/versions/1.0.0.yaml",
           "models/.hidden/stages.yaml", "models/a b/stages.yaml", "models/a..b/stages.yaml",
           "models/a./deprecated.yaml", "models/x.lock/stages.yaml",
           f"models/{'x' * 101}/stages.yaml", "models/ch\nurn/stages.yaml",
           "models/churn/versions/01.0.0.yaml", "models/churn/versions/v1.0.0.yaml",
           "models/churn/versions/1.0.yaml", "models/churn/versions/1.0.0-rc.lock.yaml",
           "models/churn/versions/1.0.0 .yaml", "models/churn/versions/.yaml",
           "models/churn/versions/1.\u0661.0.yaml",  # an Arabic-Indic digit one
           f"models/churn/versions/1.0.0-{'a' * 123}.yaml"]  # 129 characters


@pytest.mark.parametrize("path", REFUSED)
def test_a_file_whose_names_gitreg_refuses_is_no_registry_file(path: str) -> None:
    layout = Layout()
    assert layout.place(path) is None
    assert layout.misnamed(path)
    name, _, rest = path.removeprefix("models/").partition("/")
    version = rest.removeprefix("versions/").removesuffix(".yaml")
    assert not accepted(name, version if rest.startswith("versions/") else None)


def test_the_longest_names_are_placed() -> None:
    layout = Layout()
    name, version = "x" * 100, f"1.0.0-{'a' * 122}"
    assert layout.place(layout.version_file(name, version)) == Place(Kind.VERSION, name,
                                                                      version)
    assert not layout.misnamed(layout.stages_file(name))


@given(st.text("aZ09.-_ @+v\n", max_size=12), st.text("019.-+av \n", max_size=12))
def test_place_says_what_names_says(name: str, version: str) -> None:
    layout = Layout()
    assert (layout.place(layout.stages_file(name)) is not None) == accepted(name)
    assert (layout.place(layout.version_file(name, version)) is not None) == accepted(
        name, version)
