"""Stage history from git: rollback semantics, which --at/--rev, history with tags."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import git

from gitreg.core.events import Action
from gitreg.errors import CorruptRegistry, NotFound
from gitreg.git.runner import Git
from gitreg.service.registry import Registry


def at(monkeypatch: pytest.MonkeyPatch, registry: Registry, when: str) -> Registry:
    """The same registry, with git's clock pinned to ``when`` for its next writes."""
    monkeypatch.setenv("GIT_COMMITTER_DATE", when)
    monkeypatch.setenv("GIT_AUTHOR_DATE", when)
    return Registry(registry.root)


@pytest.fixture
def three_versions(registry: Registry, tmp_path: Path) -> Registry:
    for i in range(1, 4):
        path = tmp_path / f"w{i}.bin"
        path.write_bytes(f"weights {i}".encode())
        registry.register("churn", path, version=f"1.{i}.0")
    return registry


def test_rollback_walks_back_through_promotions(three_versions: Registry) -> None:
    reg = three_versions
    for version in ("1.1.0", "1.2.0", "1.3.0"):
        reg.promote("churn", version, "production")
    assert reg.rollback("churn", "production").version == "1.2.0"
    assert reg.rollback("churn", "production").version == "1.1.0"  # not back to 1.3.0
    with pytest.raises(NotFound, match="nothing to roll back to"):
        reg.rollback("churn", "production")
    event = reg.rollback("churn", "production", to="1.3.0")
    assert (event.version, event.previous, event.action) == ("1.3.0", "1.1.0", Action.ROLLBACK)
    assert reg.which("churn", "production") == ("1.3.0",)


def test_rollback_after_demote_restores_the_demoted_version(three_versions: Registry) -> None:
    reg = three_versions
    reg.promote("churn", "1.1.0", "staging")
    reg.demote("churn", "staging")
    assert reg.which("churn", "staging") == ()
    assert reg.rollback("churn", "staging").version == "1.1.0"


def test_stage_tags_are_gapless_per_model_and_stage(
    three_versions: Registry, tmp_path: Path
) -> None:
    reg = three_versions
    other = tmp_path / "o.bin"
    other.write_bytes(b"other")
    reg.register("fraud", other, stage="production")
    reg.promote("churn", "1.1.0", "production")
    reg.promote("churn", "1.2.0", "production")
    reg.rollback("churn", "production")
    reg.promote("churn", "1.3.0", "dev")
    tags = set(git(reg.root, "tag").split())
    assert {t for t in tags if t.startswith("churn/production/")} == {
        "churn/production/1", "churn/production/2", "churn/production/3"}
    assert {t for t in tags if "/" in t and not t.startswith("churn/production/")} == {
        "churn/dev/1", "fraud/production/1"}
    # Each stage tag sits on the commit that edited stages.yaml, and only that file.
    changed = git(reg.root, "show", "--name-only", "--format=", "churn/production/3^{commit}")
    assert changed.split() == ["models/churn/stages.yaml"]
    trailers = git(reg.root, "log", "-1", "--format=%(trailers:only)", "churn/production/3")
    assert "Gitreg-Action: rollback" in trailers and "Gitreg-Previous: 1.2.0" in trailers


def test_history_lists_events_in_order_with_their_tags(three_versions: Registry) -> None:
    reg = three_versions
    reg.promote("churn", "1.1.0", "production")
    reg.promote("churn", "1.2.0", "production")
    reg.rollback("churn", "production")
    events = reg.history_events("churn", "production")
    assert [(e.action, e.version, e.previous, e.tag) for e in events] == [
        (Action.PROMOTE, "1.1.0", None, "churn/production/1"),
        (Action.PROMOTE, "1.2.0", "1.1.0", "churn/production/2"),
        (Action.ROLLBACK, "1.1.0", "1.2.0", "churn/production/3"),
    ]
    everything = reg.history_events()
    assert [e.action for e in everything][:3] == [Action.REGISTER] * 3
    assert all(e.author == "Test User <test@example.com>" for e in everything)


