"""One cache file: a format line, a checksum, then the payload. Written whole to a temporary
file and renamed into place, so a reader sees an old file or a new one, never half of one;
read back only if its format and checksum are right. Nothing here raises: a cache that
cannot be read or written only makes a command slower. ``GITREG_NO_CACHE=1`` turns caches
off. Used by cache.py (parsed files, in the git folder) and console.py (the help text);
imports nothing heavy, as ``gitreg --help`` runs it (issue 5).

The checksum is against damage (a truncated or garbled file), not attack.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_DIGEST = 16


def enabled() -> bool:
    return os.environ.get("GITREG_NO_CACHE", "") in ("", "0")


def read(path: Path, fmt: bytes) -> bytes | None:
    """The payload of ``path``, or None if it is missing, of another format, or damaged."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(fmt) + _DIGEST
    payload = data[head:]
    if data[:len(fmt)] != fmt or data[len(fmt):head] != _checksum(payload):
        return None
    return payload


def write(path: Path, fmt: bytes, payload: bytes) -> bool:
    """Replace ``path`` in one step; False if it could not be (read-only, full disk)."""
    import tempfile  # with shutil and random: not for a read that writes nothing (issue 19)

    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:12]}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(fmt + _checksum(payload) + payload)
        os.replace(tmp, path)
        tmp = None
        return True
    except OSError:
        return False
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=_DIGEST).digest()
