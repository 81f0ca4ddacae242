"""Costs of deprecate, restore, annotate, `list --all/--sort` and `gc --dry-run` next to promote
(issue 16).

    .venv/bin/python benchmarks/lifecycle.py DEST [--models 100] [--versions 100]
                                             [--deprecated 10] [--repeat 3]

Builds DEST/gitreg with benchmarks/generate.py (M models x V versions), deprecates
``--deprecated`` versions of every model that no stage holds (one commit writing the
``deprecated.yaml`` files, as many deprecate commands would), then times, each as a new
process about ``model-0042``: promote, deprecate, restore, annotate, ``list --all`` (every
version, deprecated ones too), ``list model-0042 --sort accuracy --limit 5`` (the best five)
and ``list --sort accuracy --limit 10`` over the whole registry, and gc's dry run over the
whole registry. Median wall seconds, with CPU seconds (user+sys, children included).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from isolation import isolate  # noqa: E402
from suite import timed  # noqa: E402

from gitreg.core.lifecycle import Deprecations, deprecations_to_dict  # noqa: E402
from gitreg.repo import yamlio  # noqa: E402
from gitreg.service.registry import Registry  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("dest", type=Path)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--deprecated", type=int, default=10, help="per model")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    isolate(args.dest)
    root = args.dest / "gitreg"
    if not root.exists():
        subprocess.run([sys.executable, str(HERE / "generate.py"), str(args.dest),
                        "--models", str(args.models), "--versions", str(args.versions)],
                       check=True)
        registry = Registry(root)
        for model in registry.models():
            staged = {v for vs in registry.stage_map(model).stages.values() for v in vs}
            free = [r.version for r in registry.versions(model) if r.version not in staged]
            chosen = free[:args.deprecated]
            rel = registry.config.layout.deprecated_file(model)
            (root / rel).write_text(yamlio.dumps(deprecations_to_dict(
                Deprecations(model).with_(chosen, "benchmark"))))
        subprocess.run(["git", "add", "-A", "models"], cwd=root, check=True)
        subprocess.run(["git", "commit", "-qm", "Deprecate for the benchmark"], cwd=root,
                       check=True)
    registry = Registry(root)
    model = "model-0042"
    staged = {v for vs in registry.stage_map(model).stages.values() for v in vs}
    gone = set(registry.deprecations(model).versions)
    free = [r.version for r in registry.versions(model) if r.version not in staged | gone]
    a, b = free[-1], free[-2]
    gitreg = [sys.executable, "-m", "gitreg"]
    runs: dict[str, list[tuple[float, float, str]]] = {}

    def run(label: str, *argv: str) -> None:
        runs.setdefault(label, []).append(timed([*gitreg, *argv], root))

    run("warm-up: history", "history", model)
    for i in range(args.repeat):
        run("promote", "promote", model, a if i % 2 == 0 else b, "staging")
        run("deprecate", "deprecate", f"{model}@{free[0]}", "--reason", "benchmark")
        run("restore", "restore", f"{model}@{free[0]}")
        run("annotate", "annotate", f"{model}@{free[1]}", "--description", f"run {i}")
        run("list --all", "list", "--all")
        run("list NAME --sort", "list", model, "--sort", "accuracy", "--limit", "5")
        run("list --sort", "list", "--sort", "accuracy", "--limit", "10")
        run("gc (dry run)", "gc")
    print(f"{args.models * args.versions} versions, {args.models * args.deprecated} deprecated")
    for label, values in runs.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"{label:16} {wall:7.2f} ({cpu:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
