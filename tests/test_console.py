"""`gitreg --help` answered from a cache: always exactly what typer prints, never stale."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gitreg

HELP_CASES = [["--help"], ["-h"], []]
TYPER = "import sys; from gitreg.cli import app; sys.exit(app.main(sys.argv[1:]))"


def run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None,
        code: str | None = None) -> tuple[str, str, int]:
    """``gitreg ARGS`` through the console script's module, or through ``code``."""
    argv = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "gitreg",
                                                             *args]
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})
    return proc.stdout, proc.stderr, proc.returncode


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("GITREG_NO_CACHE", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    return tmp_path / "xdg-cache" / "gitreg" / "help"


@pytest.mark.parametrize("args", HELP_CASES)
def test_help_from_the_cache_is_what_typer_prints(args: list[str], cache: Path,
                                                  tmp_path: Path) -> None:
    typer_says = run(args, cwd=tmp_path, code=TYPER)
    assert "Usage: gitreg" in typer_says[0] + typer_says[1]
    first = run(args, cwd=tmp_path)  # renders through typer and keeps it
    assert len(list(cache.iterdir())) == 1
    second = run(args, cwd=tmp_path)  # from the cache
    assert first == typer_says and second == typer_says


def test_help_from_the_cache_does_not_import_typer(cache: Path, tmp_path: Path) -> None:
    probe = ("import sys; from gitreg.cli import console; code = console.main(['--help']); "
             "print('typer imported:', 'typer' in sys.modules); sys.exit(code)")
    assert run([], cwd=tmp_path, code=probe)[0].endswith("typer imported: True\n")
    out, _, code = run([], cwd=tmp_path, code=probe)
    assert code == 0 and "Usage: gitreg" in out
    assert out.endswith("typer imported: False\n")


def test_an_edited_command_line_is_never_answered_from_the_cache(cache: Path,
                                                                 tmp_path: Path) -> None:
    """A copy of the package, whose cli.py gains a command after its help was cached."""
    copy = tmp_path / "src"
    shutil.copytree(Path(gitreg.__file__).parent, copy / "gitreg",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PYTHONPATH": str(copy)}
    before = run(["--help"], cwd=tmp_path, env=env)
    assert "gitreg-test-command" not in before[0]
    with (copy / "gitreg" / "cli" / "app.py").open("a") as handle:
        handle.write('\n\n@app.command("gitreg-test-command")\ndef _added() -> None:\n'
                     '    """Added after the help was cached."""\n')
    after = run(["--help"], cwd=tmp_path, env=env)
    assert "gitreg-test-command" in after[0]
    assert after == run(["--help"], cwd=tmp_path, env=env, code=TYPER)


def test_each_terminal_width_has_its_own_help(cache: Path, tmp_path: Path) -> None:
    for columns in ("60", "120", "60"):
        env = {"COLUMNS": columns}
        assert run(["--help"], cwd=tmp_path, env=env) == run(
            ["--help"], cwd=tmp_path, env=env, code=TYPER)
    narrow = run(["--help"], cwd=tmp_path, env={"COLUMNS": "60"})[0]
    assert max(len(line) for line in narrow.splitlines()) <= 60
    assert len(list(cache.iterdir())) == 2


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "delete", "folder"])
def test_a_damaged_cache_is_rendered_again(damage: str, cache: Path, tmp_path: Path) -> None:
    expected = run(["--help"], cwd=tmp_path, code=TYPER)
    assert run(["--help"], cwd=tmp_path) == expected
    (entry,) = cache.iterdir()
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        entry.write_bytes(data[:40] + b"x" * (len(data) - 40))
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "delete":
        entry.unlink()
    else:  # the entry's name taken by a folder: nothing can be cached, help still works
        entry.unlink()
        entry.mkdir()
    assert run(["--help"], cwd=tmp_path) == expected
    if damage != "folder":
        assert entry.read_bytes() == data  # written again, whole
    assert run(["--help"], cwd=tmp_path) == expected


def test_no_cache_when_it_is_turned_off_or_cannot_be_written(cache: Path,
                                                             tmp_path: Path) -> None:
    expected = run(["--help"], cwd=tmp_path, code=TYPER)
    assert run(["--help"], cwd=tmp_path, env={"GITREG_NO_CACHE": "1"}) == expected
    assert not cache.exists()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert run(["--help"], cwd=tmp_path, env={"XDG_CACHE_HOME": str(blocked)}) == expected


