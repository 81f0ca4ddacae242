"""What a reader sees while a write is under way: the old state or the new, never between.

Reads take no lock (DESIGN.md 6). A write makes a commit and its tags; a reader that
finds the commit on the branch must find its tags too, or it shows the change untagged
(``"tag": null``) until its next read. So every write creates its tags first and moves
the branch last. A real ``reference-transaction`` hook records the tags that exist at
the moment git moves the branch, for every command that tags. The hook runs once the
whole ref transaction is through: it proves there is no separate step after the branch
moves, not the order inside the transaction (tags listed first, which git applies first).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from conftest import git, run_cli, write_weights

from gitreg.service.registry import Registry

HOOK = """#!/bin/sh
# Runs inside git's ref update: list the tags a reader would see once the branch moves.
[ "$1" = committed ] || exit 0
while read -r old new ref; do
    if [ "$ref" = refs/heads/main ]; then
        {
            echo "main $new"
            git for-each-ref --format='%(refname:strip=2) %(*objectname)' refs/tags
        } >> "$GIT_DIR/../.git/branch-moves.log"
    fi
done
"""


def tags_when_main_moved(root: Path) -> dict[str, dict[str, str]]:
    """Commit main moved to -> the tags then (name -> commit it points at)."""
    moves: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in (root / ".git" / "branch-moves.log").read_text().splitlines():
        first, _, second = line.partition(" ")
        if first == "main":
            current = moves.setdefault(second, {})
        else:
            current[first] = second
    return moves


def test_tags_exist_before_the_branch_moves(registry: Registry, tmp_path: Path) -> None:
    root = registry.root
    hook = root / ".git" / "hooks" / "reference-transaction"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(HOOK.replace('"$GIT_DIR/../.git/', f'"{root}/.git/'))
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    for model in ("churn", "fraud"):
        for i in (1, 2):
            weights = write_weights(tmp_path / f"{model}{i}", f"{model} {i}".encode() * 20)
            out = run_cli("register", model, str(weights), "--version", f"1.{i}.0", cwd=root)
            assert out.returncode == 0, out.stderr
    writes = [
        ("promote", "churn", "1.1.0", "staging"),
        ("promote", "churn", "1.1.0", "production"),
        ("promote", "churn", "1.2.0", "production"),
        ("rollback", "churn", "production"),
        ("release", "pair", "--model", "churn@1.2.0", "--model", "fraud@1.2.0",
         "--stage", "staging"),
        ("deprecate", "fraud@1.2.0", "--reason", "leaks", "--demote"),
        ("restore", "fraud@1.2.0"),
    ]
    for args in writes:
        out = run_cli(*args, cwd=root)
        assert out.returncode == 0, f"{args}: {out.stderr}"
    moves = tags_when_main_moved(root)
    tags = git(root, "for-each-ref", "--format=%(refname:strip=2) %(*objectname)",
               "refs/tags").split("\n")
    made = dict(line.split(" ") for line in tags if line)
    assert len(made) >= 4 + len(writes) + 2  # every write above tagged its commit
    for tag, commit in made.items():
        assert commit in moves, f"{tag}: its commit never became main"
        assert tag in moves[commit], f"{tag} did not exist yet when main moved to {commit}"
    # And a reader then shows each change with its tag (a release as one entry).
    shown = json.loads(run_cli("history", "--json", cwd=root, check=True).stdout)
    assert len(shown) == 4 + len(writes) + 1  # the deprecation and its demotion
    assert all(entry["tag"] in made for entry in shown), shown
