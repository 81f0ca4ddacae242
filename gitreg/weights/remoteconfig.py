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
from urllib.parse import parse_qsl, urlsplit

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
    merged = dvcconfig.merge(committed, local)  # listed even if unsafe: nothing acts on it
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
    for key, value in shared.items():
        check_committed_option(name, url, key, value)
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


# Query parameters that carry credentials: tokens, pre-signed S3/GCS URLs, Azure SAS.
_SECRET_QUERY = re.compile(
    r"(.*(token|secret|password|passwd|credential|signature|apikey|api_key|auth).*"
    r"|sig|key|pwd|x-amz-.*|x-goog-.*|sv|se|sp)", re.IGNORECASE)
# Schemes whose userinfo is a login name, not a credential (ssh://git@host).
_USER_SCHEMES = frozenset({"ssh", "sftp", "hdfs", "webhdfs"})


def check_url(name: str, url: str, key: str = "url") -> None:
    """Refuse a ``url`` (or another option holding one) that would commit a credential:
    a password or token in its userinfo, or in its query. The message never repeats it."""
    if not url.strip():
        raise InvalidInput(f"the remote {key} is empty")
    if "://" not in url:
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parsing the port is what raises on a bad one)
    except ValueError as exc:
        raise InvalidInput(f"the remote {key} is not a valid URL: {exc}") from None
    how = (f"give the {key} without it and set the credential with `gitreg remote modify "
           f"{name} KEY VALUE --local` (kept in {LOCAL_CONFIG}, git-ignored)")
    if parts.password is not None or (
            parts.username is not None and parts.scheme.lower() not in _USER_SCHEMES):
        raise InvalidInput(f"the remote {key} carries credentials before its host, which "
                           f"would be committed to {CONFIG}; {how}")
    for param, _ in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_QUERY.fullmatch(param):
            raise InvalidInput(f"the remote {key} carries a credential in its query "
                               f"({param}=...), which would be committed to {CONFIG}; {how}")


def check_committed_option(name: str, url: str, key: str, value: str) -> None:
    """Refuse an option that ``.dvc/config`` must not hold (dvcconfig.check_committed would
    refuse it on every read), naming the ``--local`` way."""
    if key in LOCAL_ONLY or key not in dvcconfig.safe_remote_options(url) or (
            key in dvcconfig.BOOLEAN_ONLY and value.strip().lower() not in ("true", "false")):
        raise InvalidInput(
            f"{key} is a credential, a per-machine setting or an option that can name a "
            "command or a file, and must not be committed: add {local} to keep it in "
            f"{LOCAL_CONFIG} (git-ignored)", params=("local",))
    if key == "url" or "://" in value:
        check_url(name, value, key)


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
