"""The command line as a user meets it: a walkthrough, then every read command's --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git, run_cli


@pytest.fixture
def walkthrough(tmp_path: Path, storage: Path) -> Path:
    """The README's CLI walkthrough, command by command."""
    root = tmp_path / "reg"
    root.mkdir()
    assert run_cli("init", "--remote", str(storage), cwd=root).returncode == 0
    features = tmp_path / "features.bin"
    features.write_bytes(b"features")
    # What the versions depend on must be registered first (a write never leaves check failing).
    assert run_cli("register", "customer-features", str(features), "--version", "2.1.0",
                   cwd=root).returncode == 0
    meta = tmp_path / "meta.yaml"
    meta.write_text(
        "description: baseline\nlabels: [tabular]\n"
        "lineage:\n  code_commit: 3f2c1d0\n  data: {train.csv: md5:abc}\n"
        "  depends_on: [customer-features@2.1.0]\n"
    )
    for i, accuracy in enumerate(["0.81", "0.86"], start=1):
        weights = tmp_path / f"model-{i}.pkl"
        weights.write_bytes(f"model {i}".encode() * 50)
        args = ["register", "churn", str(weights), "--metric", f"accuracy={accuracy}",
                "--param", "n_estimators=100", "--param", "criterion=gini",
                "--param", "bootstrap=true", "--param", "lr=0.05",
                "--feature", "age", "--feature", "plan", "--type", "RandomForest",
                "--trained-at", "2026-05-01T10:00:00+00:00", "--meta", str(meta)]
        if i == 2:
            args += ["--bump", "minor", "--stage", "dev"]
        proc = run_cli(*args, cwd=root)
        assert proc.returncode == 0, proc.stderr
    assert run_cli("promote", "churn", "0.2.0", "production", cwd=root).returncode == 0
    return root


def test_register_writes_the_version_file_and_tags(walkthrough: Path) -> None:
    root = walkthrough
    text = (root / "models/churn/versions/0.1.0.yaml").read_text()
    assert "n_estimators: 100\n" in text and "bootstrap: true\n" in text
    assert "lr: 0.05\n" in text and "criterion: gini\n" in text
    assert "- customer-features@2.1.0" in text and "description: baseline" in text
    assert set(git(root, "tag").split()) == {
        "churn@v0.1.0", "churn@v0.2.0", "churn/dev/1", "churn/production/1",
        "customer-features@v2.1.0"}
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
    assert git(root, "cat-file", "-t", "churn@v0.1.0").strip() == "tag"  # annotated


def test_read_commands_in_json(walkthrough: Path) -> None:
    root = walkthrough

    def read(*args: str) -> object:
        proc = run_cli(*args, "--json", cwd=root)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    listing = read("list", "churn")
    assert [(v["version"], v["stages"]) for v in listing] == [
        ("0.1.0", []), ("0.2.0", ["dev", "production"])]
    assert listing[0]["hyperparameters"] == {
        "n_estimators": 100, "criterion": "gini", "bootstrap": True, "lr": 0.05}
    assert [v["version"] for v in read("list", "--min-metric", "accuracy=0.85")] == ["0.2.0"]
    assert [v["version"] for v in read("list", "churn", "--stage", "dev")] == ["0.2.0"]

    shown = read("show", "churn#production")
    assert shown["version"] == "0.2.0" and shown["metrics"] == {"accuracy": 0.86}
    assert shown["trained_at"] == "2026-05-01T10:00:00+00:00"
    assert read("show", "churn@v0.1.0")["artifact"]["size"] == 350
    assert read("show", "churn")["stages"] == {"dev": ["0.2.0"], "staging": [],
                                               "production": ["0.2.0"]}
    assert read("which", "churn", "production")["version"] == "0.2.0"
    events = read("history", "churn")
    assert [(e["action"], e["stage"], e["version"], e["tag"]) for e in events] == [
        ("register", None, "0.1.0", "churn@v0.1.0"),
        ("register", None, "0.2.0", "churn@v0.2.0"),
        ("promote", "dev", "0.2.0", "churn/dev/1"),
        ("promote", "production", "0.2.0", "churn/production/1"),
    ]


