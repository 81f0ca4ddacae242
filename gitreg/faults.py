"""Fault injection for the crash tests (tests/test_crash.py); inert unless asked for.

``point(label)`` marks a place where a write is about to touch the disk, git or DVC:
before every git subprocess, every file written or renamed by the weights and storage
layers, and every file and journal write of a transaction. Two environment variables,
read once at import, switch it on:

- ``GITREG_FAULT_TRACE=FILE``: each point appends ``N<TAB>label<TAB>detail`` to FILE, so a
  test learns how many points a command passes and where they are;
- ``GITREG_FAULT_KILL_AT=N``: the N-th point kills the process with SIGKILL, as the OOM
  killer or a power cut would: no ``finally``, no ``__exit__``, no undo.

Without them ``point`` is one global lookup and a return.
"""

from __future__ import annotations

import os
import signal


def _number(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


_KILL_AT = _number(os.environ.get("GITREG_FAULT_KILL_AT"))
_TRACE = os.environ.get("GITREG_FAULT_TRACE") or None
_ACTIVE = bool(_KILL_AT or _TRACE)
_passed = 0


def point(label: str, detail: str = "") -> None:
    """A place a crash may happen; see the module docstring."""
    if _ACTIVE:
        _hit(label, detail)


def _hit(label: str, detail: str) -> None:
    global _passed
    _passed += 1
    if _TRACE is not None:
        with open(_TRACE, "a", encoding="utf-8") as trace:
            trace.write(f"{_passed}\t{label}\t{detail}\n")
    if _passed == _KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)
