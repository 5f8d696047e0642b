// Shared page behaviour: show server error messages from htmx requests next to the form.
document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  let message = xhr.statusText;
  try {
    const body = JSON.parse(xhr.responseText);
    message = body.message || message;
  } catch (_) {
    /* an HTML error page */
  }
  const box = document.getElementById("flash") || document.querySelector(".messages");
  if (box) {
    const li = document.createElement("li");
    li.className = "msg msg-error";
    li.textContent = message;
    box.appendChild(li);
  }
});
