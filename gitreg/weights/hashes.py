"""md5s gitreg has already computed, kept by the state of the file, so that an object gitreg
wrote or checked is not read a second time to be checked again (issue 4).

The rule, as in git's index and DVC's state database: when gitreg hashes the bytes of an
object it writes (into the DVC cache or a folder remote), or reads an object whose bytes
match its md5, it records the file's identity and state, ``(st_dev, st_ino, size, mtime_ns,
ctime_ns)``, with that md5. A later check of the same file is trusted without reading it
only while all five are unchanged. The kernel sets ctime on every write, truncate, chmod,
link or rename, and no system call sets it back, so a file that was modified or replaced
since is hashed again, and refused if it no longer matches. What that relies on:

- A file gitreg read but did not write is recorded only if its ctime was older than the
  clock the kernel stamps files with (``CLOCK_REALTIME_COARSE``) before the read began, and
  unchanged after it: a write during or after the read then gets a later ctime. On a file
  system that keeps whole seconds only, only files older than two seconds.
- A file gitreg just wrote is recorded with the stat taken after its last change (the
  rename into place, the link into the work tree). Only a process racing gitreg's own
  write could go unseen; the objects are the user's, read-only, in the user's folders, so
  such a process has the user's rights, and with those it could rewrite this store too.
  Against that, no check on this machine helps.
- A checksum stored in each row is against damage to this file, not against attack.

The store is one small SQLite file per user, ``$XDG_CACHE_HOME/gitreg/hashes.db``
(``~/.cache/gitreg/hashes.db``), shared by concurrent processes through SQLite's locking.
It is only ever a shortcut: a store that is missing, locked, damaged or deleted, or a row
that does not match, means the file is hashed again; nothing here can make a command fail.
``GITREG_NO_CACHE=1`` turns it off (every check then reads the file).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import os
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

from gitreg.repo import cachefile
from gitreg.repo.userdirs import user_cache

CHUNK = 1 << 20
KERNEL_CHUNK = 64 << 20  # one copy_file_range call; the progress meter moves this often
FORMAT = 1  # PRAGMA user_version of the store; another value: the table is made anew
KEEP = 100_000  # rows; older ones go (each row is ~150 bytes)
_COARSE_CLOCK = 5  # CLOCK_REALTIME_COARSE on Linux, what file timestamps are taken from

Report = Callable[[int], None]


class _Store:
    """The SQLite file; every failure is swallowed and reads as "not known"."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.lock = threading.Lock()  # one connection for the threads of an API process

    def _open(self) -> sqlite3.Connection:
        if self.db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None,
                                 check_same_thread=False)
            try:
                # A crash may lose rows; a lost row only means hashing again.
                db.execute("PRAGMA synchronous=OFF")
                if db.execute("PRAGMA user_version").fetchone()[0] != FORMAT:
                    # Made anew under the write lock, looking again once holding it: two
                    # processes creating the store at once would otherwise both drop the
                    # table, the second one after the first had written rows to it.
                    db.execute("BEGIN IMMEDIATE")
                    try:
                        if db.execute("PRAGMA user_version").fetchone()[0] != FORMAT:
                            db.execute("DROP TABLE IF EXISTS known")
                            db.execute("CREATE TABLE known (file TEXT PRIMARY KEY, state TEXT)")
                            db.execute(f"PRAGMA user_version={FORMAT}")
                        db.execute("COMMIT")
                    except BaseException:
                        db.execute("ROLLBACK")
                        raise
            except BaseException:
                db.close()
                raise
            self.db = db
        return self.db

    def get(self, file: str) -> str | None:
        with self.lock:
            return self._get(file)

    def _get(self, file: str) -> str | None:
        try:
            row = self._open().execute("SELECT state FROM known WHERE file = ?",
                                       (file,)).fetchone()
        except (sqlite3.Error, OSError):
            return None
        return None if row is None else str(row[0])

    def put(self, file: str, state: str) -> None:
        with self.lock:
            self._put(file, state)

    def _put(self, file: str, state: str) -> None:
        for attempt in (1, 2):
            try:
                db = self._open()
                cursor = db.execute("INSERT OR REPLACE INTO known VALUES (?, ?)", (file, state))
                rowid = cursor.lastrowid or 0
                if rowid % 1000 == 0:
                    db.execute("DELETE FROM known WHERE rowid <= ?", (rowid - KEEP,))
                return
            except sqlite3.DatabaseError as exc:
                # Not a database (damaged, or another program's file): start a new one once.
                self.close()
                if attempt == 2 or isinstance(exc, sqlite3.OperationalError):
                    return  # locked by another process for too long, or read-only: skip
                try:
                    self.path.unlink(missing_ok=True)
                except OSError:
                    return
            except (sqlite3.Error, OSError):
                self.close()
                return

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


