"""Reads DVC's config (``.dvc/config`` then ``.dvc/config.local``) without importing DVC.

Read and get commands must start fast; importing ``dvc.repo`` costs ~0.3 s, and all they
need is where the cache and the default remote are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gitreg.errors import CorruptRegistry, NotFound
from gitreg.repo import yamlio

DVC_DIR = ".dvc"


CONFIG_FILES = ("config", "config.local")  # in the order DVC merges them; .local wins


def read(root: Path) -> dict[str, dict[str, str]]:
    """``{section: {key: value}}``; ``['remote "s3"']`` becomes section ``remote "s3"``."""
    sections: dict[str, dict[str, str]] = {}
    for name in CONFIG_FILES:
        for title, values in read_file(root, name).items():
            sections.setdefault(title, {}).update(values)
    return sections


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
