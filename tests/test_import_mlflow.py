"""``gitreg import mlflow`` against MLflow's own client: a ``sqlite:///`` store and a real
``mlflow server`` on loopback, with models, versions, runs, aliases and tags."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from coldreads import parsed_by_list_and_which
from conftest import git, run_cli

from gitreg.service.registry import Registry

mlflow = pytest.importorskip("mlflow")


def _populate(uri: str, tmp_path: Path) -> dict[str, Any]:
    """Two versions of "Churn Model" from two runs, tags, descriptions, two aliases."""
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri, uri)
    experiment = client.create_experiment("churn", artifact_location=str(tmp_path / "mlartifacts"))
    client.create_registered_model("Churn Model", tags={"team": "growth"},
                                   description="Predicts churn")
    created = {}
    for number, (accuracy, depth) in enumerate(((0.91, 4), (0.93, 6)), start=1):
        run = client.create_run(experiment, tags={"mlflow.source.git.commit": f"abc{number}"})
        client.log_metric(run.info.run_id, "accuracy", accuracy)
        client.log_param(run.info.run_id, "max_depth", str(depth))
        weights = tmp_path / f"model-{number}.bin"
        weights.write_bytes(f"mlflow weights {number}\n".encode() * 30)
        client.log_artifact(run.info.run_id, str(weights), "model")
        client.set_terminated(run.info.run_id)
        version = client.create_model_version(
            "Churn Model", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id,
            tags={"reviewed": "yes"}, description=f"version {number}")
        created[str(version.version)] = (version, run.info.run_id)
    client.set_registered_model_alias("Churn Model", "production", "1")
    client.set_registered_model_alias("Churn Model", "champion", "2")
    return created


def _check_import(registry: Registry, created: dict[str, Any], uri: str,
                  monkeypatch: pytest.MonkeyPatch) -> None:
    before = git(registry.root, "rev-parse", "HEAD").strip()
    proc = run_cli("import", "mlflow", "--tracking-uri", uri, cwd=registry.root, check=True)
    # The caches are warm at the end: the first `list` or `which` parses no file again.
    assert parsed_by_list_and_which(registry.root, monkeypatch) == []
    assert proc.stdout.splitlines()[:3] == [
        "churn-model 1.0.0 registered [churn-model@v1.0.0]",
        "churn-model 2.0.0 registered [churn-model@v2.0.0]",
        "churn-model 1.0.0 promoted to production [churn-model/production/1]",
    ]
    assert "skipped: Churn Model alias or stage 'champion' (version 2)" in proc.stdout
    assert proc.stderr == ""
    registry = Registry(registry.root)
    log = git(registry.root, "log", "--reverse", "--format=%aI", f"{before}..HEAD").split()
    for number, date in (("1", log[0]), ("2", log[1])):
        version, run_id = created[number]
        when = datetime.fromtimestamp(version.creation_timestamp // 1000, timezone.utc)
        assert datetime.fromisoformat(date) == when
        record = registry.record("churn-model", f"{number}.0.0")
        assert datetime.fromisoformat(record.registered_at) == when
        assert record.metrics == {"accuracy": 0.91 if number == "1" else 0.93}
        assert record.hyperparameters == {"max_depth": 4 if number == "1" else 6}
        assert record.description == f"version {number}"
        assert record.lineage.code_commit == f"abc{number}"
        assert set(record.labels) >= {"team=growth", "reviewed=yes", "mlflow_version=" + number,
                                      f"mlflow_run_id={run_id}", "mlflow_model=Churn Model"}
        out = registry.root.parent / f"out-{number}"
        run_cli("get", "churn-model", "--version", f"{number}.0.0", "-o", str(out),
                cwd=registry.root, check=True)
        assert (out / f"model-{number}.bin").read_bytes() == (
            f"mlflow weights {number}\n".encode() * 30)
    assert run_cli("which", "churn-model", "production",
                   cwd=registry.root).stdout.strip() == "1.0.0"
    # A second run imports nothing; a mapped alias is all that is new after that.
    head = git(registry.root, "rev-parse", "HEAD")
    again = run_cli("import", "mlflow", "--tracking-uri", uri, cwd=registry.root, check=True)
    assert again.stdout.startswith("nothing new to import")
    assert git(registry.root, "rev-parse", "HEAD") == head
    mapped = run_cli("import", "mlflow", "--tracking-uri", uri, "--stage-map",
                     "champion=staging", cwd=registry.root, check=True)
    assert mapped.stdout.splitlines() == [
        "churn-model 2.0.0 promoted to staging [churn-model/staging/1]"]


@pytest.mark.slow
def test_import_from_sqlite_store(registry: Registry, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    created = _populate(uri, tmp_path)
    _check_import(registry, created, uri, monkeypatch)


def test_interrupted_import_is_finished_by_a_rerun(registry: Registry, tmp_path: Path) -> None:
    """Killed in the middle (SIGKILL, no undo), the import leaves whole steps only; the
    next run recovers and finishes, ending where an uninterrupted import ends."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _populate(uri, tmp_path)
    args = ["import", "mlflow", "--tracking-uri", uri]
    traced = tmp_path / "traced"
    shutil.copytree(registry.root, traced, symlinks=True)
    trace = tmp_path / "trace.txt"
    _gitreg(traced, args, GITREG_FAULT_TRACE=str(trace))
    expected = git(traced, "tag", "-l")
    points = len(trace.read_text().splitlines())
    scratch = tmp_path / "scratch"  # what the killed process cannot clean up lands here
    scratch.mkdir()
    killed = _gitreg(registry.root, args, GITREG_FAULT_KILL_AT=str(points // 2),
                     TMPDIR=str(scratch))
    assert killed.returncode == -9
    assert git(registry.root, "tag", "-l") != expected  # it did stop part-way
    finished = _gitreg(registry.root, args)
    assert finished.returncode == 0, finished.stderr
    assert git(registry.root, "tag", "-l") == expected
    assert run_cli("check", cwd=registry.root).returncode == 0
    assert git(registry.root, "status", "--porcelain") == ""


def _gitreg(cwd: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gitreg", *args], cwd=cwd, text=True,
                          capture_output=True, env={**os.environ, **env}, check=False)


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = (tmp_path / "mlflow-server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--default-artifact-root", str(tmp_path / "server-artifacts")],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "mlflow-server.log").read_text()) from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def test_import_from_mlflow_server(registry: Registry, tmp_path: Path, mlflow_server: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    created = _populate(mlflow_server, tmp_path)
    _check_import(registry, created, mlflow_server, monkeypatch)


def test_unreachable_server_or_missing_store_changes_nothing(
        registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    head = git(registry.root, "rev-parse", "HEAD")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    proc = run_cli("import", "mlflow", "--tracking-uri", f"http://127.0.0.1:{closed}",
                   cwd=registry.root)
    assert proc.returncode == 8, proc.stderr
    assert proc.stderr.startswith("gitreg: error: MLflow at http://127.0.0.1:")
    assert len(proc.stderr.splitlines()) == 1
    proc = run_cli("import", "mlflow", "--tracking-uri", f"sqlite:///{tmp_path / 'typo.db'}",
                   cwd=registry.root)
    assert proc.returncode == 3 and "--tracking-uri sqlite:///" in proc.stderr
    assert not (tmp_path / "typo.db").exists()
    assert git(registry.root, "rev-parse", "HEAD") == head


def test_gitreg_names_of_mlflow_models() -> None:
    from gitreg.service.importers.mlflow import gitreg_name

    assert gitreg_name("Churn Model") == "churn-model"
    assert gitreg_name("fraud/v2..final") == "fraud-v2.final"
    assert gitreg_name("Ünïcode") == "n-code"
    assert gitreg_name("@@@") is None


def test_two_models_with_one_gitreg_name(registry: Registry, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    client.create_registered_model("Churn Model")
    client.create_registered_model("churn-model")
    proc = run_cli("import", "mlflow", "--tracking-uri", uri, cwd=registry.root, check=True)
    assert ("skipped: model 'churn-model': its gitreg name churn-model is taken by "
            "'Churn Model'") in proc.stdout


def test_policies_are_overridden_unless_they_forbid_it(registry: Registry,
                                                       tmp_path: Path) -> None:
    from sample_registries import with_policies

    registry = with_policies(registry, {
        "staging": {"min_metrics": {"accuracy": 0.99}},
        "production": {"min_metrics": {"accuracy": 0.99}, "allow_force": False},
    })
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _populate(uri, tmp_path)
    proc = run_cli("import", "mlflow", "--tracking-uri", uri, "--stage-map", "champion=staging",
                   cwd=registry.root, check=True)
    assert "churn-model 2.0.0 promoted to staging [churn-model/staging/1]" in proc.stdout
    assert "skipped: Churn Model alias or stage 'production': churn-model 1.0.0" in proc.stdout
    assert run_cli("which", "churn-model", "production", cwd=registry.root).returncode == 4
    reason = git(registry.root, "log", "-1", "--format=%(trailers:key=Gitreg-Reason,valueonly)",
                 "churn-model/staging/1")
    assert reason.strip() == "imported from MLflow: Churn Model champion -> version 2"


def test_archived_versions_become_deprecations(registry: Registry, tmp_path: Path) -> None:
    """MLflow's end of life (the ``Archived`` stage) is gitreg's deprecation; a version an
    alias still serves is left in its stage, with a note; a rerun adds nothing."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    experiment = client.create_experiment("old", artifact_location=str(tmp_path / "art"))
    client.create_registered_model("Old Model")
    for number in (1, 2, 3):
        run = client.create_run(experiment)
        weights = tmp_path / f"old-{number}.bin"
        weights.write_bytes(f"old weights {number}\n".encode() * 10)
        client.log_artifact(run.info.run_id, str(weights), "model")
        client.create_model_version("Old Model", f"runs:/{run.info.run_id}/model",
                                    run_id=run.info.run_id)
    for number in ("1", "2"):
        client.transition_model_version_stage("Old Model", number, "Archived")
    client.set_registered_model_alias("Old Model", "production", "2")

    proc = run_cli("import", "mlflow", "--tracking-uri", uri, cwd=registry.root, check=True)
    assert ("old-model 1.0.0 deprecated: imported from MLflow: Old Model version 1 Archived "
            "[old-model/deprecated/1.0.0/1]") in proc.stdout.splitlines()
    assert "skipped: Old Model version 2: Archived in MLflow, but old-model 2.0.0 is in " \
           "production; not deprecated" in proc.stdout
    shown = run_cli("show", "old-model@1.0.0", "--json", cwd=registry.root, check=True).stdout
    assert "imported from MLflow: Old Model version 1 Archived" in shown
    listed = run_cli("list", "old-model", cwd=registry.root, check=True).stdout
    assert "1.0.0" not in listed and "2.0.0" in listed and "3.0.0" in listed
    head = git(registry.root, "rev-parse", "HEAD")
    again = run_cli("import", "mlflow", "--tracking-uri", uri, cwd=registry.root, check=True)
    assert git(registry.root, "rev-parse", "HEAD") == head, again.stdout
    assert run_cli("check", cwd=registry.root).returncode == 0


def test_hostile_names_tags_and_huge_values_come_over_escaped(registry: Registry,
                                                               tmp_path: Path) -> None:
    """What an MLflow server hands over is untrusted: a terminal escape or a line break in a
    model's name or tags becomes printable text, a name too long to be a gitreg name is
    listed (shortened) as skipped, and the import goes on to the end."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    experiment = client.create_experiment("x", artifact_location=str(tmp_path / "art"))
    evil = "Evil\x1b[31m Model"
    client.create_registered_model(evil, tags={"note": "two\nlines\x1b[2J"})
    client.create_registered_model("x" * 300)
    for model in (evil, evil, "x" * 300):
        run = client.create_run(experiment)
        weights = tmp_path / "w.bin"
        weights.write_bytes(f"{model} {time.time()}\n".encode())
        client.log_artifact(run.info.run_id, str(weights), "model")
        client.create_model_version(model, f"runs:/{run.info.run_id}/model",
                                    run_id=run.info.run_id)
    client.transition_model_version_stage(evil, "1", "Archived")
    client.set_registered_model_alias(evil, "production", "2")

    proc = run_cli("import", "mlflow", "--tracking-uri", uri, cwd=registry.root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.isprintable() or all(line.isprintable()
                                            for line in proc.stdout.splitlines())
    name = "evil-31m-model"
    assert f"{name} 2.0.0 promoted to production [{name}/production/1]" in proc.stdout
    assert (f"{name} 1.0.0 deprecated: imported from MLflow: Evil\\x1b[31m Model version 1 "
            f"Archived [{name}/deprecated/1.0.0/1]") in proc.stdout.splitlines()
    skipped = [line for line in proc.stdout.splitlines() if "no valid gitreg name" in line]
    assert len(skipped) == 1 and len(skipped[0]) < 200
    record = Registry(registry.root).record(name, "1.0.0")
    assert "note=two\\nlines\\x1b[2J" in record.labels
    assert "mlflow_model=Evil\\x1b[31m Model" in record.labels
    assert all(label.isprintable() for label in record.labels)
    assert run_cli("check", cwd=registry.root).returncode == 0
    head = git(registry.root, "rev-parse", "HEAD")
    again = run_cli("import", "mlflow", "--tracking-uri", uri, cwd=registry.root, check=True)
    assert git(registry.root, "rev-parse", "HEAD") == head, again.stdout


def test_a_uri_mlflow_cannot_open_or_an_unknown_model_is_one_line(
        registry: Registry, tmp_path: Path) -> None:
    """A scheme MLflow has no store for, a folder that is not there, a --model MLflow does
    not know: one line, the documented code, nothing written."""
    from mlflow import MlflowClient

    head = git(registry.root, "rev-parse", "HEAD")
    for uri in ("ftp://example.com/x", str(tmp_path / "no-such-mlruns")):
        proc = run_cli("import", "mlflow", "--tracking-uri", uri, cwd=registry.root)
        assert proc.returncode == 3, proc.stderr
        assert proc.stderr.startswith(f"gitreg: error: --tracking-uri {uri}: ")
        assert len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "no-such-mlruns").exists()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri, uri).create_registered_model("Churn")
    proc = run_cli("import", "mlflow", "--tracking-uri", uri, "--model", "Chrun",
                   cwd=registry.root)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr == f"gitreg: error: MLflow at {uri} has no registered model 'Chrun'\n"
    assert git(registry.root, "rev-parse", "HEAD") == head
