"""``gitreg site`` (issue 15): the static web view, built for a sample registry and opened in
headless Chromium (tests/browser.py), asserting what a person sees."""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser import open_page
from conftest import git, run_cli, snapshot, write_weights
from sample_registries import churn

from gitreg.core.forge import from_origin
from gitreg.core.records import Lineage
from gitreg.service import lifecycle, website
from gitreg.service.registry import NewVersion, Registry
from gitreg.service.site import collect

NOTHING = "\u2013"  # the en dash a page shows for an empty stage

# The steps added to the sample's history, each at its own (UTC) time, so the date picker
# has moments between events to answer for.
STEPS = [("2030-01-01T10:00:00", "promote", "1.2.0", "production"),
         ("2030-01-02T10:00:00", "rollback", None, "production"),
         ("2030-01-03T10:00:00", "promote", "1.3.0", "dev"),
         ("2030-01-04T10:00:00", "demote", None, "dev")]


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """churn (sample_registries) then: 1.2.0 to production, rolled back, 1.3.0 (whose
    description is markup) registered, to dev and demoted; origin on GitHub."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    registry = churn(tmp_path)
    for when, action, version, stage in STEPS:
        monkeypatch.setenv("GIT_COMMITTER_DATE", when + "Z")
        monkeypatch.setenv("GIT_AUTHOR_DATE", when + "Z")
        registry = Registry(registry.root)  # git's environment is read when a registry opens
        if action == "promote" and version == "1.3.0":
            weights = write_weights(tmp_path / "w13", b"weights 1.3.0\n" * 20)
            registry.register("churn", weights, version="1.3.0", info=NewVersion(
                metrics={"accuracy": 0.95, "latency_ms": 40},
                description='<script>alert("x")</script> & <b>bold</b>',
                lineage=Lineage(parent="1.2.0", depends_on=("churn@1.0.0",))))
            registry.promote("churn", "1.3.0", "dev")
        elif action == "promote":
            registry.promote("churn", str(version), stage)
        elif action == "rollback":
            registry.rollback("churn", stage)
        else:
            registry.demote("churn", stage)
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    monkeypatch.delenv("GIT_AUTHOR_DATE")
    git(registry.root, "remote", "add", "origin", "git@github.com:acme/models.git")
    return registry


class Dom(HTMLParser):
    """Elements with their attributes, text by element id, rows of tables by id."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.elements.append((tag, found))
        if tag == "table":
            self._table = found.get("id") or f"table-{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def having(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and cls in a.get("class", "").split()]


def build(registry: Registry, *args: str) -> Path:
    proc = run_cli("site", *args, cwd=registry.root, check=True)
    index = Path(proc.stdout.strip().splitlines()[-1])
    assert index.is_file() and index.name == "index.html"
    return index.parent


