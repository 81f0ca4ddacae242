"""`gitreg list`'s catalog cache (repo/catalog.py, Registry.joined, render.list_rows):
the table it prints is the one the records give, warm or cold, after edits by gitreg, by
git and by hand, and with its cache file damaged or tampered with (issue 19)."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest
from conftest import git, run_cli, write_weights

from gitreg.cli import render
from gitreg.core.query import Query
from gitreg.core.records import VersionSummary
from gitreg.errors import printable
from gitreg.repo import cachefile, catalog
from gitreg.repo.cache import CACHE_DIR
from gitreg.service.lifecycle import deprecate
from gitreg.service.registry import NewVersion, Registry


def listed(root: Path, name: str | None = None, *, every: bool = False,
           limit: int | None = None) -> str:
    """What `gitreg list` prints through the catalog cache."""
    shown = render.Listed(include_deprecated=every, limit=limit)
    return Registry(root).joined(render.LIST_ROWS, render.list_rows, render.list_rows_valid,
                                 shown.join, variant=shown.variant, name=name)


def expected(root: Path, name: str | None = None, *, every: bool = False,
             limit: int | None = None) -> str:
    """What the records say (the path of a filtered list), with no cache."""
    before = os.environ.get("GITREG_NO_CACHE")
    os.environ["GITREG_NO_CACHE"] = "1"
    try:
        registry = Registry(root)
        rows = registry.catalog(name, query=Query(include_deprecated=every, limit=limit))
        gone = {(r.name, r.version): why for r, _ in rows
                if (why := registry.deprecations(r.name).reason(r.version)) is not None}
        return render.versions_table(rows, gone)
    finally:
        if before is None:
            del os.environ["GITREG_NO_CACHE"]
        else:
            os.environ["GITREG_NO_CACHE"] = before


def assert_same(root: Path) -> None:
    for name in (None, "churn"):
        for every in (False, True):
            for limit in (None, 1, 4, 100):
                want = expected(root, name, every=every, limit=limit)
                assert listed(root, name, every=every, limit=limit) == want
                assert listed(root, name, every=every, limit=limit) == want  # warm


def catalog_file(root: Path) -> Path:
    """The payloads' file (beside it, the table kept whole: ``.whole``)."""
    (path,) = [p for p in (root / ".git" / CACHE_DIR / "catalog").iterdir()
               if not p.name.endswith(".whole")]
    return path


def whole_file(root: Path) -> Path:
    return catalog_file(root).with_name(f"{catalog_file(root).name}.whole")


def key_of_current(root: Path) -> str:
    return next(p.name for p in (root / ".git" / CACHE_DIR / "catalog").iterdir()
                if p.name != "0" * 40 and not p.name.endswith(".whole"))


@pytest.fixture
def populated(registry: Registry, tmp_path: Path) -> Registry:
    """Two models, promoted, one version deprecated; files settled (cache.SETTLED)."""
    for name in ("churn", "fraud"):
        for i in range(1, 4):
            weights = write_weights(tmp_path / f"{name}-{i}", f"{name} {i}".encode() * 30)
            registry.register(name, weights, version=f"1.{i}.0",
                              info=NewVersion(metrics={"accuracy": 0.8 + i / 100}))
        registry.promote(name, "1.1.0", "production")
    registry.promote("fraud", "1.2.0", "staging")
    deprecate(registry, "churn", "1.2.0", reason="leaks labels")
    time.sleep(catalog.SETTLED + 0.1)
    return registry


