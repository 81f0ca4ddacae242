// gitreg site: table filters and sorting, and the audit page's "which --at" picker.
// Everything works from the page itself; nothing is fetched.
"use strict";
(function () {
  function text(cell) { return cell ? cell.textContent.trim() : ""; }

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

  // Audit filters: model, stage, person (exact) and a date range on the first column.
  var audit = document.getElementById("audit");
  var filters = document.querySelectorAll("form.filters [data-col]");
  function applyFilters() {
    audit.querySelectorAll("tbody tr").forEach(function (row) {
      var show = true;
      filters.forEach(function (f) {
        if (!f.value) { return; }
        var cell = text(row.cells[+f.dataset.col]);
        if (f.dataset.op === "from") { show = show && cell.slice(0, 10) >= f.value; }
        else if (f.dataset.op === "to") { show = show && cell.slice(0, 10) <= f.value; }
        else { show = show && cell === f.value; }
      });
      row.hidden = !show;
    });
  }
  filters.forEach(function (f) { f.addEventListener("input", applyFilters); f.addEventListener("change", applyFilters); });

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
