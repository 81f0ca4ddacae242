"""repo/blockyaml.py reads gitreg's subset of YAML exactly as PyYAML's safe loader does, and
leaves everything else to it (issue 19): compared on what ``yamlio.dumps`` writes and on
hand-made lines from the edges of YAML 1.1.

Derandomized so that CI runs the same examples; ``GITREG_FUZZ_EXAMPLES=20000`` runs more.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitreg.errors import CorruptRegistry
from gitreg.repo import blockyaml, yamlio

_LONG = int(os.environ.get("GITREG_FUZZ_EXAMPLES", "0"))
SETTINGS = settings(max_examples=_LONG or 300, derandomize=not _LONG, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def safe_load(text: str | bytes) -> Any:
    return yaml.load(text, Loader=yaml.SafeLoader)


def same(text: str | bytes) -> None:
    """blockyaml gives PyYAML's value, types included, or leaves the text to it."""
    fast = blockyaml.loads(text)
    if fast is None:
        return
    try:
        slow = safe_load(text)
    except yaml.YAMLError:
        pytest.fail(f"blockyaml read {text!r} as {fast!r}, which PyYAML refuses")
    assert fast == slow and repr(fast) == repr(slow), text


# Scalars from the edges of YAML 1.1's implicit types and of plain scalars.
TRICKY = ["yes", "No", "on", "OFF", "y", "n", "~", "null", "Null", "NULL", "", "0", "00",
          "07", "08", "0x1F", "0b101", "0o17", "1_000", "1:30", "190:20:30", "-1", "+1", "1.",
          ".5", "+.5", "-.5", "1e5", "1.0e5", "1.0e+5", "1.5E-3", ".inf", "-.Inf", ".nan",
          "2024-01-01", "2024-01-01T12:00:00Z", "1.2.3", "1.2.3-rc.1", "v1.2", "<<", "=",
          "9fda5fc89a9175ea", "1234e567", "a b", "a  b", "a:b", "a: b", "a #b", "a#b", "- a",
          "-a", "?a", ":a", "a:", "'a'", "it's", "\"a\"", "[a]", "{a: 1}", "a,b", "&a", "*a",
          "!a", "|", ">", "%a", "@a", "`a", "a\tb", "é", "1.2.3.4", "0.823", "-0.0", "1e",
          "Bench User <bench@example.com>", "models/m/artifacts/1.2.3/model.bin", "TRUE"]
scalars = st.one_of(
    st.sampled_from(TRICKY), st.text(max_size=12), st.integers(), st.floats(),
    st.booleans(), st.none(),
)
keys = st.one_of(st.sampled_from(TRICKY), st.text(min_size=1, max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


@SETTINGS
@given(st.dictionaries(keys, values, min_size=1, max_size=6))
def test_what_gitreg_writes_reads_back_the_same(data: dict[str, Any]) -> None:
    text = yamlio.dumps(data)
    same(text)
    same(text.encode())


def test_gitreg_files_take_the_fast_path() -> None:
    text = yamlio.dumps({"name": "churn", "version": "1.2.3", "metrics": {"accuracy": 0.9},
                         "features": ["a", "b"], "labels": [], "registered_at":
                         "2024-01-01T12:00:00+00:00", "artifact": {"md5": "9fda5fc8", "size": 3},
                         "outs": [{"md5": "0123abcd", "path": "model.bin"}], "parent": None})
    assert blockyaml.loads(text) == safe_load(text)


lines = st.lists(st.tuples(st.sampled_from([0, 0, 2, 4, 1]), st.one_of(
    st.builds(lambda k, v: f"{k}: {v}", st.sampled_from(TRICKY), st.sampled_from(TRICKY)),
    st.builds(lambda k: f"{k}:", st.sampled_from(TRICKY)),
    st.builds(lambda v: f"- {v}", st.sampled_from(TRICKY)),
    st.builds(lambda k, v: f"- {k}: {v}", st.sampled_from(TRICKY), st.sampled_from(TRICKY)),
    st.sampled_from(["-", "---", "...", "# c", "a: [1, 2]", "a: {b: c}", "a: |", "  b",
                     "a: &x 1", "b: *x", "a: !!str 1", "? a", "a:  b", "\ta: b"]),
)), min_size=1, max_size=8)


@SETTINGS
@given(lines)
def test_hand_made_documents_read_as_pyyaml_reads_them(found: list[tuple[int, str]]) -> None:
    same("\n".join(" " * indent + line for indent, line in found) + "\n")


def test_what_it_does_not_read_still_fails_clearly() -> None:
    with pytest.raises(CorruptRegistry, match="not valid YAML"):
        yamlio.loads("a: b: c\n", "f.yaml")
    assert yamlio.loads("a: &x 1\nb: *x\n", "f.yaml") == {"a": 1, "b": 1}
    assert yamlio.loads("d: 2024-01-01\n", "f.yaml") == safe_load("d: 2024-01-01\n")
