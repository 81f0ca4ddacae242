"""The expected problems, each with a documented exit code.

Anything that is not a ``GitregError`` is a bug: the CLI prints its traceback and
exits with ``EXIT_BUG``. Messages say what was wrong and what to do about it.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable
from typing import ClassVar

EXIT_OK = 0
# `gitreg check` found problems (it prints them, one a line): not an error of the
# command itself, so no exception class; CI gates on it.
EXIT_CHECK_FAILED = 10
# `gitreg verify` found a signature or weights that do not verify (it prints each): likewise.
EXIT_VERIFY_FAILED = 12
EXIT_BUG = 70  # EX_SOFTWARE from sysexits.h
EXIT_INTERRUPTED = 130


class GitregError(Exception):
    """Base of every expected problem; ``exit_code`` is what the CLI exits with.

    The data a caller can act on travels with the message: ``params``, the arguments the
    problem is about, by their Python API names (``{reason}`` in the message stands for
    one, so that the CLI words it as its flag, ``--reason TEXT``, and the API as the
    parameter, ``reason``); ``file``, ``key`` and ``line``, where in a registry file a
    problem was found.
    """

    exit_code = 1

    def __init__(self, message: str = "", *, params: tuple[str, ...] = (),
                 file: str | None = None, key: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.params, self.file, self.key, self.line = params, file, key, line

    def worded(self, name: Callable[[str], str] = str) -> str:
        """The message with each ``{param}`` worded by ``name`` (the API's names by
        default; the CLI passes its flags)."""
        text = super().__str__()
        if self.params:
            pattern = "|".join(map(re.escape, self.params))
            text = re.sub(r"\{(" + pattern + r")\}", lambda m: name(m.group(1)), text)
        # Messages quote values from files a cloned registry controls (issue 6): escape
        # what is not printable (a terminal's escape sequences, line breaks, the
        # surrogates that stand for bytes that are not UTF-8), so an error stays one
        # harmless line that any terminal can print.
        return printable(text)

    def __str__(self) -> str:
        return self.worded()


def printable(text: str) -> str:
    """``text`` with what is not printable escaped as Python would: ``\\x1b``, ``\\n``,
    ``\\udcff`` (a byte that is not UTF-8, as ``os.fsdecode`` and git.py decode it)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class InvalidInput(GitregError):
    """A name, version, value or path given by the user is not acceptable."""

    exit_code = 3


class UnsafeLoad(InvalidInput):
    """Loading a model object would run code from it, or build types nobody trusted."""


class NotFound(GitregError):
    """An unknown model, version or stage, or nothing to roll back to."""

    exit_code = 4


class Conflict(GitregError):
    """The change collides with what is there: a version that exists, a busy lock."""

    exit_code = 5


class NotARegistry(GitregError):
    """The command was run outside a registry."""

    exit_code = 6


class CorruptRegistry(GitregError):
    """A registry file is malformed; the message names the file and the key."""

    exit_code = 7

    @classmethod
    def at(cls, file: str, key: str | None, problem: str, *,
           line: int | None = None) -> CorruptRegistry:
        """The problem at ``key`` (a key path such as ``metrics.accuracy``) or ``line`` of
        ``file``, as data (``file``, ``key``, ``line``, ``problem``) and as one line."""
        where = file if line is None else f"{file} (line {line})"
        error = cls(f"{where}: {key}: {problem}" if key else f"{where}: {problem}",
                    file=file, key=key, line=line)
        error.problem = problem
        return error

    problem: str | None = None


class ToolFailed(GitregError):
    """git, DVC or the weights storage failed; the message carries what they said."""

    exit_code = 8


class FileSystemRefused(GitregError):
    """The file system refused a write: a full disk, a file-size limit, a read-only or
    unwritable checkout. The change was undone."""

    exit_code = 13

    # What each errno means to a user, and what to do about it.
    REASONS: ClassVar[dict[int, tuple[str, str]]] = {
        errno.ENOSPC: ("no space left on the device", "free some space"),
        errno.EDQUOT: ("the disk quota is exceeded", "free some space"),
        errno.EFBIG: ("the file would be too large for this system's limits",
                      "raise the limit (ulimit -f) or free some space"),
        errno.EROFS: ("the file system is read-only", "run it in a writable checkout"),
        errno.EACCES: ("permission denied", "run it where you may write, or fix the "
                       "permissions"),
        errno.EPERM: ("permission denied", "run it where you may write, or fix the "
                      "permissions"),
    }

    @classmethod
    def of(cls, exc: BaseException) -> FileSystemRefused | None:
        """The problem an ``OSError`` from writing a file stands for, if it is one of these."""
        if not isinstance(exc, OSError) or exc.errno not in cls.REASONS:
            return None
        what, todo = cls.REASONS[exc.errno]
        where = f" ({exc.filename})" if exc.filename else ""
        return cls(f"could not write{where}: {what}; the change was undone: {todo}, then "
                   "run the command again")


class PolicyViolation(GitregError):
    """A promotion breaks a policy from registry.yaml."""

    exit_code = 9


class NotAnEvent(GitregError):
    """``ci event`` was given a ref that is not a gitreg tag: a pipeline may skip, not fail."""

    exit_code = 11


EXIT_CODES: dict[int, str] = {
    0: "success",
    2: "usage error (unknown option, missing argument)",
    InvalidInput.exit_code: "invalid input: name, version, value or path",
    NotFound.exit_code: "not found: model, version, stage, or nothing to roll back to",
    Conflict.exit_code: "conflict: version exists, registry busy",
    NotARegistry.exit_code: "not inside a registry",
    CorruptRegistry.exit_code: "a registry file is malformed",
    ToolFailed.exit_code: "git, DVC or the weights storage failed",
    PolicyViolation.exit_code: "a promotion policy refused the change",
    EXIT_CHECK_FAILED: "gitreg check found problems (one line each on stdout)",
    NotAnEvent.exit_code: "ci event: the ref is not a gitreg tag (not a gitreg event)",
    FileSystemRefused.exit_code: "the file system refused a write (disk full, read-only "
    "or unwritable checkout); the change was undone",
    EXIT_VERIFY_FAILED: "gitreg verify found an unsigned or badly signed change, or weights "
    "that do not match their md5",
    EXIT_BUG: "internal error (a bug: please report it with the traceback)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); nothing was changed",
}
