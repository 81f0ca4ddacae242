"""The DVC remotes of a registry: add one, choose the default, set its options.

Changes go through DVC's own config API (``dvc.config.Config.edit``), so the files are
the ones ``dvc remote add``/``dvc remote modify`` write. What every clone must agree on
(url, endpoint, port) goes to ``.dvc/config`` and is committed, one commit per change and
no tag. Credentials and what differs per machine (a key file, an AWS profile, access keys,
passwords) go to ``.dvc/config.local``, which DVC's own ``.dvc/.gitignore`` keeps out of
git; gitreg refuses to write them into the committed file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import dvcconfig
from .errors import Conflict, CorruptRegistry, InvalidInput, NotFound
from .git import identity_env

if TYPE_CHECKING:
    from .registry import Registry

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


@dataclass(frozen=True)
class RemoteChange:
    """What a command changed: the commit of ``.dvc/config`` (if it changed) and the
    options written to ``.dvc/config.local``."""

    name: str
    commit: str | None
    local_keys: tuple[str, ...] = ()


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
        name = _remote_name(title)
        if name is None:
            continue
        options = {k: v for k, v in committed.get(title, {}).items() if k != "url"}
        here = {k: masked(k, v) for k, v in local.get(title, {}).items() if k != "url"}
        entries.append(RemoteEntry(name, merged[title].get("url", ""), name == default,
                                   options, here))
    return entries


def add(registry: Registry, name: str, url: str, *, options: Mapping[str, str] | None = None,
        default: bool = False, force: bool = False) -> RemoteChange:
    """Add a remote (replace it with ``force``); commit ``.dvc/config``."""
    check_remote_name(name)
    exists = any(r.name == name for r in list_remotes(registry.root))
    if exists and not force:
        raise Conflict(f"DVC remote {name!r} exists; change it with `gitreg remote modify`, "
                       "or replace it with --force")
    with _change(registry, f"Add DVC remote {name}\n") as change:
        change.local_keys = configure(registry.root, name, url, options or {}, default=default,
                                      replace=True)
    return change.result(name)


def set_default(registry: Registry, name: str) -> RemoteChange:
    """Make ``name`` the remote that weights go to; commit ``.dvc/config``."""
    _require(registry.root, name)
    with _change(registry, f"Use DVC remote {name} for weights\n") as change, \
            _edit(registry.root, "repo") as conf:
        conf["core"]["remote"] = name
    return change.result(name)


def modify(registry: Registry, name: str, key: str, value: str, *,
           local: bool = False) -> RemoteChange:
    """Set one option of a remote, in ``.dvc/config`` (committed) or, with ``local``,
    in ``.dvc/config.local`` (this machine only)."""
    _require(registry.root, name)
    key = key.strip().lower()
    if key in ("url", "name"):
        if key == "url":
            _check_url(name, value)
        else:
            raise InvalidInput("to rename a remote, add it under the new name")
    if key in LOCAL_ONLY and not local:
        raise InvalidInput(
            f"{key} is a credential or a per-machine setting and must not be committed: add "
            f"--local to keep it in {LOCAL_CONFIG} (git-ignored)"
        )
    if local:
        # Not committed, so no transaction: .dvc/config.local is this machine's alone.
        with _edit(registry.root, "local") as conf:
            conf["remote"].setdefault(name, {})[key] = _url(registry.root, value) \
                if key == "url" else value
        return RemoteChange(name, None, (key,))
    with _change(registry, f"Set {key} of DVC remote {name}\n") as change, \
            _edit(registry.root, "repo") as conf:
        conf["remote"].setdefault(name, {})[key] = _url(registry.root, value) \
            if key == "url" else value
    return change.result(name)


def configure(root: Path, name: str, url: str, options: Mapping[str, str], *,
              default: bool, replace: bool = False) -> tuple[str, ...]:
    """Write a remote's url and options (no commit): shared options to ``.dvc/config``,
    credentials and per-machine ones to ``.dvc/config.local``. Returns the local keys."""
    check_remote_name(name)
    _check_url(name, url)
    shared = {k: v for k, v in options.items() if k not in LOCAL_ONLY}
    here = {k: v for k, v in options.items() if k in LOCAL_ONLY}
    with _edit(root, "repo") as conf:
        section = {"url": _url(root, url), **shared}
        if replace or name not in conf["remote"]:
            conf["remote"][name] = section
        else:
            conf["remote"][name].update(section)
        if default:
            conf["core"]["remote"] = name
    if here:
        with _edit(root, "local") as conf:
            conf["remote"][name] = {**conf["remote"].get(name, {}), **here}
    return tuple(sorted(here))


def check_remote_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput(f"invalid remote name {name!r}: use lowercase letters, digits, '-', "
                           "'_' and '.', starting with a letter or digit")
    return name


# -- helpers ------------------------------------------------------------------------------


def _remote_name(title: str) -> str | None:
    match = re.fullmatch(r'remote\s+"(.+)"', title)
    return match.group(1) if match else None


def _require(root: Path, name: str) -> None:
    names = [r.name for r in list_remotes(root)]
    if name not in names:
        raise NotFound(f"no DVC remote {name!r} (remotes: {', '.join(names) or 'none'}); "
                       "add it with `gitreg remote add NAME URL`")


def _check_url(name: str, url: str) -> None:
    if not url.strip():
        raise InvalidInput("the remote url is empty")
    if "://" in url and urlsplit(url).password:
        raise InvalidInput(
            "the url carries a password, which would be committed; give the url without it "
            f"and set it with `gitreg remote modify {name} password VALUE --local`"
        )


def _url(root: Path, url: str) -> str:
    if dvcconfig.local_remote_path(root, url) is not None and not url.startswith("~"):
        # DVC's config API reads a relative path against the cwd: hand it an absolute one.
        return os.path.abspath(url.removeprefix("file://"))
    return url


@contextmanager
def _edit(root: Path, level: str) -> Iterator[Any]:
    """DVC's ``Config.edit``: the file of ``level`` (``repo`` or ``local``), validated."""
    # Imported here only: read commands never pay for DVC.
    from dvc.config import Config, ConfigError

    from .weights import quiet_dvc

    quiet_dvc()
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


class _Change:
    def __init__(self) -> None:
        self.commit: str | None = None
        self.local_keys: tuple[str, ...] = ()

    def result(self, name: str) -> RemoteChange:
        return RemoteChange(name, self.commit, self.local_keys)


@contextmanager
def _change(registry: Registry, message: str) -> Iterator[_Change]:
    """One transaction: ``.dvc/config`` committed if it changed, ``.dvc/config.local``
    restored along with it if anything fails."""
    root = registry.root
    change = _Change()
    local_path = root / LOCAL_CONFIG
    local_before = local_path.read_bytes() if local_path.exists() else None
    with registry.transaction() as tx:
        tx.require_clean([CONFIG])
        before = (root / CONFIG).read_text(encoding="utf-8")
        tx.write(CONFIG, before)  # remembered, so that a failure restores it
        try:
            yield change
            if (root / CONFIG).read_text(encoding="utf-8") != before:
                change.commit = tx.commit(message, [CONFIG], identity_env(registry.git))
        except BaseException:
            if local_before is None:
                local_path.unlink(missing_ok=True)
            else:
                local_path.write_bytes(local_before)
            raise