def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The models whose version files are read (not served by the catalog)."""
    seen: list[str] = []
    fresh = Registry._fresh_summaries

    def spy(self: Registry, name: str, versions: list[str]) -> list[VersionSummary]:
        seen.append(name)
        return fresh(self, name, versions)

    monkeypatch.setattr(Registry, "_fresh_summaries", spy)
    return seen


def test_the_table_is_the_records_table(populated: Registry,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = populated.root
    seen = reads(monkeypatch)
    assert_same(root)
    assert "deprecated" in listed(root, every=True)
    seen.clear()
    listed(root)
    assert seen == []  # warm: no version file read


def test_a_warm_list_sees_every_change(populated: Registry, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = populated.root
    seen = reads(monkeypatch)
    listed(root)
    path = root / "models/churn/versions/1.1.0.yaml"
    # An edit in place, same size, modification time set back: the change time tells.
    stamp = path.stat().st_mtime_ns
    text = path.read_text()
    path.write_text(text.replace("accuracy: 0.81", "accuracy: 0.71"))
    os.utime(path, ns=(stamp, stamp))
    seen.clear()
    assert "accuracy=0.71" in listed(root)
    assert seen == ["churn"]  # only the model that changed is read again
    assert_same(root)
    # Uncommitted, untracked, removed, by gitreg, by git, a stage map and deprecations.
    (root / "models/fraud/stages.yaml").write_text("model: fraud\nstages:\n  dev: 1.3.0\n")
    assert_same(root)
    (root / "models/churn/deprecated.yaml").unlink()
    assert_same(root)
    git(root, "checkout", "--", ".")
    assert_same(root)
    populated.register("churn", write_weights(tmp_path / "new", b"new" * 40), version="2.0.0")
    populated.promote("churn", "2.0.0", "staging")
    assert_same(root)
    git(root, "reset", "--hard", "--quiet", "HEAD~3")
    assert_same(root)
    (root / "models/churn/versions/1.3.0.yaml").unlink()
    assert_same(root)
    git(root, "rm", "-r", "--quiet", "models/fraud")
    assert_same(root)


def test_a_broken_file_fails_as_without_the_cache(populated: Registry) -> None:
    from gitreg.errors import CorruptRegistry

    root = populated.root
    listed(root)
    path = root / "models/fraud/versions/1.2.0.yaml"
    path.write_text("name: fraud\nversion: [not, a, version\n")
    for _ in range(2):
        with pytest.raises(CorruptRegistry, match=r"1\.2\.0\.yaml"):
            listed(root)
    path.unlink()
    path.symlink_to(root / "models/fraud/versions/1.1.0.yaml")
    with pytest.raises(CorruptRegistry, match="symbolic link"):
        listed(root)


def _tamper(path: Path, change: str) -> None:
    """Rewrite the catalog file, with a right checksum, changed as ``change`` says."""
    payload = cachefile.read(path, catalog.FORMAT)
    assert payload is not None
    head, _, body = payload.partition(b"\n")
    header, text = json.loads(head), body.decode()
    models: dict[str, list[object]] = {}
    for model, (sign, lengths) in header["models"].items():
        parts = []
        for length in lengths:
            parts.append(text[:length])
            text = text[length:]
        models[model] = [sign, parts]
    entry = models["churn"]
    parts = entry[1]
    assert isinstance(parts, list)
    rows = parts[0]
    if change == "tab in a cell":
        parts[0] = rows.replace("churn", "ch\turn", 1)
    elif change == "escape sequence":
        parts[0] = rows.replace("churn", "\x1b[2Jchurn", 1)
    elif change == "line break":
        parts[0] = rows.replace("\t", "\n", 1)
    elif change == "row out of range":
        parts[1] = "99"
    elif change == "superscript":
        parts[1] = "\u00b2"
        parts[2] = ",".join(["\u00b2"] * 6)
    elif change == "widths":
        parts[2] = "1,2,x"
    elif change == "shape":
        del parts[2:]
    elif change == "number":
        parts[3] = ",".join(["99999999999"] * 6)
    lengths = {m: [len(p) for p in e[1]] for m, e in models.items()}  # type: ignore[attr-defined]
    header["models"] = {m: [e[0], lengths[m]] for m, e in models.items()}
    if change == "lengths":
        header["models"]["churn"][1][0] += 1
    elif change == "entry":
        header["models"]["churn"] = "oops"
    elif change == "models":
        header["models"] = []
    body = "".join(p for e in models.values() for p in e[1]).encode()  # type: ignore[attr-defined]
    cachefile.write(path, catalog.FORMAT, json.dumps(header).encode() + b"\n" + body)


@pytest.mark.parametrize("change", [
    "garbage", "truncated", "empty", "not json", "tab in a cell", "escape sequence",
    "line break", "row out of range", "widths", "shape", "entry", "models", "number",
    "lengths", "superscript"])
def test_a_damaged_or_tampered_catalog_is_ignored_and_rebuilt(
    populated: Registry, change: str
) -> None:
    root = populated.root
    listed(root)
    path = catalog_file(root)
    good = path.read_bytes()
    if change == "not json":
        cachefile.write(path, catalog.FORMAT, b"\xff{not json")
    elif not _damaged(path, change):
        _tamper(path, change)
    whole_file(root).unlink()  # else the table kept whole answers, without the rows
    assert_same(root)
    assert path.read_bytes() == good  # rebuilt as it was


def _damaged(path: Path, change: str) -> bool:
    """``path`` damaged as a disk or a crash may leave it, if ``change`` names such a way."""
    good = path.read_bytes()
    if change == "garbage":
        path.write_bytes(os.urandom(len(good)))
    elif change == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif change == "empty":
        path.write_bytes(b"")
    else:
        return False
    return True


@pytest.mark.parametrize("change", ["garbage", "truncated", "empty", "key", "not utf-8"])
def test_a_damaged_table_kept_whole_is_ignored_and_rebuilt(
    populated: Registry, change: str
) -> None:
    root = populated.root
    want = expected(root)
    assert listed(root) == want
    path = whole_file(root)
    good = path.read_bytes()
    if _damaged(path, change):
        pass  # as a disk or a crash may leave it
    elif change == "key":  # the right checksum, another key: of other files
        kept = cachefile.read(path, catalog.WHOLE)
        assert kept is not None
        cachefile.write(path, catalog.WHOLE, b"0" * 40 + kept[40:].replace(b"churn", b"chum"))
    elif change == "not utf-8":
        kept = cachefile.read(path, catalog.WHOLE)
        assert kept is not None
        cachefile.write(path, catalog.WHOLE, kept + b"\xff")
    assert listed(root) == want
    assert path.read_bytes() == good  # rebuilt as it was
    assert listed(root) == want


def test_the_table_kept_whole_is_of_these_options_and_files(populated: Registry) -> None:
    root = populated.root
    for every, limit in ((False, None), (True, None), (False, 2), (True, 5), (False, None)):
        assert listed(root, every=every, limit=limit) == expected(root, every=every,
                                                                  limit=limit)
        assert listed(root, "churn", every=every, limit=limit) == expected(
            root, "churn", every=every, limit=limit)


def test_no_cache_and_a_read_only_cache(populated: Registry,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = populated.root
    monkeypatch.setenv("GITREG_NO_CACHE", "1")
    assert listed(root) == expected(root)
    assert not (root / ".git" / CACHE_DIR / "catalog").exists()
    monkeypatch.delenv("GITREG_NO_CACHE")
    folder = root / ".git" / CACHE_DIR / "catalog"
    folder.mkdir(parents=True)
    folder.chmod(0o500)
    try:
        assert listed(root) == expected(root)
    finally:
        folder.chmod(0o700)


def test_the_command_prints_what_it_printed_without_the_cache(populated: Registry) -> None:
    root = populated.root
    (root / "models/fraud/versions/1.3.0.yaml").write_text(
        (root / "models/fraud/versions/1.3.0.yaml").read_text()
        .replace("accuracy: 0.83", "accuracy: 0.83\n  'odd\tmetric': 1")
        .replace("model_type: null", "model_type: \"RF \\e[1m \""))
    for args in ([], ["--all"], ["fraud"], ["--limit", "2"], ["--all", "--limit", "5"]):
        first = run_cli("list", *args, cwd=root)
        warm = run_cli("list", *args, cwd=root)
        os.environ["GITREG_NO_CACHE"] = "1"
        try:
            plain = run_cli("list", *args, cwd=root)
        finally:
            del os.environ["GITREG_NO_CACHE"]
        assert first.returncode == warm.returncode == 0, first.stderr
        assert first.stdout == warm.stdout == plain.stdout
        assert first.stdout == expected_cli(root, args)


def expected_cli(root: Path, args: list[str]) -> str:
    every = "--all" in args
    limit = int(args[args.index("--limit") + 1]) if "--limit" in args else None
    name = "fraud" if "fraud" in args else None
    return render.terminal(expected(root, name, every=every, limit=limit)) + "\n"


def test_padding_is_tables_padding() -> None:
    # `_padded` pads all lines in one format and strips only where needed: the same text
    # as padding each cell and stripping each line.
    pool = ["", "a", "bb", "ccc ", " d", "\u3000", "e\u3000", "ffff", "g h", "  "]
    chooser = random.Random(19)
    for _ in range(300):
        columns = chooser.randint(1, 5)
        rows = [[chooser.choice(pool) for _ in range(columns)]
                for _ in range(chooser.randint(1, 6))]
        headers = [f"h{i}" for i in range(columns)]
        shown = [[printable(cell) for cell in row] for row in rows]
        widths = [max(len(h), *(len(r[i]) for r in shown)) for i, h in enumerate(headers)]
        line = "  ".join(f"{{:<{w}}}" for w in widths).format
        old = "\n".join([line(*(h.upper() for h in headers)).rstrip()]
                        + [line(*r).rstrip() for r in shown])
        assert render.table(headers, rows) == old


def test_a_catalog_of_another_kind_is_removed_when_this_one_is_written(
    populated: Registry,
) -> None:
    root = populated.root
    listed(root)
    folder = catalog_file(root).parent
    other = folder / ("0" * 40)
    other.write_bytes(b"made by another gitreg")
    listed(root)
    assert other.exists()  # nothing written: nothing removed
    current = key_of_current(root)
    (folder / current).unlink()
    (folder / f"{current}.whole").unlink()
    assert listed(root) == expected(root)
    assert sorted(p.name for p in folder.iterdir()) == [current, f"{current}.whole"]
