"""A version page's diff tables (what ``gitreg diff`` shows) as HTML, written in Python.

It was a Jinja macro; a macro call costs a new frame and context, and at 10,000 versions
the two tables of every version page were a third of its rendering (issue 15). The output
is the macro's, byte for byte; every value is escaped (registry text is untrusted).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from gitreg.core.diff import VersionDiff


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _cell(value: Any) -> Markup:
    return escape("" if value is None else value)


def diff_table(d: VersionDiff, caption: str) -> Markup:
    """The table of ``d`` under ``caption``: the sides' deprecations, metrics, parameters,
    features, model type, lineage and weights, each row with both sides and the change, and
    the verdict of the policy when ``d`` has one (``gitreg diff``'s lines, as rows)."""
    rows = [
        '<div class="scroll"><table class="diff">\n'
        f"<caption>{escape(caption)}</caption>\n"
        f'<thead><tr><th scope="col">What</th><th scope="col">{escape(d.a)} '
        f'({escape(d.old.version)})</th><th scope="col">{escape(d.b)} '
        f'({escape(d.new.version)})</th><th scope="col">Change</th></tr></thead>\n<tbody>\n'
    ]
    if any(d.deprecated):  # gitreg diff's "X is deprecated: why" lines
        old_why, new_why = (_cell(why) for why in d.deprecated)
        rows.append(f'<tr><th scope="row">deprecated</th><td>{old_why}</td><td>{new_why}</td>'
                    "<td></td></tr>")
    for m in d.metrics:
        old = "" if m.old is None else escape(_number(m.old))
        new = "" if m.new is None else escape(_number(m.new))
        delta = "" if m.delta is None else f"{m.delta:+g} "
        verdict = escape(m.verdict.value)
        rows.append(f'<tr><th scope="row">metric {escape(m.name)}</th><td class="num">{old}'
                    f'</td><td class="num">{new}</td><td class="verdict-{verdict}">{delta}'
                    f"{verdict}</td></tr>")
    for c in d.hyperparameters:
        rows.append(f'<tr><th scope="row">param {escape(c.key)}</th><td>{_cell(c.old)}</td>'
                    f"<td>{_cell(c.new)}</td><td>{escape(c.kind.value)}</td></tr>")
    for f in d.features_added:
        rows.append(f'<tr><th scope="row">feature {escape(f)}</th><td></td><td>{escape(f)}'
                    "</td><td>added</td></tr>")
    for f in d.features_removed:
        rows.append(f'<tr><th scope="row">feature {escape(f)}</th><td>{escape(f)}</td>'
                    "<td></td><td>removed</td></tr>")
    if d.model_type:
        t = d.model_type
        rows.append(f'<tr><th scope="row">model type</th><td>{escape(t.old or "")}</td>'
                    f'<td>{escape(t.new or "")}</td><td>{escape(t.kind.value)}</td></tr>')
    for c in d.lineage:
        rows.append(f'<tr><th scope="row">lineage {escape(c.key)}</th><td>{_cell(c.old)}</td>'
                    f"<td>{_cell(c.new)}</td><td>{escape(c.kind.value)}</td></tr>")
    rows.append(
        f'<tr><th scope="row">weights</th><td><code>{escape(d.old.artifact.md5)}</code></td>'
        f"<td><code>{escape(d.new.artifact.md5)}</code></td>"
        f'<td>{"changed" if d.weights_changed else "same"}</td></tr>')
    gate = d.gate
    if gate is not None:  # gitreg diff's "policy:" line, in its words
        judged = ("holds it already" if gate.held else
                  "refuses it: " + "; ".join(gate.problems) if gate.problems else "passes")
        rows.append(f'<tr><th scope="row">policy</th><td colspan="3" class="verdict-'
                    f'{"worse" if gate.problems else "better"}">{escape(gate.policy)}, for '
                    f"{escape(gate.version)} in {escape(gate.stage)}: {escape(judged)}"
                    "</td></tr>")
    rows.append("\n</tbody></table></div>\n")
    return Markup("".join(rows))
