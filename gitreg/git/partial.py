"""Partial clones (``git clone --filter=blob:none``): which objects this clone lacks, found
without asking git, so that they can be fetched in one go.

In a partial clone git fetches a missing object the moment something reads it, one fetch
per object: ``git cat-file --batch`` over the 37 ``stages.yaml`` versions of one model's
history makes 37 round trips to the server, a full ``check`` at 100,000 versions some
37,000 (issue 19). git 2.39 has no way to ask which objects are missing without fetching
them (``cat-file --batch-check`` fetches too; ``GIT_NO_LAZY_FETCH`` came in 2.45), so this
module reads the pack indexes itself: a v2 ``.idx`` is a sorted table of object ids behind a
fan-out table, searched by bisection. Loose objects are files named by their id.

A partial clone is one with promisor packs (``objects/pack/*.promisor``): git writes one
for every pack a promisor remote sent, and keeps them through ``gc``/``repack``.
"""

from __future__ import annotations

import bisect
import mmap
import os
from collections.abc import Iterable
from pathlib import Path

_IDX_V2 = b"\377tOc\0\0\0\2"
_FANOUT = 256 * 4


def is_partial(objects: Path) -> bool:
    """Whether the object store ``objects`` holds a promisor pack (a partial clone)."""
    try:
        return any(name.endswith(".promisor") for name in os.listdir(objects / "pack"))
    except OSError:
        return False


class _Table:
    """The sorted object ids of one pack index, as a sequence ``bisect`` can search."""

    def __init__(self, data: mmap.mmap, width: int, count: int) -> None:
        self.data, self.width, self.count = data, width, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> bytes:
        start = 8 + _FANOUT + i * self.width
        return self.data[start:start + self.width]

    def bounds(self, first: int) -> tuple[int, int]:
        """The index range of the ids whose first byte is ``first`` (the fan-out table)."""
        end = int.from_bytes(self.data[8 + first * 4:12 + first * 4], "big")
        start = int.from_bytes(self.data[4 + first * 4:8 + first * 4], "big") if first else 0
        return start, end


def missing(objects: Path, oids: Iterable[str]) -> list[str] | None:
    """The ids among ``oids`` that are neither in a pack of ``objects`` (or of its
    alternates) nor loose there; None when an index cannot be read (a v1 index, say):
    the caller then cannot tell and should treat every id as possibly missing."""
    wanted = sorted(set(oids))
    if not wanted:
        return []
    stores = [objects]
    try:
        alternates = (objects / "info" / "alternates").read_text().splitlines()
    except OSError:
        alternates = []
    stores += [objects / line.strip() for line in alternates
               if line.strip() and not line.startswith("#")]
    width = len(wanted[0]) // 2
    tables: list[_Table] = []
    maps: list[mmap.mmap] = []
    try:
        for store in stores:
            try:
                names = sorted(os.listdir(store / "pack"))
            except OSError:
                continue
            for name in names:
                if not name.endswith(".idx"):
                    continue
                with open(store / "pack" / name, "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    if size < 8 + _FANOUT:
                        return None
                    data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
                maps.append(data)
                if data[:8] != _IDX_V2:
                    return None
                count = int.from_bytes(data[8 + 255 * 4:8 + _FANOUT], "big")
                if size < 8 + _FANOUT + count * width:
                    return None
                tables.append(_Table(data, width, count))
        lacking = []
        for oid in wanted:
            try:
                raw = bytes.fromhex(oid)
            except ValueError:
                continue  # not an object id: nothing this can fetch
            if len(raw) != width:
                continue
            if any(_holds(table, raw) for table in tables):
                continue
            if any((store / oid[:2] / oid[2:]).is_file() for store in stores):
                continue
            lacking.append(oid)
        return lacking
    except OSError:
        return None
    finally:
        for data in maps:
            data.close()


def _holds(table: _Table, raw: bytes) -> bool:
    start, end = table.bounds(raw[0])
    i = bisect.bisect_left(table, raw, start, end)
    return i < end and table[i] == raw
