"""DVC's config of a registry's remotes, written: add a remote, set its options.

Changes go through DVC's own config API (``dvc.config.Config.edit``), so the files are the
ones ``dvc remote add``/``dvc remote modify`` write. What every clone must agree on (url,
endpoint, port) goes to ``.dvc/config``, which is committed; credentials and what differs per
machine (a key file, an AWS profile, access keys, passwords) go to ``.dvc/config.local``,
which DVC's own ``.dvc/.gitignore`` keeps out of git. gitreg refuses to write them into the
committed file. Committing is the service's business (service/remotes.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gitreg.errors import CorruptRegistry, InvalidInput, NotFound
from gitreg.weights import dvcconfig

CONFIG = f"{dvcconfig.DVC_DIR}/config"
LOCAL_CONFIG = f"{dvcconfig.DVC_DIR}/config.local"

SECRETS = frozenset({
    "password", "passphrase", "access_key_id", "secret_access_key", "session_token",
    "sse_customer_key", "account_key", "connection_string", "sas_token", "client_secret",
    "gdrive_client_secret", "oss_key_id", "oss_key_secret", "token", "custom_auth_header",
})
# Not secret, but naming this machine's files or its own credential set.
PER_MACHINE = frozenset({
    "keyfile", "profile", "credentialpath", "configpath", "key_path", "cert_path",
    "gdrive_user_credentials_file", "gdrive_service_account_json_file_path",
})
LOCAL_ONLY = SECRETS | PER_MACHINE

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


@dataclass(frozen=True)
class RemoteEntry:
    """A remote as configured; ``local`` holds the options from ``.dvc/config.local``."""

    name: str
    url: str
    default: bool
    options: Mapping[str, str] = field(default_factory=dict)
    local: Mapping[str, str] = field(default_factory=dict)


def masked(key: str, value: str) -> str:
    return "****" if key in SECRETS else value


def list_remotes(root: Path) -> list[RemoteEntry]:
    """Every remote of the registry, secrets masked (no DVC import: a read command)."""
    committed = dvcconfig.read_file(root, "config")
    local = dvcconfig.read_file(root, "config.local")
    merged = dvcconfig.read(root)
    default = merged.get("core", {}).get("remote", "")
    entries = []
    for title in sorted(merged):
        name = remote_name(title)
        if name is None:
            continue
        options = {k: v for k, v in committed.get(title, {}).items() if k != "url"}
        here = {k: masked(k, v) for k, v in local.get(title, {}).items() if k != "url"}
        entries.append(RemoteEntry(name, merged[title].get("url", ""), name == default,
                                   options, here))
    return entries


def configure(root: Path, name: str, url: str, options: Mapping[str, str], *,
              default: bool, replace: bool = False) -> tuple[str, ...]:
    """Write a remote's url and options (no commit): shared options to ``.dvc/config``,
    credentials and per-machine ones to ``.dvc/config.local``. Returns the local keys."""
    check_remote_name(name)
    check_url(name, url)
    shared = {k: v for k, v in options.items() if k not in LOCAL_ONLY}
    here = {k: v for k, v in options.items() if k in LOCAL_ONLY}
    with edit(root, "repo") as conf:
        section = {"url": absolute_url(root, url), **shared}
        if replace or name not in conf["remote"]:
            conf["remote"][name] = section
        else:
            conf["remote"][name].update(section)
        if default:
            conf["core"]["remote"] = name
    if here:
        with edit(root, "local") as conf:
            conf["remote"][name] = {**conf["remote"].get(name, {}), **here}
    return tuple(sorted(here))


def check_remote_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput(f"invalid remote name {name!r}: use lowercase letters, digits, '-', "
                           "'_' and '.', starting with a letter or digit")
    return name


def remote_name(title: str) -> str | None:
    match = re.fullmatch(r'remote\s+"(.+)"', title)
    return match.group(1) if match else None


def require(root: Path, name: str) -> None:
    names = [r.name for r in list_remotes(root)]
    if name not in names:
        raise NotFound(f"no DVC remote {name!r} (remotes: {', '.join(names) or 'none'}); "
                       "add it with `gitreg remote add NAME URL`")


def check_url(name: str, url: str) -> None:
    if not url.strip():
        raise InvalidInput("the remote url is empty")
    if "://" in url and urlsplit(url).password:
        raise InvalidInput(
            "the url carries a password, which would be committed; give the url without it "
            f"and set it with `gitreg remote modify {name} password VALUE --local`"
        )


def absolute_url(root: Path, url: str) -> str:
    if dvcconfig.local_remote_path(root, url) is not None and not url.startswith("~"):
        # DVC's config API reads a relative path against the cwd: hand it an absolute one.
        return os.path.abspath(url.removeprefix("file://"))
    return url


@contextmanager
def edit(root: Path, level: str) -> Iterator[Any]:
    """DVC's ``Config.edit``: the file of ``level`` (``repo`` or ``local``), validated."""
    # Imported here only: read commands never pay for DVC.
    from dvc.config import Config, ConfigError

    dvcconfig.quiet_dvc()
    try:
        config = Config(dvc_dir=str(root / dvcconfig.DVC_DIR))
    except ConfigError as exc:
        raise CorruptRegistry(f"{CONFIG}: {exc}") from None
    try:
        with config.edit(level) as conf:
            yield conf
    except ConfigError as exc:
        # DVC validates the merged result before it writes: nothing was written.
        raise InvalidInput(f"DVC refused the remote setting: {exc}") from None
