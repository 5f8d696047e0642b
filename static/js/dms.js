// Shared page behaviour (no inline scripts: everything a page does lives in static files).

// Server error messages from htmx requests appear next to the thing they concern: inside the
// element named by the request's data-error-target (a card, a form), else in the page's flash list.
document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  let message = xhr.statusText;
  try {
    const body = JSON.parse(xhr.responseText);
    message = body.message || message;
  } catch (_) {
    /* an HTML error page or fragment */
    if (xhr.responseText && xhr.responseText.length < 2000 && /class="msg/.test(xhr.responseText)) {
      const tmp = document.createElement("div");
      tmp.innerHTML = xhr.responseText;
      message = tmp.textContent.trim() || message;
    }
  }
  const elt = event.detail.elt;
  const near = elt && elt.closest("[data-error-target]");
  const box =
    (near && document.querySelector(near.dataset.errorTarget)) ||
    document.getElementById("flash") ||
    document.querySelector(".messages");
  if (box) {
    box.replaceChildren();
    const li = document.createElement(box.tagName === "UL" ? "li" : "p");
    li.className = "msg msg-error";
    li.setAttribute("role", "alert");
    li.textContent = message;
    box.appendChild(li);
  }
});

// A person's action (not a board's polling) clears the messages left from earlier actions,
// so an old error never sits above a later success.
document.addEventListener("htmx:beforeRequest", (event) => {
  const elt = event.detail.elt;
  if (!elt || !elt.matches("form, button, input, select, textarea, a")) return;
  document.querySelectorAll(".messages .msg, [data-flash] .msg").forEach((m) => m.remove());
});

// <select data-autosubmit> / <input data-autosubmit>: submit the form when the value changes.
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el.matches && el.matches("[data-autosubmit]") && el.form) el.form.requestSubmit();
});

// Irreversible moves on plain forms: <button data-confirm="…"> or <form data-confirm="…"> asks
// first (htmx requests use hx-confirm).
document.addEventListener(
  "submit",
  (event) => {
    const button = event.submitter;
    const message =
      (button && button.dataset && button.dataset.confirm) || event.target.dataset.confirm;
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  },
  true,
);

// Small conveniences: print buttons, select-on-click inputs, close buttons, copy buttons.
document.addEventListener("click", (event) => {
  const el = event.target.closest("[data-print], [data-select], [data-clear], [data-copy]");
  if (!el) return;
  if (el.hasAttribute("data-print")) window.print();
  if (el.hasAttribute("data-select")) el.select();
  if (el.hasAttribute("data-clear")) {
    const target = document.querySelector(el.dataset.clear);
    if (target) target.replaceChildren();
  }
  if (el.hasAttribute("data-copy") && navigator.clipboard) {
    const source = document.querySelector(el.dataset.copy);
    if (source) navigator.clipboard.writeText(source.textContent.trim());
  }
});

// Running clocks: <time data-since="ISO datetime"> shows the time elapsed, h:mm:ss, every second.
function tickClocks() {
  const now = Date.now();
  document.querySelectorAll("[data-since]").forEach((el) => {
    const since = Date.parse(el.dataset.since);
    if (Number.isNaN(since)) return;
    const s = Math.max(0, Math.floor((now - since) / 1000));
    const h = Math.floor(s / 3600);
    const m = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
    const sec = String(s % 60).padStart(2, "0");
    el.textContent = `${h}:${m}:${sec}`;
  });
}
tickClocks();
setInterval(tickClocks, 1000);
document.addEventListener("htmx:afterSettle", tickClocks);

// "/" jumps to the search box in the top bar (unless typing in a field).
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.target.closest("input, textarea, select, [contenteditable]")) return;
  const box = document.getElementById("top-q");
  if (box) {
    event.preventDefault();
    box.focus();
  }
});

// htmx runs with allowEval=false (the Content-Security-Policy allows no eval), so hx-trigger
// filters in [brackets] cannot be used. These attributes do what the pages used them for:
//   data-poll-when-visible   a polling request is skipped while the tab is hidden
//   data-poll-unless="name"  a polling request is skipped while window[name] is true
//   data-search-on-load      an input that has a value when it appears fires its "search"
document.addEventListener("htmx:beforeRequest", (event) => {
  const elt = event.detail.elt;
  const polling = !event.detail.requestConfig || !event.detail.requestConfig.triggeringEvent;
  if (!elt || !polling || !elt.hasAttribute) return;
  if (elt.hasAttribute("data-poll-when-visible") && document.visibilityState !== "visible") {
    event.preventDefault();
  }
  const flag = elt.getAttribute("data-poll-unless");
  if (flag && window[flag]) event.preventDefault();
});

function dmsSearchOnLoad(root) {
  const scope = root && root.querySelectorAll ? root : document;
  const found = [...scope.querySelectorAll("[data-search-on-load]")];
  if (scope.matches && scope.matches("[data-search-on-load]")) found.push(scope);
  found.forEach((el) => {
    if (el.value && window.htmx) window.htmx.trigger(el, "search");
  });
}
document.addEventListener("htmx:load", (event) => dmsSearchOnLoad(event.detail.elt));

// The menu keeps to one row: links that do not fit go into "More" (a tablet is 1024 px wide;
// English labels are longer than Chinese ones).
function fitMenu() {
  const nav = document.querySelector(".mainnav");
  if (!nav) return;
  const more = nav.querySelector(".navmore");
  const menu = more && more.querySelector(".menu");
  if (!more || !menu) return;
  menu.querySelectorAll("a").forEach((a) => nav.insertBefore(a, more));
  more.hidden = true;
  const links = () => Array.from(nav.querySelectorAll(":scope > a"));
  const overflowing = () => nav.scrollWidth > nav.clientWidth + 1;
  if (!overflowing()) return;
  more.hidden = false;
  let list = links();
  while (overflowing() && list.length > 1) {
    const last = list.pop();
    menu.insertBefore(last, menu.firstChild);
  }
  // the current page stays in sight
  const current = menu.querySelector("[aria-current=page]");
  if (current && list.length > 1) {
    menu.insertBefore(list[list.length - 1], menu.firstChild);
    nav.insertBefore(current, more);
  }
}
fitMenu();
window.addEventListener("resize", fitMenu);
if (document.fonts && document.fonts.ready) document.fonts.ready.then(fitMenu);
