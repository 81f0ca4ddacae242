"""repo/recent.py: a model's stage history since a merge base, and what a stage's tags prove
about before it (issue 19: ``check --base`` and ``ci event`` without a walk of the whole
history), never more than the whole history shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git
from sample_registries import churn, edit, with_policies

from gitreg.repo import recent
from gitreg.repo.history import History
from gitreg.service import ci
from gitreg.service.check import changed_since, validate
from gitreg.service.registry import Registry

STAGES = "models/churn/stages.yaml"


def _seen(root: Path, base: str | None = None) -> set[tuple[str, str, str]]:
    return {(p.file, p.key, p.message) for p in validate(root, base=base).problems}


def _no_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    def walk(*args: object, **kwargs: object) -> None:
        raise AssertionError("read the whole history")

    held = History.held

    def since_only(self: History, *args: object, **kwargs: object) -> object:
        if kwargs.get("since") is None:  # from a registration on: not the whole history
            walk()
        return held(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(History, "events", walk)
    monkeypatch.setattr(History, "held", since_only)


def test_a_stage_tag_proves_what_the_stage_held(tmp_path: Path) -> None:
    registry = churn(tmp_path)  # churn/staging/1: 1.0.0, churn/staging/2: 1.2.0
    git_, layout, head = registry.git, registry.config.layout, registry.git.head()
    assert head is not None
    assert recent.held_before(git_, layout, "churn", "staging", "1.0.0", head)
    assert recent.held_before(git_, layout, "churn", "production", "1.0.0", head)
    assert not recent.held_before(git_, layout, "churn", "staging", "1.1.0", head)
    # Before the tagged commit, nothing is proved.
    first = git(registry.root, "rev-parse", "churn/staging/1^{commit}").strip()
    assert not recent.held_before(git_, layout, "churn", "staging", "1.0.0", f"{first}^")


def test_a_tag_off_the_first_parent_chain_proves_nothing(tmp_path: Path) -> None:
    """A commit on a merged branch (or one no branch has) may say a stage held a version
    that the main branch's history never shows: its tag is no proof, and check --base reads
    the whole history to find out, as a full check does."""
    root = with_policies(churn(tmp_path), {"production": {"from": "staging"}}).root
    git(root, "checkout", "--quiet", "-b", "side")
    edit(root, STAGES, "staging: 1.2.0", "staging: 1.1.0")
    git(root, "commit", "--quiet", "-am", "1.1.0 to staging, for a moment")
    git(root, "tag", "churn/staging/3")
    edit(root, STAGES, "staging: 1.1.0", "staging: 1.2.0")
    git(root, "commit", "--quiet", "-am", "Back")
    git(root, "checkout", "--quiet", "main")
    git(root, "merge", "--quiet", "--no-ff", "-m", "Merge side", "side")
    registry = Registry(root)
    head = registry.git.head()
    assert head is not None
    assert not recent.held_before(registry.git, registry.config.layout, "churn", "staging",
                                  "1.1.0", head)
    assert validate(root).ok
    git(root, "checkout", "--quiet", "-b", "pr")
    edit(root, STAGES, "production: 1.0.0", "production: 1.1.0")
    git(root, "commit", "--quiet", "-am", "Hand edit")
    full = _seen(root)
    assert any("must be in staging before production" in p[2] for p in full)
    assert _seen(root, "main") == full


def test_check_base_judges_a_gated_move_from_the_pull_request_and_the_tags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """production from staging: back to 1.0.0, which staging held long before the merge
    base (its tag proves it), is judged without reading the whole history; the same verdict
    as a full check, passing or not."""
    policies = {"production": {"from": "staging", "min_metrics": {"accuracy": 0.88}}}
    registry = with_policies(churn(tmp_path), policies)
    root = registry.root
    registry.promote("churn", "1.2.0", "production")
    git(root, "checkout", "--quiet", "-b", "pr")
    edit(root, STAGES, "production: 1.2.0", "production: 1.0.0")
    git(root, "commit", "--quiet", "-am", "Back to 1.0.0 by hand")
    scope = changed_since(Registry(root), "main")
    assert set(scope.recent) == {"churn"} and scope.recent["churn"][1] == {"production"}
    assert validate(root).ok
    with monkeypatch.context() as patch:
        _no_walk(patch)
        assert validate(root, base="main").ok
    # 1.1.0, put in staging too, fails the metric whatever history says: judged without it.
    edit(root, STAGES, "production: 1.0.0", "production: 1.1.0")
    edit(root, STAGES, "staging: 1.2.0", "staging: 1.1.0")
    full = _seen(root)
    assert full and all("accuracy" in p[2] for p in full)
    with monkeypatch.context() as patch:
        _no_walk(patch)
        assert _seen(root, "main") == full


def _hand(root: Path, stage: str, old: str, new: str) -> None:
    edit(root, STAGES, f"{stage}: {old}", f"{stage}: {new}")
    git(root, "commit", "--quiet", "-am", f"{stage}: {new}, by hand")


def test_a_version_never_in_staging_is_judged_from_its_registration_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No stage tag proves 1.1.0 was in staging: its registration tag says where its
    history starts, and the few changes of stages.yaml since are read, not the whole
    history (the pull request most often failing ``from``: a new version straight to
    production)."""
    registry = with_policies(churn(tmp_path), {"production": {"from": "staging"}})
    root = registry.root
    git(root, "checkout", "--quiet", "-b", "pr")
    _hand(root, "production", "1.0.0", "1.1.0")
    full = _seen(root)
    assert len(full) == 1 and "must be in staging before production" in next(iter(full))[2]
    with monkeypatch.context() as patch:
        _no_walk(patch)
        assert _seen(root, "main") == full


