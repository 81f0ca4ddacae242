"""The ``gitreg`` console script: ``gitreg --help`` (and ``gitreg COMMAND --help``) from a
cache, well-formed ``which`` and ``show`` calls without typer (reads.py), everything else to
app.py.

(``gitreg --version`` is answered here too, from ``gitreg.__version__``, as cli.py would.)

Importing typer costs ~0.15 s of CPU, most of the 0.2 s that ``gitreg --help`` may take
(issue 5). So the top-level help (``gitreg --help``, and ``gitreg`` alone, which prints it
as a usage error) is rendered by typer once, exactly as it would be every time, and its
output and exit code are kept in ``$XDG_CACHE_HOME/gitreg/help/`` (``~/.cache/...``); the
next calls print them without importing typer.

The key is everything the rendering reads, so that the cache cannot be stale: the bytes of
every module of this package (any edit, upgrade or new command makes a new key), typer's own
``__init__.py`` (its version), Python's version, the arguments and the terminal width that
typer wraps to. Entries are written whole to a temporary file and renamed into place, and a
missing, truncated or corrupted entry is rendered again; nothing here can make a command
fail. ``GITREG_NO_CACHE=1`` turns it off.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

from gitreg.repo import cachefile
from gitreg.repo.userdirs import user_cache

# The argument lists answered from the cache: the top-level help, nothing that reads a
# registry (no_args_is_help makes a bare `gitreg` print the same help, as an error), and a
# command's help (`gitreg register --help`, `gitreg remote add -h`): typer would also import
# pydantic for it, ~0.1 s more (issue 19).
HELP_ARGS = ((), ("--help",), ("-h",))
HELP_FLAGS = ("--help", "-h")
# Shell completion calls `gitreg` with this set (typer's _{PROG}_COMPLETE) and no
# arguments: typer answers it, never the cached help.
COMPLETE_VAR = "_GITREG_COMPLETE"
FORMAT = b"gitreg-help 1\n"
KEEP = 64  # entries kept: the commands' helps at a few terminal widths


# The commands run without typer when their arguments are well formed (reads.py,
# registration.py; issue 19 points 4 and 5): the rest, and any mistake, go to typer's
# command line.
READS = (("which",), ("show",), ("list",))
DIRECT = (*READS, ("register",), ("get",), ("check",))  # check: CI runs it on every PR

INTERRUPTED = 130  # errors.EXIT_INTERRUPTED, without importing more before the handler


def run() -> None:
    try:
        code = main()
    except KeyboardInterrupt:
        # Ctrl-C while modules load, before cli.main's own handler is in place (issue 13);
        # nothing has been changed yet.
        sys.stderr.write("gitreg: interrupted; nothing was changed\n")
        code = INTERRUPTED
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    args = tuple(sys.argv[1:] if argv is None else argv)
    if args == ("--version",):  # what cli.py's --version prints, without importing typer
        from gitreg import __version__

        sys.stdout.write(f"gitreg {__version__}\n")
        return 0
    if is_help(args) and cachefile.enabled() and COMPLETE_VAR not in os.environ:
        folder, key = user_cache("help"), key_of(args)
        cached = load(folder / key) if folder is not None and key is not None else None
        if cached is None:
            cached = render(args)
            if folder is not None and key is not None:
                save(folder, key, cached)
        out, err, code = cached
        try:
            sys.stdout.write(out)
            sys.stdout.flush()
        except BrokenPipeError:  # `gitreg --help | head`: as cli.main does, exit 1
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        sys.stderr.write(err)
        return code
    if args[:1] in DIRECT and COMPLETE_VAR not in os.environ:
        if args[:1] in READS:
            # A read this short makes no garbage worth collecting, but its imports would
            # set off ~20 collections: ~5% of its time (issue 19 point 5). A list makes
            # ~100,000 rows at 100,000 versions, none in a cycle: freed as they go.
            gc.disable()
        answered = direct(args)
        if answered is not None:
            return answered
        gc.enable()
    from gitreg.cli import app as cli

    return cli.main(None if argv is None else list(argv))


def direct(args: tuple[str, ...]) -> int | None:
    """The exit code of a command of ``DIRECT`` run without typer, or None if the fast lane
    does not read ``args`` (nothing was run)."""
    from gitreg.cli.outcome import run

    if args[0] in ("register", "get"):
        from gitreg.cli import registration

        if args[0] == "get":
            return run(registration.get, registration.GET_DECLARED, args[1:])
        return run(registration.register, registration.DECLARED, args[1:])
    from gitreg.cli import reads

    command, declared = reads.DECLARED[args[0]]
    return run(command, declared, args[1:])


def is_help(args: tuple[str, ...]) -> bool:
    """Whether ``gitreg ARGS`` asks for the top level's help or a command's: up to two
    command words (lowercase letters and dashes) then ``--help`` or ``-h``."""
    if args in HELP_ARGS:
        return True
    *words, last = args or ("",)
    return last in HELP_FLAGS and 1 <= len(words) <= 2 and all(
        word.replace("-", "").isalpha() and word.isascii() and word.islower()
        and not word.startswith("-") for word in words)


def render(args: tuple[str, ...]) -> tuple[str, str, int]:
    """What ``gitreg ARGS`` prints on stdout and stderr, and its exit code, through typer."""
    import io

    from gitreg.cli import app as cli

    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = cli.main(list(args))
    finally:
        sys.stdout, sys.stderr = saved
    return out.getvalue(), err.getvalue(), code


def key_of(args: tuple[str, ...]) -> str | None:
    """The cache key of ``gitreg ARGS``'s output here, or None if it cannot be known."""
    import hashlib  # here, not above: `which` and `show` start without what only help needs
    import importlib.util
    import shutil

    digest = hashlib.sha256()
    digest.update(f"{sys.version}\0{shutil.get_terminal_size().columns}\0".encode())
    digest.update("\0".join(args).encode() + b"\0\0")
    typer = importlib.util.find_spec("typer")
    package = Path(__file__).parent.parent
    try:
        sources = sorted(package.glob("**/*.py"))
        if typer is None or typer.origin is None:
            return None
        for path in (*sources, Path(typer.origin)):
            data = path.read_bytes()
            digest.update(f"{path}\0{len(data)}\0".encode() + data)
    except OSError:
        return None
    return digest.hexdigest()[:40]


def load(path: Path) -> tuple[str, str, int] | None:
    """An entry, or None if it is missing or damaged."""
    payload = cachefile.read(path, FORMAT)
    if payload is None:
        return None
    parts = payload.split(b"\0", 2)
    if len(parts) != 3:
        return None
    try:
        code, length, text = int(parts[0]), int(parts[1]), parts[2].decode()
    except ValueError:
        return None
    return text[:length], text[length:], code


def save(folder: Path, key: str, entry: tuple[str, str, int]) -> None:
    """Write an entry in one step; drop old ones beyond ``KEEP``. Failures are ignored."""
    out, err, code = entry
    if not cachefile.write(folder / key, FORMAT, f"{code}\0{len(out)}\0{out}{err}".encode()):
        return
    try:
        entries = sorted((e for e in os.scandir(folder) if not e.name.startswith(".")),
                         key=lambda e: e.stat().st_mtime_ns, reverse=True)
        for old in entries[KEEP:]:
            os.unlink(old.path)
    except OSError:
        pass