_stores: dict[Path, _Store] = {}


def _store() -> _Store | None:
    if not cachefile.enabled():
        return None
    folder = user_cache()
    if folder is None:
        return None
    path = folder / "hashes.db"
    if path not in _stores:
        _stores[path] = _Store(path)
    return _stores[path]


def _key(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


def _state(st: os.stat_result, md5: str) -> str:
    fields = f"{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {md5}"
    seal = hashlib.blake2b(f"{_key(st)} {fields}".encode(), digest_size=8).hexdigest()
    return f"{fields} {seal}"


def known(st: os.stat_result) -> str | None:
    """The md5 recorded for the file in exactly this state, if any."""
    store = _store()
    state = None if store is None else store.get(_key(st))
    if state is None:
        return None
    md5 = state.split(" ")[3] if state.count(" ") == 4 else ""
    return md5 if state == _state(st, md5) else None


def remember(path: Path, md5: str) -> None:
    """Record ``md5`` for the file gitreg has just written at ``path`` (see the rule above)."""
    store = _store()
    if store is None:
        return
    try:
        st = os.stat(path)
    except OSError:
        return
    store.put(_key(st), _state(st, md5.removesuffix(".dir")))


def _settled(st: os.stat_result) -> bool:
    """Whether any change to the file from now on gets a later ctime than it has."""
    now = time.time_ns()
    if st.st_ctime_ns < now - 2_000_000_000:
        return True
    if sys.platform != "linux" or st.st_ctime_ns % 1_000_000_000 == 0:
        return False  # maybe a file system with whole-second timestamps
    return time.clock_gettime_ns(_COARSE_CLOCK) > st.st_ctime_ns


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns, a.st_ctime_ns) == (
        b.st_dev, b.st_ino, b.st_size, b.st_mtime_ns, b.st_ctime_ns)


def copy(source: BinaryIO, out: BinaryIO, md5: str, report: Report | None = None) -> str:
    """Copy the open file ``source`` to ``out`` and return the md5 of what was copied.

    When the store knows ``source`` in its current state as ``md5``, the kernel copies it
    (``copy_file_range``: a reflink where the file system can, else no trip through this
    process) and the bytes are not read here; if the file changed during the copy, it is
    copied again, hashed. Otherwise the bytes are hashed as they are copied, and a source
    that matches ``md5`` and was not written during the read is remembered.
    """
    expect = md5.removesuffix(".dir")
    src, dst = source.fileno(), out.fileno()
    before = os.fstat(src)
    if known(before) == expect:
        if _kernel_copy(src, dst, before.st_size, report) and _same(os.fstat(src), before):
            return expect
        source.seek(0)
        out.seek(0)
        out.truncate()
    settled = _settled(before)
    actual, _ = pour(source, out, report)
    if actual == expect and settled and _same(os.fstat(src), before):
        store = _store()
        if store is not None:
            store.put(_key(before), _state(before, expect))
    return actual


