// Let htmx swap in the re-rendered panel when the server answers 400, 403 or 409:
// those responses carry the reasons to show (htmx leaves 4xx unswapped by default).
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (status === 400 || status === 403 || status === 409) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