def test_a_hand_edit_of_staging_on_main_is_found_from_the_registration_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = with_policies(churn(tmp_path), {"production": {"from": "staging"}})
    root = registry.root
    _hand(root, "staging", "1.2.0", "1.1.0")  # no tag: a hand edit, merged
    _hand(root, "staging", "1.1.0", "1.2.0")
    git(root, "checkout", "--quiet", "-b", "pr")
    _hand(root, "production", "1.0.0", "1.1.0")
    _passes_without_the_whole_history(root, monkeypatch)


def _passes_without_the_whole_history(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full check passes, and check --base main too, without reading the whole history."""
    assert validate(root).ok, validate(root).problems
    with monkeypatch.context() as patch:
        _no_walk(patch)
        assert validate(root, base="main").ok


@pytest.mark.parametrize("tag", ["deleted", "moved", "on a branch"])
def test_a_registration_not_proved_by_its_tag_makes_check_base_read_the_whole_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tag: str,
) -> None:
    """The registration tag is only where to look: gone, on a commit that does not add the
    version's file, or off the first-parent chain, it proves nothing, and the whole
    history decides (a hold before it must count, as a full check counts it)."""
    registry = with_policies(churn(tmp_path), {"production": {"from": "staging"}})
    root = registry.root
    _hand(root, "staging", "1.2.0", "1.1.0")
    _hand(root, "staging", "1.1.0", "1.2.0")
    if tag == "deleted":
        git(root, "tag", "-d", "churn@v1.1.0")
    elif tag == "moved":
        git(root, "tag", "-f", "churn@v1.1.0", "HEAD")
    else:
        git(root, "checkout", "--quiet", "-b", "side", "churn@v1.1.0~1")
        git(root, "cherry-pick", "churn@v1.1.0")
        git(root, "tag", "-f", "churn@v1.1.0", "HEAD")
        git(root, "checkout", "--quiet", "main")
    head = registry.git.head()
    assert head is not None
    assert recent.held_since_registered(registry.git, registry.config.layout, "churn",
                                        "staging", "1.1.0", head) is None
    git(root, "checkout", "--quiet", "-b", "pr")
    _hand(root, "production", "1.0.0", "1.1.0")
    walked: list[str] = []
    events = History.events

    def counted(self: History, *args: object, **kwargs: object) -> object:
        walked.append("events")
        return events(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(History, "events", counted)
    assert validate(root, base="main").ok and walked


def test_a_stage_naming_a_version_before_its_registration_does_not_count_for_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """staging named 2.0.0 by hand before 2.0.0 was registered: no version of the registry
    was in staging then. A full check and check --base both say it never was."""
    registry = with_policies(churn(tmp_path), {"production": {"from": "staging"}})
    root = registry.root
    _hand(root, "staging", "1.2.0", "2.0.0")
    _hand(root, "staging", "2.0.0", "1.2.0")
    Registry(root).register("churn", root / "registry.yaml", version="2.0.0")
    git(root, "checkout", "--quiet", "-b", "pr")
    _hand(root, "production", "1.0.0", "2.0.0")
    full = _seen(root)
    assert [p[2].split(" (")[0] for p in full] == [
        "churn 2.0.0 must be in staging before production"]
    with monkeypatch.context() as patch:
        _no_walk(patch)
        assert _seen(root, "main") == full
    git(root, "checkout", "--quiet", "main")
    _hand(root, "staging", "1.2.0", "2.0.0")  # registered now: this one counts
    _hand(root, "staging", "2.0.0", "1.2.0")
    git(root, "checkout", "--quiet", "-b", "pr2")
    _hand(root, "production", "1.0.0", "2.0.0")
    _passes_without_the_whole_history(root, monkeypatch)


def test_a_hold_that_spans_the_registration_counts_for_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """staging named 2.0.0 before it was registered, and still did once it was: from its
    registration on, 2.0.0 was in staging. promote's gate, a full check, check --base and
    main's check after a squash all say so (found in review: the full check counted only
    entries after the registration, and failed main after check --base had passed)."""
    registry = with_policies(churn(tmp_path), {"production": {"from": "staging"}})
    root = registry.root
    _hand(root, "staging", "1.2.0", "2.0.0")
    Registry(root).register("churn", root / "registry.yaml", version="2.0.0")
    _hand(root, "staging", "2.0.0", "1.2.0")
    assert validate(root).ok
    git(root, "checkout", "--quiet", "-b", "pr")
    _hand(root, "production", "1.0.0", "2.0.0")
    _passes_without_the_whole_history(root, monkeypatch)
    git(root, "checkout", "--quiet", "main")
    git(root, "merge", "--quiet", "--squash", "pr")
    git(root, "commit", "--quiet", "-m", "Squashed")
    assert validate(root).ok
    git(root, "reset", "--quiet", "--hard", "HEAD~1")
    event = Registry(root).promote("churn", "2.0.0", "production")  # the gate agrees
    assert event.version == "2.0.0" and validate(root).ok


def test_a_hold_past_an_unreadable_registration_state_counts_for_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The commit that registers 2.0.0 has a stages.yaml that names another model (it
    reads as nothing); staging held 2.0.0 before and after it. From its registration on,
    2.0.0 was in staging, though no event shows it (found in the second review)."""
    registry = with_policies(churn(tmp_path), {"production": {"from": "staging"}})
    root = registry.root
    _hand(root, "staging", "1.2.0", "2.0.0")
    held = (root / STAGES).read_text()
    (root / STAGES).write_text(held.replace("model: churn", "model: other"))
    git(root, "commit", "--quiet", "-am", "Broken for a while")
    Registry(root).register("churn", root / "registry.yaml", version="2.0.0")
    (root / STAGES).write_text(held)
    git(root, "commit", "--quiet", "-am", "Fixed")
    _hand(root, "staging", "2.0.0", "1.2.0")
    git(root, "checkout", "--quiet", "-b", "pr")
    _hand(root, "production", "1.0.0", "2.0.0")
    assert validate(root).ok, validate(root).problems
    assert validate(root, base="main").ok
    git(root, "checkout", "--quiet", "main")
    assert Registry(root).promote("churn", "2.0.0", "production").version == "2.0.0"


