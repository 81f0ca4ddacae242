"""The Python API users write against: ``ModelRegistry``, ``ModelMetadata``, ``ModelStage``.

It keeps the exercise's names and signatures (reference/exercise-model-registry.md) on top
of the registry service, so a script written for the exercise runs unchanged apart from
its import line, and gets a git repository with tagged history and DVC-tracked weights.
"""

from __future__ import annotations

import enum
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gitreg.core.config import CONFIG_FILE
from gitreg.core.diff import VersionDiff
from gitreg.core.events import Event
from gitreg.core.newversion import NewVersion
from gitreg.core.query import query
from gitreg.core.records import Lineage, StageMap, VersionRecord, iso_timestamp
from gitreg.core.release import Release, Standing, check_release_name
from gitreg.service import (
    check,
    compare,
    lifecycle,
    modelcard,
    release_review,
    sharing,
    verify,
    website,
)
from gitreg.service import release as releases
from gitreg.service.check import Report
from gitreg.service.importers import ImportReport, gto, mlflow, parse_stage_map
from gitreg.service.lifecycle import LifecycleProposal
from gitreg.service.registry import Registry
from gitreg.service.release_history import releases as release_files
from gitreg.service.release_history import standing as standing_of
from gitreg.service.release_review import ReleaseDiff
from gitreg.service.remote_registry import RemoteRegistry
from gitreg.service.sharing import Proposal
from gitreg.service.verify import Verification
from gitreg.weights import serialize
from gitreg.weights.serialize import ObjectFormat


class ModelStage(enum.Enum):
    DEV = "dev"
    STAGING = "staging"
    PRODUCTION = "production"


StageLike = ModelStage | str


def _stage_name(stage: StageLike) -> str:
    return stage.value if isinstance(stage, ModelStage) else str(stage)


def _stage_value(name: str) -> StageLike:
    try:
        return ModelStage(name)
    except ValueError:
        return name  # a stage of the registry's own, beyond the three defaults


@dataclass(frozen=True)
class ModelMetadata:
    """A version's metadata. The first eight fields are the exercise's, in its order."""

    version: str | None = None  # None: the next patch version (0.1.0 for a new model)
    stage: StageLike | None = None  # at registration: also promote to it
    trained_at: datetime | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    model_type: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    path: str | None = None  # where the weights are, in the registry's work tree
    name: str | None = None  # the model; the registry's default model when None
    description: str | None = None
    labels: list[str] = field(default_factory=list)
    lineage: Lineage = field(default_factory=Lineage)
    stages: tuple[str, ...] = ()  # every stage the version is in (``stage`` is the highest)
    registered_at: str | None = None
    registered_by: str | None = None
    format: str | None = None
    md5: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stage"] = _stage_name(self.stage) if self.stage is not None else None
        data["trained_at"] = self.trained_at.isoformat() if self.trained_at else None
        data["stages"] = list(self.stages)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMetadata:
        data = dict(data)
        if data.get("stage") is not None:
            data["stage"] = _stage_value(data["stage"])
        if data.get("trained_at"):
            data["trained_at"] = datetime.fromisoformat(data["trained_at"])
        if isinstance(data.get("lineage"), Mapping):
            lineage = dict(data["lineage"])
            lineage["depends_on"] = tuple(lineage.get("depends_on") or ())
            data["lineage"] = Lineage(**lineage)
        data["stages"] = tuple(data.get("stages") or ())
        return cls(**data)

    @classmethod
    def from_record(
        cls, record: VersionRecord, stage_map: StageMap, stage_order: tuple[str, ...], root: Path
    ) -> ModelMetadata:
        stages = tuple(s for s in stage_order if s in stage_map.stages_of(record.version))
        return cls(
            version=record.version,
            stage=_stage_value(stages[-1]) if stages else None,
            trained_at=datetime.fromisoformat(record.trained_at) if record.trained_at else None,
            metrics=dict(record.metrics),
            features=list(record.features),
            model_type=record.model_type,
            hyperparameters=dict(record.hyperparameters),
            path=str(root / record.artifact.path),
            name=record.name,
            description=record.description,
            labels=list(record.labels),
            lineage=record.lineage,
            stages=stages,
            registered_at=record.registered_at,
            registered_by=record.registered_by,
            format=record.artifact.format,
            md5=record.artifact.md5,
        )