@pytest.mark.parametrize("args", [["which", "-h"], ["register", "--help"],
                                  ["remote", "add", "--help"], ["nosuch", "--help"]],
                         ids=" ".join)
def test_a_commands_help_from_the_cache_is_what_typer_prints(
        args: list[str], cache: Path, tmp_path: Path) -> None:
    typer_says = run(args, cwd=tmp_path, code=TYPER)
    probe = ("import sys; from gitreg.cli import console; code = console.main(sys.argv[1:]); "
             "print('pydantic imported:', 'pydantic' in sys.modules); sys.exit(code)")
    first = run(args, cwd=tmp_path, code=probe)  # renders through typer and keeps it
    second = run(args, cwd=tmp_path, code=probe)  # from the cache: no typer, no pydantic
    assert len(list(cache.iterdir())) == 1
    assert first[1:] == second[1:] == typer_says[1:]
    assert second[0] == typer_says[0] + "pydantic imported: False\n"


def test_other_arguments_go_to_the_command_line(cache: Path, tmp_path: Path) -> None:
    for args in (["which", "churn", "prod", "-h"], ["-h", "which"], ["--version"],
                 ["Which", "--help"], ["which", "--help", "--help"]):
        assert run(args, cwd=tmp_path) == run(args, cwd=tmp_path, code=TYPER)
    assert not cache.exists()


def test_version_without_typer(cache: Path, tmp_path: Path) -> None:
    probe = ("import sys; from gitreg.cli import console; code = console.main(['--version']); "
             "print('typer imported:', 'typer' in sys.modules); sys.exit(code)")
    out, _, code = run([], cwd=tmp_path, code=probe)
    assert (out, code) == (f"gitreg {gitreg.__version__}\ntyper imported: False\n", 0)
    assert run(["--version"], cwd=tmp_path, code=TYPER)[0] == f"gitreg {gitreg.__version__}\n"


def test_shell_completion_is_answered_by_typer_not_the_help_cache(cache: Path,
                                                                 tmp_path: Path) -> None:
    run(["--help"], cwd=tmp_path)  # a cached help that a bare `gitreg` would print
    env = {"_GITREG_COMPLETE": "complete_bash", "COMP_WORDS": "gitreg pro", "COMP_CWORD": "1"}
    assert run([], cwd=tmp_path, env=env) == ("promote\n", "", 0)
    env["COMP_WORDS"] = "gitreg remote mo"
    env["COMP_CWORD"] = "2"
    assert run([], cwd=tmp_path, env=env) == ("modify\n", "", 0)
    # Typer takes a shell name after --show-completion only when it cannot detect the shell
    # from the process tree (a test run detached from any shell): pin that mode.
    script = run(["--show-completion", "bash"], cwd=tmp_path,
                 env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert script[2] == 0 and "_GITREG_COMPLETE=complete_bash" in script[0], script


COMMANDS = ["init", "register", "promote", "demote", "rollback", "push", "pull", "list",
            "show", "which", "history", "get", "demo", "diff", "check", "verify",
            "remote add", "remote list", "remote default", "remote modify",
            "ci event", "ci tag", "deprecate", "restore", "annotate", "gc", "site",
            "import mlflow", "import gto", "export model-card"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_values_not_python_types(command: str, tmp_path: Path) -> None:
    """Options read `--metric KEY=NUMBER`, not `--metric <list[str]>`, and usage lines
    `NAME STAGE`, not `{NAME} {STAGE}` (issue 14); -h works."""
    out, err, code = run([*command.split(), "-h"], cwd=tmp_path)
    assert code == 0 and err == "", err
    assert out.startswith(f"Usage: gitreg {command} [OPTIONS]")
    options = out.split("\nOptions:\n", 1)[1]
    assert not re.search(r"<(str|int|path|list\[[^>]*\])>", options), options
    arguments = out.split("\nOptions:\n", 1)[0]  # with the Arguments section, if any
    assert not re.search(r"<(str|int|path|list\[[^>]*\])>", arguments), arguments
    assert "-h, --help" in options
    usage = out.splitlines()[0]
    assert not re.search(r"[<{}]", usage), usage  # no <list[str]>, no {NAME}


def test_help_of_register_names_its_values(tmp_path: Path) -> None:
    out = run(["register", "--help"], cwd=tmp_path)[0]
    assert out.startswith("Usage: gitreg register [OPTIONS] NAME PATH\n")
    for line in ("--metric KEY=NUMBER", "--param KEY=VALUE", "--meta FILE", "--version VERSION"):
        assert line in out
