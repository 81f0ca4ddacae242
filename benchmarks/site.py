"""How long `gitreg site` takes and how large its pages get, at 1,000 and 10,000 versions.

    .venv/bin/python benchmarks/site.py [--sizes 1000,10000] [--repeat 3] [--reuse DIR]

Registries of N/100 models x 100 versions with stage histories come from
benchmarks/generate.py (as benchmarks/suite.py builds them). For each size it times, each a
new process with the cache filled by a first run, `gitreg list --json` and `gitreg site -o
DIR` (median of --repeat, rebuilding the same folder, then into empty folders), and
prints the build times (wall, and CPU with the worker processes: on a loaded machine the
CPU figure is the one to compare), their ratios to `list --json`, the number of pages, the
largest page and the load average. Targets (issue 15): under 15 s and no page over 1 MB at
10,000 versions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import generate  # benchmarks/generate.py
from isolation import isolate
from suite import gitreg_command, timed

TARGET_SECONDS, TARGET_BYTES = 15.0, 1024 * 1024


def build(base: Path, size: int) -> Path:
    models = max(1, size // 100)
    root = base / f"{models}x100" / "gitreg"
    if not root.exists():
        print(f"N={size}: building the registry ({models} x 100) ...", flush=True)
        generate.build_gitreg(root, root.parent / "storage", models, 100)
    return root


def largest(folder: Path) -> tuple[str, int, int]:
    pages = [p for p in folder.rglob("*.html")]
    biggest = max(pages, key=lambda p: p.stat().st_size)
    return str(biggest.relative_to(folder)), biggest.stat().st_size, len(pages)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reuse", type=Path, help="keep the registries in this folder")
    args = parser.parse_args()
    base = args.reuse or Path(tempfile.mkdtemp(prefix="gitreg-site-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    isolate(base)
    gitreg = gitreg_command()
    ok = True
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            root = build(base, size)
            out = Path(tempfile.mkdtemp(prefix="site-", dir=base)) / "site"
            timed([*gitreg, "list", "--json"], root)  # fill the cache, as a second run finds it
            timed([*gitreg, "site", "-o", str(out)], root)
            listed = [timed([*gitreg, "list", "--json"], root)[0] for _ in range(args.repeat)]
            built = [timed([*gitreg, "site", "-o", str(out)], root)[:2]
                     for _ in range(args.repeat)]
            # A first build into an empty folder (as CI builds it): nothing to reuse.
            fresh = [timed([*gitreg, "site", "-o", str(out.parent / f"fresh-{i}")], root)[:2]
                     for i in range(args.repeat)]
            page, nbytes, pages = largest(out)
            site_s, list_s = statistics.median(w for w, _ in built), statistics.median(listed)
            fresh_s = statistics.median(w for w, _ in fresh)
            site_cpu = statistics.median(c for _, c in built)
            fresh_cpu = statistics.median(c for _, c in fresh)
            passed = size < 10_000 or (max(site_s, fresh_s) < TARGET_SECONDS
                                       and nbytes < TARGET_BYTES)
            ok = ok and passed
            print(f"N={size:>6}: site {site_s:6.2f} s rebuilt, {fresh_s:6.2f} s into an empty "
                  f"folder (list --json {list_s:5.2f} s, ratio {site_s / list_s:5.1f}x / "
                  f"{fresh_s / list_s:5.1f}x), {pages} pages, largest {page} "
                  f"{nbytes / 1024:.0f} KB{'' if passed else '  OVER TARGET'}", flush=True)
            print(f"         CPU (with workers): {site_cpu:6.2f} s rebuilt, {fresh_cpu:6.2f} s "
                  f"into an empty folder; load average {os.getloadavg()[0]:.1f} on "
                  f"{os.cpu_count()} processors", flush=True)
            shutil.rmtree(out.parent)
    finally:
        if args.reuse is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
