// Loaded by every page (templates/base.html). No inline script: the Content-Security-Policy forbids it.
// Every htmx request carries the page's CSRF token (Flask-WTF reads the X-CSRFToken header).
document.addEventListener("htmx:configRequest", function (event) {
  event.detail.headers["X-CSRFToken"] = document.querySelector('meta[name="csrf-token"]').content;
});

// A destructive action says what it will do and asks first: data-confirm="…" on its button (or its form).
// «{count}» in the text is the number of contacts ticked for the form (the contacts list's selection).
function tickedIn(form) {
  return Array.prototype.filter.call(form.elements, function (el) { return el.name === "ids" && el.checked; }).length;
}
document.addEventListener("submit", function (event) {
  var form = event.target;
  var button = event.submitter;
  var message = (button && button.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
  if (!message) return;
  if (!window.confirm(message.replace("{count}", String(tickedIn(form))))) event.preventDefault();
});

// The contacts list: «select all» ticks every contact of the page; the count of ticked ones is shown.
document.addEventListener("change", function (event) {
  var box = event.target;
  var form = box.form;
  if (box.hasAttribute("data-select-all")) {
    form = document.getElementById(box.getAttribute("data-select-all"));
    if (!form) return;
    Array.prototype.forEach.call(form.elements, function (el) { if (el.name === "ids") el.checked = box.checked; });
  }
  if (!form || !form.id) return;
  var shown = document.querySelector('[data-ticked-for="' + form.id + '"]');
  if (shown) shown.textContent = String(tickedIn(form));
});

// Lists stacked on a narrow screen (table.responsive, app.css) keep their column names: each cell
// gets its column's heading as data-label, which the CSS shows before the value. Cells a template
// labelled itself keep theirs; the first column (the row's name) and unnamed columns get none.
function labelStackedCells() {
  Array.prototype.forEach.call(document.querySelectorAll("table.responsive"), function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) { return th.textContent.trim(); });
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (row) {
      var column = 0;
      Array.prototype.forEach.call(row.children, function (cell) {
        if (cell.tagName === "TD" && column > 0 && heads[column] && !cell.hasAttribute("data-label")) {
          cell.setAttribute("data-label", heads[column]);
        }
        column += cell.colSpan || 1;
      });
    });
  });
}
document.addEventListener("DOMContentLoaded", labelStackedCells);
document.addEventListener("htmx:afterSettle", labelStackedCells);
