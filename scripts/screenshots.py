"""Make the README's screenshots of `gitreg site` (docs/site-*.png) with headless Chromium.

    .venv/bin/python scripts/screenshots.py [--out DIR]   # needs `apt-get install chromium`

Builds a small registry in a temporary folder (two models, eight versions, promotions, a
rollback and a demotion, each event a day apart, registrations dated like their commits),
builds its site and photographs the model page and the audit page (with the date picker
set to a moment when every stage of churn held a version) at a laptop's width, into
``docs/`` or ``--out DIR`` (tests/test_site.py runs it so).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitreg.core.newversion import NewVersion  # noqa: E402 (after the path is set)
from gitreg.core.records import Lineage  # noqa: E402
from gitreg.git.runner import Authorship  # noqa: E402
from gitreg.service.registry import Registry  # noqa: E402

SHOTS = {"site-model.png": ("models/churn/index.html", "1200,1500"),
         "site-audit.png": ("audit.html#at=2026-05-18T12:00:00", "1200,1100")}


def history(base: Path) -> Registry:
    os.environ.update({"GIT_CONFIG_GLOBAL": str(base / "gitconfig"), "GIT_CONFIG_NOSYSTEM": "1",
                       "HOME": str(base), "TZ": "UTC", "DVC_NO_ANALYTICS": "1"})
    (base / "gitconfig").write_text("[user]\n\tname = Ana Lima\n\temail = ana@example.com\n"
                                    "[init]\n\tdefaultBranch = main\n")
    registry = Registry.init(base / "registry", remote=str(base / "storage"))
    day = iter(range(1, 29))

    def at() -> Registry:
        when = f"2026-05-{next(day):02d}T10:00:00Z"
        os.environ["GIT_AUTHOR_DATE"] = os.environ["GIT_COMMITTER_DATE"] = when
        return Registry(registry.root)  # git's environment is read when a registry opens

    def authored() -> Authorship:  # registered_at as the commit's date, not the clock's
        return Authorship("Ana Lima", "ana@example.com", os.environ["GIT_AUTHOR_DATE"])

    for name, rows in (("churn", [("1.0.0", 0.88, 80), ("1.1.0", 0.90, 70), ("1.2.0", 0.87, 95),
                                  ("1.3.0", 0.92, 60), ("2.0.0", 0.94, 55)]),
                       ("fraud", [("0.1.0", 0.71, 12), ("0.2.0", 0.78, 11),
                                  ("0.3.0", 0.81, 14)])):
        for version, accuracy, latency in rows:
            registry = at()
            weights = base / f"{name}-{version}.bin"
            weights.write_bytes(f"{name} {version}\n".encode() * 50)
            info = NewVersion(
                metrics={"accuracy": accuracy, "latency_ms": latency},
                model_type="RandomForest", features=("age", "plan", "usage"),
                lineage=Lineage(code_commit="3f2c1d0e9b8a", data={"train.csv": "md5:aaa"}))
            registry.register(name, weights, version=version, info=info, authored=authored())
    for name, version, stage in (("churn", "1.0.0", "staging"), ("churn", "1.0.0", "production"),
                                 ("churn", "1.1.0", "staging"), ("churn", "1.1.0", "production"),
                                 ("churn", "1.2.0", "staging"), ("churn", "1.2.0", "production"),
                                 ("churn", None, "production"), ("churn", "1.3.0", "dev"),
                                 ("churn", "1.3.0", "staging"), ("fraud", "0.2.0", "staging"),
                                 ("churn", "2.0.0", "dev"), ("churn", None, "dev"),
                                 ("fraud", "0.3.0", "staging")):
        registry = at()
        if version is None and stage == "production":
            registry.rollback(name, stage)
        elif version is None:
            registry.demote(name, stage)
        else:
            registry.promote(name, version, stage)
    return registry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs",
                        help="where to write the images (default: docs/)")
    out = parser.parse_args().out
    chromium = shutil.which("chromium")
    if chromium is None:
        print("install Chromium first: apt-get install chromium", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        registry = history(base)
        subprocess.run([sys.executable, "-m", "gitreg", "site", "--title", "acme models"],
                       cwd=registry.root, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        for name, (page, size) in SHOTS.items():
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--hide-scrollbars", "--no-first-run",
                            f"--user-data-dir={base / 'profile'}", f"--window-size={size}",
                            f"--screenshot={out / name}",
                            (registry.root / "site").as_uri() + "/" + page],
                           check=True, capture_output=True)
            print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
