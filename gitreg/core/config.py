"""``registry.yaml``: schema version, ordered stages, exclusivity, policies, layout."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
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
               "gc", "site"}
GC_KEEP_DAYS = 30  # `gitreg gc` keeps what any stage held this many days back (issue 16)
_POLICY_KEYS = {"from", "min_metrics", "max_metrics", "no_regression", "require_signed",
                "allow_force"}
_GLOB_CHARS = frozenset("*?[]!")


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
    # ``--force --reason`` may override the rules above (issue 12: false, only a change
    # that passes them reaches the stage).
    allow_force: bool = True
    # Where it is written in registry.yaml, as check, promote and diff name it:
    # ``policies.production`` or ``policies.production.models["churn*"]``.
    label: str = ""


@dataclass(frozen=True)
class StagePolicies:
    """A stage's policy for every model, and those for models by name or glob (issue 12)."""

    default: Policy | None = None
    models: tuple[tuple[str, Policy], ...] = ()  # (name or glob, policy), in file order

    def for_model(self, name: str) -> Policy | None:
        """The most specific policy that applies to model ``name``: its own name, else the
        matching glob with the most characters that are not wildcards (the first listed of
        equals), else the stage's policy for every model."""
        best: tuple[int, Policy] | None = None
        for pattern, policy in self.models:
            if pattern == name:
                return policy
            if fnmatchcase(name, pattern):
                literal = sum(c not in _GLOB_CHARS for c in pattern)
                if best is None or literal > best[0]:
                    best = (literal, policy)
        return best[1] if best is not None else self.default


@dataclass(frozen=True)
class RegistryConfig:
    stages: tuple[str, ...] = DEFAULT_STAGES
    exclusive: Mapping[str, bool] = field(default_factory=dict)
    policies: Mapping[str, StagePolicies] = field(default_factory=dict)
    models_dir: str = "models"
    default_model: str = DEFAULT_MODEL
    schema_version: int = SCHEMA_VERSION
    warnings: tuple[str, ...] = ()
    # get_model refuses to unpickle (GITREG_SAFE_LOAD=0 overrides it; see serialize.py)
    safe_load: bool = False
    gc_keep_days: int = GC_KEEP_DAYS
    # site.commit_url / site.tag_url: forge links of `gitreg site` (issue 15)
    site_commit_url: str | None = None
    site_tag_url: str | None = None

    @property
    def layout(self) -> Layout:
        return Layout(self.models_dir)

    def is_exclusive(self, stage: str) -> bool:
        return self.exclusive.get(stage, True)

    def policy(self, stage: str, model: str) -> Policy | None:
        """The policy that gates ``model`` entering ``stage``, if any (most specific wins)."""
        rules = self.policies.get(stage)
        return rules.for_model(model) if rules is not None else None

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
            f"({SCHEMA_VERSION}); upgrade gitreg (the distribution is gitreg-registry: "
            "README, Installing)",
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

    policies: dict[str, StagePolicies] = {}
    raw_policies = data.get("policies") or {}
    if not isinstance(raw_policies, dict):
        fail("policies", "expected a mapping of stage to policy")
    for stage, spec in raw_policies.items():
        where = f"policies.{stage}"
        if stage not in stages:
            fail(where, f"unknown stage {stage!r}")
        if not isinstance(spec, dict):
            fail(where, "expected a mapping")
        raw_models = spec.get("models") or {}
        if not isinstance(raw_models, dict):
            fail(f"{where}.models", "expected a mapping of model name or glob to policy")
        models = []
        for pattern, model_spec in raw_models.items():
            label = f"{where}.models[{_quoted(pattern)}]"
            if not isinstance(pattern, str) or not _is_pattern(pattern):
                fail(label, "expected a model name or a glob of one (churn, churn-*, *-eu)")
            models.append((pattern, _policy(model_spec, label, stages, source, fail, warnings)))
        rest = {k: v for k, v in spec.items() if k != "models"}
        default = _policy(rest, where, stages, source, fail, warnings) if rest else None
        policies[stage] = StagePolicies(default, tuple(models))

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
    gc = data.get("gc") or {}
    if not isinstance(gc, dict):
        fail("gc", "expected a mapping, e.g. {keep_days: 30}")
    keep_days = gc.get("keep_days", GC_KEEP_DAYS)
    if isinstance(keep_days, bool) or not isinstance(keep_days, int) or keep_days < 0:
        fail("gc.keep_days", "expected a whole number of days, 0 or more")
    warnings += [f"{source}: gc: unknown key {key!r} ignored" for key in gc
                 if key != "keep_days"]
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
        gc_keep_days=keep_days,
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


def _policy(spec: Any, where: str, stages: list[str], source: str,
            fail: Callable[[str, str], NoReturn], warnings: list[str]) -> Policy:
    """One policy mapping of ``registry.yaml``, found at ``where``."""
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
    if not isinstance(no_regression, list) or not all(isinstance(m, str) for m in no_regression):
        fail(f"{where}.no_regression", "expected a metric name or a list of them")
    flags = {}
    for key, default in (("require_signed", False), ("allow_force", True)):
        flags[key] = spec.get(key, default)
        if not isinstance(flags[key], bool):
            fail(f"{where}.{key}", "expected true or false")
    return Policy(from_stage, bounds["min_metrics"], bounds["max_metrics"], tuple(no_regression),
                  flags["require_signed"], flags["allow_force"], where)


def _quoted(pattern: object) -> str:
    return f'"{pattern}"' if isinstance(pattern, str) else repr(pattern)


def _is_pattern(pattern: str) -> bool:
    """A model name, or one with glob wildcards (``*``, ``?``, ``[...]``) in it."""
    plain = "".join("a" if c in _GLOB_CHARS else c for c in pattern)
    try:
        check_name(plain)
    except InvalidInput:
        return False
    return True


def _is_plain_dir(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and all(p and p not in (".", "..") and not p.startswith(".") for p in parts)
