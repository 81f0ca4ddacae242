"""The ``gitreg`` command line: options in, one service call, output rendered. Nothing else."""

# No `from __future__ import annotations` here (STYLE.md 13): typer reads these annotations
# at run time, and strings would be compiled again at every start, a seventh of the 0.2 s
# that `gitreg --help` may take (issue 5). Names imported only for typing are quoted.

import enum
import functools
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from gitreg.cli import reads, registration
from gitreg.cli.outcome import echo, funnel
from gitreg.cli.outcome import echo_text as _echo
from gitreg.cli.outcome import open_registry as _open
from gitreg.cli.params import Argument, Option
from gitreg.cli.progress import meter as _meter
from gitreg.cli.values import pairs as _pairs
from gitreg.core.names import ModelRef
from gitreg.core.newversion import Bump
from gitreg.errors import (
    EXIT_CODES,
    EXIT_VERIFY_FAILED,
    InvalidInput,
    printable,
)

if TYPE_CHECKING:
    from gitreg.core.release import Release
    from gitreg.service import remotes
    from gitreg.service.registry import Registry

# The modules behind the commands are imported by the commands that use them, so that
# `gitreg --help` and each read command load only what they need (issue 5).

app = typer.Typer(
    help="gitreg: a Git-native model registry. Metadata in YAML, weights in DVC, "
    "every registration and promotion a tagged commit.",
    no_args_is_help=True,
    # --install-completion / --show-completion: typer's completion for bash, zsh, fish and
    # PowerShell (issue 14). The shell calls `gitreg` with _GITREG_COMPLETE set; console.py
    # passes those calls through to typer.
    add_completion=True,
    # -h as well as --help, on every command (click hands the setting down to subcommands).
    context_settings={"help_option_names": ["-h", "--help"]},
    # Plain help and errors: typer's rich rendering costs ~0.15 s at every start, and
    # `gitreg --help` must stay under 0.2 s (issue 5). Tracebacks are our own (main()).
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    epilog="Exit codes: " + "; ".join(f"{c} {t}" for c, t in EXIT_CODES.items()),
)

# "NAME <str>  Model name." in an Arguments section: the type, and the spaces it took.
_PYTHON_TYPE = re.compile(r"^(\s*\S+) <[a-z][a-z_\[\], |]*>( *)", re.MULTILINE)


class Command(typer.core.TyperCommand):
    """typer's command, with usage lines that read like every other tool's (issue 14):
    ``gitreg which [OPTIONS] NAME STAGE``, where typer 0.29 writes required arguments as
    ``{NAME}``. It changes only the pieces click's public ``collect_usage_pieces`` returns."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece
                for piece in super().collect_usage_pieces(ctx)]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The help, less the Python type typer 0.29 writes after an argument's name in the
        Arguments section (``NAME <str>``): the text is what the formatter's public
        ``buffer`` holds."""
        super().format_help(ctx, formatter)
        formatter.buffer[:] = [_PYTHON_TYPE.sub(r"\1\2", piece) for piece in formatter.buffer]


def _show_version(value: bool) -> None:
    if value:
        import gitreg

        typer.echo(f"gitreg {gitreg.__version__}")
        raise typer.Exit()


