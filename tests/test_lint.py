"""Typing and lint are gates (STYLE.md 13): mypy --strict on the package, ruff on everything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff() -> None:
    paths = [p for p in ("gitreg", "tests", "benchmarks", "examples") if (ROOT / p).is_dir()]
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", *paths],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_mypy_strict() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_reference_configuration_is_what_init_writes(tmp_path: Path) -> None:
    """The repository's own registry.yaml and .dvc/ are the reference `gitreg init` writes."""
    from gitreg.service.registry import Registry

    Registry.init(tmp_path / "reg", remote="~/.local/share/gitreg/storage")
    for rel in ("registry.yaml", ".dvc/config", ".dvc/.gitignore", ".dvcignore"):
        assert (ROOT / rel).read_text() == (tmp_path / "reg" / rel).read_text(), rel