def test_tables_and_plain_output(walkthrough: Path, tmp_path: Path) -> None:
    root = walkthrough
    assert run_cli("which", "churn", "production", cwd=root).stdout == "0.2.0\n"
    table = run_cli("list", cwd=root).stdout.splitlines()
    assert table[0].split() == ["MODEL", "VERSION", "STAGES", "REGISTERED", "TYPE", "METRICS"]
    assert "dev,production" in table[2]
    out = tmp_path / "deploy" / "model.pkl"
    proc = run_cli("get", "churn", "--stage", "production", "-o", str(out), cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == (tmp_path / "model-2.pkl").read_bytes()
    # Run from a subfolder: the registry is found above it.
    proc = run_cli("rollback", "churn", "production", cwd=root / "models")
    assert proc.returncode == 4 and "nothing to roll back to" in proc.stderr


def test_read_commands_do_not_import_dvc(walkthrough: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from gitreg.cli.app import main; "
        "rc = [main(a) for a in (['list'], ['show', 'churn'], ['which', 'churn', 'production'],"
        " ['history', 'churn'])]; "
        "print(rc, any(m == 'dvc' or m.startswith('dvc.') for m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=walkthrough, capture_output=True,
                          text=True)
    assert proc.stdout.strip().splitlines()[-1] == "[0, 0, 0, 0] False", proc.stderr


# Each command as the console script runs it, in a process of its own: what it imported.
_IMPORTED = (
    "import sys; from gitreg.cli.console import main; rc = main(sys.argv[1:]); "
    "top = {m.split('.')[0] for m in sys.modules}; "
    "print(rc, 'dvc' in top, 'pydantic' in top, 'typer' in top)"
)


@pytest.mark.parametrize("call", [
    ["list"], ["list", "churn", "--json"], ["show", "churn"], ["show", "churn@0.1.0", "--json"],
    ["which", "churn", "production"], ["which", "churn", "production", "--json"],
    ["history", "churn"], ["diff", "churn", "0.1.0", "0.2.0", "--format", "json"],
    ["check"], ["check", "--json"], ["remote", "list", "--json"],
    ["ci", "event", "churn@v0.2.0", "--format", "github"],
], ids=" ".join)
def test_read_commands_import_neither_dvc_nor_pydantic(walkthrough: Path, call: list[str]) -> None:
    """typer 0.29 converts option values with pydantic (~0.1 s of CPU to import) and DVC
    takes longer still: a read needs neither (issues 5, 19); fastlane.py parses it. `which`,
    `show`, `list` and `check` need not even typer (reads.py; issue 19 points 1, 2, 5)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _IMPORTED, *call], cwd=walkthrough,
                          capture_output=True, text=True)
    typer = call[0] not in ("which", "show", "list", "check")
    assert proc.stdout.splitlines()[-1] == f"0 False False {typer}", proc.stderr


def test_register_and_get_import_no_pydantic(walkthrough: Path, tmp_path: Path) -> None:
    """Nor does a write: register (with a path argument and a --bump choice) and get; nor
    even typer."""
    import subprocess
    import sys

    weights = tmp_path / "model-3.pkl"
    weights.write_bytes(b"model 3" * 50)
    for call in (["register", "churn", str(weights), "--bump", "major", "--metric", "a=1",
                  "--meta", str(tmp_path / "meta.yaml"), "-q"],
                 ["get", "churn", "--version", "1.0.0", "-o", str(tmp_path / "out.pkl")]):
        proc = subprocess.run([sys.executable, "-c", _IMPORTED, *call], cwd=walkthrough,
                              capture_output=True, text=True)
        assert proc.stdout.splitlines()[-1].split()[::2] == ["0", "False"], proc.stderr
        # and without typer either (registration.py; issue 19 point 4)
        assert proc.stdout.split()[-1] == "False", proc.stdout
    assert (tmp_path / "out.pkl").read_bytes() == weights.read_bytes()


def test_get_into_a_folder_named_with_a_slash(walkthrough: Path) -> None:
    # `-o model/` is a folder to write into (as CI examples use it), not a file named model.
    proc = run_cli("get", "churn", "--stage", "production", "-o", "model/", cwd=walkthrough)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (walkthrough / "model").iterdir()] == ["model-2.pkl"]
    failed = run_cli("get", "churn", "--stage", "staging", "-o", "empty/", cwd=walkthrough)
    assert failed.returncode == 4  # staging holds nothing
    assert not (walkthrough / "empty").exists()  # the folder it made is gone again
