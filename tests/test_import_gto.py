"""``gitreg import gto``: a registry built with the real ``gto`` command, replayed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from coldreads import parsed_by_list_and_which
from conftest import git, run_cli

from gitreg.service.registry import Registry

GTO = Path(sys.executable).parent / "gto"
pytestmark = pytest.mark.skipif(not GTO.exists(), reason="gto is installed with dvc")


def _run(cwd: Path, *args: str, who: str = "Ana", date: str = "") -> None:
    env = {**os.environ, "GIT_COMMITTER_NAME": who, "GIT_AUTHOR_NAME": who,
           "GIT_COMMITTER_EMAIL": f"{who.lower()}@example.com",
           "GIT_AUTHOR_EMAIL": f"{who.lower()}@example.com"}
    if date:
        env |= {"GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date}
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)


_LAST_TAG = [0.0]


def _gto(cwd: Path, *args: str, who: str = "Ana") -> None:
    """``gto ARGS``, in a second of its own: gto dates its tags by the clock, in whole
    seconds, and at the same second orders a registration before an assignment (as the
    import does). The expected order below is the order the commands ran in."""
    while int(time.time()) <= int(_LAST_TAG[0]):
        time.sleep(0.05)
    _run(cwd, str(GTO), *args, who=who)
    _LAST_TAG[0] = time.time()


def _gto_registry(tmp_path: Path) -> Path:
    """churn v1.0.0 and v1.1.0 (weights in DVC), in prod and staging, one unassignment,
    a deregistration; every tag with its own author and date."""
    # GitPython, which gto uses, reads ~/.gitconfig, not GIT_CONFIG_GLOBAL.
    (Path.home() / ".gitconfig").write_text(Path(os.environ["GIT_CONFIG_GLOBAL"]).read_text())
    root = tmp_path / "gto-repo"
    root.mkdir()
    dvc = (sys.executable, "-m", "dvc")
    _run(root, "git", "init", "-q")
    _run(root, *dvc, "init", "-q")
    (root / "models").mkdir()
    (root / "models" / "churn.bin").write_bytes(b"gto weights one\n" * 50)
    _run(root, *dvc, "add", "-q", "models/churn.bin")
    (root / "dvc.yaml").write_text(
        "artifacts:\n  churn:\n    path: models/churn.bin\n    type: model\n"
        "    desc: Churn classifier\n    labels: [tabular, team=growth]\n")
    _run(root, "git", "add", "-A")
    _run(root, "git", "commit", "-qm", "first model", date="2024-03-01T09:00:00+00:00")
    _gto(root, "register", "churn", "--version", "v1.0.0")
    _gto(root, "assign", "churn", "--version", "v1.0.0", "--stage", "prod", who="Bob")
    (root / "models" / "churn.bin").write_bytes(b"gto weights two\n" * 50)
    _run(root, *dvc, "add", "-q", "models/churn.bin")
    _run(root, "git", "commit", "-qam", "second model", date="2024-03-03T09:00:00+00:00")
    _gto(root, "register", "churn", "--bump-minor")
    _gto(root, "assign", "churn", "--version", "v1.1.0", "--stage", "staging")
    _gto(root, "assign", "churn", "--version", "v1.1.0", "--stage", "prod", who="Bob")
    _gto(root, "deprecate", "churn", "v1.1.0", "staging", who="Cy")
    _gto(root, "deprecate", "churn", "v1.0.0", who="Cy")
    _gto(root, "assign", "churn", "--version", "v1.1.0", "--stage", "qa")
    return root


@pytest.mark.slow
def test_import_replays_gto_history(registry: Registry, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    source = _gto_registry(tmp_path)
    before = git(registry.root, "rev-parse", "HEAD").strip()
    proc = run_cli("import", "gto", str(source), cwd=registry.root, check=True)
    # The caches are warm at the end: the first `list` or `which` parses no file again.
    assert parsed_by_list_and_which(registry.root, monkeypatch) == []
    shutil.rmtree(registry.root / ".git" / "gitreg-cache")  # the probe sees a cold cache:
    assert "models/churn/versions/1.1.0.yaml" in parsed_by_list_and_which(registry.root,
                                                                           monkeypatch)
    assert proc.stdout.splitlines()[:5] == [
        "churn 1.0.0 registered [churn@v1.0.0]",
        "churn 1.0.0 promoted to production [churn/production/1]",
        "churn 1.1.0 registered [churn@v1.1.0]",
        "churn 1.1.0 promoted to staging [churn/staging/1]",
        "churn 1.1.0 promoted to production (was 1.0.0) [churn/production/2]",
    ]
    assert "churn 1.1.0 demoted from staging [churn/staging/2]" in proc.stdout
    # GTO's deregistration of v1.0.0 is a gitreg deprecation, with its author and date.
    assert ("churn 1.0.0 deprecated: imported from GTO tag churn@v1.0.0! "
            "[churn/deprecated/1.0.0/1]") in proc.stdout.splitlines()
    assert "deregister" not in proc.stdout
    assert "skipped: churn#qa#5: GTO stage 'qa' is not a stage of this registry" in proc.stdout
    assert "note: metrics, hyperparameters and features are empty" in proc.stdout

    # Each commit carries its GTO tag's tagger and date (gto dates tags itself: the clock).
    log = git(registry.root, "log", "--reverse", "--format=%an|%ae|%aI|%cI",
              f"{before}..HEAD").splitlines()
    tags = ["churn@v1.0.0", "churn#prod#1", "churn@v1.1.0", "churn#staging#2", "churn#prod#3",
            "churn#staging!#4", "churn@v1.0.0!"]
    tagged = [git(source, "for-each-ref", "--format=%(taggername)|%(taggeremail:trim)|"
                  "%(taggerdate:iso-strict)", f"refs/tags/{tag}").strip() for tag in tags]
    assert [line.rsplit("|", 1)[0] for line in log] == tagged
    assert all(line.split("|")[2] == line.split("|")[3] for line in log)
    assert [line.split("|")[0] for line in log] == ["Ana", "Bob", "Ana", "Ana", "Bob", "Cy", "Cy"]
    registry = Registry(registry.root)
    record = registry.record("churn", "1.0.0")
    assert record.registered_at == tagged[0].rsplit("|", 1)[1]
    assert record.registered_by == "Ana <ana@example.com>"
    assert record.description == "Churn classifier"
    assert record.labels == ("tabular", "team=growth")
    gto_commit = git(source, "rev-parse", "churn@v1.0.0^{commit}").strip()
    assert record.lineage.code_commit == gto_commit
    assert record.metrics == {}
    assert registry.deprecations("churn").versions == {
        "1.0.0": "imported from GTO tag churn@v1.0.0!"}
    listed = run_cli("list", "churn", "--json", cwd=registry.root, check=True).stdout
    assert '"1.0.0"' not in listed and '"1.1.0"' in listed
    # The same DVC object as in the GTO repository: same md5, same bytes.
    pointer = (source / "models" / "churn.bin.dvc").read_text()
    assert registry.record("churn", "1.1.0").artifact.md5 in pointer
    out = tmp_path / "out.bin"
    run_cli("get", "churn", "--stage", "production", "-o", str(out), cwd=registry.root,
            check=True)
    assert out.read_bytes() == b"gto weights two\n" * 50
    assert run_cli("which", "churn", "production", cwd=registry.root).stdout.strip() == "1.1.0"
    assert run_cli("check", cwd=registry.root).returncode == 0

    # A rerun imports nothing; a mapped stage is what is new the second time.
    head = git(registry.root, "rev-parse", "HEAD")
    again = run_cli("import", "gto", str(source), cwd=registry.root, check=True)
    assert again.stdout.startswith("nothing new to import")
    assert git(registry.root, "rev-parse", "HEAD") == head
    mapped = run_cli("import", "gto", str(source), "--stage-map", "qa=dev", cwd=registry.root,
                     check=True)
    assert mapped.stdout.splitlines()[0] == "churn 1.1.0 promoted to dev [churn/dev/1]"


def test_gto_deprecations_become_gitreg_deprecations(registry: Registry,
                                                     tmp_path: Path) -> None:
    """A deregistered version that a stage holds is deprecated and demoted in one commit;
    ``gto deprecate NAME`` (the tag ``NAME@deprecated``) deprecates the whole model."""
    (Path.home() / ".gitconfig").write_text(Path(os.environ["GIT_CONFIG_GLOBAL"]).read_text())
    root = tmp_path / "gto-repo"
    root.mkdir()
    _run(root, "git", "init", "-q")
    (root / "model.bin").write_bytes(b"weights in git\n")
    (root / "dvc.yaml").write_text("artifacts:\n  churn:\n    path: model.bin\n")
    _run(root, "git", "add", "-A")
    _run(root, "git", "commit", "-qm", "model")
    gto = str(GTO)
    _run(root, gto, "register", "churn", "--version", "v1.0.0")
    (root / "model.bin").write_bytes(b"weights in git, two\n")
    _run(root, "git", "commit", "-qam", "model two")
    _run(root, gto, "register", "churn", "--version", "v1.1.0")
    _run(root, gto, "assign", "churn", "--version", "v1.0.0", "--stage", "prod", who="Bob")
    _run(root, gto, "deprecate", "churn", "v1.0.0", who="Cy")
    _run(root, gto, "deprecate", "churn", who="Dee")

    proc = run_cli("import", "gto", str(root), cwd=registry.root, check=True)
    lines = proc.stdout.splitlines()
    assert lines[-4:-1] == [
        "churn 1.0.0 deprecated: imported from GTO tag churn@v1.0.0! "
        "[churn/deprecated/1.0.0/1]",
        "churn 1.0.0 demoted from production [churn/production/2]",
        "churn all versions deprecated: imported from GTO tag churn@deprecated "
        "[churn/deprecated/all/1]"]
    registry = Registry(registry.root)
    assert registry.deprecations("churn").versions == {
        "1.0.0": "imported from GTO tag churn@v1.0.0!",
        "1.1.0": "imported from GTO tag churn@deprecated"}
    assert registry.which("churn", "production") == ()
    # The deprecation and its demotion are one commit, by the GTO tag's author.
    assert git(registry.root, "log", "-1", "--format=%an", "churn/deprecated/1.0.0/1") == "Cy\n"
    assert git(registry.root, "log", "-1", "--format=%an", "churn/deprecated/all/1") == "Dee\n"
    shown = run_cli("history", "churn", cwd=registry.root, check=True).stdout
    assert "deprecated" in shown
    assert run_cli("check", cwd=registry.root).returncode == 0
    head = git(registry.root, "rev-parse", "HEAD")
    again = run_cli("import", "gto", str(root), cwd=registry.root, check=True)
    assert again.stdout.startswith("nothing new to import")
    assert git(registry.root, "rev-parse", "HEAD") == head


def test_import_refuses_unknown_stage_map_and_non_repo(registry: Registry,
                                                       tmp_path: Path) -> None:
    head = git(registry.root, "rev-parse", "HEAD")
    proc = run_cli("import", "gto", str(tmp_path), "--stage-map", "prod=live",
                   cwd=registry.root)
    assert proc.returncode == 3
    assert proc.stderr.startswith("gitreg: error: --stage-map prod=live: 'live' is not a stage")
    proc = run_cli("import", "gto", str(tmp_path), cwd=registry.root)
    assert proc.returncode == 3 and "is not a git repository" in proc.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    git(plain, "init", "-q")
    proc = run_cli("import", "gto", str(plain), cwd=registry.root, check=True)
    assert "note: no GTO tags there" in proc.stdout
    assert git(registry.root, "rev-parse", "HEAD") == head


def test_a_bare_repository_imports_and_a_hostile_path_is_skipped(registry: Registry,
                                                                  tmp_path: Path) -> None:
    """A bare repository (what a server keeps) is a source like a URL; an artifact whose
    path leaves the repository is listed as skipped, and the rest still comes over."""
    (Path.home() / ".gitconfig").write_text(Path(os.environ["GIT_CONFIG_GLOBAL"]).read_text())
    root = tmp_path / "gto-repo"
    root.mkdir()
    _run(root, "git", "init", "-q")
    (root / "model.bin").write_bytes(b"weights in git\n")
    (root / "dvc.yaml").write_text("artifacts:\n  churn:\n    path: model.bin\n"
                                   "    labels: [\"two\\nlines\\e[2J\"]\n"
                                   "  evil:\n    path: ../../etc/passwd\n"
                                   "  bomb:\n    path: bomb.bin\n")
    (root / "bomb.bin").write_bytes(b"x")
    # A DVC pointer of nine aliases of nine aliases...: no YAML gitreg reads.
    laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))
    (root / "bomb.bin.dvc").write_text(laughs)
    _run(root, "git", "add", "-A")
    _run(root, "git", "commit", "-qm", "model")
    _run(root, str(GTO), "register", "evil", "--version", "v1.0.0")
    _run(root, str(GTO), "register", "bomb", "--version", "v1.0.0")
    _run(root, str(GTO), "register", "churn", "--version", "v1.0.0")
    bare = tmp_path / "gto.git"
    _run(tmp_path, "git", "clone", "-q", "--bare", str(root), str(bare))

    proc = run_cli("import", "gto", str(bare), cwd=registry.root)
    assert proc.returncode == 0, proc.stderr
    assert "churn 1.0.0 registered [churn@v1.0.0]" in proc.stdout.splitlines()
    assert ("skipped: evil@v1.0.0: dvc.yaml@" in proc.stdout
            and "'../../etc/passwd' is not a plain relative path" in proc.stdout)
    assert not (registry.root / "models" / "evil").exists()
    assert "skipped: bomb@v1.0.0: bomb.bin.dvc@" in proc.stdout
    assert Registry(registry.root).record("churn", "1.0.0").labels == ("two\\nlines\\x1b[2J",)
