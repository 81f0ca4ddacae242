// gitreg site: table filters and sorting, and the audit page's "which --at" picker.
// Everything works from the site's own files; nothing is fetched (the audit index is a
// script the audit pages load, as a page opened from a folder cannot fetch JSON).
"use strict";
(function () {
  function text(cell) { return cell ? cell.textContent.trim() : ""; }

  // The commit the site was built from, in the footer of the model and version pages
  // (assets/build.js names it, so that these pages stay the same from commit to commit).
  var stamp = document.querySelector("[data-build-commit]");
  var build = window.gitregBuild;
  if (stamp && build && build.commit) {
    var code = document.createElement("code");
    code.textContent = build.commit.slice(0, 12);
    var shown = code;
    if (build.url) {
      shown = document.createElement("a");
      shown.href = build.url;
      shown.className = "commit";
      shown.appendChild(code);
    } else {
      code.className = "commit";
    }
    stamp.replaceChildren(shown);
  }

  // A search box filters the rows of its table by text.
  document.querySelectorAll("input[data-filter]").forEach(function (box) {
    var table = document.getElementById(box.dataset.filter);
    box.addEventListener("input", function () {
      var q = box.value.toLowerCase();
      table.querySelectorAll("tbody tr").forEach(function (row) {
        row.hidden = q !== "" && row.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });

  // Sortable tables: click (or Enter on) a header.
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, col) {
      th.classList.add("sortable-col");
      th.tabIndex = 0;
      function sort() {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach(function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = text(a.cells[col]), y = text(b.cells[col]);
          var nx = parseFloat(x), ny = parseFloat(y);
          var c = (!isNaN(nx) && !isNaN(ny) && /^[-\d.e+]+$/.test(x) && /^[-\d.e+]+$/.test(y))
            ? nx - ny : x.localeCompare(y, undefined, {numeric: true});
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
    });
  });

  // Audit filters: model, stage, person (exact) and a date range, over every event: the
  // index of audit-events.js (window.gitregAudit), not only the rows of this page.
  var audit = document.getElementById("audit");
  var filters = document.querySelectorAll("form.filters [data-col]");
  var index = window.gitregAudit;
  var SHOWN = 500;
  function link(template, key, value, cls) {
    var code = document.createElement("code");
    code.textContent = cls === "commit" ? value.slice(0, 12) : value;
    if (!template) { code.className = cls; return code; }
    var a = document.createElement("a");
    a.className = cls;
    a.href = template.replace(key, encodeURIComponent(value).replace(/[!'()*]/g, function (c) {
      return "%" + c.charCodeAt(0).toString(16).toUpperCase();
    }));
    a.appendChild(code);
    return a;
  }
  function eventRow(e) {
    // [when, model, what, stage, person, reason, commit, tag]
    var row = document.createElement("tr");
    var model = index.models[e[1]];
    [e[0], null, e[2], e[3], index.people[e[4]], e[5]].forEach(function (value, col) {
      var cell = row.insertCell();
      if (col === 1) {
        var a = document.createElement("a");
        a.href = "models/" + encodeURIComponent(model) + "/index.html";
        a.textContent = model;
        cell.appendChild(a);
      } else {
        cell.textContent = value;
      }
    });
    row.insertCell().appendChild(e[6] ? link(index.commit_url, "{commit}", e[6], "commit")
                                      : document.createTextNode("-"));
    var tag = row.insertCell();
    if (e[7]) { tag.appendChild(link(index.tag_url, "{tag}", e[7], "tag")); }
    else { tag.innerHTML = '<span class="muted">no tag</span>'; }
    return row;
  }
  if (audit && index) {
    var auditBody = audit.tBodies[0];
    var pageRows = Array.prototype.slice.call(auditBody.rows);
    var count = document.getElementById("audit-count");
    var all = count.textContent;
    var more = document.getElementById("audit-more");
    var pagers = document.querySelectorAll(".pager");
    var matches = [], limit = SHOWN;
    var show = function () {
      auditBody.textContent = "";
      matches.slice(0, limit).forEach(function (e) { auditBody.appendChild(eventRow(e)); });
      more.hidden = matches.length <= limit;
      count.textContent = matches.length + " of " + index.events.length + " events match" +
        (matches.length > limit ? "; showing the newest " + limit + "." : ".");
    };
    var applyFilters = function () {
      var want = {}, any = false;
      filters.forEach(function (f) {
        want[f.dataset.op || f.dataset.col] = f.value;
        any = any || f.value !== "";
      });
      pagers.forEach(function (p) { p.hidden = any; });
      if (!any) {
        auditBody.textContent = "";
        pageRows.forEach(function (r) { auditBody.appendChild(r); });
        count.textContent = all;
        more.hidden = true;
        return;
      }
      matches = index.events.filter(function (e) {
        var day = e[0].slice(0, 10);
        return (!want["1"] || index.models[e[1]] === want["1"]) &&
          (!want["3"] || e[3] === want["3"]) &&
          (!want["4"] || index.people[e[4]] === want["4"]) &&
          (!want.from || day >= want.from) && (!want.to || day <= want.to);
      });
      limit = SHOWN;
      show();
    };
    more.addEventListener("click", function () { limit += SHOWN; show(); });
    filters.forEach(function (f) {
      f.addEventListener("input", applyFilters);
      f.addEventListener("change", applyFilters);
    });
  }

  // What each stage held at a moment: the holdings [start, end or null, version] in
  // seconds since the epoch, held when start <= t < end (as `which --at` reads history).
  var data = document.getElementById("holdings-data");
  var at = document.getElementById("at");
  if (data && at) {
    var holdings = JSON.parse(data.textContent);
    var which = document.getElementById("at-model");
    var body = document.querySelector("#at-answer tbody");
    function answer() {
      body.textContent = "";
      if (!at.value) { return; }
      var t = new Date(at.value).getTime() / 1000;
      Object.keys(holdings.models).forEach(function (name) {
        if (which.value && which.value !== name) { return; }
        var row = body.insertRow();
        var th = document.createElement("th");
        th.scope = "row";
        th.textContent = name;
        row.appendChild(th);
        holdings.stages.forEach(function (stage) {
          var held = (holdings.models[name][stage] || []).filter(function (h) {
            return h[0] <= t && (h[1] === null || t < h[1]);
          }).map(function (h) { return h[2]; });
          var cell = row.insertCell();
          cell.dataset.stage = stage;
          cell.textContent = held.length ? held.join(", ") : "–";
        });
      });
    }
    at.addEventListener("input", answer);
    at.addEventListener("change", answer);
    which.addEventListener("change", answer);
    if (location.hash.indexOf("#at=") === 0) {
      at.value = decodeURIComponent(location.hash.slice(4));
      answer();
    }
  }
}());
