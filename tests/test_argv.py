"""The command line's fast lane (argv.py): the same answers as typer, or typer's answer."""

from __future__ import annotations

from pathlib import Path

import pytest
import sample_registries

from gitreg.cli import app as cli
from gitreg.cli import fastlane as argv

CALLS = [
    ["which", "churn", "production"],
    ["which", "churn", "production", "--json"],
    ["which", "--json", "churn", "staging"],
    ["which", "churn", "production", "--rev", "HEAD~1"],
    ["which", "churn", "production", "--rev=HEAD~2"],
    ["which", "churn", "production", "--at", "2999-01-01"],
    ["which", "churn", "dev"],
    ["which", "churn", "nosuchstage"],
    ["which", "churn"],
    ["which", "churn", "production", "extra"],
    ["which", "churn", "production", "--bogus"],
    ["which", "churn", "production", "--rev"],
    ["which", "churn", "production", "--json=yes"],
    ["which", "--help"],
    ["which", "--", "churn", "production"],
    ["show", "churn"],
    ["show", "churn", "--json"],
    ["show", "churn@1.0.0"],
    ["show", "churn#staging", "--json"],
    ["show", "nosuch"],
    ["history"],
    ["history", "churn", "--stage", "production", "--json"],
    ["history", "--stage=staging"],
    ["list"],
    ["list", "churn", "--json"],
    ["list", "--min-metric", "accuracy=0.9", "--min-metric", "latency_ms=0"],
    ["list", "--stage", "production", "--min-metric"],
    ["list", "--min-metric", "accuracy"],
    ["list", "churn", "--sort", "accuracy", "--limit", "1", "--all", "--json"],
    ["list", "--label", "team", "--type", "RandomForest", "--max-metric", "accuracy=0.9"],
    ["list", "--limit", "x"],
    ["show", "churn@latest"],
    ["deprecate", "churn@1.1.0"],
    ["deprecate", "churn@1.0.0", "--reason", "old"],
    ["deprecate", "churn@1.1.0", "--reason", "bad", "--json"],
    ["restore", "churn@1.1.0"],
    ["annotate", "churn@9.9.9", "--label", "a=b", "--remove-label", "c"],
    ["annotate", "churn@1.2.0"],
    ["gc"],
    ["gc", "--keep-days", "x"],
    ["ci", "event", "churn/production/1"],
    ["ci", "event", "refs/tags/churn@v1.1.0"],
    ["ci", "event", "churn/production/1", "--format", "github"],
    ["ci", "event", "not-a-tag"],
    ["promote", "churn", "1.1.0", "production", "--force"],
    ["promote", "churn", "1.0.0", "production"],
    ["promote", "churn", "1.0.0", "production", "--no-push"],
    ["promote", "churn", "1.0.0", "production", "--no-propose"],
    ["promote", "churn", "1.0.0", "production", "--no-force"],
    ["rollback", "churn", "nosuchstage"],
    ["demote", "churn", "dev"],
    # Every other command goes through the lane too (issue 19): paths and choices.
    ["register", "churn", "nosuch.bin"],
    ["register", "churn", "nosuch.bin", "--version", "1.0.0", "--metric", "a=1", "-q"],
    ["register", "churn", "nosuch.bin", "--bump", "minor", "--meta", "nosuch.yaml"],
    ["register", "churn", "nosuch.bin", "--bump", "MINOR"],
    ["register", "churn", "nosuch.bin", "--bump=bogus"],
    ["register", "churn", "--bump", "major"],
    ["get", "churn", "--version", "9.9.9"],
    ["get", "churn", "--stage", "production", "-o", "out.bin", "--force"],
    ["get", "churn", "--rev", "HEAD"],
    ["diff", "churn", "1.0.0", "1.2.0"],
    ["diff", "churn", "1.0.0", "staging", "--format", "markdown"],
    ["diff", "churn", "1.0.0", "staging", "--format=json"],
    ["diff", "churn", "1.0.0", "staging", "--format", "JSON"],
    ["check"],
    ["check", "--json"],
    ["verify", "churn@1.0.0", "--offline", "--json"],
    ["remote", "list", "--json"],
    ["init"],
    ["push", "-q"],
    ["ci", "tag"],
    ["import", "mlflow"],
    ["import", "mlflow", "--model", "m"],
    ["export", "model-card", "churn@1.0.0"],
    ["export", "model-card", "churn"],
    ["site", "--port", "x"],
]


@pytest.fixture
def registry_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = sample_registries.churn(tmp_path).root
    monkeypatch.chdir(root)
    return root


