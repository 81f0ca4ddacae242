"""The environment every benchmark runs in: git, DVC, HOME and the XDG folders all under one
temp folder, so that neither the machine's configuration nor its caches change a figure.
(tests/conftest.py does the same for the tests, per test.)"""

from __future__ import annotations

import os
from pathlib import Path

GIT_SETTINGS = (
    "[user]\n\tname = Bench User\n\temail = bench@example.com\n"
    "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n"
    "[tag]\n\tgpgsign = false\n[gc]\n\tauto = 0\n"
)

# Set by a user's shell or a git hook, they would redirect or re-date what the benchmark does.
CLEARED = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GITREG_STORAGE", "GITREG_NO_CACHE",
           "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
           "GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE")


def isolate(base: Path) -> None:
    """Point git, DVC, HOME and the XDG folders into ``base / "_env"`` (made if missing, kept
    if there: --reuse runs find their registries' configuration again); subprocesses inherit
    ``os.environ``. gitreg's caches (hashes.db, the help text) start empty in a new ``base``."""
    env_dir = base / "_env"
    home = env_dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = env_dir / "gitconfig"
    gitconfig.write_text(GIT_SETTINGS)
    # GTO reads git's configuration through libgit2/dulwich, which ignore GIT_CONFIG_GLOBAL.
    (home / ".gitconfig").write_text(GIT_SETTINGS)
    os.environ.update({
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(env_dir / "dvc-site-cache"),
        "DVC_GLOBAL_CONFIG_DIR": str(env_dir / "dvc-global"),
        "DVC_SYSTEM_CONFIG_DIR": str(env_dir / "dvc-system"),
        "XDG_DATA_HOME": str(env_dir / "xdg-data"),
        "XDG_CACHE_HOME": str(env_dir / "xdg-cache"),
    })
    for key in CLEARED:
        os.environ.pop(key, None)
