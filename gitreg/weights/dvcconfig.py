"""Reads DVC's config (``.dvc/config`` then ``.dvc/config.local``) without importing DVC.

Read and get commands must start fast; importing ``dvc.repo`` costs ~0.3 s, and all they
need is where the cache and the default remote are.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from gitreg.errors import CorruptRegistry, NotFound
from gitreg.repo import yamlio

DVC_DIR = ".dvc"


CONFIG_FILES = ("config", "config.local")  # in the order DVC merges them; .local wins


def read(root: Path) -> dict[str, dict[str, str]]:
    """``{section: {key: value}}``; ``['remote "s3"']`` becomes section ``remote "s3"``.

    The committed file comes with a clone: what it sets is checked (``check_committed``)
    before anything here, or DVC's filesystems, reads it.
    """
    committed, local = read_file(root, "config"), read_file(root, "config.local")
    check_committed(root, committed, local)
    return merge(committed, local)


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
    """One of DVC's config files of the registry (``config`` or ``config.local``)."""
    sections: dict[str, dict[str, str]] = {}
    path = root / DVC_DIR / name
    if not path.is_file():
        return sections
    section: dict[str, str] | None = None
    source = f"{DVC_DIR}/{name}"
    # The committed config comes with a clone: no link out of it, no bytes that are not
    # UTF-8 (issue 6). config.local is this machine's own.
    data = yamlio.read_file(path, source, follow_links=name != "config")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptRegistry(f"{source}: not UTF-8 text; restore it (git checkout -- "
                              f"{source})") from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            title = " ".join(line[1:-1].strip().strip("'").split())
            section = sections.setdefault(title, {})
            continue
        key, sep, value = line.partition("=")
        if not sep or section is None:
            raise CorruptRegistry(f"{DVC_DIR}/{name}: line {number}: expected 'key = value'")
        value = value.strip()
        if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]  # ConfigObj quotes values holding a comma or a '#'
        section[key.strip()] = value
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
