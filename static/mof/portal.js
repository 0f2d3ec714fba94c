// Let htmx swap in the re-rendered panel when the server answers 400, 403 or 409:
// those responses carry the reasons to show (htmx leaves 4xx unswapped by default).
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (status === 400 || status === 403 || status === 409) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// Behaviour the templates ask for with data attributes: the Content-Security-Policy allows
// no inline script (no onclick=...), so it lives here, delegated from the document so
// that content htmx swaps in works too.
document.addEventListener("click", function (event) {
  var link = event.target.closest("button.link-known-error");
  if (link) {  // incident form: link the suggested known error
    var form = link.closest("form");
    form.querySelector("[name=known_error]").value = link.dataset.knownError;
    form.querySelectorAll(".suggestion").forEach(function (s) { s.classList.remove("chosen"); });
    link.closest(".suggestion").classList.add("chosen");
    var chosen = form.querySelector("#known-error-chosen");
    if (chosen) { chosen.textContent = "Linked: " + link.dataset.title; }
    return;
  }
  if (event.target.closest("[data-print]")) { window.print(); }
});
document.addEventListener("change", function (event) {
  if (event.target.matches("[data-autosubmit]")) { event.target.form.submit(); }
});
document.addEventListener("focusin", function (event) {
  if (event.target.matches("[data-select-on-focus]")) { event.target.select(); }
});
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) { event.preventDefault(); }
});
