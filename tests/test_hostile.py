"""A cloned registry is untrusted input (issue 6, point 4).

Each hostile registry is made as an attacker would make it: files crafted by hand and
committed with plain git (symlinks, ``..`` paths, YAML bombs, Python tags, wrong types,
bytes that are not UTF-8, tags on the wrong commits), then pushed to a bare repository and
cloned, or read with ``gitreg get --repo``. The commands a user would then run go through
``python -m gitreg``. Each must end with gitreg's documented exit code and one line on
stderr naming the file (never exit 70 and a traceback), read and write nothing outside the
repository (a secret outside it never shows up in any output; a canary folder outside
stays empty) and run no code from the registry.

The exit codes are written out, as in test_bad_input.py: they are a documented interface.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git

from gitreg.errors import InvalidInput
from gitreg.service import ci
from gitreg.service.registry import NewVersion, Registry

OK = 0
INVALID_INPUT = 3
NOT_FOUND = 4
CORRUPT = 7
CHECK_FAILED = 10

SECRET = "SECRET-4f1d9c"  # in files outside the repository; must never be shown
V100 = "models/churn/versions/1.0.0.yaml"
STAGES = "models/churn/stages.yaml"


@pytest.fixture(scope="module")
def templates() -> dict[str, Path]:
    return {}


@pytest.fixture
def origin(templates: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
           tmp_path: Path, weights: Path) -> Path:
    """A registry with churn 1.0.0 (production) and 1.1.0 (staging), a copy per test.

    It plays the attacker's repository: a test commits its crafted files there, then
    ``clone`` hands the victim a fresh clone of it.
    """
    if "churn" not in templates:
        base = tmp_path_factory.mktemp("hostile-template")
        registry = Registry.init(base / "registry", remote=str(base / "storage"))
        registry.register("churn", weights, version="1.0.0",
                          info=NewVersion(metrics={"accuracy": 0.9}))
        registry.register("churn", weights, version="1.1.0",
                          info=NewVersion(metrics={"accuracy": 0.92}))
        registry.promote("churn", "1.0.0", "production")
        registry.promote("churn", "1.1.0", "staging")
        templates["churn"] = base
    base = tmp_path / "attacker"
    shutil.copytree(templates["churn"], base, symlinks=True)
    # The DVC remote's url is absolute: it moved with the copy, so point it there.
    config = base / "registry" / ".dvc" / "config"
    config.write_text(config.read_text().replace(str(templates["churn"]), str(base)))
    git(base / "registry", "commit", "-qam", "Remote moved")
    return base / "registry"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside every repository: a secret to keep unread, a canary to keep empty."""
    folder = tmp_path / "outside"
    (folder / "canary").mkdir(parents=True)
    (folder / "versions").mkdir()
    secret = f"name: churn\nversion: 1.0.0\ndescription: {SECRET}\n"
    (folder / "secret.yaml").write_text(secret)
    (folder / "versions" / "1.0.0.yaml").write_text(secret)
    return folder


