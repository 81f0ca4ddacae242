"""How fast ``gitreg import mlflow`` brings over N MLflow versions (issue 17, point 5).

    .venv/bin/python benchmarks/import_mlflow.py [--versions 1000] [--models 10]

Builds an MLflow store (``sqlite:///``, local artifacts) of MODELS models with VERSIONS
versions in all, each from its own run with a metric, a param and a small artifact, and
two aliases per model; then imports it into a new registry and prints versions per
second, and how long ``gitreg list`` takes right after (the import leaves caches warm).
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from isolation import isolate  # benchmarks/isolation.py, beside this script


def build_store(base: Path, versions: int, models: int) -> str:
    from mlflow import MlflowClient

    uri = f"sqlite:///{base / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    experiment = client.create_experiment("bench", artifact_location=str(base / "artifacts"))
    names = [f"model-{m}" for m in range(models)]
    for name in names:
        client.create_registered_model(name, tags={"team": "bench"})
    weights = base / "model.bin"
    for i in range(versions):
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "accuracy", 0.5 + i / (2 * versions))
        client.log_param(run.info.run_id, "seed", str(i))
        weights.write_bytes(f"weights {i}\n".encode() * 100)
        client.log_artifact(run.info.run_id, str(weights), "model")
        client.create_model_version(names[i % models], f"runs:/{run.info.run_id}/model",
                                    run_id=run.info.run_id)
    for name in names:
        client.set_registered_model_alias(name, "production", "1")
        client.set_registered_model_alias(name, "staging", "2")
    return uri


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--models", type=int, default=10)
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="gitreg-bench-") as tmp:
        base = Path(tmp)
        isolate(base)
        from gitreg.service.importers.mlflow import import_mlflow
        from gitreg.service.registry import Registry

        started = time.perf_counter()
        uri = build_store(base, args.versions, args.models)
        print(f"MLflow store of {args.versions} versions built in "
              f"{time.perf_counter() - started:.1f} s")
        registry = Registry.init(base / "registry", remote=str(base / "storage"))
        started = time.perf_counter()
        report = import_mlflow(registry, uri)
        took = time.perf_counter() - started
        registered = sum(1 for e in report.events if e.stage is None)
        print(f"imported {registered} versions and {len(report.events) - registered} "
              f"promotions in {took:.1f} s: {registered / took:.1f} versions/s")
        for command in (["list"], ["history", "model-0"]):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "gitreg", *command], cwd=registry.root,
                           check=True, capture_output=True, env=os.environ.copy())
            print(f"gitreg {' '.join(command)} right after: "
                  f"{time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
