"""Signed promotions (issue 6): --sign, gitreg verify, and the require_signed policy.

Signing is git's own, here with throw-away SSH keys (``gpg.format ssh``) and an allowed
signers file that trusts one of them, configured in each test registry's own git config.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot, write_weights
from sample_registries import with_policies

from gitreg import ModelRegistry
from gitreg.errors import PolicyViolation, ToolFailed
from gitreg.git.signatures import Status
from gitreg.service.registry import Registry
from gitreg.service.verify import verify
from gitreg.weights.dvc import Weights

VERIFY_FAILED = 12
POLICY_VIOLATION = 9
TOOL_FAILED = 8
CHECK_FAILED = 10
SIGNER = "test@example.com"


def _key(folder: Path, name: str) -> tuple[Path, str]:
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
                   check=True)
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", f"{key}.pub"], check=True,
                                 capture_output=True, text=True).stdout.split()[1]
    return key, fingerprint


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """A trusted key (in the allowed signers file) and a stranger's."""
    folder = tmp_path / "_keys"
    folder.mkdir()
    found = {"trusted": _key(folder, "trusted"), "stranger": _key(folder, "stranger")}
    public = (folder / "trusted.pub").read_text().strip()
    (folder / "allowed_signers").write_text(f"{SIGNER} {public}\n")
    return found


@pytest.fixture
def signed(registry: Registry, keys: dict[str, tuple[Path, str]]) -> Registry:
    """The registry, with git set up to sign with the trusted key and to verify SSH keys."""
    root = registry.root
    git(root, "config", "gpg.format", "ssh")
    git(root, "config", "user.signingkey", str(keys["trusted"][0]))
    git(root, "config", "gpg.ssh.allowedSignersFile",
        str(keys["trusted"][0].parent / "allowed_signers"))
    return registry


def _register(registry: Registry, tmp_path: Path, version: str, *, sign: bool = True) -> None:
    path = write_weights(tmp_path / f"w{version}", f"weights {version}\n".encode() * 50)
    registry.register("churn", path, version=version, sign=sign)


def _object(registry: Registry, version: str) -> Path:
    return Weights(registry.root).object_path(registry.record("churn", version).artifact.md5)