class ModelRegistry:
    """A model registry in a git repository; ``ModelRegistry()`` uses ``./model_registry``.

    The folder is created as a registry (git + DVC) if it is not one yet. Every method
    takes an optional ``name`` for registries of many models; without it, the registry's
    default model (``model``) is meant, as in the exercise.
    """

    def __init__(
        self, registry_path: Path | str = Path("model_registry"), *, remote: str | None = None
    ) -> None:
        self.registry_path = Path(registry_path)
        if (self.registry_path / CONFIG_FILE).is_file():
            self.registry = Registry(self.registry_path)
            if self.registry.recovered:  # a write killed part-way was undone or kept
                warnings.warn(f"gitreg: {self.registry.recovered}", RuntimeWarning,
                              stacklevel=2)
        else:
            self.registry = Registry.init(self.registry_path, remote=remote)
        self.registry.note = _warn_note

    def _name(self, name: str | None, metadata: ModelMetadata | None = None) -> str:
        return name or (metadata.name if metadata else None) or self.registry.config.default_model

    def _metadata(self, record: VersionRecord) -> ModelMetadata:
        return ModelMetadata.from_record(
            record, self.registry.stage_map(record.name), self.registry.config.stages,
            self.registry.root,
        )

    # -- the exercise's four ------------------------------------------------------------

    def register_model(
        self,
        model: Any,
        metadata: ModelMetadata,
        *,
        name: str | None = None,
        format: ObjectFormat | str = ObjectFormat.PICKLE,
        push: bool = False,
        sign: bool = False,
    ) -> str:
        """Serialize ``model`` (pickle, joblib or skops) and register it; returns the version.

        ``sign``: sign the commits and tags with git's signing set-up (see ``verify``).
        """
        chosen = serialize.object_format(format)
        with tempfile.TemporaryDirectory(prefix="gitreg-") as tmp:
            path = serialize.dump(model, chosen, Path(tmp))
            return self.register_file(path, metadata, name=name, format=chosen.value, push=push,
                                      sign=sign)

    def get_model(
        self,
        version: str | None = None,
        stage: StageLike | None = None,
        *,
        name: str | None = None,
        trusted: Sequence[str] = (),
    ) -> tuple[Any, ModelMetadata]:
        """The model object and its metadata, by version or by stage.

        The bytes are checked against the md5 in the version file before they are loaded,
        by the format the version file records. Safe loading (``GITREG_SAFE_LOAD=1``, or
        ``safe_load: true`` in registry.yaml) refuses pickle and joblib; ``trusted`` names
        types beyond skops' defaults that a skops file may build.
        """
        record, data = self.registry.read_weights(
            self._name(name), version=version,
            stage=_stage_name(stage) if stage is not None else None,
        )
        model = _load(record, data, self.registry.config.safe_load, trusted)
        return model, self._metadata(record)

    def promote_model(
        self,
        version: str,
        target_stage: StageLike,
        *,
        name: str | None = None,
        force: bool = False,
        reason: str | None = None,
        push: bool = False,
        sign: bool = False,
    ) -> Event:
        """Put ``version`` in ``target_stage``; an exclusive stage's holder is replaced."""
        return self.registry.promote(
            self._name(name), version, _stage_name(target_stage), force=force, reason=reason,
            push=push, sign=sign,
        )

    def propose_promotion(
        self,
        version: str,
        target_stage: StageLike,
        *,
        name: str | None = None,
        force: bool = False,
        reason: str | None = None,
        sign: bool = False,
    ) -> Proposal:
        """Commit the promotion on a new branch and push it for review (tagged once merged)."""
        return sharing.propose(self.registry, self._name(name), version,
                               _stage_name(target_stage), force=force, reason=reason, sign=sign)

    def list_models(
        self,
        stage: StageLike | None = None,
        min_metric: Mapping[str, float] | None = None,
        *,
        name: str | None = None,
        max_metric: Mapping[str, float] | None = None,
        labels: Sequence[str] = (),
        model_type: str | None = None,
        registered_after: datetime | str | None = None,
        registered_before: datetime | str | None = None,
        by: str | None = None,
        include_deprecated: bool = False,
        sort: str | None = None,
        limit: int | None = None,
    ) -> list[ModelMetadata]:
        """Versions of every model (or of ``name``) in ``stage`` with metrics >= ``min_metric``
        (and the filters of ``gitreg list``); deprecated ones only with ``include_deprecated``;
        ``sort``: by that metric, best first."""
        wanted = query(
            stage=_stage_name(stage) if stage is not None else None,
            min_metrics=dict(min_metric or {}), max_metrics=dict(max_metric or {}),
            labels=tuple(labels), model_type=model_type,
            registered_after=_iso(registered_after), registered_before=_iso(registered_before),
            by=by, include_deprecated=include_deprecated, sort=sort, limit=limit)
        rows = self.registry.catalog(name, query=wanted)
        return [self._metadata(record) for record, _ in rows]

    # -- end of life and annotations (issue 16) -------------------------------------------

    def deprecate_model(self, version: str | None, *, reason: str, name: str | None = None,
                        demote: bool = False, push: bool = False, sign: bool = False,
                        propose: bool = False) -> list[Event] | LifecycleProposal:
        """Deprecate ``version`` (``None``: every version of the model); ``demote`` empties
        the stages that hold it in the same commit; ``propose``: a branch for review."""
        return lifecycle.deprecate(self.registry, self._name(name), version, reason=reason,
                                   demote=demote, push=push, sign=sign, propose=propose)

    def restore_model(self, version: str, *, name: str | None = None, push: bool = False,
                      sign: bool = False, propose: bool = False
                      ) -> list[Event] | LifecycleProposal:
        return lifecycle.restore(self.registry, self._name(name), version, push=push,
                                 sign=sign, propose=propose)

    def annotate(self, version: str, *, name: str | None = None,
                 description: str | None = None, labels: Sequence[str] = (),
                 remove_labels: Sequence[str] = (), push: bool = False,
                 sign: bool = False, propose: bool = False
                 ) -> list[Event] | LifecycleProposal:
        """Change a version's description (``""`` removes it) and labels (``KEY=VALUE``
        replaces that key's label; ``remove_labels``: keys)."""
        return lifecycle.annotate(self.registry, self._name(name), version,
                                  description=description, labels=labels,
                                  remove_labels=remove_labels, push=push, sign=sign,
                                  propose=propose)

    # -- the rest of what the CLI can do ------------------------------------------------

    def register_file(
        self,
        path: Path | str,
        metadata: ModelMetadata,
        *,
        name: str | None = None,
        format: str | None = None,
        push: bool = False,
        sign: bool = False,
    ) -> str:
        """Register a file or folder of weights as it is (any framework's format).

        ``format`` is recorded in the version file; without it, it is told by the
        extension (``.pt``/``.pth`` pytorch, ``.safetensors``, ``.onnx``, ``.joblib``,
        ``.pkl``/``.pickle`` pickle, ``.skops``), else ``file``, or ``directory``.
        """
        result = self.registry.register(
            self._name(name, metadata), Path(path), version=metadata.version,
            info=_new_version(metadata, format),
            stage=_stage_name(metadata.stage) if metadata.stage is not None else None,
            push=push, sign=sign,
        )
        return result.record.version

    def propose_registration(
        self,
        path: Path | str,
        metadata: ModelMetadata,
        *,
        name: str | None = None,
        format: str | None = None,
        sign: bool = False,
    ) -> Proposal:
        """``register_file`` committed on a new branch and pushed for review (tagged once
        merged); the weights go to the DVC remote now."""
        return sharing.propose_registration(
            self.registry, self._name(name, metadata), Path(path), version=metadata.version,
            info=_new_version(metadata, format),
            stage=_stage_name(metadata.stage) if metadata.stage is not None else None,
            sign=sign,
        )

    def propose_rollback(
        self, stage: StageLike, *, to: str | None = None, name: str | None = None,
        sign: bool = False,
    ) -> Proposal:
        """``rollback`` committed on a new branch and pushed for review."""
        return sharing.propose_rollback(self.registry, self._name(name), _stage_name(stage),
                                        to=to, sign=sign)

    def propose_demotion(
        self, stage: StageLike, *, name: str | None = None, version: str | None = None,
        sign: bool = False,
    ) -> Proposal:
        """``demote_model`` committed on a new branch and pushed for review."""
        return sharing.propose_demotion(self.registry, self._name(name), _stage_name(stage),
                                        version=version, sign=sign)

    def rollback(
        self,
        stage: StageLike,
        *,
        to: str | None = None,
        name: str | None = None,
        push: bool = False,
        sign: bool = False,
    ) -> str:
        """Return ``stage`` to its previous version (or ``to``); returns the version now in it."""
        event = self.registry.rollback(self._name(name), _stage_name(stage), to=to, push=push,
                                       sign=sign)
        assert event.version is not None
        return event.version

    def demote_model(
        self,
        stage: StageLike,
        *,
        name: str | None = None,
        version: str | None = None,
        push: bool = False,
        sign: bool = False,
    ) -> Event:
        return self.registry.demote(
            self._name(name), _stage_name(stage), version=version, push=push, sign=sign
        )

    def release(
        self, release_name: str, models: Sequence[str], stage: StageLike, *,
        reason: str | None = None, push: bool = False, propose: bool = False,
        sign: bool = False,
    ) -> Release:
        """Put several models in ``stage`` together, in one commit (``models``:
        ``MODEL@VERSION``, ``MODEL@latest``, ``MODEL#STAGE``); one failing policy refuses
        them all (``PolicyViolation`` naming each)."""
        return releases.release(self.registry, release_name, models, _stage_name(stage),
                                reason=reason, push=push, propose=propose, sign=sign)

    def rollback_release(self, release_name: str, *, push: bool = False,
                         propose: bool = False, sign: bool = False) -> Release:
        """Return every model of the release to what it held before it, in one commit."""
        return releases.rollback(self.registry, release_name, push=push, propose=propose,
                                 sign=sign)

    def release_standing(self, release_name: str, number: int | None = None) -> Standing:
        """What the release (its latest, or ``number``) holds, and whether the stages still
        do (``state``: complete, partial or replaced)."""
        return standing_of(self.registry, release_name, number)

    def list_releases(self, release_name: str | None = None) -> list[Release]:
        """Every release (of ``release_name``, or all), by name and number."""
        if release_name is not None:
            check_release_name(release_name)
        return release_files(self.registry, release_name)

    def release_diff(self, release_name: str, n: int | None = None,
                     m: int | None = None) -> ReleaseDiff:
        """``gitreg diff --release``: release ``n`` (default the latest) against what each
        model replaced, or with ``m`` too, release ``m`` against release ``n``."""
        return release_review.diff(self.registry, release_name, n, m)

    def release_event(self, tag: str) -> Release:
        """``gitreg ci event release/NAME/N``: what a release tag marks, read from its
        commit (every model, version and previous version)."""
        return release_review.event(self.registry, tag)

    def which(
        self,
        stage: StageLike,
        *,
        name: str | None = None,
        at: datetime | str | None = None,
        rev: str | None = None,
    ) -> str | None:
        """The version in ``stage`` now, at a past moment, or at a git revision."""
        held = self.registry.which(self._name(name), _stage_name(stage), at=at, rev=rev)
        return held[-1] if held else None

    def history(self, *, name: str | None = None, stage: StageLike | None = None) -> list[Event]:
        return self.registry.history_events(
            name, _stage_name(stage) if stage is not None else None
        )

    def get_weights(
        self,
        output: Path | str,
        *,
        version: str | None = None,
        stage: StageLike | None = None,
        name: str | None = None,
        force: bool = False,
    ) -> Path:
        """Write a version's weights to ``output`` after checking their md5; what is there
        already is replaced only with ``force``."""
        _, path = self.registry.get(
            self._name(name), version=version,
            stage=_stage_name(stage) if stage is not None else None, output=Path(output),
            force=force,
        )
        return path

    # -- from a registry's git URL, without a clone -----------------------------------

    @staticmethod
    def get_model_from(
        url: str,
        version: str | None = None,
        stage: StageLike | None = None,
        *,
        name: str | None = None,
        trusted: Sequence[str] = (),
        rev: str | None = None,
    ) -> tuple[Any, ModelMetadata]:
        """``get_model`` on the registry at a git URL, reading only what it needs.

        The registry's newest commit on its default branch (or at ``rev``: a branch, tag
        or full commit id) is read into a temporary folder (no clone in your work tree);
        the weights come from its DVC remote. ``meta.path`` is the weights' path inside
        the registry.
        """
        with RemoteRegistry.open(url, rev) as remote:
            record, stage_map, data = remote.read_weights(
                name, version=version, stage=_stage_name(stage) if stage is not None else None
            )
            model = _load(record, data, remote.config.safe_load, trusted)
            return model, ModelMetadata.from_record(
                record, stage_map, remote.config.stages, Path()
            )

    @staticmethod
    def get_weights_from(
        url: str,
        output: Path | str,
        *,
        version: str | None = None,
        stage: StageLike | None = None,
        name: str | None = None,
        rev: str | None = None,
        force: bool = False,
    ) -> Path:
        """``get_weights`` from the registry at a git URL (at ``rev``), without a clone."""
        with RemoteRegistry.open(url, rev) as remote:
            _, path = remote.get(
                name, version=version, stage=_stage_name(stage) if stage is not None else None,
                output=Path(output), force=force,
            )
        return path

    def models(self) -> list[str]:
        return self.registry.models()

    def diff(self, a: StageLike, b: StageLike, *, name: str | None = None) -> VersionDiff:
        """What changed from ``a`` to ``b`` (each a version or a stage)."""
        return compare.compare(self.registry, self._name(name), _stage_name(a), _stage_name(b))

    def check(self) -> Report:
        """Validate the registry as its work tree holds it (schema, stages, policies)."""
        return check.validate(self.registry.root)

    def verify(self, ref: str | None = None, *, fetch: bool = True) -> Verification:
        """Signatures of what put versions where they are, and their weights' md5s: every
        staged version, or ``ref`` (``NAME``, ``NAME@VERSION``, ``NAME#STAGE``)."""
        return verify.verify(self.registry, ref, fetch=fetch)

    def import_gto(self, source: str | Path, *, stage_map: Mapping[str, str] | None = None,
                   push: bool = False) -> ImportReport:
        """Replay the GTO registry at ``source`` (a path or git URL); reruns add only what
        is new. ``stage_map``: GTO stage -> stage of this registry."""
        return gto.import_gto(
            self.registry, str(source), push=push,
            stage_map=parse_stage_map(stage_map or {}, self.registry.config.stages))

    def import_mlflow(self, tracking_uri: str, *, models: Sequence[str] = (),
                      stage_map: Mapping[str, str] | None = None,
                      push: bool = False) -> ImportReport:
        """Import the MLflow registry at ``tracking_uri`` (needs the extra
        ``gitreg-registry[mlflow]``); reruns add only what is new. ``stage_map``: MLflow alias
        or stage -> stage of this registry."""
        return mlflow.import_mlflow(
            self.registry, tracking_uri, models=models, push=push,
            stage_map=parse_stage_map(stage_map or {}, self.registry.config.stages))

    def model_card(self, version: str, *, name: str | None = None) -> str:
        """``version`` as a Hugging Face model card (README.md text with YAML front matter)."""
        return modelcard.model_card(self.registry, self._name(name), version)

    def build_site(self, output: Path | str | None = None, *, rev: str | None = None,
                   title: str | None = None) -> Path:
        """Write the registry's static web view (``gitreg site``) to ``output`` (default: the
        registry's ``site/``, which ``init`` git-ignores); the path of its ``index.html``.
        ``rev``: as that git revision holds the registry."""
        folder = self.registry.root / "site" if output is None else Path(output)
        return website.build_registry_site(self.registry, folder, rev=rev, title=title).index

    def push(self) -> None:
        """Push the branch, gitreg tags and weights to ``origin``."""
        sharing.push(self.registry)

    def pull(self) -> None:
        """Fast-forward from ``origin`` and fetch the weights of every version in a stage."""
        sharing.pull(self.registry)


def _new_version(metadata: ModelMetadata, format: str | None) -> NewVersion:
    return NewVersion(
        metrics=dict(metadata.metrics),
        hyperparameters=dict(metadata.hyperparameters),
        features=tuple(metadata.features),
        model_type=metadata.model_type,
        trained_at=iso_timestamp(metadata.trained_at, "trained_at")
        if metadata.trained_at is not None else None,
        description=metadata.description,
        labels=tuple(metadata.labels),
        lineage=metadata.lineage,
        format=format,
    )


def _warn_note(message: str) -> None:
    """What an operation did besides its result (a clashing tag replaced by origin's)."""
    warnings.warn(f"gitreg: {message}", RuntimeWarning, stacklevel=3)


def _load(record: VersionRecord, data: bytes, safe_load: bool, trusted: Sequence[str]) -> Any:
    return serialize.load(
        data, record.artifact.format, what=f"{record.name} {record.version}", trusted=trusted,
        safe_reason=serialize.safe_load_reason(safe_load),
    )


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value
