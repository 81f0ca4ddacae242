"""The DVC remotes of a registry as commands: add one, choose the default, set its options,
each change of ``.dvc/config`` one commit and no tag (weights/remoteconfig.py writes them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from gitreg.errors import Conflict, InvalidInput
from gitreg.git.runner import identity_env
from gitreg.service.registry import Registry
from gitreg.weights import remoteconfig
from gitreg.weights.remoteconfig import RemoteEntry, list_remotes

__all__ = ["RemoteChange", "RemoteEntry", "add", "list_remotes", "modify", "set_default"]


@dataclass(frozen=True)
class RemoteChange:
    """What a command changed: the commit of ``.dvc/config`` (if it changed) and the
    options written to ``.dvc/config.local``."""

    name: str
    commit: str | None
    local_keys: tuple[str, ...] = ()


def add(registry: Registry, name: str, url: str, *, options: Mapping[str, str] | None = None,
        default: bool = False, force: bool = False) -> RemoteChange:
    """Add a remote (replace it with ``force``); commit ``.dvc/config``."""
    remoteconfig.check_remote_name(name)
    exists = any(r.name == name for r in remoteconfig.list_remotes(registry.root))
    if exists and not force:
        raise Conflict(f"DVC remote {name!r} exists; change it with `gitreg remote modify`, "
                       "or replace it with {force}", params=("force",))
    with _change(registry, f"Add DVC remote {name}\n") as change:
        change.local_keys = remoteconfig.configure(
            registry.root, name, url, options or {}, default=default, replace=True)
    return change.result(name)


def set_default(registry: Registry, name: str) -> RemoteChange:
    """Make ``name`` the remote that weights go to; commit ``.dvc/config``."""
    remoteconfig.require(registry.root, name)
    with _change(registry, f"Use DVC remote {name} for weights\n") as change, \
            remoteconfig.edit(registry.root, "repo") as conf:
        conf["core"]["remote"] = name
    return change.result(name)


def modify(registry: Registry, name: str, key: str, value: str, *,
           local: bool = False) -> RemoteChange:
    """Set one option of a remote, in ``.dvc/config`` (committed) or, with ``local``,
    in ``.dvc/config.local`` (this machine only)."""
    remoteconfig.require(registry.root, name)
    key = key.strip().lower()
    if key == "name":
        raise InvalidInput("to rename a remote, add it under the new name")
    if not local:
        url = value if key == "url" else next(
            r.url for r in remoteconfig.list_remotes(registry.root) if r.name == name)
        remoteconfig.check_committed_option(name, url, key, value)
    if local:
        # Not committed, so no transaction: .dvc/config.local is this machine's alone.
        with remoteconfig.edit(registry.root, "local") as conf:
            conf["remote"].setdefault(name, {})[key] = _value(registry, key, value)
        return RemoteChange(name, None, (key,))
    with _change(registry, f"Set {key} of DVC remote {name}\n") as change, \
            remoteconfig.edit(registry.root, "repo") as conf:
        conf["remote"].setdefault(name, {})[key] = _value(registry, key, value)
    return change.result(name)


def _value(registry: Registry, key: str, value: str) -> str:
    return remoteconfig.absolute_url(registry.root, value) if key == "url" else value


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
    local_path = root / remoteconfig.LOCAL_CONFIG
    local_before = local_path.read_bytes() if local_path.exists() else None
    with registry.transaction() as tx:
        tx.require_clean([remoteconfig.CONFIG])
        before = (root / remoteconfig.CONFIG).read_text(encoding="utf-8")
        tx.write(remoteconfig.CONFIG, before)  # remembered, so that a failure restores it
        try:
            yield change
            if (root / remoteconfig.CONFIG).read_text(encoding="utf-8") != before:
                change.commit = tx.commit(message, [remoteconfig.CONFIG],
                                          identity_env(registry.git))
        except BaseException:
            if local_before is None:
                local_path.unlink(missing_ok=True)
            else:
                local_path.write_bytes(local_before)
            raise
