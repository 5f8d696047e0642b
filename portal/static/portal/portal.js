// The customer's pages: the language switch submits on change (no inline handlers: CSP).
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el.matches("select[data-autosubmit]")) el.form.submit();
});

// The status page polls with the tag of what it shows; "304 Not Modified" keeps the page as it
// is (a half-filled answer stays), anything else replaces it.
document.addEventListener("htmx:configRequest", (event) => {
  const el = event.detail.elt;
  if (el.id === "live" && el.dataset.etag) event.detail.headers["If-None-Match"] = el.dataset.etag;
});
document.addEventListener("htmx:beforeSwap", (event) => {
  if (event.detail.xhr.status === 304) event.detail.shouldSwap = false;
});