def outcome(call: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(call)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("call", CALLS, ids=" ".join)
def test_same_outcome_as_typer(
    call: list[str], registry_dir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = outcome(call, capsys)
    with monkeypatch.context() as patch:
        patch.setattr(cli, "_FAST", {})
        slow = outcome(call, capsys)
    assert fast == slow


def test_the_lane_takes_the_everyday_calls() -> None:
    assert argv.parse(cli.which, ["churn", "production", "--json"]) == {
        "name": "churn", "stage": "production", "at": None, "rev": None, "release": None,
        "json": True}
    # NAME and STAGE are optional since `which --release NAME` (issue 18): which checks them.
    assert argv.parse(cli.which, ["--release", "q3"]) == {
        "name": None, "stage": None, "at": None, "rev": None, "release": "q3", "json": False}
    assert argv.parse(cli.list_, ["--min-metric", "a=1", "--min-metric=b=2"]) == {
        "name": None, "stage": None, "min_metric": ["a=1", "b=2"], "max_metric": [],
        "label": [], "type": None, "registered_after": None, "registered_before": None,
        "by": None, "all": False, "sort": None, "limit": None, "json": False}
    assert argv.parse(cli.list_, ["churn", "--sort", "accuracy", "--limit", "1"]) is not None
    # --no-force: an option declared without flags has both, as typer gives it.
    assert argv.parse(cli.promote, ["churn", "1.0.0", "production", "--no-force"]) == {
        "name": "churn", "version": "1.0.0", "stage": "production", "force": False,
        "reason": None, "push": False, "propose": False, "sign": False}


@pytest.mark.parametrize("call", [
    ["churn", "production", "--help"], ["--", "churn", "production"], ["-x"],
    ["churn", "production", "--at"], ["churn", "production", "--json=1"],
])
def test_the_rest_goes_to_typer(call: list[str]) -> None:
    assert argv.parse(cli.which, call) is None


def test_a_value_that_is_no_choice_goes_to_typer() -> None:
    assert argv.parse(cli.ci_event, ["churn/production/1"]) == {
        "ref": "churn/production/1", "format": cli.EventFormat.JSON}
    assert argv.parse(cli.ci_event, ["churn/production/1", "--format", "github"]) == {
        "ref": "churn/production/1", "format": cli.EventFormat.GITHUB}
    assert argv.parse(cli.ci_event, ["churn/production/1", "--format", "yaml"]) is None
    assert argv.parse(cli.diff_, ["churn", "1.0.0", "1.2.0", "--format", "sideways"]) is None


def test_paths_and_choices_are_converted_as_typer_converts_them() -> None:
    from gitreg.core.newversion import Bump

    values = argv.parse(cli.register, ["churn", "model.bin", "--bump", "minor",
                                       "--meta", "meta.yaml"])
    assert values is not None
    assert (values["path"], values["bump"], values["meta"]) == (
        Path("model.bin"), Bump.MINOR, Path("meta.yaml"))
    assert argv.parse(cli.diff_, ["churn", "a", "b", "--format", "json"]) == {
        "name": "churn", "a": "a", "b": "b", "format": cli.DiffFormat.JSON, "release": None}
    # Left to typer, which explains: an empty path, a choice's name rather than its value.
    assert argv.parse(cli.register, ["churn", ""]) is None
    assert argv.parse(cli.register, ["churn", "model.bin", "--bump", "MINOR"]) is None
    assert argv.parse(cli.import_mlflow, []) is None  # a required option left out


def test_reads_declares_what_app_declares() -> None:
    """reads.py and registration.py run `which`, `show`, `list` and `register` without
    typer, from declarations of their own: they are what the lane reads from app.py's
    (issue 19)."""
    from gitreg.cli import reads, registration

    for name, (_, declared) in reads.DECLARED.items():
        command = getattr(cli, name, None) or getattr(cli, f"{name}_")  # list_: not list
        assert declared == argv.declarations(command), name
    assert argv.declarations(cli.register) == registration.DECLARED
    assert argv.declarations(cli.get) == registration.GET_DECLARED


@pytest.mark.parametrize("call", [c for c in CALLS if c[0] in ("which", "show", "list",
                                                                 "register", "check")] + [
    ["list", "--all"], ["list", "churn", "--limit", "2"], ["list", "nosuch"],
    ["list", "--limit", "0"], ["list", "--stage", "nosuchstage", "--all"],
    ["check"], ["check", "--json"], ["check", "--base", "HEAD"], ["check", "--base", "nosuch"],
    ["check", "--base"],  # and get's refusals (its success prints where it wrote: elsewhere)
    ["get", "churn", "--version", "9.9.9"], ["get", "churn", "--rev", "HEAD"],
    ["get", "churn", "-o", "model.bin"], ["get", "churn", "--stage", "nosuch", "-o", "d/"],
    ["which", "--release", "nosuch"], ["which", "churn", "production", "--at", "x", "--rev",
                                       "HEAD"],
    ["show", "release"], ["show", "churn#production"], ["show", "churn@9.9.9", "--json"],
    ["show", "churn", "extra", "--json"], ["show"],
    ["register", "churn", "model.bin", "--version", "1.3.0", "--metric", "accuracy=0.9",
     "--param", "depth=3", "--feature", "age", "--type", "Forest", "-q"],
    ["register", "churn", "model.bin", "--bump", "patch", "--metric", "accuracy=x"],
    ["register", "churn", "model.bin", "--version", "1.3.0", "--stage", "nosuchstage"],
], ids=" ".join)
def test_without_typer_the_same_outcome_as_typer(
    call: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gitreg.cli import console

    def fresh(where: str) -> None:  # a registration changes the registry: one each
        root = sample_registries.churn(tmp_path / where).root
        (root / "model.bin").write_bytes(b"weights")
        monkeypatch.chdir(root)

    fresh("without")
    code = console.main(call)
    fast = code, *capsys.readouterr()
    fresh("with")
    with monkeypatch.context() as patch:
        patch.setattr(cli, "_FAST", {})
        slow = outcome(call, capsys)
    assert fast == slow
    if call[0] == "register" and "model.bin" in call and "-q" in call:
        assert fast[0] == 0, fast  # a registration that went through, too


def test_echo_writes_what_typer_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """outcome.echo, which the commands print with, writes the bytes typer.echo writes: on
    a UTF-8 stream, and on one that click would mend (ASCII)."""
    import io

    import typer

    from gitreg.cli import outcome

    for encoding in ("utf-8", "ascii"):
        written = []
        for echo in (outcome.echo, typer.echo):
            raw = io.BytesIO()
            stream = io.TextIOWrapper(raw, encoding=encoding, write_through=True)
            monkeypatch.setattr("sys.stdout", stream)
            echo("caf\u00e9 \x1b[31mred\x1b[0m")
            written.append(raw.getvalue())
        assert written[0] == written[1], encoding
