// Loaded by every page (templates/base.html). No inline script: the Content-Security-Policy forbids it.
// Every htmx request carries the page's CSRF token (Flask-WTF reads the X-CSRFToken header).
document.addEventListener("htmx:configRequest", function (event) {
  event.detail.headers["X-CSRFToken"] = document.querySelector('meta[name="csrf-token"]').content;
});
