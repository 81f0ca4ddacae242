"""Property: with random histories of promotions, forced ones, rollbacks, hand edits of
``stages.yaml`` under forged trailers and edits of version files, ``gitreg check`` says
exactly what a reference model of the gate says (issue 12). Derandomized, 40 examples of
up to five steps: about 20 s.

The reference model knows, for ``production`` (policy: ``accuracy >= 0.88``), which
versions it has ever held and how each came in. A version may stay there if it passes the
policy, came back by a rollback to a hold that passed (only to a version production held
before, whatever a trailer claims; a hold that came in past the policy launders nothing), or
was forced in with a reason (then check gives a notice). A version file whose metrics
changed after registration fails check from then on.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import git
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_registries import churn, edit, with_policies

from gitreg.errors import Conflict, PolicyViolation
from gitreg.service.check import validate
from gitreg.service.registry import Registry

STAGES = "models/churn/stages.yaml"
FLOOR = 0.88
VERSIONS = ("1.0.0", "1.1.0", "1.2.0")
TRAILERS = {  # what a hand-written commit message may claim
    "none": "",
    "rollback": "Gitreg-Action: rollback\nGitreg-Model: churn\nGitreg-Stage: production",
    "forced": "Gitreg-Action: promote\nGitreg-Stage: production\nGitreg-Reason: trust me",
    "promote": "Gitreg-Action: promote\nGitreg-Stage: production",
}

version = st.sampled_from(VERSIONS)
hand_edit = st.tuples(st.just("edit"), version, st.sampled_from(sorted(TRAILERS)))
step = st.one_of(  # hand edits, the way around gates, three times as often as the rest
    st.tuples(st.just("promote"), version, st.booleans()),
    st.tuples(st.just("rollback"), version),
    hand_edit, hand_edit, hand_edit,
    st.tuples(st.just("tamper"), version),
)


@dataclass
class Model:
    """What production may hold, and why; the reference ``check`` is compared with."""

    accuracy: dict[str, float] = field(default_factory=lambda: {
        "1.0.0": 0.90, "1.1.0": 0.85, "1.2.0": 0.93})
    current: str = "1.0.0"
    held: set[str] = field(default_factory=lambda: {"1.0.0"})
    # How each version came into production, in order: "promote", "forced" or "rollback".
    entries: list[tuple[str, str]] = field(default_factory=lambda: [("1.0.0", "promote")])
    tampered: bool = False

    def passes(self, v: str) -> bool:
        return self.accuracy[v] >= FLOOR

    def enter(self, v: str, *, rollback: bool = False, forced: bool = False) -> None:
        self.current = v
        self.held.add(v)
        self.entries.append((v, "rollback" if rollback else "forced" if forced else "promote"))

    def _last(self) -> tuple[bool, str]:
        """Whether the current version's entry passed, and how it came in: each entry
        judged by today's numbers; a rollback passes if a hold of its version did."""
        passed: set[str] = set()
        ok, kind = True, "promote"
        for v, kind in self.entries:
            ok = v in passed if kind == "rollback" else self.passes(v) or kind == "forced"
            if ok:
                passed.add(v)
        return ok, kind

    def gate_holds(self) -> bool:
        return self._last()[0]

    def notice(self) -> bool:
        return self._last()[1] == "forced" and not self.passes(self.current)


def _apply(registry: Registry, model: Model, op: tuple[object, ...]) -> None:
    root = registry.root
    kind, v = op[0], str(op[1])
    if kind == "promote":
        force = bool(op[2])
        try:
            registry.promote("churn", v, "production", force=force,
                             reason="on call" if force else None)
        except Conflict:
            assert v == model.current
            return
        except PolicyViolation:
            assert not force and not model.passes(v)
            return
        assert model.passes(v) or force
        model.enter(v, forced=force)
    elif kind == "rollback":
        try:
            registry.rollback("churn", "production", to=v)
        except Conflict:
            assert v == model.current
            return
        except PolicyViolation:
            assert v not in model.held
            return
        assert v in model.held
        model.enter(v, rollback=True)
    elif kind == "edit":
        if v == model.current:
            return
        trailer = TRAILERS[str(op[2])]
        edit(root, STAGES, f"production: {model.current}", f"production: {v}")
        git(root, "commit", "--quiet", "-am", f"Hand edit\n\n{trailer}".rstrip())
        model.enter(v, rollback=op[2] == "rollback" and v in model.held,
                    forced=op[2] == "forced")
    elif model.accuracy[v] != 0.99:  # tamper: better numbers in a registered version file
        rel = f"models/churn/versions/{v}.yaml"
        edit(root, rel, f"accuracy: {model.accuracy[v]}", "accuracy: 0.99")
        git(root, "commit", "--quiet", "-am", f"Fix the numbers of {v}")
        model.accuracy[v] = 0.99
        model.tampered = True


_RUNS = itertools.count()


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=2, max_size=5))
def test_check_agrees_with_the_reference_gate(tmp_path: Path,
                                              steps: list[tuple[object, ...]]) -> None:
    run = tmp_path / f"run{next(_RUNS)}"
    run.mkdir()
    registry = with_policies(churn(run), {"production": {"min_metrics": {"accuracy": FLOOR}}})
    model = Model()
    for op in steps:
        _apply(registry, model, op)
        report = validate(registry.root)
        assert registry.which("churn", "production") == (model.current,)
        gate = [p for p in report.problems if p.file == STAGES]
        edited = [p for p in report.problems if p.file != STAGES]
        assert (not gate) == model.gate_holds(), (op, report.problems)
        assert bool(edited) == model.tampered, (op, report.problems)
        assert all(p.key == "metrics.accuracy" and " in commit " in p.message for p in edited)
        assert bool(report.notices) == model.notice(), (op, report.notices)


@pytest.mark.parametrize("trailer", sorted(TRAILERS))
def test_a_forged_trailer_alone_never_makes_a_failing_version_pass_silently(
    tmp_path: Path, trailer: str,
) -> None:
    """The example the issue reported, for every trailer: 1.1.0 put in production by hand."""
    registry = with_policies(churn(tmp_path), {"production": {"min_metrics": {"accuracy": FLOOR}}})
    model = Model()
    _apply(registry, model, ("edit", "1.1.0", trailer))
    report = validate(registry.root)
    assert (report.ok, bool(report.notices)) == ((False, False) if trailer != "forced"
                                                 else (True, True))
