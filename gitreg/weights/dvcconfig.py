"""Reads DVC's config (``.dvc/config`` then ``.dvc/config.local``) without importing DVC.

Read and get commands must start fast; importing ``dvc.repo`` costs ~0.3 s, and all they
need is where the cache and the default remote are.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from gitreg.errors import CorruptRegistry, NotFound
from gitreg.repo import paths, yamlio

DVC_DIR = ".dvc"


CONFIG_FILES = ("config", "config.local")  # in the order DVC merges them; .local wins


def read(root: Path) -> dict[str, dict[str, str]]:
    """``{section: {key: value}}``; ``['remote "s3"']`` becomes section ``remote "s3"``.

    The committed file comes with a clone: what it sets is checked (``check_committed``)
    before anything here, or DVC's filesystems, reads it. So does a ``config.local`` that
    git tracks (``git add -f`` gets it past DVC's ``.gitignore``): it came with the clone
    too, and is no setting of this machine's.
    """
    committed, local = read_file(root, "config"), read_file(root, "config.local")
    if local and local_is_committed(root):
        merged = merge(committed, local)
        try:
            check_committed(root, merged, {})
        except CorruptRegistry as exc:
            said = f"{exc.key}: {exc.problem}" if exc.problem else str(exc)
            raise CorruptRegistry.at(f"{DVC_DIR}/config.local", None, (
                f"this file is in git, so it came with the clone and is checked as "
                f"{DVC_DIR}/config is ({said}); if it is your own, take it out of git "
                f"(git rm --cached {DVC_DIR}/config.local)")) from None
    else:
        check_committed(root, committed, local)
        merged = merge(committed, local)
    _check_cache_untracked(root, cache_dir(root, merged))
    return merged


def _check_cache_untracked(root: Path, cache: Path) -> None:
    """Refuse a cache in the repository that holds anything git tracks: it came with the
    clone, and a link committed there (``files/md5/00`` pointing at any folder) makes DVC
    write the weights that ``pull``, ``get`` and ``register`` move, and ``gc`` delete, out
    of the repository. A cache of this machine's own is never in git (DVC's ``.gitignore``
    keeps it out)."""
    from gitreg.git.runner import Git

    base, path = root.resolve(), cache.resolve()
    if not path.is_relative_to(base):
        return  # outside: this machine's own setting (config.local), checked above
    rel = path.relative_to(base).as_posix()
    # What HEAD's tree holds there (the clone's checkout of it): ls-files would read the
    # whole index, 36 MB at 100,000 versions, for each weights command and check.
    tracked = Git(root).run("ls-tree", "-r", "-z", "--name-only", "HEAD", "--", rel,
                            check=False).split("\0")[0]
    if tracked:
        raise CorruptRegistry.at(tracked, None, (
            f"is in git, inside DVC's cache ({rel}): it came with the clone, and a link "
            "there would make DVC write weights out of the repository; take the cache out "
            f"of git (git rm -r --cached -- {rel}) and remove it"))


def local_is_committed(root: Path) -> bool:
    """Whether git tracks ``.dvc/config.local`` (in the index, as a clone's checkout puts
    it): a file that came with the clone, not this machine's own."""
    from gitreg.git.runner import Git

    proc = Git(root).attempt("ls-files", "--error-unmatch", "--",
                             f"{DVC_DIR}/config.local")
    return proc.returncode == 0


