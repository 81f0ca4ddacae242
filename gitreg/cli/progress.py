"""Progress of weights transfers on a terminal, for the CLI (the core only calls back).

Shown on stderr, only when stderr is a terminal and the transfer is large enough to take
a while (``THRESHOLD``); scripts, CI logs and pipes get nothing, and ``--quiet`` turns it off.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

THRESHOLD = 64 << 20  # bytes: smaller transfers take about a second at most
INTERVAL = 0.1  # seconds between redraws
WIDTH = 24


def size_text(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class TerminalProgress:
    """A one-line meter, redrawn in place: ``label [#####-----]  512.0 MiB / 1.0 GiB  50%``."""

    def __init__(self, label: str, stream: TextIO, *, threshold: int = THRESHOLD,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.stream, self.threshold, self.clock = label, stream, threshold, clock
        self.drawn_at: float | None = None
        self.last_done = 0
        self.open = False  # a line is drawn and not yet ended

    def __call__(self, done: int, total: int) -> None:
        if total < self.threshold:
            return
        if done < self.last_done:  # a new transfer (pull moves one version after another)
            self.close()
        self.last_done = done
        now = self.clock()
        if done < total and self.drawn_at is not None and now - self.drawn_at < INTERVAL:
            return
        self.drawn_at = now
        filled = WIDTH * done // total if total else WIDTH
        bar = "#" * filled + "-" * (WIDTH - filled)
        percent = 100 * done // total if total else 100
        self.stream.write(f"\r{self.label} [{bar}] {size_text(done)} / {size_text(total)} "
                          f"{percent:3d}%")
        self.open = done < total
        if not self.open:
            self.stream.write("\n")
            self.last_done, self.drawn_at = 0, None  # the next transfer draws at once
        self.stream.flush()

    def close(self) -> None:
        """End a line left open (an error or Ctrl-C part-way), so messages start afresh."""
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open, self.drawn_at = False, None


def for_terminal(
    label: str, *, quiet: bool, stream: TextIO | None = None
) -> TerminalProgress | None:
    """A meter for ``label`` if ``stream`` (default stderr) is a terminal and not ``quiet``."""
    stream = stream if stream is not None else sys.stderr
    if quiet or not stream.isatty():
        return None
    return TerminalProgress(label, stream)


@contextmanager
def meter(label: str, quiet: bool) -> Iterator[TerminalProgress | None]:
    """``for_terminal``'s meter for the length of a transfer, closed after it."""
    shown = for_terminal(label, quiet=quiet)
    try:
        yield shown
    finally:
        if shown is not None:
            shown.close()
