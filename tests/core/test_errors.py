"""errors.py: what an error says depends on who reads it; its data does not."""

from __future__ import annotations

from gitreg.errors import CorruptRegistry, InvalidInput


def test_parameters_are_worded_by_the_reader() -> None:
    error = InvalidInput("give either {version} or {bump}, not both", params=("version", "bump"))
    assert str(error) == "give either version or bump, not both"
    assert error.worded(lambda p: f"--{p}") == "give either --version or --bump, not both"
    assert error.params == ("version", "bump")


def test_only_declared_parameters_are_replaced() -> None:
    # Text from a registry may hold braces: only the declared names are placeholders.
    error = InvalidInput("{force} for {model} {x}", params=("force",))
    assert error.worded(lambda p: "--force") == "--force for {model} {x}"


def test_messages_are_one_printable_line() -> None:
    error = InvalidInput("bad name 'a\x1b[31m\nb'")
    assert str(error) == "bad name 'a\\x1b[31m\\nb'"


def test_a_file_problem_carries_where() -> None:
    error = CorruptRegistry.at("models/a/stages.yaml", None, "not valid YAML", line=3)
    assert (error.file, error.key, error.line, error.problem) == (
        "models/a/stages.yaml", None, 3, "not valid YAML")
    assert str(error) == "models/a/stages.yaml (line 3): not valid YAML"