def test_pages_have_stable_urls_and_escape_registry_text(sample: Registry) -> None:
    site = build(sample)
    assert site == sample.root / "site"
    for rel in ("index.html", "audit.html", "models/churn/index.html",
                *(f"models/churn/{v}.html" for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0"))):
        assert (site / rel).is_file(), rel
    page = (site / "models/churn/1.3.0.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "<b>bold</b>" not in page
    # git-ignored by init, so the build leaves the work tree clean
    assert git(sample.root, "status", "--porcelain") == ""


def test_version_page_shows_lineage_weights_and_the_diffs(sample: Registry) -> None:
    site = build(sample)
    dom = Dom((site / "models/churn/1.3.0.html").read_text())
    links = {a["href"] for t, a in dom.elements if t == "a" and "href" in a}
    assert "1.2.0.html" in links  # parent
    assert "../../models/churn/1.0.0.html" in links  # depends_on
    record = sample.record("churn", "1.3.0")
    text = (site / "models/churn/1.3.0.html").read_text()
    assert record.artifact.md5 in text
    # the same numbers as `gitreg diff churn 1.2.0 1.3.0`
    diff = json.loads(run_cli("diff", "churn", "1.2.0", "1.3.0", "--format", "json",
                              cwd=sample.root, check=True).stdout)
    rows = {r[0]: r for r in next(t for t in dom.tables.values()
                                  if t and t[0][1:3] == ["1.2.0 (1.2.0)", "1.3.0 (1.3.0)"])}
    for metric in diff["metrics"]:
        assert rows[f"metric {metric['name']}"][3].startswith(f"{metric['delta']:+g}")
    # and against what production holds (1.0.0, after the rollback)
    assert any(t and t[0][1:3] == ["production (1.0.0)", "1.3.0 (1.3.0)"]
               for t in dom.tables.values())


def test_forge_links_from_origin_and_from_registry_yaml(sample: Registry) -> None:
    site = build(sample)
    head = git(sample.root, "rev-parse", "HEAD").strip()
    audit = (site / "audit.html").read_text()
    assert f'href="https://github.com/acme/models/commit/{head}"' in audit
    assert 'href="https://github.com/acme/models/releases/tag/churn%2Fdev%2F2"' in audit
    config = sample.root / "registry.yaml"
    config.write_text(config.read_text() + "site:\n  commit_url: https://git.example/c/{commit}\n")
    git(sample.root, "commit", "-qm", "Forge links", "registry.yaml")
    head = git(sample.root, "rev-parse", "HEAD").strip()
    assert f'href="https://git.example/c/{head}"' in (build(sample) / "index.html").read_text()


@pytest.mark.parametrize(("url", "commit"), [
    ("git@github.com:acme/models.git", "https://github.com/acme/models/commit/abc"),
    ("https://github.com/acme/models", "https://github.com/acme/models/commit/abc"),
    ("ssh://git@gitlab.com/grp/sub/models.git", "https://gitlab.com/grp/sub/models/-/commit/abc"),
    ("/srv/git/models.git", None),
    ("https://example.com/acme/models.git", None),
])
def test_forge_links_of_origin_urls(url: str, commit: str | None) -> None:
    links = from_origin(url)
    assert (links.commit_url("abc") if links else None) == commit


def test_a_javascript_link_template_is_refused(sample: Registry) -> None:
    config = sample.root / "registry.yaml"
    config.write_text(config.read_text() + "site:\n  commit_url: javascript:alert('{commit}')\n")
    proc = run_cli("site", cwd=sample.root)
    assert proc.returncode == 7
    assert proc.stderr.startswith("gitreg: error: registry.yaml: site.commit_url: expected an "
                                  "http(s) URL")
    assert not (sample.root / "site").exists()


def test_refuses_to_replace_a_folder_it_did_not_build(sample: Registry) -> None:
    other = sample.root.parent / "docs"
    (other / "keep.txt").parent.mkdir()
    (other / "keep.txt").write_text("mine")
    before = snapshot(sample.root)
    proc = run_cli("site", "-o", str(other), cwd=sample.root)
    assert proc.returncode == 5, proc.stderr
    assert proc.stderr.count("\n") == 1 and "-o PATH" in proc.stderr
    assert (other / "keep.txt").read_text() == "mine" and len(list(other.iterdir())) == 1
    assert snapshot(sample.root) == before
    # a site it built is replaced whole
    site = build(sample, "-o", str(sample.root.parent / "out"))
    (site / "stale.html").write_text("old")
    assert not (build(sample, "-o", str(site)) / "stale.html").exists()


def test_rev_builds_the_registry_as_a_revision_held_it(sample: Registry) -> None:
    site = build(sample, "--rev", "churn/production/1", "-o", str(sample.root.parent / "then"))
    dom = Dom((site / "index.html").read_text())
    row = dom.tables["models-table"][1]
    assert row[:4] == ["churn", NOTHING, "1.0.0", "1.0.0"]  # staging and production held 1.0.0
    assert not (site / "models/churn/1.3.0.html").exists()
    assert git(sample.root, "worktree", "list").count("\n") == 1  # its worktree is gone


def test_json_says_where_and_how_large(sample: Registry) -> None:
    data = json.loads(run_cli("site", "--json", cwd=sample.root, check=True).stdout)
    assert data["index"] == str(sample.root / "site" / "index.html")
    assert data["pages"] == 7 and data["largest"]["bytes"] == max(
        p.stat().st_size for p in (sample.root / "site").rglob("*.html"))


def test_api_build_site(sample: Registry, tmp_path: Path) -> None:
    from gitreg import ModelRegistry

    index = ModelRegistry(sample.root).build_site(tmp_path / "api-site", title="Churn models")
    assert index == tmp_path / "api-site" / "index.html"
    assert "<title>Models · Churn models</title>" in index.read_text()


# -- in a real browser ------------------------------------------------------------------


def test_model_page_in_a_browser(sample: Registry, tmp_path: Path) -> None:
    site = build(sample)
    page = open_page((site / "models/churn/index.html").as_uri(), tmp_path / "profile")
    assert page.console == () and page.requests == ()
    dom = Dom(page.dom)
    # one bar per stage holding, as history tells them: each promotion or rollback that put
    # a version in a stage starts one
    events = json.loads(run_cli("history", "churn", "--json", cwd=sample.root,
                                check=True).stdout)
    starts = [e for e in events if e["stage"] and e["version"]]
    bars = dom.having("rect", "holding")
    assert len(bars) == len(starts) == 6
    assert [(b["data-stage"], b["data-version"]) for b in bars] == \
        [(e["stage"], e["version"]) for e in starts]
    assert len(dom.having("rect", "rollback")) == 1
    # one trend point per version with the metric; the versions that reached production marked
    points = dom.having("circle", "point")
    assert len(points) == 2 * 4  # accuracy and latency_ms, four versions each
    assert {p["data-version"] for p in dom.having("circle", "reached")} == {"1.0.0", "1.2.0"}
    # the table alternative holds the same holdings
    assert len(dom.tables["holdings"]) - 1 == 6
    # the footer names the commit built from, through assets/build.js (not in the page's
    # bytes: a rebuild after a commit keeps the model and version pages it did not change)
    head = git(sample.root, "rev-parse", "HEAD").strip()
    assert (f'<a href="https://github.com/acme/models/commit/{head}" class="commit"><code>'
            f"{head[:12]}</code></a>") in page.dom
    assert head[:12] not in (site / "models/churn/index.html").read_text()


def test_sorting_and_filtering_in_a_browser(sample: Registry, tmp_path: Path) -> None:
    site = build(sample)
    page = open_page((site / "index.html").as_uri(), tmp_path / "profile")
    assert page.console == () and page.requests == ()
    assert [r[0] for r in Dom(page.dom).tables["models-table"][1:]] == ["churn"]
    # the versions table sorts on a header click (scripted here as a person would click)
    script = tmp_path / "sort.html"
    script.write_text((site / "models/churn/index.html").read_text().replace(
        "</body>", "<script>document.querySelector('#versions th:nth-child(6)').click();"
        "</script></body>").replace('"../../assets/', f'"{(site / "assets").as_uri()}/'))
    dom = Dom(open_page(script.as_uri(), tmp_path / "profile").dom)
    accuracy = [float(r[5]) for r in dom.tables["versions"][1:]]
    assert accuracy == sorted(accuracy) == [0.85, 0.9, 0.93, 0.95]


def _local(iso: str) -> str:
    return iso[:19]


def test_the_audit_date_picker_answers_like_which_at(sample: Registry, tmp_path: Path) -> None:
    site = build(sample)
    events = json.loads(run_cli("history", "churn", "--json", cwd=sample.root,
                                check=True).stdout)
    moments = sorted({"2020-01-01T00:00:00", *(_local(e["date"]) for e in events),
                      "2030-01-01T09:59:59", "2030-01-02T12:00:00", "2030-01-03T23:00:00",
                      "2031-01-01T00:00:00"})
    # One page load sets the picker to each moment in turn, as a person would, and notes
    # what the answer table then shows.
    probe = site / "audit-probe.html"
    probe.write_text((site / "audit.html").read_text().replace("</body>", (
        "<script>var out = {}, at = document.getElementById('at');"
        f"{json.dumps(moments)}.forEach(function (m) {{ at.value = m;"
        "at.dispatchEvent(new Event('change'));"
        "out[m] = Array.prototype.map.call(document.querySelectorAll('#at-answer tbody td'),"
        "function (c) { return c.textContent; }); });"
        "var pre = document.createElement('pre'); pre.id = 'answers';"
        "pre.textContent = JSON.stringify(out); document.body.appendChild(pre);</script>"
        "</body>")))
    page = open_page(probe.as_uri(), tmp_path / "profile")
    assert page.console == () and page.requests == ()
    shown = json.loads(re.search(r'<pre id="answers">(.*?)</pre>', page.dom, re.S)[1]
                       .replace("&quot;", '"'))
    for moment in moments:
        which = [", ".join(sample.which("churn", stage, at=moment)) or NOTHING
                 for stage in ("dev", "staging", "production")]
        assert shown[moment] == which, moment
    # and the CLI says the same as the API at a moment between events
    cli = json.loads(run_cli("which", "churn", "production", "--at", "2030-01-02T12:00:00",
                             "--json", cwd=sample.root, check=True).stdout)
    assert cli["versions"] == ["1.0.0"] and shown["2030-01-02T12:00:00"][2] == "1.0.0"
    # a link with the moment in its fragment opens with the answer
    linked = Dom(open_page(f"{(site / 'audit.html').as_uri()}#at=2030-01-01T12:00:00",
                           tmp_path / "profile").dom)
    assert linked.tables["at-answer"][1] == ["churn", NOTHING, "1.2.0", "1.2.0"]


def test_audit_lists_every_event_newest_first(sample: Registry, tmp_path: Path) -> None:
    site = build(sample)
    page = open_page((site / "audit.html").as_uri(), tmp_path / "profile")
    assert page.console == () and page.requests == ()
    rows = Dom(page.dom).tables["audit"][1:]
    events = json.loads(run_cli("history", "--json", cwd=sample.root, check=True).stdout)
    assert len(rows) == len(events)
    assert [r[0] for r in rows] == [e["date"][:19].replace("T", " ") for e in events][::-1]


def test_every_link_resolves_and_nothing_is_remote(sample: Registry) -> None:
    site = build(sample)
    for page in site.rglob("*.html"):
        dom = Dom(page.read_text())
        for tag, attrs in dom.elements:
            for key in ("href", "src"):
                target = attrs.get(key)
                if not target:
                    continue
                if re.match(r"https?://", target):
                    # only forge links, which a reader follows; nothing the page loads
                    assert tag == "a" and target.startswith("https://github.com/acme/models/")
                    continue
                path = (page.parent / target.partition("#")[0]).resolve()
                assert path.is_file(), f"{page.relative_to(site)}: {target}"


def test_the_browser_check_sees_a_remote_request_and_a_console_error(tmp_path: Path) -> None:
    """The two checks above can fail: a page that loads a font from a CDN and throws."""
    page = tmp_path / "bad.html"
    page.write_text('<!doctype html><link rel="stylesheet" href="https://fonts.googleapis.com/'
                    'css?family=Roboto"><script>undefinedFunction()</script>')
    seen = open_page(page.as_uri(), tmp_path / "profile")
    assert any("fonts.googleapis.com" in r for r in seen.requests)
    assert any("undefinedFunction" in c for c in seen.console)


def test_screenshots_of_every_kind_of_page_on_a_phone_and_a_wide_screen(
        sample: Registry, tmp_path: Path) -> None:
    """Saved for a person to look at: into $GITREG_SCREENSHOTS when it is set (a CI job can
    keep that folder as an artifact), else into this test's tmp_path/screenshots (pytest
    keeps the last three runs' folders)."""
    import os

    site = build(sample)
    shots = Path(os.environ.get("GITREG_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    pages = {"registry": "index.html", "model": "models/churn/index.html",
             "version": "models/churn/1.3.0.html", "audit": "audit.html"}
    for kind, rel in pages.items():
        for device, size in (("phone", "390,844"), ("wide", "1600,1000")):
            shot = shots / f"site-{kind}-{device}.png"
            open_page((site / rel).as_uri(), tmp_path / "profile", screenshot=shot, size=size)
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot
            assert shot.stat().st_size > 10_000, shot


def test_serve_answers_on_loopback(sample: Registry) -> None:
    import os
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "gitreg", "site", "--serve", "--port", "0"],
                            cwd=sample.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=os.environ.copy())
    try:
        assert proc.stdout is not None
        line = ""
        while not line.startswith("serving "):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
        url = line.split()[1]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as response:
            assert "churn" in response.read().decode()
        # a page of another site whose name resolves to 127.0.0.1 (DNS rebinding) is refused
        rebound = urllib.request.Request(url, headers={"Host": "attacker.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(rebound, timeout=10)
        assert refused.value.code == 403
    finally:
        proc.terminate()
        proc.wait(10)


def test_deprecated_versions_are_shown_as_such(sample: Registry, tmp_path: Path) -> None:
    """Issue 16: `list` hides a deprecated version; the site shows it, marked."""
    lifecycle.deprecate(sample, "churn", "1.0.0", reason="leaks <PII>", demote=True)
    site = build(sample)
    page = Dom((site / "models/churn/1.0.0.html").read_text())
    badge, = page.having("span", "deprecated")
    assert badge["title"] == "deprecated: leaks <PII>"
    assert "leaks &lt;PII&gt;" in (site / "models/churn/1.0.0.html").read_text()
    model = open_page((site / "models/churn/index.html").as_uri(), tmp_path / "profile")
    assert model.console == () and model.requests == ()
    dom = Dom(model.dom)
    rows = {r[0].split()[0]: r[0] for r in dom.tables["versions"][1:]}
    assert rows["1.0.0"] == "1.0.0 deprecated" and rows["1.2.0"] == "1.2.0"
    bars = dom.having("rect", "deprecated")
    assert bars and {b["data-version"] for b in bars} == {"1.0.0"}
    assert not Dom((site / "models/churn/1.2.0.html").read_text()).having("span", "deprecated")
    audit = Dom((site / "audit.html").read_text()).tables["audit"]
    assert [r[2] for r in audit[1:3]] == ["1.0.0 demoted from production", "1.0.0 deprecated"] \
        or [r[2] for r in audit[1:3]] == ["1.0.0 deprecated", "1.0.0 demoted from production"]
    # a model whose every version is deprecated is marked on the registry page
    lifecycle.deprecate(Registry(sample.root), "churn", None, reason="retired", demote=True)
    index = Dom((build(sample) / "index.html").read_text())
    assert index.tables["models-table"][1][0] == "churn deprecated"


def test_each_version_page_links_its_model_card(sample: Registry) -> None:
    site = build(sample)
    dom = Dom((site / "models/churn/1.3.0.html").read_text())
    assert any(t == "a" and a.get("href") == "1.3.0.model-card.md" for t, a in dom.elements)
    card = (site / "models/churn/1.3.0.model-card.md").read_text()
    exported = run_cli("export", "model-card", "churn@1.3.0", cwd=sample.root, check=True)
    assert card.strip() == exported.stdout.strip() and "accuracy" in card


# "split": the event index in files of about 200 bytes (AUDIT_CHUNK), as a registry whose
# events pass 1 MB has it: the filters see the same events.
@pytest.mark.parametrize("index", ["whole", "split"])
def test_audit_filters_search_every_event_not_only_the_page(
        sample: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index: str) -> None:
    monkeypatch.setattr(website, "PAGE_ROWS", 2)  # every event but two on later pages
    if index == "split":
        monkeypatch.setattr(website, "AUDIT_CHUNK", 200)
    site = website.build(collect(Registry(sample.root)), tmp_path / "site").index.parent
    assert (site / "audit-2.html").is_file()
    parts = sorted(p.name for p in site.glob("audit-events*.js"))
    assert (len(parts) > 3) == (index == "split"), parts
    assert all(p.stat().st_size < 1_000_000 for p in site.rglob("*") if p.is_file())
    probe = site / "audit-probe.html"
    probe.write_text((site / "audit.html").read_text().replace("</body>", (
        "<script>var out = {};"
        "function rows() { return Array.prototype.map.call("
        "document.querySelectorAll('#audit tbody tr'), function (r) {"
        "return [r.cells[0].textContent, r.cells[3].textContent, r.cells[7].textContent]; }); }"
        "var stage = document.getElementById('f-stage');"
        "stage.value = 'staging'; stage.dispatchEvent(new Event('change'));"
        "out.staging = rows(); out.count = document.getElementById('audit-count').textContent;"
        "var from = document.getElementById('f-from');"
        "from.value = '2030-01-02'; from.dispatchEvent(new Event('change'));"
        "out.late_staging = rows();"
        "stage.value = ''; stage.dispatchEvent(new Event('change'));"
        "out.late = rows();"
        "from.value = ''; from.dispatchEvent(new Event('change'));"
        "out.cleared = rows();"
        "var pre = document.createElement('pre'); pre.id = 'answers';"
        "pre.textContent = JSON.stringify(out); document.body.appendChild(pre);</script>"
        "</body>")))
    page = open_page(probe.as_uri(), tmp_path / "profile")
    assert page.console == () and page.requests == ()
    shown = json.loads(re.search(r'<pre id="answers">(.*?)</pre>', page.dom, re.S)[1]
                       .replace("&quot;", '"'))
    events = json.loads(run_cli("history", "--json", cwd=sample.root, check=True).stdout)[::-1]

    def expect(found: list[dict[str, str]]) -> list[list[str]]:
        return [[e["date"][:19].replace("T", " "), e["stage"] or "", e["tag"] or "no tag"]
                for e in found]

    staging = [e for e in events if e["stage"] == "staging"]
    assert staging and not any(e in events[:2] for e in staging)  # none on the first page
    assert shown["staging"] == expect(staging)
    assert shown["count"].startswith(f"{len(staging)} of {len(events)} events match")
    assert shown["late_staging"] == []  # staging changed before 2030
    assert shown["late"] == expect([e for e in events if e["date"][:10] >= "2030-01-02"])
    assert shown["cleared"] == expect(events[:2])  # the page's own rows again


def test_pages_rendered_in_worker_processes_are_the_same(sample: Registry,
                                                         tmp_path: Path) -> None:
    """From 2,000 versions on, model pages render in forked workers: the same bytes."""
    data = collect(Registry(sample.root))
    one = website.build(data, tmp_path / "one", workers=1).index.parent
    two = website.build(data, tmp_path / "two", workers=2).index.parent
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    assert all((one / f).read_bytes() == (two / f).read_bytes() for f in files)
    # A rebuild keeps the files of the pages that did not change (hard links to them).
    page = "models/churn/1.0.0.html"
    inode = (two / page).stat().st_ino
    again = website.build(data, tmp_path / "two", workers=2).index.parent
    assert (again / page).stat().st_ino == inode and (again / page).stat().st_nlink == 1
    assert (again / page).read_bytes() == (one / page).read_bytes()


def test_a_rebuild_after_a_commit_keeps_the_pages_it_did_not_change(
        sample: Registry, weights: Path) -> None:
    """The footer's commit comes from assets/build.js on model and version pages: a new
    commit changes the pages that show what changed, not all 10,000 (issue 15)."""
    site = build(sample)
    page = site / "models/churn/1.0.0.html"
    inode = page.stat().st_ino
    Registry(sample.root).register("fraud", weights, version="0.1.0")
    head = git(sample.root, "rev-parse", "HEAD").strip()
    again = build(sample)
    assert (again / "models/churn/1.0.0.html").stat().st_ino == inode
    assert head in (again / "assets/build.js").read_text()
    assert head[:12] in (again / "index.html").read_text()
    assert (again / "models/fraud/0.1.0.html").exists()


def test_diff_table_rows_and_escaping() -> None:
    """The version page's diff tables (website/difftable.py, a Jinja macro before issue 15's
    speed pass): one row per change, every registry string escaped."""
    import dataclasses

    from test_diff import NEW, OLD

    from gitreg.core.diff import diff_records
    from gitreg.service.website.difftable import diff_table

    new = dataclasses.replace(NEW, model_type="<b>GB", features=("age", "<i>x"),
                              hyperparameters={**NEW.hyperparameters, "k<": 'v&"'})
    d = diff_records(OLD, new, a="prod<")
    html = str(diff_table(d, "Against <x> 1.0.0"))
    assert "<caption>Against &lt;x&gt; 1.0.0</caption>" in html
    assert "prod&lt; (1.0.0)" in html and "<b>" not in html and "<i>" not in html
    assert '<td class="verdict-better">+0.02 better</td>' in html
    assert '<th scope="row">param k&lt;</th><td></td><td>v&amp;&#34;</td><td>added</td>' in html
    assert '<th scope="row">feature &lt;i&gt;x</th><td></td><td>&lt;i&gt;x</td><td>added' in html
    assert "<td>RandomForest</td><td>&lt;b&gt;GB</td><td>changed</td>" in html
    assert html.count("<tr>") == 1 + len(d.metrics) + len(d.hyperparameters) + len(
        d.features_added) + len(d.features_removed) + 1 + len(d.lineage) + 1  # head, weights


# -- bad input: one line, a documented exit code, nothing changed --------------------------


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--rev", "nope"], 4, "unknown git revision 'nope'"),
    # a range names two commits, not the one a site is built from
    (["--rev", "HEAD~1..HEAD"], 4, "unknown git revision 'HEAD~1..HEAD'"),
    (["--rev", "HEAD:registry.yaml"], 4, "unknown git revision"),
    (["-o", "{file}/site"], 3, "cannot write the site to"),
    (["-o", "/proc/gitreg-site"], 3, "cannot write the site to /proc/gitreg-site"),
    (["--serve", "--port", "70000"], 3, "--port: expected 0 to 65535"),
    (["--serve", "--port", "-1"], 3, "--port: expected 0 to 65535"),
    (["--serve", "--port", "{busy}"], 3, "cannot serve on 127.0.0.1:"),
])
def test_bad_input_is_one_line_and_changes_nothing(
        sample: Registry, args: list[str], code: int, says: str) -> None:
    import socket

    keep = sample.root.parent / "keep.txt"
    keep.write_text("mine")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = str(busy.getsockname()[1])
    args = [a.replace("{file}", str(keep)).replace("{busy}", port) for a in args]
    before = snapshot(sample.root)
    try:
        proc = run_cli("site", *args, cwd=sample.root)
    finally:
        busy.close()
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith("gitreg: error: ") and proc.stderr.count("\n") == 1, \
        proc.stderr
    assert says in proc.stderr and proc.stdout == ""
    # no site written (a port in use is found before the build), the registry as it was
    assert not (sample.root / "site").exists() and snapshot(sample.root) == before
    assert keep.read_text() == "mine"
    assert git(sample.root, "worktree", "list").count("\n") == 1


def test_which_and_check_refuse_a_range_as_a_revision(sample: Registry) -> None:
    """git rev-parse answers a range with two lines: not one commit (git/runner.resolve)."""
    proc = run_cli("which", "churn", "production", "--rev", "HEAD~2..HEAD", cwd=sample.root)
    assert proc.returncode == 4 and "unknown git revision" in proc.stderr, proc.stderr


def test_serve_with_json_keeps_stdout_json(sample: Registry) -> None:
    """With --json, stdout is the JSON alone; the serving line goes to stderr."""
    import os
    import select
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "gitreg", "site", "--json", "--serve",
                             "--port", "0"], cwd=sample.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert proc.stderr is not None
        ready, _, _ = select.select([proc.stderr], [], [], 60)  # never hang on a wrong stream
        line = proc.stderr.readline() if ready else ""
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert line.startswith("serving http://127.0.0.1:"), (line, out)
    assert json.loads(out)["pages"] == 7


# -- what a person sees, checked again as a new user met it ---------------------------------


def test_extreme_metric_values_draw_finite_charts(sample: Registry, tmp_path: Path) -> None:
    """A cloned registry's metrics may span the whole float range: the charts' coordinates
    stay numbers (NaN would be a console error and a broken line)."""
    for version, value in (("1.0.0", "1.0e+308"), ("1.1.0", "-1.0e+308"), ("1.2.0", "1.0e+308")):
        path = sample.root / f"models/churn/versions/{version}.yaml"
        path.write_text(re.sub(r"accuracy: .*", f"accuracy: {value}", path.read_text()))
    site = build(sample)
    for rel in ("index.html", "models/churn/index.html"):
        assert "nan" not in (site / rel).read_text().lower(), rel
        page = open_page((site / rel).as_uri(), tmp_path / "profile")
        assert page.console == () and page.requests == (), rel


def test_diff_against_production_says_what_gitreg_diff_says(sample: Registry) -> None:
    """The version page's diff against production carries the policy verdict and the
    deprecations, as `gitreg diff NAME production VERSION` does."""
    from sample_registries import with_policies

    registry = with_policies(sample, {"production": {"min_metrics": {"accuracy": 0.99}}})
    lifecycle.deprecate(registry, "churn", "1.1.0", reason="leaks <PII>")
    site = build(registry)
    cli = json.loads(run_cli("diff", "churn", "production", "1.3.0", "--format", "json",
                             cwd=sample.root, check=True).stdout)
    problems = cli["policy"]["problems"]
    assert problems and cli["policy"]["applies"] == "policies.production"
    dom = Dom((site / "models/churn/1.3.0.html").read_text())
    table = next(t for t in dom.tables.values() if t and t[0][1] == "production (1.0.0)")
    policy = next(r for r in table if r[0] == "policy")
    assert policy[1] == f"policies.production, for 1.3.0 in production: refuses it: " \
        f"{'; '.join(problems)}"
    # the version before 1.2.0 is deprecated: its page's first diff says so, as diff does
    dom = Dom((site / "models/churn/1.2.0.html").read_text())
    table = next(t for t in dom.tables.values() if t and t[0][1] == "1.1.0 (1.1.0)")
    assert ["deprecated", "leaks <PII>", "", ""] in table
    assert "leaks &lt;PII&gt;" in (site / "models/churn/1.2.0.html").read_text()


def test_timeline_names_who_ended_each_holding(sample: Registry) -> None:
    """A demotion marks the end of a bar: the table beneath says when, who and its tag, as
    for the promotions and rollbacks that start bars."""
    site = build(sample)
    dom = Dom((site / "models/churn/index.html").read_text())
    events = json.loads(run_cli("history", "churn", "--json", cwd=sample.root,
                                check=True).stdout)
    demotion = next(e for e in events if e["action"] == "demote")
    row = next(r for r in dom.tables["holdings"][1:] if r[0] == "dev")
    assert demotion["date"][:19].replace("T", " ") in row[-1]
    assert "demoted" in row[-1] and demotion["author"] in row[-1] and demotion["tag"] in row[-1]
    # each bar's own text names how it started and ended, with the tags
    text = (site / "models/churn/index.html").read_text()
    assert f"until {demotion['date'][:19].replace('T', ' ')} (demoted by " in text


def test_charts_stay_readable_on_a_phone(sample: Registry, tmp_path: Path) -> None:
    """On a 390 px wide screen the charts keep a readable size (they scroll sideways)
    rather than shrink their 12 px labels to 6 px."""
    site = build(sample)
    probe = site / "models/churn/probe.html"
    probe.write_text((site / "models/churn/index.html").read_text().replace("</body>", (
        "<script>var pre = document.createElement('pre'); pre.id = 'answers';"
        "pre.textContent = JSON.stringify(Array.prototype.map.call("
        "document.querySelectorAll('svg.timeline, svg.trend'), function (s) {"
        "return s.getBoundingClientRect().width; }));"
        "document.body.appendChild(pre);</script></body>")))
    page = open_page(probe.as_uri(), tmp_path / "profile", size="390,844")
    widths = json.loads(re.search(r'<pre id="answers">(.*?)</pre>', page.dom, re.S)[1])
    assert widths and all(w * 12 / 720 >= 9 for w in widths), widths  # 12 px text: >= 9 px


def test_the_screenshot_script_makes_the_readme_images(tmp_path: Path) -> None:
    """scripts/screenshots.py makes docs/site-model.png and docs/site-audit.png (README)."""
    import subprocess
    import sys

    from browser import chromium

    chromium()
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    names = re.findall(r"\]\(docs/(site-[a-z]+\.png)\)", readme)
    assert len(names) == 2 and all((root / "docs" / n).is_file() for n in names)
    proc = subprocess.run([sys.executable, str(root / "scripts" / "screenshots.py"),
                           "--out", str(tmp_path)], capture_output=True, text=True,
                          check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_default_site_is_the_registrys_from_any_folder_in_it(sample: Registry) -> None:
    """Run from models/churn, `gitreg site` writes the registry's site/ (git-ignored by
    init), as git's commands work from any folder; not models/churn/site, which `check`
    then reported as uncommitted files. The API's default is the same folder."""
    from gitreg import ModelRegistry

    proc = run_cli("site", cwd=sample.root / "models" / "churn", check=True)
    assert proc.stdout.splitlines()[-1] == str(sample.root / "site" / "index.html")
    assert git(sample.root, "status", "--porcelain") == ""
    assert ModelRegistry(sample.root).build_site() == sample.root / "site" / "index.html"


def test_versions_held_together_get_their_own_lanes(sample: Registry) -> None:
    """In a non-exclusive stage two versions hold it at once: their bars sit one above the
    other in the stage's row, not one over the other (which hid the first)."""
    config = sample.root / "registry.yaml"
    config.write_text(re.sub(r"(- name: dev\n\s+exclusive:) true", r"\1 false",
                             config.read_text()))
    git(sample.root, "commit", "-qm", "dev holds several versions", "registry.yaml")
    registry = Registry(sample.root)
    registry.promote("churn", "1.2.0", "dev")
    registry.promote("churn", "1.3.0", "dev")
    assert registry.which("churn", "dev") == ("1.2.0", "1.3.0")
    site = build(registry)
    bars = Dom((site / "models/churn/index.html").read_text()).having("rect", "holding")

    def box(bar: dict[str, str]) -> tuple[float, float, float, float]:
        x, y = float(bar["x"]), float(bar["y"])
        return x, x + float(bar["width"]), y, y + float(bar["height"])

    for i, a in enumerate(bars):
        for b in bars[i + 1:]:
            (ax1, ax2, ay1, ay2), (bx1, bx2, by1, by2) = box(a), box(b)
            overlap = ax1 < bx2 and bx1 < ax2 and ay1 < by2 and by1 < ay2
            assert not overlap, (a["data-stage"], a["data-version"], b["data-version"])
    held = [b for b in bars if b["data-stage"] == "dev"]
    assert len(held) == 3  # 1.3.0 (demoted), then 1.2.0 and 1.3.0 together
    assert len({box(b)[2] for b in held}) == 2  # two lanes


def test_the_site_asks_github_pages_not_to_run_jekyll(sample: Registry) -> None:
    """Published from a branch, GitHub Pages runs Jekyll, which renders a file with front
    matter (each model card) as HTML with its markup live: a version's description would
    run as script on the Pages site. .nojekyll turns that off."""
    site = build(sample)
    card = (site / "models/churn/1.3.0.model-card.md").read_text()
    assert card.startswith("---\n") and "<script>" in card  # what Jekyll would render
    assert (site / ".nojekyll").is_file()


def test_a_symbolic_link_as_the_output_is_refused(sample: Registry) -> None:
    """A cloned registry may commit site/ as a link to a folder elsewhere: building over it
    failed with a traceback and left the link behind under another name."""
    target = sample.root.parent / "elsewhere"
    target.mkdir()
    (sample.root / "site").symlink_to(target)
    proc = run_cli("site", cwd=sample.root)
    assert proc.returncode == 5, proc.stderr
    assert proc.stderr.count("\n") == 1 and "is a symbolic link" in proc.stderr
    assert (sample.root / "site").is_symlink() and not any(target.iterdir())
    assert sorted(p.name for p in sample.root.iterdir() if "gitreg-site" in p.name) == []
