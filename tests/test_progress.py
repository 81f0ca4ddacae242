"""Progress of large transfers: on a terminal's stderr only, never in pipes, off with --quiet."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

from conftest import git

from gitreg.cli.progress import THRESHOLD, TerminalProgress, size_text
from gitreg.service.registry import Registry


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_meter_draws_in_place_and_ends_its_line() -> None:
    out, clock = io.StringIO(), Clock()
    meter = TerminalProgress("w", out, threshold=100, clock=clock)
    meter(10, 99)  # below the threshold: nothing at all
    assert out.getvalue() == ""
    meter(0, 200)
    clock.now = 0.05
    meter(50, 200)  # too soon after the last redraw
    clock.now = 0.2
    meter(100, 200)
    meter(200, 200)  # the end is always drawn, and ends the line
    lines = out.getvalue().split("\r")[1:]
    assert [line.split("]")[1].strip() for line in lines] == [
        "0 B / 200 B   0%", "100 B / 200 B  50%", "200 B / 200 B 100%"]
    assert out.getvalue().endswith("\n")
    meter(100, 200)
    meter.close()  # an interrupted transfer: the next message starts on its own line
    assert out.getvalue().endswith("50%\n")
    assert size_text(3 << 30) == "3.0 GiB"


def run_on_terminal(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """``gitreg ARGS`` with stderr on a pseudo-terminal, stdout on a pipe."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "gitreg", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=terminal, stdin=subprocess.DEVNULL)
    os.close(terminal)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(controller, 4096)
            except OSError:  # EIO: the process closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    stdout, _ = proc.communicate(timeout=120)
    reader.join(10)
    os.close(controller)
    return proc.returncode, stdout.decode(), b"".join(chunks).decode()


def large_file(path: Path, last: bytes) -> Path:
    with path.open("wb") as out:
        out.truncate(THRESHOLD)  # sparse: quick to make, still read in full
        out.seek(0, 2)
        out.write(last * (1 << 20))
    return path


def test_large_transfers_show_progress_on_a_terminal_only(
    tmp_path: Path, registry: Registry
) -> None:
    root = registry.root
    first = large_file(tmp_path / "first.bin", b"1")
    second = large_file(tmp_path / "second.bin", b"2")
    code, stdout, stderr = run_on_terminal(["register", "big", str(first), "-q"], root)
    assert code == 0 and "registered" in stdout and stderr == "", stderr
    code, stdout, stderr = run_on_terminal(["register", "big", str(second)], root)
    assert code == 0 and "registered" in stdout
    assert "big: pushing weights [" in stderr and "65.0 MiB / 65.0 MiB 100%" in stderr
    assert stderr.endswith("\n") and "\r" in stderr

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    piped = subprocess.run([sys.executable, "-m", "gitreg", "get", "big", "--version", "0.1.0",
                            "-o", str(tmp_path / "piped.bin")], cwd=clone,
                           capture_output=True, text=True)
    assert piped.returncode == 0 and piped.stderr == ""
    code, stdout, stderr = run_on_terminal(
        ["get", "big", "--version", "0.1.1", "-o", str(tmp_path / "tty.bin")], clone)
    assert code == 0, stderr
    assert "big: fetching weights [" in stderr and "100%" in stderr
    assert (tmp_path / "tty.bin").read_bytes() == second.read_bytes()