def test_which_at_a_date_and_at_a_revision(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "w.bin"
    for i, day in enumerate(["2026-03-01", "2026-03-05", "2026-03-09"], start=1):
        weights.write_bytes(f"w{i}".encode())
        reg = at(monkeypatch, registry, f"{day}T12:00:00+00:00")
        reg.register("churn", weights, version=f"1.{i}.0", stage="production")
    reg = Registry(registry.root)
    assert reg.which("churn", "production", at="2026-02-28") == ()
    assert reg.which("churn", "production", at="2026-03-01") == ("1.1.0",)  # end of that day
    assert reg.which("churn", "production", at="2026-03-05T11:59:59+00:00") == ("1.1.0",)
    assert reg.which("churn", "production", at="2026-03-07") == ("1.2.0",)
    assert reg.which("churn", "production", at="2030-01-01") == ("1.3.0",)
    # git's date parser reads a year past 2099 as another date, and @N of fewer than nine
    # digits likewise: gitreg gives it seconds and an offset, its raw form.
    assert reg.which("churn", "production", at="2100-06-01") == ("1.3.0",)
    assert reg.which("churn", "production", at="9999-12-31") == ("1.3.0",)
    assert reg.which("churn", "production", at="1970-01-02") == ()
    assert reg.which("churn", "production", at="1969-12-31T00:00:00+00:00") == ()
    assert reg.which("churn", "production", rev="churn/production/2") == ("1.2.0",)
    assert reg.which("churn", "production", rev="HEAD~2") == ("1.2.0",)
    with pytest.raises(NotFound, match="unknown git revision"):
        reg.which("churn", "production", rev="no-such-rev")


def test_which_in_the_past_refuses_a_stages_file_that_names_another_model(
    three_versions: Registry,
) -> None:
    # A stages.yaml copied from another model's folder says nothing about this model: today's
    # file is refused (Registry.stage_map), and so is one at a revision or a date, and a
    # rollback does not count what it names as held.
    reg = three_versions
    reg.promote("churn", "1.1.0", "production")
    stages = reg.root / "models" / "churn" / "stages.yaml"
    stages.write_text(stages.read_text().replace("model: churn", "model: fraud")
                      .replace("1.1.0", "1.3.0"))
    git(reg.root, "commit", "--quiet", "-am", "Copy another model's stages")
    commit = git(reg.root, "rev-parse", "HEAD").strip()
    with pytest.raises(CorruptRegistry, match="says 'fraud', expected 'churn'"):
        reg.which("churn", "production", rev=commit)
    with pytest.raises(CorruptRegistry, match="says 'fraud', expected 'churn'"):
        reg.which("churn", "production", at="2100-01-01")
    assert reg.which("churn", "production", rev="HEAD~1") == ("1.1.0",)
    assert reg.history.held("churn", "HEAD") == {"production": {"1.1.0"}}


def test_history_reads_a_merged_branch_by_the_trailers_it_brought_in(
    three_versions: Registry,
) -> None:
    # A merge commit's message has no Gitreg-* trailers; the commits it merged do. Without
    # them the merged rollback would read as a promotion, and the next rollback would
    # bounce back to 1.2.0 instead of finding nothing left to roll back to.
    reg = three_versions
    reg.promote("churn", "1.1.0", "production")
    reg.promote("churn", "1.2.0", "production")
    git(reg.root, "switch", "--quiet", "-c", "review")
    reg.rollback("churn", "production")  # back to 1.1.0, on the branch
    reg.promote("churn", "1.3.0", "staging")  # a second commit, the branch's newest
    git(reg.root, "switch", "--quiet", "main")
    (reg.root / "NOTES.md").write_text("notes\n")
    git(reg.root, "add", "NOTES.md")
    git(reg.root, "commit", "--quiet", "-m", "Add notes")
    git(reg.root, "merge", "--quiet", "--no-ff", "--no-edit", "review")
    merge = git(reg.root, "rev-parse", "HEAD").strip()

    events = [e for e in reg.history_events("churn") if e.commit == merge]
    assert [(e.action, e.stage, e.version, e.previous) for e in events] == [
        (Action.ROLLBACK, "production", "1.1.0", "1.2.0"),
        (Action.PROMOTE, "staging", "1.3.0", None),
    ]
    with pytest.raises(NotFound, match="nothing to roll back to"):
        reg.rollback("churn", "production")


def test_history_reads_past_a_stages_file_that_was_broken_and_fixed(
    three_versions: Registry,
) -> None:
    reg = three_versions
    reg.promote("churn", "1.1.0", "production")
    stages = reg.root / "models/churn/stages.yaml"
    good = stages.read_text()
    stages.write_text("model: churn\nstages: [broken\n")
    git(reg.root, "commit", "-qam", "oops")
    stages.write_text(good)
    git(reg.root, "commit", "-qam", "fix")
    reg.promote("churn", "1.2.0", "production")
    assert reg.rollback("churn", "production").version == "1.1.0"
    assert [e.version for e in reg.history_events("churn", "production")] == [
        "1.1.0", "1.2.0", "1.1.0"]


def test_a_squashed_registration_and_promotion_are_listed_in_the_order_made(
    registry: Registry, tmp_path: Path
) -> None:
    # One commit holding both (a squash merge): the version was registered, then promoted.
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights")
    root = registry.root
    git(root, "switch", "--quiet", "-c", "train")
    registry.register("churn", weights, version="1.0.0", stage="staging")
    git(root, "switch", "--quiet", "main")
    git(root, "merge", "--quiet", "--squash", "train")
    git(root, "commit", "--quiet", "-m", "Train churn 1.0.0 (#3)")
    events = Registry(root).history_events("churn")
    assert [(e.action, e.version, e.stage) for e in events] == [
        (Action.REGISTER, "1.0.0", None), (Action.PROMOTE, "1.0.0", "staging")]


def test_gits_own_squash_message_keeps_every_commits_trailers(three_versions: Registry) -> None:
    """``git merge --squash`` and ``git commit`` with git's message: the squashed commits'
    messages, indented, newest first; git's own trailer reading finds none of them."""
    reg = three_versions
    root = reg.root
    reg.promote("churn", "1.1.0", "staging")
    reg.promote("churn", "1.2.0", "staging")
    git(root, "switch", "--quiet", "-c", "fixes")
    reg.promote("churn", "1.3.0", "production", force=True, reason="hotfix")
    reg.rollback("churn", "staging")
    git(root, "switch", "--quiet", "main")
    git(root, "merge", "--quiet", "--squash", "fixes")
    git(root, "commit", "--quiet", "--no-edit")
    assert git(root, "log", "-1", "--format=%(trailers:only)") == "\n"
    events = Registry(root).history_events("churn")
    assert [(e.action, e.stage, e.version, e.previous, e.reason) for e in events][-2:] == [
        (Action.PROMOTE, "production", "1.3.0", None, "hotfix"),
        (Action.ROLLBACK, "staging", "1.1.0", "1.2.0", None)]


def _merge_a_branch(reg: Registry, work: Callable[[], object]) -> None:
    """Do ``work`` on a branch while main gets a commit of its own, then merge it (--no-ff):
    a history with commits that --first-parent leaves out."""
    git(reg.root, "switch", "--quiet", "-c", "review")
    work()
    git(reg.root, "switch", "--quiet", "main")
    (reg.root / "NOTES.md").write_text("notes\n")
    git(reg.root, "add", "NOTES.md")
    git(reg.root, "commit", "--quiet", "-m", "Add notes")
    git(reg.root, "merge", "--quiet", "--no-ff", "--no-edit", "review")


@pytest.mark.parametrize("parts", [2, 3, 4])
def test_a_walk_split_into_parts_reads_what_one_walk_reads(
    three_versions: Registry, monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    # A full check's walk of all history runs in parts, one git each (issue 19). Runs of
    # the first-parent chain (--skip, --max-count), the parts together must be the one walk: every
    # commit once, in order, with a merged branch's commits left out as --first-parent
    # leaves them, and the events the same.
    from gitreg.repo import history

    reg = three_versions
    for version in ("1.1.0", "1.2.0", "1.3.0", "1.1.0"):
        reg.promote("churn", version, "production")
    _merge_a_branch(reg, lambda: (reg.rollback("churn", "production"),
                                  reg.promote("churn", "1.3.0", "staging")))
    reg.demote("churn", "staging")
    head = git(reg.root, "rev-parse", "HEAD").strip()
    folder = reg.config.layout.models_dir

    whole = Registry(reg.root)
    monkeypatch.setattr(history, "_processors", lambda: 1)
    one = whole.history._walk(head, folder)
    expected = whole.history_events("churn")

    monkeypatch.setattr(history, "_processors", lambda: parts)
    monkeypatch.setattr(history, "_PART", 2)  # a part of two commits at least
    runs = history._parts(reg.git, head, parts)
    assert len(runs) == parts and "--max-count" not in " ".join(runs[0])
    split = Registry(reg.root)
    assert split.history._walk(head, folder) == one
    assert split.history_events("churn") == expected


@pytest.mark.parametrize("length", [4, 6, 9, 40])
def test_a_walk_of_one_models_history_cut_in_two_reads_what_one_walk_reads(
    three_versions: Registry, monkeypatch: pytest.MonkeyPatch, length: int
) -> None:
    # check --base reads one model's whole history when the stages' tags prove too
    # little, in two gits cut at head~N, N from a guess of the chain's length (issue 19):
    # the cut at each place, and past the root (the guess too large), gives the one walk.
    from gitreg.repo import history

    reg = three_versions
    reg.promote("churn", "1.1.0", "production")
    reg.promote("churn", "1.2.0", "production")
    _merge_a_branch(reg, lambda: reg.promote("churn", "1.3.0", "staging"))
    reg.rollback("churn", "production")
    head = git(reg.root, "rev-parse", "HEAD").strip()
    folder = reg.config.layout.model("churn")
    chain = int(git(reg.root, "rev-list", "--first-parent", "--count", "HEAD"))

    monkeypatch.setattr(history, "_processors", lambda: 1)
    whole = Registry(reg.root)
    one = whole.history._walk(head, folder)
    expected = whole.history_events("churn")
    assert one.count(head) == 1

    monkeypatch.setattr(history, "_processors", lambda: 2)
    monkeypatch.setattr(history, "_PART", 1)
    monkeypatch.setattr(Git, "tags_on_disk", lambda self: length)
    assert history._cut(length) > 0 and (history._cut(length) > chain) == (length == 40)
    split = Registry(reg.root)
    assert split.history._walk(head, folder) == one
    assert split.history_events("churn") == expected
