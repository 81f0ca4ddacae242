"""The CI examples in ``examples/ci`` run as the CI systems would run them, so they cannot rot.

The test reads the GitHub workflows and the GitLab file with ``yaml.safe_load`` and runs
their ``run:`` blocks (GitHub) and ``before_script``/``script`` lines (GitLab) in order with
bash, against a bare ``origin`` and checkouts made in ``tmp_path`` the way each system makes
them (GitHub's test merge of a pull request, GitLab's detached pipeline refs, the depth
each job asks for), with the variables each system sets. It also decides which workflow or
job an event starts from the files' own ``on:`` filters and ``rules:``, and evaluates the
``${{ }}`` expressions and step ``if:`` conditions the workflows use (anything else is an
error, so a new construct cannot slip past unevaluated).

The install steps run too, as copied, with one documented substitution: the examples install
a release tag from gitreg's repository (``PUBLISHED``, which must match
``gitreg.__version__``), and the test puts ``gitreg-registry @ file:///.../gitreg_registry-
VERSION-py3-none-any.whl`` in its place, a wheel built from this checkout once per session
(``python -m build``, as scripts/release.sh builds it). The jobs run in a virtual
environment of their own (``runner``) whose ``python``, ``pip`` and ``gitreg`` come first
on PATH, without PYTHONPATH: the gitreg they run is the one their install step installed.
pip runs offline (``PIP_NO_INDEX``); gitreg's dependencies (dvc, typer, ...) are found in
the test's own environment, which that venv sees through a ``.pth`` file.

What does not run: ``uses:`` steps (checkout and setup-python, emulated here) and the steps
that talk to the hosting service (posting the comment, opening the pull request, pointing
``origin`` at the forge with a token). They are named in ``GITHUB_SKIPPED`` and
``GITLAB_SKIPPED`` and counted, so nothing drops out silently.

Scenario: churn 1.0.0 in staging and production and 1.1.0 in staging, behind a production
policy; ``gitreg promote churn 1.1.0 production --propose``, by hand or by the propose
workflow; the pull request job (check
passes, the comment holds the metrics diff); a merge by merge commit, squash or rebase; the
main branch job (the stage tag reaches origin); the tag job (the event says promoted, the
weights arrive with the md5 the version file records).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import git, run_cli

import gitreg
from gitreg.repo import yamlio
from gitreg.service.registry import NewVersion, Registry

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "ci"
GITHUB_DIR = EXAMPLES / "github"
GITLAB_FILE = EXAMPLES / "gitlab" / ".gitlab-ci.yml"
SCRIPT_IN_REGISTRY = "ci/review-comment.sh"  # where the examples tell users to copy it

# Run steps that do not run here, by workflow file and step name: talking to GitHub.
GITHUB_SKIPPED = {
    "gitreg-propose.yml": ["Open the pull request"],
    "gitreg-review.yml": ["Post the review comment"],
    "gitreg-tag.yml": [],
    "gitreg-deploy.yml": [],
    "gitreg-site.yml": [],
}
# GitLab script lines that do not run here, by job and a text each contains.
GITLAB_SKIPPED = {
    "gitreg-review": ["$CI_API_V4_URL"],  # post the note
    "gitreg-tag": ["git remote set-url origin"],  # push with a token
    "gitreg-deploy": [],
    "pages": [],
}
# What the examples install, until gitreg-registry is on PyPI: the release tag of this
# version, from gitreg's repository (<org>: wherever it is hosted, README "Installing").
PUBLISHED = f"gitreg-registry @ git+https://github.com/<org>/gitreg@v{gitreg.__version__}"

BRANCH = "gitreg/promote-churn-1.1.0-to-production"
PR_NUMBER, PIPELINE_IDS = "7", iter(range(101, 200))
METRICS_ROW = "| accuracy | 0.9 | 0.93 | +0.03 | better |"


# -- the runner's Python, with gitreg from a wheel of this checkout -----------------------------


@dataclass(frozen=True)
class Runner:
    venv: Path
    wheel: Path

    @property
    def spec(self) -> str:
        """What replaces ``PUBLISHED`` in an install step."""
        return f"gitreg-registry @ {self.wheel.as_uri()}"

    def install_step(self, script: str) -> str:
        assert PUBLISHED in script, f"the install step does not install {PUBLISHED!r}"
        return script.replace(PUBLISHED, self.spec)


@pytest.fixture(scope="session")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """A wheel built from this checkout, and a venv without gitreg for the jobs to install
    it into; the venv sees this environment's packages (gitreg's dependencies) through a
    .pth file, so that the install steps run offline."""
    base = tmp_path_factory.mktemp("ci-runner")
    # Built from a copy: setuptools builds in the source tree's build/, which two test
    # processes building at once (pytest -n) trip over ("No such file or directory").
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"))
    build = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir",
                            str(base / "dist"), str(source)], capture_output=True, text=True,
                           check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (base / "dist").glob("gitreg_registry-*.whl")
    assert wheel.name == f"gitreg_registry-{gitreg.__version__}-py3-none-any.whl"
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (site,) = venv.glob("lib/python*/site-packages")
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "gitreg-test-dependencies.pth").write_text("\n".join(ours) + "\n")
    return Runner(venv, wheel)


def runner_env(runner: Runner, tmp: Path) -> dict[str, str]:
    """The jobs' environment: the runner's venv first on PATH, no way to this checkout's
    gitreg, pip offline."""
    env = base_env(tmp)
    ours = str(Path(sys.executable).parent)
    path = [str(runner.venv / "bin"), *(p for p in env["PATH"].split(os.pathsep) if p != ours)]
    env["PATH"] = os.pathsep.join(path)
    env.pop("PYTHONPATH", None)
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS="", PIP_DISABLE_PIP_VERSION_CHECK="1",
               VIRTUAL_ENV=str(runner.venv))
    return env


# -- the registry on origin --------------------------------------------------------------------

_TEMPLATE: dict[str, Path] = {}


@pytest.fixture
def site(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """``origin.git`` and ``dev`` (a developer's clone of it): churn 1.0.0 in staging and
    production, 1.1.0 in staging, fraud 1.0.0, a production policy, and the review script.
    Built once, copied per test."""
    if "site" not in _TEMPLATE:
        base = tmp_path_factory.mktemp("ci-examples")
        git(base, "init", "--quiet", "--bare", "origin.git")
        registry = Registry.init(base / "dev", remote=str(base / "storage"))
        data = yamlio.loads((registry.root / "registry.yaml").read_bytes(), "registry.yaml")
        data["policies"] = {"production": {"from": "staging", "min_metrics": {"accuracy": 0.85}}}
        (registry.root / "registry.yaml").write_text(yamlio.dumps(data))
        script = registry.root / SCRIPT_IN_REGISTRY
        script.parent.mkdir()
        shutil.copy(EXAMPLES / "review-comment.sh", script)
        git(registry.root, "add", "registry.yaml", SCRIPT_IN_REGISTRY)
        git(registry.root, "commit", "--quiet", "-m", "Production policy; CI review script")
        registry = Registry(registry.root)
        for name, version, accuracy in (("churn", "1.0.0", 0.90), ("churn", "1.1.0", 0.93),
                                        ("fraud", "1.0.0", 0.99)):
            weights = base / f"{name}-{version}.bin"
            weights.write_bytes(f"{name} {version} weights\n".encode() * 50)
            info = NewVersion(metrics={"accuracy": accuracy}, features=("age", "plan"),
                              model_type="RandomForest")
            registry.register(name, weights, version=version, info=info)
        for version, stage in (("1.0.0", "staging"), ("1.0.0", "production"),
                               ("1.1.0", "staging")):
            registry.promote("churn", version, stage)
        git(registry.root, "remote", "add", "origin", f"file://{base / 'origin.git'}")
        git(registry.root, "push", "--quiet", "origin", "main", "--tags")
        _TEMPLATE["site"] = base
    root = tmp_path / "site"
    shutil.copytree(_TEMPLATE["site"], root, symlinks=True)
    git(root / "dev", "remote", "set-url", "origin", url(root))
    return root


def url(site: Path) -> str:
    return f"file://{site / 'origin.git'}"


def tags_on_origin(site: Path) -> dict[str, str]:
    out = git(site / "origin.git", "for-each-ref", "--format=%(refname:short) %(objectname)",
              "refs/tags")
    return {tag: git(site / "origin.git", "rev-parse", f"{sha}^{{commit}}").strip()
            for tag, sha in (line.split() for line in out.splitlines())}


def propose(site: Path) -> None:
    """The real `promote --propose`, then another change lands on main so that the
    merge is a real one."""
    dev = site / "dev"
    proc = run_cli("promote", "churn", "1.1.0", "production", "--propose", cwd=dev, check=True)
    assert f"Pushed branch {BRANCH}" in proc.stdout
    main_moves_on(site)


def main_moves_on(site: Path) -> None:
    dev = site / "dev"
    (dev / "NOTES.md").write_text("registry notes\n")
    git(dev, "add", "NOTES.md")
    git(dev, "commit", "--quiet", "-m", "Add notes")
    git(dev, "push", "--quiet", "origin", "main")


def merge(site: Path, how: str) -> str:
    """Merge the proposal into main as a forge's merge button does; main's new tip."""
    forge = site / "forge"
    git(site, "clone", "--quiet", url(site), str(forge))
    ref = f"origin/{BRANCH}"
    if how == "merge":
        git(forge, "merge", "--quiet", "--no-ff", "-m", f"Merge pull request #{PR_NUMBER}", ref)
    elif how == "squash":  # one commit: the pull request's title, its commits' messages
        message = git(forge, "log", "--format=%B", f"HEAD..{ref}")
        git(forge, "merge", "--quiet", "--squash", ref)
        git(forge, "commit", "--quiet", "-m", f"Promote churn 1.1.0 (#{PR_NUMBER})",
            "-m", message)
    else:  # rebase: each commit replayed on main's tip
        for sha in git(forge, "rev-list", "--reverse", f"HEAD..{ref}").split():
            git(forge, "cherry-pick", "--quiet", sha)
    git(forge, "push", "--quiet", "origin", "main")
    return git(forge, "rev-parse", "HEAD").strip()


# -- running steps -----------------------------------------------------------------------------


def base_env(tmp: Path) -> dict[str, str]:
    """The test's isolated environment, with this checkout's gitreg first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(CI="true", TMPDIR=str(tmp))
    tmp.mkdir(parents=True, exist_ok=True)
    return env


def bash(script: str, *, cwd: Path, env: Mapping[str, str], args: list[str]) -> str:
    """Run ``script``; its stdout (a failure shows both streams)."""
    proc = subprocess.run(["bash", "--noprofile", "--norc", *args, "-c", script], cwd=cwd,
                          env=dict(env), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (
        f"step failed ({proc.returncode}):\n{script}\n--- stdout\n{proc.stdout}"
        f"\n--- stderr\n{proc.stderr}")
    return proc.stdout


@dataclass
class Run:
    """What a job did: each run step's stdout, the steps it skipped, its step outputs."""

    log: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)


def fetch(root: Path, origin: str, *refspecs: str, depth: int = 0) -> None:
    deepen = [f"--depth={depth}"] if depth else []
    git(root, "fetch", "--quiet", "--no-tags", *deepen, origin, *refspecs)


def init_checkout(root: Path, origin: str) -> None:
    root.mkdir(parents=True)
    git(root, "init", "--quiet")
    git(root, "remote", "add", "origin", origin)


# -- GitHub Actions ----------------------------------------------------------------------------


def workflows() -> dict[str, dict[str, Any]]:
    found = {p.name: yaml.safe_load(p.read_text()) for p in sorted(GITHUB_DIR.glob("*.yml"))}
    assert set(found) == set(GITHUB_SKIPPED)
    return found


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    return {key: (value or {}) for key, value in on.items()}


def github_glob(pattern: str, name: str) -> bool:
    """GitHub's filter patterns: `*` matches anything but `/`, `**` anything."""
    if any(c in pattern for c in "?+[]!"):
        raise ValueError(f"unsupported filter pattern {pattern!r} (update the test)")
    regex = "".join(".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part)
                    for part in re.split(r"(\*\*|\*)", pattern))
    return re.fullmatch(regex, name) is not None


def started_by(event: str, ref: str = "") -> list[str]:
    """The workflows an event starts: ``pull_request``, or ``push`` of refs/heads|tags/X."""
    names = []
    for name, workflow in workflows().items():
        on = triggers(workflow)
        if event == "pull_request" and "pull_request" in on:
            names.append(name)
        elif event == "push" and "push" in on:
            filters = on["push"]
            if set(filters) - {"branches", "tags"}:
                raise ValueError(f"{name}: unsupported push filters (update the test)")
            kind, _, short = ref.removeprefix("refs/").partition("/")
            patterns = filters.get("branches" if kind == "heads" else "tags")
            if not filters or (patterns and any(github_glob(p, short) for p in patterns)):
                names.append(name)
    return names


def lookup(path: str, context: Mapping[str, Any]) -> Any:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(f"${{{{ {path} }}}}: not in the test's context (update the test)")
        value = value[part]
    return value


def expand(text: str, context: Mapping[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if not re.fullmatch(r"[A-Za-z_][\w.-]*", expr):
            raise ValueError(f"unsupported expression ${{{{ {expr} }}}} (update the test)")
        return str(lookup(expr, context))
    return re.sub(r"\$\{\{(.*?)\}\}", one, str(text))


def condition(expr: str, context: Mapping[str, Any]) -> bool:
    """Step ``if:`` of the form ``a.b == 'x' || c.d == 'y'``; anything else is an error."""
    result = False
    for clause in expr.split("||"):
        match = re.fullmatch(r"\s*([A-Za-z_][\w.-]*)\s*==\s*'([^']*)'\s*", clause)
        if match is None:
            raise ValueError(f"unsupported if: {expr!r} (update the test)")
        result |= str(lookup(match.group(1), context)) == match.group(2)
    return result


def github_job(name: str) -> tuple[dict[str, Any], dict[str, Any], int]:
    """The workflow, its only job, and the fetch-depth its checkout step asks for."""
    workflow = workflows()[name]
    (job,) = workflow["jobs"].values()
    assert workflow["defaults"]["run"]["shell"] == "bash"  # the shell this test runs
    checkouts = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout")]
    assert len(checkouts) == 1 and job["steps"][0] is checkouts[0]
    return workflow, job, int(checkouts[0].get("with", {}).get("fetch-depth", 1))


def run_github(name: str, checkout: Path, env: Mapping[str, str],
               context: dict[str, Any], runner: Runner) -> Run:
    """The run steps of workflow ``name`` in order, as GitHub's runner would run them."""
    workflow, job, _ = github_job(name)
    run = Run()
    context.setdefault("steps", {})
    for number, step in enumerate(job["steps"]):
        if "uses" in step:
            assert str(step["uses"]).startswith((
                "actions/checkout@", "actions/setup-python@",
                "actions/upload-pages-artifact@", "actions/deploy-pages@"))
            continue
        assert not {"shell", "working-directory", "continue-on-error"} & set(step), step
        if step.get("name") in GITHUB_SKIPPED[name]:
            run.skipped.append(step["name"])
            continue
        if "if" in step and not condition(step["if"], context):
            continue
        script = str(step["run"])
        if step.get("name") == "Install gitreg":
            script = runner.install_step(script)
        output = checkout.parent / f"github-output-{checkout.name}-{number}"
        output.write_text("")
        step_env = {**env, "GITHUB_OUTPUT": str(output)}
        for scope in (workflow, job, step):
            step_env.update({k: expand(v, context) for k, v in scope.get("env", {}).items()})
        # GitHub's command for `shell: bash`: bash --noprofile --norc -eo pipefail {0}
        run.log.append(bash(script, cwd=checkout, env=step_env, args=["-eo", "pipefail"]))
        said = dict(line.split("=", 1) for line in output.read_text().splitlines() if line)
        if "id" in step:
            run.outputs[step["id"]] = said
            context["steps"][step["id"]] = {"outputs": said}
    assert run.skipped == GITHUB_SKIPPED[name]
    installs = [s for s in job["steps"] if "pip install" in str(s.get("run", ""))]
    assert [s["name"] for s in installs] == ["Install gitreg"], installs
    return run


def github_env(site: Path, checkout: Path, runner: Runner, **variables: str) -> dict[str, str]:
    runner_temp = site / "runner-temp"
    env = runner_env(runner, runner_temp)
    env.update(GITHUB_ACTIONS="true", GITHUB_REPOSITORY="acme/registry",
               GITHUB_WORKSPACE=str(checkout), RUNNER_TEMP=str(runner_temp),
               GITHUB_SHA=git(checkout, "rev-parse", "HEAD").strip(), GITHUB_BASE_REF="",
               GITHUB_HEAD_REF="")
    env.update(variables)
    return env


def github_context(ref_type: str = "branch") -> dict[str, Any]:
    return {"github": {"token": "ghs_not-a-token", "ref_type": ref_type,
                       "event": {"pull_request": {"number": int(PR_NUMBER)}}},
            "secrets": {"GITREG_DEPLOY_KEY": "not a key", "AWS_ACCESS_KEY_ID": "",
                        "AWS_SECRET_ACCESS_KEY": ""}}


def actions_checkout(site: Path, where: str, ref: str, depth: int) -> Path:
    """What actions/checkout makes: with fetch-depth 0 every branch and tag, then the ref
    (a tag becomes a lightweight one: it is fetched by its commit)."""
    root = site / where
    init_checkout(root, url(site))
    if depth == 0:
        fetch(root, "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
    if ref.startswith("refs/tags/"):
        fetch(root, "origin", f"+{ref}:{ref}", depth=depth)
        git(root, "tag", "--force", ref.removeprefix("refs/tags/"), f"{ref}^{{commit}}")
        git(root, "checkout", "--quiet", "--detach", ref)
    elif ref.startswith("refs/heads/"):
        branch = ref.removeprefix("refs/heads/")
        fetch(root, "origin", f"+{ref}:refs/remotes/origin/{branch}", depth=depth)
        git(root, "checkout", "--quiet", "-B", branch, f"refs/remotes/origin/{branch}")
    else:  # refs/pull/N/merge
        fetch(root, "origin", f"+{ref}:refs/remotes/{ref.removeprefix('refs/')}", depth=depth)
        git(root, "checkout", "--quiet", "--detach", f"refs/remotes/{ref.removeprefix('refs/')}")
    return root


def github_pull_request_ref(site: Path) -> str:
    """GitHub's test merge of the pull request into its base, as refs/pull/N/merge."""
    merger = site / "github-merger"
    git(site, "clone", "--quiet", url(site), str(merger))
    git(merger, "merge", "--quiet", "--no-ff", "-m", f"Merge {BRANCH} into main",
        f"origin/{BRANCH}")
    ref = f"refs/pull/{PR_NUMBER}/merge"
    git(merger, "push", "--quiet", "origin", f"HEAD:{ref}")
    return ref


def github_flow(site: Path, how: str, runner: Runner) -> tuple[Run, Path, str]:
    # the pull request
    assert started_by("pull_request") == ["gitreg-review.yml"]
    _, _, depth = github_job("gitreg-review.yml")
    ref = github_pull_request_ref(site)
    checkout = actions_checkout(site, "gh-review", ref, depth)
    env = github_env(site, checkout, runner, GITHUB_EVENT_NAME="pull_request", GITHUB_REF=ref,
                     GITHUB_REF_NAME=f"{PR_NUMBER}/merge", GITHUB_BASE_REF="main",
                     GITHUB_HEAD_REF=BRANCH)
    review = run_github("gitreg-review.yml", checkout, env, github_context(), runner)
    assert "ok: no problems found" in "".join(review.log)
    comment = (site / "runner-temp" / "gitreg-review.md").read_text()
    check_comment(comment)

    # the merge, and the push to main
    merged = merge(site, how)
    assert started_by("push", "refs/heads/main") == ["gitreg-site.yml", "gitreg-tag.yml"]
    _, _, depth = github_job("gitreg-site.yml")
    checkout = actions_checkout(site, "gh-site", "refs/heads/main", depth)
    env = github_env(site, checkout, runner, GITHUB_EVENT_NAME="push",
                     GITHUB_REF="refs/heads/main", GITHUB_REF_NAME="main",
                     GITHUB_REPOSITORY="acme/models")
    run_github("gitreg-site.yml", checkout, env, github_context(), runner)
    check_site(checkout / "_site", "acme/models models")
    _, _, depth = github_job("gitreg-tag.yml")
    checkout = actions_checkout(site, "gh-tag", "refs/heads/main", depth)
    env = github_env(site, checkout, runner, GITHUB_EVENT_NAME="push",
                     GITHUB_REF="refs/heads/main", GITHUB_REF_NAME="main")
    run_github("gitreg-tag.yml", checkout, env, github_context(), runner)
    tag = "churn/production/2"
    assert tags_on_origin(site)[tag] == merged

    # the push of the tag
    assert started_by("push", f"refs/tags/{tag}") == ["gitreg-deploy.yml"]
    _, _, depth = github_job("gitreg-deploy.yml")
    checkout = actions_checkout(site, "gh-deploy", f"refs/tags/{tag}", depth)
    assert git(checkout, "cat-file", "-t", tag).strip() == "commit"  # lightweight now
    env = github_env(site, checkout, runner, GITHUB_EVENT_NAME="push",
                     GITHUB_REF=f"refs/tags/{tag}", GITHUB_REF_NAME=tag, GITHUB_REF_TYPE="tag")
    deploy = run_github("gitreg-deploy.yml", checkout, env, github_context("tag"), runner)
    return deploy, checkout, deploy.outputs["event"]["event"]


def propose_by_workflow(site: Path, runner: Runner) -> None:
    """gitreg-propose.yml, dispatched on main with churn 1.1.0 production as its inputs;
    then another change lands on main, as in ``propose``."""
    inputs = {"model": "churn", "version": "1.1.0", "stage": "production"}
    workflow, _, depth = github_job("gitreg-propose.yml")
    assert set(triggers(workflow)) == {"workflow_dispatch"}
    assert set(triggers(workflow)["workflow_dispatch"]["inputs"]) == set(inputs)
    checkout = actions_checkout(site, "gh-propose", "refs/heads/main", depth)
    env = github_env(site, checkout, runner, GITHUB_EVENT_NAME="workflow_dispatch",
                     GITHUB_REF="refs/heads/main", GITHUB_REF_NAME="main")
    run = run_github("gitreg-propose.yml", checkout, env, {**github_context(), "inputs": inputs},
                     runner)
    assert run.outputs["propose"] == {"branch": BRANCH,
                                      "title": "Promote churn 1.1.0 to production"}
    body = (site / "runner-temp" / "body.md").read_text()
    assert body.startswith("Promotes **churn 1.1.0** to **production**, replacing 1.0.0.\n")
    assert "| accuracy | 0.93 |" in body and "Title:" not in body
    assert git(site / "origin.git", "rev-parse", "--verify", "--quiet",
               f"refs/heads/{BRANCH}").strip()
    main_moves_on(site)


# -- GitLab CI ---------------------------------------------------------------------------------

# Predefined in every GitLab pipeline.
ALWAYS_SET = {"CI": "true", "GITLAB_CI": "true", "CI_DEFAULT_BRANCH": "main",
              "CI_PROJECT_ID": "42", "CI_PROJECT_PATH": "acme/registry",
              "CI_API_V4_URL": "https://gitlab.invalid/api/v4", "CI_SERVER_HOST": "gitlab.invalid",
              "CI_SERVER_FQDN": "gitlab.invalid", "CI_SERVER_PROTOCOL": "https"}
GITLAB_KEYWORDS = {"default", "include", "stages", "variables", "workflow", "image", "services",
                   "before_script", "after_script", "cache"}


def gitlab_jobs() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The global variables, and each job with its ``extends`` merged in (GitLab's
    reverse deep merge: mappings merge, everything else is replaced)."""
    config = yaml.safe_load(GITLAB_FILE.read_text())

    def merged(job: dict[str, Any]) -> dict[str, Any]:
        parents = job.get("extends", [])
        result: dict[str, Any] = {}
        for parent in [parents] if isinstance(parents, str) else parents:
            result = deep_merge(result, merged(config[parent]))
        return deep_merge(result, {k: v for k, v in job.items() if k != "extends"})

    jobs = {name: merged(job) for name, job in config.items()
            if name not in GITLAB_KEYWORDS and not name.startswith(".")}
    assert set(jobs) == set(GITLAB_SKIPPED)
    return config.get("variables", {}), jobs


def deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        both = isinstance(out.get(key), dict) and isinstance(value, dict)
        out[key] = deep_merge(out[key], value) if both else value
    return out


def rule_matches(expr: str, variables: Mapping[str, str]) -> bool:
    """``rules: if:`` clauses joined by ``&&``: ``$A == "x"``, ``$A == $B``, ``$A =~ /re/``."""
    def value(token: str) -> str | None:
        token = token.strip()
        if token.startswith("$"):
            return variables.get(token[1:])
        if token.startswith('"') and token.endswith('"'):
            return token[1:-1]
        raise ValueError(f"unsupported rules operand {token!r} (update the test)")

    for clause in expr.split("&&"):
        if (match := re.fullmatch(r"\s*(\S+)\s*=~\s*/(.*)/\s*", clause)) is not None:
            subject = value(match.group(1))
            if subject is None or re.search(match.group(2), subject) is None:
                return False
        elif (match := re.fullmatch(r"\s*(\S+)\s*==\s*(\S+)\s*", clause)) is not None:
            if value(match.group(1)) != value(match.group(2)):
                return False
        else:
            raise ValueError(f"unsupported rules clause {clause!r} (update the test)")
    return True


def gitlab_pipeline(variables: Mapping[str, str]) -> list[str]:
    """The jobs a pipeline with these predefined variables contains."""
    names = []
    variables = {**ALWAYS_SET, **variables}
    for name, job in gitlab_jobs()[1].items():
        for rule in job["rules"]:
            if rule_matches(rule["if"], variables):
                if rule.get("when", "on_success") != "never":
                    names.append(name)
                break
    return names


def gitlab_depth(job: str) -> int:
    return int(gitlab_jobs()[1][job].get("variables", {}).get("GIT_DEPTH", 20))


def gitlab_checkout(site: Path, where: str, refspecs: list[str], depth: int) -> Path:
    """What the runner makes: the pipeline's refspecs fetched at GIT_DEPTH, the commit of
    the first one checked out detached."""
    root = site / where
    init_checkout(root, url(site))
    fetch(root, "origin", *refspecs, depth=depth)
    git(root, "checkout", "--quiet", "--detach", refspecs[0].split(":")[1])
    return root


def pipeline_ref(site: Path, sha: str) -> str:
    """GitLab keeps each pipeline's commit as refs/pipelines/ID on the server."""
    ref = f"refs/pipelines/{next(PIPELINE_IDS)}"
    git(site / "origin.git", "update-ref", ref, sha)
    return ref


def run_gitlab(job_name: str, checkout: Path, env: Mapping[str, str], runner: Runner) -> str:
    """The job's before_script and script lines, in one bash as the runner runs them."""
    global_vars, jobs = gitlab_jobs()
    job = jobs[job_name]
    lines, skipped = [], []
    for line in [*job.get("before_script", []), *job["script"]]:
        marks = [mark for mark in GITLAB_SKIPPED[job_name] if mark in line]
        if marks:
            skipped += marks
        elif "pip install" in line:
            lines.append(runner.install_step(line))
        else:
            lines.append(line)
    assert skipped == GITLAB_SKIPPED[job_name]
    job_env = {**env, **{k: str(v) for k, v in {**global_vars, **job.get("variables", {})}.items()}}
    return bash("\n".join(lines), cwd=checkout, env=job_env, args=["-eo", "pipefail"])


def gitlab_env(site: Path, checkout: Path, runner: Runner, **variables: str) -> dict[str, str]:
    env = runner_env(runner, site / "gitlab-tmp")
    sha = git(checkout, "rev-parse", "HEAD").strip()
    env.update(ALWAYS_SET)
    env.update(CI_PROJECT_DIR=str(checkout), CI_COMMIT_SHA=sha)
    env.update(variables)
    return env


def gitlab_flow(site: Path, how: str, runner: Runner) -> tuple[str, Path, str]:
    # the merge request pipeline: only the source branch's commit is fetched
    mr = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": PR_NUMBER,
          "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": BRANCH,
          "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main", "CI_COMMIT_REF_NAME": BRANCH}
    assert gitlab_pipeline(mr) == ["gitreg-review"]
    source = git(site / "origin.git", "rev-parse", f"refs/heads/{BRANCH}").strip()
    ref = pipeline_ref(site, source)
    checkout = gitlab_checkout(site, "gl-review", [f"+{ref}:{ref}"], gitlab_depth("gitreg-review"))
    log = run_gitlab("gitreg-review", checkout, gitlab_env(site, checkout, runner, **mr), runner)
    assert "ok: no problems found" in log
    check_comment((checkout / "gitreg-review.md").read_text())

    # the merge, and the branch pipeline on main
    merged = merge(site, how)
    push = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_COMMIT_REF_NAME": "main"}
    assert gitlab_pipeline(push) == ["gitreg-tag", "pages"]
    ref = pipeline_ref(site, merged)
    checkout = gitlab_checkout(site, "gl-tag", [f"+{ref}:{ref}",
                                                "+refs/heads/main:refs/remotes/origin/main"],
                               gitlab_depth("gitreg-tag"))
    run_gitlab("gitreg-tag", checkout, gitlab_env(site, checkout, runner, **push), runner)
    tag = "churn/production/2"
    assert tags_on_origin(site)[tag] == merged
    checkout = gitlab_checkout(site, "gl-pages", [f"+{ref}:{ref}"], gitlab_depth("pages"))
    run_gitlab("pages", checkout, gitlab_env(site, checkout, runner,
                                             CI_PROJECT_PATH="acme/models", **push), runner)
    check_site(checkout / "public", "acme/models models")

    # the tag pipeline
    tagged = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": tag, "CI_COMMIT_REF_NAME": tag}
    assert gitlab_pipeline(tagged) == ["gitreg-deploy"]
    checkout = gitlab_checkout(site, "gl-deploy", [f"+refs/tags/{tag}:refs/tags/{tag}"],
                               gitlab_depth("gitreg-deploy"))
    env = gitlab_env(site, checkout, runner, **tagged)
    log = run_gitlab("gitreg-deploy", checkout, env, runner)
    said = dict(line.split("=", 1)
                for line in (checkout / "gitreg-event.txt").read_text().splitlines())
    return log, checkout, said["event"]


# -- the tests ---------------------------------------------------------------------------------


def check_site(folder: Path, title: str) -> None:
    """The published site: its index names the title and what production holds now."""
    index = (folder / "index.html").read_text()
    assert f"· {title}</title>" in index
    assert '<a href="models/churn/1.1.0.html">1.1.0</a>' in index
    assert (folder / "models" / "churn" / "1.1.0.html").is_file()


def check_comment(comment: str) -> None:
    """The review comment: churn's production move with the metrics diff, nothing else."""
    assert comment.startswith("## gitreg: the stages this change moves\n")
    assert "**`churn` production**: `1.0.0` → `1.1.0`" in comment
    assert "### `churn`: 1.0.0 → 1.1.0" in comment
    assert METRICS_ROW in comment
    assert "staging" not in comment and "fraud" not in comment


def check_deployed(site: Path, checkout: Path) -> None:
    """The weights in model/ are churn 1.1.0's, byte for byte as the version file says."""
    record = Registry(site / "dev").record("churn", "1.1.0")
    (weights,) = (checkout / "model").iterdir()
    assert hashlib.md5(weights.read_bytes()).hexdigest() == record.artifact.md5


@pytest.mark.slow
@pytest.mark.parametrize(("system", "how", "proposed_by"), [
    ("github", "squash", "hand"), ("github", "rebase", "hand"), ("gitlab", "merge", "hand"),
    ("github", "merge", "workflow"),
])
def test_the_ci_examples_take_a_proposal_to_production(site: Path, runner: Runner, system: str,
                                                       how: str, proposed_by: str) -> None:
    if proposed_by == "workflow":
        propose_by_workflow(site, runner)
    else:
        propose(site)
    assert "churn/production/2" not in tags_on_origin(site)
    if system == "github":
        deploy, checkout, event = github_flow(site, how, runner)
        assert deploy.outputs["event"] | {"commit": "", "author": "", "date": ""} == {
            "model": "churn", "event": "promoted", "action": "promote", "stage": "production",
            "version": "1.1.0", "previous": "1.0.0", "tag": "churn/production/2", "reason": "",
            "commit": "", "author": "", "date": ""}
        assert "deploying churn 1.1.0 (was 1.0.0) from model/:" in deploy.log[-1]
    else:
        log, checkout, event = gitlab_flow(site, how, runner)
        assert "deploying churn 1.1.0 from model/:" in log
    assert event == "promoted"
    check_deployed(site, checkout)


def forged_tag(site: Path, merged: bool) -> str:
    """A production tag on a commit main never held: a hand edit on a branch, tagged, and
    the tag pushed; the branch never pushed, or (``merged``) put back and merged with a
    merge commit, so that the tagged commit is an ancestor of main but not main's own."""
    dev = site / "dev"
    git(dev, "checkout", "--quiet", "-b", "unreviewed")
    stages = dev / "models" / "churn" / "stages.yaml"
    text = stages.read_text()
    stages.write_text(text.replace("production: 1.0.0", "production: 1.1.0"))
    git(dev, "commit", "--quiet", "-am", "Ship 1.1.0")
    tag = "churn/production/2"
    git(dev, "tag", tag)
    git(dev, "push", "--quiet", "origin", f"refs/tags/{tag}")
    if merged:
        stages.write_text(text)
        git(dev, "commit", "--quiet", "-am", "Not yet")
    git(dev, "checkout", "--quiet", "main")
    if merged:
        git(dev, "merge", "--quiet", "--no-ff", "-m", "Merge unreviewed", "unreviewed")
        git(dev, "push", "--quiet", "origin", "main")
    return tag


@pytest.mark.slow
@pytest.mark.parametrize(("system", "merged"), [("github", False), ("gitlab", False),
                                                ("github", True)])
def test_the_deploy_job_refuses_a_tag_on_a_commit_main_never_held(
    site: Path, runner: Runner, system: str, merged: bool,
) -> None:
    """The deploy job runs for any matching tag, whoever pushed it. Its checkout is two
    commits deep, which cannot tell; the job fetches main's last commits first and refuses
    a tag main does not hold, and ci event one whose change the merge did not keep:
    nothing is deployed."""
    tag = forged_tag(site, merged)
    refused = ("without what it made of churn's production stage" if merged else
               "which main does not hold among its last 1000 commits")
    if system == "github":
        assert started_by("push", f"refs/tags/{tag}") == ["gitreg-deploy.yml"]
        _, _, depth = github_job("gitreg-deploy.yml")
        checkout = actions_checkout(site, "gh-deploy", f"refs/tags/{tag}", depth)
        env = github_env(site, checkout, runner, GITHUB_EVENT_NAME="push",
                         GITHUB_REF=f"refs/tags/{tag}", GITHUB_REF_NAME=tag,
                         GITHUB_REF_TYPE="tag")
        with pytest.raises(AssertionError, match=refused):
            run_github("gitreg-deploy.yml", checkout, env, github_context("tag"), runner)
    else:
        tagged = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": tag, "CI_COMMIT_REF_NAME": tag}
        assert gitlab_pipeline(tagged) == ["gitreg-deploy"]
        checkout = gitlab_checkout(site, "gl-deploy", [f"+refs/tags/{tag}:refs/tags/{tag}"],
                                   gitlab_depth("gitreg-deploy"))
        with pytest.raises(AssertionError, match=refused):
            run_gitlab("gitreg-deploy", checkout, gitlab_env(site, checkout, runner, **tagged),
                       runner)
    assert not (checkout / "model").exists()


def test_the_deploy_check_keeps_a_full_checkout_full(site: Path) -> None:
    """With fetch-depth: 0 (or GIT_DEPTH "0"), the check fetches main whole: a --depth fetch
    would make the clone shallow, and every history command stop (found in review)."""
    _, job, _ = github_job("gitreg-deploy.yml")
    (step,) = [s for s in job["steps"] if s.get("name") == "Check that the main branch holds "
               "the tag"]
    (_, jobs) = gitlab_jobs()
    gitlab = "\n".join(line for line in jobs["gitreg-deploy"]["script"]
                       if "MAIN_DEPTH" in line or "deepen" in line or "set-head" in line)
    for system, script in (("github", str(step["run"])), ("gitlab", gitlab)):
        checkout = site / f"full-{system}"
        git(site, "clone", "--quiet", url(site), str(checkout))
        git(checkout, "remote", "set-head", "origin", "-d")
        git(checkout, "checkout", "--quiet", "--detach", "churn/production/1")
        env = {**os.environ, "MAIN_DEPTH": "1", "GITHUB_REF_NAME": "churn/production/1",
               "CI_DEFAULT_BRANCH": "main", "CI_COMMIT_TAG": "churn/production/1"}
        bash(script, cwd=checkout, env=env, args=["-eo", "pipefail"])
        assert git(checkout, "rev-parse", "--is-shallow-repository").strip() == "false"
        assert git(checkout, "symbolic-ref", "refs/remotes/origin/HEAD").strip() == \
            "refs/remotes/origin/main"


def test_the_pre_commit_hook_runs_gitreg_check(site: Path, runner: Runner) -> None:
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    (hook,) = yaml.safe_load(text)
    assert (hook["id"], hook["language"], hook["pass_filenames"]) == (
        "gitreg-check", "python", False)
    # The example pins this release's tag.
    assert re.findall(r"rev: (\S+)", text) == [f"v{gitreg.__version__}"]
    dev, env = site / "dev", runner_env(runner, site / "tmp")
    # What pre-commit does for `language: python`: pip-install the hook's repository at
    # that rev (here: the wheel built from this checkout) into a venv, and run the entry.
    subprocess.run(["python", "-m", "pip", "install", "--quiet", runner.spec], env=env,
                   check=True)
    command = shlex.split(hook["entry"])
    ok = subprocess.run(command, cwd=dev, env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    stages = dev / "models" / "churn" / "stages.yaml"
    stages.write_text(stages.read_text().replace("production: 1.0.0", "production: 9.9.9"))
    bad = subprocess.run(command, cwd=dev, env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 10 and "models/churn/stages.yaml" in bad.stdout
    if "files" in hook:
        assert re.search(hook["files"], "models/churn/stages.yaml")
        assert re.search(hook["files"], "registry.yaml")


def test_the_review_comment_for_an_empty_stage_a_demotion_and_a_moved_base(site: Path) -> None:
    dev, other = site / "dev", site / "other"
    git(dev, "switch", "--quiet", "-c", "feature")
    Registry(dev).promote("churn", "1.1.0", "dev")  # dev was empty: the comment shows 1.1.0
    Registry(dev).demote("churn", "staging")  # staging loses 1.1.0
    git(site, "clone", "--quiet", url(site), str(other))
    Registry(other).promote("fraud", "1.0.0", "staging", push=True)  # main moves on meanwhile
    git(dev, "fetch", "--quiet", "origin")
    env = base_env(site / "tmp")
    comment = bash(f"bash {SCRIPT_IN_REGISTRY} origin/main", cwd=dev, env=env, args=[])
    assert "**`churn` dev**: _empty_ → `1.1.0`" in comment
    assert "dev was empty; the version it gets:\n\n```text\nchurn 1.1.0\n" in comment
    assert "**`churn` staging**: `1.1.0` → _empty_\n\nThis change takes `1.1.0` out of staging."\
        in comment
    assert "production" not in comment and "fraud" not in comment  # main's change, not this one
    assert bash(f"bash {SCRIPT_IN_REGISTRY} feature", cwd=dev, env=env, args=[]) == ""
    refused = subprocess.run(["bash", SCRIPT_IN_REGISTRY, "--output=/tmp/x"], cwd=dev, env=env,
                             capture_output=True, text=True, check=False)
    assert refused.returncode == 2 and "must not start with '-'" in refused.stderr


def test_the_install_step_installs_the_release_as_copied(runner: Runner, tmp_path: Path) -> None:
    """Every example installs PUBLISHED (this version's tag); run as copied, with the wheel
    in its place, the gitreg on PATH is the wheel's, from the runner's venv."""
    for name in workflows():
        (step,) = (s for s in github_job(name)[1]["steps"] if s.get("name") == "Install gitreg")
        assert PUBLISHED in step["run"], name
    (line,) = (line for line in gitlab_jobs()[1]["gitreg-tag"]["before_script"]
               if "pip install" in line)
    env = runner_env(runner, tmp_path / "tmp")
    bash(runner.install_step(line), cwd=tmp_path, env=env, args=["-eo", "pipefail"])
    said = bash("command -v gitreg; gitreg --version; "
                "python -c 'import gitreg, sys; print(gitreg.__file__)'",
                cwd=tmp_path, env=env, args=[]).splitlines()
    assert said[0] == str(runner.venv / "bin" / "gitreg")
    assert said[1] == f"gitreg {gitreg.__version__}"
    assert said[2].startswith(str(runner.venv)) and "site-packages" in said[2]
