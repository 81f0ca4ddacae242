"""``gitreg import mlflow``: an MLflow model registry replayed as gitreg writes, through
MLflow's own client (the optional extra ``gitreg-registry[mlflow]``).

Every model version becomes one registration, in creation order, with the version's
creation time and user as the commit's date and author. MLflow's version ``N`` becomes
SemVer ``N.0.0`` (the original number kept as the label ``mlflow_version=N``). Aliases (and
the stages of older servers) become promotions after the registrations, through the stage
map. A version in MLflow's ``Archived`` stage (MLflow's end of life) becomes a deprecation
(issue 16), unless an alias still points to it: then it is served, and is left as it is
with a note. What MLflow has that a version file has no field for is kept as labels.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gitreg.core.events import Event
from gitreg.core.names import check_name
from gitreg.core.records import Lineage, is_number
from gitreg.errors import InvalidInput, NotFound, PolicyViolation, ToolFailed, printable
from gitreg.git.runner import Authorship
from gitreg.service import lifecycle
from gitreg.service.importers import REASON_PREFIX, ImportReport, map_stage, warm_caches
from gitreg.service.registry import NewVersion, Registry

# MLflow's stages (older servers) and the usual aliases, to gitreg's default stages.
DEFAULT_STAGES = {"Production": "production", "Staging": "staging"}
_PAGE = 1000
_PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


@dataclass(frozen=True)
class _Version:
    model: str  # MLflow's name
    name: str  # gitreg's name
    number: int
    created: int  # ms since the epoch
    info: Any  # MLflow's ModelVersion

    @property
    def version(self) -> str:
        return f"{self.number}.0.0"


def gitreg_name(mlflow_name: str) -> str | None:
    """MLflow's model name as a gitreg name: lowercased, other characters as ``-``."""
    name = re.sub(r"[^a-z0-9._-]+", "-", mlflow_name.lower()).strip("-.")
    name = re.sub(r"\.{2,}", ".", name)
    try:
        check_name(name)
    except InvalidInput:
        return None
    return name


def import_mlflow(
    registry: Registry, tracking_uri: str, *, models: Sequence[str] = (),
    stage_map: Mapping[str, str] | None = None, push: bool = False,
) -> ImportReport:
    """Import every model (or ``models``) of the MLflow registry at ``tracking_uri``."""
    client = _client(tracking_uri)
    # MLflow draws a progress bar on stderr for every download, and its only switch is an
    # environment variable: set for the import, as it was afterwards.
    before = os.environ.get(_PROGRESS_BAR)
    os.environ[_PROGRESS_BAR] = "false"
    try:
        report = _Import(registry, client, tracking_uri, dict(stage_map or {}), push).run(models)
        return warm_caches(registry, report)
    except ToolFailed:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith("mlflow"):
            raise ToolFailed(f"MLflow at {tracking_uri}: {exc}") from None
        raise
    finally:
        if before is None:
            os.environ.pop(_PROGRESS_BAR, None)
        else:
            os.environ[_PROGRESS_BAR] = before


def _client(tracking_uri: str) -> Any:
    # MLflow would create an empty store for a mistyped path, and import nothing.
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[10:]).is_file():
        raise InvalidInput(f"{{tracking_uri}} {tracking_uri}: no such SQLite file",
                           params=("tracking_uri",))
    # A file store (a path, file://): MLflow would likewise make an empty one.
    if tracking_uri.startswith("file://") or (
            ":" not in tracking_uri and not tracking_uri.startswith(("databricks", "uc"))):
        folder = Path(tracking_uri.removeprefix("file://"))
        if not folder.is_dir():
            raise InvalidInput(f"{{tracking_uri}} {tracking_uri}: no such folder",
                               params=("tracking_uri",))
    # MLflow logs its store's set-up at INFO on stderr: not the import's output.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ToolFailed("MLflow's client is not installed; "
                         "pip install 'gitreg-registry[mlflow]'") from None
    try:
        return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    except Exception as exc:  # a scheme MLflow has no store for, a store it will not open
        if not type(exc).__module__.startswith("mlflow"):
            raise
        said = " ".join(str(exc).split())
        raise InvalidInput(f"{{tracking_uri}} {tracking_uri}: MLflow cannot open it: "
                           f"{said[:600]}", params=("tracking_uri",)) from None


