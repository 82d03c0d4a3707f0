// Filters for the control table and the control details. The page is complete without it.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  if (!form) { return; }
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-filter-item]"));
  var count = document.getElementById("filter-count");
  function checked(name) {
    return Array.prototype.slice.call(form.querySelectorAll("input[name=" + name + "]"))
      .filter(function (box) { return box.checked; })
      .map(function (box) { return box.value; });
  }
  function apply() {
    var statuses = checked("status");
    var severities = checked("severity");
    var allSeverities = form.querySelectorAll("input[name=severity]").length === severities.length;
    var pack = form.elements.namedItem("pack").value;
    var text = form.elements.namedItem("q").value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var d = row.dataset;
      var ok = statuses.indexOf(d.status) >= 0 &&
        (allSeverities || severities.indexOf(d.severity) >= 0) &&
        (!pack || d.pack === pack) &&
        (!text || d.search.indexOf(text) >= 0);
      row.hidden = !ok;
      var detail = document.getElementById(d.target);
      if (detail) { detail.hidden = !ok; }
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " controls shown";
  }
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  form.addEventListener("reset", function () { window.setTimeout(apply, 0); });
  form.hidden = false;
  apply();
}());