def test_ci_event_of_a_promotion_reads_no_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = churn(tmp_path)
    registry.promote("churn", "1.2.0", "production")  # churn/production/2
    registry.rollback("churn", "production")  # churn/production/3: back to 1.0.0
    with monkeypatch.context() as patch:
        _no_walk(patch)
        assert ci.event(Registry(registry.root), "churn/production/2").action.value == "promote"
        # The rollback's claim is proved by churn/production/1, on the first-parent chain.
        said = ci.event(Registry(registry.root), "churn/production/3")
        assert (said.action.value, said.version) == ("rollback", "1.0.0")


def test_check_base_warns_of_uncommitted_changes_as_a_full_check_does(tmp_path: Path) -> None:
    """The warning comes from check --base's own diff against HEAD (no second read of git's
    index): none for what is committed, one for an edit, or for a commit an edit undid."""
    root = churn(tmp_path).root
    git(root, "checkout", "--quiet", "-b", "pr")
    edit(root, STAGES, "production: 1.0.0", "production: 1.2.0")
    git(root, "commit", "--quiet", "-am", "Hand edit")
    assert validate(root, base="main").warnings == validate(root).warnings == ()
    edit(root, STAGES, "production: 1.2.0", "production: 1.0.0")  # the commit undone
    (root / "models/churn/versions/notes.txt").write_text("untracked\n")
    full = validate(root).warnings
    assert len(full) == 1 and "uncommitted changes to models/churn/" in full[0]
    assert validate(root, base="main").warnings == full


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
def test_check_base_after_merging_the_base_branch_in(tmp_path: Path, version: str) -> None:
    """A pull request that merged main in (its merge base is then main's tip, off its
    first-parent chain): the merge's stage moves are its own, judged as a full check does."""
    registry = with_policies(churn(tmp_path), {"production": {"min_metrics": {"accuracy": 0.88}}})
    root = registry.root
    git(root, "checkout", "--quiet", "-b", "pr")
    git(root, "commit", "--quiet", "--allow-empty", "-m", "Start")
    git(root, "checkout", "--quiet", "main")
    Registry(root).promote("churn", "1.2.0", "production")
    git(root, "checkout", "--quiet", "pr")
    git(root, "merge", "--quiet", "--no-ff", "--no-edit", "main")
    assert _seen(root, "main") == _seen(root) == set()
    edit(root, STAGES, "production: 1.2.0", f"production: {version}")
    git(root, "commit", "--quiet", "-am", "Hand edit")
    full = _seen(root)
    assert bool(full) == (version == "1.1.0")
    assert _seen(root, "main") == full