class _Import:
    def __init__(self, registry: Registry, client: Any, tracking_uri: str,
                 stage_map: dict[str, str], push: bool) -> None:
        self.registry, self.client, self.stage_map, self.push = registry, client, stage_map, push
        self.tracking_uri = tracking_uri
        self.written: list[Event] = []
        self.skipped: list[str] = []

    def run(self, wanted: Sequence[str]) -> ImportReport:
        models = [self._model(m) for m in wanted] or list(self._models())
        versions: list[_Version] = []
        taken: dict[str, str] = {}
        accepted = []
        for model in models:
            name = gitreg_name(model.name)
            if name is None:
                self.skipped.append(f"model {_shown(model.name)}: no valid gitreg name can "
                                    "be made")
                continue
            if taken.setdefault(name, model.name) != model.name:
                self.skipped.append(f"model {_shown(model.name)}: its gitreg name {name} is "
                                    f"taken by {_shown(taken[name])}; rename one of them in "
                                    "MLflow")
                continue
            accepted.append(model)
            versions += [_Version(model.name, name, int(v.version), int(v.creation_timestamp), v)
                         for v in self._versions(model.name)]
        versions.sort(key=lambda v: (v.created, v.model, v.number))
        by_model = {m.name: m for m in models}
        for item in versions:
            self._register(item, by_model[item.model])
        for model in accepted:
            mine = [v for v in versions if v.model == model.name]
            self._stages(model, mine)
            self._archived(model, mine)
        return ImportReport(tuple(self.written), tuple(self.skipped))

    def _model(self, name: str) -> Any:
        """``--model NAME``, before anything is written: a name MLflow does not know is the
        user's typo, said as such (exit 4), not MLflow's failure."""
        try:
            return self.client.get_registered_model(name)
        except Exception as exc:
            if getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST":
                raise NotFound(f"MLflow at {self.tracking_uri} has no registered model "
                               f"{_shown(name)}") from None
            raise

    def _models(self) -> Iterator[Any]:
        token = None
        while True:
            page = self.client.search_registered_models(max_results=_PAGE, page_token=token)
            yield from page
            token = page.token
            if not token:
                return

    def _versions(self, model: str) -> Iterator[Any]:
        token = None
        quoted = model.replace("'", "\\'")
        while True:
            page = self.client.search_model_versions(f"name='{quoted}'", max_results=_PAGE,
                                                     page_token=token)
            yield from page
            token = page.token
            if not token:
                return

    def _register(self, item: _Version, model: Any) -> None:
        registry = self.registry
        if (registry.root / registry.config.layout.versions(item.name)
                / f"{item.version}.yaml").is_file():
            return  # imported by an earlier run
        info = item.info
        run = self.client.get_run(info.run_id) if info.run_id else None
        labels = [f"{k}={v}" for k, v in sorted((model.tags or {}).items())]
        labels += [f"{k}={v}" for k, v in sorted((info.tags or {}).items())]
        labels += [f"mlflow_model={item.model}", f"mlflow_version={item.number}"]
        if info.run_id:
            labels.append(f"mlflow_run_id={info.run_id}")
        if info.source:
            labels.append(f"mlflow_source={info.source}")
        # A label is one printable line (as `annotate` takes them): a server's line breaks
        # and terminal escapes come over as visible text, \n and \x1b.
        labels = [printable(label) for label in labels]
        metrics = dict(run.data.metrics) if run else {}
        code_commit = run.data.tags.get("mlflow.source.git.commit") if run else None
        new = NewVersion(
            metrics={k: v for k, v in metrics.items() if is_number(v)},
            hyperparameters={k: _param(v) for k, v in (run.data.params if run else {}).items()},
            description=info.description or model.description or None,
            labels=tuple(labels),
            lineage=Lineage(code_commit=code_commit),
        )
        user = info.user_id or "mlflow"
        # Whole seconds, as git keeps them; MLflow's milliseconds only order the import.
        when = datetime.fromtimestamp(item.created // 1000, timezone.utc).isoformat()
        with tempfile.TemporaryDirectory(prefix="gitreg-mlflow-") as tmp:
            uri = self.client.get_model_version_download_uri(item.model, info.version)
            from mlflow.artifacts import download_artifacts

            path = Path(download_artifacts(artifact_uri=uri, dst_path=tmp,
                                           tracking_uri=self.tracking_uri))
            done = registry.register(
                item.name, path, version=item.version, info=new, push=self.push,
                authored=Authorship(user, user if "@" in user else "", when))
        self.written.extend(done.events)

    def _stages(self, model: Any, versions: list[_Version]) -> None:
        """Aliases (and stages, on servers that still have them), one promotion each."""
        by_number = {v.number: v for v in versions}
        assigned = [(alias, int(number)) for alias, number in (model.aliases or {}).items()]
        old_stages = [(getattr(v.info, "current_stage", None), v.number) for v in versions]
        assigned += [(stage, number) for stage, number in old_stages
                     if stage not in (None, "", "None", "Archived")]
        stages = self.registry.config.stages
        for alias, number in sorted(assigned, key=lambda pair: pair[1]):
            target = map_stage(alias, self.stage_map, stages, DEFAULT_STAGES)
            item = by_number.get(number)
            if target is None or item is None:
                self.skipped.append(f"{_shown(model.name, quote=False)} alias or stage "
                                    f"{_shown(alias)} (version {number}): "
                                    "no stage of this registry; map it with --stage-map")
                continue
            reason = (f"{REASON_PREFIX}MLflow: {_shown(model.name, quote=False)} "
                      f"{_shown(alias, quote=False)} -> version {number}")
            held = self.registry.stage_map(item.name).versions_in(target)
            done = {e.reason for e in self.registry.history.events(item.name, target)}
            if reason in done or item.version in held:
                continue
            try:
                self.written.append(self.registry.promote(
                    item.name, item.version, target, force=True, reason=reason, push=self.push))
            except PolicyViolation as exc:  # a policy with allow_force: false
                self.skipped.append(f"{_shown(model.name, quote=False)} alias or stage "
                                    f"{_shown(alias)}: {exc}")

    def _archived(self, model: Any, versions: list[_Version]) -> None:
        """MLflow's ``Archived`` stage as gitreg's deprecation, one commit per version, in
        version order; a version a stage holds (an alias points to it) is not deprecated."""
        for item in sorted(versions, key=lambda v: v.number):
            if getattr(item.info, "current_stage", None) != "Archived":
                continue
            registry = self.registry
            if not (registry.root / registry.config.layout.versions(item.name)
                    / f"{item.version}.yaml").is_file():
                continue  # not imported (skipped above, with its reason)
            if registry.deprecations(item.name).reason(item.version) is not None:
                continue  # imported by an earlier run, or deprecated here since
            held = [stage for stage, held in registry.stage_map(item.name).stages.items()
                    if item.version in held]
            if held:
                self.skipped.append(
                    f"{_shown(model.name, quote=False)} version {item.number}: Archived in "
                    "MLflow, but "
                    f"{item.name} {item.version} is in {', '.join(held)}; not deprecated")
                continue
            # Dated now, as the promotions are: MLflow keeps no time of the stage change.
            done = lifecycle.deprecate(
                registry, item.name, item.version,
                reason=(f"{REASON_PREFIX}MLflow: {_shown(model.name, quote=False)} version "
                        f"{item.number} Archived"),
                push=self.push)
            assert isinstance(done, list)  # not proposed
            self.written.extend(done)


def _shown(text: str, *, quote: bool = True, limit: int = 120) -> str:
    """A name from the server for a message or a reason: printable (escapes shown as
    ``\\x1b``), one line, and cut short past ``limit`` characters."""
    shown = printable(text)
    if len(shown) > limit:
        shown = shown[:limit] + "..."
    return f"'{shown}'" if quote else shown


def _param(value: str) -> Any:
    """MLflow keeps params as strings: numbers and booleans get their type back."""
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind in (int, float):
        try:
            number = kind(value)
        except ValueError:
            continue
        return number if is_number(number) else value
    return value
