"""Where gitreg keeps per-user files outside any registry. Imported by the console entry
point before anything else, so it imports nothing heavy."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache(*parts: str) -> Path | None:
    """``$XDG_CACHE_HOME/gitreg/PARTS`` (``~/.cache/gitreg/PARTS``); None when there is no
    home to put it in (the caller then works without a cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):  # the XDG spec: a relative value is ignored
        home = os.path.expanduser("~")
        if home == "~":
            return None
        base = os.path.join(home, ".cache")
    return Path(base, "gitreg", *parts)
