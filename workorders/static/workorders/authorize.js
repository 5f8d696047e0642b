// The customer's signature on the authorization page. A signature drawn before the page was
// sent back (a refused authorization: a missing promised time, an amount below the total) is
// drawn again from the form, so the customer does not have to sign twice.
(function () {
  const canvas = document.getElementById("pad");
  const form = document.getElementById("auth-form");
  if (!canvas || !form || typeof SignaturePad === "undefined") return;
  const pad = new SignaturePad(canvas, { backgroundColor: "rgb(255,255,255)" });
  const hidden = document.getElementById("id_signature");
  const channel = document.getElementById("id_channel");
  function resize() {
    const ratio = Math.max(window.devicePixelRatio || 1, 1);
    const data = pad.toData();
    canvas.width = canvas.offsetWidth * ratio;
    canvas.height = canvas.offsetHeight * ratio;
    canvas.getContext("2d").scale(ratio, ratio);
    pad.clear();
    pad.fromData(data);
  }
  window.addEventListener("resize", resize);
  resize();
  if (hidden && hidden.value.startsWith("data:image/png")) {
    pad.fromDataURL(hidden.value, { width: canvas.offsetWidth, height: canvas.offsetHeight });
    const kept = document.getElementById("signature-kept");
    if (kept) kept.hidden = false;
  }
  document.getElementById("pad-clear").addEventListener("click", () => {
    pad.clear();
    if (hidden) hidden.value = "";
  });
  function toggle() {
    document.getElementById("sign-box").hidden = channel.value !== "signature";
  }
  channel.addEventListener("change", toggle);
  toggle();
  form.addEventListener("submit", () => {
    hidden.value = channel.value === "signature" && !pad.isEmpty() ? pad.toDataURL("image/png") : "";
  });
})();