def merge(*levels: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The levels merged as DVC merges them: a later level's key wins."""
    sections: dict[str, dict[str, str]] = {}
    for level in levels:
        for title, values in level.items():
            sections.setdefault(title, {}).update(values)
    return sections


# What a committed .dvc/config may set (issue 13): what every clone must agree on and that
# names no command, no file of this machine and no credentials. DVC's remote plugins act on
# the rest: an S3 ``configpath`` whose profile has ``credential_process`` runs a program, a
# WebDAV ``bearer_token_command`` too, a ``[cache] dir`` outside the repository is written to.
# Those, if wanted, belong in .dvc/config.local, the user's DVC global or system config, the
# environment or the command line, which gitreg does not police.
SAFE_SECTIONS = {
    "core": frozenset({"remote", "autostage", "no_scm", "analytics", "check_update",
                       "interactive", "hardlink_lock", "checksum_jobs"}),
    "cache": frozenset({"dir", "type", "shared", "slow_link_warning"}),
    "feature": None, "plots": None, "parsing": None,  # read by no code gitreg runs
}
_REMOTE_COMMON = frozenset({"url", "jobs", "verify", "version_aware", "worktree"})
BOOLEAN_ONLY = frozenset({"ssl_verify"})  # else a path: a CA bundle of this machine
_SAFE_REMOTE = {
    "s3": {"region", "endpointurl", "listobjects", "use_ssl", "ssl_verify", "sse",
           "sse_kms_key_id", "acl", "grant_read", "grant_read_acp", "grant_write_acp",
           "grant_full_control", "allow_anonymous_login", "read_timeout", "connect_timeout",
           "cache_regions"},
    "gs": {"projectname", "endpointurl"},
    "azure": {"account_name", "allow_anonymous_login", "timeout", "read_timeout",
              "connection_timeout"},
    "ssh": {"host", "port", "user", "timeout", "allow_agent", "ask_password",
            "ask_passphrase", "gss_auth", "max_sessions"},
    "http": {"auth", "user", "method", "ssl_verify", "read_timeout", "connect_timeout",
             "ask_password"},
    "webdav": {"user", "timeout", "ssl_verify", "ask_password"},
    "oss": {"oss_endpoint"},
    "hdfs": {"user", "replication"},
    "webhdfs": {"user", "use_https", "ssl_verify", "replication"},
    "gdrive": {"gdrive_use_service_account", "gdrive_client_id",
               "gdrive_service_account_user_email", "gdrive_trash_only",
               "gdrive_acknowledge_abuse"},
}
_SCHEME_KIND = {"https": "http", "webdavs": "webdav", "az": "azure", "sftp": "ssh"}


def safe_remote_options(url: str) -> frozenset[str]:
    """The options of a remote with ``url`` that the committed config may set."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "local"
    kind = _SCHEME_KIND.get(scheme, scheme)
    return _REMOTE_COMMON | _SAFE_REMOTE.get(kind, set())


def check_committed(root: Path, committed: dict[str, dict[str, str]],
                    local: dict[str, dict[str, str]]) -> None:
    """Refuse what the committed config sets, unless config.local sets it instead."""
    source = f"{DVC_DIR}/config"
    merged = merge(committed, local)
    for title, values in committed.items():
        remote = re.fullmatch(r'remote\s+"(.+)"', title)
        if remote:
            allowed: frozenset[str] | None = safe_remote_options(merged[title].get("url", ""))
        elif title in SAFE_SECTIONS:
            allowed = SAFE_SECTIONS[title]
        else:
            raise CorruptRegistry.at(source, title, (
                "gitreg does not read this section from the committed config; remove it, "
                f"or keep it in {DVC_DIR}/config.local or your DVC global config"))
        for key, value in values.items():
            if key in local.get(title, {}):
                continue  # this machine's own setting wins over the clone's
            unsafe = allowed is not None and key not in allowed
            if key in BOOLEAN_ONLY and value.strip().lower() not in ("true", "false"):
                unsafe = True
            if title == "cache" and key == "dir" and not _inside(root, value):
                raise CorruptRegistry.at(source, "cache.dir", (
                    "the cache is outside the repository, and a clone must not make gitreg "
                    f"write there; set it in {DVC_DIR}/config.local "
                    "(dvc cache dir --local PATH) if you mean it"))
            if unsafe:
                name = remote.group(1) if remote else None
                how = (f"`gitreg remote modify {name} {key} VALUE --local`" if name
                       else f"{DVC_DIR}/config.local")
                raise CorruptRegistry.at(source, f"{title}.{key}", (
                    "not read from the committed config: it may name a command, a file or "
                    "credentials of this machine; if you trust it, set it in "
                    f"{DVC_DIR}/config.local ({how})"))
    if "dir" not in local.get("cache", {}) and not _inside(root, str(cache_dir(root, {}))):
        raise CorruptRegistry.at(f"{DVC_DIR}/cache", None, (
            "the cache is a link out of the repository; remove it, or set the cache in "
            f"{DVC_DIR}/config.local (dvc cache dir --local PATH)"))


def _inside(root: Path, configured: str) -> bool:
    if configured.startswith("~"):
        return False
    path = (root / DVC_DIR / configured).resolve()
    return path.is_relative_to(root.resolve())


def read_file(root: Path, name: str) -> dict[str, dict[str, str]]:
    """One of DVC's config files of the registry (``config`` or ``config.local``), read as
    DVC reads it (``dvc.config.Config.load_file``): by ConfigObj, with its multi-line
    values, comments and ``%(key)s`` interpolation, then keys and section titles in lower
    case. A parser of its own once filed a key under another section than DVC does (a
    ``'''`` value spanning a section header), and so let through an option that runs a
    command: what is checked must be what DVC will use."""
    path = root / DVC_DIR / name
    # The config comes with a clone: no link on the way or out of it (issue 6), no bytes
    # that are not UTF-8. (A config.local git does not track is this machine's own.)
    paths.check_real(root, f"{DVC_DIR}/{name}")
    if not path.is_file():
        return {}
    source = f"{DVC_DIR}/{name}"
    data = yamlio.read_file(path, source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptRegistry(f"{source}: not UTF-8 text; restore it (git checkout -- "
                              f"{source})") from None
    return _sections(text, source)


def _sections(text: str, source: str) -> dict[str, dict[str, str]]:
    from configobj import ConfigObj, ConfigObjError

    try:
        parsed = ConfigObj(io.StringIO(text)).dict()
    except (ConfigObjError, ValueError, SyntaxError) as exc:
        raise CorruptRegistry(f"{source}: DVC cannot read it ({exc}); fix it or restore it "
                              f"(git checkout -- {source})") from None
    sections: dict[str, dict[str, str]] = {}
    for title, values in parsed.items():
        if not isinstance(values, dict):
            raise CorruptRegistry.at(source, title, "a key outside any section; put it in one")
        kind = re.fullmatch(r'\s*(remote|machine|db)\s*"(.*)"\s*', title.lower())
        found: dict[str, str] = {}
        for key, value in values.items():
            if isinstance(value, dict):
                raise CorruptRegistry.at(source, f"{title}.{key}", "a section inside a "
                                         "section, which DVC does not read; remove it")
            # ConfigObj reads "a, b" as a list: kept as written, for the checks below.
            found[key.lower()] = ", ".join(value) if isinstance(value, list) else value
        # DVC lower-cases titles and keys after reading (dvc.config._lower_keys): a later
        # one that differs only in case replaces an earlier one, section or key, there too.
        sections[f'{kind[1]} "{kind[2]}"' if kind else title.lower()] = found
    return sections


@dataclass(frozen=True)
class Remote:
    name: str
    url: str
    local_path: Path | None  # set for a folder on this machine


def cache_dir(root: Path, config: dict[str, dict[str, str]] | None = None) -> Path:
    config = read(root) if config is None else config
    configured = config.get("cache", {}).get("dir")
    if not configured:
        return root / DVC_DIR / "cache"
    # DVC resolves a relative cache dir against the folder of the config file.
    return (root / DVC_DIR / os.path.expanduser(configured)).resolve()


def default_remote(root: Path, config: dict[str, dict[str, str]] | None = None) -> Remote:
    config = read(root) if config is None else config
    name = config.get("core", {}).get("remote")
    if not name:
        raise NotFound(
            "this registry has no default DVC remote for its weights; add one with "
            "`gitreg remote add NAME URL --default`"
        )
    section = config.get(f'remote "{name}"')
    if section is None or "url" not in section:
        raise CorruptRegistry(f'{DVC_DIR}/config: core.remote names {name!r}, which has no url')
    url = section["url"]
    return Remote(name, url, local_remote_path(root, url))


def local_remote_path(root: Path, url: str) -> Path | None:
    """The folder a local remote URL means, as DVC resolves it; ``None`` for other schemes."""
    if url.startswith("file://"):
        url = url[len("file://"):]
    elif "://" in url or (":" in url.split("/")[0] and not os.path.isabs(url)):
        return None  # s3://, ssh://, azure://, or scp-like user@host:path
    path = Path(os.path.expanduser(url))
    if not path.is_absolute():
        path = root / DVC_DIR / path
    return Path(os.path.abspath(path))


def quiet_dvc() -> None:
    # DVC logs progress to stdout through its "dvc" logger; the core never prints.
    import logging

    logging.getLogger("dvc").setLevel(logging.WARNING)
