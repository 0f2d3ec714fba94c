// htmx answers that are not a 2xx. A refusal the server renders as a fragment of the page
// (the transition panel, a meeting-mode item: 400, 403, 409, 422) is swapped in like a
// success, since it carries the reasons in the page's style (htmx leaves 4xx unswapped by
// default). Anything else (a whole error page, Django's CSRF page, a 404 or a 500, an empty
// body) is never swapped into the page: its message is shown inline, as a styled alert just
// above the element the request would have replaced.
var FRAGMENT_STATUSES = [400, 403, 409, 422];
var STATUS_TITLES = {400: "Refused", 403: "Not permitted", 404: "Not found", 409: "Not possible now", 413: "Too large", 429: "Too many requests"};

function isWholePage(body) {
  return /^\s*<!doctype/i.test(body) || /<html[\s>]/i.test(body) || /<body[\s>]/i.test(body);
}

function messageOf(body) {
  // The portal's error pages say why in their first paragraph; other pages in their heading.
  if (!body) { return ""; }
  var doc = new DOMParser().parseFromString(body, "text/html");
  var node = null;
  [".error-page p", ".alert", "[role=alert]", "main p", "h1"].some(function (sel) { node = doc.querySelector(sel); return node; });
  var text = node ? node.textContent.replace(/\s+/g, " ").trim() : "";
  var requestId = doc.querySelector(".request-id");
  if (requestId) { text += " (request id " + requestId.textContent.trim() + ")"; }
  return text.slice(0, 500);
}

function showInlineAlert(anchor, status, text) {
  var alert = document.createElement("div");
  alert.className = "alert htmx-alert " + (status === 409 ? "alert-warning" : "alert-error");
  alert.setAttribute("role", "alert");
  alert.dataset.status = String(status);
  var title = document.createElement("strong");
  title.textContent = (STATUS_TITLES[status] || (status >= 500 ? "Server error" : status ? "Error " + status : "No answer")) + ": ";
  alert.appendChild(title);
  alert.appendChild(document.createTextNode(text || (status >= 500
    ? "Something went wrong on our side. It has been logged; trying again in a moment may work."
    : status ? "The action was not carried out." : "The portal could not be reached. Check the connection and try again.")));
  var close = document.createElement("button");
  close.type = "button";
  close.className = "btn-link alert-close";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  alert.appendChild(close);
  var place = anchor && anchor.isConnected && anchor !== document.body ? anchor : document.getElementById("main");
  var previous = place.previousElementSibling;
  if (previous && previous.classList.contains("htmx-alert")) { previous.remove(); }
  if (place.id === "main") { place.insertBefore(alert, place.firstChild); } else { place.insertAdjacentElement("beforebegin", alert); }
  alert.scrollIntoView({block: "nearest"});
}

document.addEventListener("htmx:beforeSwap", function (event) {
  var xhr = event.detail.xhr;
  var status = xhr.status;
  var body = xhr.responseText || "";
  if (status < 400) {
    // A whole page where a fragment was expected (the session ended and the request was sent
    // on to the sign-in page): open it as a page instead of nesting it in this one.
    if (status === 200 && isWholePage(body) && event.detail.target !== document.body && xhr.responseURL) {
      event.detail.shouldSwap = false;
      window.location.assign(xhr.responseURL);
    }
    return;
  }
  if (FRAGMENT_STATUSES.indexOf(status) !== -1 && body.trim() && !isWholePage(body)) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
    return;
  }
  event.detail.shouldSwap = false;
  event.detail.isError = false;  // handled here: shown to the person, not logged as a script error
  showInlineAlert(event.detail.target, status, messageOf(body));
});
document.addEventListener("htmx:sendError", function (event) {
  showInlineAlert(event.detail.target, 0, "");
});
document.addEventListener("click", function (event) {
  var close = event.target.closest(".alert-close");
  if (close) { close.closest(".alert").remove(); }
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
  var toggle = event.target.closest("[data-nav-toggle]");
  if (toggle) {  // the phone menu: the navigation folds under one button
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    document.getElementById(toggle.getAttribute("aria-controls")).classList.toggle("open", open);
  }
});
document.addEventListener("change", function (event) {
  if (event.target.matches("[data-autosubmit]")) { event.target.form.submit(); }
  if (event.target.matches("#bulk-form input[name=incidents]")) {  // the queue: "With the 3 ticked incidents"
    var ticked = event.target.form.querySelectorAll("input[name=incidents]:checked").length;
    var count = event.target.form.querySelector("[data-ticked-count]");
    if (count) { count.textContent = ticked + " ticked"; }
  }
});
document.addEventListener("focusin", function (event) {
  if (event.target.matches("[data-select-on-focus]")) { event.target.select(); }
});
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) { event.preventDefault(); }
});

// Tables reflow to cards on a phone (portal.css): each cell is labelled with its column's
// heading, for every table of the page and of what htmx swaps in.
function labelTableCells(root) {
  root.querySelectorAll("table.table").forEach(function (table) {
    var headings = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.replace(/[▲▼]/g, "").replace(/\s+/g, " ").trim();
    });
    if (!headings.length) { return; }
    table.classList.add("labelled");
    table.querySelectorAll("tbody tr").forEach(function (row) {
      var column = 0;
      Array.prototype.forEach.call(row.children, function (cell) {
        if (!cell.hasAttribute("data-label") && headings[column] && (cell.colSpan || 1) === 1) { cell.setAttribute("data-label", headings[column]); }
        column += cell.colSpan || 1;
      });
    });
  });
}
document.addEventListener("DOMContentLoaded", function () { labelTableCells(document); });
document.addEventListener("htmx:afterSwap", function (event) { labelTableCells(event.detail.elt.parentNode || document); });
