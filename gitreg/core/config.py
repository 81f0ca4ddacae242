"""``registry.yaml``: schema version, ordered stages, exclusivity, policies, layout."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from gitreg.core.forge import is_link_template
from gitreg.core.layout import Layout
from gitreg.core.names import check_name, check_stage_name
from gitreg.core.records import is_number
from gitreg.errors import CorruptRegistry, InvalidInput, NotFound

CONFIG_FILE = "registry.yaml"
SCHEMA_VERSION = 1
DEFAULT_STAGES = ("dev", "staging", "production")
DEFAULT_MODEL = "model"
_KNOWN_KEYS = {"schema_version", "stages", "policies", "layout", "default_model", "safe_load",
               "site"}
_POLICY_KEYS = {"from", "min_metrics", "max_metrics", "no_regression", "require_signed"}


@dataclass(frozen=True)
class Policy:
    """Gates a version must pass to enter a stage (enforced by promote and check)."""

    from_stage: str | None = None
    min_metrics: Mapping[str, float] = field(default_factory=dict)
    max_metrics: Mapping[str, float] = field(default_factory=dict)
    no_regression: tuple[str, ...] = ()
    # Every change of the stage, and the registration of what it holds, carries a good
    # signature (verify.py); --force does not override it.
    require_signed: bool = False


@dataclass(frozen=True)
class RegistryConfig:
    stages: tuple[str, ...] = DEFAULT_STAGES
    exclusive: Mapping[str, bool] = field(default_factory=dict)
    policies: Mapping[str, Policy] = field(default_factory=dict)
    models_dir: str = "models"
    default_model: str = DEFAULT_MODEL
    schema_version: int = SCHEMA_VERSION
    warnings: tuple[str, ...] = ()
    # get_model refuses to unpickle (GITREG_SAFE_LOAD=0 overrides it; see serialize.py)
    safe_load: bool = False
    # site.commit_url / site.tag_url: forge links of `gitreg site` (issue 15)
    site_commit_url: str | None = None
    site_tag_url: str | None = None

    @property
    def layout(self) -> Layout:
        return Layout(self.models_dir)

    def is_exclusive(self, stage: str) -> bool:
        return self.exclusive.get(stage, True)

    def check_stage(self, stage: str) -> str:
        check_stage_name(stage)
        if stage not in self.stages:
            # errors.NotFound documents exit 4 for "an unknown model, version or stage".
            raise NotFound(
                f"unknown stage {stage!r}: this registry's stages are {', '.join(self.stages)} "
                f"(set in {CONFIG_FILE})"
            )
        return stage


def default_config_dict() -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "stages": [{"name": s, "exclusive": True} for s in DEFAULT_STAGES],
        "policies": {},
        "layout": {"models_dir": "models"},
        "default_model": DEFAULT_MODEL,
    }


def from_dict(data: Any, source: str) -> RegistryConfig:
    def fail(key: str, problem: str) -> NoReturn:
        raise CorruptRegistry.at(source, key, problem)

    if not isinstance(data, dict):
        fail("top level", "expected a mapping")
    warnings = [
        f"{source}: unknown key {key!r} ignored (a newer gitreg may use it)"
        for key in data
        if key not in _KNOWN_KEYS
    ]
    schema = data.get("schema_version")
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        fail("schema_version", "expected a positive integer")
    if schema > SCHEMA_VERSION:
        raise CorruptRegistry(
            f"{source}: schema_version {schema} is newer than this gitreg understands "
            f"({SCHEMA_VERSION}); upgrade gitreg (pip install -U gitreg)",
            file=source, key="schema_version",
        )

    stages: list[str] = []
    exclusive: dict[str, bool] = {}
    raw_stages = data.get("stages", [{"name": s} for s in DEFAULT_STAGES])
    if not isinstance(raw_stages, list) or not raw_stages:
        fail("stages", "expected a non-empty list of stages")
    for i, entry in enumerate(raw_stages):
        spec = {"name": entry} if isinstance(entry, str) else entry
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            fail(f"stages[{i}]", "expected a stage name or a mapping with 'name'")
        name = spec["name"]
        try:
            check_stage_name(name)
        except InvalidInput as exc:
            fail(f"stages[{i}].name", str(exc))
        if name in stages:
            fail(f"stages[{i}].name", f"stage {name!r} is listed twice")
        flag = spec.get("exclusive", True)
        if not isinstance(flag, bool):
            fail(f"stages[{i}].exclusive", "expected true or false")
        stages.append(name)
        exclusive[name] = flag

    policies: dict[str, Policy] = {}
    raw_policies = data.get("policies") or {}
    if not isinstance(raw_policies, dict):
        fail("policies", "expected a mapping of stage to policy")
    for stage, spec in raw_policies.items():
        where = f"policies.{stage}"
        if stage not in stages:
            fail(where, f"unknown stage {stage!r}")
        if not isinstance(spec, dict):
            fail(where, "expected a mapping")
        for key in spec:
            if key not in _POLICY_KEYS:
                warnings.append(f"{source}: {where}: unknown key {key!r} ignored")
        from_stage = spec.get("from")
        if from_stage is not None and from_stage not in stages:
            fail(f"{where}.from", f"unknown stage {from_stage!r}")
        bounds = {}
        for key in ("min_metrics", "max_metrics"):
            values = spec.get(key) or {}
            if not isinstance(values, dict) or not all(is_number(v) for v in values.values()):
                fail(f"{where}.{key}", "expected a mapping of metric to number")
            bounds[key] = values
        no_regression = spec.get("no_regression") or []
        if isinstance(no_regression, str):
            no_regression = [no_regression]
        if not isinstance(no_regression, list) or not all(
            isinstance(m, str) for m in no_regression
        ):
            fail(f"{where}.no_regression", "expected a metric name or a list of them")
        require_signed = spec.get("require_signed", False)
        if not isinstance(require_signed, bool):
            fail(f"{where}.require_signed", "expected true or false")
        policies[stage] = Policy(
            from_stage, bounds["min_metrics"], bounds["max_metrics"], tuple(no_regression),
            require_signed,
        )

    layout = data.get("layout") or {}
    models_dir = layout.get("models_dir", "models") if isinstance(layout, dict) else None
    if not isinstance(models_dir, str) or not _is_plain_dir(models_dir):
        fail("layout.models_dir", "expected a plain relative folder name such as 'models'")
    default_model = data.get("default_model", DEFAULT_MODEL)
    try:
        check_name(default_model)
    except InvalidInput as exc:
        fail("default_model", str(exc))
    safe_load = data.get("safe_load", False)
    if not isinstance(safe_load, bool):
        fail("safe_load", "expected true or false")
    site = data.get("site") or {}
    if not isinstance(site, dict):
        fail("site", "expected a mapping (commit_url, tag_url)")
    links: dict[str, str | None] = {}
    for key, placeholder in (("commit_url", "{commit}"), ("tag_url", "{tag}")):
        value = site.get(key)
        if value is not None and not (isinstance(value, str)
                                      and is_link_template(value, placeholder)):
            fail(f"site.{key}", f"expected an http(s) URL containing {placeholder}")
        links[key] = value
    return RegistryConfig(
        site_commit_url=links["commit_url"],
        site_tag_url=links["tag_url"],
        stages=tuple(stages),
        exclusive=exclusive,
        policies=policies,
        models_dir=models_dir,
        default_model=default_model,
        schema_version=schema,
        warnings=tuple(warnings),
        safe_load=safe_load,
    )


def _is_plain_dir(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and all(p and p not in (".", "..") and not p.startswith(".") for p in parts)
