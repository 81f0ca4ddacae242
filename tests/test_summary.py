"""repo/summary.py reads what `gitreg list` shows of a version file straight from its text:
a summary it reads is the one the full parse (blockyaml or PyYAML, then version_from_dict)
gives, and a file the full parse refuses (or that names another place) it leaves to it.
Compared on version files written by yamlio.dumps from generated values, and on edits of
them (issue 19).

Derandomized so that CI runs the same examples; ``GITREG_FUZZ_EXAMPLES=20000`` runs more.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_registries import churn

from gitreg.core.records import summary_of, version_to_dict
from gitreg.errors import GitregError
from gitreg.repo import parsers, summary, yamlio
from gitreg.service.registry import check_place

_LONG = int(os.environ.get("GITREG_FUZZ_EXAMPLES", "0"))
SETTINGS = settings(max_examples=_LONG or 400, derandomize=not _LONG, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Scalars from the edges of YAML 1.1's implicit types and of plain scalars (as
# test_blockyaml.py's), and the values gitreg writes.
TRICKY = ["yes", "No", "on", "OFF", "y", "n", "~", "null", "NULL", "", " ", "0", "07", "08",
          "0x1F", "0b101", "0b12", "0b", "1_000", "1:30", "-1", "+1", "1.", ".5", "-.5", "1e5",
          "1.0e5", "1.0e+5", "1.5E-3", ".inf", ".nan", "2024-01-01", "2024-01-01T12:00:00Z",
          "1.2.3", "1.2.3-rc.1", "v1.2", "<<", "=", "9fda5fc89a9175ea", "0b68f2a5b15da7db",
          "1234e567", "12345678901234567890", "a b", "a  b", "a:b", "a: b", "a:", "a #b",
          "a#b", "- a", "-a", "?a", ":a", "'a'", "it's", "\"a\"", "[a]", "a,b", "&a", "*a",
          "!a", "|", "%a", "@a", "a\tb", "é", "md5:aaa", "Bench User <bench@example.com>",
          "models/m/artifacts/1.2.3/model.bin", "../x", "a//b", "./a", "a\\b", "RandomForest",
          "2024-01-01T12:01:00+00:00", "churn", "x" * 30]
texts = st.one_of(st.sampled_from(TRICKY), st.text(max_size=10))
numbers = st.one_of(st.integers(), st.floats(), st.sampled_from([0.1, -0.0, 1e-7, 1e300,
                                                                  2 ** 80, True, None, "1"]))
keys = st.one_of(st.sampled_from(TRICKY), st.text(min_size=1, max_size=6))
scalars = st.one_of(texts, numbers, st.booleans(), st.none())
plain = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)), max_leaves=6)
names = st.one_of(st.sampled_from(["churn", "yes", "123", "1e5", "0b1", "a.b", "n"]),
                  st.from_regex(r"[a-z0-9][a-z0-9_-]{0,8}", fullmatch=True))
versions = st.sampled_from(["1.0.0", "0.1.0", "1.2.3-rc.1", "2.0.0+build.5", "10.20.30",
                            "01.0.0", "1.0", "1.0.0-"])


# What gitreg writes, mostly: plain words, quoted text, hashes, finite numbers.
words = st.from_regex(r"[A-Za-z][A-Za-z0-9_./@<>()+=-]{0,6}(:[a-z0-9]{1,3})?( [a-z0-9]{1,4})?",
                      fullmatch=True)
good_texts = st.one_of(words, st.sampled_from(["9fda5fc89a9175ea", "0b68f2a5", "it's", "a: b",
                                               "1.2.3", "2024-01-01T12:01:00+00:00"]))
good_numbers = st.one_of(st.integers(min_value=-10**6, max_value=10**6),
                         st.floats(allow_nan=False, allow_infinity=False))
good_keys = st.from_regex(r"[a-z_][a-z0-9_./-]{0,6}", fullmatch=True)


@st.composite
def version_files(draw: st.DrawFn) -> tuple[dict[str, Any], str, str]:
    """A version file's mapping and its place: every field as gitreg writes it, or one of
    them (or none) from the edges."""
    odd = draw(st.integers(min_value=0, max_value=30))
    count = iter(range(31))

    def pick(good: st.SearchStrategy[Any], edge: st.SearchStrategy[Any]) -> Any:
        return draw(edge if next(count) == odd else good)

    name = pick(st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True), names)
    version = pick(st.sampled_from(["1.0.0", "1.2.3-rc.1", "2.0.0+build.5"]), versions)
    optional_text = st.one_of(st.none(), good_texts)
    data: dict[str, Any] = {
        "name": pick(st.just(name), names),
        "version": pick(st.just(version), versions),
        "registered_at": pick(st.just("2024-01-01T12:01:00+00:00"), texts),
        "registered_by": pick(good_texts, texts),
        "trained_at": pick(optional_text, texts),
        "model_type": pick(optional_text, texts),
        "description": pick(optional_text, texts),
        "metrics": pick(st.dictionaries(good_keys, good_numbers, max_size=5),
                        st.dictionaries(keys, numbers, max_size=4)),
        "hyperparameters": pick(st.dictionaries(good_keys, st.one_of(
            good_texts, good_numbers, st.booleans(), st.none()), max_size=3),
            st.dictionaries(keys, plain, max_size=3)),
        "features": pick(st.lists(good_texts, max_size=3), st.lists(texts, max_size=3)),
        "labels": pick(st.lists(good_texts, max_size=2), st.lists(texts, max_size=2)),
        "artifact": {"path": pick(st.just(f"models/{name}/a/{version}/m.bin"), texts),
                     "format": pick(good_texts, texts), "md5": pick(good_texts, texts),
                     "size": pick(st.integers(min_value=0), numbers)},
        "lineage": {"code_commit": pick(optional_text, texts),
                    "data": pick(st.dictionaries(good_keys, good_texts, max_size=2),
                                 st.dictionaries(keys, st.one_of(texts, numbers), max_size=2)),
                    "depends_on": pick(st.lists(good_texts, max_size=2),
                                       st.lists(texts, max_size=2)),
                    "parent": pick(st.one_of(st.none(), versions), texts)},
    }
    if draw(st.booleans()):
        data["artifact"]["nfiles"] = pick(st.integers(min_value=0), numbers)
    return data, name, version


def agree(text: str | bytes, name: str, version: str) -> bool:
    """Whether ``read`` takes the file (and then gives the full parse's summary), and
    ``checked`` with it (and then the full parse's weights and dependencies)."""
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    fast = summary.read(data, name, version)
    checked = summary.checked(data, name, version)
    assert (fast is None) == (checked is None), data
    if fast is None:
        return False
    try:
        record, _ = parsers.VERSIONS.parse(data, "v.yaml")
        check_place(record, name, version, "v.yaml")
    except GitregError as exc:
        raise AssertionError(f"read {data!r} as {fast!r}; the full parse: {exc}") from None
    # repr: 1 and 1.0 (and 0.0 and -0.0) are equal but print differently.
    assert repr(fast) == repr(summary_of(record)), data
    artifact = record.artifact
    assert checked == (artifact.path, artifact.md5, artifact.size, artifact.nfiles,
                       tuple(record.lineage.depends_on)), data
    return True


@SETTINGS
@given(version_files())
def test_a_summary_is_the_full_parse_s(drawn: tuple[dict[str, Any], str, str]) -> None:
    data, name, version = drawn
    agree(yamlio.dumps(data), name, version)


@SETTINGS
@given(version_files(), st.lists(st.tuples(
    st.integers(min_value=0), st.integers(min_value=0, max_value=3),
    st.sampled_from(["", " ", "  ", "'", "''", ":", ": ", "-", "- ", "#", " #", "\n", "\n ",
                     "0", "a", ",", "\t", "é", "null", "~", "{}", "[]", "&a", "*a", "!!str ",
                     "  x: 1\n", "- b\n", "1.", "e+999", "0b", "\r"])), min_size=1, max_size=3))
def test_an_edited_file_is_read_right_or_left_to_the_full_parse(
        drawn: tuple[dict[str, Any], str, str], edits: list[tuple[int, int, str]]) -> None:
    data, name, version = drawn
    text = yamlio.dumps(data)
    for at, cut, insert in edits:
        at %= len(text) + 1
        text = text[:at] + insert + text[at + cut:]
    agree(text, name, version)


def test_the_files_gitreg_writes_take_the_fast_path(tmp_path: Any) -> None:
    registry = churn(tmp_path)
    folder = registry.root / "models" / "churn" / "versions"
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        assert agree((folder / f"{version}.yaml").read_bytes(), "churn", version)
    record = registry.record("churn", "1.0.0")
    text = yamlio.dumps(version_to_dict(record))
    assert agree(text, "churn", "1.0.0")
    # A place the file does not name, or a version not in normal form: the full parse's.
    assert not agree(text, "fraud", "1.0.0") and not agree(text, "churn", "1.0.1")
    for before, after in (("accuracy: 0.9", "accuracy: .inf"), ("accuracy: 0.9", "accuracy: 09"),
                          ("format:", "format: null\n  x:")):
        edited = text.replace(before, after, 1)
        assert edited != text and not agree(edited, "churn", "1.0.0")