def pour(source: BinaryIO, out: BinaryIO, report: Report | None = None) -> tuple[str, int]:
    """Copy ``source`` to ``out`` (from their current offsets) and hash what was written:
    the md5 and the size.

    From a regular file into a file open for reading too (a ``mkstemp`` file), the kernel
    copies and the copy is hashed as it is read back from the page cache: what is hashed is
    exactly what was stored, and no byte is copied through this process. Otherwise (a
    stream) each chunk is hashed and written.
    """
    try:
        src, dst = source.fileno(), out.fileno()
        regular = stat.S_ISREG(os.fstat(src).st_mode)
        readable = fcntl.fcntl(dst, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDWR
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        regular = readable = False
    if not (regular and readable):
        return _pour_through(source, out, report)
    out.flush()
    start = os.lseek(src, source.tell(), os.SEEK_SET)  # past what a buffer read ahead
    begin = os.lseek(dst, 0, os.SEEK_CUR)
    # The source's pages go as they are copied: the same bytes are in the page cache as the
    # copy from now on, which is what is read later, and a second copy of large weights
    # there only pushes out other data. (On the VM benchmarks/weights.py ran on, filling
    # never-used pages cost up to ~3 s/GiB of kernel memcpy and recycled ones ~0.3 s: a
    # 1 GiB register went from 9.1 s to 7.2 s, median of 3.)
    # The copy is hashed as it grows, by a second thread: md5 is CPU-bound and the kernel
    # copy mostly memory-bound, so on two cores they overlap (both release the GIL).
    hasher = _Follower(dst, begin)
    hasher.start()

    def moved(count: int) -> None:
        hasher.advance(count)
        if report is not None:
            report(count)

    try:
        _kernel_copy(src, dst, os.fstat(src).st_size - start, moved, drop_source=True)
    finally:
        end = os.lseek(dst, 0, os.SEEK_CUR)
        md5 = hasher.finish(end)
    source.seek(0, os.SEEK_END)
    return md5, end - begin


class _Follower(threading.Thread):
    """Hashes a file from ``begin`` up to where a writer says it has written so far, then,
    once told the end, to the end. What it hashes is read back from the file, so it is
    exactly what was stored."""

    def __init__(self, fd: int, begin: int) -> None:
        super().__init__(name="gitreg-md5", daemon=True)
        self.fd, self.offset, self.written = fd, begin, begin
        self.done = False
        self.ready = threading.Condition()
        self.digest = hashlib.md5(usedforsecurity=False)
        self.error: BaseException | None = None

    def advance(self, count: int) -> None:
        with self.ready:
            self.written += count
            self.ready.notify()

    def finish(self, end: int) -> str:
        """The md5 of the bytes from ``begin`` to ``end``, once hashed."""
        with self.ready:
            self.written, self.done = end, True
            self.ready.notify()
        self.join()
        if self.error is not None:
            raise self.error
        if self.offset != end:
            raise OSError(errno.EIO, "the copy ended short of what was written")
        return self.digest.hexdigest()

    def run(self) -> None:
        view = memoryview(bytearray(CHUNK))
        try:
            while True:
                with self.ready:
                    while self.offset >= self.written and not self.done:
                        self.ready.wait()
                    limit = self.written
                if self.offset >= limit:
                    return  # done, and everything written is hashed
                while self.offset < limit:
                    count = os.preadv(self.fd, [view[:min(CHUNK, limit - self.offset)]],
                                      self.offset)
                    if count == 0:
                        return  # shorter than written: finish() reports it
                    self.digest.update(view[:count])
                    self.offset += count
        except BaseException as exc:  # handed to finish(), in the writer's thread
            self.error = exc


def _pour_through(source: BinaryIO, out: BinaryIO, report: Report | None) -> tuple[str, int]:
    digest, size = hashlib.md5(usedforsecurity=False), 0
    buffer = bytearray(CHUNK)  # one buffer, not a new 1 MiB object for every chunk
    view = memoryview(buffer)
    # Files and BytesIO both have readinto; typing's BinaryIO does not say so.
    readinto = cast(io.BufferedIOBase, source).readinto
    while count := readinto(buffer):
        digest.update(view[:count])
        out.write(view[:count])
        size += count
        if report is not None:
            report(count)
    return digest.hexdigest(), size


def md5_of(path: Path) -> str:
    """The md5 of the file at ``path``: as recorded for its current state, or by reading it."""
    with path.open("rb") as handle:
        before = os.fstat(handle.fileno())
        found = known(before)
        if found is not None:
            return found
        settled = _settled(before)
        actual = _digest(handle)
        store = _store()
        if store is not None and settled and _same(os.fstat(handle.fileno()), before):
            store.put(_key(before), _state(before, actual))
    return actual


def md5_read(path: Path) -> str:
    """The md5 of the bytes of the file at ``path``, read now, never taken from the record
    of earlier reads: for what must see a change the file's times may hide (``verify``) and
    for a file another program has just written."""
    with path.open("rb") as handle:
        return _digest(handle)


def _digest(handle: BinaryIO) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _kernel_copy(src: int, dst: int, size: int, report: Report | None,
                 drop_source: bool = False) -> bool:
    """Copy ``size`` bytes from the file offsets of ``src`` to ``dst`` in the kernel.

    False if the file ended early (it changed). Where the kernel cannot copy between these
    two files (another file system on an old kernel, a file system without the call), the
    bytes go through this process, still unread by any hash. ``drop_source``: the source's
    pages are let go as they are copied (a hint; see ``pour``).
    """
    if not hasattr(os, "copy_file_range"):  # not Linux
        return _plain_copy(src, dst, size, report)
    done = 0
    while done < size:
        try:
            moved = os.copy_file_range(src, dst, min(KERNEL_CHUNK, size - done))
        except OSError as exc:
            if done or exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP,
                                         errno.EINVAL, errno.EPERM):
                raise
            return _plain_copy(src, dst, size, report)
        if moved == 0:
            return False
        if drop_source:
            with contextlib.suppress(OSError):
                os.posix_fadvise(src, os.lseek(src, 0, os.SEEK_CUR) - moved, moved,
                                 os.POSIX_FADV_DONTNEED)
        done += moved
        if report is not None:
            report(moved)
    return True


def _plain_copy(src: int, dst: int, size: int, report: Report | None) -> bool:
    done = 0
    while done < size:
        chunk = os.read(src, min(CHUNK, size - done))
        if not chunk:
            return False
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view):]
        done += len(chunk)
        if report is not None:
            report(len(chunk))
    return True