def commit(root: Path, files: dict[str, str | bytes | Path], message: str = "Crafted") -> None:
    """Write ``files`` (text, bytes, or a Path: a symlink to it) and commit them with git."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        if isinstance(content, Path):
            path.symlink_to(content)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    git(root, "add", "-A", "-f", "--", *files)
    git(root, "commit", "-q", "-m", message)


def clone(origin: Path, tmp_path: Path) -> Path:
    """The victim's clone of the attacker's registry, through a bare repository."""
    bare = tmp_path / "origin.git"
    if not bare.exists():
        git(tmp_path, "init", "-q", "--bare", str(bare))
    git(origin, "push", "-q", "--force", "--tags", str(bare), "HEAD:refs/heads/main")
    work = tmp_path / "clone"
    shutil.rmtree(work, ignore_errors=True)
    git(tmp_path, "clone", "-q", str(bare), str(work))
    return work


def gitreg(root: Path, *args: str, code: int, says: tuple[str, ...] = ()) -> str:
    """Run ``gitreg ARGS`` in ``root``; exit ``code``; stdout and stderr; no traceback.

    A failure is one ``gitreg: error:`` line holding each of ``says``.
    """
    try:  # a YAML bomb that went off would never end
        proc = subprocess.run([sys.executable, "-m", "gitreg", *args], cwd=root,
                              capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"gitreg {' '.join(args)} ran for a minute")
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == code, f"gitreg {' '.join(args)}: exit {proc.returncode}:\n{output}"
    if code not in (OK, CHECK_FAILED):
        lines = [line for line in proc.stderr.splitlines()
                 if not line.startswith("gitreg: warning: ")]
        assert len(lines) == 1 and lines[0].startswith("gitreg: error: "), proc.stderr
    for text in says:
        assert text in output, f"{text!r} not in:\n{output}"
    assert SECRET not in output
    return output


def untouched(outside: Path) -> None:
    assert list((outside / "canary").iterdir()) == []
    assert SECRET in (outside / "secret.yaml").read_text()


# -- symbolic links out of the repository ------------------------------------------------------

LINKED = "is a symbolic link"


def test_a_version_file_linked_outside_is_not_read(
    origin: Path, outside: Path, tmp_path: Path
) -> None:
    commit(origin, {V100: outside / "secret.yaml"})
    work = clone(origin, tmp_path)
    assert (work / V100).is_symlink()  # git made the link, as it would for a user
    for args in (("list",),
                 ("get", "churn", "--stage", "production", "-o", str(outside / "canary"))):
        gitreg(work, *args, code=CORRUPT, says=(V100, LINKED))
    gitreg(work, "check", code=CHECK_FAILED, says=(V100, LINKED))
    untouched(outside)


def test_a_versions_folder_linked_outside_is_not_read(
    origin: Path, outside: Path, tmp_path: Path
) -> None:
    commit(origin, {"models/evil/versions": outside / "versions",
                    "models/evil/stages.yaml": "model: evil\nstages: {production: 1.0.0}\n"})
    work = clone(origin, tmp_path)
    gitreg(work, "list", code=CORRUPT, says=("models/evil/versions", LINKED))
    gitreg(work, "check", code=CHECK_FAILED, says=("models/evil/versions: link: ", LINKED))
    # Another model of the registry still works.
    assert gitreg(work, "which", "churn", "production", code=OK).strip() == "1.0.0"
    untouched(outside)


@pytest.mark.parametrize("rel", ["registry.yaml", STAGES, "models"])
def test_registry_files_linked_outside_are_refused(
    origin: Path, outside: Path, tmp_path: Path, rel: str
) -> None:
    target = outside / "secret.yaml" if rel.endswith(".yaml") else outside
    commit(origin, {rel: target})
    work = clone(origin, tmp_path)
    gitreg(work, "which", "churn", "production", code=CORRUPT, says=(rel, LINKED))
    untouched(outside)


def test_register_never_writes_through_a_planted_link(
    origin: Path, outside: Path, tmp_path: Path, weights: Path
) -> None:
    commit(origin, {"models/churn/artifacts/2.0.0": outside / "canary",
                    f"models/churn/artifacts/3.0.0/{weights.name}": outside / "canary" / "w"})
    work = clone(origin, tmp_path)
    for version in ("2.0.0", "3.0.0"):
        gitreg(work, "register", "churn", str(weights), "--version", version, code=CORRUPT,
               says=(f"models/churn/artifacts/{version}", LINKED))
    untouched(outside)
    assert git(work, "status", "--porcelain") == ""
    assert "churn@v2.0.0" not in git(work, "tag")


def test_promote_never_writes_through_a_linked_model_folder(
    origin: Path, outside: Path, tmp_path: Path
) -> None:
    shutil.copytree(origin / "models/churn", outside / "canary" / "churn")
    commit(origin, {"models/churn": outside / "canary" / "churn"})
    work = clone(origin, tmp_path)
    before = (outside / "canary" / "churn" / "stages.yaml").read_text()
    gitreg(work, "promote", "churn", "1.1.0", "production", code=CORRUPT,
           says=("models/churn", LINKED))
    assert (outside / "canary" / "churn" / "stages.yaml").read_text() == before


# -- crafted weights pointers and artifact paths -----------------------------------------------


@pytest.mark.parametrize("path", [
    "models/churn/artifacts/1.0.0/..", "../../outside/canary/model.bin", "/etc/passwd",
    "models/churn/artifacts/1.0.0/a\nb",
])
def test_an_artifact_path_out_of_the_registry_is_refused(
    origin: Path, outside: Path, tmp_path: Path, path: str
) -> None:
    text = (origin / V100).read_text()
    old = next(line for line in text.splitlines() if line.startswith("  path: "))
    quoted = path.replace("\n", "\\n")
    commit(origin, {V100: text.replace(old, f'  path: "{quoted}"')})
    work = clone(origin, tmp_path)
    gitreg(work, "get", "churn", "--version", "1.0.0", "-o", str(outside / "canary"),
           code=CORRUPT, says=(f"{V100}: artifact.path: ", "not a plain relative path"))
    if path.endswith(".."):  # Path(path).name: what `get -o FOLDER` would write to
        gitreg(work, "check", code=CHECK_FAILED, says=(f"{V100}: artifact.path: ",))
    untouched(outside)


def test_a_crafted_pointer_path_is_reported_and_get_writes_only_the_output(
    origin: Path, outside: Path, tmp_path: Path
) -> None:
    pointer = next((origin / "models/churn/artifacts/1.0.0").glob("*.dvc"))
    rel = pointer.relative_to(origin).as_posix()
    text = pointer.read_text()
    commit(origin, {rel: text.replace("path: ", "path: ../../../../outside/canary/")})
    work = clone(origin, tmp_path)
    gitreg(work, "check", code=CHECK_FAILED, says=(f"{rel}: outs[0].path: ",))
    out = tmp_path / "deploy"
    gitreg(work, "get", "churn", "--version", "1.0.0", "-o", str(out / "model.bin"), code=OK)
    assert [p.name for p in out.iterdir()] == ["model.bin"]
    untouched(outside)


def test_a_hidden_weights_name_is_not_written_into_the_users_folder(
    origin: Path, tmp_path: Path
) -> None:
    """`get` into a folder names the file after the registry's artifact: a crafted one named
    `.envrc` would land where the user runs it (direnv, a shell, a tool reads it there)."""
    pointer = next((origin / "models/churn/artifacts/1.0.0").glob("*.dvc"))
    name = pointer.name.removesuffix(".dvc")
    text = (origin / V100).read_text()
    git(origin, "mv", str(pointer), str(pointer.with_name(".envrc.dvc")))
    hidden = pointer.with_name(".envrc.dvc")
    hidden.write_text(hidden.read_text().replace(f"path: {name}", "path: .envrc"))
    commit(origin, {V100: text.replace(f"/1.0.0/{name}", "/1.0.0/.envrc"),
                    hidden.relative_to(origin).as_posix(): hidden.read_text()})
    work = clone(origin, tmp_path)
    gitreg(work, "check", code=CHECK_FAILED,
           says=(f"{V100}: artifact.path: ", "'.envrc' is not one gitreg gives"))
    user = tmp_path / "project"
    user.mkdir()
    gitreg(work, "get", "churn", "--version", "1.0.0", "-o", str(user), code=CORRUPT,
           says=("'.envrc' is not one gitreg gives", f"-o PATH, e.g. {user / 'envrc'}"))
    assert list(user.iterdir()) == []
    gitreg(work, "get", "churn", "--version", "1.0.0", "-o", str(user / "model.bin"), code=OK)
    assert [p.name for p in user.iterdir()] == ["model.bin"]


# -- YAML bombs --------------------------------------------------------------------------------


def _laughs(levels: int = 9) -> str:
    lines = ["  lol0: &l0 [lol]"]
    for i in range(1, levels + 1):
        lines.append(f"  lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines)


def test_a_billion_laughs_is_refused_quickly(origin: Path, tmp_path: Path) -> None:
    text = (origin / V100).read_text().replace("hyperparameters: {}",
                                               f"hyperparameters:\n{_laughs()}")
    commit(origin, {V100: text, STAGES: f"model: churn\nstages:\n{_laughs()}\n"})
    work = clone(origin, tmp_path)
    for args in (("show", "churn@1.0.0", "--json"), ("list",), ("which", "churn", "staging")):
        gitreg(work, *args, code=CORRUPT, says=("aliases (*name) expand to more than",))
    gitreg(work, "history", "churn", code=OK)  # history skips a stages.yaml it cannot read
    gitreg(work, "check", code=CHECK_FAILED, says=(V100, STAGES))


def test_few_aliases_of_one_long_string_are_refused(origin: Path, tmp_path: Path) -> None:
    # 3,000 aliases of one 100 KB string: few nodes, 300 MB once built (of 1 MB, 3 GB: a
    # MemoryError in show, diff and site). The characters they add are counted too.
    text = (origin / V100).read_text()
    assert "features: []\n" in text and "description: null" in text
    text = text.replace("description: null", f"description: &a {'x' * 100_000}").replace(
        "features: []\n", "features:\n" + "- *a\n" * 3000, 1)
    commit(origin, {V100: text})
    work = clone(origin, tmp_path)
    for args in (("show", "churn@1.0.0"), ("diff", "churn", "1.0.0", "1.1.0")):
        gitreg(work, *args, code=CORRUPT, says=(V100, "characters beyond the file's own"))
    gitreg(work, "check", code=CHECK_FAILED, says=(V100, "characters beyond"))


def test_a_self_referencing_alias_is_refused(origin: Path, tmp_path: Path) -> None:
    commit(origin, {STAGES: "model: churn\nstages: &s {production: *s}\n"})
    gitreg(clone(origin, tmp_path), "which", "churn", "production", code=CORRUPT,
           says=(STAGES, "refers to a value that contains it"))


@pytest.mark.parametrize("depth", [50, 5000])
def test_deep_nesting_is_refused(origin: Path, tmp_path: Path, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    text = (origin / V100).read_text().replace("hyperparameters: {}",
                                               f"hyperparameters: {{deep: {nested}}}")
    commit(origin, {V100: text})
    gitreg(clone(origin, tmp_path), "show", "churn@1.0.0", code=CORRUPT, says=(V100,))


# -- code in YAML and in weights -------------------------------------------------------------


def test_python_tags_run_nothing(origin: Path, outside: Path, tmp_path: Path) -> None:
    marker = outside / "canary" / "PWNED"
    evil = f'!!python/object/apply:os.system ["touch {marker}"]'
    commit(origin, {STAGES: f"model: churn\nstages:\n  production: {evil}\n"})
    work = clone(origin, tmp_path)
    gitreg(work, "which", "churn", "production", code=CORRUPT, says=(STAGES, "python/object"))
    gitreg(work, "check", code=CHECK_FAILED, says=(STAGES,))
    untouched(outside)


def test_a_pickle_in_a_registry_that_asks_for_safe_loading_is_not_loaded(
    origin: Path, outside: Path, tmp_path: Path
) -> None:
    from gitreg import ModelRegistry
    from gitreg.errors import UnsafeLoad

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {outside / 'canary' / 'PWNED'}",))

    registry = Registry(origin)
    payload = tmp_path / "model.pkl"
    payload.write_bytes(pickle.dumps(Evil()))
    registry.register("churn", payload, version="2.0.0")
    commit(origin, {"registry.yaml": (origin / "registry.yaml").read_text()
                    + "safe_load: true\n"})
    work = clone(origin, tmp_path)
    with pytest.raises(UnsafeLoad):
        ModelRegistry(str(work)).get_model(version="2.0.0", name="churn")
    untouched(outside)


# -- wrong types and bytes that are not UTF-8 ------------------------------------------------

WRONG = {
    "name a number": (V100, "name: churn", "name: 123", "name: expected a non-empty string"),
    "version a list": (V100, "version: 1.0.0", "version: [1]", "version: expected a non-empty"),
    "artifact a string": (V100, "artifact:\n", "artifact: x\nold_artifact:\n",
                          "artifact: expected a mapping"),
    "metrics a list": (V100, "metrics:\n", "metrics: [1, 2]\nold_metrics:\n",
                       "metrics: expected a mapping"),
    "size negative": (V100, "size: ", "size: -", "artifact.size: expected a non-negative"),
    "a timestamp that is none": (V100, "registered_at: '", "registered_at: 2026-13-01\nx: '",
                                 "a value cannot be read as the type"),
    "an empty !!int": (V100, "size: ", "size: !!int\nold_size: ",
                       "a value cannot be read"),
    "stages a list": (STAGES, "stages:\n", "stages: [1]\nold:\n", "stages: expected a mapping"),
    "stage a number key": (STAGES, "production: 1.0.0", "7: 1.0.0", "stages.7: not a valid"),
    "model a mapping": (STAGES, "model: churn", "model: {a: b}", "model: expected a non-empty"),
    "registry stages a number": ("registry.yaml", "stages:\n", "stages: 5\nold:\n",
                                 "stages: expected a non-empty list"),
    "registry policies a list": ("registry.yaml", "policies: {}", "policies: [1]",
                                 "policies: expected a mapping"),
    "registry layout escapes": ("registry.yaml", "models_dir: models", "models_dir: ../x",
                                "layout.models_dir: expected a plain relative folder"),
    "not UTF-8": (V100, "name: churn", b"name: churn\xff\xfe", "not valid YAML for gitreg"),
}


@pytest.mark.parametrize("case", list(WRONG))
def test_wrong_types_name_the_file_and_key(origin: Path, tmp_path: Path, case: str) -> None:
    rel, old, new, says = WRONG[case]
    data = (origin / rel).read_bytes()
    assert old.encode() in data
    commit(origin, {rel: data.replace(old.encode(), new if isinstance(new, bytes)
                                      else new.encode(), 1)})
    gitreg(clone(origin, tmp_path), "show", "churn@1.0.0", code=CORRUPT, says=(rel, says))


def test_a_dvc_config_that_is_not_utf8_is_named(
    origin: Path, outside: Path, tmp_path: Path
) -> None:
    commit(origin, {".dvc/config": (origin / ".dvc/config").read_bytes() + b"# \xff\n"})
    gitreg(clone(origin, tmp_path), "get", "churn", "--stage", "production",
           "-o", str(outside / "canary"), code=CORRUPT, says=(".dvc/config: not UTF-8",))
    untouched(outside)


def test_names_that_are_not_utf8_are_reported_not_crashed_on(
    origin: Path, tmp_path: Path
) -> None:
    bad = os.fsdecode(b"models/ev\xffil/versions/1.0.0.yaml")
    commit(origin, {bad: (origin / V100).read_text()})
    git(origin, "tag", os.fsdecode(b"ch\xffurn@v1.0.0"))
    work = clone(origin, tmp_path)
    assert "churn" in gitreg(work, "list", code=OK)
    gitreg(work, "history", code=OK)
    gitreg(work, "check", code=CHECK_FAILED, says=("models/ev\\udcffil: folder name",))


def test_an_escape_sequence_in_a_value_is_not_sent_to_the_terminal(
    origin: Path, tmp_path: Path
) -> None:
    text = (origin / V100).read_text().replace("name: churn", 'name: "\\e]0;pwned\\a"')
    commit(origin, {V100: text})
    output = gitreg(clone(origin, tmp_path), "show", "churn@1.0.0", code=CORRUPT,
                    says=(V100, "\\x1b]0;pwned\\x07"))
    assert "\x1b" not in output


# -- tags that look like gitreg's but mark nothing -------------------------------------------


def tag_problems(report: str) -> list[str]:
    """The tags a `gitreg check` report names, in its order."""
    return [line.split(": ")[0] for line in report.splitlines() if line.startswith("refs/tags/")]


def test_misplaced_tags_are_refused_by_ci_ignored_by_history_and_reported_by_check(
    origin: Path, tmp_path: Path
) -> None:
    head = git(origin, "rev-parse", "HEAD").strip()
    first = git(origin, "rev-list", "--max-parents=0", "HEAD").strip()
    blob = git(origin, "rev-parse", f"HEAD:{V100}").strip()
    git(origin, "tag", "churn@v9.9.9", head)  # a version never registered
    git(origin, "tag", "churn@v1.0.0-rc.1", first)
    git(origin, "tag", "churn/production/7", first)  # the commit changed no stage
    git(origin, "tag", "churn/production/8", blob)  # a blob, not a commit
    git(origin, "tag", "-a", "-m", "inner", "inner", first)
    git(origin, "tag", "-a", "-m", "tag of a tag", "churn/staging/9", "inner")
    work = clone(origin, tmp_path)
    for tag, says in (("churn@v9.9.9", "which did not add models/churn/versions/9.9.9.yaml"),
                      ("churn@v1.0.0-rc.1", "it marks no registration"),
                      ("churn/production/7", "it marks no stage change")):
        with pytest.raises(InvalidInput, match=f"tag {tag} is on commit .*{says}"):
            ci.event(Registry(work), tag)
    with pytest.raises(InvalidInput, match=r"tag churn/staging/9 points at another tag \(inner\)"):
        ci.event(Registry(work), "churn/staging/9")
    gitreg(work, "ci", "event", "churn/production/8", "--format", "json", code=INVALID_INPUT,
           says=("tag churn/production/8 points at a blob, not a commit",))
    history = gitreg(work, "history", "churn", "--json", code=OK)
    for tag in ("9.9.9", "rc.1", "production/7", "production/8", "staging/9"):
        assert tag not in history
    assert "churn/production/1" in history
    assert gitreg(work, "which", "churn", "production", code=OK).strip() == "1.0.0"
    report = gitreg(work, "check", code=CHECK_FAILED)
    problems = tag_problems(report)
    assert problems == ["refs/tags/churn/production/7", "refs/tags/churn/production/8",
                        "refs/tags/churn/staging/9", "refs/tags/churn@v1.0.0-rc.1",
                        "refs/tags/churn@v9.9.9"], report
    # Writes go on, numbering past every tag (never reusing a name).
    gitreg(work, "promote", "churn", "1.1.0", "production", code=OK,
           says=("[churn/production/9]",))


def test_a_tag_of_a_tag_is_refused_by_ci_event_and_named_by_check(
    origin: Path, tmp_path: Path
) -> None:
    """Peeled all the way, a tag made of another tag's object is on that tag's commit: it
    would be a second event of one change (a second deploy of one promotion)."""
    Registry(origin).promote("churn", "1.1.0", "production")  # churn/production/2
    # /10 sorts before /2, so history may show it with the change: check reads both.
    git(origin, "tag", "-a", "-m", "again", "churn/production/10", "churn/production/2")
    git(origin, "tag", "-a", "-m", "again", "churn/staging/2", "churn/staging/1")
    work = clone(origin, tmp_path)
    for tag, inner in (("churn/production/10", "churn/production/2"),
                       ("churn/staging/2", "churn/staging/1")):
        gitreg(work, "ci", "event", tag, code=INVALID_INPUT,
               says=(f"tag {tag} points at another tag ({inner}), not a commit",))
    gitreg(work, "ci", "event", "churn/production/2", code=OK, says=('"action": "promote"',))
    report = gitreg(work, "check", code=CHECK_FAILED)
    problems = tag_problems(report)
    assert problems == ["refs/tags/churn/production/10", "refs/tags/churn/staging/2"], report


def test_a_tag_on_a_commit_the_main_branch_does_not_hold_is_refused_by_ci_event(
    origin: Path, tmp_path: Path
) -> None:
    """A change made on a branch that was never merged, tagged by hand and pushed: it never
    passed review, and a deploy job triggered by the tag would ship it."""
    git(origin, "switch", "-q", "-c", "evil")
    edit_stage = (origin / STAGES).read_text().replace("production: 1.0.0", "production: 1.1.0")
    commit(origin, {STAGES: edit_stage}, "Promote 1.1.0\n\nGitreg-Action: promote")
    git(origin, "tag", "churn/production/2")
    git(origin, "switch", "-q", "main")
    git(origin, "branch", "-q", "-D", "evil")
    work = clone(origin, tmp_path)  # git clone: origin/HEAD names main, with its history
    assert git(work, "rev-parse", "churn/production/2^{commit}").strip()
    gitreg(work, "ci", "event", "churn/production/2", code=INVALID_INPUT,
           says=("tag churn/production/2 is on commit", "which origin/main does not hold",
                 "git push origin :refs/tags/churn/production/2"))
    gitreg(work, "ci", "event", "churn/production/1", code=OK, says=('"version": "1.0.0"',))
    report = gitreg(work, "check", code=CHECK_FAILED)
    assert "refs/tags/churn/production/2: target: tag churn/production/2 is on commit" in report
    # A CI checkout at a tag (two commits deep) cannot tell, and says so (the deploy
    # examples refuse such a tag themselves); with main's commits fetched (here all of
    # them: the clone is no longer shallow), it refuses the tag, and reads one main holds
    # without a word.
    cannot_tell = ("gitreg: warning: cannot tell whether origin's main branch holds the "
                   "commit of churn/production/")
    for tag in ("churn/production/2", "churn/production/1"):
        ci_job = ci_checkout(tmp_path, tag)
        assert cannot_tell in gitreg(ci_job, "ci", "event", tag, code=OK)
        git(ci_job, "fetch", "-q", "--no-tags", "--depth=1000", "origin",
            "+refs/heads/main:refs/remotes/origin/main")
        git(ci_job, "remote", "set-head", "origin", "main")
        if tag == "churn/production/2":
            gitreg(ci_job, "ci", "event", tag, code=INVALID_INPUT,
                   says=("which origin/main does not hold",))
        else:
            assert "warning" not in gitreg(ci_job, "ci", "event", tag, code=OK)
    # A promotion made in this clone and not pushed yet is main's: its tag is read.
    git(work, "tag", "-d", "churn/production/2")
    Registry(work).promote("churn", "1.1.0", "production")
    gitreg(work, "ci", "event", "churn/production/2", code=OK, says=('"version": "1.1.0"',))


def test_a_second_tag_on_an_old_changes_commit_is_refused_by_ci_event_and_named_by_check(
    origin: Path, tmp_path: Path
) -> None:
    """One commit changes a stage once: a tag of a higher number made later on an old
    promotion's commit would deploy that promotion again, past the rollback since."""
    registry = Registry(origin)
    registry.promote("churn", "1.1.0", "production")  # churn/production/2
    registry.rollback("churn", "production")  # churn/production/3: back to 1.0.0
    git(origin, "tag", "churn/production/10", "churn/production/2^{commit}")
    git(origin, "tag", "-a", "-m", "again", "churn/production/11", "churn/production/2^{commit}")
    work = clone(origin, tmp_path)
    for tag in ("churn/production/10", "churn/production/11"):
        gitreg(work, "ci", "event", tag, code=INVALID_INPUT,
               says=(f"tag {tag} is on commit", "churn/production/2 already marks"))
    gitreg(work, "ci", "event", "churn/production/2", code=OK, says=('"version": "1.1.0"',))
    history = gitreg(work, "history", "churn", "--stage", "production", code=OK)
    assert "churn/production/2" in history and "/10" not in history and "/11" not in history
    report = gitreg(work, "check", code=CHECK_FAILED)
    problems = tag_problems(report)
    assert problems == ["refs/tags/churn/production/10", "refs/tags/churn/production/11"], report
    # A CI checkout at the tag holds no other tag: origin's are asked (found in review).
    for tag in ("churn/production/10", "churn/production/11"):
        job = ci_checkout(tmp_path, tag)
        gitreg(job, "ci", "event", tag, code=INVALID_INPUT,
               says=(f"tag {tag} is on commit", "churn/production/2 already marks"))
    assert '"version": "1.1.0"' in gitreg(ci_checkout(tmp_path, "churn/production/2"), "ci",
                                          "event", "churn/production/2", code=OK)
    # Origin out of reach: not refused, not proved either, and said.
    job = ci_checkout(tmp_path, "churn/production/10")
    git(job, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    said = gitreg(job, "ci", "event", "churn/production/10", code=OK)
    assert "gitreg: warning: cannot tell whether an earlier tag marks the commit of " \
        "churn/production/10" in said


def test_a_second_lifecycle_tag_on_an_old_changes_commit_is_refused_by_ci_event(
    origin: Path, tmp_path: Path
) -> None:
    """As for stage tags: a deprecation tagged again would read as a new one (found in the
    third review); in a CI checkout too, where origin is asked for the tags before it."""
    from gitreg.service import lifecycle

    lifecycle.deprecate(Registry(origin), "churn", "1.1.0", reason="old", demote=True)
    first = git(origin, "tag", "--list", "churn/deprecated/1.1.0/*").split()
    assert first == ["churn/deprecated/1.1.0/1"], first
    git(origin, "tag", "churn/deprecated/1.1.0/2", "churn/deprecated/1.1.0/1^{commit}")
    work = clone(origin, tmp_path)
    says = ("tag churn/deprecated/1.1.0/2 is on commit", "churn/deprecated/1.1.0/1 already marks")
    gitreg(work, "ci", "event", "churn/deprecated/1.1.0/2", code=INVALID_INPUT, says=says)
    gitreg(ci_checkout(tmp_path, "churn/deprecated/1.1.0/2"), "ci", "event",
           "churn/deprecated/1.1.0/2", code=INVALID_INPUT, says=says)
    gitreg(work, "ci", "event", "churn/deprecated/1.1.0/1", code=OK)


def ci_checkout(tmp_path: Path, tag: str) -> Path:
    """What a CI job checked out at ``tag`` has: two commits, that tag alone."""
    job = tmp_path / f"ci-{tag.replace('/', '-')}"
    shutil.rmtree(job, ignore_errors=True)
    git(tmp_path, "init", "-q", str(job))
    git(job, "remote", "add", "origin", f"file://{tmp_path / 'origin.git'}")
    git(job, "fetch", "-q", "--no-tags", "--depth=2", "origin",
        f"+refs/tags/{tag}:refs/tags/{tag}")
    git(job, "checkout", "-q", "--detach", tag)
    return job


def test_a_tag_inside_a_merged_branch_is_refused_by_ci_event(
    origin: Path, tmp_path: Path
) -> None:
    """A commit inside a branch merged with a merge commit is an ancestor of main, but main
    never held its state: production on 1.1.0 for one commit, put back before the merge."""
    git(origin, "switch", "-q", "-c", "feature")
    text = (origin / STAGES).read_text()
    commit(origin, {STAGES: text.replace("production: 1.0.0", "production: 1.1.0")}, "Try")
    git(origin, "tag", "churn/production/2")
    commit(origin, {STAGES: text}, "Back")
    git(origin, "switch", "-q", "main")
    git(origin, "merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
    work = clone(origin, tmp_path)
    gitreg(work, "ci", "event", "churn/production/2", code=INVALID_INPUT,
           says=("of a branch that", "brought into main without what it made of churn's "
                 "production stage"))


def test_a_promotion_a_merge_brought_in_is_read_by_ci_event(
    origin: Path, tmp_path: Path
) -> None:
    """git pull (a merge) can take a pushed promotion off main's first-parent history; the
    merge kept it, and ci tag counts its tag: so does ci event (found in review)."""
    registry = Registry(origin)
    git(origin, "switch", "-q", "-c", "docs")
    commit(origin, {"NOTES.md": "notes\n"}, "Notes")
    git(origin, "switch", "-q", "main")
    registry.promote("churn", "1.1.0", "production")  # churn/production/2, on main
    git(origin, "switch", "-q", "docs")
    git(origin, "merge", "-q", "--no-ff", "-m", "Merge main", "main")
    git(origin, "switch", "-q", "main")
    git(origin, "merge", "-q", "--ff-only", "docs")  # main's first parent: the docs side
    work = clone(origin, tmp_path)
    gitreg(work, "ci", "event", "churn/production/2", code=OK, says=('"version": "1.1.0"',))


def test_a_release_tag_on_a_tree_or_made_of_another_tag_is_refused_by_ci_event(
    origin: Path, tmp_path: Path
) -> None:
    gitreg(origin, "release", "pair", "--model", "churn@1.1.0", "--stage", "production",
           code=OK, says=("release/pair/1",))
    tree = git(origin, "rev-parse", "HEAD^{tree}").strip()
    git(origin, "tag", "release/pair/2", tree)
    git(origin, "tag", "-a", "-m", "again", "release/pair/3", "release/pair/1")
    work = clone(origin, tmp_path)
    gitreg(work, "ci", "event", "release/pair/1", code=OK, says=('"release": "pair"',))
    gitreg(work, "ci", "event", "release/pair/2", code=INVALID_INPUT,
           says=("tag release/pair/2 points at a tree, not a commit",))
    gitreg(work, "ci", "event", "release/pair/3", code=INVALID_INPUT,
           says=("tag release/pair/3 points at another tag (release/pair/1), not a commit",))
    gitreg(work, "ci", "event", "release/pair/4", code=NOT_FOUND,
           says=("no tag release/pair/4 in this clone",))


# -- names gitreg refuses, in a clone's history ------------------------------------------------

REFUSED = ["models/-rf/versions/1.0.0.yaml", "models/.hidden/versions/1.0.0.yaml",
           "models/A/versions/1.0.0.yaml", "models/a b/versions/1.0.0.yaml",
           "models/churn/versions/01.1.0.yaml"]


def test_files_whose_names_gitreg_refuses_make_no_event_and_no_tag(
    origin: Path, tmp_path: Path
) -> None:
    text = (origin / V100).read_text()
    commit(origin, {path: text for path in REFUSED})
    work = clone(origin, tmp_path)
    tags = git(work, "tag")
    events = json.loads(gitreg(work, "history", "--json", code=OK))
    assert {(e["model"], e["version"]) for e in events} == {("churn", "1.0.0"),
                                                            ("churn", "1.1.0")}
    gitreg(work, "ci", "tag", code=OK, says=(
        "nothing to tag", f"gitreg: warning: not tagged: {REFUSED[0]} (and 4 more), "))
    assert git(work, "tag") == tags
    gitreg(work, "check", code=CHECK_FAILED, says=(
        "models/-rf: folder name", "models/A: folder name", "models/a b: folder name",
        "models/churn/versions/01.1.0.yaml: file name"))
    assert gitreg(work, "which", "churn", "production", code=OK).strip() == "1.0.0"


def test_a_refused_name_added_then_removed_does_not_wedge_ci_tag(
    origin: Path, tmp_path: Path
) -> None:
    commit(origin, {REFUSED[0]: (origin / V100).read_text()})
    git(origin, "rm", "-q", "-r", "models/-rf")
    git(origin, "commit", "-q", "-m", "Removed")
    stages = (origin / STAGES).read_text().replace("staging: 1.1.0", "staging: 1.0.0")
    commit(origin, {STAGES: stages}, message="Promote churn 1.0.0 to staging")
    work = clone(origin, tmp_path)
    gitreg(work, "check", code=OK)  # nothing of it is left to report
    gitreg(work, "check", "--base", "HEAD~3", code=OK)
    gitreg(work, "ci", "tag", code=OK, says=("churn/staging/2", f"not tagged: {REFUSED[0]},"))
    gitreg(work, "ci", "tag", code=OK, says=("nothing to tag", f"not tagged: {REFUSED[0]},"))
    assert "-rf" not in git(work, "tag")


def test_a_stages_file_that_names_another_model_makes_no_event(
    origin: Path, tmp_path: Path
) -> None:
    """Read by history, its changes were that model's: ci tag made the tag -rf/staging/1,
    which git refuses, on every later run."""
    stages = (origin / STAGES).read_text().replace("staging: 1.1.0", "staging: 1.0.0")
    commit(origin, {STAGES: stages.replace("model: churn", 'model: "-rf"')})
    commit(origin, {STAGES: stages}, message="Fixed")
    work = clone(origin, tmp_path)
    events = json.loads(gitreg(work, "history", "--json", code=OK))
    assert {e["model"] for e in events} == {"churn"}
    promoted = events[-1]  # the fix is the change, from the last file history could read
    assert (promoted["stage"], promoted["version"]) == ("staging", "1.0.0")
    gitreg(work, "ci", "tag", code=OK, says=("churn/staging/2",))
    head = git(work, "rev-parse", "HEAD").strip()
    assert git(work, "rev-parse", "churn/staging/2^{commit}").strip() == head
    git(work, "tag", "churn/staging/9", "HEAD~1")
    gitreg(work, "ci", "event", "churn/staging/9", code=CORRUPT,
           says=("models/churn/stages.yaml at ", "model: says '-rf', expected 'churn'"))


def test_separator_characters_in_commit_text_do_not_break_history(
    origin: Path, tmp_path: Path
) -> None:
    """gitreg splits `git log` output on control characters: a commit whose message,
    trailers or author hold them (and a rollback claim) must not split a record, stop a
    command with a traceback, or be read as another commit's fields."""
    bad = "x\x1ey\x1fz\x1c\x00"[:-1]
    git(origin, "config", "user.name", f"Mallory{bad}")
    stages = (origin / STAGES).read_text().replace("staging: 1.1.0", "staging: 1.0.0")
    commit(origin, {STAGES: stages}, message=(
        f"Promote churn 1.0.0 to staging{bad}\n\nGitreg-Action: promote\n"
        f"Gitreg-Model: churn\nGitreg-Stage: staging\nGitreg-Reason: because{bad}\n"))
    work = clone(origin, tmp_path)
    history = gitreg(work, "history", "churn", "--json", code=OK)
    events = json.loads(history)
    assert [e["version"] for e in events if e.get("stage") == "staging"][-1] == "1.0.0"
    assert any("Mallory" in str(e.get("by", "")) + str(e.get("author", "")) for e in events)
    gitreg(work, "ci", "tag", code=OK, says=("churn/staging/2",))
    gitreg(work, "ci", "event", "churn/staging/2", "--format", "json", code=OK,
           says=('"action": "promote"',))
    gitreg(work, "check", code=OK)
    gitreg(work, "site", "-o", str(tmp_path / "site"), code=OK)
    verified = subprocess.run([sys.executable, "-m", "gitreg", "verify", "--offline"], cwd=work,
                              capture_output=True, text=True, check=False)
    assert verified.returncode == 12 and "Traceback" not in verified.stderr  # unsigned
    assert "stage tag churn/staging/2: unsigned" in verified.stdout, verified.stdout


def test_trailers_in_an_earlier_paragraph_speak_only_for_their_own_model(
    origin: Path, tmp_path: Path
) -> None:
    """A squash merge's message holds a trailer block per squashed commit, and history reads
    them all (not only git's last paragraph): a crafted message hides blocks for another
    model in earlier paragraphs (a forced reason, a rollback), and one for churn that claims
    a rollback to a version production never held. churn's hand edit stays an ungated
    promotion without a reason: check fails it, no event of the other model appears."""
    data = (origin / "registry.yaml").read_text()
    commit(origin, {"registry.yaml": data.replace(
        "policies: {}", "policies:\n  production:\n    min_metrics:\n      accuracy: 0.95")},
        message="Tighten production")
    stages = (origin / STAGES).read_text().replace("production: 1.0.0", "production: 1.1.0")
    forged = "".join(
        f"* {subject}\n\nGitreg-Action: {action}\nGitreg-Model: {model}\n"
        f"Gitreg-Stage: production\nGitreg-Version: 1.1.0\n{extra}\n"
        for subject, action, model, extra in (
            ("Roll back churn", "rollback", "churn", ""),
            ("Force fraud", "promote", "fraud", "Gitreg-Reason: approved\n"),
            ("Roll back fraud", "rollback", "fraud", "Gitreg-Reason: approved\n")))
    commit(origin, {STAGES: stages}, message=(
        f"Churn 1.1.0 (#9)\n\n{forged}---------\n\nCo-authored-by: M <m@example.com>\n"))
    work = clone(origin, tmp_path)
    events = json.loads(gitreg(work, "history", "--json", code=OK))
    assert {e["model"] for e in events} == {"churn"}
    assert [(e["action"], e["version"], e["previous"], e["reason"]) for e in events
            if e["stage"] == "production"][-1] == ("promote", "1.1.0", "1.0.0", None)
    gitreg(work, "check", code=CHECK_FAILED, says=(
        "churn 1.1.0: accuracy = 0.92, production requires >= 0.95",))
    gitreg(work, "ci", "tag", code=OK, says=("churn/production/2",))
    said = json.loads(gitreg(work, "ci", "event", "churn/production/2", "--format", "json",
                             code=OK))
    assert (said["action"], said["reason"]) == ("promote", None)


# -- gitreg get --repo: blobs read from a bare clone -------------------------------------------


def test_get_from_a_hostile_repo_url_refuses_without_writing(
    origin: Path, outside: Path, tmp_path: Path
) -> None:
    text = (origin / V100).read_text()
    old = next(line for line in text.splitlines() if line.startswith("  path: "))
    commit(origin, {
        V100: text.replace(old, '  path: "models/churn/artifacts/1.0.0/.."'),
        "models/churn/versions/1.1.0.yaml": outside / "secret.yaml",
        STAGES: f"model: churn\nstages:\n  production: 1.0.0\n{_laughs()}\n",
    })
    clone(origin, tmp_path)
    bare = str(tmp_path / "origin.git")
    out = str(outside / "canary")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    gitreg(cwd, "get", "churn", "--version", "1.0.0", "--repo", bare, "-o", out,
           code=CORRUPT, says=(f"{V100}: artifact.path: ",))
    gitreg(cwd, "get", "churn", "--version", "1.1.0", "--repo", bare, "-o", out,
           code=CORRUPT, says=("models/churn/versions/1.1.0.yaml",))
    gitreg(cwd, "get", "churn", "--stage", "production", "--repo", bare, "-o", out,
           code=CORRUPT, says=(STAGES, "aliases"))
    untouched(outside)
    assert list(cwd.iterdir()) == []


def test_the_template_is_clean(origin: Path, tmp_path: Path) -> None:
    """The baseline: without a crafted file every command above succeeds."""
    work = clone(origin, tmp_path)
    gitreg(work, "check", code=OK)
    gitreg(work, "which", "churn", "production", code=OK)
    assert subprocess.run(["git", "status", "--porcelain"], cwd=work, capture_output=True,
                          text=True, check=True).stdout == ""


# -- the committed DVC config: no command run, nothing written outside (issue 13) -----------

# Every command a user may run in a clone, each with the weights it would move (if any).
WEIGHTS_COMMANDS = [("get", "churn", "--stage", "production", "-o", "out"), ("pull",),
                    ("verify", "--offline"), ("register", "churn", "model.bin", "--bump", "patch"),
                    ("push",)]
READ_COMMANDS = [("list",), ("show", "churn"), ("which", "churn", "production"),
                 ("history",), ("diff", "churn", "1.0.0", "1.1.0"), ("remote", "list")]


def _hostile_dvc_config(origin: Path, outside: Path, remote: str, extra: str) -> None:
    """The registry's .dvc/config with ``remote`` (a section, made the default) and
    ``extra`` (options of that remote, or a section; ``[core]`` ones go into its own)."""
    config = (origin / ".dvc" / "config").read_text()
    assert config.startswith("[core]\n"), config  # DVC refuses a section given twice
    if remote:
        config = re.sub(r"(?m)^(\s*remote = ).*$", r"\1evil", config) + remote + extra
    elif extra.startswith("[core]\n"):
        config = extra + config.removeprefix("[core]\n")
    else:
        config += extra
    commit(origin, {".dvc/config": config,
                    "aws.ini": "[default]\ncredential_process = sh -c 'touch "
                               f"{outside / 'canary' / 'ran'}; echo {{}}'\n"})


@pytest.mark.parametrize("section", [
    ('[\'remote "evil"\']\n    url = s3://bucket/models\n'
     "    endpointurl = http://127.0.0.1:9\n", "    configpath = aws.ini\n",
     'remote "evil".configpath'),
    ('[\'remote "evil"\']\n    url = s3://bucket/models\n'
     "    endpointurl = http://127.0.0.1:9\n", "    credentialpath = aws.ini\n",
     'remote "evil".credentialpath'),
    ('[\'remote "evil"\']\n    url = webdavs://127.0.0.1:9/m\n',
     "    bearer_token_command = sh -c 'touch {ran}'\n", 'remote "evil".bearer_token_command'),
    ('[\'remote "evil"\']\n    url = https://127.0.0.1:9/m\n',
     "    ssl_verify = /etc/shadow\n", 'remote "evil".ssl_verify'),
    ("", "[cache]\n    dir = {canary}\n", "cache.dir"),
    ("", "[cache]\n    dir = ../..\n", "cache.dir"),
    ("", "[core]\n    site_cache_dir = {canary}\n", "core.site_cache_dir"),
    # Read as DVC reads it (ConfigObj): gitreg's own parser once filed these keys under
    # another section than DVC, or saw another value, and let them through.
    ('[\'remote "evil"\']\n    url = s3://bucket/models\n'
     "    endpointurl = http://127.0.0.1:9\n    grant_read = \'\'\'\n[feature]\na = b\'\'\'\n",
     "    configpath = aws.ini\n", 'remote "evil".configpath'),
    ('[feature]\n[\'remote "evil"\'] # a = b\n    url = s3://bucket/models\n'
     "    endpointurl = http://127.0.0.1:9\n", "    configpath = aws.ini\n",
     'remote "evil".configpath'),
    ("", "[cache]\n    type = {canary}\n    dir = %(type)s\n", "cache.dir"),
], ids=["s3-configpath", "s3-credentialpath", "webdav-command", "ca-path", "cache-abs",
        "cache-up", "site-cache", "multi-line-value", "header-comment", "interpolated"])
def test_unsafe_dvc_options_from_a_clone_are_refused(
    origin: Path, outside: Path, tmp_path: Path, section: tuple[str, str, str]
) -> None:
    """Issue 13, point 1: the weights commands refuse with one line naming the option (exit
    7); nothing runs (the canary's marker is never made) and nothing lands outside."""
    remote, extra, key = section
    ran = outside / "canary" / "ran"
    _hostile_dvc_config(origin, outside, remote,
                        extra.format(ran=ran, canary=outside / "canary"))
    work = clone(origin, tmp_path)
    shutil.copy(origin / "models" / "churn" / "versions" / "1.0.0.yaml", work / "model.bin")
    for args in WEIGHTS_COMMANDS:
        gitreg(work, *args, code=CORRUPT, says=(".dvc/config", key, "config.local"))
    for args in READ_COMMANDS:
        gitreg(work, *args, code=OK)
    assert key in gitreg(work, "check", code=CHECK_FAILED)
    assert not (work / "out").exists()
    # get --repo has no clone: its cache is a folder of its own, whatever the config says.
    bare = str(tmp_path / "origin.git")
    cache = key == "cache.dir"
    gitreg(tmp_path, "get", "churn", "--stage", "production", "--repo", bare, "-o",
           str(tmp_path / "got"), code=OK if cache else CORRUPT, says=() if cache else (key,))
    assert (tmp_path / "got").exists() == cache
    untouched(outside)


def test_unsafe_options_set_in_config_local_are_this_machines_choice(
    origin: Path, outside: Path, tmp_path: Path
) -> None:
    """What config.local sets wins over the clone's, as in DVC: a cache outside is allowed
    when the user puts it there."""
    _hostile_dvc_config(origin, outside, "", f"[cache]\n    dir = {outside / 'canary'}\n")
    work = clone(origin, tmp_path)
    gitreg(work, "pull", code=CORRUPT, says=("cache.dir",))
    mine = tmp_path / "my-cache"
    (work / ".dvc" / "config.local").write_text(f"[cache]\n    dir = {mine}\n")
    gitreg(work, "pull", code=OK)
    assert (mine / "files" / "md5").is_dir()
    untouched(outside)


def test_a_config_local_in_git_came_with_the_clone_and_is_checked_as_committed(
    origin: Path, outside: Path, tmp_path: Path
) -> None:
    """``git add -f`` gets .dvc/config.local past DVC's .gitignore: in a clone it is no
    setting of this machine's, and was trusted as one (a command ran, a cache outside was
    written). Out of git, it is the user's own again."""
    _hostile_dvc_config(origin, outside, '[\'remote "evil"\']\n    url = s3://bucket/m\n'
                        "    endpointurl = http://127.0.0.1:9\n", "")
    commit(origin, {".dvc/config.local": '[\'remote "evil"\']\n    configpath = ../aws.ini\n'
                                         f"[cache]\n    dir = {outside / 'canary'}\n"})
    work = clone(origin, tmp_path)
    shutil.copy(origin / "models" / "churn" / "versions" / "1.0.0.yaml", work / "model.bin")
    says = (".dvc/config.local", "in git", "git rm --cached .dvc/config.local")
    for args in WEIGHTS_COMMANDS:
        gitreg(work, *args, code=CORRUPT, says=says)
    for args in READ_COMMANDS:
        gitreg(work, *args, code=OK)
    assert "came with the clone" in gitreg(work, "check", code=CHECK_FAILED)
    untouched(outside)
    git(work, "rm", "--quiet", "--cached", ".dvc/config.local")
    assert "came with the clone" not in gitreg(work, "check", code=OK)


def test_a_dvc_folder_linked_out_of_the_repository_is_not_read(
    origin: Path, outside: Path, tmp_path: Path
) -> None:
    (outside / "dvc").mkdir(exist_ok=True)
    (outside / "dvc" / "config").write_text(f"[core]\n    remote = x\n# {SECRET}\n")
    work = clone(origin, tmp_path)
    shutil.rmtree(work / ".dvc")
    (work / ".dvc").symlink_to(outside / "dvc")
    out = gitreg(work, "pull", code=CORRUPT, says=(".dvc: is a symbolic link",))
    assert SECRET not in out
    assert ".dvc" in gitreg(work, "check", code=CHECK_FAILED)


def test_a_committed_cache_link_out_of_the_repository_is_refused(
    origin: Path, outside: Path, tmp_path: Path
) -> None:
    commit(origin, {".dvc/cache": outside / "canary"})
    work = clone(origin, tmp_path)
    gitreg(work, "pull", code=CORRUPT, says=(".dvc/cache", "link out of the repository"))
    untouched(outside)


def test_links_committed_inside_the_cache_are_refused_before_weights_move(
    origin: Path, outside: Path, tmp_path: Path, weights: Path
) -> None:
    # Not the cache itself a link (above), but every folder inside it: DVC would write the
    # weights it pulls, and the ones a victim registers, into the linked folder.
    shutil.rmtree(origin / ".dvc" / "cache", ignore_errors=True)
    commit(origin, {f".dvc/cache/files/md5/{i:02x}": outside / "canary" for i in range(256)})
    work = clone(origin, tmp_path)
    says = (".dvc/cache/files/md5/00", "is in git, inside DVC's cache",
            "git rm -r --cached -- .dvc/cache")
    gitreg(work, "pull", code=CORRUPT, says=says)
    gitreg(work, "get", "churn", "--stage", "production", "-o", str(tmp_path / "model"),
           code=CORRUPT, says=says)
    gitreg(work, "register", "churn", str(weights), "--version", "3.0.0", code=CORRUPT,
           says=says)
    assert ".dvc/cache/files/md5/00" in gitreg(work, "check", code=CHECK_FAILED)
    untouched(outside)
    assert not (tmp_path / "model").exists()
    assert not (work / "models" / "churn" / "versions" / "3.0.0.yaml").exists()


# -- text from a clone on a terminal (issue 13, point 3) ---------------------------------------

ESC = "\x1b]0;pwned\x07\x1b[2J"


def test_html_in_a_metric_name_is_text_in_the_pull_request_comment(
    origin: Path, tmp_path: Path
) -> None:
    # A pull request's comment is the markdown of `diff --format markdown`: "<!--" in a
    # metric's name hid the rest of it, "<img src=...>" loaded a picture from anywhere.
    text = (origin / V100).read_text().replace(
        "  accuracy: 0.9", "  accuracy: 0.9\n  '<!-- hidden': 1.0\n  '<img src=//x.test/a>': 2.0")
    commit(origin, {V100: text})
    work = clone(origin, tmp_path)
    comment = gitreg(work, "diff", "churn", "1.1.0", "1.0.0", "--format", "markdown", code=OK)
    assert "<!--" not in comment and "<img" not in comment
    assert "| &lt;!-- hidden |" in comment and "| &lt;img src=//x.test/a&gt; |" in comment
    card = gitreg(work, "export", "model-card", "churn@1.0.0", code=OK)
    body = card.split("\n---\n", 1)[1]  # the front matter is YAML, read as data
    assert "<!--" not in body and "<img" not in body and "&lt;!-- hidden" in body


def test_registry_text_is_escaped_on_a_terminal_and_in_markdown_exact_in_json(
    origin: Path, tmp_path: Path
) -> None:
    text = (origin / V100).read_text()
    quoted = '"\\e]0;pwned\\a\\e[2J"'
    for old, new in (("description: null", f"description: {quoted[:-1]}\\nforged line\""),
                     ("model_type: null", f"model_type: {quoted}"),
                     ("labels: []", f"labels: [{quoted}]"),
                     ("  accuracy: 0.9", f"  accuracy: 0.9\n  {quoted}: 1.0")):
        assert old in text, old
        text = text.replace(old, new, 1)
    text = re.sub(r"registered_by: .*", lambda _: f"registered_by: {quoted}", text)
    commit(origin, {V100: text})
    work = clone(origin, tmp_path)
    for args in (("show", "churn@1.0.0"), ("list",), ("list", "churn"),
                 ("diff", "churn", "1.0.0", "1.1.0"),
                 ("diff", "churn", "1.1.0", "1.0.0", "--format", "markdown"), ("history",)):
        output = gitreg(work, *args, code=OK)
        assert "\x1b" not in output and "\x07" not in output, args
    shown = gitreg(work, "show", "churn@1.0.0", code=OK)
    assert "\\x1b]0;pwned\\x07" in shown
    assert "\\nforged line" in shown and "\nforged line" not in shown
    data = json.loads(gitreg(work, "show", "churn@1.0.0", "--json", code=OK))
    assert data["description"] == f"{ESC}\nforged line"
    assert data["model_type"] == ESC and data["labels"] == [ESC]
    assert ESC in data["metrics"]