def test_signed_register_and_promote_verify(signed: Registry, tmp_path: Path,
                                            keys: dict[str, tuple[Path, str]]) -> None:
    root = signed.root
    _register(signed, tmp_path, "1.0.0")
    proc = run_cli("promote", "churn", "1.0.0", "production", "--sign", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert git(root, "log", "-1", "--format=%G? %GS") == f"G {SIGNER}\n"
    git(root, "verify-tag", "churn/production/1")

    proc = run_cli("verify", "churn#production", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fingerprint = keys["trusted"][1]
    lines = proc.stdout.splitlines()
    assert lines[0] == "churn#production 1.0.0: ok"
    assert [re.sub(r" [0-9a-f]{12}:", " C:", line) for line in lines[1:]] == [
        f"  registration commit C: ok, signed by {SIGNER} ({fingerprint})",
        f"  registration tag churn@v1.0.0: ok, signed by {SIGNER} ({fingerprint})",
        f"  promotion commit C: ok, signed by {SIGNER} ({fingerprint})",
        f"  stage tag churn/production/1: ok, signed by {SIGNER} ({fingerprint})",
        f"  weights {signed.record('churn', '1.0.0').artifact.md5}: ok",
    ]
    # No argument: every staged version; NAME@VERSION: the registration and the weights.
    assert run_cli("verify", cwd=root).stdout == proc.stdout
    data = json.loads(run_cli("verify", "churn@1.0.0", "--json", cwd=root, check=True).stdout)
    assert data["ok"] is True
    assert [c["what"] for c in data["targets"][0]["checks"]] == [
        "registration commit", "registration tag", "weights"]
    assert data["targets"][0]["checks"][0]["signer"] == SIGNER
    assert ModelRegistry(root).verify("churn#production").ok  # the Python API


def test_verify_reports_each_problem_precisely(signed: Registry, tmp_path: Path,
                                               keys: dict[str, tuple[Path, str]]) -> None:
    root = signed.root
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        _register(signed, tmp_path, version)
    signed.promote("churn", "1.0.0", "production", sign=True)
    signed.promote("churn", "1.2.0", "dev")  # no --sign
    git(root, "config", "user.signingkey", str(keys["stranger"][0]))
    signed.promote("churn", "1.1.0", "staging", sign=True)  # a key nobody trusts
    obj = _object(signed, "1.0.0")
    os.chmod(obj, 0o644)
    obj.write_bytes(b"tampered")  # the weights in the cache, modified

    proc = run_cli("verify", "--json", cwd=root)
    assert proc.returncode == VERIFY_FAILED, proc.stderr
    assert proc.stderr == "gitreg: verify: 3 of 3 failed\n"
    found = {(t["stage"], c["what"]): (c["status"], c["signer"], c["key"])
             for t in json.loads(proc.stdout)["targets"] for c in t["checks"]}
    trusted, stranger = keys["trusted"][1], keys["stranger"][1]
    assert found[("dev", "promotion commit")] == ("unsigned", "", "")
    assert found[("dev", "stage tag")] == ("unsigned", "", "")
    assert found[("dev", "registration commit")] == ("ok", SIGNER, trusted)
    assert found[("staging", "promotion commit")] == ("unknown key", "", stranger)
    assert found[("staging", "stage tag")] == ("unknown key", "", stranger)
    assert found[("production", "promotion commit")] == ("ok", SIGNER, trusted)
    assert found[("production", "weights")][0] == "corrupt"
    assert found[("staging", "weights")][0] == found[("dev", "weights")][0] == "ok"

    text = run_cli("verify", "churn#production", cwd=root).stdout
    assert f"cached object {obj} does not match its md5" in text
    text = run_cli("verify", "churn#dev", cwd=root).stdout
    assert "  stage tag churn/dev/1: unsigned: the tag is not signed" in text


def test_verify_fetches_missing_weights_and_says_when_it_cannot(signed: Registry,
                                                                tmp_path: Path) -> None:
    root = signed.root
    _register(signed, tmp_path, "1.0.0")
    signed.promote("churn", "1.0.0", "production", sign=True)
    obj = _object(signed, "1.0.0")
    obj.unlink()
    proc = run_cli("verify", "churn@1.0.0", "--offline", cwd=root)
    assert proc.returncode == VERIFY_FAILED
    assert "weights not present locally: run gitreg pull" in proc.stdout
    assert run_cli("verify", "churn@1.0.0", cwd=root).returncode == 0  # fetched, checked
    assert obj.exists()


def test_verify_without_allowed_signers_says_what_to_set(signed: Registry,
                                                         tmp_path: Path) -> None:
    _register(signed, tmp_path, "1.0.0")
    git(signed.root, "config", "--unset", "gpg.ssh.allowedSignersFile")
    (target,) = verify(signed, "churn@1.0.0").targets
    commit = target.checks[0]
    assert commit.status is Status.UNKNOWN_KEY
    assert "gpg.ssh.allowedSignersFile is not set" in commit.detail


def test_sign_without_a_key_fails_cleanly(signed: Registry, tmp_path: Path) -> None:
    root = signed.root
    _register(signed, tmp_path, "1.0.0")
    git(root, "config", "--unset", "user.signingkey")
    before = snapshot(root)
    with pytest.raises(ToolFailed, match="signing the commit failed"):
        signed.promote("churn", "1.0.0", "production", sign=True)
    proc = run_cli("promote", "churn", "1.0.0", "production", "--sign", cwd=root)
    assert proc.returncode == TOOL_FAILED
    (line,) = proc.stderr.splitlines()
    assert line.startswith("gitreg: error: signing the commit failed (")
    assert line.endswith("nothing was changed")
    assert snapshot(root) == before


def test_commit_gpgsign_is_honoured_as_git_commit_would(signed: Registry,
                                                        tmp_path: Path) -> None:
    _register(signed, tmp_path, "1.0.0", sign=False)
    assert git(signed.root, "log", "-1", "--format=%G?") == "N\n"
    git(signed.root, "config", "commit.gpgsign", "true")
    signed.promote("churn", "1.0.0", "dev")
    assert git(signed.root, "log", "-1", "--format=%G?") == "G\n"


# -- require_signed ---------------------------------------------------------------------


def test_require_signed_refuses_unsigned_and_unverifiable_promotions(
    signed: Registry, tmp_path: Path, keys: dict[str, tuple[Path, str]],
) -> None:
    _register(signed, tmp_path, "1.0.0", sign=False)
    _register(signed, tmp_path, "1.1.0")
    registry = with_policies(signed, {"production": {"require_signed": True}})
    root = registry.root
    before = snapshot(root)

    proc = run_cli("promote", "churn", "1.1.0", "production", cwd=root)
    assert proc.returncode == POLICY_VIOLATION
    assert proc.stderr == (
        "gitreg: error: production requires signed changes (require_signed in registry.yaml): "
        "run it again with --sign, with git's signing set up (see README, Signed promotions)\n")
    # --force --reason overrides metric policies, never this one.
    proc = run_cli("promote", "churn", "1.1.0", "production", "--force", "--reason", "x",
                   cwd=root)
    assert proc.returncode == POLICY_VIOLATION
    # An unsigned registration cannot be vouched for by a signed promotion.
    with pytest.raises(PolicyViolation, match=r"registration commit [0-9a-f]{12}: unsigned"):
        registry.promote("churn", "1.0.0", "production", sign=True)
    # A signature by a key the allowed signers do not list: undone.
    git(root, "config", "user.signingkey", str(keys["stranger"][0]))
    proc = run_cli("promote", "churn", "1.1.0", "production", "--sign", cwd=root)
    assert proc.returncode == POLICY_VIOLATION
    assert re.match(r"gitreg: error: stage commit [0-9a-f]{12}: unknown key ", proc.stderr)
    assert snapshot(root) == before

    git(root, "config", "user.signingkey", str(keys["trusted"][0]))
    event = registry.promote("churn", "1.1.0", "production", sign=True)
    assert event.tag == "churn/production/1"
    assert run_cli("check", cwd=root).returncode == 0
    assert run_cli("verify", "churn#production", cwd=root).returncode == 0

    # Every change of the stage: a registration straight into it, a rollback, a demotion.
    weights = write_weights(tmp_path / "w1.2.0", b"weights 1.2.0\n")
    before = snapshot(root)
    for args in (["register", "churn", str(weights), "--stage", "production"],
                 ["rollback", "churn", "production", "--to", "1.1.0"],
                 ["demote", "churn", "production"]):
        proc = run_cli(*args, cwd=root)
        assert proc.returncode == POLICY_VIOLATION, (args, proc.stderr)
    assert snapshot(root) == before
    proc = run_cli("register", "churn", str(weights), "--stage", "production", "--sign", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert registry.rollback("churn", "production", sign=True).version == "1.1.0"
    assert run_cli("verify", cwd=root).returncode == 0


def test_check_reports_unsigned_changes_of_a_require_signed_stage(signed: Registry,
                                                                  tmp_path: Path) -> None:
    _register(signed, tmp_path, "1.0.0")
    signed.promote("churn", "1.0.0", "production")  # before the policy: unsigned
    registry = with_policies(signed, {"production": {"require_signed": True}})
    proc = run_cli("check", cwd=registry.root)
    assert proc.returncode == CHECK_FAILED, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert [re.sub(r"[0-9a-f]{12}", "C", line.split("; policies")[0]) for line in lines] == [
        "models/churn/stages.yaml: stages.production: churn 1.0.0: promotion commit C: "
        "unsigned (the commit is not signed)",
        "models/churn/stages.yaml: stages.production: churn 1.0.0: stage tag "
        "churn/production/1: unsigned (the tag is not signed)",
    ]
    assert "promote it with --sign (gitreg verify churn#production shows each)" in lines[0]

    # A hand edit of stages.yaml is reported: uncommitted, and then committed unsigned.
    registry.demote("churn", "production", sign=True)
    stages = registry.root / "models/churn/stages.yaml"
    stages.write_text(stages.read_text().replace("stages: {}", "stages:\n  production: 1.0.0"))
    out = run_cli("check", cwd=registry.root).stdout
    assert "churn 1.0.0: stage commit: missing (no commit put churn 1.0.0 in production" in out
    git(registry.root, "commit", "-qam", "Put 1.0.0 in production by hand")
    out = run_cli("check", cwd=registry.root).stdout
    assert re.search(r"promotion commit [0-9a-f]{12}: unsigned \(the commit is not signed\)", out)
    # Its tag comes later (gitreg ci tag), as after a pull request: check does not ask for it.
    assert "stage tag" not in out
    git(registry.root, "tag", "-d", "churn@v1.0.0")
    assert "registration tag" not in run_cli("check", cwd=registry.root).stdout
    proc = run_cli("verify", "churn#production", cwd=registry.root)
    assert "  registration tag -: missing: no tag churn@v1.0.0 on commit" in proc.stdout


def test_ci_tag_signs_when_asked(signed: Registry, tmp_path: Path) -> None:
    _register(signed, tmp_path, "1.0.0")
    root = signed.root
    signed.promote("churn", "1.0.0", "production", sign=True)
    git(root, "tag", "-d", "churn/production/1")
    proc = run_cli("ci", "tag", "--sign", cwd=root)
    assert proc.stdout == "churn/production/1\n", proc.stderr
    assert run_cli("verify", "churn#production", cwd=root).returncode == 0


@pytest.fixture
def gpg_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throw-away GPG home with one key; its agent is stopped afterwards."""
    if shutil.which("gpg") is None or shutil.which("gpgconf") is None:
        pytest.skip("gpg is not installed")
    home = Path(tempfile.mkdtemp(prefix="gpg-", dir="/tmp"))  # short: the agent's socket
    home.chmod(0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                    f"Test User <{SIGNER}>", "ed25519", "sign"], check=True, capture_output=True)
    yield home
    subprocess.run(["gpgconf", "--kill", "all"], check=False, capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


def test_gpg_signed_promotion_verifies(gpg_home: Path, registry: Registry,
                                       tmp_path: Path) -> None:
    # gpg_home first: the registry's git takes its environment when it is opened.
    _register(registry, tmp_path, "1.0.0", sign=True)
    registry.promote("churn", "1.0.0", "production", sign=True)
    (target,) = verify(registry, "churn#production").targets
    assert [(c.status, c.signer) for c in target.checks[:4]] == [
        (Status.OK, f"Test User <{SIGNER}>")] * 4
    assert target.ok
    # Without the key in the keyring, git cannot check the signatures: not ok, and why.
    subprocess.run(["gpg", "--batch", "--yes", "--delete-secret-and-public-key",
                    target.checks[0].key], check=True, capture_output=True)
    (target,) = verify(registry, "churn#production").targets
    assert {c.status for c in target.checks[:4]} == {Status.UNKNOWN_KEY}
    assert "public key is missing" in target.checks[1].detail


def test_verify_reads_the_md5_the_registration_signed(signed: Registry, tmp_path: Path) -> None:
    _register(signed, tmp_path, "1.0.0")
    rel = "models/churn/versions/1.0.0.yaml"
    md5 = signed.record("churn", "1.0.0").artifact.md5
    path = signed.root / rel
    path.write_text(path.read_text().replace(md5, "a" * 32))
    git(signed.root, "commit", "-qm", "Point 1.0.0 at other weights", rel)
    (target,) = verify(Registry(signed.root), "churn@1.0.0").targets
    weights = target.checks[-1]
    assert (weights.status, weights.ref) == (Status.BAD, "a" * 32)
    assert weights.detail.startswith(f"{rel} now records md5 {'a' * 32}, but registered {md5} ")


def test_a_proposal_to_a_require_signed_stage_is_signed(
    signed: Registry, tmp_path: Path, keys: dict[str, tuple[Path, str]],
) -> None:
    _register(signed, tmp_path, "1.0.0")
    registry = with_policies(signed, {"production": {"require_signed": True}})
    root = registry.root
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", str(origin))
    git(root, "remote", "add", "origin", str(origin))
    git(root, "push", "--quiet", "origin", "main")

    assert run_cli("promote", "churn", "1.0.0", "production", "--propose",
                   cwd=root).returncode == POLICY_VIOLATION
    git(root, "config", "user.signingkey", str(keys["stranger"][0]))
    proc = run_cli("promote", "churn", "1.0.0", "production", "--propose", "--sign", cwd=root)
    assert proc.returncode == POLICY_VIOLATION
    assert "stage commit" in proc.stderr and "unknown key" in proc.stderr
    assert git(origin, "branch", "--list") == "* main\n"  # nothing was pushed

    git(root, "config", "user.signingkey", str(keys["trusted"][0]))
    proc = run_cli("promote", "churn", "1.0.0", "production", "--propose", "--sign", cwd=root)
    assert proc.returncode == 0, proc.stderr
    branch = "gitreg/promote-churn-1.0.0-to-production"
    assert git(root, "log", "-1", "--format=%G? %GS", f"origin/{branch}") == f"G {SIGNER}\n"


def test_tags_are_signed_when_git_tag_annotate_would_sign_them(
    registry: Registry, tmp_path: Path
) -> None:
    """gitreg makes its tags with plumbing, and signs them exactly when `git tag --annotate`
    would: tag.gpgSign signs, tag.forceSignAnnotated does not (an explicit --annotate
    overrides it). With no key at all, forceSignAnnotated must not break a write."""
    root = registry.root
    git(root, "config", "gpg.format", "ssh")
    git(root, "config", "tag.forceSignAnnotated", "true")
    weights = write_weights(tmp_path / "w", b"weights" * 20)
    done = run_cli("register", "churn", str(weights), "--version", "1.0.0", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "SIGNATURE" not in git(root, "cat-file", "tag", "churn@v1.0.0")
    git(root, "config", "tag.gpgSign", "true")  # and still no key: git tag would fail too
    refused = run_cli("promote", "churn", "1.0.0", "staging", cwd=root)
    assert refused.returncode == 8, refused.stderr
    assert "user.signingkey" in refused.stderr  # git says what is missing
    assert "churn/staging/1" not in git(root, "tag", "--list")
