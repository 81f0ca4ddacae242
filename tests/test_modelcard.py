"""``gitreg export model-card``: the card parsed back with huggingface_hub's own parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from conftest import run_cli
from huggingface_hub import ModelCard
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg.core.records import Lineage
from gitreg.repo import yamlio
from gitreg.service.registry import NewVersion, Registry


def _registered(registry: Registry, weights: Path) -> None:
    info = NewVersion(
        metrics={"accuracy": 0.93, "val_loss": 0.21},
        hyperparameters={"n_estimators": 100, "criterion": "gini"},
        model_type="RandomForest",
        description="Churn model | trained on Q3.\n\x1b[31mred\x1b[0m",
        labels=("license=apache-2.0", "task=tabular-classification", "team=growth", "tabular"),
        lineage=Lineage(code_commit="3f2c1d0", data={"customers-q3": "md5:aaa"},
                        parent="churn@1.0.0"),
    )
    registry.register("churn", weights, version="1.1.0", info=info)


def test_card_parses_with_huggingface_hub(registry: Registry, weights: Path,
                                          tmp_path: Path) -> None:
    _registered(registry, weights)
    out = tmp_path / "card" / "README.md"
    proc = run_cli("export", "model-card", "churn@v1.1.0", "-o", str(out), cwd=registry.root,
                   check=True)
    assert f"written to {out}" in proc.stdout
    card = ModelCard.load(out)
    data = card.data
    assert data.license == "apache-2.0"
    assert data.base_model == "churn@1.0.0"
    assert data.datasets == ["customers-q3"]
    assert data.tags == ["team=growth", "tabular"]
    assert data.model_name == "churn"
    results = {r.metric_type: r for r in data.eval_results}
    assert {k: r.metric_value for k, r in results.items()} == {"accuracy": 0.93,
                                                                 "val_loss": 0.21}
    assert results["accuracy"].task_type == "tabular-classification"
    assert results["accuracy"].dataset_name == "customers-q3"
    assert "Churn model | trained on Q3." in card.text
    assert "\x1b" not in card.content  # a cloned registry's escape codes stay out
    assert "| n_estimators | 100 |" in card.text
    assert "| accuracy | 0.93 |" in card.text
    assert "| RandomForest" not in card.text and "**Model type**: RandomForest" in card.text


def test_card_through_the_api(registry: Registry, weights: Path) -> None:
    from gitreg import ModelRegistry

    _registered(registry, weights)
    card = ModelCard(ModelRegistry(registry.root).model_card("1.1.0", name="churn"))
    assert card.data.base_model == "churn@1.0.0"


def test_card_without_metrics_or_lineage_prints(registry: Registry, weights: Path) -> None:
    registry.register("churn", weights, version="1.0.0")
    proc = run_cli("export", "model-card", "churn@1.0.0", cwd=registry.root, check=True)
    card = ModelCard(proc.stdout)
    assert card.data.to_dict() == {}
    assert card.text.startswith("# churn 1.0.0")


def test_card_of_unknown_version_or_no_version(registry: Registry, weights: Path,
                                               tmp_path: Path) -> None:
    registry.register("churn", weights, version="1.0.0")
    out = tmp_path / "README.md"
    proc = run_cli("export", "model-card", "churn@2.0.0", "-o", str(out), cwd=registry.root)
    assert proc.returncode == 4 and proc.stderr.startswith("gitreg: error: churn has no version")
    assert not out.exists()
    proc = run_cli("export", "model-card", "churn", cwd=registry.root)
    assert proc.returncode == 3 and "NAME@VERSION" in proc.stderr


def test_card_output_keeps_a_file_unless_forced_and_fills_a_folder(
        registry: Registry, weights: Path, tmp_path: Path) -> None:
    """A model repository's README.md is often written by hand: -o does not replace it
    without --force (as `get -o`); -o FOLDER writes FOLDER/README.md, where the Hub reads
    a card; NAME@latest is accepted as everywhere else."""
    _registered(registry, weights)
    readme = tmp_path / "hf-repo" / "README.md"
    readme.parent.mkdir()
    readme.write_text("# written by hand\n")
    kept = run_cli("export", "model-card", "churn@1.1.0", "-o", str(readme), cwd=registry.root)
    assert kept.returncode == 5 and "--force" in kept.stderr
    assert len(kept.stderr.splitlines()) == 1
    assert readme.read_text() == "# written by hand\n"
    into = run_cli("export", "model-card", "churn@1.1.0", "-o", str(readme.parent),
                   cwd=registry.root)
    assert into.returncode == 5 and readme.read_text() == "# written by hand\n"
    done = run_cli("export", "model-card", "churn@latest", "-o", str(readme.parent),
                   "--force", cwd=registry.root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"model card of churn 1.1.0 written to {readme}"
    assert ModelCard.load(readme).data.base_model == "churn@1.0.0"
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    run_cli("export", "model-card", "churn@1.1.0", "-o", str(fresh), cwd=registry.root,
            check=True)
    assert ModelCard.load(fresh / "README.md").data.license == "apache-2.0"
    # FOLDER/ is a folder even where none is yet, as with `get -o` (it was a file "card").
    made = tmp_path / "made" / "card"
    run_cli("export", "model-card", "churn@1.1.0", "-o", f"{made}/", cwd=registry.root,
            check=True)
    assert ModelCard.load(made / "README.md").data.license == "apache-2.0"


def test_a_card_or_weights_under_a_file_is_one_line(registry: Registry, weights: Path,
                                                    tmp_path: Path) -> None:
    # -o FILE/x was a FileExistsError traceback ("internal error: this is a bug").
    _registered(registry, weights)
    a_file = tmp_path / "model.pkl"
    a_file.write_text("weights\n")
    for args in (["export", "model-card", "churn@1.1.0", "-o", f"{a_file}/card.md"],
                 ["export", "model-card", "churn@1.1.0", "-o", f"{a_file}/"],
                 ["get", "churn", "--version", "1.1.0", "-o", f"{a_file}/x"],
                 ["get", "churn", "--version", "1.1.0", "-o", f"{a_file}/x/"]):
        proc = run_cli(*args, cwd=registry.root)
        assert proc.returncode == 3, (args, proc.stderr)
        assert proc.stderr.endswith(f"{a_file} is not a folder; give another -o PATH\n") \
            or proc.stderr.endswith(f"{a_file} is not a folder; give another -o FILE\n"), \
            proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and proc.stdout == ""
    assert a_file.read_text() == "weights\n"


# The card's front matter is written by yamlio.dumps_plain, not PyYAML's representer (issue
# 15: a quarter of `gitreg site` at 10,000 versions): whatever a card holds loads back as it
# was, with huggingface_hub's parser (PyYAML's safe loader), and reads as PyYAML writes it.
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),
    st.text(max_size=30),
    st.sampled_from(["1.9.8", "1.10", "no", "Yes", "null", "~", "0x1f", "1_000", "1:20",
                     "2026-12-04", "=", "<<", "a: b", "a #b", "- x", "'q'", '"q"', "\\",
                     "e10", "1e5", ".inf", "-", "x\ny", "\x85", "tab\there", "é ü"]),
)
_FRONT = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(st.one_of(_SCALARS, st.dictionaries(
                                st.text(max_size=10), inner, max_size=3)), max_size=4),
                            st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=10), _FRONT, min_size=1, max_size=5))
def test_card_yaml_loads_back_as_written(data: dict[str, Any]) -> None:
    text = yamlio.dumps_plain(data)
    loaded = yaml.safe_load(text)
    assert loaded == data or _has_nan(data)  # NaN != NaN


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return value != value
    items = value.values() if isinstance(value, dict) else value if isinstance(
        value, list) else ()
    return any(_has_nan(v) for v in items)


def test_card_yaml_is_pyyaml_s_where_it_can_be() -> None:
    card = {"license": "apache-2.0", "base_model": "1.9.8", "datasets": ["customers-q3"],
            "tags": ["team=growth", "tabular"], "model-index": [{"name": "churn", "results": [{
                "task": {"type": "other"}, "dataset": {"type": "d", "name": "d"},
                "metrics": [{"type": "acc", "name": "acc", "value": 0.93},
                            {"type": "tiny", "name": "tiny", "value": 1e-05},
                            {"type": "big", "name": "big", "value": 10**20}]}]}]}
    assert yamlio.dumps_plain(card) == yamlio.dumps(card)
    assert yamlio.dumps_plain({"a": "x y", "b": "no"}) == 'a: "x y"\nb: "no"\n'