@app.callback()
def _top(version: Annotated[bool, Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print gitreg's version and exit.")] = False) -> None:
    """The top level's own option, --version (the help is the Typer's above)."""


# Explicit metavars: typer 0.29 would show positional arguments as {name}.
NameArg = Annotated[str, Argument(metavar="NAME", help="Model name.")]
VersionArg = Annotated[str, Argument(metavar="VERSION", help="SemVer, e.g. 1.2.0.")]
StageArg = Annotated[str, Argument(metavar="STAGE", help="A stage from registry.yaml.")]
JsonOpt = Annotated[bool, Option("--json", help="Print JSON instead of a table.")]
PushOpt = Annotated[bool, Option(
    "--push", help="Also push the commit and tags to origin (atomically, retrying if it moved).")]
ProposeOpt = Annotated[bool, Option(
    "--propose", help="Commit on a new branch and push it for a pull request instead (no "
    "tag until it is merged and `gitreg ci tag` runs on the main branch).")]
SignOpt = Annotated[bool, Option(
    "--sign", help="Sign the commits and tags with git's signing set-up (gpg.format, "
    "user.signingkey; GPG or SSH keys), as `git commit -S` would. See `gitreg verify`.")]
QuietOpt = Annotated[bool, Option(
    "--quiet", "-q", help="No progress meter (shown only on a terminal, for large weights).")]
# typer needs Optional[...] rather than X | None on Python 3.10 for option types.
OptStr = Optional[str]  # noqa: UP045
OptPath = Optional[Path]  # noqa: UP045
OptInt = Optional[int]  # noqa: UP045
# DVC options of a remote, as `init` and `remote add` take them (see remotes.py for which
# ones stay in the git-ignored .dvc/config.local).
EndpointOpt = Annotated[OptStr, Option(
    "--endpoint-url", metavar="URL",
    help="S3-compatible endpoint, e.g. http://minio:9000 (committed).")]
ProfileOpt = Annotated[OptStr, Option(metavar="PROFILE",
    help="AWS profile for S3 (this machine only: .dvc/config.local).")]
KeyfileOpt = Annotated[OptStr, Option(metavar="FILE",
    help="SSH private key file (this machine only: .dvc/config.local).")]
UserOpt = Annotated[OptStr, Option(metavar="USER", help="SSH user name (committed).")]
PortOpt = Annotated[OptInt, Option(metavar="PORT", help="SSH port (committed).")]


def _remote_options(endpoint_url: str | None, profile: str | None, keyfile: str | None,
                    user: str | None, port: int | None) -> dict[str, str]:
    given = {"endpointurl": endpoint_url, "profile": profile, "keyfile": keyfile,
             "user": user, "port": None if port is None else str(port)}
    return {key: value for key, value in given.items() if value is not None}


@app.command(cls=Command)
def init(
    remote: Annotated[OptStr, Option(metavar="URL",
        help="DVC remote URL for the weights: a folder, s3://bucket/path, ssh://host/path "
        "(default: ~/.local/share/gitreg/storage).")] = None,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    keyfile: KeyfileOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
) -> None:
    """Make the current folder a registry (git init and DVC set-up when needed)."""
    options = _remote_options(endpoint_url, profile, keyfile, user, port)
    if options and remote is None:
        raise InvalidInput("remote options need --remote URL")
    from gitreg.service.registry import Registry

    registry = Registry.init(Path.cwd(), remote=remote, remote_options=options)
    _echo(f"Initialized gitreg registry in {registry.root}")


@app.command(cls=Command)
def register(
    name: NameArg,
    path: Annotated[Path, Argument(metavar="PATH", help="A file or folder of weights.")],
    version: Annotated[OptStr, Option(metavar="VERSION", help="SemVer, e.g. 1.2.0.")] = None,
    bump: Annotated[Optional[Bump], Option(help="Bump the latest version.")] = None,  # noqa: UP045
    metric: Annotated[list[str], Option(
        metavar="KEY=NUMBER", help="A metric, repeatable.")] = [],  # noqa: B006
    param: Annotated[list[str], Option(
        metavar="KEY=VALUE", help="A hyperparameter, repeatable.")] = [],  # noqa: B006
    feature: Annotated[list[str], Option(
        metavar="FEATURE", help="Input feature, repeatable.")] = [],  # noqa: B006
    type: Annotated[OptStr, Option(
        "--type", metavar="TYPE", help="Model type, e.g. RandomForest.")] = None,
    trained_at: Annotated[OptStr, Option(metavar="TIME", help="ISO 8601 time of training.")] = None,
    meta: Annotated[OptPath, Option(metavar="FILE", help="YAML file with more metadata.")] = None,
    stage: Annotated[OptStr, Option(metavar="STAGE", help="Also promote to this stage.")] = None,
    push: PushOpt = False,
    propose: ProposeOpt = False,
    quiet: QuietOpt = False,
    sign: SignOpt = False,
) -> None:
    """Register a new version of a model: version file, weights in DVC, tagged commit."""
    registration.register(
        name=name, path=path, version=version, bump=bump, metric=metric, param=param,
        feature=feature, type=type, trained_at=trained_at, meta=meta, stage=stage, push=push,
        propose=propose, quiet=quiet, sign=sign)


@app.command(cls=Command)
def promote(
    name: NameArg,
    version: VersionArg,
    stage: StageArg,
    force: Annotated[bool, Option(help="Override the stage's policy.")] = False,
    reason: Annotated[OptStr, Option(metavar="TEXT", help="Why (required with --force).")] = None,
    push: PushOpt = False,
    propose: ProposeOpt = False,
    sign: SignOpt = False,
) -> None:
    """Put VERSION in STAGE, replacing the version there if the stage is exclusive."""
    from gitreg.cli import render
    from gitreg.service import sharing

    registry = _open()
    if propose and not push:
        _echo(render.proposal(sharing.propose(registry, name, version, stage, force=force,
                                              reason=reason, sign=sign)))
        return
    event = registry.promote(name, version, stage, force=force, reason=reason, push=push,
                             sign=sign, propose=propose)  # both: refused as one line
    _echo(render.event_line(event))


@app.command(cls=Command)
def demote(
    name: NameArg,
    stage: StageArg,
    version: Annotated[OptStr, Option(
        metavar="VERSION", help="For a non-exclusive stage: which one.")] = None,
    push: PushOpt = False,
    propose: ProposeOpt = False,
    sign: SignOpt = False,
) -> None:
    """Take the version out of STAGE."""
    from gitreg.cli import render
    from gitreg.service import sharing

    registry = _open()
    if propose and not push:
        _echo(render.proposal(sharing.propose_demotion(registry, name, stage, version=version,
                                                       sign=sign)))
        return
    _echo(render.event_line(registry.demote(name, stage, version=version, push=push,
                                            sign=sign, propose=propose)))


@app.command(cls=Command)
def rollback(
    name: Annotated[OptStr, Argument(metavar="NAME", help="Model name.")] = None,
    stage: Annotated[OptStr, Argument(metavar="STAGE", help="A stage from registry.yaml.")
                     ] = None,
    to: Annotated[OptStr, Option(
        metavar="VERSION", help="Version to return to (default: previous).")] = None,
    release: Annotated[OptStr, Option(
        metavar="RELEASE", help="Instead: return every model of this release to what it "
        "held before it, in one commit.")] = None,
    push: PushOpt = False,
    propose: ProposeOpt = False,
    sign: SignOpt = False,
) -> None:
    """Return STAGE to the version it held before the current one (or, with --release,
    every model of a release to what it held before that release)."""
    from gitreg.cli import render
    from gitreg.service import sharing

    if release is not None:
        if name is not None or stage is not None or to is not None:
            raise InvalidInput("--release rolls back a whole release: give no NAME, STAGE "
                               "or --to with it")
        from gitreg.service import release as releases

        done = releases.rollback(_open(), release, push=push, propose=propose, sign=sign)
        _echo(render.release_line(done) + _proposed_on(done, propose))
        return
    if name is None or stage is None:
        raise InvalidInput("give NAME and STAGE (or --release RELEASE)")
    registry = _open()
    if propose and not push:
        _echo(render.proposal(sharing.propose_rollback(registry, name, stage, to=to, sign=sign)))
        return
    _echo(render.event_line(registry.rollback(name, stage, to=to, push=push, sign=sign,
                                              propose=propose)))


@app.command("release", cls=Command)
def release_(
    name: Annotated[str, Argument(metavar="NAME", help="The release's name.")],
    model: Annotated[list[str], Option(
        metavar="MODEL@VERSION",
        help="A model and its version (or MODEL@latest, MODEL#STAGE), repeatable.")
    ] = [],  # noqa: B006
    stage: Annotated[OptStr, Option(metavar="STAGE", help="The stage they all go to.")
                     ] = None,
    reason: Annotated[OptStr, Option(metavar="TEXT", help="Why, recorded in the release.")
                      ] = None,
    push: PushOpt = False,
    propose: ProposeOpt = False,
    sign: SignOpt = False,
    json: JsonOpt = False,
) -> None:
    """Put several models in STAGE together: one commit, one release tag
    (release/NAME/N) and each model's stage tag; every model's policy first, and one
    failure refuses it all."""
    from gitreg.cli import render
    from gitreg.service import release as releases

    if stage is None:
        raise InvalidInput("say which stage with --stage STAGE")
    done = releases.release(_open(), name, model, stage, reason=reason, push=push,
                            propose=propose, sign=sign)
    if json:  # a script that proposed it learns the branch to open the pull request from
        from gitreg.core.release import proposal_branch

        branch = proposal_branch(done) if propose else None
        _echo(render.to_json({**render.release_json(done), "proposed_branch": branch}))
    else:
        _echo(render.release_line(done) + _proposed_on(done, propose))


def _proposed_on(done: "Release", propose: bool) -> str:
    from gitreg.core.release import proposal_branch

    if not propose:
        return ""
    return (f"\nproposed on branch {proposal_branch(done)}: open a pull request; after the "
            "merge, `gitreg ci tag --push` tags it")


@app.command("push", cls=Command)
def push_(quiet: QuietOpt = False) -> None:
    """Push the branch, its gitreg tags (atomically) and any weights the remote lacks."""
    from gitreg.cli import render
    from gitreg.service import sharing

    with _meter("pushing weights", quiet) as meter:
        pushed = sharing.push(_open(), progress=meter)
    _echo(render.pushed(pushed))


@app.command(cls=Command)
def pull(quiet: QuietOpt = False) -> None:
    """Fast-forward from origin, fetch tags, and fetch the weights of versions in a stage."""
    from gitreg.cli import render
    from gitreg.service import sharing

    with _meter("fetching weights", quiet) as meter:
        pulled = sharing.pull(_open(), progress=meter)
    _echo(render.pulled(pulled))


@app.command("list", cls=Command)
def list_(
    name: Annotated[OptStr, Argument(metavar="NAME", help="Only this model.")] = None,
    stage: Annotated[OptStr, Option(metavar="STAGE", help="Only versions in this stage.")] = None,
    min_metric: Annotated[list[str], Option(
        metavar="KEY=NUMBER", help="A metric's floor, repeatable.")] = [],  # noqa: B006
    max_metric: Annotated[list[str], Option(
        metavar="KEY=NUMBER", help="A metric's ceiling, repeatable.")] = [],  # noqa: B006
    label: Annotated[list[str], Option(
        metavar="KEY=VALUE",
        help="A label the version must have (KEY alone: any value), repeatable.")
    ] = [],  # noqa: B006
    type: Annotated[OptStr, Option("--type", metavar="TYPE", help="Only this model type.")
                    ] = None,
    registered_after: Annotated[OptStr, Option(
        metavar="TIME", help="ISO 8601 date or time.")] = None,
    registered_before: Annotated[OptStr, Option(
        metavar="TIME", help="ISO 8601 date or time.")] = None,
    by: Annotated[OptStr, Option(
        metavar="PERSON", help="Registered by (part of name or email).")] = None,
    all: Annotated[bool, Option("--all", help="Include deprecated versions.")] = False,
    sort: Annotated[OptStr, Option(
        metavar="METRIC",
        help="Order by this metric, best first (lower first for loss-like metrics).")] = None,
    limit: Annotated[OptStr, Option(help="At most N versions.", metavar="N")] = None,
    json: JsonOpt = False,
) -> None:
    """List versions, with their stages and metrics (deprecated ones only with --all)."""
    reads.list_versions(
        name=name, stage=stage, min_metric=min_metric, max_metric=max_metric, label=label,
        type=type, registered_after=registered_after, registered_before=registered_before,
        by=by, all=all, sort=sort, limit=limit, json=json)


@app.command(cls=Command)
def show(
    ref: Annotated[str, Argument(metavar="NAME[@VERSION|@latest|#STAGE]")],
    release: Annotated[OptStr, Argument(
        metavar="[RELEASE]", help="After the word release: a release's name.")] = None,
    json: JsonOpt = False,
) -> None:
    """Show a model, a version (NAME@1.2.0, NAME@latest), what a stage holds
    (NAME#production), or a release (show release NAME)."""
    reads.show(ref=ref, release=release, json=json)


@app.command(cls=Command)
def which(
    name: Annotated[OptStr, Argument(metavar="NAME", help="Model name.")] = None,
    stage: Annotated[OptStr, Argument(metavar="STAGE", help="A stage from registry.yaml.")
                     ] = None,
    at: Annotated[OptStr, Option(metavar="TIME", help="A past date or time (ISO 8601).")] = None,
    rev: Annotated[OptStr, Option(metavar="REV", help="A git revision.")] = None,
    release: Annotated[OptStr, Option(
        metavar="RELEASE", help="Instead: what this release holds, and whether the stages "
        "still do.")] = None,
    json: JsonOpt = False,
) -> None:
    """Print the version in STAGE (now, at a date, or at a git revision), or a release's."""
    reads.which(name=name, stage=stage, at=at, rev=rev, release=release, json=json)


@app.command(cls=Command)
def history(
    name: Annotated[OptStr, Argument(metavar="NAME", help="Only this model.")] = None,
    stage: Annotated[OptStr, Option(metavar="STAGE", help="Only this stage.")] = None,
    json: JsonOpt = False,
) -> None:
    """Registrations and stage changes, oldest first, from git history."""
    from gitreg.cli import render
    from gitreg.service import release_history

    registry = _open()
    events = release_history.history(registry, registry.history_events(name, stage))
    if json:
        _echo(render.to_json(render.history_json(events)))
    else:
        _echo(render.history_table(events) or "no history yet")


@app.command(cls=Command)
def get(
    name: NameArg,
    version: Annotated[OptStr, Option(metavar="VERSION", help="This version.")] = None,
    stage: Annotated[OptStr, Option(metavar="STAGE", help="The version in this stage.")] = None,
    output: Annotated[OptStr, Option(
        "-o", "--output", metavar="PATH",
        help="Where to write; a PATH ending in / is a folder to write into.")
    ] = None,
    repo: Annotated[OptStr, Option(metavar="URL",
        help="A registry's git URL or path: get from it without a clone.")] = None,
    rev: Annotated[OptStr, Option(
        metavar="REV",
        help="With --repo: read this branch, tag or full commit id, not the default branch.")
    ] = None,
    force: Annotated[bool, Option(
        "--force", help="Overwrite an existing file (or non-empty folder) at -o PATH.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a version's weights, checked against their md5, to -o PATH."""
    registration.get(name=name, version=version, stage=stage, output=output, repo=repo,
                     rev=rev, force=force, quiet=quiet)


@app.command(cls=Command)
def demo(
    folder: Annotated[OptPath, Argument(
        metavar="FOLDER", help="Where (default: a new temp folder).")] = None,
) -> None:
    """Run the whole lifecycle on a local registry, printing each step."""
    from gitreg.cli.demo import run

    run(folder, echo=typer.echo)


@app.command(cls=Command)
def site(
    output: Annotated[OptPath, Option(
        "-o", "--output", metavar="DIR",
        help="Where to write the site (default: site/ at the registry's top, git-ignored).")
    ] = None,
    rev: Annotated[OptStr, Option(
        metavar="REV", help="Build from this git revision (default: the work tree).")] = None,
    title: Annotated[OptStr, Option(metavar="TEXT", help="The site's title.")] = None,
    serve: Annotated[bool, Option("--serve", help="Then serve it on 127.0.0.1 (Ctrl-C stops).")
                     ] = False,
    port: Annotated[int, Option(
        metavar="PORT", help="The port of --serve (0: any free one).")] = 8000,
    json: JsonOpt = False,
) -> None:
    """Build a static web view of the registry: models, stage timelines, metric trends,
    versions and the audit trail. Offline: nothing is fetched from elsewhere."""
    from gitreg.cli import serve as serving
    from gitreg.service import website

    registry = _open()
    # The registry's site/ (git-ignored by init) wherever in it the command runs, as git's
    # commands do; not a site/ inside models/ that `check` then reports as uncommitted.
    output = registry.root / "site" if output is None else output
    server = serving.listen(port, output.absolute()) if serve else None
    try:
        built = website.build_registry_site(registry, output, rev=rev, title=title)
    except BaseException:
        if server is not None:
            server.server_close()
        raise
    if json:
        from gitreg.cli import render

        _echo(render.to_json({"index": str(built.index), "pages": built.pages,
                              "largest": {"page": built.largest[0], "bytes": built.largest[1]}}))
    else:
        _echo(f"site: {built.pages} pages, largest {built.largest[0]} "
              f"({built.largest[1] // 1024} KB)\n{built.index}")
    if server is not None:  # with --json, stdout stays the JSON alone
        serving.serve(server, echo=functools.partial(typer.echo, err=json))


remote_app = typer.Typer(
    help="The DVC remotes that hold the weights: add one, choose the default, set options. "
    "Credentials and per-machine options go to .dvc/config.local (git-ignored).",
    no_args_is_help=True,
)
app.add_typer(remote_app, name="remote")


@remote_app.command("add", cls=Command)
def remote_add(
    name: Annotated[str, Argument(metavar="NAME", help="Remote name, e.g. storage.")],
    url: Annotated[str, Argument(
        metavar="URL", help="A folder, s3://bucket/path, ssh://[user@]host[:port]/path, ...")],
    default: Annotated[bool, Option(
        "--default", help="Make it the remote that weights go to.")] = False,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    keyfile: KeyfileOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
    force: Annotated[bool, Option("--force", help="Replace a remote of that name.")] = False,
) -> None:
    """Add a DVC remote (commits .dvc/config)."""
    from gitreg.service import remotes

    change = remotes.add(_open(), name, url, default=default, force=force,
                         options=_remote_options(endpoint_url, profile, keyfile, user, port))
    _echo(_remote_change_text(f"remote {name} added", change))


@remote_app.command("list", cls=Command)
def remote_list(json: JsonOpt = False) -> None:
    """List the DVC remotes, their options (secrets masked) and which one is the default."""
    from gitreg.cli import render
    from gitreg.service import remotes

    entries = remotes.list_remotes(_open().root)
    if json:
        _echo(render.to_json([{"name": e.name, "url": e.url, "default": e.default,
                               "options": dict(e.options), "local": dict(e.local)}
                              for e in entries]))
        return
    if not entries:
        _echo("no remotes; add one with `gitreg remote add NAME URL --default`")
        return
    safe = render.terminal  # each field: the tabs between them are gitreg's own
    lines = []
    for e in entries:
        lines.append("\t".join(safe(field) for field in (
            e.name, e.url, *(["(default)"] if e.default else []))))
        lines += [safe(f"    {k} = {v}") for k, v in e.options.items()]
        lines += [safe(f"    {k} = {v}  (.dvc/config.local)") for k, v in e.local.items()]
    echo("\n".join(lines))


@remote_app.command("default", cls=Command)
def remote_default(
    name: Annotated[str, Argument(metavar="NAME", help="A configured remote.")],
) -> None:
    """Make NAME the remote that weights go to (commits .dvc/config)."""
    from gitreg.service import remotes

    _echo(_remote_change_text(f"remote {name} is the default",
                               remotes.set_default(_open(), name)))


@remote_app.command("modify", cls=Command)
def remote_modify(
    name: Annotated[str, Argument(metavar="NAME", help="A configured remote.")],
    key: Annotated[str, Argument(
        metavar="KEY", help="A DVC remote option: endpointurl, port, user, profile, ...")],
    value: Annotated[str, Argument(metavar="VALUE")],
    local: Annotated[bool, Option(
        "--local", help="This machine only: .dvc/config.local (credentials must).")] = False,
) -> None:
    """Set an option of a remote: committed in .dvc/config, or with --local not committed."""
    from gitreg.service import remotes

    change = remotes.modify(_open(), name, key, value, local=local)
    _echo(_remote_change_text(f"remote {name}: {key} set", change))


def _remote_change_text(what: str, change: "remotes.RemoteChange") -> str:
    parts = [what]
    if change.commit:
        parts.append(f"committed .dvc/config as {change.commit[:7]}")
    if change.local_keys:
        parts.append(f"{', '.join(change.local_keys)} kept in .dvc/config.local (not committed)")
    if len(parts) == 1:
        parts.append("nothing changed")
    return "; ".join(parts)


ci_app = typer.Typer(
    help="For CI pipelines: what a pushed tag means, and tags for merged pull requests.",
    no_args_is_help=True,
)
app.add_typer(ci_app, name="ci")


class EventFormat(str, enum.Enum):
    JSON = "json"
    GITHUB = "github"


@ci_app.command("event", cls=Command)
def ci_event(
    ref: Annotated[str, Argument(
        metavar="TAG",
        help="A gitreg tag: churn/production/3, refs/tags/churn/production/3, churn@v1.2.0.")],
    format: Annotated[EventFormat, Option(
        help="json, or github: key=value lines for $GITHUB_OUTPUT.")] = EventFormat.JSON,
) -> None:
    """Print what a gitreg tag means: model, event, stage, version, previous, commit, author.

    Lightweight tags work too. A ref that is not a gitreg tag exits 11 (not a gitreg event).
    """
    from gitreg.cli import render
    from gitreg.core.release import parse_release_tag
    from gitreg.service import ci

    if parse_release_tag(ref) is not None:  # release/NAME/N (issue 18)
        from gitreg.service import release_review

        made = release_review.event(_open(), ref)
        _echo(render.to_json(render.release_json(made)) if format is EventFormat.JSON
              else render.github_output(render.release_outputs(made)))
        return
    data = render.ci_event_json(ci.event(_open(), ref))
    _echo(render.to_json(data) if format is EventFormat.JSON else render.github_output(data))


@ci_app.command("tag", cls=Command)
def ci_tag(
    push: Annotated[bool, Option(help="Push the new tags to origin, atomically.")] = False,
    sign: Annotated[bool, Option(
        "--sign", help="Sign the tags (git tag --sign) with CI's own key.")] = False,
) -> None:
    """Tag the registrations and stage changes that reached this branch without a tag; with
    --push, push them and any gitreg tag of this branch that origin lacks."""
    from gitreg.service import ci

    registry = _open()
    tags = ci.tag(registry, push=push, sign=sign)
    _echo("\n".join(tags) if tags else "nothing to tag or push" if push else "nothing to tag")
    skipped = ci.untaggable(registry)
    if skipped:
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        echo(f"gitreg: warning: not tagged: {printable(skipped[0])}{more}, in this branch's "
             "history with a model name or version gitreg refuses; `gitreg check` reports "
             "those still in the work tree, but for folders whose names start with '.', "
             "which gitreg never reads", err=True)


import_app = typer.Typer(
    help="Bring a registry over from GTO or MLflow, with its history.", no_args_is_help=True)
app.add_typer(import_app, name="import")
StageMapOpt = Annotated[list[str], Option(
    "--stage-map", metavar="THEIRS=OURS",
    help="Which stage of this registry a stage or alias of the other registry becomes, "
    "repeatable.")]


def _stage_map(registry: "Registry", pairs: list[str]) -> dict[str, str]:
    from gitreg.service import importers

    return importers.parse_stage_map(_pairs(pairs, "--stage-map", lambda _, v: v),
                                     registry.config.stages)


@import_app.command("gto", cls=Command)
def import_gto(
    source: Annotated[str, Argument(metavar="PATH_OR_URL", help="A GTO registry's git repo.")],
    stage_map: StageMapOpt = [],  # noqa: B006
    push: PushOpt = False,
) -> None:
    """Replay a GTO registry: registrations, stage assignments, deprecations; authors, dates."""
    from gitreg.cli import render
    from gitreg.service.importers import gto

    registry = _open()
    report = gto.import_gto(registry, source, stage_map=_stage_map(registry, stage_map),
                            push=push)
    _echo(render.import_report(report))


@import_app.command("mlflow", cls=Command)
def import_mlflow(
    tracking_uri: Annotated[str, Option(
        metavar="URI",
        help="MLflow's tracking/registry URI: http://host:5000, sqlite:///mlflow.db, ...")],
    model: Annotated[list[str], Option(
        metavar="NAME", help="Only this MLflow model, repeatable.")] = [],  # noqa: B006
    stage_map: StageMapOpt = [],  # noqa: B006
    push: PushOpt = False,
) -> None:
    """Import MLflow's registered models: versions in creation order, aliases as stages."""
    from gitreg.cli import render
    from gitreg.service.importers import mlflow

    registry = _open()
    report = mlflow.import_mlflow(registry, tracking_uri, models=model, push=push,
                                  stage_map=_stage_map(registry, stage_map))
    _echo(render.import_report(report))


export_app = typer.Typer(help="Write a version out for other tools.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("model-card", cls=Command)
def export_model_card(
    ref: Annotated[str, Argument(
        metavar="NAME@VERSION", help="The version, e.g. churn@1.2.0.")],
    output: Annotated[OptStr, Option(
        "--output", "-o", metavar="FILE",
        help="Write the card to this file, or to README.md in this folder (FOLDER/: made "
        "if missing; default: print it).")] = None,
    force: Annotated[bool, Option(
        "--force", help="Replace the file at -o FILE if there is one.")] = False,
) -> None:
    """A version as a Hugging Face model card: metrics, lineage, labels, description."""
    from gitreg.service import modelcard

    target = ModelRef.parse(ref, latest=True)
    if target.version is None:
        raise InvalidInput(f"{ref!r} names no version; give NAME@VERSION, e.g. churn@1.2.0")
    registry = _open()
    version = registry.resolve_version(target.name, target.version)
    text = modelcard.model_card(registry, target.name, version)
    if output is None:
        _echo(text)  # control characters were dropped (core/modelcard.py)
        return
    # `-o card/` means the folder card, as with `get -o`: Path() would drop the slash.
    written = modelcard.write_card(Path(output), text, force=force,
                                   folder=output.endswith(("/", os.sep)))
    _echo(f"model card of {target.name} {version} written to {written}")


class DiffFormat(str, enum.Enum):
    TABLE = "table"
    MARKDOWN = "markdown"
    JSON = "json"


@app.command("diff", cls=Command)
def diff_(
    name: Annotated[OptStr, Argument(
        metavar="NAME", help="Model name (with --release: a release number N).")] = None,
    a: Annotated[OptStr, Argument(
        metavar="A", help="A version (1.2.0) or a stage (production); with --release: a "
        "release number M, compared with N.")] = None,
    b: Annotated[OptStr, Argument(
        metavar="B", help="A version or a stage, compared with A.")] = None,
    format: Annotated[DiffFormat, Option(
        help="table, markdown (a pull-request comment) or json.")] = DiffFormat.TABLE,
    release: Annotated[OptStr, Option(
        metavar="RELEASE", help="Instead: each model of this release (its latest, or number "
        "N) against what it replaced, or release M against release N.")] = None,
) -> None:
    """Compare two versions: metrics with deltas, hyperparameters, features, lineage, weights."""
    from gitreg.cli import render
    from gitreg.service import compare

    if release is not None:
        if b is not None:
            raise InvalidInput("--release compares a release with what it replaced, or two "
                               "of its numbers: give at most N and M")
        from gitreg.service import release_review

        n, m = (_release_number(text) if text is not None else None for text in (name, a))
        found = release_review.diff(_open(), release, n, m)
        _echo(render.release_diff(found, format.value))
        return
    if name is None or a is None or b is None:
        raise InvalidInput("give NAME, A and B (or --release RELEASE [N [M]])")
    result = compare.compare(_open(), name, a, b)
    if format is DiffFormat.JSON:
        _echo(render.to_json(render.diff_json(result)))
    else:
        _echo(render.diff_markdown(result) if format is DiffFormat.MARKDOWN
              else render.diff_table(result))


def _release_number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or text.startswith("0"):
        raise InvalidInput(f"{text!r} is not a release number (1, 2, ...)")
    return int(text)


@app.command(cls=Command)
def deprecate(
    ref: Annotated[str, Argument(metavar="NAME[@VERSION]", help="A version, or a whole model.")],
    reason: Annotated[OptStr, Option(
        metavar="TEXT", help="Why (required; recorded in the registry).")] = None,
    demote: Annotated[bool, Option(
        "--demote", help="Also empty the stages that hold it, in the same commit.")] = False,
    push: PushOpt = False,
    sign: SignOpt = False,
    propose: ProposeOpt = False,
) -> None:
    """Retire a version (or every version of a model): it cannot be promoted, is not latest,
    and `list` hides it unless --all. A tagged commit; `gitreg restore` undoes it."""
    from gitreg.cli import render
    from gitreg.service import lifecycle

    target = ModelRef.parse(ref, latest=True)
    if target.stage is not None:  # not "the whole model", which NAME alone means
        raise InvalidInput(f"deprecate takes NAME or NAME@VERSION, not a stage ({ref!r}); "
                           f"see which version it holds with `gitreg which {target.name} "
                           f"{target.stage}`")
    _echo(render.lifecycle_result(lifecycle.deprecate(
        _open(), target.name, target.version, reason=reason or "", demote=demote, push=push,
        sign=sign, propose=propose)))


@app.command(cls=Command)
def restore(
    ref: Annotated[str, Argument(metavar="NAME@VERSION")],
    push: PushOpt = False,
    sign: SignOpt = False,
    propose: ProposeOpt = False,
) -> None:
    """Undo a deprecation: the version can be promoted again and counts for latest."""
    from gitreg.cli import render
    from gitreg.service import lifecycle

    target = ModelRef.parse(ref)
    if target.version is None:
        raise InvalidInput(f"restore takes NAME@VERSION, not {ref!r}")
    _echo(render.lifecycle_result(lifecycle.restore(
        _open(), target.name, target.version, push=push, sign=sign, propose=propose)))


@app.command(cls=Command)
def annotate(
    ref: Annotated[str, Argument(metavar="NAME@VERSION")],
    description: Annotated[OptStr, Option(
        metavar="TEXT", help="New description ('' removes it).")] = None,
    label: Annotated[list[str], Option(
        metavar="KEY=VALUE", help="Add a label (replacing that KEY's), repeatable.")
    ] = [],  # noqa: B006
    remove_label: Annotated[list[str], Option(
        metavar="KEY", help="Remove the label KEY, repeatable.")] = [],  # noqa: B006
    push: PushOpt = False,
    sign: SignOpt = False,
    propose: ProposeOpt = False,
) -> None:
    """Change a version's description and labels (the only fields that may change); a commit
    that `history` shows."""
    from gitreg.cli import render
    from gitreg.service import lifecycle

    target = ModelRef.parse(ref, latest=True)
    if target.version is None:
        raise InvalidInput(f"annotate takes NAME@VERSION, not {ref!r}")
    _echo(render.lifecycle_result(lifecycle.annotate(
        _open(), target.name, target.version, description=description, labels=label,
        remove_labels=remove_label, push=push, sign=sign, propose=propose)))


@app.command("gc", cls=Command)
def gc_(
    keep_days: Annotated[OptInt, Option(
        help="Keep what any stage held in the last N days (default: gc.keep_days in "
        "registry.yaml, else 30).", metavar="N")] = None,
    yes: Annotated[bool, Option("--yes", help="Delete (without it: a dry run).")] = False,
    json: JsonOpt = False,
) -> None:
    """Free the weights of deprecated versions that nothing needs any more, in the local
    DVC cache and on the remote. A dry run unless --yes: it lists each object, why nothing
    needs it, and the total; then each deprecated version it keeps, and what needs it."""
    from gitreg.cli import render
    from gitreg.service import gc

    result = gc.collect(_open(), keep_days=keep_days, delete=yes)
    _echo(render.to_json(render.gc_json(result)) if json else render.gc_text(result))


@app.command("check", cls=Command)
def check_(
    base: Annotated[OptStr, Option(
        metavar="REF",
        help="Only what the work tree changes since its merge base with REF (a pull "
        "request's target, e.g. origin/main): the same verdict when REF passes check.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Validate the registry as the work tree holds it: files, stages, weights pointers,
    dependencies and promotion policies. Exits 10 with one line per problem."""
    reads.check(base=base, json=json)


@app.command("verify", cls=Command)
def verify_(
    ref: Annotated[OptStr, Argument(
        metavar="NAME[@VERSION|#STAGE]",
        help="A model, a version (NAME@1.2.0) or a stage (NAME#production); default: every "
        "version in a stage.")] = None,
    offline: Annotated[bool, Option(
        "--offline", help="Do not fetch missing weights from the DVC remote (they fail).")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Check the signatures of the commits and tags that put a version where it is (its
    registration, and the promotion or rollback that put it in a stage) and that its weights
    still match the md5 registered. A good signature needs a trusted key in git's config:
    gpg.ssh.allowedSignersFile for SSH keys, the GPG keyring for GPG. Exits 12 if anything
    is unsigned, badly signed, by an unknown key, or corrupt."""
    from gitreg.cli import render
    from gitreg.service import verify

    result = verify.verify(_open(), ref, fetch=not offline)
    _echo(render.to_json(render.verify_json(result)) if json else render.verify_text(result))
    if not result.ok:
        failed = sum(not t.ok for t in result.targets)
        typer.echo(f"gitreg: verify: {failed} of {len(result.targets)} failed", err=True)
        raise typer.Exit(EXIT_VERIFY_FAILED)


# The calls fastlane.py reads without typer, whose per-command cost (pydantic) would take
# half the time `which` may take (issue 5) and ~30% of a register's CPU (issue 19): every
# command, since each one's parameters are of the kinds the lane converts (test_argv.py
# holds that); whatever the lane does not read (--help, a mistake) goes to typer.
_FAST: dict[tuple[str, ...], Callable[..., None]] = {
    ("which",): which, ("show",): show, ("history",): history, ("list",): list_,
    ("ci", "event"): ci_event, ("promote",): promote, ("demote",): demote,
    ("rollback",): rollback, ("deprecate",): deprecate, ("restore",): restore,
    ("annotate",): annotate, ("gc",): gc_,
    ("init",): init, ("register",): register, ("push",): push_, ("pull",): pull,
    ("get",): get, ("demo",): demo, ("site",): site, ("diff",): diff_, ("check",): check_,
    ("verify",): verify_, ("remote", "add"): remote_add, ("remote", "list"): remote_list,
    ("remote", "default"): remote_default, ("remote", "modify"): remote_modify,
    ("ci", "tag"): ci_tag, ("import", "gto"): import_gto, ("import", "mlflow"): import_mlflow,
    ("export", "model-card"): export_model_card,
}


def _fast_call(args: list[str]) -> Callable[[], None] | None:
    for words, command in _FAST.items():
        if tuple(args[:len(words)]) == words:
            from gitreg.cli import fastlane as fast_lane

            values = fast_lane.parse(command, args[len(words):])
            return None if values is None else functools.partial(command, **values)
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point: one funnel turning every outcome into a documented exit code.

    typer runs in its standalone mode (usage errors: message and exit 2; ``--help``: 0),
    through its public API only: typer 0.29 vendors its own click, so click's exception
    classes are not the ones raised (STYLE.md 14). Everyday calls skip typer (``_FAST``).
    """
    return funnel(functools.partial(_typer_or_fast, argv))


def _typer_or_fast(argv: list[str] | None) -> int:
    try:
        fast = _fast_call(sys.argv[1:] if argv is None else list(argv))
        if fast is None:
            app(args=argv, prog_name="gitreg")
        else:
            fast()
    except typer.Exit as exc:  # what typer's standalone mode does for a fast call
        return exc.exit_code
    return 0


def run() -> None:
    sys.exit(main())
