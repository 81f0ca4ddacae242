"""``gitreg demo``: the whole lifecycle on a local registry, each step shown as typed.

It plays a team's week: a bare git repository as ``origin``, a folder as the DVC remote,
a small scikit-learn model trained twice, registered, promoted through the stages,
rolled back, audited, and fetched for deployment from a fresh clone. Every step runs the
real ``gitreg`` command in a new process, so what it prints is what a user would see.
"""

from __future__ import annotations

import pickle
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gitreg.errors import InvalidInput, ToolFailed

Echo = Callable[[str], Any]


def run(folder: Path | None, echo: Echo) -> Path:
    try:
        from sklearn.datasets import make_classification
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise InvalidInput(
            "the demo trains a scikit-learn model: pip install 'gitreg[demo]' (or scikit-learn)"
        ) from None

    base = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="gitreg-demo-"))
    if base.exists() and any(base.iterdir()):
        raise InvalidInput(f"demo folder {base} is not empty; give a new or empty folder")
    base.mkdir(parents=True, exist_ok=True)
    base = base.resolve()
    registry, train, deploy = base / "registry", base / "train", base / "deploy"
    train.mkdir()
    shell = _Shell(base, echo)

    echo(f"# gitreg demo in {base}\n")
    echo("# A shared git repository and a folder for the weights (in real life: GitHub, S3).")
    shell("git", "init", "--quiet", "--bare", "origin.git")
    shell("git", "clone", "--quiet", "origin.git", "registry")
    shell.cwd = registry
    shell("gitreg", "init", "--remote", str(base / "storage"))

    features, target = make_classification(n_samples=600, n_features=8, n_informative=5,
                                            random_state=7)
    names = [f"f{i}" for i in range(features.shape[1])]
    x_train, x_test, y_train, y_test = train_test_split(features, target, random_state=7)

    def trained(estimators: int, depth: int, file: str) -> float:
        model = RandomForestClassifier(n_estimators=estimators, max_depth=depth, random_state=7)
        model.fit(x_train, y_train)
        accuracy = round(float(model.score(x_test, y_test)), 4)
        with (train / file).open("wb") as handle:
            pickle.dump(model, handle)
        echo(f"\n# trained RandomForest(n_estimators={estimators}, max_depth={depth}): "
             f"accuracy {accuracy} -> train/{file}")
        return accuracy

    def register(version: str, estimators: int, depth: int, accuracy: float) -> None:
        shell("gitreg", "register", "churn", f"../train/churn-{version}.pkl",
              "--version", version, "--metric", f"accuracy={accuracy}",
              "--param", f"n_estimators={estimators}", "--param", f"max_depth={depth}",
              *(arg for name in names for arg in ("--feature", name)),
              "--type", "RandomForestClassifier", "--stage", "dev")

    accuracy = trained(20, 3, "churn-1.0.0.pkl")
    register("1.0.0", 20, 3, accuracy)
    shell("gitreg", "promote", "churn", "1.0.0", "staging")
    shell("gitreg", "promote", "churn", "1.0.0", "production")
    before_upgrade = datetime.now(timezone.utc).replace(microsecond=0)
    time.sleep(1.1)  # git dates have one-second resolution; `which --at` needs a gap

    accuracy = trained(60, 6, "churn-1.1.0.pkl")
    register("1.1.0", 60, 6, accuracy)
    shell("gitreg", "promote", "churn", "1.1.0", "staging")
    shell("gitreg", "promote", "churn", "1.1.0", "production")
    shell("gitreg", "which", "churn", "production")

    echo("\n# 1.1.0 misbehaves in production: roll back to what was there before.")
    shell("gitreg", "rollback", "churn", "production")
    shell("gitreg", "list")
    shell("gitreg", "history", "churn")
    echo("\n# What was in production before the upgrade?")
    shell("gitreg", "which", "churn", "production", "--at", before_upgrade.isoformat())

    echo("\n# Share it: the commits and tags go to origin, the weights already went to storage.")
    # HEAD, not a branch name: the branch is whatever `git init` made here (main, master...).
    shell("git", "push", "--quiet", "--atomic", "origin", "HEAD", "--tags")
    shell("git", "tag", "--list")

    echo("\n# A deploy job elsewhere: a fresh clone, the production model, its checksum checked.")
    shell.cwd = base
    shell("git", "clone", "--quiet", "origin.git", "deploy-clone")
    shell.cwd = base / "deploy-clone"
    shell("gitreg", "get", "churn", "--stage", "production", "-o", str(deploy / "model.pkl"))
    with (deploy / "model.pkl").open("rb") as handle:
        # Safe here: gitreg verified the md5 against the version file, and we made it.
        model = pickle.load(handle)
    echo(f"# loaded {type(model).__name__}: accuracy on held-out data "
         f"{model.score(x_test, y_test):.4f}")
    echo(f"\nExplore it: cd {registry} && gitreg history && git log --oneline --graph")
    echo("\n# Last, the registry as a web page: stage timelines, metric trends, the audit trail.")
    shell.cwd = registry
    shell("gitreg", "site", "--title", "gitreg demo")
    # The demo ends with the path of the site's index page, alone on the last line (issue
    # 15), so that `xdg-open "$(gitreg demo | tail -1)"` opens it.
    echo("\nDone. Open the site in a browser (or: gitreg site --serve):")
    echo(str(registry / "site" / "index.html"))
    return base


class _Shell:
    """Runs a command as a user would type it, showing the prompt line and its output."""

    def __init__(self, cwd: Path, echo: Echo) -> None:
        self.cwd, self.echo = cwd, echo

    def __call__(self, *command: str) -> None:
        self.echo(f"$ {shlex.join(command)}")
        argv = list(command)
        if command[0] == "gitreg":  # the gitreg of this Python, whatever is on PATH
            argv = [sys.executable, "-m", "gitreg", *command[1:]]
        proc = subprocess.run(argv, cwd=self.cwd, capture_output=True, text=True, check=False)
        for text in (proc.stdout, proc.stderr):
            if text.strip():
                self.echo(text.rstrip())
        if proc.returncode != 0:
            raise ToolFailed(f"demo step `{shlex.join(command)}` failed (exit {proc.returncode})")
