"""Bad input at the command line: one clear line, a documented exit code, nothing changed.

Every refusal runs ``python -m gitreg`` as a user would, against a real git and DVC
registry, and compares everything a command could touch (refs, index, files) before and
after. The exit codes are written out here rather than imported from gitreg.errors: they
are a documented interface, and a test that reads them from the code could not notice
them changing.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot

from gitreg.service.registry import NewVersion, Registry

USAGE = 2
INVALID_INPUT = 3
NOT_FOUND = 4
CONFLICT = 5
NOT_A_REGISTRY = 6
CORRUPT_REGISTRY = 7

VERSION_FILE = "models/churn/versions/1.0.0.yaml"
STAGES_FILE = "models/churn/stages.yaml"


@pytest.fixture(scope="module")
def templates() -> dict[str, Path]:
    return {}


@pytest.fixture
def churn(
    templates: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
    weights: Path,
) -> Path:
    """A registry holding churn 1.0.0 (in production) and 1.1.0 (in staging); its root.

    Built once per module (in the first test's isolated environment) and copied for each
    test: a copy costs milliseconds, building one with its tagged commits ~0.5 s.
    """
    if "churn" not in templates:
        base = tmp_path_factory.mktemp("churn-template")
        registry = Registry.init(base / "registry", remote=str(base / "storage"))
        registry.register("churn", weights, version="1.0.0",
                          info=NewVersion(metrics={"accuracy": 0.9}))
        registry.register("churn", weights, version="1.1.0",
                          info=NewVersion(metrics={"accuracy": 0.92}))
        registry.promote("churn", "1.0.0", "production")
        registry.promote("churn", "1.1.0", "staging")
        templates["churn"] = registry.root
    root = tmp_path / "registry"
    shutil.copytree(templates["churn"], root, symlinks=True)
    return root


def refused(root: Path, *args: str, code: int, says: tuple[str, ...]) -> str:
    """Run ``gitreg ARGS`` in ``root``; assert one error line, exit ``code``, nothing changed."""
    before = snapshot(root)
    proc = run_cli(*args, cwd=root)
    after = snapshot(root)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}:\n{output}"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("gitreg: error: "), line
    for text in says:
        assert text in line, f"{text!r} not in {line!r}"
    assert proc.stdout == ""
    assert after == before
    assert not (root / ".git" / "gitreg.lock").exists()
    return line


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, text
    path.write_text(text.replace(old, new, 1))


# -- names and versions --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "a/b", "a\\b", "..", "../x", "churn model", "churn@1", "churn#prod",
        "a;rm -rf x", "$(id)", "`id`", "Churn", "-churn", ".churn", "churn.lock",
    ],
)
def test_register_refuses_an_invalid_model_name(churn: Path, weights: Path, name: str) -> None:
    # "--" so that a name such as "-churn" reaches gitreg's check instead of the option parser.
    line = refused(churn, "register", "--version", "2.0.0", "--", name, str(weights),
                   code=INVALID_INPUT, says=(f"invalid model name {name!r}", "use lowercase"))
    assert "starting with a letter or digit" in line


@pytest.mark.parametrize("version", ["1.0", "01.0.0", "abc", "1.0.0-", "v"])
def test_register_refuses_a_version_that_is_not_semver(
    churn: Path, weights: Path, version: str
) -> None:
    refused(churn, "register", "churn", str(weights), f"--version={version}",
            code=INVALID_INPUT, says=(f"invalid version {version!r}", "expected SemVer"))


def test_register_accepts_a_leading_v_and_normalises_it(churn: Path, weights: Path) -> None:
    proc = run_cli("register", "churn", str(weights), "--version", "v1.2.0", cwd=churn)
    assert proc.returncode == 0, proc.stderr
    assert (churn / "models/churn/versions/1.2.0.yaml").is_file()
    assert not (churn / "models/churn/versions/v1.2.0.yaml").exists()
    assert git(churn, "tag", "--list", "churn@*").split() == [
        "churn@v1.0.0", "churn@v1.1.0", "churn@v1.2.0"]
    assert "version: 1.2.0\n" in (churn / "models/churn/versions/1.2.0.yaml").read_text()


def test_register_refuses_a_version_that_exists(churn: Path, weights: Path) -> None:
    # "v1.0.0" is 1.0.0 once normalised.
    refused(churn, "register", "churn", str(weights), "--version", "v1.0.0",
            code=CONFLICT, says=("churn 1.0.0 is already registered", "--bump"))


def test_register_refuses_a_missing_weights_path(churn: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model.bin"
    refused(churn, "register", "churn", str(missing), "--version", "2.0.0",
            code=INVALID_INPUT, says=(f"weights path {missing} does not exist",))


@pytest.mark.parametrize("source", ["", ".", "..", ".git", ".git/objects", ".dvc"])
def test_register_refuses_the_registry_itself_as_weights(churn: Path, source: str) -> None:
    """typer reads an empty PATH as "."; registering the registry (or its .git) would copy
    the whole repository into the DVC remote as a model."""
    refused(churn, "register", "churn", source, "--version", "2.0.0",
            code=INVALID_INPUT, says=(f"weights path {source or '.'} holds the registry itself",))


@pytest.mark.parametrize(
    ("option", "says"),
    [
        ("acc=high", "metric acc='high' is not a number"),
        ("acc", "invalid --metric 'acc': expected KEY=VALUE"),
        ("acc=nan", "metric acc='nan' is not a finite number"),
    ],
)
def test_register_refuses_a_metric_that_is_not_a_number(
    churn: Path, weights: Path, option: str, says: str
) -> None:
    refused(churn, "register", "churn", str(weights), "--version", "2.0.0", "--metric", option,
            code=INVALID_INPUT, says=(says,))


# -- unknown models, versions and stages -----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("promote", "nope", "1.0.0", "production"), "unknown model 'nope' (models: churn)"),
        (("promote", "churn", "9.9.9", "production"), "churn has no version 9.9.9"),
        (("promote", "churn", "1.1.0", "prod"), "unknown stage 'prod'"),
        (("demote", "nope", "production"), "unknown model 'nope'"),
        (("demote", "churn", "prod"), "unknown stage 'prod'"),
        (("rollback", "nope", "production"), "unknown model 'nope'"),
        (("rollback", "churn", "prod"), "unknown stage 'prod'"),
        (("rollback", "churn", "production", "--to", "9.9.9"), "churn has no version 9.9.9"),
        (("show", "nope"), "unknown model 'nope'"),
        (("show", "churn@9.9.9"), "churn has no version 9.9.9"),
        (("show", "churn#prod"), "unknown stage 'prod'"),
        (("which", "nope", "production"), "unknown model 'nope'"),
        (("which", "churn", "prod"), "unknown stage 'prod'"),
        (("get", "nope", "--stage", "production"), "unknown model 'nope'"),
        (("get", "churn", "--version", "9.9.9"), "churn has no version 9.9.9"),
        (("get", "churn", "--stage", "prod"), "unknown stage 'prod'"),
        (("history", "nope"), "unknown model 'nope'"),
        (("history", "churn", "--stage", "prod"), "unknown stage 'prod'"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else None,
)
def test_unknown_model_version_or_stage_is_not_found(
    churn: Path, tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    out = tmp_path / "out"
    if args[0] == "get":
        args = (*args, "-o", str(out))
    line = refused(churn, *args, code=NOT_FOUND, says=(says,))
    if "stage" in says:
        assert "dev, staging, production" in line  # says which stages there are
    assert not out.exists()


@pytest.mark.parametrize("output", ["/proc/gitreg-x", "/proc/gitreg-x/", "/proc/gitreg/y"])
def test_get_to_a_path_no_file_can_be_made_in_is_one_line(churn: Path, output: str) -> None:
    # /proc takes no new files (as root too): the system's error, said as the -o it is.
    refused(churn, "get", "churn", "--stage", "production", "-o", output, code=INVALID_INPUT,
            says=(f"cannot write {output.rstrip('/')}", "give another -o PATH"))


def test_rollback_with_nothing_to_roll_back_to_is_not_found(churn: Path) -> None:
    refused(churn, "rollback", "churn", "production", code=NOT_FOUND,
            says=("nothing to roll back to", "gitreg promote"))


def test_demote_of_an_empty_stage_is_not_found(churn: Path) -> None:
    refused(churn, "demote", "churn", "dev", code=NOT_FOUND,
            says=("churn has no version in dev", "nothing to demote"))


@pytest.mark.parametrize(
    "args",
    [("list",), ("register", "churn", "WEIGHTS")],
    ids=["read", "write"],
)
def test_a_command_outside_a_registry_says_so(
    tmp_path: Path, weights: Path, args: tuple[str, ...]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    args = tuple(str(weights) if a == "WEIGHTS" else a for a in args)
    proc = run_cli(*args, cwd=empty)
    assert proc.returncode == NOT_A_REGISTRY, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [
        f"gitreg: error: not inside a gitreg registry (no registry.yaml in {empty} or its "
        "parents); cd into one, or run `gitreg init` to create one here"
    ]
    assert list(empty.iterdir()) == []


# -- hand-broken files -----------------------------------------------------------------------


def test_a_truncated_version_file_names_the_file(churn: Path) -> None:
    path = churn / VERSION_FILE
    text = path.read_text()
    path.write_text(text[: text.index("artifact:")] + "artifact:\n  path: [models/ch")
    refused(churn, "show", "churn@1.0.0", code=CORRUPT_REGISTRY,
            says=(f"{VERSION_FILE} (line ", "not valid YAML", "git checkout -- FILE"))


def test_a_version_file_missing_its_keys_names_the_key(churn: Path) -> None:
    path = churn / VERSION_FILE
    text = path.read_text()
    path.write_text(text[: text.index("artifact:")])
    refused(churn, "show", "churn@1.0.0", code=CORRUPT_REGISTRY,
            says=(f"{VERSION_FILE}: artifact: expected a mapping",))


def test_a_metric_that_is_not_a_number_names_the_file_and_key(churn: Path) -> None:
    edit(churn, VERSION_FILE, "accuracy: 0.9", "accuracy: high")
    refused(churn, "promote", "churn", "1.0.0", "dev", code=CORRUPT_REGISTRY,
            says=(f"{VERSION_FILE}: metrics.accuracy: expected a number",))


def test_a_broken_registry_yaml_names_the_file(churn: Path) -> None:
    edit(churn, "registry.yaml", "stages:\n", "stages: [dev, staging\n")
    refused(churn, "list", code=CORRUPT_REGISTRY, says=("registry.yaml (line ", "not valid YAML"))


def test_a_registry_yaml_with_a_wrong_type_names_the_key(churn: Path) -> None:
    edit(churn, "registry.yaml", "- name: staging\n  exclusive: true",
         "- name: staging\n  exclusive: maybe")
    refused(churn, "promote", "churn", "1.1.0", "production", code=CORRUPT_REGISTRY,
            says=("registry.yaml: stages[1].exclusive: expected true or false",))


def test_a_stages_file_naming_a_non_semver_version_names_the_file_and_key(churn: Path) -> None:
    edit(churn, STAGES_FILE, "production: 1.0.0", "production: latest")
    refused(churn, "promote", "churn", "1.1.0", "production", code=CORRUPT_REGISTRY,
            says=(f"{STAGES_FILE}: stages.production: 'latest' is not a SemVer version",))


# -- YAML that would run code ----------------------------------------------------------------


def _evil(marker: Path) -> str:
    return f'!!python/object/apply:os.system ["touch {marker}"]'


def test_a_python_tag_in_a_version_file_is_refused_and_not_run(churn: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    edit(churn, VERSION_FILE, "description: null", f"description: {_evil(marker)}")
    refused(churn, "show", "churn@1.0.0", code=CORRUPT_REGISTRY,
            says=(f"{VERSION_FILE} (line ", "python/object/apply:os.system"))
    assert not marker.exists()


def test_a_python_tag_in_registry_yaml_is_refused_and_not_run(churn: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    edit(churn, "registry.yaml", "policies: {}", f"policies: {_evil(marker)}")
    refused(churn, "list", code=CORRUPT_REGISTRY,
            says=("registry.yaml (line ", "python/object/apply:os.system"))
    assert not marker.exists()


def test_a_python_tag_in_a_meta_file_is_refused_and_not_run(
    churn: Path, weights: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED"
    meta = tmp_path / "meta.yaml"
    meta.write_text(f"description: {_evil(marker)}\n")
    refused(churn, "register", "churn", str(weights), "--version", "2.0.0", "--meta", str(meta),
            code=INVALID_INPUT, says=(f"{meta} (line 1)", "python/object/apply:os.system"))
    assert not marker.exists()


# -- registry.yaml from another gitreg ---------------------------------------------------------


def test_a_newer_schema_version_fails_clearly(churn: Path) -> None:
    edit(churn, "registry.yaml", "schema_version: 1", "schema_version: 2")
    refused(churn, "promote", "churn", "1.1.0", "production", code=CORRUPT_REGISTRY,
            says=("registry.yaml: schema_version 2 is newer than this gitreg understands",
                  "upgrade gitreg"))


def test_an_unknown_key_in_registry_yaml_only_warns(churn: Path) -> None:
    edit(churn, "registry.yaml", "policies: {}", "policies: {}\nowner: ml-platform")
    proc = run_cli("promote", "churn", "1.1.0", "production", cwd=churn)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "gitreg: warning: registry.yaml: unknown key 'owner' ignored (a newer gitreg may use it)"
    ]
    assert "production: 1.1.0" in (churn / STAGES_FILE).read_text()


# -- the command line itself -------------------------------------------------------------------


def test_help_exits_zero(tmp_path: Path) -> None:
    proc = run_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: gitreg" in proc.stdout
    assert "Exit codes:" in proc.stdout
    assert proc.stderr == ""


def test_a_missing_argument_is_a_usage_error(churn: Path) -> None:
    before = snapshot(churn)
    proc = run_cli("promote", "churn", "1.1.0", cwd=churn)
    assert proc.returncode == USAGE
    assert "missing argument 'stage'" in proc.stderr.lower()
    assert "Traceback" not in proc.stdout + proc.stderr
    assert snapshot(churn) == before


# -- uncommitted edits of the files a write would commit -----------------------------------


@pytest.mark.parametrize("staged", [False, True], ids=["edited", "edited-and-staged"])
def test_promote_refuses_a_hand_edit_of_stages_yaml(churn: Path, staged: bool) -> None:
    edit(churn, STAGES_FILE, "1.1.0", "1.0.0")
    if staged:
        git(churn, "add", STAGES_FILE)
    refused(churn, "promote", "churn", "1.1.0", "production", code=5,
            says=(STAGES_FILE, "uncommitted changes", "git checkout --"))


def test_register_with_a_stage_refuses_a_change_staged_and_then_reverted(
    churn: Path, weights: Path
) -> None:
    """The work tree looks committed, git's index does not: the write would lose it."""
    before = (churn / STAGES_FILE).read_text()
    edit(churn, STAGES_FILE, "1.1.0", "1.0.0")
    git(churn, "add", STAGES_FILE)
    (churn / STAGES_FILE).write_text(before)
    refused(churn, "register", "churn", str(weights), "--version", "2.0.0", "--stage", "dev",
            code=5, says=(STAGES_FILE, "uncommitted changes"))


def test_register_refuses_an_untracked_file_in_its_artifacts_folder(
    churn: Path, weights: Path
) -> None:
    draft = churn / "models/churn/artifacts/2.0.0/README.md"
    draft.parent.mkdir()
    draft.write_text("a hand-written note\n")
    refused(churn, "register", "churn", str(weights), "--version", "2.0.0", code=5,
            says=("models/churn/artifacts/2.0.0/README.md", "uncommitted changes"))
    assert draft.read_text() == "a hand-written note\n"


def test_a_write_goes_ahead_beside_ignored_and_unrelated_changes(
    churn: Path, weights: Path
) -> None:
    (churn / "NOTES.md").write_text("not the registry's\n")
    (churn / "models/churn/artifacts/1.0.0/scratch.bin").write_text("ignored by git\n")
    (churn / ".gitignore").write_text("*.bin\n")
    proc = run_cli("register", "churn", str(weights), "--version", "2.0.0", "--stage", "dev",
                   cwd=churn)
    assert proc.returncode == 0, proc.stderr
    assert "?? NOTES.md" in git(churn, "status", "--porcelain")


# -- issue 13: inputs that used to end in a traceback -------------------------------------


@pytest.mark.parametrize(("meta", "says"), [
    ("lineage:\n  data: [a, b]\n", "lineage.data: expected a mapping"),
    ("lineage:\n  data: 5\n", "lineage.data: expected a mapping"),
    ("lineage:\n  depends_on: 5\n", "lineage.depends_on: expected a list"),
    ("lineage:\n  depends_on: [nosuch@1.0.0]\n", "nosuch@1.0.0 is not registered"),
], ids=["data-list", "data-number", "depends-number", "depends-unregistered"])
def test_register_refuses_bad_lineage_up_front(
    churn: Path, weights: Path, tmp_path: Path, meta: str, says: str
) -> None:
    """A write validates everything it will write: it never leaves `check` failing."""
    path = tmp_path / "meta.yaml"
    path.write_text(meta)
    refused(churn, "register", "churn", str(weights), "--version", "2.0.0", "--meta", str(path),
            code=INVALID_INPUT, says=(says,))
    assert run_cli("check", cwd=churn).returncode == 0


@pytest.mark.parametrize(("version", "says"), [
    ("1.0." + "1" * 300, "longer than 128 characters"),
    ("1.0.0-a.lock", "'.lock'"),
    ("1.0.0+build.lock", "'.lock'"),
], ids=["long", "lock", "build-lock"])
def test_register_refuses_a_version_that_cannot_be_a_file_or_a_tag(
    churn: Path, weights: Path, version: str, says: str
) -> None:
    refused(churn, "register", "churn", str(weights), "--version", version,
            code=INVALID_INPUT, says=(says,))


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo"])
def test_dates_out_of_range_are_invalid_input(
    churn: Path, weights: Path, tz: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", tz)
    refused(churn, "register", "churn", str(weights), "--version", "2.0.0",
            "--trained-at", "0001-01-01", code=INVALID_INPUT, says=("out of the range",))
    refused(churn, "which", "churn", "production", "--at", "0001-01-01",
            code=INVALID_INPUT, says=("out of the range",))


@pytest.mark.parametrize("rel", [STAGES_FILE, VERSION_FILE])
@pytest.mark.parametrize("args", [("list",), ("show", "churn@1.0.0"),
                                  ("which", "churn", "production"),
                                  ("promote", "churn", "1.0.0", "staging"),
                                  ("diff", "churn", "1.0.0", "1.1.0")])
def test_a_registry_file_committed_as_a_folder_names_the_file(
    churn: Path, rel: str, args: tuple[str, ...]
) -> None:
    (churn / rel).unlink()
    (churn / rel).mkdir()
    (churn / rel / "x").write_text("x")
    git(churn, "add", "-A")
    git(churn, "commit", "-qm", "A folder in place of a file")
    if rel == STAGES_FILE and args[0] == "diff":
        args = ("diff", "churn", "production", "staging")
    if rel == VERSION_FILE and args[0] == "which":
        args = ("show", "churn#production")
    refused(churn, *args, code=CORRUPT_REGISTRY, says=(rel, "found a directory"))


def test_a_huge_integer_metric_in_a_version_file_names_the_file(churn: Path) -> None:
    edit(churn, VERSION_FILE, "accuracy: 0.9", "accuracy: " + "9" * 400)
    git(churn, "commit", "-qam", "A huge number")
    for args in (("show", "churn@1.0.0"), ("list",), ("diff", "churn", "1.0.0", "1.1.0")):
        proc = run_cli(*args, cwd=churn)
        assert "Traceback" not in proc.stderr and proc.returncode in (0, CORRUPT_REGISTRY), (
            args, proc.stderr)


def test_a_held_index_lock_is_waited_for_then_named(churn: Path) -> None:
    """Like git, wait briefly for another git process; then one line naming the lock,
    nothing changed and no journal left for the next command to recover."""
    lock = churn / ".git" / "index.lock"
    lock.write_text("")
    line = refused(churn, "promote", "churn", "1.1.0", "production", code=CONFLICT,
                   says=(str(lock), "another git process"))
    assert "index is locked" in line
    assert not (churn / ".git" / "gitreg-journal").exists()
    lock.unlink()
    assert run_cli("check", cwd=churn).returncode == 0


# Ctrl-C while a module loads, simulated deterministically: an import hook raises
# KeyboardInterrupt, as SIGINT would, when the named module is first imported.
_INTERRUPT_AT = """
import runpy, sys
class Hook:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            raise KeyboardInterrupt
sys.meta_path.insert(0, Hook())
sys.argv = ["gitreg", *{args!r}]
runpy.run_module("gitreg", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize(("module", "args"), [
    ("gitreg.cli.console", ("list",)),
    ("gitreg.cli.reads", ("list",)),  # list runs without typer (issue 19)
    ("gitreg.cli.app", ("history",)),
    ("typer", ("promote", "churn", "1.1.0", "production")),
    ("gitreg.service.registry", ("list",)),
    ("gitreg.weights.dvc", ("register", "churn", "model.bin", "--version", "3.0.0")),
])
def test_ctrl_c_at_any_moment_exits_130_and_changes_nothing(
    churn: Path, module: str, args: tuple[str, ...]
) -> None:
    import subprocess
    import sys

    (churn / "model.bin").write_bytes(b"weights")
    git(churn, "add", "model.bin")
    git(churn, "commit", "-qm", "weights to register")
    before = snapshot(churn)
    proc = subprocess.run([sys.executable, "-c", _INTERRUPT_AT.format(module=module, args=args)],
                          cwd=churn, capture_output=True, text=True, check=False)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "gitreg: interrupted; nothing was changed\n"
    assert snapshot(churn) == before
    assert not (churn / ".git" / "gitreg-journal").exists()


# -- the file system refuses: a full disk, a read-only checkout (issue 13) -----------------

FILE_SYSTEM = 13


@pytest.fixture
def small_disk(churn: Path, tmp_path: Path) -> Iterator[Path]:
    """The churn registry on a small file system of its own (a tmpfs: root can mount one);
    elsewhere the registry where it is, and a limit on file sizes (RLIMIT_FSIZE) in its
    place."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True, check=False).returncode == 0
    if not mounted:
        yield churn
        return
    try:
        root = mount / "registry"
        shutil.copytree(churn, root, symlinks=True)
        yield root
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(root: Path) -> Path | None:
    """Fill the file system under ``root`` to the last byte; None if it is not a tmpfs."""
    if not os.path.ismount(root.parent):
        return None
    filler = root.parent / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_is_one_line_and_changes_nothing(
    small_disk: Path, tmp_path: Path
) -> None:
    root = small_disk
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(200_000))
    tmpfs = os.path.ismount(root.parent)
    commands = [("register", "churn", str(big), "--version", "2.0.0")]
    if tmpfs:
        commands += [("promote", "churn", "1.1.0", "production"),
                     ("register", "churn", str(big), "--version", "2.0.1", "--stage", "dev")]
    for args in commands:  # without a tmpfs: a limit on file sizes instead
        before = snapshot(root)
        filler = _fill(root)
        proc = subprocess.run(
            [sys.executable, "-m", "gitreg", *args], cwd=root, capture_output=True, text=True,
            check=False, preexec_fn=None if filler else (
                lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))))
        if filler:
            filler.unlink()
        assert proc.returncode == FILE_SYSTEM, proc.stderr
        assert len(proc.stderr.splitlines()) == 1, proc.stderr
        assert "the change was undone" in proc.stderr
        assert snapshot(root) == before
        assert not (root / ".git" / "gitreg-journal").exists()
    assert run_cli("check", cwd=root).returncode == 0
    run_cli(*commands[-1], cwd=root, check=True)


def test_a_read_only_checkout_is_read_and_refuses_writes_in_one_line(
    small_disk: Path, weights: Path
) -> None:
    root = small_disk
    mounted = os.path.ismount(root.parent)
    if mounted:
        subprocess.run(["mount", "-o", "remount,ro", str(root.parent)], check=True)
    else:
        subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)
    try:
        assert "1.0.0" in run_cli("which", "churn", "production", cwd=root).stdout
        assert run_cli("list", cwd=root).returncode == 0
        for args in (("promote", "churn", "1.1.0", "production"),
                     ("register", "churn", str(weights), "--version", "2.0.0")):
            proc = run_cli(*args, cwd=root)
            assert proc.returncode == FILE_SYSTEM, proc.stderr
            assert len(proc.stderr.splitlines()) == 1, proc.stderr
    finally:
        if not mounted:
            subprocess.run(["chmod", "-R", "u+w", str(root)], check=True)
