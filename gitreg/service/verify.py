"""Signatures and checksums of what put a version where it is (issue 6: signed promotions).

``gitreg verify`` checks, for a version in a stage: the commit and tag that registered it,
the commit and tag of the last change that put it in the stage (a promotion or a rollback),
and that its weights still match the md5 its registration recorded. ``require_signed: true``
in a stage's policy asks the same signatures of every version that stage holds: ``promote``
(and ``rollback``, ``demote``, ``register --stage``) refuse to make an unsigned change there,
and ``gitreg check`` reports one.

Signatures are git's own: ``git commit-tree -S`` and ``git tag --sign`` make them with the
key git is configured with (GPG, SSH or X.509, ``gpg.format``), and git checks them: commits
in one ``git log`` (``%G?``), tags with ``git verify-tag``. A good signature is one git can
tie to a trusted key: for SSH, a key listed in ``gpg.ssh.allowedSignersFile``; for GPG, a key
in the keyring with enough trust (``gpg.minTrustLevel``). That file (or keyring) is the trust
root, so it must come from the verifier's own configuration, never from the repository being
verified: whoever can push could add their own key to a file in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitreg.core.events import Event
from gitreg.core.names import ModelRef
from gitreg.core.records import StageMap, VersionRecord, version_from_dict
from gitreg.errors import CorruptRegistry, GitregError, NotFound
from gitreg.git.signatures import Check, Status
from gitreg.repo import signing, yamlio
from gitreg.repo.registrations import edits

if TYPE_CHECKING:
    from gitreg.service.registry import Registry


@dataclass(frozen=True)
class Target:
    """A version where it is: its registration, and (with ``stage``) how it got there."""

    model: str
    version: str
    stage: str | None
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


@dataclass(frozen=True)
class Verification:
    targets: tuple[Target, ...]

    @property
    def ok(self) -> bool:
        return all(target.ok for target in self.targets)


# -- the command ------------------------------------------------------------------------


def verify(registry: Registry, ref: str | None = None, *, fetch: bool = True) -> Verification:
    """Verify every staged version (no ``ref``), a model's (``NAME``), one registration
    (``NAME@VERSION``) or what a stage holds (``NAME#STAGE``).

    ``fetch``: weights missing from the local cache are fetched from the DVC remote (each
    object checked on arrival, as ``get`` does); without it they are reported missing.
    """
    wanted = _wanted(registry, ref)
    histories: dict[str, list[Event]] = {}
    committed: dict[str, StageMap] = {}  # at HEAD: what the work tree holds may be an edit
    plans = []
    for model, version, stage in wanted:
        if model not in histories:
            histories[model] = registry.history_events(model)
            head = registry.git.head()
            committed[model] = (registry.history.stage_map_at(model, head) if head
                                else StageMap(model))
        events = histories[model]
        specs = signing.registration(events, model, version)
        if stage is not None:
            in_head = version in committed[model].versions_in(stage)
            specs += signing.entry(events, model, version, stage, in_head)
        plans.append((model, version, stage, specs))
    seals = signing.seals(registry.git, [spec for *_, specs in plans for spec in specs])
    edited = _edited(registry, {(model, version) for model, version, _ in wanted})
    targets = []
    hashed: dict[tuple[str, str], Check] = {}  # a version in several stages: hashed once
    for model, version, stage, specs in plans:
        checks = [seals[spec] for spec in specs]
        if (model, version) not in hashed:
            registered = next((s.ref for s in specs if s.what == "registration commit"), "")
            hashed[(model, version)] = weights_check(
                registry, registry.record(model, version), registered, fetch=fetch)
        checks += edited.get((model, version), [])
        checks.append(hashed[(model, version)])
        targets.append(Target(model, version, stage, tuple(checks)))
    return Verification(tuple(targets))


def _edited(registry: Registry, versions: set[tuple[str, str]]
            ) -> dict[tuple[str, str], list[Check]]:
    """A ``version file`` check, bad, for each of ``versions`` whose registration-fixed
    fields changed since (repo/registrations.py); one read of each model's history."""
    layout = registry.config.layout
    found: dict[tuple[str, str], list[Check]] = {}
    for model in sorted({model for model, _ in versions}):
        files = {layout.version_file(model, v): (registry.root / layout.version_file(model, v))
                 .read_bytes() for m, v in versions if m == model}
        for edit in edits(registry.git, registry.history.file_log(model), files):
            when = f"in commit {edit.commit[:12]}" if edit.commit else "in the work tree"
            version = edit.file.rsplit("/", 1)[-1].removesuffix(".yaml")
            found[(model, version)] = [Check("version file", edit.file, Status.BAD, detail=(
                f"{', '.join(edit.fields)} changed {when} since the registration at "
                f"{edit.registered[:12]}; a registration's fields are fixed"))]
    return found


def _wanted(registry: Registry, ref: str | None) -> list[tuple[str, str, str | None]]:
    if ref is None:
        names = registry.models()
    else:
        target = ModelRef.parse(ref, latest=True)
        if target.version is not None:
            return [(target.name, registry.record(target.name, target.version).version, None)]
        registry.require_model(target.name)
        if target.stage is not None:
            registry.config.check_stage(target.stage)
            held = registry.stage_map(target.name).versions_in(target.stage)
            if not held:
                raise NotFound(f"{target.name} has no version in {target.stage}; nothing to "
                               f"verify (verify a version with {target.name}@VERSION)")
            return [(target.name, version, target.stage) for version in held]
        names = [target.name]
    found: list[tuple[str, str, str | None]] = []
    for name in names:
        stage_map = registry.stage_map(name)
        for stage in registry.config.stages:
            found += [(name, version, stage) for version in stage_map.versions_in(stage)]
    return found


# -- weights ----------------------------------------------------------------------------


def weights_check(registry: Registry, record: VersionRecord, registered: str, *,
                  fetch: bool) -> Check:
    """Whether the weights still match the md5 recorded at registration.

    The md5 is read from the version file at its registration commit (``registered``),
    whose signature vouches for it; a version file edited since is reported.
    """
    artifact = record.artifact
    if registered:
        rel = registry.config.layout.version_file(record.name, record.version)
        (data,) = registry.git.cat_files([f"{registered}:{rel}"])
        try:
            then = version_from_dict(yamlio.loads(data or b"", rel), rel).artifact
        except CorruptRegistry as exc:
            return Check("weights", artifact.md5, Status.BAD, detail=str(exc))
        if (then.md5, then.size) != (artifact.md5, artifact.size):
            return Check("weights", artifact.md5, Status.BAD, detail=(
                f"{rel} now records md5 {artifact.md5}, but registered {then.md5} at "
                f"{registered[:12]}: the version file was edited after registration"))
    from gitreg.weights import hashes
    from gitreg.weights.dvc import Weights

    weights = Weights(registry.root)
    try:
        present = weights.has_local(artifact) and all(
            weights.object_path(md5).exists() for md5 in weights.objects(artifact))
    except OSError:
        present = False
    except GitregError as exc:  # a folder's listing that does not match its md5
        return Check("weights", artifact.md5, Status.CORRUPT, detail=str(exc))
    if not present:
        if not fetch:
            return Check("weights", artifact.md5, Status.MISSING, detail=(
                "weights not present locally: run gitreg pull (or verify without --offline)"))
        try:
            weights.fetch(artifact, artifact.path + ".dvc")
        except GitregError as exc:
            return Check("weights", artifact.md5, Status.MISSING,
                         detail=f"weights not present locally, and not fetched: {exc}")
    try:
        for md5 in weights.objects(artifact):
            path = weights.object_path(md5)
            if hashes.md5_read(path) != md5.removesuffix(".dir"):
                return Check("weights", artifact.md5, Status.CORRUPT, detail=(
                    f"cached object {path} does not match its md5 {md5}: the weights were "
                    "modified; delete it and run gitreg pull"))
    except GitregError as exc:
        return Check("weights", artifact.md5, Status.CORRUPT, detail=str(exc))
    return Check("weights", artifact.md5, Status.OK)




